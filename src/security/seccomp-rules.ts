// The rules of a seccomp profile, per ABI and syscall number, in the order the profile gives them.
//
// The model is ours, from the runtime-spec's reading of linux.seccomp: a syscall's rules are tried
// in profile order and the first whose conditions all hold decides (a rule without conditions
// always holds); when none holds, the default action. A rule after an unconditional one can never
// decide and is not kept (so of two unconditional rules the first decides, as under runc); neither
// is a rule with the same conditions as an earlier one.
//
// An ABI with 32-bit registers (x86, x32) compares the low 32 bits of the arguments only: its
// conditions are kept truncated to 32 bits.

/** Comparison operators (the runtime-spec's SCMP_CMP_*). */
export const Cmp = { NE: 1, LT: 2, LE: 3, EQ: 4, GE: 5, GT: 6, MASKED_EQ: 7 } as const;
export type Cmp = (typeof Cmp)[keyof typeof Cmp];

/** One condition: (argument `arg` & `mask`) <op> `datum`, on 64 bits (or the ABI's width). For
 * every operator but MASKED_EQ the mask is all ones. */
export interface Cond {
  arg: number;
  op: Cmp;
  mask: bigint;
  datum: bigint;
}

/** A rule: `action` (a SECCOMP_RET value) when all of `conds` hold. */
export interface Rule {
  action: number;
  conds: Cond[];
}

/** The rules of one ABI. */
export interface ArchRules {
  bits: 32 | 64;
  /** By syscall number (as the kernel passes it, x32's with its bit), in decision order. */
  syscalls: Map<number, Rule[]>;
}

export function newArchRules(bits: 32 | 64): ArchRules {
  return { bits, syscalls: new Map() };
}

/** A condition from the profile's terms: for MASKED_EQ `value` is the mask and `valueTwo` the
 * result, for the others `value` is compared. A result's bits outside the mask do not count
 * (as under runc: (arg & mask) == (valueTwo & mask)). */
export function makeCond(arg: number, op: Cmp, value: bigint, valueTwo: bigint): Cond {
  const all = (1n << 64n) - 1n;
  return op === Cmp.MASKED_EQ ? { arg, op, mask: value & all, datum: valueTwo & value & all } : { arg, op, mask: all, datum: value & all };
}

const condKey = (conds: Cond[]) => conds.map((c) => `${c.arg}:${c.op}:${c.mask}:${c.datum}`).join(",");

/** Append a rule for syscall `nr` of an ABI. */
export function addRule(abi: ArchRules, nr: number, rule: Rule): void {
  const width = (1n << BigInt(abi.bits)) - 1n;
  const conds = rule.conds.map((c) => ({ ...c, mask: c.mask & width, datum: c.datum & width }));
  let list = abi.syscalls.get(nr);
  if (!list) abi.syscalls.set(nr, (list = []));
  if (list[list.length - 1]?.conds.length === 0) return; // an unconditional rule already decides every call
  const key = condKey(conds);
  if (list.some((r) => condKey(r.conds) === key)) return; // an earlier rule decides these calls
  list.push({ action: rule.action, conds });
}

/** Does a condition hold for an argument value (of the ABI's width)? The reference semantics the
 * BPF must implement. */
export function condHolds(c: Cond, value: bigint): boolean {
  const v = value & c.mask;
  switch (c.op) {
    case Cmp.EQ:
    case Cmp.MASKED_EQ:
      return v === c.datum;
    case Cmp.NE:
      return v !== c.datum;
    case Cmp.LT:
      return v < c.datum;
    case Cmp.LE:
      return v <= c.datum;
    case Cmp.GT:
      return v > c.datum;
    case Cmp.GE:
      return v >= c.datum;
  }
}

/** What the rules decide for a syscall with the given arguments. */
export function decide(abi: ArchRules, nr: number, args: bigint[], dflt: number): number {
  const width = (1n << BigInt(abi.bits)) - 1n;
  for (const r of abi.syscalls.get(nr) ?? [])
    if (r.conds.every((c) => condHolds(c, BigInt.asUintN(64, args[c.arg] ?? 0n) & width))) return r.action;
  return dflt;
}
