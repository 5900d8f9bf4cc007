// linux.seccomp → a classic-BPF seccomp filter, decided here and only loaded by the init (the
// `seccomp` op). The filter follows runc 1.1's reading of the profile:
//
//  - actions: KILL is KILL_THREAD; ERRNO and TRACE return errnoRet, EPERM when absent
//    (defaultErrnoRet for the default action); a rule whose action equals the default action is
//    skipped; names no table knows are skipped; a rule with two conditions on one argument becomes
//    one rule per condition (OR), otherwise its conditions are AND-ed.
//  - our own rule semantics (seccomp-rules.ts, seccomp-bpf.ts): a syscall's rules are tried in
//    profile order, the first whose conditions all hold decides, else the default action (of two
//    unconditional rules for a syscall the first decides, as under runc). runc's libseccomp merges
//    a syscall's rules instead: where rules with different actions overlap (an unconditional rule
//    after a conditional one, rules with equal conditions), the two can decide differently, and
//    runc refuses some such profiles that tsrunc takes.
//  - ABIs: the native x86_64 ABI always, x86 (i386) and x32 when listed; any other audit arch, and
//    x32 syscalls when x32 is not listed, get KILL_THREAD; 64-bit arguments are compared as two
//    32-bit words, x86 and x32 compare the low word only; on i386 a socket or SysV IPC rule also
//    matches the multiplexed socketcall(2)/ipc(2) call with that call number in its first argument.
//  - runc's -ENOSYS stub (libcontainer/seccomp/patchbpf): unless the default action is ALLOW, LOG or
//    TRACE, a syscall numbered above the largest one the profile names for a listed arch returns
//    ENOSYS (so that libc falls back from syscalls newer than the profile).
//
// Syscall numbers come from tables generated from the kernel's headers at build time
// (scripts/build-seccomp-tables.ts).
import type { LinuxSeccomp } from "../spec/types.ts";
import * as tables from "./generated/syscalls.ts";
import { addRule as addArchRule, type ArchRules, Cmp, type Cond, makeCond, newArchRules } from "./seccomp-rules.ts";
import { generateFilter } from "./seccomp-bpf.ts";

/** SECCOMP_RET_* */
export const RET = {
  KILL_PROCESS: 0x80000000,
  KILL_THREAD: 0x00000000,
  TRAP: 0x00030000,
  ERRNO: 0x00050000,
  USER_NOTIF: 0x7fc00000,
  TRACE: 0x7ff00000,
  LOG: 0x7ffc0000,
  ALLOW: 0x7fff0000,
} as const;

const EPERM = 1;
const ENOSYS = 38;

export const SECCOMP_ACTIONS = [
  "SCMP_ACT_ALLOW",
  "SCMP_ACT_ERRNO",
  "SCMP_ACT_KILL",
  "SCMP_ACT_KILL_PROCESS",
  "SCMP_ACT_KILL_THREAD",
  "SCMP_ACT_LOG",
  "SCMP_ACT_TRACE",
  "SCMP_ACT_TRAP",
] as const;

const OPERATORS: Record<string, Cmp> = {
  SCMP_CMP_NE: Cmp.NE,
  SCMP_CMP_LT: Cmp.LT,
  SCMP_CMP_LE: Cmp.LE,
  SCMP_CMP_EQ: Cmp.EQ,
  SCMP_CMP_GE: Cmp.GE,
  SCMP_CMP_GT: Cmp.GT,
  SCMP_CMP_MASKED_EQ: Cmp.MASKED_EQ,
};
export const SECCOMP_OPERATORS = Object.keys(OPERATORS).sort();

/** The ABIs a process on x86_64 can make syscalls with; a profile's other architectures can never
 * match here (as under runc, they change nothing). */
export const SECCOMP_ARCHS = ["SCMP_ARCH_X32", "SCMP_ARCH_X86", "SCMP_ARCH_X86_64"] as const;

/** Filter flags (runtime-spec names) and their SECCOMP_FILTER_FLAG_* values. The init is single-
 * threaded, so TSYNC changes nothing but is accepted by the kernel. */
const FLAGS: Record<string, number> = {
  SECCOMP_FILTER_FLAG_TSYNC: 1,
  SECCOMP_FILTER_FLAG_LOG: 2,
  SECCOMP_FILTER_FLAG_SPEC_ALLOW: 4,
};
export const SECCOMP_KNOWN_FLAGS = [
  "SECCOMP_FILTER_FLAG_TSYNC",
  "SECCOMP_FILTER_FLAG_LOG",
  "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
  "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
];
export const SECCOMP_SUPPORTED_FLAGS = Object.keys(FLAGS);

/** An error in linux.seccomp, with the JSON path of what is wrong. */
export class SeccompError extends Error {
  constructor(
    readonly path: string,
    readonly detail: string,
  ) {
    super(`config.json: ${path}: ${detail}`);
    this.name = "SeccompError";
  }
}

const AT = "/linux/seccomp";

// ---------------------------------------------------------------------------------------- tables

type Table = ReadonlyMap<string, number>;
let loaded: { x86_64: Table; x86: Table; x32: Table } | undefined;
function syscallTables(): { x86_64: Table; x86: Table; x32: Table } {
  loaded ??= { x86_64: new Map(tables.X86_64), x86: new Map(tables.X86), x32: new Map(tables.X32) };
  return loaded;
}

/** i386 multiplexes the socket calls through socketcall(2) (SYS_SOCKET = 1, ...) and SysV IPC
 * through ipc(2) (SEMOP = 1, ...): a rule for one of them applies on both paths. */
const SOCKETCALL: Record<string, number> = {
  socket: 1, bind: 2, connect: 3, listen: 4, accept: 5, getsockname: 6, getpeername: 7, socketpair: 8,
  send: 9, recv: 10, sendto: 11, recvfrom: 12, shutdown: 13, setsockopt: 14, getsockopt: 15, sendmsg: 16,
  recvmsg: 17, accept4: 18, recvmmsg: 19, sendmmsg: 20,
};
const IPC: Record<string, number> = {
  semop: 1, semget: 2, semctl: 3, semtimedop: 4, msgsnd: 11, msgrcv: 12, msgget: 13, msgctl: 14,
  shmat: 21, shmdt: 22, shmget: 23, shmctl: 24,
};
const I386_SOCKETCALL = 102;
const I386_IPC = 117;

const has = (o: Record<string, number>, k: string) => Object.hasOwn(o, k);

/** A name runc would resolve (else it skips the rule). */
function knownName(name: string): boolean {
  const t = syscallTables();
  return t.x86_64.has(name) || t.x86.has(name) || t.x32.has(name) || has(SOCKETCALL, name) || has(IPC, name);
}

/** The number runc's -ENOSYS stub counts for a name on an ABI (on x86 the multiplexed calls do
 * not count). */
function stubNumber(abi: Abi, name: string): number | undefined {
  const t = syscallTables();
  if (abi === "x86") return has(SOCKETCALL, name) || has(IPC, name) ? undefined : t.x86.get(name);
  return t[abi].get(name);
}

// ---------------------------------------------------------------------------------------- actions

type Abi = "x86_64" | "x86" | "x32";

const ARCHS: Record<string, Abi> = {
  SCMP_ARCH_X86_64: "x86_64",
  SCMP_ARCH_X86: "x86",
  SCMP_ARCH_X32: "x32",
};

/** The SECCOMP_RET value of an action as runc 1.1 makes it. */
function actionValue(action: string, errnoRet: number | undefined, path: string): number {
  // runc passes errnoRet through int16(): its low 16 bits count
  const data = (n: number | undefined, dflt: number) => (n === undefined ? dflt : n & 0xffff);
  switch (action) {
    case "SCMP_ACT_KILL":
    case "SCMP_ACT_KILL_THREAD":
      return RET.KILL_THREAD;
    case "SCMP_ACT_KILL_PROCESS":
      return RET.KILL_PROCESS;
    case "SCMP_ACT_TRAP":
      return RET.TRAP;
    case "SCMP_ACT_ERRNO":
      return (RET.ERRNO | data(errnoRet, EPERM)) >>> 0;
    case "SCMP_ACT_TRACE":
      return (RET.TRACE | data(errnoRet, EPERM)) >>> 0;
    case "SCMP_ACT_ALLOW":
      return RET.ALLOW;
    case "SCMP_ACT_LOG":
      return RET.LOG;
    case "SCMP_ACT_NOTIFY":
      throw new SeccompError(path, "SCMP_ACT_NOTIFY is not supported yet");
    default:
      throw new SeccompError(path, `unknown action ${JSON.stringify(action)}`);
  }
}

/** runc's patchbpf: TRACE counts as allowing (a tracer handles -ENOSYS itself). */
const ALLOWING = new Set(["SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_TRACE"]);

function u64(v: unknown, path: string): bigint {
  if (typeof v === "bigint") return BigInt.asUintN(64, v);
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0) throw new SeccompError(path, `must be an unsigned 64-bit integer`);
  if (!Number.isSafeInteger(v))
    throw new SeccompError(path, `${v} is above 2^53: JSON numbers that large lose precision, tsrunc does not take them yet`);
  return BigInt(v);
}

// ---------------------------------------------------------------------------------------- compile

export interface CompiledSeccomp {
  /** SECCOMP_FILTER_FLAG_* for seccomp(SECCOMP_SET_MODE_FILTER, flags, program). */
  flags: number;
  /** struct sock_filter[], little-endian. */
  program: Uint8Array;
  /** What the filter decides for a syscall of the native ABI made with any arguments: a
   * SECCOMP_RET value, or "depends" when argument conditions decide. */
  nativeVerdict(name: string): number | "depends";
}

/** Compile a profile. null when it asks for nothing (no default action and no rules: runc then
 * runs without seccomp). Throws SeccompError (with the JSON path) for what tsrunc cannot honour. */
export function compileSeccomp(sc: LinuxSeccomp | undefined): CompiledSeccomp | null {
  if (!sc) return null;
  const syscalls = sc.syscalls ?? [];
  if (!sc.defaultAction && syscalls.length === 0) return null;

  let flags = 0;
  (sc.flags ?? []).forEach((f, i) => {
    const v = Object.hasOwn(FLAGS, f) ? FLAGS[f] : undefined;
    if (v === undefined) throw new SeccompError(`${AT}/flags/${i}`, `${f} is not supported yet`);
    flags |= v;
  });

  const dflt = actionValue(sc.defaultAction, sc.defaultErrnoRet, `${AT}/defaultAction`);

  // The ABIs listed (others cannot occur on x86_64); the native one is always filtered.
  const listed = new Set<Abi>();
  for (const a of sc.architectures ?? []) if (Object.hasOwn(ARCHS, a)) listed.add(ARCHS[a]!);
  const dbs: Record<Abi, ArchRules | null> = {
    x86_64: newArchRules(64),
    x86: listed.has("x86") ? newArchRules(32) : null,
    x32: listed.has("x32") ? newArchRules(32) : null,
  };
  const t = syscallTables();

  syscalls.forEach((rule, i) => {
    const p = `${AT}/syscalls/${i}`;
    const act = actionValue(rule.action, rule.errnoRet, `${p}/action`);
    const conds = (rule.args ?? []).map((a, j) => {
      const op = Object.hasOwn(OPERATORS, a.op) ? OPERATORS[a.op] : undefined;
      if (op === undefined) throw new SeccompError(`${p}/args/${j}/op`, `unknown operator ${JSON.stringify(a.op)}`);
      if (!Number.isInteger(a.index) || a.index < 0 || a.index > 5) throw new SeccompError(`${p}/args/${j}/index`, "must be 0..5");
      return makeCond(a.index, op, u64(a.value, `${p}/args/${j}/value`), u64(a.valueTwo ?? 0, `${p}/args/${j}/valueTwo`));
    });
    for (const name of rule.names ?? []) {
      if (act === dflt) continue; // runc: redundant, skipped
      if (!knownName(name)) continue; // runc: "unknown seccomp syscall ignored" (debug)
      // runc: two conditions on one argument make one rule per condition
      const counts = new Array(6).fill(0);
      for (const c of conds) counts[c.arg]++;
      const groups = counts.some((n) => n > 1) ? conds.map((c) => [c]) : [conds];
      for (const g of groups) addRule(dbs, t, name, act, g);
    }
  });

  // runc's -ENOSYS stub, for the listed ABIs. (runc meant to skip it when the default errno is
  // ENOSYS, but compares against SCMP_ACT_ERRNO(ENOSYS): only that number turns it off.)
  let enosys: { x86_64?: number; x32?: number; x86?: number } | null = null;
  if (!ALLOWING.has(sc.defaultAction) && sc.defaultErrnoRet !== ((RET.ERRNO | ENOSYS) >>> 0)) {
    enosys = {};
    for (const abi of listed) {
      let max = 0;
      for (const rule of syscalls) for (const name of rule.names ?? []) max = Math.max(max, stubNumber(abi, name) ?? 0);
      if (max > 0) enosys[abi] = max;
    }
  }

  const program = generateFilter({
    defaultAction: dflt,
    badArchAction: RET.KILL_THREAD,
    x86_64: dbs.x86_64!,
    x32: dbs.x32,
    x86: dbs.x86,
    enosys,
    enosysAction: (RET.ERRNO | ENOSYS) >>> 0,
  });

  const nativeVerdict = (name: string): number | "depends" => {
    const nr = t.x86_64.get(name);
    if (nr === undefined) return dflt;
    if (enosys?.x86_64 !== undefined && nr > enosys.x86_64) return (RET.ERRNO | ENOSYS) >>> 0;
    const first = dbs.x86_64!.syscalls.get(nr)?.[0];
    if (!first) return dflt;
    return first.conds.length ? "depends" : first.action;
  };
  return { flags, program, nativeVerdict };
}

/** A rule for a name on each filtered ABI that has the syscall (in order: x86_64, x86, x32). */
function addRule(
  dbs: Record<Abi, ArchRules | null>,
  t: { x86_64: Table; x86: Table; x32: Table },
  name: string,
  action: number,
  conds: Cond[],
): void {
  const add = (db: ArchRules, nr: number | undefined, c = conds) => {
    if (nr !== undefined) addArchRule(db, nr, { action, conds: c });
  };
  add(dbs.x86_64!, t.x86_64.get(name));
  if (dbs.x86) {
    const mux = has(SOCKETCALL, name) ? [I386_SOCKETCALL, SOCKETCALL[name]!] : has(IPC, name) ? [I386_IPC, IPC[name]!] : null;
    if (mux) {
      // the multiplexed call: its first argument is the call number (in place of the rule's own
      // conditions on the first argument), then the direct call
      const c = [makeCond(0, Cmp.EQ, BigInt(mux[1]!), 0n), ...conds.filter((x) => x.arg !== 0)];
      add(dbs.x86, mux[0]!, c);
    }
    add(dbs.x86, t.x86.get(name));
  }
  if (dbs.x32) add(dbs.x32, t.x32.get(name));
}

/** The syscalls tsrunc's init makes after it loads the filter that runc's does not: it reports to
 * the runtime over its socket. */
export const INIT_SYSCALLS_AFTER_FILTER = ["sendto", "recvfrom"] as const;

/** Refuse a filter under which the init could not report back (it would die silently). */
export function checkInitCanRun(c: CompiledSeccomp): void {
  const denied = INIT_SYSCALLS_AFTER_FILTER.filter((n) => {
    const v = c.nativeVerdict(n);
    return v !== "depends" && v !== RET.ALLOW && v !== RET.LOG;
  });
  if (denied.length)
    throw new SeccompError(
      AT,
      `the profile must allow ${denied.join(" and ")}: tsrunc's init reports to the runtime with them after it loads the filter`,
    );
}

/** What tsrunc cannot honour in a profile, as `<JSON path>: <why>` (config.ts refuses these before
 * anything is created). */
export function seccompUnsupported(sc: LinuxSeccomp | undefined): string[] {
  if (!sc) return [];
  const out: string[] = [];
  (sc.flags ?? []).forEach((f, i) => {
    if (!Object.hasOwn(FLAGS, f)) out.push(`${AT}/flags/${i}: ${f} is not supported yet`);
  });
  (sc.syscalls ?? []).forEach((r, i) => {
    if (r.action === "SCMP_ACT_NOTIFY") out.push(`${AT}/syscalls/${i}/action: SCMP_ACT_NOTIFY is not supported yet`);
    (r.args ?? []).forEach((a, j) => {
      for (const k of ["value", "valueTwo"] as const) {
        const v = a[k];
        if (typeof v === "number" && !Number.isSafeInteger(v))
          out.push(`${AT}/syscalls/${i}/args/${j}/${k}: ${v} is above 2^53: JSON numbers that large lose precision, tsrunc does not take them yet`);
      }
    });
  });
  return out;
}

/** The init's `seccomp` op for a process, placed by the plan where runc loads the filter, with
 * the description runc's errors use. Errors read as runc's ("unable to init seccomp: ..." when
 * no_new_privs is set). null: no filter. */
export function seccompInitOp(
  sc: LinuxSeccomp | undefined,
  noNewPrivileges: boolean,
): { op: { op: "seccomp"; flags: number; program: Uint8Array }; describe: string } | null {
  const prefix = noNewPrivileges ? "unable to init seccomp: " : "";
  let c: CompiledSeccomp | null;
  try {
    c = compileSeccomp(sc);
  } catch (e) {
    if (e instanceof SeccompError) throw e;
    throw new Error(`unable to start container process: ${prefix}${(e as Error).message}`);
  }
  if (!c) return null;
  checkInitCanRun(c);
  return {
    op: { op: "seccomp", flags: c.flags, program: c.program },
    describe: `${prefix}error loading seccomp filter into kernel: error loading seccomp filter`,
  };
}
