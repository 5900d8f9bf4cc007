// Shared by the end-to-end tests: bundles on the busybox rootfs, a private --root, a test-only
// cgroup path, and checks that nothing is left behind.
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, afterEach, expect } from "vitest";
import { defaultSpec } from "../../src/spec/generate.ts";

export const TSRUNC = resolve("dist/tsrunc");
export const ROOTFS = resolve("bundles/busybox/rootfs");
export const isRoot = process.geteuid?.() === 0;
export const haveBinary = existsSync(TSRUNC);
/** One id per test run: every cgroup and state dir it makes is under it. */
export const RUN = `r${process.pid}-${Date.now().toString(36)}`;
export const CGROUP_PARENT = `/tsrunc-test/${RUN}`;

export interface Bundle {
  dir: string;
  root: string;
  id: string;
  config: any;
}

let seq = 0;

/** A bundle whose rootfs is the shared busybox one (read-only in the container). */
export function makeBundle(mutate: (c: any) => void = () => {}, prefix = "c"): Bundle {
  const dir = mkdtempSync(join(tmpdir(), "tsrunc-e2e-"));
  const id = `${prefix}${++seq}-${process.pid}`;
  const c: any = defaultSpec();
  c.root.path = ROOTFS;
  c.process.terminal = false;
  c.process.args = ["true"];
  c.linux.cgroupsPath = `${CGROUP_PARENT}/${id}`;
  mutate(c);
  writeFileSync(join(dir, "config.json"), JSON.stringify(c, null, 2));
  return { dir, root: join(dir, "state"), id, config: c };
}

/** Run a command with its output in files, not pipes: a detached container inherits the caller's
 * stdio, and a pipe would keep spawnSync waiting until the container exits. */
export function capture(cmd: string, args: string[], cwd: string | undefined, input: string, timeout: number, newSession = false): SpawnSyncReturns<string> {
  const dir = mkdtempSync(join(tmpdir(), "tsrunc-out-"));
  const out = openSync(join(dir, "out"), "w+");
  const err = openSync(join(dir, "err"), "w+");
  const inFile = join(dir, "in");
  writeFileSync(inFile, input);
  const inp = openSync(inFile, "r");
  try {
    // SIGKILL at the timeout: a runtime forwards SIGTERM to the container's pid 1, which may ignore it.
    const argv = newSession ? ["setsid", "--wait", cmd, ...args] : [cmd, ...args];
    const r = spawnSync(argv[0]!, argv.slice(1), { cwd, stdio: [inp, out, err], timeout, killSignal: "SIGKILL" });
    return { ...r, stdout: readFileSync(join(dir, "out"), "utf8"), stderr: readFileSync(join(dir, "err"), "utf8") } as SpawnSyncReturns<string>;
  } finally {
    closeSync(out);
    closeSync(err);
    closeSync(inp);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** newSession: run it in a session of its own, without a controlling terminal (no /dev/tty). */
export interface RunOptions {
  input?: string;
  timeout?: number;
  newSession?: boolean;
}

export function tsrunc(b: { root: string; dir?: string }, args: string[], opts: RunOptions = {}): SpawnSyncReturns<string> {
  return capture(TSRUNC, ["--root", b.root, ...args], b.dir, opts.input ?? "", opts.timeout ?? 20_000, opts.newSession);
}

export function runc(b: { root: string; dir?: string }, args: string[], opts: RunOptions = {}): SpawnSyncReturns<string> {
  return capture("runc", ["--root", b.root + "-runc", ...args], b.dir, opts.input ?? "", opts.timeout ?? 20_000, opts.newSession);
}

/** The messages of runc-style log lines on stderr (`time=… level=error msg="…"`), unquoted. */
export function errors(r: { stderr: string }): string {
  return r.stderr
    .split("\n")
    .map((line) => {
      const m = /level=\w+ msg=("(?:[^"\\]|\\.)*")/.exec(line);
      return m ? JSON.parse(m[1]!) : line;
    })
    .join("\n")
    .trim();
}

/** Delete the container with both runtimes and remove the bundle. */
export function cleanup(b: Bundle): void {
  tsrunc(b, ["delete", "--force", b.id]);
  runc(b, ["delete", "--force", b.id]);
  rmSync(b.dir, { recursive: true, force: true });
}

/** Everything a test may leave behind: mounts of its bundle, its cgroups, its state. */
export function leftovers(b: Bundle): string[] {
  const found: string[] = [];
  const mountinfo = readFileSync("/proc/self/mountinfo", "utf8");
  for (const line of mountinfo.split("\n")) if (line.includes(b.dir) || line.includes(ROOTFS)) found.push(`mount: ${line}`);
  for (const h of cgroupHierarchies()) {
    const p = join(h, CGROUP_PARENT, b.id);
    if (existsSync(p)) found.push(`cgroup: ${p}`);
  }
  if (existsSync(join(b.root, b.id))) found.push(`state: ${join(b.root, b.id)}`);
  return found;
}

export function cgroupHierarchies(): string[] {
  const out: string[] = [];
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const f = line.split(" ");
    const sep = f.indexOf("-");
    if (sep < 0) continue;
    const fstype = f[sep + 1];
    if (fstype === "cgroup" || fstype === "cgroup2") out.push(f[4]!);
  }
  return out;
}

/** Remove the run's cgroup parents once its containers are gone (rmdir refuses a non-empty cgroup,
 * so a parent another run still uses stays). */
export function removeRunCgroups(): void {
  for (const h of cgroupHierarchies()) {
    for (const p of [join(h, CGROUP_PARENT), join(h, "/tsrunc-test")]) {
      try {
        rmdirSync(p);
      } catch {}
    }
  }
}

export function waitFor(pred: () => boolean, ms = 5000): boolean {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (pred()) return true;
    spawnSync("sleep", ["0.02"]);
  }
  return pred();
}

/** For a test file: a bundle maker whose bundles are deleted after each test, checking that nothing
 * of them is left (containers, mounts, cgroups, state); the run's cgroup parents go at the end. */
export function bundleFactory(): (mutate?: (c: any) => void) => Bundle {
  const made: Bundle[] = [];
  afterEach(() => {
    for (const b of made.splice(0)) {
      cleanup(b);
      expect(leftovers(b)).toEqual([]);
    }
  });
  afterAll(removeRunCgroups);
  return (mutate) => {
    const b = makeBundle(mutate);
    made.push(b);
    return b;
  };
}
