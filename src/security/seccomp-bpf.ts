// Classic BPF for a seccomp filter, generated from the per-ABI rules (seccomp-rules.ts).
//
// The layout: check seccomp_data.arch, return ERRNO(ENOSYS) for syscall numbers above the profile's
// largest one (runc's stub), reject the x32 ABI unless the profile has it, find the syscall by binary
// search over its number, then try its rules in order: each condition compares a 64-bit argument as
// two 32-bit words (high word first; the low word only on 32-bit ABIs), a rule whose conditions all
// hold returns its action, a failing condition goes on to the next rule, after the last rule the
// default action.
//
// The program is built backwards, from its end: every jump goes forward, so its target is always
// known when the jump is emitted, and a target more than 255 instructions away gets a trampoline
// (`ja`, or a copy of the `ret` it leads to) right after the jump.
import { Cmp, type ArchRules, type Cond, type Rule } from "./seccomp-rules.ts";

export const AUDIT_ARCH_X86_64 = 0xc000003e;
export const AUDIT_ARCH_I386 = 0x40000003;
export const X32_SYSCALL_BIT = 0x40000000;
/** BPF_MAXINSNS: the kernel refuses longer filters. */
export const MAX_INSNS = 4096;

const LD_ABS = 0x20; // BPF_LD | BPF_W | BPF_ABS
const AND_K = 0x54; // BPF_ALU | BPF_AND | BPF_K
const JA = 0x05;
const JEQ = 0x15;
const JGT = 0x25;
const JGE = 0x35;
const JSET = 0x45;
const RET_K = 0x06;

const OFF_NR = 0;
const OFF_ARCH = 4;

interface Insn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

/** Where an emitted instruction is: its index counted from the end of the program. */
type Label = number;

class Emitter {
  private rev: Insn[] = [];
  private retLabels = new Map<Label, number>();
  private lastRet = new Map<number, Label>();

  get length(): number {
    return this.rev.length;
  }

  private push(i: Insn): Label {
    this.rev.push(i);
    return this.rev.length - 1;
  }

  ret(k: number): Label {
    k >>>= 0;
    const l = this.lastRet.get(k);
    if (l !== undefined && this.rev.length - l - 1 <= 255) return l;
    const nl = this.push({ code: RET_K, jt: 0, jf: 0, k });
    this.retLabels.set(nl, k);
    this.lastRet.set(k, nl);
    return nl;
  }

  /** Make `l` the instruction that follows the next one emitted. */
  private fallTo(l: Label): void {
    if (l !== this.rev.length - 1) this.push({ code: JA, jt: 0, jf: 0, k: this.rev.length - l - 1 });
  }

  /** A = the 32-bit word at `off` of struct seccomp_data, then on to `then`. */
  ld(off: number, then: Label): Label {
    this.fallTo(then);
    return this.push({ code: LD_ABS, jt: 0, jf: 0, k: off });
  }

  /** A &= mask, then on to `then`. */
  and(mask: number, then: Label): Label {
    this.fallTo(then);
    return this.push({ code: AND_K, jt: 0, jf: 0, k: mask >>> 0 });
  }

  /** A label near the next instruction that leads to `l`. */
  private near(l: Label): Label {
    const k = this.retLabels.get(l);
    if (k !== undefined) {
      const nl = this.push({ code: RET_K, jt: 0, jf: 0, k });
      this.retLabels.set(nl, k);
      this.lastRet.set(k, nl);
      return nl;
    }
    return this.push({ code: JA, jt: 0, jf: 0, k: this.rev.length - l - 1 });
  }

  /** The value a `ret` label returns, or undefined for any other instruction. */
  retOf(l: Label): number | undefined {
    return this.retLabels.get(l);
  }

  /** For a `ret`, its nearest copy (the last one emitted); any other label as it is. */
  nearest(l: Label): Label {
    const k = this.retLabels.get(l);
    return k === undefined ? l : this.lastRet.get(k)!;
  }

  /** A conditional jump: to `t` if A <op> k, else to `f`. */
  jump(code: number, k: number, t: Label, f: Label): Label {
    t = this.nearest(t);
    f = this.nearest(f);
    if (t === f) return t;
    for (;;) {
      const p = this.rev.length;
      if (p - t - 1 > 255) t = this.near(t);
      else if (p - f - 1 > 255) f = this.near(f);
      else break;
    }
    const p = this.rev.length;
    return this.push({ code, jt: p - t - 1, jf: p - f - 1, k: k >>> 0 });
  }

  program(): Uint8Array {
    const n = this.rev.length;
    const out = new Uint8Array(n * 8);
    const dv = new DataView(out.buffer);
    for (let i = 0; i < n; i++) {
      const ins = this.rev[n - 1 - i]!;
      dv.setUint16(i * 8, ins.code, true);
      dv.setUint8(i * 8 + 2, ins.jt);
      dv.setUint8(i * 8 + 3, ins.jf);
      dv.setUint32(i * 8 + 4, ins.k, true);
    }
    return out;
  }
}

const ALL32 = 0xffffffff;
/** seccomp_data.args[i]: its low and high words (little-endian). */
const argLo = (arg: number) => 16 + arg * 8;
const argHi = (arg: number) => 16 + arg * 8 + 4;

/** The code of each syscall's rules. */
class RuleGen {
  /** Code already emitted, by the rules it decides and its default: identical rules on several
   * syscalls (x86_64's and x32's, often) share one copy. */
  private memo = new Map<string, Label>();
  constructor(private e: Emitter) {}

  /** A = the word at `off`, masked, then `code` against k: to `t` if it holds, else `f`. */
  private word(off: number, mask: number, code: number, k: number, t: Label, f: Label): Label {
    const e = this.e;
    if (e.nearest(t) === e.nearest(f)) return e.nearest(t);
    let l = e.jump(code, k, t, f);
    if (mask >>> 0 !== ALL32) l = e.and(mask, l);
    return e.ld(off, l);
  }

  /** Unsigned 64-bit `>` (or `>=` with ge) of the argument against datum, as two words: the high
   * word decides unless it is equal, then the low one. */
  private greater(arg: number, datum: bigint, ge: boolean, t: Label, f: Label, bits: 32 | 64): Label {
    const e = this.e;
    const lo = Number(datum & 0xffffffffn);
    const lower = this.word(argLo(arg), ALL32, ge ? JGE : JGT, lo, t, f);
    if (bits === 32) return lower;
    const hi = Number(datum >> 32n);
    if (e.nearest(t) === e.nearest(f)) return e.nearest(t);
    // with A = high word: > hi → t; == hi → the low word; < hi → f
    let l: Label;
    if (hi === ALL32) l = e.jump(JEQ, hi, lower, f);
    else {
      const eq = hi === 0 ? lower : e.jump(JEQ, hi, lower, f); // not > 0 means == 0
      l = e.jump(JGT, hi, t, eq);
    }
    return e.ld(argHi(arg), l);
  }

  /** (argument & mask) == datum, word by word. */
  private equal(arg: number, mask: bigint, datum: bigint, t: Label, f: Label, bits: 32 | 64): Label {
    const part = (off: number, m: number, d: number, then: Label): Label => {
      if (m === 0) return d === 0 ? then : f; // nothing compared: holds only for 0
      if ((d & ~m) >>> 0 !== 0) return f; // bits outside the mask: never equal
      return this.word(off, m, JEQ, d, then, f);
    };
    const lower = part(argLo(arg), Number(mask & 0xffffffffn), Number(datum & 0xffffffffn), t);
    if (bits === 32) return lower;
    return part(argHi(arg), Number(mask >> 32n), Number(datum >> 32n), lower);
  }

  private cond(c: Cond, t: Label, f: Label, bits: 32 | 64): Label {
    switch (c.op) {
      case Cmp.EQ:
      case Cmp.MASKED_EQ:
        return this.equal(c.arg, c.mask, c.datum, t, f, bits);
      case Cmp.NE:
        return this.equal(c.arg, c.mask, c.datum, f, t, bits);
      case Cmp.GT:
        return this.greater(c.arg, c.datum, false, t, f, bits);
      case Cmp.GE:
        return this.greater(c.arg, c.datum, true, t, f, bits);
      case Cmp.LE:
        return this.greater(c.arg, c.datum, false, f, t, bits);
      case Cmp.LT:
        return this.greater(c.arg, c.datum, true, f, t, bits);
    }
  }

  /** A syscall's code: each rule in turn, its conditions in turn, `ret` its action when all hold,
   * else on to the next rule; after the last, the default action. */
  syscall(rules: Rule[], bits: 32 | 64, dflt: number): Label {
    const e = this.e;
    const key = `${bits}|${dflt}|` + rules.map((r) => `${r.action}:` + r.conds.map((c) => `${c.arg}.${c.op}.${c.mask}.${c.datum}`).join(",")).join(";");
    const done = this.memo.get(key);
    // a copy too far away for a conditional jump would cost a trampoline at each use: make another
    if (done !== undefined && e.length - done <= 255) return done;
    let next = e.ret(dflt);
    for (let i = rules.length - 1; i >= 0; i--) {
      const r = rules[i]!;
      let l = e.ret(r.action);
      for (let j = r.conds.length - 1; j >= 0; j--) l = this.cond(r.conds[j]!, l, next, bits);
      next = l;
    }
    this.memo.set(key, next);
    return next;
  }
}

interface Entry {
  num: number;
  rules: Rule[];
  bits: 32 | 64;
}

/** Dispatch on the syscall number in A: a binary search down to runs of a few `jeq`, each syscall's
 * code right after its `jeq`. */
function dispatch(e: Emitter, g: RuleGen, entries: Entry[], dflt: number): Label {
  if (entries.length <= 8) {
    let next = e.ret(dflt);
    for (let i = entries.length - 1; i >= 0; i--) {
      const s = entries[i]!;
      const code = g.syscall(s.rules, s.bits, dflt);
      next = e.jump(JEQ, s.num, code, next);
    }
    return next;
  }
  const m = entries.length >> 1;
  const right = dispatch(e, g, entries.slice(m), dflt);
  const left = dispatch(e, g, entries.slice(0, m), dflt);
  return e.jump(JGE, entries[m]!.num, right, left);
}

/** The syscalls that have rules, by number as the kernel compares them (unsigned). */
function entriesOf(abis: ArchRules[]): Entry[] {
  const out: Entry[] = [];
  for (const a of abis) for (const [num, rules] of a.syscalls) if (rules.length) out.push({ num, rules, bits: a.bits });
  return out.sort((a, b) => (a.num >>> 0) - (b.num >>> 0));
}

export interface FilterInput {
  defaultAction: number;
  /** For a syscall of an ABI the filter does not know (runc: SCMP_ACT_KILL_THREAD). */
  badArchAction: number;
  x86_64: ArchRules;
  /** The x32 ABI's rules, if the profile lists SCMP_ARCH_X32 (same audit arch as x86_64). */
  x32: ArchRules | null;
  /** i386's rules, if the profile lists SCMP_ARCH_X86. */
  x86: ArchRules | null;
  /** runc's -ENOSYS stub: per ABI, the largest syscall number the profile names; null: no stub. */
  enosys: { x86_64?: number; x32?: number; x86?: number } | null;
  /** The stub's return value: SECCOMP_RET_ERRNO | ENOSYS. */
  enosysAction: number;
}

export function generateFilter(f: FilterInput): Uint8Array {
  const e = new Emitter();
  const g = new RuleGen(e);
  const badArch = () => e.ret(f.badArchAction);

  // i386 (int 0x80 or a 32-bit process)
  let i386: Label | null = null;
  if (f.x86) {
    let l = dispatch(e, g, entriesOf([f.x86]), f.defaultAction);
    if (f.enosys?.x86 !== undefined) l = e.jump(JGT, f.enosys.x86, e.ret(f.enosysAction), l);
    i386 = e.ld(OFF_NR, l);
  }

  let x86_64: Label;
  // x86_64 and x32 (the same audit arch; x32 numbers have X32_SYSCALL_BIT)
  {
    let l = dispatch(e, g, entriesOf(f.x32 ? [f.x86_64, f.x32] : [f.x86_64]), f.defaultAction);
    if (!f.x32) {
      // x32 not listed: an x32 syscall is a bad arch here (as under runc), except -1 (a tracer
      // skipping the syscall)
      const minusOne = e.jump(JEQ, 0xffffffff, l, badArch());
      l = e.jump(JGE, X32_SYSCALL_BIT, minusOne, l);
    }
    const s = f.enosys;
    if (s && (s.x86_64 !== undefined || s.x32 !== undefined)) {
      const filter = l;
      const x32Path = s.x32 !== undefined ? e.jump(JGT, s.x32, e.ret(f.enosysAction), filter) : filter;
      const x64Path = s.x86_64 !== undefined ? e.jump(JGT, s.x86_64, e.ret(f.enosysAction), filter) : filter;
      l = e.jump(JSET, X32_SYSCALL_BIT, x32Path, x64Path);
    }
    x86_64 = e.ld(OFF_NR, l);
  }

  let l = badArch();
  if (i386 !== null) l = e.jump(JEQ, AUDIT_ARCH_I386, i386, l);
  l = e.jump(JEQ, AUDIT_ARCH_X86_64, x86_64, l);
  e.ld(OFF_ARCH, l);
  if (e.length > MAX_INSNS) throw new Error(`the seccomp filter needs ${e.length} instructions, more than the kernel's ${MAX_INSNS}`);
  return e.program();
}
