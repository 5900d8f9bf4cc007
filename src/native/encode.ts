// Serialises an InitPlan into the flat little-endian buffer that native/src/plan.rs parses.
// Pure TypeScript (no addon needed), so it is unit-tested on its own.
//
// Layout (keep in sync with plan.rs):
//   header: u32 MAGIC, u32 VERSION, u64 cloneFlags, str rootfs, u32 opCount
//   op:     u32 code, then the op's fields in the order written by `encodeOp` below
//   u32 / u64 are fixed width; bool = u32 0|1; str = u32 byte length + UTF-8 (no NUL byte);
//   optstr = str, or u32 0xFFFFFFFF for null; strs = u32 count + str*; bytes = u32 length + bytes;
//   u32s = u32 count + u32*.
//
// Integers given as JS numbers are checked: u32 fields take integers in [-2^31, 2^32) and negative
// values are taken as their two's complement (so `-1` is 0xFFFFFFFF, e.g. "no change" for chown,
// and a flag word built with `|` that came out negative still encodes right); u64 fields take a
// bigint in [0, 2^64) or a non-negative safe integer.

import type { InitOp, InitPlan } from "./types.ts";

export const PLAN_MAGIC = 0x49525354; // bytes "TSRI"
export const PLAN_VERSION = 4;
export const SLOT_COUNT = 8;
export const PATH_MAX = 4096;
const NULL_STR = 0xffffffff;
const U64_MAX = (1n << 64n) - 1n;

/** Op codes on the wire (plan.rs `code`). */
export const OP_CODES = {
  setns: 1,
  unshare: 2,
  sync: 3,
  forkParent: 4,
  mkdirAll: 5,
  touch: 6,
  mount: 7,
  mountSetattr: 8,
  maskPath: 9,
  mknod: 10,
  symlink: 11,
  pivotRoot: 12,
  moveRoot: 13,
  writeFile: 14,
  sethostname: 15,
  setdomainname: 16,
  setrlimit: 17,
  personality: 18,
  prctl: 19,
  capset: 20,
  setgroups: 21,
  setresgid: 22,
  setresuid: 23,
  umask: 24,
  chdir: 25,
  setsid: 26,
  cloexecFrom: 27,
  inheritFds: 28,
  openPath: 29,
  waitStart: 30,
  console: 31,
  seccomp: 32,
  checkExec: 33,
  exec: 34,
  dup2: 35,
  joinSessionKeyring: 36,
  tryChdir: 37,
  retryChdir: 38,
} as const satisfies Record<InitOp["op"], number>;

export class PlanEncodeError extends TypeError {
  constructor(where: string, message: string) {
    super(`${where}: ${message}`);
    this.name = "PlanEncodeError";
  }
}

const utf8 = new TextEncoder();

class Writer {
  private buf = new Uint8Array(1024);
  private view = new DataView(this.buf.buffer);
  private len = 0;
  constructor(private where: string) {}

  at(where: string): this {
    this.where = where;
    return this;
  }

  private fail(msg: string): never {
    throw new PlanEncodeError(this.where, msg);
  }

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u32(v: unknown, name: string): void {
    if (typeof v !== "number" || !Number.isInteger(v) || v < -0x80000000 || v > 0xffffffff) {
      this.fail(`${name} must be an integer in [-2^31, 2^32), got ${String(v)}`);
    }
    this.rawU32(v >>> 0);
  }

  /** Written as a u32 holding 0..65535. */
  u16(v: unknown, name: string): void {
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 0xffff) this.fail(`${name} must be an integer in [0, 65535], got ${String(v)}`);
    this.rawU32(v);
  }

  rawU32(v: number): void {
    this.reserve(4);
    this.view.setUint32(this.len, v, true);
    this.len += 4;
  }

  u64(v: unknown, name: string): void {
    let b: bigint;
    if (typeof v === "bigint") b = v;
    else if (typeof v === "number" && Number.isSafeInteger(v)) b = BigInt(v);
    else this.fail(`${name} must be a bigint or a safe integer, got ${String(v)}`);
    if (b < 0n || b > U64_MAX) this.fail(`${name} out of the u64 range: ${b}`);
    this.reserve(8);
    this.view.setBigUint64(this.len, b, true);
    this.len += 8;
  }

  bool(v: unknown, name: string): void {
    if (v !== undefined && typeof v !== "boolean") this.fail(`${name} must be a boolean`);
    this.rawU32(v ? 1 : 0);
  }

  bytes(b: Uint8Array): void {
    this.rawU32(b.length);
    this.reserve(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  str(v: unknown, name: string): void {
    if (typeof v !== "string") this.fail(`${name} must be a string`);
    if (v.includes("\0")) this.fail(`${name} contains a NUL character`);
    this.bytes(utf8.encode(v));
  }

  path(v: unknown, name: string): void {
    if (typeof v !== "string" || v === "") this.fail(`${name} must be a non-empty string`);
    if (utf8.encode(v).length >= PATH_MAX) this.fail(`${name} is longer than PATH_MAX`);
    this.str(v, name);
  }

  optStr(v: unknown, name: string): void {
    if (v === null || v === undefined) this.rawU32(NULL_STR);
    else this.str(v, name);
  }

  strs(v: unknown, name: string): void {
    if (!Array.isArray(v)) this.fail(`${name} must be an array of strings`);
    this.rawU32(v.length);
    v.forEach((s, i) => this.str(s, `${name}[${i}]`));
  }

  u32s(v: unknown, name: string): void {
    if (!Array.isArray(v)) this.fail(`${name} must be an array of integers`);
    this.rawU32(v.length);
    v.forEach((n, i) => this.u32(n, `${name}[${i}]`));
  }

  slot(v: unknown, name: string): void {
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v >= SLOT_COUNT) {
      this.fail(`${name} must be an integer in [0, ${SLOT_COUNT})`);
    }
    this.rawU32(v);
  }

  result(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

function encodeOp(w: Writer, op: InitOp): void {
  const code = (OP_CODES as Record<string, number>)[op.op];
  if (code === undefined) throw new PlanEncodeError("op", `unknown op ${JSON.stringify(op.op)}`);
  w.rawU32(code);
  switch (op.op) {
    case "setns":
      w.path(op.path, "path");
      w.u32(op.nstype, "nstype");
      return;
    case "unshare":
      w.u32(op.flags, "flags");
      return;
    case "sync":
      w.u32(op.tag, "tag");
      return;
    case "forkParent":
    case "setsid":
      return;
    case "mkdirAll":
    case "touch":
      w.path(op.path, "path");
      w.u32(op.mode, "mode");
      w.bool(op.inRoot, "inRoot");
      return;
    case "mount":
      w.optStr(op.source, "source");
      w.path(op.target, "target");
      w.optStr(op.fstype, "fstype");
      w.u64(op.flags, "flags");
      w.optStr(op.data, "data");
      w.bool(op.inRoot, "inRoot");
      w.bool(op.optional ?? false, "optional");
      return;
    case "mountSetattr":
      w.path(op.target, "target");
      w.u64(op.attrSet, "attrSet");
      w.u64(op.attrClr, "attrClr");
      w.u64(op.propagation, "propagation");
      w.bool(op.recursive, "recursive");
      w.bool(op.inRoot, "inRoot");
      w.bool(op.optional ?? false, "optional");
      return;
    case "maskPath":
      w.path(op.path, "path");
      return;
    case "mknod":
      w.path(op.path, "path");
      w.u32(op.mode, "mode");
      w.u32(op.major, "major");
      w.u32(op.minor, "minor");
      w.u32(op.uid, "uid");
      w.u32(op.gid, "gid");
      w.bool(op.inRoot, "inRoot");
      return;
    case "symlink":
      w.str(op.target, "target");
      w.path(op.linkpath, "linkpath");
      w.bool(op.inRoot, "inRoot");
      return;
    case "pivotRoot":
    case "moveRoot":
      w.path(op.rootfs, "rootfs");
      return;
    case "writeFile":
      w.path(op.path, "path");
      w.str(op.data, "data");
      w.bool(op.optional ?? false, "optional");
      return;
    case "sethostname":
    case "setdomainname":
      w.str(op.name, "name");
      return;
    case "setrlimit":
      w.u32(op.resource, "resource");
      w.u64(op.soft, "soft");
      w.u64(op.hard, "hard");
      return;
    case "personality":
      w.u64(op.persona, "persona");
      return;
    case "prctl":
      w.u32(op.option, "option");
      w.u64(op.arg2, "arg2");
      w.u64(op.arg3, "arg3");
      return;
    case "capset":
      w.u64(op.effective, "effective");
      w.u64(op.permitted, "permitted");
      w.u64(op.inheritable, "inheritable");
      return;
    case "setgroups":
      w.u32s(op.gids, "gids");
      return;
    case "setresgid":
      w.u32(op.gid, "gid");
      return;
    case "setresuid":
      w.u32(op.uid, "uid");
      return;
    case "umask":
      w.u32(op.mask, "mask");
      return;
    case "chdir":
    case "tryChdir":
    case "retryChdir":
      w.path(op.path, "path");
      return;
    case "cloexecFrom":
      w.u32(op.from, "from");
      return;
    case "inheritFds":
      w.u32(op.from, "from");
      w.u32(op.to, "to");
      return;
    case "openPath":
      w.path(op.path, "path");
      w.slot(op.slot, "slot");
      return;
    case "waitStart":
      w.u32(op.dirFd, "dirFd");
      w.str(op.name, "name");
      return;
    case "console":
      w.u32(op.socketFd, "socketFd");
      w.path(op.ptmxPath, "ptmxPath");
      w.u16(op.rows, "rows");
      w.u16(op.cols, "cols");
      return;
    case "seccomp": {
      w.u32(op.flags, "flags");
      const p = op.program;
      if (!(p instanceof Uint8Array) || p.length === 0 || p.length % 8 !== 0 || p.length / 8 > 4096) {
        throw new PlanEncodeError("seccomp", "program must be a Uint8Array of 1..4096 8-byte instructions");
      }
      w.bytes(p);
      return;
    }
    case "checkExec":
      w.strs(op.candidates, "candidates");
      return;
    case "exec":
      w.strs(op.candidates, "candidates");
      w.strs(op.argv, "argv");
      w.strs(op.envp, "envp");
      return;
    case "dup2":
      w.u32(op.from, "from");
      w.u32(op.to, "to");
      return;
    case "joinSessionKeyring":
      w.str(op.name, "name");
      w.u32(op.perm, "perm");
      return;
  }
}

/** Serialise a plan. Throws PlanEncodeError (a TypeError) naming the offending op and field. */
export function encodePlan(plan: InitPlan): Uint8Array {
  const w = new Writer("plan");
  w.rawU32(PLAN_MAGIC);
  w.rawU32(PLAN_VERSION);
  const cf = plan.cloneFlags;
  // A flag word with bit 31 set that went through `|` is a negative int32: take it as unsigned.
  w.u64(typeof cf === "number" && cf < 0 && cf >= -0x80000000 && Number.isInteger(cf) ? cf >>> 0 : cf, "cloneFlags");
  w.path(plan.rootfs, "rootfs");
  if (!Array.isArray(plan.ops)) throw new PlanEncodeError("plan", "ops must be an array");
  w.rawU32(plan.ops.length);
  plan.ops.forEach((op, i) => {
    const where = `plan.ops[${i}] (${typeof op?.op === "string" ? op.op : "?"})`;
    if (op?.op === "exec" && i !== plan.ops.length - 1) {
      throw new PlanEncodeError(where, "exec must be the last op");
    }
    w.at(where);
    try {
      encodeOp(w, op);
    } catch (e) {
      if (e instanceof PlanEncodeError && !e.message.startsWith("plan.ops[")) {
        throw new PlanEncodeError(where, e.message);
      }
      throw e;
    }
  });
  return w.result();
}
