// The only module that loads the addon. `native` implements the `Native` contract (types.ts); the
// addon is dlopen'd on first use, so importing this module costs nothing and code paths that never
// touch the kernel (e.g. `tsrunc --version`, unit tests with fake.ts) never load it.

import { PLAN_VERSION, encodePlan } from "./encode.ts";
import { loadAddon } from "./load.ts";
import { mark } from "../runtime/timing.ts";
import type { ExitStatus, InitMessage, InitPlan, Native, SpawnedInit } from "./types.ts";

/** The raw functions exported by native/src/api.rs. Shapes are kept flat there; this file maps them. */
interface RawAddon {
  planVersion: number;
  spawnInit(plan: Uint8Array, cgroupFd: number): [pid: number, pidfd: number, sock: number, inCgroup: number];
  recvMessage(sock: number): [kind: number, a: number, b: number];
  reply(sock: number, value: number): void;
  waitPidfd(pidfd: number): Promise<[siCode: number, siStatus: number]>;
  tryWait(pid: number): [siCode: number, siStatus: number] | null;
  peekExited(): number;
  pidfdOpen(pid: number): number;
  pidfdSendSignal(pidfd: number, signal: number): void;
  lockFile(fd: number, exclusive: boolean, nonBlocking: boolean): boolean;
  socketpair(): [number, number];
  pipe(): [number, number];
  setNonblocking(fd: number): void;
  mount(source: string, target: string, fstype: string, flags: number, data: string): void;
  umount(target: string, flags: number): void;
  connectUnix(path: string): number;
  recvFd(sock: number): [fd: number, name: string];
  setWinsize(fd: number, rows: number, cols: number): void;
  getWinsize(fd: number): [rows: number, cols: number];
  close(fd: number): void;
  poll(fd: number, events: number, timeoutMs: number): number;
  mkfifo(path: string, mode: number): void;
  setChildSubreaper(on: boolean): void;
  attachDeviceFilter(cgroupDir: string, insns: Uint8Array, license: string): number;
}

/** Message kinds on the init's sync socket (native/src/child.rs). */
export const MSG_EOF = 0;
export const MSG_SYNC = 1;
export const MSG_PID = 2;
export const MSG_ERROR = 3;

// waitid(2) si_code values for SIGCHLD.
const CLD_EXITED = 1;
const CLD_KILLED = 2;
const CLD_DUMPED = 3;

let raw: RawAddon | undefined;

function addon(): RawAddon {
  if (raw) return raw;
  mark("before addon load");
  const a = loadAddon() as RawAddon;
  mark("addon load");
  if (a.planVersion !== PLAN_VERSION) {
    throw new Error(
      `native addon speaks plan version ${a.planVersion}, encode.ts writes ${PLAN_VERSION}: rebuild with scripts/build-native.sh`,
    );
  }
  raw = a;
  return a;
}

/** Map waitid's (si_code, si_status) to an ExitStatus. */
export function toExitStatus([code, status]: [number, number]): ExitStatus {
  if (code === CLD_EXITED) return { code: status, signal: null };
  if (code === CLD_KILLED || code === CLD_DUMPED) return { code: null, signal: status };
  // CLD_STOPPED/CONTINUED/TRAPPED cannot come back with WEXITED only.
  throw new Error(`waitid: unexpected si_code ${code}`);
}

/** Map a raw [kind, a, b] record to an InitMessage. */
export function toInitMessage([kind, a, b]: [number, number, number]): InitMessage {
  switch (kind) {
    case MSG_EOF:
      return { kind: "eof" };
    case MSG_SYNC:
      return { kind: "sync", tag: a >>> 0 };
    case MSG_PID:
      return { kind: "pid", pid: a };
    case MSG_ERROR:
      return { kind: "error", op: a, errno: b };
    default:
      throw new Error(`recvMessage: unknown message kind ${kind}`);
  }
}

export const native: Native = {
  spawnInit(plan: InitPlan): SpawnedInit {
    const buf = encodePlan(plan);
    const [pid, pidfd, sock, inCgroup] = addon().spawnInit(buf, plan.intoCgroupFd ?? -1);
    return { pid, pidfd, sock, inCgroup: inCgroup === 1 };
  },
  recvMessage: (sock) => toInitMessage(addon().recvMessage(sock)),
  reply: (sock, value) => addon().reply(sock, value),
  waitPidfd: async (pidfd) => toExitStatus(await addon().waitPidfd(pidfd)),
  tryWait(pid) {
    const r = addon().tryWait(pid);
    return r === null ? null : toExitStatus(r);
  },
  peekExited: () => addon().peekExited(),
  pidfdOpen: (pid) => addon().pidfdOpen(pid),
  pidfdSendSignal: (pidfd, signal) => addon().pidfdSendSignal(pidfd, signal),
  lockFile: (fd, exclusive, nonBlocking) => addon().lockFile(fd, exclusive, nonBlocking),
  socketpair: () => addon().socketpair(),
  pipe: () => addon().pipe(),
  setNonblocking: (fd) => addon().setNonblocking(fd),
  mount: (source, target, fstype, flags, data) => addon().mount(source, target, fstype, flags, data),
  umount: (target, flags) => addon().umount(target, flags),
  connectUnix: (path) => addon().connectUnix(path),
  recvFd(sock) {
    const [fd, name] = addon().recvFd(sock);
    return { fd, name };
  },
  setWinsize: (fd, rows, cols) => addon().setWinsize(fd, rows, cols),
  getWinsize(fd) {
    const [rows, cols] = addon().getWinsize(fd);
    return { rows, cols };
  },
  close: (fd) => addon().close(fd),
  poll: (fd, events, timeoutMs) => addon().poll(fd, events, timeoutMs),
  mkfifo: (path, mode) => addon().mkfifo(path, mode),
  setChildSubreaper: (on) => addon().setChildSubreaper(on),
  attachDeviceFilter: (cgroupDir, insns, license) => addon().attachDeviceFilter(cgroupDir, insns, license),
};

export type * from "./types.ts";
