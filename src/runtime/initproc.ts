// Processes the addon starts: the init's failures in runc's words, pid files, and the driver of a
// process that joins a running container (exec, the container-namespace hooks).
import { closeSync, openSync, readlinkSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { ExitStatus, Native } from "../native/types.ts";
import { errnoMessage } from "./errno.ts";
import { NAMESPACE_PROC_NAMES } from "./linux.ts";
import type { BuiltPlan } from "./plan.ts";
import { joinedNamespaces, SYNC_DONE, SYNC_READY, SYNC_SETUP } from "./protocol.ts";
import { processStartTime } from "./state.ts";

export function writePidFile(path: string, pid: number): void {
  // Atomically: readers (containerd) must never see a partial file.
  const abs = resolve(path);
  const tmp = join(dirname(abs), `.${Date.now()}.${process.pid}.pid`);
  writeFileSync(tmp, String(pid));
  try {
    renameSync(tmp, abs);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** The init's failure, in runc's words where clients match them. */
export function describeInitError(what: string, op: { op: string } | undefined, errno: number): string {
  const msg = errnoMessage(errno);
  if (op?.op === "checkExec" || op?.op === "exec") {
    const arg0 = /exec: "(.*)"/.exec(what)?.[1] ?? "";
    // runc quotes the name as Go's %q does (JSON's escapes for the printable ones).
    const quoted = JSON.stringify(arg0);
    if (errno === 2 && !arg0.includes("/")) return `exec: ${quoted}: executable file not found in $PATH`;
    if (errno === 2) return `exec: ${quoted}: stat ${arg0}: ${msg}`;
    return `exec: ${quoted}: ${msg}`;
  }
  return `${what}: ${msg}`;
}

/** An op of the plan failed in the child. */
export class InitOpError extends Error {
  constructor(
    readonly op: { op: string } | undefined,
    readonly errno: number,
    what: string,
  ) {
    super(`unable to start container process: ${describeInitError(what, op, errno)}`);
  }
}

/** runc's exit code for a process: its own, or 128+n for a signal. */
export function exitCode(st: ExitStatus): number {
  return st.signal !== null ? 128 + st.signal : (st.code ?? 0);
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
export function sleepMs(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

/** Reap a child of ours that has exited or is about to; waits until it has. */
export function reap(native: Native, pid: number): ExitStatus {
  for (let delay = 1; ; delay = Math.min(delay * 2, 20)) {
    const st = native.tryWait(pid);
    if (st) return st;
    sleepMs(delay);
  }
}

/** Wait for a child until `ms` have passed; null if it is still running. */
export function waitFor(native: Native, pid: number, ms: number): ExitStatus | null {
  const end = Date.now() + ms;
  for (let delay = 1; ; delay = Math.min(delay * 2, 20)) {
    const st = native.tryWait(pid);
    if (st) return st;
    const left = end - Date.now();
    if (left <= 0) return null;
    sleepMs(Math.min(delay, left));
  }
}

/** Open the init's namespaces (runc's nsexec opens them all before joining any), run fn with the
 * fds (namespace type → fd; a child spawned meanwhile inherits them), close them. */
export function withNamespaceFds<T>(spec: Record<string, any>, initPid: number, fn: (fds: Record<string, number>) => T): T {
  const fds: Record<string, number> = {};
  try {
    for (const t of joinedNamespaces(spec)) {
      const file = `/proc/${initPid}/ns/${NAMESPACE_PROC_NAMES[t]}`;
      try {
        fds[t] = openSync(file, "r");
      } catch (e) {
        throw new Error(`unable to start container process: open ${file}: ${errnoMessage(e)}`);
      }
    }
    return fn(fds);
  } finally {
    for (const fd of Object.values(fds)) closeSync(fd);
  }
}

export interface Joined {
  /** Host pid of the process (after it forked into the container's pid namespace). */
  pid: number;
  pidfd: number;
}

/** Start a process that joins a running container (buildExecPlan, buildHookPlan) and answer its
 * sync points: at SYNC_SETUP `setup` puts it in the container's cgroup (unless it was cloned into it:
 * plan.intoCgroupFd). Returns once it has exec'd (its sync socket closed). Synchronous, so that
 * `start` can run hooks holding the container's lock. On failure the process is gone and reaped. */
export function spawnJoined(native: Native, built: BuiltPlan, setup: (pid: number, inCgroup: boolean) => void): Joined {
  const spawned = native.spawnInit(built.plan);
  const first = spawned.pid;
  let pid = spawned.pid;
  let pidfd = spawned.pidfd;
  try {
    for (;;) {
      const m = native.recvMessage(spawned.sock);
      if (m.kind === "sync") {
        if (m.tag === SYNC_SETUP) {
          try {
            setup(pid, spawned.inCgroup);
          } catch (e) {
            native.reply(spawned.sock, 1);
            throw e;
          }
        } else if (m.tag !== SYNC_DONE && m.tag !== SYNC_READY) {
          native.reply(spawned.sock, 1);
          throw new Error(`the process sent an unknown sync point ${m.tag}`);
        }
        native.reply(spawned.sock, 0);
      } else if (m.kind === "pid") {
        // It forked into the pid namespace: the first process exits now.
        reap(native, first);
        native.close(pidfd);
        pidfd = -1;
        pid = m.pid;
        pidfd = native.pidfdOpen(pid);
      } else if (m.kind === "error") {
        throw new InitOpError(built.plan.ops[m.op], m.errno, built.describe[m.op] ?? `step ${m.op}`);
      } else {
        return { pid, pidfd };
      }
    }
  } catch (e) {
    // After an error or an abort the process exits by itself; make sure, and reap it.
    if (pidfd >= 0) {
      try {
        native.pidfdSendSignal(pidfd, 9);
      } catch {}
      native.close(pidfd);
    }
    try {
      reap(native, pid);
    } catch {}
    throw e;
  } finally {
    native.close(spawned.sock);
  }
}

/** The program a process runs (/proc/<pid>/exe), or null if it can't be read. */
export function exeOf(pid: number): string | null {
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return null;
  }
}

/** Wait (up to ms) until a process released at exec.fifo has exec'd its program: its exe is no
 * longer `before`, or it is gone. */
export function waitForExec(pid: number, startTime: number, before: string | null, ms = 5000): void {
  if (before === null) return;
  const end = Date.now() + ms;
  for (let delay = 1; Date.now() < end; delay = Math.min(delay * 2, 10)) {
    if (processStartTime(pid) !== startTime || exeOf(pid) !== before) return;
    sleepMs(delay);
  }
}
