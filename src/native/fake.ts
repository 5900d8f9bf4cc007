// A fake `Native` for unit tests of runtime logic: no root, no addon, no kernel.
//
// It models just enough to drive the runtime the way the real addon would:
// - spawnInit records the plan and, unless a script says otherwise, answers it like a healthy init:
//   one {kind:"sync"} per sync op and one {kind:"pid"} per forkParent op, in op order, then eof.
//   A non-zero reply (or an error message) ends the child with exit code 1, like the real one.
// - Processes have pids, pidfds and an exit status; an init keeps "running" after eof (it exec'd)
//   until the test calls exit(pid, status) or signals it with a fatal signal. The forkParent
//   intermediate exits 0 right after its pid message. Waiting reaps, and a reaped pid gives ECHILD.
// - File descriptors are numbers handed out from 100; closing one of ours twice throws EBADF.
// - Every call is logged in `calls`.
//
// Errors thrown look like the addon's (NativeError: code, errno, syscall; the message has no
// strerror text, just the code).

import { constants as osConstants } from "node:os";
import type { ExitStatus, InitMessage, InitPlan, Native, NativeError, SpawnedInit } from "./types.ts";

export function nativeError(syscall: string, code: string): NativeError {
  const errno = (osConstants.errno as Record<string, number>)[code] ?? 0;
  const err = new Error(`${syscall}: ${code} (errno ${errno})`) as NativeError;
  err.code = code;
  err.errno = errno;
  err.syscall = syscall;
  return err;
}

/** How the next spawned init behaves. Everything is optional. */
export interface FakeScript {
  /** Throw this from spawnInit (e.g. nativeError("clone", "ENOSPC")). */
  spawnError?: Error;
  /** The messages recvMessage returns, in order (eof follows). Default: derived from the plan. */
  messages?: InitMessage[];
  /** Fail at ops[op] with errno: the default messages for the ops before it, then the error. */
  failAt?: { op: number; errno: number };
  /** Exit status of the init right after its last message (eof); default: keep running. */
  exitAfterEof?: ExitStatus;
}

export interface FakeProcess {
  pid: number;
  /** The first child (what spawnInit returned), or the init a forkParent produced. */
  role: "init" | "intermediate";
  status: ExitStatus | null;
  reaped: boolean;
  signals: number[];
}

export interface FakeSpawn {
  plan: InitPlan;
  result: SpawnedInit;
  /** Messages not yet delivered. */
  pending: InitMessage[];
  /** Messages recvMessage returned. */
  delivered: InitMessage[];
  /** Values passed to reply(). */
  replies: number[];
  exitAfterEof?: ExitStatus;
}

const SIGKILL = 9;

export class FakeNative implements Native {
  /** Every call: method name and arguments. */
  calls: { fn: string; args: unknown[] }[] = [];
  spawns: FakeSpawn[] = [];
  processes = new Map<number, FakeProcess>();
  /** Signals that end a fake process (with that signal) when sent to it. */
  fatalSignals = new Set<number>([1, 2, 3, 9, 15]);
  /** fds this fake handed out and has not seen closed. */
  openFds = new Set<number>();
  closedFds: number[] = [];
  /** Locks taken: fd → "ex" | "sh". */
  locks = new Map<number, "ex" | "sh">();
  /** fds whose lock is "held by another process": lockFile with nonBlocking returns false. */
  contendedLocks = new Set<number>();
  /** What recvFd returns next (a fresh fd named "/dev/ptmx" when empty). */
  fdsToReceive: { fd: number; name: string }[] = [];
  /** connectUnix(path) throws this error code for these paths. */
  connectErrors = new Map<string, string>();
  connections: { path: string; fd: number }[] = [];
  winsizes = new Map<number, { rows: number; cols: number }>();
  fifos: { path: string; mode: number }[] = [];
  subreaper = false;
  /** The device filter attached to each cgroup directory (one per directory, as the real one keeps). */
  deviceFilters = new Map<string, { insns: Uint8Array; license: string }>();

  private scripts: (FakeScript | ((plan: InitPlan) => FakeScript))[] = [];
  private nextPid = 1000;
  private nextFd = 100;
  private bySock = new Map<number, FakeSpawn>();
  private pidfds = new Map<number, number>(); // pidfd → pid
  private waiters = new Map<number, ((s: ExitStatus) => void)[]>();

  /** Queue the behaviour of the next spawnInit (scripts are used in order, one per spawn). */
  script(s: FakeScript | ((plan: InitPlan) => FakeScript)): this {
    this.scripts.push(s);
    return this;
  }

  /** End a process: its waiters resolve (and it is reaped by the first of them). */
  exit(pid: number, status: ExitStatus): void {
    const p = this.processes.get(pid);
    if (!p) throw new Error(`fake: no process ${pid}`);
    if (p.status) return;
    p.status = status;
    const ws = this.waiters.get(pid) ?? [];
    this.waiters.delete(pid);
    if (ws.length) p.reaped = true;
    for (const w of ws) w(status);
  }

  /** The spawn whose sync socket is `sock`. */
  spawnOf(sock: number): FakeSpawn | undefined {
    return this.bySock.get(sock);
  }

  private log(fn: string, args: unknown[]): void {
    this.calls.push({ fn, args });
  }

  private fd(): number {
    const fd = this.nextFd++;
    this.openFds.add(fd);
    return fd;
  }

  private newProcess(role: FakeProcess["role"], pid = this.nextPid++): FakeProcess {
    const p: FakeProcess = { pid, role, status: null, reaped: false, signals: [] };
    this.processes.set(p.pid, p);
    return p;
  }

  private defaultMessages(plan: InitPlan, upTo = plan.ops.length): InitMessage[] {
    const out: InitMessage[] = [];
    for (const op of plan.ops.slice(0, upTo)) {
      if (op.op === "sync") out.push({ kind: "sync", tag: op.tag });
      // The pid is filled in when the message is delivered.
      if (op.op === "forkParent") out.push({ kind: "pid", pid: -1 });
    }
    return out;
  }

  spawnInit(plan: InitPlan): SpawnedInit {
    this.log("spawnInit", [plan]);
    const next = this.scripts.shift();
    const s: FakeScript = typeof next === "function" ? next(plan) : (next ?? {});
    if (s.spawnError) throw s.spawnError;
    let pending: InitMessage[];
    if (s.messages) pending = [...s.messages];
    else if (s.failAt) pending = [...this.defaultMessages(plan, s.failAt.op), { kind: "error", ...s.failAt }];
    else pending = this.defaultMessages(plan);
    const proc = this.newProcess("init");
    const result: SpawnedInit = { pid: proc.pid, pidfd: this.fd(), sock: this.fd(), inCgroup: plan.intoCgroupFd !== undefined && plan.intoCgroupFd >= 0 };
    this.pidfds.set(result.pidfd, proc.pid);
    const spawn: FakeSpawn = { plan, result, pending, delivered: [], replies: [], exitAfterEof: s.exitAfterEof };
    this.spawns.push(spawn);
    this.bySock.set(result.sock, spawn);
    return spawn.result;
  }

  /** The process currently running the plan (after a forkParent, the new one). */
  private current(spawn: FakeSpawn): FakeProcess {
    const pids = spawn.delivered.filter((m): m is { kind: "pid"; pid: number } => m.kind === "pid");
    const pid = pids.length ? pids[pids.length - 1]!.pid : spawn.result.pid;
    return this.processes.get(pid)!;
  }

  recvMessage(sock: number): InitMessage {
    this.log("recvMessage", [sock]);
    const spawn = this.bySock.get(sock);
    if (!spawn || !this.openFds.has(sock)) throw nativeError("recv", "EBADF");
    const proc = this.current(spawn);
    let m = proc.status ? undefined : spawn.pending.shift();
    if (!m) {
      if (!proc.status && spawn.exitAfterEof) this.exit(proc.pid, spawn.exitAfterEof);
      m = { kind: "eof" };
    } else if (m.kind === "pid") {
      // A scripted pid is used as given; -1 (the default script) takes the next free one.
      const child = m.pid === -1 ? this.newProcess("init") : (this.processes.get(m.pid) ?? this.newProcess("init", m.pid));
      m = { kind: "pid", pid: child.pid };
      proc.role = "intermediate";
      this.exit(proc.pid, { code: 0, signal: null });
    } else if (m.kind === "error") {
      spawn.pending = [];
      this.exit(proc.pid, { code: 1, signal: null });
    }
    spawn.delivered.push(m);
    return m;
  }

  reply(sock: number, value: number): void {
    this.log("reply", [sock, value]);
    const spawn = this.bySock.get(sock);
    if (!spawn || !this.openFds.has(sock)) throw nativeError("send", "EBADF");
    const proc = this.current(spawn);
    if (proc.status) throw nativeError("send", "EPIPE");
    spawn.replies.push(value);
    if (value !== 0) {
      spawn.pending = [];
      this.exit(proc.pid, { code: 1, signal: null });
    }
  }

  waitPidfd(pidfd: number): Promise<ExitStatus> {
    this.log("waitPidfd", [pidfd]);
    const pid = this.pidfds.get(pidfd);
    if (pid === undefined || !this.openFds.has(pidfd)) return Promise.reject(nativeError("waitid", "EBADF"));
    const p = this.processes.get(pid)!;
    if (p.reaped) return Promise.reject(nativeError("waitid", "ECHILD"));
    if (p.status) {
      p.reaped = true;
      return Promise.resolve(p.status);
    }
    return new Promise((resolve) => {
      const ws = this.waiters.get(pid) ?? [];
      ws.push(resolve);
      this.waiters.set(pid, ws);
    });
  }

  tryWait(pid: number): ExitStatus | null {
    this.log("tryWait", [pid]);
    const p = this.processes.get(pid);
    if (!p || p.reaped) throw nativeError("waitid", "ECHILD");
    if (!p.status) return null;
    p.reaped = true;
    return p.status;
  }

  peekExited(): number {
    this.log("peekExited", []);
    for (const p of this.processes.values()) if (p.status && !p.reaped) return p.pid;
    return 0;
  }

  pidfdOpen(pid: number): number {
    this.log("pidfdOpen", [pid]);
    const p = this.processes.get(pid);
    if (!p || p.reaped) throw nativeError("pidfd_open", "ESRCH");
    const fd = this.fd();
    this.pidfds.set(fd, pid);
    return fd;
  }

  pidfdSendSignal(pidfd: number, signal: number): void {
    this.log("pidfdSendSignal", [pidfd, signal]);
    const pid = this.pidfds.get(pidfd);
    if (pid === undefined || !this.openFds.has(pidfd)) throw nativeError("pidfd_send_signal", "EBADF");
    const p = this.processes.get(pid)!;
    if (p.status) throw nativeError("pidfd_send_signal", "ESRCH");
    p.signals.push(signal);
    if (signal === SIGKILL || this.fatalSignals.has(signal)) this.exit(pid, { code: null, signal });
  }

  lockFile(fd: number, exclusive: boolean, nonBlocking: boolean): boolean {
    this.log("lockFile", [fd, exclusive, nonBlocking]);
    if (this.contendedLocks.has(fd)) {
      if (nonBlocking) return false;
      throw new Error(`fake: lockFile(${fd}) would block forever (fd is in contendedLocks)`);
    }
    this.locks.set(fd, exclusive ? "ex" : "sh");
    return true;
  }

  socketpair(): [number, number] {
    this.log("socketpair", []);
    return [this.fd(), this.fd()];
  }

  pipe(): [number, number] {
    this.log("pipe", []);
    return [this.fd(), this.fd()];
  }

  setNonblocking(fd: number): void {
    this.log("setNonblocking", [fd]);
  }

  mount(source: string, target: string, fstype: string, flags: number, data: string): void {
    this.log("mount", [source, target, fstype, flags, data]);
  }

  umount(target: string, flags: number): void {
    this.log("umount", [target, flags]);
  }

  connectUnix(path: string): number {
    this.log("connectUnix", [path]);
    const code = this.connectErrors.get(path);
    if (code) throw nativeError("connect", code);
    const fd = this.fd();
    this.connections.push({ path, fd });
    return fd;
  }

  recvFd(sock: number): { fd: number; name: string } {
    this.log("recvFd", [sock]);
    const next = this.fdsToReceive.shift();
    if (next) {
      this.openFds.add(next.fd);
      return next;
    }
    return { fd: this.fd(), name: "/dev/ptmx" };
  }

  setWinsize(fd: number, rows: number, cols: number): void {
    this.log("setWinsize", [fd, rows, cols]);
    this.winsizes.set(fd, { rows, cols });
  }

  getWinsize(fd: number): { rows: number; cols: number } {
    this.log("getWinsize", [fd]);
    return this.winsizes.get(fd) ?? { rows: 0, cols: 0 };
  }

  close(fd: number): void {
    this.log("close", [fd]);
    if (this.closedFds.includes(fd) && !this.openFds.has(fd)) throw nativeError("close", "EBADF");
    this.openFds.delete(fd);
    this.closedFds.push(fd);
  }

  /** poll(fd, …) returns this for these fds (default: every asked event, at once). */
  pollResults = new Map<number, number>();

  poll(fd: number, events: number, timeoutMs: number): number {
    this.log("poll", [fd, events, timeoutMs]);
    return this.pollResults.get(fd) ?? events;
  }

  mkfifo(path: string, mode: number): void {
    this.log("mkfifo", [path, mode]);
    this.fifos.push({ path, mode });
  }

  setChildSubreaper(on: boolean): void {
    this.log("setChildSubreaper", [on]);
    this.subreaper = on;
  }

  attachDeviceFilter(cgroupDir: string, insns: Uint8Array, license: string): number {
    this.log("attachDeviceFilter", [cgroupDir, insns, license]);
    if (insns.length === 0 || insns.length % 8 !== 0) throw nativeError("bpf(BPF_PROG_LOAD)", "EINVAL");
    const before = this.deviceFilters.get(cgroupDir) ? 1 : 0;
    this.deviceFilters.set(cgroupDir, { insns, license });
    return before;
  }
}
