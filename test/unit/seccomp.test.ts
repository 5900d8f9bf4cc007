// The seccomp compiler: profiles → BPF, run here in a small classic-BPF interpreter (bpf-interp.ts)
// over synthetic seccomp_data, checking the verdict per syscall, argument and architecture against
// what runc 1.1 decides (and, where rules with different actions overlap, our first-match order).
import { describe, expect, it } from "vitest";
import { buildExecPlan, buildPlan } from "../../src/runtime/plan.ts";
import { SYNC_DONE, SYNC_READY } from "../../src/runtime/protocol.ts";
import { features } from "../../src/runtime/features.ts";
import * as T from "../../src/security/generated/syscalls.ts";
import { compileSeccomp, RET, seccompInitOp, seccompUnsupported, SeccompError } from "../../src/security/seccomp.ts";
import { defaultSpec } from "../../src/spec/generate.ts";
import type { InitOp } from "../../src/native/types.ts";
import { check, decode, run } from "./bpf-interp.ts";
import { CLONE_NEWNS_ETC, dockerLike } from "../fixtures/seccomp-profiles.ts";
import { planInput } from "./plan-input.ts";

const X86_64 = 0xc000003e;
const I386 = 0x40000003;
const AARCH64 = 0xc00000b7;
const X32_BIT = 0x40000000;

const tables = { x86_64: new Map(T.X86_64), x86: new Map(T.X86), x32: new Map(T.X32) };
function nr(name: string, abi: keyof typeof tables = "x86_64"): number {
  const n = tables[abi].get(name);
  if (n === undefined) throw new Error(`no ${abi} syscall ${name}`);
  return n;
}

const ERRNO = (e: number) => (RET.ERRNO | e) >>> 0;
const EPERM = ERRNO(1);
const ENOSYS = ERRNO(38);

/** Compile, check the program as the kernel would, and return a verdict function. */
function filter(profile: any) {
  const c = compileSeccomp(profile);
  if (!c) throw new Error("no filter");
  check(decode(c.program));
  return (name: string | number, args: (number | bigint)[] = [], abi: "x86_64" | "x86" | "x32" | "aarch64" = "x86_64") => {
    const n = typeof name === "number" ? name : nr(name, abi === "aarch64" ? "x86_64" : abi);
    const arch = abi === "x86" ? I386 : abi === "aarch64" ? AARCH64 : X86_64;
    return run(c.program, { nr: n, arch, args }).ret;
  };
}

describe("seccomp: actions", () => {
  it("denies a syscall with EPERM by default, or with its errnoRet", () => {
    const v = filter({
      defaultAction: "SCMP_ACT_ALLOW",
      syscalls: [
        { names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO" },
        { names: ["rmdir"], action: "SCMP_ACT_ERRNO", errnoRet: 13 },
      ],
    });
    expect(v("mkdir")).toBe(EPERM);
    expect(v("mkdirat")).toBe(EPERM);
    expect(v("rmdir")).toBe(ERRNO(13));
    expect(v("read")).toBe(RET.ALLOW);
  });

  it("maps every action as runc does", () => {
    const v = filter({
      defaultAction: "SCMP_ACT_ERRNO",
      defaultErrnoRet: 5,
      syscalls: [
        { names: ["read"], action: "SCMP_ACT_ALLOW" },
        { names: ["write"], action: "SCMP_ACT_LOG" },
        { names: ["mkdir"], action: "SCMP_ACT_KILL" },
        { names: ["rmdir"], action: "SCMP_ACT_KILL_THREAD" },
        { names: ["unlink"], action: "SCMP_ACT_KILL_PROCESS" },
        { names: ["link"], action: "SCMP_ACT_TRAP" },
        { names: ["chmod"], action: "SCMP_ACT_TRACE" },
        { names: ["chown"], action: "SCMP_ACT_TRACE", errnoRet: 7 },
        { names: ["sendto", "recvfrom"], action: "SCMP_ACT_ALLOW" },
      ],
    });
    expect(v("read")).toBe(RET.ALLOW);
    expect(v("write")).toBe(RET.LOG);
    expect(v("mkdir")).toBe(RET.KILL_THREAD);
    expect(v("rmdir")).toBe(RET.KILL_THREAD);
    expect(v("unlink")).toBe(RET.KILL_PROCESS);
    expect(v("link")).toBe(RET.TRAP);
    expect(v("chmod")).toBe((RET.TRACE | 1) >>> 0);
    expect(v("chown")).toBe((RET.TRACE | 7) >>> 0);
    expect(v("getpid")).toBe(ERRNO(5)); // defaultErrnoRet
  });

  it("keeps the low 16 bits of an errnoRet, as runc's int16 conversion does", () => {
    const v = filter({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["mkdir"], action: "SCMP_ACT_ERRNO", errnoRet: 65536 + 12 }] });
    expect(v("mkdir")).toBe(ERRNO(12));
  });

  it("skips a rule whose action is the default action, and names no table knows", () => {
    const v = filter({
      defaultAction: "SCMP_ACT_ERRNO",
      syscalls: [
        // redundant: skipped by runc, so the conditional ALLOW below stands alone
        { names: ["personality"], action: "SCMP_ACT_ERRNO" },
        { names: ["personality"], action: "SCMP_ACT_ALLOW", args: [{ index: 0, value: 0, op: "SCMP_CMP_EQ" }] },
        { names: ["no_such_syscall", "read"], action: "SCMP_ACT_ALLOW" },
        { names: ["sendto", "recvfrom"], action: "SCMP_ACT_ALLOW" },
      ],
    });
    expect(v("personality", [0])).toBe(RET.ALLOW);
    expect(v("personality", [8])).toBe(EPERM);
    expect(v("read")).toBe(RET.ALLOW);
  });

  // (runc's libseccomp merges a syscall's rules instead: there an unconditional rule wins over
  // conditional ones in any order, and rules with equal conditions and different actions make runc
  // fail with "error adding seccomp rule for syscall personality: file exists")
  it("decides a syscall by the first of its rules (in profile order) whose conditions hold", () => {
    for (const order of [0, 1]) {
      const rules = [
        { names: ["personality"], action: "SCMP_ACT_ALLOW" },
        { names: ["personality"], action: "SCMP_ACT_ERRNO", errnoRet: 9, args: [{ index: 0, value: 8, op: "SCMP_CMP_EQ" }] },
      ];
      if (order) rules.reverse();
      const v = filter({ defaultAction: "SCMP_ACT_KILL", syscalls: [...rules, { names: ["sendto", "recvfrom"], action: "SCMP_ACT_ALLOW" }] });
      expect(v("personality", [8])).toBe(order ? ERRNO(9) : RET.ALLOW);
      expect(v("personality", [0])).toBe(RET.ALLOW);
    }
    const v = filter({
      defaultAction: "SCMP_ACT_ALLOW",
      syscalls: [
        { names: ["personality"], action: "SCMP_ACT_ERRNO", errnoRet: 5, args: [{ index: 0, value: 1, op: "SCMP_CMP_EQ" }] },
        { names: ["personality"], action: "SCMP_ACT_ERRNO", errnoRet: 6, args: [{ index: 0, value: 1, op: "SCMP_CMP_EQ" }] },
        { names: ["personality"], action: "SCMP_ACT_ERRNO", errnoRet: 7, args: [{ index: 0, value: 0x100000000, op: "SCMP_CMP_GE" }] },
      ],
    });
    expect(v("personality", [1])).toBe(ERRNO(5));
    expect(v("personality", [0x100000001n])).toBe(ERRNO(7));
    expect(v("personality", [2])).toBe(RET.ALLOW);
  });

  it("lets the first of two unconditional rules for a syscall decide, as runc does", () => {
    const profile = (errnoRet: number) => ({
      defaultAction: "SCMP_ACT_ALLOW",
      syscalls: [
        { names: ["mkdir", "personality"], action: "SCMP_ACT_ERRNO", errnoRet: 5 },
        { names: ["personality", "rmdir"], action: "SCMP_ACT_ERRNO", errnoRet },
      ],
    });
    for (const e of [5, 6]) {
      const v = filter(profile(e));
      expect(v("personality")).toBe(ERRNO(5));
      expect(v("mkdir")).toBe(ERRNO(5));
      expect(v("rmdir")).toBe(ERRNO(e));
    }
  });
});

describe("seccomp: arguments", () => {
  const one = (op: string, value: number | bigint, valueTwo?: number | bigint) =>
    filter({
      defaultAction: "SCMP_ACT_ALLOW",
      syscalls: [{ names: ["personality"], action: "SCMP_ACT_ERRNO", args: [{ index: 1, value, valueTwo, op }] }],
    });
  const H = 1n << 32n;
  const cases: [string, bigint, bigint[], bigint[]][] = [
    // op, value, matching arg1 values, non-matching ones (64-bit: the high word counts)
    ["SCMP_CMP_EQ", 5n, [5n], [4n, 6n, H + 5n, 0n]],
    ["SCMP_CMP_NE", 5n, [4n, H + 5n, 0n], [5n]],
    ["SCMP_CMP_LT", H + 2n, [0n, H + 1n, 0xffffffffn], [H + 2n, H + 3n, 2n * H]],
    ["SCMP_CMP_LE", H + 2n, [H + 2n, 0xffffffffn, 0n], [H + 3n, 2n * H + 1n]],
    ["SCMP_CMP_GT", H + 2n, [H + 3n, 2n * H], [H + 2n, H, 5n, 0xffffffffn]],
    ["SCMP_CMP_GE", H + 2n, [H + 2n, 2n * H], [H + 1n, 0xffffffffn]],
    ["SCMP_CMP_GT", 5n, [6n, H, H + 1n], [5n, 0n]],
    ["SCMP_CMP_LT", 5n, [4n, 0n], [5n, H, H + 4n]],
    ["SCMP_CMP_GE", 0xffffffffn, [0xffffffffn, H], [0xfffffffen]],
    ["SCMP_CMP_LE", (1n << 64n) - 1n, [0n, (1n << 64n) - 1n], []],
  ];
  for (const [op, value, yes, no] of cases) {
    it(`${op} ${value.toString(16)} on 64 bits`, () => {
      const v = one(op, value);
      for (const a of yes) expect(v("personality", [0, a]), `${a.toString(16)} matches`).toBe(EPERM);
      for (const a of no) expect(v("personality", [0, a]), `${a.toString(16)} does not match`).toBe(RET.ALLOW);
    });
  }

  it("SCMP_CMP_MASKED_EQ: value is the mask, valueTwo the result", () => {
    const v = one("SCMP_CMP_MASKED_EQ", 0xff00n | (0xf0n << 32n), 0x1200n);
    expect(v("personality", [0, 0x1234n])).toBe(EPERM);
    expect(v("personality", [0, 0x12ffn | (0x0fn << 32n)])).toBe(EPERM); // masked-out bits do not count
    expect(v("personality", [0, 0x1334n])).toBe(RET.ALLOW);
    expect(v("personality", [0, 0x1200n | (0x10n << 32n)])).toBe(RET.ALLOW); // high word masked in
  });

  it("ANDs the conditions of a rule and ORs the rules of a syscall", () => {
    const v = filter({
      defaultAction: "SCMP_ACT_ALLOW",
      syscalls: [
        {
          names: ["mmap"],
          action: "SCMP_ACT_ERRNO",
          args: [
            { index: 2, value: 4, op: "SCMP_CMP_MASKED_EQ", valueTwo: 4 }, // PROT_EXEC
            { index: 3, value: 0x20, op: "SCMP_CMP_MASKED_EQ", valueTwo: 0x20 }, // MAP_ANONYMOUS
          ],
        },
        { names: ["mmap"], action: "SCMP_ACT_ERRNO", args: [{ index: 0, value: 0x1000, op: "SCMP_CMP_LT" }] },
      ],
    });
    expect(v("mmap", [0x10000, 0, 7, 0x22])).toBe(EPERM);
    expect(v("mmap", [0x10000, 0, 3, 0x22])).toBe(RET.ALLOW);
    expect(v("mmap", [0x10000, 0, 7, 0x02])).toBe(RET.ALLOW);
    expect(v("mmap", [0x0, 0, 3, 0x02])).toBe(EPERM);
  });

  it("ORs two conditions on the same argument, as runc splits them into rules", () => {
    const v = filter({
      defaultAction: "SCMP_ACT_ERRNO",
      syscalls: [
        {
          names: ["personality"],
          action: "SCMP_ACT_ALLOW",
          args: [
            { index: 0, value: 0, op: "SCMP_CMP_EQ" },
            { index: 0, value: 8, op: "SCMP_CMP_EQ" },
          ],
        },
        { names: ["sendto", "recvfrom"], action: "SCMP_ACT_ALLOW" },
      ],
    });
    expect(v("personality", [0])).toBe(RET.ALLOW);
    expect(v("personality", [8])).toBe(RET.ALLOW);
    expect(v("personality", [1])).toBe(EPERM);
  });

  it("compares only the low 32 bits on x86 and x32", () => {
    const v = filter({
      defaultAction: "SCMP_ACT_ALLOW",
      architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
      syscalls: [{ names: ["personality"], action: "SCMP_ACT_ERRNO", args: [{ index: 0, value: (1n << 32n) + 8n, op: "SCMP_CMP_EQ" }] }],
    });
    expect(v("personality", [8], "x86_64")).toBe(RET.ALLOW);
    expect(v("personality", [(1n << 32n) + 8n], "x86_64")).toBe(EPERM);
    expect(v("personality", [8], "x86")).toBe(EPERM);
    expect(v("personality", [8], "x32")).toBe(EPERM);
  });
});

describe("seccomp: architectures", () => {
  const profile = (architectures?: string[]) => ({
    defaultAction: "SCMP_ACT_ALLOW",
    architectures,
    syscalls: [{ names: ["mkdir", "socket"], action: "SCMP_ACT_ERRNO" }],
  });

  it("filters the native ABI only when none is listed, killing the others", () => {
    const v = filter(profile());
    expect(v("mkdir")).toBe(EPERM);
    expect(v("mkdir", [], "x86")).toBe(RET.KILL_THREAD);
    expect(v("mkdir", [], "x32")).toBe(RET.KILL_THREAD);
    expect(v(0, [], "aarch64")).toBe(RET.KILL_THREAD);
    // -1 (a tracer skipping the syscall) is not an x32 call
    expect(v(0xffffffff)).toBe(RET.ALLOW);
  });

  it("uses each ABI's own syscall numbers", () => {
    const v = filter(profile(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64"]));
    expect(nr("mkdir", "x86")).not.toBe(nr("mkdir"));
    expect(v("mkdir", [], "x86")).toBe(EPERM);
    expect(v("mkdir", [], "x32")).toBe(EPERM);
    expect(v(nr("mkdir"), [], "x86")).toBe(RET.ALLOW); // x86_64's number means something else on i386
    expect(v("rmdir", [], "x32")).toBe(RET.ALLOW);
    // an architecture that cannot occur on x86_64 changes nothing
    expect(v(0, [], "aarch64")).toBe(RET.KILL_THREAD);
  });

  it("matches i386's socketcall(2) for a socket rule, as runc does", () => {
    const v = filter(profile(["SCMP_ARCH_X86"]));
    expect(v("socket", [], "x86")).toBe(EPERM);
    expect(v("socketcall", [1], "x86")).toBe(EPERM); // SYS_SOCKET
    expect(v("socketcall", [3], "x86")).toBe(RET.ALLOW); // SYS_CONNECT
    expect(v("socket")).toBe(EPERM);
  });
});

describe("seccomp: runc's -ENOSYS stub", () => {
  const allowList = (extra: any = {}) => ({
    defaultAction: "SCMP_ACT_ERRNO",
    architectures: ["SCMP_ARCH_X86_64"],
    syscalls: [{ names: ["read", "write", "sendto", "recvfrom", "openat"], action: "SCMP_ACT_ALLOW" }],
    ...extra,
  });

  it("returns ENOSYS above the largest syscall the profile names, the default action below", () => {
    const v = filter(allowList());
    const top = nr("openat"); // the largest of the list
    expect(v("openat")).toBe(RET.ALLOW);
    expect(v(top - 1)).toBe(EPERM);
    expect(v(top + 1)).toBe(ENOSYS);
    expect(v("clone3")).toBe(ENOSYS);
  });

  it("counts names whose rule has the default action too, and only listed ABIs", () => {
    const v = filter(allowList({ syscalls: [...allowList().syscalls, { names: ["clone3"], action: "SCMP_ACT_ERRNO" }] }));
    expect(v("clone3")).toBe(EPERM);
    expect(v(nr("clone3") + 1)).toBe(ENOSYS);
    const w = filter(allowList({ architectures: undefined }));
    expect(w("clone3")).toBe(EPERM);
  });

  it("is not there when the default action allows", () => {
    for (const defaultAction of ["SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_TRACE"]) {
      const v = filter({ ...allowList(), defaultAction, syscalls: [{ names: ["mkdir"], action: "SCMP_ACT_KILL" }] });
      expect(v("clone3") >>> 16).toBe(({ SCMP_ACT_ALLOW: RET.ALLOW, SCMP_ACT_LOG: RET.LOG, SCMP_ACT_TRACE: RET.TRACE } as any)[defaultAction] >>> 16);
    }
  });

  it("has a limit per ABI; x32 numbers carry their bit", () => {
    const v = filter({
      defaultAction: "SCMP_ACT_KILL_PROCESS",
      architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
      syscalls: [{ names: ["read", "sendto", "recvfrom", "waitid"], action: "SCMP_ACT_ALLOW" }],
    });
    expect(v(nr("waitid") + 1)).toBe(ENOSYS);
    expect(v(nr("waitid", "x86") + 1, [], "x86")).toBe(ENOSYS);
    expect(v(nr("waitid", "x32") + 1, [], "x32")).toBe(ENOSYS);
    expect(v(nr("waitid", "x32") - 1, [], "x32")).toBe(RET.KILL_PROCESS);
    expect(v(X32_BIT + 1000, [], "x32")).toBe(ENOSYS);
  });
});

describe("seccomp: the program", () => {
  it("stays within the kernel's limits for a profile naming every syscall, with long jumps", () => {
    // (i386's socket and IPC calls share socketcall(2) and ipc(2): left out, their rules would
    // decide those two in profile order, which this test does not model)
    const mux = /^(socket|bind|connect|listen|accept|getsock|getpeer|send|recv|shutdown|setsockopt|sem|msg|shm|ipc$)/;
    const names = [...new Set([...tables.x86_64.keys(), ...tables.x86.keys(), ...tables.x32.keys()])].filter((n) => !mux.test(n));
    const profile = {
      defaultAction: "SCMP_ACT_ERRNO",
      architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
      syscalls: [
        { names: names.filter((_, i) => i % 3 === 0), action: "SCMP_ACT_ALLOW" },
        { names: names.filter((_, i) => i % 3 === 1), action: "SCMP_ACT_ERRNO", errnoRet: 22 },
        { names: names.filter((_, i) => i % 3 === 2), action: "SCMP_ACT_LOG", args: [{ index: 0, value: 1, op: "SCMP_CMP_GT" }] },
        { names: ["sendto", "recvfrom"], action: "SCMP_ACT_ALLOW" },
      ],
    };
    const c = compileSeccomp(profile as any)!;
    const insns = decode(c.program);
    expect(insns.length).toBeLessThanOrEqual(4096);
    expect(insns.some((i) => i.code === 0x05)).toBe(true); // a long jump was needed
    const v = filter(profile);
    let steps = 0;
    for (const [abi, t] of Object.entries(tables) as ["x86_64" | "x86" | "x32", Map<string, number>][]) {
      for (const [name, n] of t) {
        const i = names.indexOf(name);
        if (mux.test(name) && name !== "sendto" && name !== "recvfrom") continue;
        const want =
          name === "sendto" || name === "recvfrom" ? RET.ALLOW : i % 3 === 0 ? RET.ALLOW : i % 3 === 1 ? ERRNO(22) : null;
        if (want !== null) expect(v(n, [], abi), `${abi} ${name}`).toBe(want);
        else {
          expect(v(n, [2], abi), `${abi} ${name}(2)`).toBe(RET.LOG);
          expect(v(n, [1], abi), `${abi} ${name}(1)`).toBe(EPERM);
        }
        steps = Math.max(steps, run(c.program, { nr: n, arch: abi === "x86" ? I386 : X86_64, args: [] }).steps);
      }
    }
    // a binary search: no syscall walks a long list
    expect(steps).toBeLessThan(40);
  });

  it("is null when the profile asks for nothing", () => {
    expect(compileSeccomp(undefined)).toBeNull();
    expect(compileSeccomp({ defaultAction: "" as any, syscalls: [] })).toBeNull();
  });
});

describe("seccomp: a Docker-like profile", () => {
  const v = filter(dockerLike());

  it("allows what a shell needs and denies the rest with EPERM", () => {
    for (const n of ["read", "write", "openat", "execve", "exit_group", "wait4", "rt_sigaction", "newfstatat"]) expect(v(n), n).toBe(RET.ALLOW);
    for (const n of ["mount", "umount2", "reboot", "unshare", "setns", "ptrace", "bpf"]) expect(v(n), n).toBe(EPERM);
  });

  it("lets clone(2) create no namespace, and makes clone3 fail with ENOSYS", () => {
    const SIGCHLD = 17;
    expect(v("clone", [SIGCHLD])).toBe(RET.ALLOW);
    expect(v("clone", [0x01200000 | SIGCHLD])).toBe(RET.ALLOW); // fork()'s CLONE_CHILD_SETTID|CLEARTID
    expect(v("clone", [0x10000000 | SIGCHLD])).toBe(EPERM); // CLONE_NEWUSER
    expect(v("clone", [CLONE_NEWNS_ETC])).toBe(EPERM);
    expect(v("clone3")).toBe(ENOSYS);
  });

  it("allows a few personas and sockets other than AF_VSOCK", () => {
    expect(v("personality", [0])).toBe(RET.ALLOW);
    expect(v("personality", [0xffffffff])).toBe(RET.ALLOW);
    expect(v("personality", [1])).toBe(EPERM);
    expect(v("socket", [1])).toBe(RET.ALLOW);
    expect(v("socket", [40])).toBe(EPERM);
    expect(v("socket", [40], "x86")).toBe(EPERM);
    expect(v("socketcall", [1], "x86")).toBe(RET.ALLOW); // i386's multiplexer is on the allow list
  });

  it("returns ENOSYS for syscalls newer than the profile, on each ABI", () => {
    expect(v(nr("futex_waitv") + 1)).toBe(ENOSYS);
    expect(v(nr("futex_waitv", "x86") + 1, [], "x86")).toBe(ENOSYS);
    expect(v("futex_waitv", [], "x32")).toBe(RET.ALLOW);
  });
});

describe("seccomp: what tsrunc refuses", () => {
  it("names the JSON path of SCMP_ACT_NOTIFY, unsupported flags and imprecise values", () => {
    expect(
      seccompUnsupported({
        defaultAction: "SCMP_ACT_ALLOW",
        flags: ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
        listenerPath: "/run/agent.sock",
        syscalls: [
          { names: ["read"], action: "SCMP_ACT_ALLOW" },
          { names: ["mkdir"], action: "SCMP_ACT_NOTIFY" },
          { names: ["personality"], action: "SCMP_ACT_ERRNO", args: [{ index: 0, value: 2 ** 60, op: "SCMP_CMP_EQ" }] },
        ],
      }),
    ).toEqual([
      "/linux/seccomp/flags/1: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV is not supported yet",
      "/linux/seccomp/syscalls/1/action: SCMP_ACT_NOTIFY is not supported yet",
      `/linux/seccomp/syscalls/2/args/0/value: ${2 ** 60} is above 2^53: JSON numbers that large lose precision, tsrunc does not take them yet`,
    ]);
    expect(() => compileSeccomp({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["mkdir"], action: "SCMP_ACT_NOTIFY" }] })).toThrow(
      "config.json: /linux/seccomp/syscalls/0/action: SCMP_ACT_NOTIFY is not supported yet",
    );
  });

  it("passes the flags it supports to seccomp(2)", () => {
    const c = compileSeccomp({
      defaultAction: "SCMP_ACT_ALLOW",
      flags: ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
    })!;
    expect(c.flags).toBe(1 | 2 | 4);
    expect(compileSeccomp({ defaultAction: "SCMP_ACT_ALLOW" })!.flags).toBe(0);
  });

  it("refuses a profile under which the init could not report back", () => {
    expect(() => seccompInitOp({ defaultAction: "SCMP_ACT_ERRNO", syscalls: [{ names: ["read"], action: "SCMP_ACT_ALLOW" }] }, true)).toThrow(
      new SeccompError("/linux/seccomp", "the profile must allow sendto and recvfrom: tsrunc's init reports to the runtime with them after it loads the filter"),
    );
    expect(() => seccompInitOp({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["sendto"], action: "SCMP_ACT_KILL" }] }, true)).toThrow(
      "must allow sendto:",
    );
    expect(seccompInitOp({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["sendto"], action: "SCMP_ACT_LOG" }] }, true)).not.toBeNull();
  });

  it("takes rules with different actions for a syscall (runc refuses some such profiles)", () => {
    const overlapping = {
      defaultAction: "SCMP_ACT_ALLOW",
      syscalls: [
        { names: ["personality"], action: "SCMP_ACT_ERRNO", args: [{ index: 0, value: 1, op: "SCMP_CMP_EQ" }] },
        { names: ["personality"], action: "SCMP_ACT_KILL", args: [{ index: 0, value: 1, op: "SCMP_CMP_EQ" }] },
        { names: ["personality"], action: "SCMP_ACT_KILL" },
      ],
    } as any;
    expect(seccompInitOp(overlapping, true)).not.toBeNull();
    const v = filter(overlapping);
    expect(v("personality", [1])).toBe(EPERM);
    expect(v("personality", [2])).toBe(RET.KILL_THREAD);
  });
});

describe("seccomp: in the plan", () => {
  const input = (mutate: (spec: any) => void) =>
    planInput((spec) => {
      spec.linux.seccomp = { defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["mkdir"], action: "SCMP_ACT_ERRNO" }] };
      mutate(spec);
    });
  const at = (ops: InitOp[], pred: (o: InitOp) => boolean) => ops.findIndex(pred);

  it("with no_new_privs: after the executable is found, before the last report", () => {
    const b = buildPlan(input((s) => (s.process.noNewPrivileges = true)));
    const ops = b.plan.ops;
    const sc = at(ops, (o) => o.op === "seccomp");
    expect(ops.filter((o) => o.op === "seccomp")).toHaveLength(1);
    expect(ops[sc - 1]!.op).toBe("checkExec");
    expect(ops[sc + 1]).toEqual({ op: "sync", tag: SYNC_DONE });
    expect(at(ops, (o) => o.op === "prctl" && o.option === 38)).toBeLessThan(sc); // PR_SET_NO_NEW_PRIVS
    expect(b.describe[sc]).toBe("unable to init seccomp: error loading seccomp filter into kernel: error loading seccomp filter");
  });

  it("without no_new_privs: before the identity and capabilities change (it needs CAP_SYS_ADMIN)", () => {
    const ops = buildPlan(input((s) => (s.process.noNewPrivileges = false))).plan.ops;
    const sc = at(ops, (o) => o.op === "seccomp");
    expect(ops[sc - 1]).toEqual({ op: "sync", tag: SYNC_READY });
    expect(sc).toBeLessThan(at(ops, (o) => o.op === "capset"));
    expect(sc).toBeLessThan(at(ops, (o) => o.op === "setresuid"));
  });

  it("for a process joining the container too", () => {
    const spec = input(() => {}).spec;
    const b = buildExecPlan({
      spec,
      process: { ...spec.process, noNewPrivileges: true, args: ["/bin/true"] },
      containerId: "c1",
      rootfs: "/nonexistent-rootfs",
      initPid: 1,
      consoleSocketFd: null,
      preserveFds: 0,
      rootless: false,
      noNewKeyring: false,
    } as any);
    const ops = b.plan.ops;
    expect(at(ops, (o) => o.op === "seccomp")).toBe(at(ops, (o) => o.op === "checkExec") + 1);
  });

  it("no filter without linux.seccomp", () => {
    expect(buildPlan(input((s) => delete s.linux.seccomp)).plan.ops.some((o) => o.op === "seccomp")).toBe(false);
  });
});

describe("seccomp: features", () => {
  it("lists what this build supports", () => {
    const sc = (features() as any).linux.seccomp;
    expect(sc.enabled).toBe(true);
    expect(sc.actions).toContain("SCMP_ACT_KILL_PROCESS");
    expect(sc.actions).not.toContain("SCMP_ACT_NOTIFY");
    expect(sc.operators).toEqual(["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"]);
    expect(sc.archs).toEqual(["SCMP_ARCH_X32", "SCMP_ARCH_X86", "SCMP_ARCH_X86_64"]);
    expect(sc.supportedFlags).not.toContain("SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV");
  });
});
