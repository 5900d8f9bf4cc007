// The binary's command line as runc's clients see it: version, help, usage errors and exit codes,
// spec, validate, and commands that are plainly unsupported.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { errors, haveBinary, ROOTFS, TSRUNC } from "./helpers.ts";

const dir = mkdtempSync(join(tmpdir(), "tsrunc-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(args: string[], cwd = dir, argv0?: string) {
  return spawnSync(argv0 ?? TSRUNC, args, { cwd, encoding: "utf8", argv0 });
}

describe.skipIf(!haveBinary)("command line", () => {
  it("prints the version in runc's layout", () => {
    const r = run(["--version"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^tsrunc version \d+\.\d+\.\d+\ncommit: \S+\nspec: 1\.3\.0\n/);
  });

  it("lists runc's commands in --help", () => {
    const r = run(["--help"]);
    expect(r.status).toBe(0);
    for (const c of ["create", "start", "run", "state", "kill", "delete", "list", "exec", "ps", "pause", "resume", "update", "events", "spec", "features", "checkpoint", "restore"])
      expect(r.stdout).toMatch(new RegExp(`\\b${c}\\b`));
    expect(run(["help", "create"]).stdout).toContain("--console-socket");
  });

  it("exits 3 for an unknown command and 1 for a wrong argument count, as runc does", () => {
    const unknown = run(["frobnicate"]);
    expect(unknown.status).toBe(3);
    expect(errors(unknown)).toBe("No help topic for 'frobnicate'");
    const count = run(["state"]);
    expect(count.status).toBe(1);
    expect(errors(count)).toContain('"state" requires exactly 1 argument(s)');
  });

  it("says plainly what it does not support", () => {
    const r = run(["checkpoint", "x"]);
    expect(r.status).toBe(1);
    expect(errors(r)).toBe("checkpoint is not supported by tsrunc");
  });

  it("writes a spec once and refuses to overwrite it", () => {
    const b = mkdtempSync(join(dir, "spec-"));
    expect(run(["spec", "--bundle", b]).status).toBe(0);
    const first = readFileSync(join(b, "config.json"), "utf8");
    expect(JSON.parse(first).ociVersion).toBe("1.3.0");
    const again = run(["spec", "--bundle", b]);
    expect(again.status).toBe(1);
    expect(errors(again)).toBe("File config.json exists. Remove it first");
    expect(readFileSync(join(b, "config.json"), "utf8")).toBe(first);
  });

  it("validate names every error's JSON path and creates nothing", () => {
    const b = mkdtempSync(join(dir, "bad-"));
    expect(run(["spec", "--bundle", b]).status).toBe(0);
    const c = JSON.parse(readFileSync(join(b, "config.json"), "utf8"));
    c.root.path = ROOTFS;
    c.linux.resources.memory = { limit: "64m" };
    c.process.args = [];
    c.linux.namespaces.push({ type: "pid" });
    writeFileSync(join(b, "config.json"), JSON.stringify(c));
    const before = readdirSync(b).sort();
    const r = run(["validate", "--bundle", b]);
    expect(r.status).toBe(1);
    const msg = errors(r);
    expect(msg).toContain('config.json: /linux/resources/memory/limit: must be integer (got "64m")');
    expect(msg).toContain("/process/args");
    expect(msg).toContain("/linux/namespaces");
    expect(readdirSync(b).sort()).toEqual(before);
    // and create refuses it the same way, leaving no state behind
    const root = join(b, "state");
    const cr = run(["--root", root, "create", "--bundle", b, "bad1"]);
    expect(cr.status).toBe(1);
    expect(errors(cr)).toContain("/linux/resources/memory/limit");
    expect(existsSync(join(root, "bad1"))).toBe(false);
  });

  it("accepts the busybox bundle's spec", () => {
    const b = mkdtempSync(join(dir, "ok-"));
    run(["spec", "--bundle", b]);
    const c = JSON.parse(readFileSync(join(b, "config.json"), "utf8"));
    c.root.path = ROOTFS;
    writeFileSync(join(b, "config.json"), JSON.stringify(c));
    const r = run(["validate", "--bundle", b]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });
});
