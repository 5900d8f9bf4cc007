// The seccomp compiler against libseccomp itself (the library runc 1.1 builds its filters with),
// when a C compiler and libseccomp 2.5's headers are here (skipped otherwise).
//
// test/fixtures/seccomp-oracle.c drives libseccomp as runc does. For random profiles without
// conflicting rules (all the rules a syscall gets have one action), every verdict of our filter
// must equal what libseccomp's filter means (its pfc output, evaluated here) behind runc's -ENOSYS
// stub, and neither side refuses them. (Where rules with different actions overlap, our first-match
// order and libseccomp's merging of rules differ by design: not compared.) libseccomp 2.5's
// BPF generator mis-tracks its accumulator in some rare trees (several rules with different
// conditions on one syscall), so its BPF can disagree with its own pfc; we follow the pfc. For a
// Docker-like profile the BPF itself must agree too.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { compileSeccomp } from "../../src/security/seccomp.ts";
import * as T from "../../src/security/generated/syscalls.ts";
import { dockerLike } from "../fixtures/seccomp-profiles.ts";
import { run } from "./bpf-interp.ts";

const dir = mkdtempSync(join(tmpdir(), "tsrunc-seccomp-oracle-"));
const ORACLE = join(dir, "oracle");
const built = spawnSync("cc", ["-O1", "-o", ORACLE, resolve("test/fixtures/seccomp-oracle.c"), "-lseccomp"]).status === 0;
const version = built ? spawnSync(ORACLE, ["version"]).stdout.toString().trim() : "";
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const X86_64 = 0xc000003e;
const I386 = 0x40000003;
const ENOSYS = 0x50026;
const OPS: Record<string, number> = { SCMP_CMP_NE: 1, SCMP_CMP_LT: 2, SCMP_CMP_LE: 3, SCMP_CMP_EQ: 4, SCMP_CMP_GE: 5, SCMP_CMP_GT: 6, SCMP_CMP_MASKED_EQ: 7 };
const ARCH: Record<string, string> = { SCMP_ARCH_X86_64: "x86_64", SCMP_ARCH_X86: "x86", SCMP_ARCH_X32: "x32" };

function action(a: string, e?: number): number {
  const d = e === undefined ? 1 : e & 0xffff;
  return ({
    SCMP_ACT_KILL: 0, SCMP_ACT_KILL_THREAD: 0, SCMP_ACT_KILL_PROCESS: 0x80000000, SCMP_ACT_TRAP: 0x30000,
    SCMP_ACT_ERRNO: (0x50000 | d) >>> 0, SCMP_ACT_TRACE: (0x7ff00000 | d) >>> 0, SCMP_ACT_ALLOW: 0x7fff0000, SCMP_ACT_LOG: 0x7ffc0000,
  } as Record<string, number>)[a]!;
}

/** The commands runc's InitSeccomp would give libseccomp for a profile. */
function commands(sc: any): string {
  const dflt = action(sc.defaultAction, sc.defaultErrnoRet);
  const out = [`default ${dflt}`];
  for (const a of sc.architectures ?? []) if (ARCH[a]) out.push(`arch ${ARCH[a]}`);
  for (const r of sc.syscalls ?? []) {
    const act = action(r.action, r.errnoRet);
    if (act === dflt) continue;
    const args: any[] = r.args ?? [];
    const counts = [0, 0, 0, 0, 0, 0];
    for (const x of args) counts[x.index]! += 1;
    const groups = counts.some((c) => c > 1) ? args.map((x) => [x]) : [args];
    for (const name of r.names)
      for (const g of groups) out.push(`rule ${act} ${name} ${g.length}` + g.map((x) => ` ${x.index} ${OPS[x.op]} ${BigInt(x.value)} ${BigInt(x.valueTwo ?? 0)}`).join(""));
  }
  return out.join("\n") + "\n";
}

/** runc's -ENOSYS stub: the verdict it gives before the filter, or null. */
function stub(sc: any): (arch: number, nr: number) => number | null {
  if (["SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_TRACE"].includes(sc.defaultAction)) return () => null;
  const names = (sc.syscalls ?? []).flatMap((r: any) => r.names);
  const max: Record<string, number> = {};
  for (const a of new Set((sc.architectures ?? []).map((a: string) => ARCH[a]).filter(Boolean) as string[])) {
    const m = Number(spawnSync(ORACLE, ["max", a, ...names]).stdout.toString());
    if (m > 0) max[a] = m;
  }
  return (arch, nr) => {
    nr >>>= 0;
    if (arch === X86_64) {
      if (nr & 0x40000000) return max.x32 !== undefined && nr > max.x32 ? ENOSYS : null;
      return max.x86_64 !== undefined && nr > max.x86_64 ? ENOSYS : null;
    }
    if (arch === I386) return max.x86 !== undefined && nr > max.x86 ? ENOSYS : null;
    return null;
  };
}

// ------------------------------------------------------------------------- libseccomp's pfc

type Stmt = { kind: "if"; cond: string; then: Stmt[]; else: Stmt[] } | { kind: "act"; v: number };

function parsePfc(text: string): Stmt[] {
  const lines = text.split("\n").filter((l) => l.trim() && !l.trim().startsWith("#"));
  let i = 0;
  const indent = (l: string) => l.length - l.trimStart().length;
  const act = (l: string): number => {
    const m = /action (\w+)(?:\((\d+)\))?;/.exec(l)!;
    const n = Number(m[2] ?? 0);
    return ({ ALLOW: 0x7fff0000, LOG: 0x7ffc0000, KILL: 0, KILL_PROCESS: 0x80000000, TRAP: 0x30000, ERRNO: (0x50000 | n) >>> 0, TRACE: (0x7ff00000 | n) >>> 0 } as Record<string, number>)[m[1]!]!;
  };
  function block(ind: number): Stmt[] {
    const out: Stmt[] = [];
    while (i < lines.length && indent(lines[i]!) === ind) {
      const l = lines[i]!.trim();
      if (l === "else") return out;
      i++;
      if (l.startsWith("action")) {
        out.push({ kind: "act", v: act(l) });
        continue;
      }
      const st: Stmt = { kind: "if", cond: l.slice(4, -1), then: [], else: [] };
      if (i < lines.length && indent(lines[i]!) > ind) st.then = block(indent(lines[i]!));
      if (i < lines.length && indent(lines[i]!) === ind && lines[i]!.trim() === "else") {
        i++;
        if (i < lines.length && indent(lines[i]!) > ind) st.else = block(indent(lines[i]!));
      }
      out.push(st);
    }
    return out;
  }
  // x86_64 and x32 are printed as two blocks of one arch value but compiled as one
  const top: Stmt[] = [];
  for (const st of block(0)) {
    const same = top.find((t) => t.kind === "if" && st.kind === "if" && t.cond === st.cond);
    if (same && same.kind === "if" && st.kind === "if") same.then = [...same.then.filter((x) => x.kind !== "act"), ...st.then];
    else top.push(st);
  }
  return top;
}

function evalPfc(prog: Stmt[], d: { nr: number; arch: number; args: bigint[] }, x32: boolean): number {
  const word = (a: number, part?: string) => {
    const v = BigInt.asUintN(64, d.args[a] ?? 0n);
    return part === "hi32" ? Number(v >> 32n) : Number(v & 0xffffffffn);
  };
  const cond = (c: string): boolean => {
    let m = /^\$arch == (\d+)$/.exec(c);
    if (m) return d.arch >>> 0 === Number(m[1]);
    m = /^\$syscall == (\d+)$/.exec(c);
    if (m) return d.nr >>> 0 === Number(m[1]);
    m = /^\$a(\d)(?:\.(hi32|lo32))?(?: & (0x[0-9a-f]+))? (==|>|>=) (\d+)$/.exec(c);
    if (!m) throw new Error(`pfc condition ${c}`);
    let v = word(Number(m[1]), m[2]);
    if (m[3]) v = (v & Number(m[3])) >>> 0;
    const k = Number(m[5]);
    return m[4] === "==" ? v === k : m[4] === ">" ? v > k : v >= k;
  };
  const exec = (list: Stmt[], top: boolean): number | null => {
    for (const s of list) {
      if (s.kind === "act") return s.v;
      // libseccomp's x32 check, which the pfc does not print
      if (top && !x32 && s.cond === `$arch == ${X86_64}` && cond(s.cond)) {
        const nr = d.nr >>> 0;
        if (nr >= 0x40000000 && nr !== 0xffffffff) return 0;
      }
      const r = cond(s.cond) ? exec(s.then, false) : exec(s.else, false);
      if (r !== null) return r;
    }
    return null;
  };
  return exec(prog, true)!;
}

// ------------------------------------------------------------------------- random profiles

function rng(seed: number) {
  return () => {
    seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
    return seed / 0x80000000;
  };
}

const NAMES = ["personality", "mkdir", "read", "socket", "sendto", "socketcall", "ipc", "semop", "shmget", "clone", "_llseek", "send", "recv", "accept", "futex_waitv", "readv", "no_such_syscall", "io_uring_setup", "uselib"];
const ACTIONS = ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_LOG", "SCMP_ACT_TRAP", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRACE"];
const VALUES = [0, 1, 2, 8, 0xffffffff, 0x100000000, 0x100000005, 0x7e020000, 2 ** 40 + 3];

/** The group of syscalls that share rules on some ABI: i386's socket and SysV IPC calls share
 * socketcall(2) and ipc(2). */
const SOCKET_NAMES = new Set(["socket", "sendto", "send", "recv", "accept", "socketcall"]);
const IPC_NAMES = new Set(["ipc", "semop", "shmget"]);
const group = (n: string) => (SOCKET_NAMES.has(n) ? "socketcall" : IPC_NAMES.has(n) ? "ipc" : n);

/** A random profile in which every syscall (group) has rules of one action only. */
function randomProfile(r: () => number): any {
  const pick = <T>(a: T[]): T => a[Math.floor(r() * a.length)]!;
  const sc: any = { defaultAction: pick(ACTIONS), syscalls: [] };
  const actionOf = new Map<string, string>();
  if (sc.defaultAction === "SCMP_ACT_ERRNO" && r() < 0.5) sc.defaultErrnoRet = pick([1, 38, 5]);
  const archs = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64"].filter((_, i) => r() < [0.6, 0.5, 0.5, 0.2][i]!);
  if (archs.length) sc.architectures = archs;
  const n = 1 + Math.floor(r() * 6);
  for (let i = 0; i < n; i++) {
    const rule: any = { names: [pick(NAMES)], action: pick(ACTIONS) };
    if (r() < 0.3) rule.names.push(pick(NAMES));
    if ((rule.action === "SCMP_ACT_ERRNO" || rule.action === "SCMP_ACT_TRACE") && r() < 0.5) rule.errnoRet = pick([1, 5, 38, 13]);
    const taken = new Set<string>(rule.names.map((n: string) => actionOf.get(group(n))).filter(Boolean));
    if (taken.size > 1) continue;
    if (taken.size === 1) {
      const [a, e] = JSON.parse([...taken][0]!);
      rule.action = a;
      if (e === null) delete rule.errnoRet;
      else rule.errnoRet = e;
    }
    for (const n of rule.names) actionOf.set(group(n), JSON.stringify([rule.action, rule.errnoRet ?? null]));
    const nargs = r() < 0.3 ? 0 : 1 + Math.floor(r() * 3);
    if (nargs) rule.args = [];
    for (let j = 0; j < nargs; j++) {
      const op = pick(Object.keys(OPS));
      rule.args.push({ index: Math.floor(r() * 3), value: pick(VALUES), valueTwo: op === "SCMP_CMP_MASKED_EQ" ? pick(VALUES) : undefined, op });
    }
    sc.syscalls.push(rule);
  }
  return sc;
}

const tables = [new Map(T.X86_64), new Map(T.X86), new Map(T.X32)];
function probeNumbers(sc: any): number[] {
  const out = new Set<number>([0, 1, 0xffffffff, 0x40000000, 0x40000001, 500, 0x40000200]);
  for (const name of [...NAMES, ...sc.syscalls.flatMap((r: any) => r.names)])
    for (const t of tables) {
      const n = t.get(name);
      if (n !== undefined) out.add(n).add(n + 1);
    }
  return [...out];
}

describe.skipIf(!built || !version.startsWith("2.5."))(`seccomp: against libseccomp ${version}`, () => {
  it("decides as libseccomp's filter behind runc's stub, for profiles without conflicting rules", () => {
    const r = rng(20260101);
    const pick = <T>(a: T[]): T => a[Math.floor(r() * a.length)]!;
    for (let p = 0; p < 150; p++) {
      const sc = randomProfile(r);
      const pfc = spawnSync(ORACLE, ["pfc"], { input: commands(sc) }).stdout.toString();
      const libRefused = /^error (\S+) -?\d+/m.exec(pfc);
      let ours: ReturnType<typeof compileSeccomp> = null;
      let ourError: string | undefined;
      try {
        ours = compileSeccomp(sc);
      } catch (e) {
        ourError = (e as Error).message;
      }
      expect(ourError, JSON.stringify(sc)).toBeUndefined();
      expect(libRefused?.[0], JSON.stringify(sc)).toBeUndefined();
      const prog = parsePfc(pfc);
      const before = stub(sc);
      const x32 = (sc.architectures ?? []).includes("SCMP_ARCH_X32");
      for (const arch of [X86_64, I386, 0xc00000b7])
        for (const nr of probeNumbers(sc))
          for (let k = 0; k < 4; k++) {
            const args = k === 0 ? [] : [pick(VALUES), pick(VALUES), pick(VALUES)].map(BigInt);
            const d = { nr, arch, args };
            const want = before(arch, nr) ?? evalPfc(prog, d, x32);
            const got = run(ours!.program, d).ret;
            if (got !== want) expect({ profile: sc, arch, nr, args: args.map(String), got: got.toString(16) }).toEqual({ profile: sc, arch, nr, args: args.map(String), got: want.toString(16) });
          }
    }
  });

  it("decides a Docker-like profile as libseccomp's BPF itself, syscall by syscall", () => {
    const sc = dockerLike();
    const bpf = new Uint8Array(spawnSync(ORACLE, [], { input: commands(sc) }).stdout);
    const before = stub(sc);
    const ours = compileSeccomp(sc)!;
    const values = [0n, 1n, 8n, 17n, 40n, 0x20000n, 0x10000011n, 0xffffffffn, 0x7e020000n, 0x100000000n];
    for (const arch of [X86_64, I386, 0x12345678])
      for (const base of [0, 0x40000000])
        for (let i = 0; i < 560; i++)
          for (const a0 of values) {
            const d = { nr: base + i, arch, args: [a0] };
            const want = before(arch, d.nr) ?? run(bpf, d).ret;
            const got = run(ours.program, d).ret;
            if (got !== want) expect({ arch, nr: d.nr, a0: String(a0), got }).toEqual({ arch, nr: d.nr, a0: String(a0), got: want });
          }
  });
});
