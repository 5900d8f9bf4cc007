// Rootless: `tsrunc spec --rootless` and running as an unprivileged user (nobody), without cgroup
// access. Needs root to set the scene (a user to switch to).
import { spawnSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { rootlessSpec } from "../../src/spec/generate.ts";
import { errors, haveBinary, isRoot, ROOTFS, TSRUNC, waitFor } from "./helpers.ts";

const NOBODY = 65534;
const base = mkdtempSync(join(tmpdir(), "tsrunc-rootless-"));
afterAll(() => rmSync(base, { recursive: true, force: true }));

/** A directory under base that nobody owns (base: world-writable and sticky, like /tmp). */
function nobodysDir(name: string): string {
  chmodSync(base, 0o1777);
  const d = join(base, name);
  mkdirSync(d, { mode: 0o700 });
  chownSync(d, NOBODY, NOBODY);
  return d;
}

/** A bundle and a state directory nobody owns; the bundle's config is `spec --rootless`'s running `args`. */
function rootlessBundle(name: string, args: string[], edit?: (config: any) => void): { bundle: string; state: string } {
  const bundle = nobodysDir(`${name}-bundle`);
  const state = nobodysDir(`${name}-state`);
  const config = rootlessSpec(NOBODY, NOBODY);
  config.root.path = ROOTFS;
  config.process.terminal = false;
  config.process.args = args;
  edit?.(config);
  writeFileSync(join(bundle, "config.json"), JSON.stringify(config));
  return { bundle, state };
}

/** Run a runtime as nobody. detached: its output is dropped, as a detached container inherits it
 * and a pipe would keep spawnSync waiting until the container exits. */
function asNobody(args: string[], cwd: string, runtime = TSRUNC, detached = false): { status: number | null; stdout: string; stderr: string } {
  const xdg = join(base, "xdg");
  const r = spawnSync("setpriv", ["--reuid", String(NOBODY), "--regid", String(NOBODY), "--clear-groups", runtime, ...args], {
    cwd,
    encoding: "utf8",
    env: { PATH: process.env.PATH, XDG_RUNTIME_DIR: xdg, HOME: base },
    timeout: 20_000,
    killSignal: "SIGKILL",
    stdio: detached ? "ignore" : "pipe",
  });
  return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

describe.skipIf(!isRoot || !haveBinary)("rootless", () => {
  it("runs a container as an unprivileged user from a --rootless spec", () => {
    for (const d of ["xdg", "bundle", "state"]) nobodysDir(d);
    const bundle = join(base, "bundle");
    let r = asNobody(["spec", "--rootless"], bundle);
    expect(r.status).toBe(0);
    const config = JSON.parse(readFileSync(join(bundle, "config.json"), "utf8"));
    expect(config.linux.uidMappings).toEqual([{ containerID: 0, hostID: NOBODY, size: 1 }]);
    config.root.path = ROOTFS;
    config.process.terminal = false;
    config.process.args = ["sh", "-c", "id -u; cat /proc/self/uid_map | tr -s ' '; touch /tmp/x 2>&1 | grep -c Read-only"];
    writeFileSync(join(bundle, "config.json"), JSON.stringify(config));
    r = asNobody(["--root", join(base, "state"), "run", "rl1"], bundle);
    expect(errors(r)).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`0\n 0 ${NOBODY} 1\n1\n`);
    // the addon was loaded from the user's own directory, and nothing of the container is left
    expect(existsSync(join(base, "xdg", "tsrunc-native"))).toBe(true);
    expect(existsSync(join(base, "state", "rl1"))).toBe(false);
  });

  it("ps on a container without a cgroup fails as runc's does, and lists nothing once it stopped", () => {
    if (!existsSync(join(base, "xdg"))) nobodysDir("xdg");
    const seen: Record<string, string[]> = {};
    for (const [runtime, name] of [[TSRUNC, "tsrunc"], ["runc", "runc"]] as const) {
      const { bundle, state } = rootlessBundle(`ps-${name}`, ["sleep", "1000"]);
      const rt = (...args: string[]) => asNobody(["--root", state, ...args], bundle, runtime);
      expect(asNobody(["--root", state, "run", "-d", "rlps"], bundle, runtime, true).status).toBe(0);
      try {
        // the user may not make the container a cgroup, so it runs in its caller's
        const cgroups = readFileSync(`/proc/${JSON.parse(rt("state", "rlps").stdout).pid}/cgroup`, "utf8");
        expect(cgroups).not.toMatch(/\/rlps$/m);
        seen[name] = [];
        for (const format of ["table", "json"]) {
          const r = rt("ps", "--format", format, "rlps");
          expect(r.status).toBe(1);
          expect(r.stdout).toBe("");
          seen[name]!.push(errors(r).replace(/^(ts)?runc /, "RUNTIME "));
        }
        expect(rt("kill", "rlps", "KILL").status).toBe(0);
        expect(waitFor(() => JSON.parse(rt("state", "rlps").stdout).status === "stopped")).toBe(true);
        let r = rt("ps", "--format", "json", "rlps");
        expect(r.status).toBe(0);
        expect(r.stdout).toBe("null\n");
        r = rt("ps", "rlps");
        expect(r.status).toBe(0);
        expect(r.stdout).toMatch(/^UID\s+PID\s+PPID\s+C\s+STIME\s+TTY\s+TIME\s+CMD\n$/);
      } finally {
        rt("delete", "--force", "rlps");
      }
      expect(readdirSync(state)).toEqual([]);
    }
    expect(seen.tsrunc).toEqual(seen.runc);
    for (const e of seen.tsrunc!)
      expect(e).toMatch(/^RUNTIME ps may fail if you don't have the full access to cgroups\nunable to get all container pids: lstat .*: no such file or directory$/);
  });

  it("a cgroupsPath the user may not create fails the run, as runc's does, and leaves nothing", () => {
    if (!existsSync(join(base, "xdg"))) nobodysDir("xdg");
    const parent = `tsrunc-rootless-${process.pid}`;
    for (const [runtime, name] of [[TSRUNC, "tsrunc"], ["runc", "runc"]] as const) {
      const { bundle, state } = rootlessBundle(`cgpath-${name}`, ["true"], (c) => (c.linux.cgroupsPath = `/${parent}/rlcg`));
      const r = asNobody(["--root", state, "run", "rlcg"], bundle, runtime);
      expect(r.status).toBe(1);
      // runc says it from its init ("unable to start container process: unable to apply cgroup
      // configuration: mkdir …"); the cause is the same words.
      expect(errors(r)).toMatch(new RegExp(`run failed: .*mkdir /sys/fs/cgroup/(?:[^ ]*/)?${parent}: permission denied$`));
      expect(readdirSync(state)).toEqual([]);
    }
  });
});
