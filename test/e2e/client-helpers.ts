// What the tests of real clients share: private daemons (containerd, dockerd, podman's state) under a
// temp dir, in a mount namespace with a private /run; the busybox image they run (packed once per
// test file: there is no registry); and the checks that they leave nothing behind. Root only.
import { type ChildProcess, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, rmdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect } from "vitest";
import { capture, cgroupHierarchies, haveBinary, isRoot, removeRunCgroups, waitFor } from "./helpers.ts";
import { pidsWith, startContainerd } from "./containerd.ts";

export { pidsWith, startContainerd, startDaemon, writeContainerdConfig } from "./containerd.ts";

export const PTY = join(__dirname, "pty-driver.py");
export const HOOK_TIMEOUT = 120_000;
export const TEST_TIMEOUT = 120_000;

export function which(cmd: string): string | null {
  const r = spawnSync("sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** Why a client's tests cannot run here, or null. */
export function missing(...cmds: string[]): string | null {
  if (!isRoot) return "needs root";
  if (!haveBinary) return "dist/tsrunc is not built";
  const absent = cmds.filter((c) => !which(c));
  return absent.length ? `not installed: ${absent.join(", ")} (scripts/setup.sh installs them)` : null;
}

/** A describe that, when its client is missing, is skipped with the reason in its name. */
export function clientDescribe(name: string, why: string | null, fn: () => void): void {
  if (why) console.warn(`clients.test.ts: ${name} skipped: ${why}`);
  describe.skipIf(why !== null)(why ? `${name} (skipped: ${why})` : name, fn);
}

export type Out = { status: number | null; stdout: string; stderr: string };
export function run(cmd: string, args: string[], timeout = 60_000, input = "", cwd?: string): Out {
  const r = capture(cmd, args, cwd, input, timeout);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A command under a real terminal (test/e2e/pty-driver.py), typing `lines` at the first "#". */
export function underPty(cmd: string[], lines = "", cwd?: string): Out {
  return run("python3", [PTY, "30", "100", lines, ...cmd], 40_000, "", cwd);
}

/** Running, not a zombie: a daemon we spawned is reaped only once the event loop runs again. */
export function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

/** SIGTERM, then SIGKILL after `ms`; waits until each is gone. */
export function stopPids(pids: number[], ms = 10_000): void {
  for (const p of pids) {
    try {
      process.kill(p, "SIGTERM");
    } catch {}
  }
  if (!waitFor(() => pids.every((p) => !alive(p)), ms))
    for (const p of pids)
      try {
        process.kill(p, "SIGKILL");
      } catch {}
  waitFor(() => pids.every((p) => !alive(p)), 5000);
}

/** Mounts in our namespace under `dir` (there should be none). */
export function mountsUnder(dir: string): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .filter((m) => m === dir || m.startsWith(dir + "/"));
}

/** A host directory of a cgroup path, in the hierarchy that has the memory controller. */
export function memoryCgroup(path: string): { dir: string; v2: boolean } {
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const f = line.split(" ");
    const sep = f.indexOf("-");
    if (sep > 0 && f[sep + 1] === "cgroup" && (f[sep + 3] ?? "").split(",").includes("memory")) return { dir: join(f[4]!, path), v2: false };
  }
  return { dir: join("/sys/fs/cgroup", path), v2: true };
}

/** The memory limit of a container's cgroup path, in bytes (memory.limit_in_bytes or memory.max). */
export function memoryLimit(path: string): number {
  const mem = memoryCgroup(path);
  return Number(readFileSync(join(mem.dir, mem.v2 ? "memory.max" : "memory.limit_in_bytes"), "utf8").trim());
}

/** A container limited to 32 MiB (its cgroup path) really is: `hog` runs busybox tail on /dev/zero
 * in it (a line that never ends, kept in memory), which the kernel must OOM-kill there. */
export function expectMemoryLimitHolds(path: string, hog: () => Out): void {
  expect(memoryLimit(path)).toBe(32 << 20);
  expect(hog().status).toBe(137);
  // memory.oom_control (v1) or memory.events (v2) count the kill.
  const mem = memoryCgroup(path);
  const text = readFileSync(join(mem.dir, mem.v2 ? "memory.events" : "memory.oom_control"), "utf8");
  expect(Number(/^oom_kill (\d+)$/m.exec(text)?.[1] ?? 0)).toBeGreaterThan(0);
}

/** Cgroup directories of `path` still present in any hierarchy. */
export function cgroupsLeft(path: string): string[] {
  return cgroupHierarchies()
    .map((h) => join(h, path))
    .filter((d) => existsSync(d));
}

/** Remove a cgroup a client made (podman's conmon cgroup) in every hierarchy, once empty. */
export function removeCgroup(path: string): void {
  for (const d of cgroupsLeft(path))
    try {
      rmdirSync(d);
    } catch {}
}

/** The end of a private instance: its daemon and whatever still names its temp dir (shims, conmon,
 * a containerd) stopped, the cgroups it made removed, nothing mounted, the temp dir gone. */
export function tearDown(dir: string, pids: number[], cgroups: string[] = []): void {
  stopPids([...pids, ...pidsWith(dir)]);
  expect(pidsWith(dir)).toEqual([]);
  for (const c of cgroups) {
    removeCgroup(c);
    expect(cgroupsLeft(c)).toEqual([]);
  }
  expect(mountsUnder(dir)).toEqual([]);
  rmSync(dir, { recursive: true, force: true });
}

// The image every client runs, packed once per run.
let imageDir = "";
export function image(): string {
  if (!imageDir) {
    imageDir = realpathSync(mkdtempSync(join(tmpdir(), "tsrunc-image-")));
    const r = run("bash", [resolve("bundles/build-oci-image.sh"), join(imageDir, "busybox.tar"), IMAGE], 120_000);
    if (r.status !== 0) throw new Error(`build-oci-image.sh failed: ${r.stderr}`);
  }
  return join(imageDir, "busybox.tar");
}
export const IMAGE = "localhost/tsrunc-busybox:latest";
/** For a test file's afterAll: the packed image and this run's cgroups go. */
export function removeImageAndCgroups(): void {
  if (imageDir) rmSync(imageDir, { recursive: true, force: true });
  imageDir = "";
  removeRunCgroups();
}

/** A ctr container gone, however it was left: its task killed and deleted, then the container. */
export function ctrRemove(ctr: (args: string[]) => Out, id: string): void {
  const line = () => ctr(["task", "ls"]).stdout.split("\n").find((l) => l.startsWith(id + " ")) ?? "";
  ctr(["task", "kill", "-s", "SIGKILL", id]);
  waitFor(() => !/\s(RUNNING|PAUSED)\s*$/.test(line()), 5000);
  ctr(["task", "delete", "--force", id]);
  ctr(["container", "delete", id]);
}

/** A private containerd (containerd.ts) up, with the busybox image imported; its log is in dir. */
export function startContainerdWithImage(dir: string, sock: string, env?: NodeJS.ProcessEnv): ChildProcess {
  const daemon = startContainerd(dir, sock, env);
  const imp = run("ctr", ["--address", sock, "image", "import", image()], 120_000);
  if (imp.status !== 0) throw new Error(`ctr image import: ${imp.stderr}`);
  return daemon;
}
