import { describe, expect, it } from "vitest";
import { OP_CODES, PLAN_MAGIC, PLAN_VERSION, PlanEncodeError, encodePlan } from "../../src/native/encode.ts";
import type { InitOp, InitPlan } from "../../src/native/types.ts";

/** A reader for the wire format, independent of encode.ts, to check what was written. */
class Reader {
  private view: DataView;
  pos = 0;
  constructor(private buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  u32() {
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  u64() {
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    return v;
  }
  bool() {
    const v = this.u32();
    expect([0, 1]).toContain(v);
    return v === 1;
  }
  bytes() {
    const n = this.u32();
    const b = this.buf.slice(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  str() {
    return new TextDecoder().decode(this.bytes());
  }
  optStr() {
    const n = this.view.getUint32(this.pos, true);
    if (n === 0xffffffff) {
      this.pos += 4;
      return null;
    }
    return this.str();
  }
  strs() {
    const n = this.u32();
    return Array.from({ length: n }, () => this.str());
  }
  get done() {
    return this.pos === this.buf.length;
  }
}

const plan = (ops: InitOp[], extra: Partial<InitPlan> = {}): InitPlan => ({ cloneFlags: 0, rootfs: "/r", ops, ...extra });

function header(r: Reader) {
  return { magic: r.u32(), version: r.u32(), cloneFlags: r.u64(), rootfs: r.str(), count: r.u32() };
}

describe("encodePlan", () => {
  it("writes the header and an empty op list", () => {
    const buf = encodePlan(plan([], { cloneFlags: 0x20000 | 0x20000000, rootfs: "/run/x/rootfs" }));
    const r = new Reader(buf);
    expect(header(r)).toEqual({
      magic: PLAN_MAGIC,
      version: PLAN_VERSION,
      cloneFlags: 0x20020000n,
      rootfs: "/run/x/rootfs",
      count: 0,
    });
    expect(r.done).toBe(true);
    // the magic reads "TSRI" as bytes
    expect(new TextDecoder().decode(buf.slice(0, 4))).toBe("TSRI");
  });

  it("encodes exact bytes for a tiny plan", () => {
    const buf = encodePlan({ cloneFlags: 1, rootfs: "/", ops: [{ op: "sync", tag: 258 }] });
    expect(Array.from(buf)).toEqual([
      ...[0x54, 0x53, 0x52, 0x49], // magic
      ...[PLAN_VERSION, 0, 0, 0], // version
      ...[1, 0, 0, 0, 0, 0, 0, 0], // cloneFlags
      ...[1, 0, 0, 0, 0x2f], // rootfs "/"
      ...[1, 0, 0, 0], // one op
      ...[3, 0, 0, 0], // sync
      ...[2, 1, 0, 0], // tag 258
    ]);
  });

  it("takes a negative int32 flag word as unsigned", () => {
    const r = new Reader(encodePlan(plan([], { cloneFlags: 0x80000000 | 0x20000 })));
    expect(header(r).cloneFlags).toBe(0x80020000n);
  });

  it("encodes mount with null and optional fields", () => {
    const r = new Reader(
      encodePlan(
        plan([
          { op: "mount", source: null, target: "/", fstype: null, flags: 0x4000 | 0x40000, data: null, inRoot: false },
          { op: "mount", source: "proc", target: "/proc", fstype: "proc", flags: 0, data: "hidepid=2", inRoot: true, optional: true },
        ]),
      ),
    );
    expect(header(r).count).toBe(2);
    expect(r.u32()).toBe(OP_CODES.mount);
    expect([r.optStr(), r.str(), r.optStr(), r.u64(), r.optStr(), r.bool(), r.bool()]).toEqual([
      null,
      "/",
      null,
      0x44000n,
      null,
      false,
      false,
    ]);
    expect(r.u32()).toBe(OP_CODES.mount);
    expect([r.optStr(), r.str(), r.optStr(), r.u64(), r.optStr(), r.bool(), r.bool()]).toEqual([
      "proc",
      "/proc",
      "proc",
      0n,
      "hidepid=2",
      true,
      true,
    ]);
    expect(r.done).toBe(true);
  });

  it("encodes every op in field order", () => {
    const prog = new Uint8Array(16).fill(7);
    const ops: InitOp[] = [
      { op: "setns", path: "/proc/1/ns/net", nstype: 0x40000000 },
      { op: "unshare", flags: 0x20000000 },
      { op: "sync", tag: 1 },
      { op: "forkParent" },
      { op: "mkdirAll", path: "/a/b", mode: 0o755, inRoot: true },
      { op: "touch", path: "/f", mode: 0o644, inRoot: false },
      { op: "mountSetattr", target: "/x", attrSet: 1, attrClr: 2, propagation: 1 << 18, recursive: true, inRoot: true },
      { op: "maskPath", path: "/proc/kcore" },
      { op: "mknod", path: "/dev/null", mode: 0o20666, major: 1, minor: 3, uid: -1, gid: 5, inRoot: true },
      { op: "symlink", target: "/proc/self/fd", linkpath: "/dev/fd", inRoot: true },
      { op: "pivotRoot", rootfs: "/r" },
      { op: "moveRoot", rootfs: "/r" },
      { op: "writeFile", path: "/proc/self/oom_score_adj", data: "100", optional: true },
      { op: "sethostname", name: "h" },
      { op: "setdomainname", name: "" },
      { op: "setrlimit", resource: 7, soft: 1024n, hard: (1n << 64n) - 1n },
      { op: "personality", persona: 8 },
      { op: "prctl", option: 38, arg2: 1, arg3: 0 },
      { op: "capset", effective: (1n << 40n) | 1n, permitted: 3n, inheritable: 0n },
      { op: "setgroups", gids: [1, 2, 3] },
      { op: "setresgid", gid: 10 },
      { op: "setresuid", uid: 11 },
      { op: "umask", mask: 0o22 },
      { op: "chdir", path: "/" },
      { op: "tryChdir", path: "/t" },
      { op: "retryChdir", path: "/t" },
      { op: "setsid" },
      { op: "cloexecFrom", from: 3 },
      { op: "inheritFds", from: 3, to: 5 },
      { op: "openPath", path: "/run/x/exec.fifo", slot: 7 },
      { op: "waitStart", dirFd: 7, name: "exec.fifo" },
      { op: "console", socketFd: 9, ptmxPath: "/dev/ptmx", rows: 24, cols: 80 },
      { op: "seccomp", flags: 0, program: prog },
      { op: "dup2", from: 20, to: 1 },
      { op: "checkExec", candidates: ["/bin/sh"] },
      { op: "exec", candidates: ["/bin/sh", "/usr/bin/sh"], argv: ["sh", "-c", "true"], envp: ["A=b", "PATH=/bin"] },
    ];
    const r = new Reader(encodePlan(plan(ops)));
    expect(header(r).count).toBe(ops.length);
    const seen: unknown[] = [];
    for (const op of ops) {
      expect(r.u32()).toBe(OP_CODES[op.op]);
      switch (op.op) {
        case "setns":
          seen.push([r.str(), r.u32()]);
          break;
        case "unshare":
        case "sync":
        case "setresgid":
        case "setresuid":
        case "umask":
        case "cloexecFrom":
          seen.push(r.u32());
          break;
        case "waitStart":
          seen.push([r.u32(), r.str()]);
          break;
        case "forkParent":
        case "setsid":
          seen.push(null);
          break;
        case "mkdirAll":
        case "touch":
          seen.push([r.str(), r.u32(), r.bool()]);
          break;
        case "mountSetattr":
          seen.push([r.str(), r.u64(), r.u64(), r.u64(), r.bool(), r.bool(), r.bool()]);
          break;
        case "maskPath":
        case "chdir":
        case "tryChdir":
        case "retryChdir":
        case "pivotRoot":
        case "moveRoot":
          seen.push(r.str());
          break;
        case "mknod":
          seen.push([r.str(), r.u32(), r.u32(), r.u32(), r.u32(), r.u32(), r.bool()]);
          break;
        case "symlink":
          seen.push([r.str(), r.str(), r.bool()]);
          break;
        case "writeFile":
          seen.push([r.str(), r.str(), r.bool()]);
          break;
        case "sethostname":
        case "setdomainname":
          seen.push(r.str());
          break;
        case "setrlimit":
          seen.push([r.u32(), r.u64(), r.u64()]);
          break;
        case "personality":
          seen.push(r.u64());
          break;
        case "prctl":
          seen.push([r.u32(), r.u64(), r.u64()]);
          break;
        case "capset":
          seen.push([r.u64(), r.u64(), r.u64()]);
          break;
        case "setgroups": {
          const n = r.u32();
          seen.push(Array.from({ length: n }, () => r.u32()));
          break;
        }
        case "inheritFds":
        case "dup2":
          seen.push([r.u32(), r.u32()]);
          break;
        case "openPath":
          seen.push([r.str(), r.u32()]);
          break;
        case "console":
          seen.push([r.u32(), r.str(), r.u32(), r.u32()]);
          break;
        case "seccomp":
          seen.push([r.u32(), Array.from(r.bytes())]);
          break;
        case "checkExec":
          seen.push(r.strs());
          break;
        case "exec":
          seen.push([r.strs(), r.strs(), r.strs()]);
          break;
        default:
          throw new Error(`untested op ${op.op}`);
      }
    }
    expect(r.done).toBe(true);
    expect(seen).toEqual([
      ["/proc/1/ns/net", 0x40000000],
      0x20000000,
      1,
      null,
      ["/a/b", 0o755, true],
      ["/f", 0o644, false],
      ["/x", 1n, 2n, 1n << 18n, true, true, false],
      "/proc/kcore",
      ["/dev/null", 0o20666, 1, 3, 0xffffffff, 5, true],
      ["/proc/self/fd", "/dev/fd", true],
      "/r",
      "/r",
      ["/proc/self/oom_score_adj", "100", true],
      "h",
      "",
      [7, 1024n, (1n << 64n) - 1n],
      8n,
      [38, 1n, 0n],
      [(1n << 40n) | 1n, 3n, 0n],
      [1, 2, 3],
      10,
      11,
      0o22,
      "/",
      "/t",
      "/t",
      null,
      3,
      [3, 5],
      ["/run/x/exec.fifo", 7],
      [7, "exec.fifo"],
      [9, "/dev/ptmx", 24, 80],
      [0, Array(16).fill(7)],
      [20, 1],
      ["/bin/sh"],
      [
        ["/bin/sh", "/usr/bin/sh"],
        ["sh", "-c", "true"],
        ["A=b", "PATH=/bin"],
      ],
    ]);
  });

  it("has a distinct code for every op", () => {
    const codes = Object.values(OP_CODES);
    expect(new Set(codes).size).toBe(codes.length);
  });

  it("encodes UTF-8 by bytes", () => {
    const r = new Reader(encodePlan(plan([{ op: "chdir", path: "/é" }])));
    header(r);
    r.u32();
    expect(Array.from(r.bytes())).toEqual([0x2f, 0xc3, 0xa9]);
  });

  describe("refuses bad plans with a message naming the op and field", () => {
    const cases: [string, InitPlan, RegExp][] = [
      ["NUL in a string", plan([{ op: "chdir", path: "/a\0b" }]), /ops\[0\] \(chdir\): path contains a NUL/],
      ["empty path", plan([{ op: "chdir", path: "" }]), /ops\[0\] \(chdir\): path must be a non-empty string/],
      ["too long path", plan([{ op: "chdir", path: "/" + "a".repeat(5000) }]), /longer than PATH_MAX/],
      ["fractional number", plan([{ op: "umask", mask: 1.5 }]), /ops\[0\] \(umask\): mask must be an integer/],
      ["number above u32", plan([{ op: "setresuid", uid: 2 ** 32 }]), /uid must be an integer/],
      ["negative u64", plan([{ op: "setrlimit", resource: 1, soft: -1n, hard: 0n }]), /soft out of the u64 range/],
      ["u64 too big", plan([{ op: "setrlimit", resource: 1, soft: 1n << 64n, hard: 0n }]), /soft out of the u64 range/],
      ["console size above u16", plan([{ op: "console", socketFd: 3, ptmxPath: "/dev/ptmx", rows: 65536, cols: 1 }]), /ops\[0\] \(console\): rows must be an integer in \[0, 65535\]/],
      ["slot out of range", plan([{ op: "openPath", path: "/f", slot: 8 }]), /slot must be an integer in \[0, 8\)/],
      ["bad seccomp length", plan([{ op: "seccomp", flags: 0, program: new Uint8Array(12) }]), /8-byte instructions/],
      ["candidates not an array", plan([{ op: "checkExec", candidates: "/bin/sh" as unknown as string[] }]), /candidates must be an array/],
      [
        "exec not last",
        plan([
          { op: "exec", candidates: ["/bin/sh"], argv: [], envp: [] },
          { op: "setsid" },
        ]),
        /ops\[0\] \(exec\): exec must be the last op/,
      ],
      ["unknown op", plan([{ op: "frobnicate" } as unknown as InitOp]), /unknown op "frobnicate"/],
      ["relative-empty rootfs", plan([], { rootfs: "" }), /rootfs must be a non-empty string/],
      ["bad inRoot", plan([{ op: "mkdirAll", path: "/a", mode: 0o755, inRoot: "yes" as unknown as boolean }]), /inRoot must be a boolean/],
    ];
    for (const [name, p, re] of cases) {
      it(name, () => {
        expect(() => encodePlan(p)).toThrow(PlanEncodeError);
        expect(() => encodePlan(p)).toThrow(re);
      });
    }
  });

  it("grows its buffer for large plans", () => {
    const ops: InitOp[] = Array.from({ length: 500 }, (_, i) => ({ op: "mkdirAll", path: `/dir/${i}`, mode: 0o755, inRoot: true }));
    const r = new Reader(encodePlan(plan(ops)));
    expect(header(r).count).toBe(500);
  });
});
