// Classic BPF for a seccomp filter, generated from the per-arch rule databases (seccomp-db.ts).
//
// The program decides exactly as the one runc 1.1 loads (runc's -ENOSYS stub in front of
// libseccomp 2.5.4's filter), though its layout is our own: check seccomp_data.arch, return
// ERRNO(ENOSYS) for syscall numbers above the profile's largest one (runc's stub), reject the x32
// ABI unless the profile has it (libseccomp), find the syscall by binary search over its number, then
// walk its argument tree in libseccomp's order (each level's nodes in turn; a branch with neither an
// action nor a sub-level falls through to the next node, the last one to the enclosing level's next
// node, at the top to the default action).
//
// The program is built backwards, from its end: every jump goes forward, so its target is always
// known when the jump is emitted, and a target more than 255 instructions away gets a trampoline
// (`ja`, or a copy of the `ret` it leads to) right after the jump.
import type { ArchDb, Node, SysEntry } from "./seccomp-db.ts";
import { Cmp } from "./seccomp-db.ts";

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

function levelHead(n: Node): Node {
  while (n.lvlPrv) n = n.lvlPrv;
  return n;
}

class ChainGen {
  /** Code already emitted, by the structure of a level and where it falls through to: the same
   * conditions on several syscalls share one copy (as libseccomp shares identical blocks). */
  private memo = new Map<string, Label>();
  private keys = new Map<Node, string>();
  constructor(private e: Emitter) {}

  /** A level's structure as a string: its nodes' tests and where each branch goes. */
  private key(node: Node): string {
    const head = levelHead(node);
    let k = this.keys.get(head);
    if (k === undefined) {
      const parts: string[] = [];
      for (let n: Node | null = head; n; n = n.lvlNxt) {
        const t = n.nxtT ? `(${this.key(n.nxtT)})` : n.actTFlg ? `r${n.actT}` : "-";
        const f = n.nxtF ? `(${this.key(n.nxtF)})` : n.actFFlg ? `r${n.actF}` : "-";
        parts.push(`${n.argOffset}:${n.op}:${n.mask}:${n.datum}?${t}:${f}`);
      }
      k = parts.join(";");
      this.keys.set(head, k);
    }
    return k;
  }

  /** The code of a level of the tree whose nodes, all failing, continue at `next`. */
  level(node: Node, next: Label): Label {
    const head = levelHead(node);
    const r = this.e.retOf(next);
    const memoKey = `${r === undefined ? `l${next}` : `r${r}`}|${this.key(head)}`;
    const done = this.memo.get(memoKey);
    // a copy too far away for a conditional jump would cost a trampoline at each use: make another
    if (done !== undefined && this.e.length - done <= 255) return done;
    const nodes: Node[] = [];
    for (let n: Node | null = head; n; n = n.lvlNxt) nodes.push(n);
    let l = next;
    for (let i = nodes.length - 1; i >= 0; i--) l = this.node(nodes[i]!, l);
    this.memo.set(memoKey, l);
    return l;
  }

  private node(n: Node, next: Label): Label {
    const e = this.e;
    const f = n.nxtF ? this.level(n.nxtF, next) : n.actFFlg ? e.ret(n.actF) : next;
    const t = n.nxtT ? this.level(n.nxtT, next) : n.actTFlg ? e.ret(n.actT) : next;
    const code = n.op === Cmp.GT ? JGT : n.op === Cmp.GE ? JGE : JEQ;
    if (e.nearest(t) === e.nearest(f)) return e.nearest(t); // both ways lead to the same place: no test
    let l = e.jump(code, n.datum, t, f);
    if (n.mask >>> 0 !== 0xffffffff) l = e.and(n.mask, l);
    return e.ld(n.argOffset, l);
  }

  syscall(s: SysEntry, dflt: Label): Label {
    return s.chains ? this.level(s.chains, dflt) : this.e.ret(s.action);
  }
}

/** Dispatch on the syscall number in A: a binary search down to runs of a few `jeq`, each syscall's
 * code right after its `jeq`. */
function dispatch(e: Emitter, g: ChainGen, entries: SysEntry[], dflt: Label): Label {
  if (entries.length <= 8) {
    let next = dflt;
    for (let i = entries.length - 1; i >= 0; i--) {
      const s = entries[i]!;
      const code = g.syscall(s, dflt);
      next = e.jump(JEQ, s.num, code, next);
    }
    return next;
  }
  const m = entries.length >> 1;
  const right = dispatch(e, g, entries.slice(m), dflt);
  const left = dispatch(e, g, entries.slice(0, m), dflt);
  return e.jump(JGE, entries[m]!.num, right, left);
}

/** The syscalls of the databases that reach the filter (libseccomp skips pseudo syscalls), by
 * number as the kernel compares them (unsigned). */
function entriesOf(dbs: ArchDb[]): SysEntry[] {
  const out: SysEntry[] = [];
  for (const db of dbs) for (const s of db.syscalls.values()) if (s.num >= 0) out.push(s);
  return out.sort((a, b) => (a.num >>> 0) - (b.num >>> 0));
}

export interface FilterInput {
  defaultAction: number;
  /** libseccomp's bad-arch action (SCMP_ACT_KILL_THREAD unless set). */
  badArchAction: number;
  x86_64: ArchDb;
  /** The x32 ABI's rules, if the profile lists SCMP_ARCH_X32 (compiled with x86_64's, as libseccomp). */
  x32: ArchDb | null;
  /** i386's rules, if the profile lists SCMP_ARCH_X86. */
  x86: ArchDb | null;
  /** runc's -ENOSYS stub: per ABI, the largest syscall number the profile names; null: no stub. */
  enosys: { x86_64?: number; x32?: number; x86?: number } | null;
  /** The stub's return value: SECCOMP_RET_ERRNO | ENOSYS. */
  enosysAction: number;
}

export function generateFilter(f: FilterInput): Uint8Array {
  const e = new Emitter();
  const g = new ChainGen(e);
  const badArch = () => e.ret(f.badArchAction);

  // i386 (int 0x80 or a 32-bit process)
  let i386: Label | null = null;
  if (f.x86) {
    const dflt = e.ret(f.defaultAction);
    let l = dispatch(e, g, entriesOf([f.x86]), dflt);
    if (f.enosys?.x86 !== undefined) l = e.jump(JGT, f.enosys.x86, e.ret(f.enosysAction), l);
    i386 = e.ld(OFF_NR, l);
  }

  let x86_64: Label;
  // x86_64 and x32 (the same audit arch; x32 numbers have X32_SYSCALL_BIT)
  {
    const dflt = e.ret(f.defaultAction);
    let l = dispatch(e, g, entriesOf(f.x32 ? [f.x86_64, f.x32] : [f.x86_64]), dflt);
    if (!f.x32) {
      // libseccomp: an x32 syscall is a bad arch here, except -1 (a tracer skipping the syscall)
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
