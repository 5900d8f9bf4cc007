// Helpers for the root-only cgroup end-to-end tests: processes to put in cgroups, waiting, and a
// minimal busybox bundle to compare placements with runc.

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const BUSYBOX = "/bin/busybox";

export function randomName(prefix = ""): string {
  return prefix + randomBytes(4).toString("hex");
}

export interface Proc {
  child: ChildProcess;
  pid: number;
  out: () => string;
  err: () => string;
  /** Resolves at exit with the code or the signal. */
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Lets a process started with waitForGo() run its script. */
  go: () => void;
}

/** busybox sh running `script` once "go" arrives on stdin: put it in a cgroup first, then go(). */
export function startWaiting(script: string): Proc {
  const child = spawn(BUSYBOX, ["sh", "-c", `read go; ${script}`], { stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (err += d));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    pid: child.pid!,
    out: () => out,
    err: () => err,
    exit,
    go: () => child.stdin!.write("go\n"),
  };
}

export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)));
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(t);
  }
}

export async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const sleepMs = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function procCgroup(pid: number): string {
  return readFileSync(`/proc/${pid}/cgroup`, "utf8");
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie is dead for our purposes.
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return false;
  }
}

/** A bundle whose rootfs is just busybox, running `sleep 300`, with the given linux.cgroupsPath. */
export function busyboxBundle(cgroupsPath?: string): string {
  const dir = mkdtempSync(join(tmpdir(), "tsrunc-cg-bundle-"));
  const rootfs = join(dir, "rootfs");
  for (const d of ["bin", "proc", "sys", "dev", "tmp"]) mkdirSync(join(rootfs, d), { recursive: true });
  copyFileSync(BUSYBOX, join(rootfs, "bin/busybox"));
  for (const a of ["sh", "sleep"]) symlinkSync("busybox", join(rootfs, "bin", a));
  execFileSync("runc", ["spec", "--bundle", dir]);
  const config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
  config.process.terminal = false;
  config.process.args = ["sleep", "300"];
  if (cgroupsPath !== undefined) config.linux.cgroupsPath = cgroupsPath;
  writeFileSync(join(dir, "config.json"), JSON.stringify(config));
  return dir;
}

export function haveRunc(): boolean {
  try {
    return /runc version 1\./.test(execFileSync("runc", ["--version"], { encoding: "utf8" }));
  } catch {
    return false;
  }
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** After a file's tests: kill the processes they started, then remove the cgroups they made, the
 * last made first (failures are for the last test to report). */
export function killAndDestroy(pids: number[], managers: { destroy(): void }[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      /* gone */
    }
  }
  for (const cg of managers.splice(0).reverse()) {
    try {
      cg.destroy();
    } catch {
      /* reported by the last test */
    }
  }
}

export { existsSync };
