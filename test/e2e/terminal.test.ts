// process.terminal: a pty proxied to the user's terminal by a foreground run, or handed over a
// console socket with SCM_RIGHTS (what containerd, podman and Docker rely on). Root only.
import { spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { bundleFactory, errors, haveBinary, isRoot, tsrunc, TSRUNC } from "./helpers.ts";

const bundle = bundleFactory();

describe.skipIf(!isRoot || !haveBinary)("terminal", () => {
  it("tsrunc run gives an interactive shell on a real pty", () => {
    const b = bundle((c) => {
      c.process.terminal = true;
      c.process.args = ["sh"];
    });
    const r = spawnSync(
      "python3",
      [join(__dirname, "pty-driver.py"), "31", "97", "echo answer=$((6*7)); stty size; tty; exit 5\\n", TSRUNC, "--root", b.root, "run", b.id],
      { cwd: b.dir, encoding: "utf8", timeout: 30_000 },
    );
    expect(r.stdout).toContain("answer=42");
    expect(r.stdout).toContain("31 97");
    expect(r.stdout).toMatch(/\/dev\/pts\/\d+/);
    expect(r.status).toBe(5);
  });

  it("sends the pty master over --console-socket", async () => {
    const b = bundle((c) => {
      c.process.terminal = true;
      c.process.args = ["sh", "-c", "echo on-$(tty)"];
    });
    const sock = join(b.dir, "console.sock");
    const receiver = spawn("python3", [join(__dirname, "console-receiver.py"), sock], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    receiver.stdout.on("data", (d) => (out += d));
    await new Promise<void>((resolve) => receiver.stdout.once("data", () => resolve()));
    const c = tsrunc(b, ["create", "--console-socket", sock, b.id]);
    expect(c.stderr).toBe("");
    expect(c.status).toBe(0);
    expect(tsrunc(b, ["start", b.id]).status).toBe(0);
    const code = await new Promise<number | null>((resolve) => receiver.on("exit", resolve));
    expect(code).toBe(0);
    expect(out).toContain("received 1 fd(s)");
    expect(out).toMatch(/on-\/dev\/pts\/\d+/);
  });

  it("refuses a terminal when detached without a console socket", () => {
    const b = bundle((c) => (c.process.terminal = true));
    const r = tsrunc(b, ["create", b.id]);
    expect(r.status).toBe(1);
    expect(errors(r)).toContain("cannot allocate tty");
  });
});
