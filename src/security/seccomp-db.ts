// The rule database of libseccomp 2.5.4 (src/db.c), ported so that a profile's rules merge exactly
// as they do under runc 1.1 (which links libseccomp 2.5.4): several rules for one syscall, an
// unconditional rule next to conditional ones, rules that overlap or conflict (-EEXIST) all end up
// as libseccomp leaves them. Each syscall gets a tree of argument comparisons on 32-bit words; the
// BPF generator (seccomp-bpf.ts) walks it with libseccomp's evaluation order.
//
// The port keeps libseccomp's reference counts: its pruning decisions depend on how many nodes a
// removal frees and on shared sub-trees, so they are part of the behaviour, not bookkeeping.

export const ARG_COUNT_MAX = 6;

/** libseccomp's enum scmp_compare. */
export const Cmp = { NE: 1, LT: 2, LE: 3, EQ: 4, GE: 5, GT: 6, MASKED_EQ: 7 } as const;
export type Cmp = (typeof Cmp)[keyof typeof Cmp];

/** One argument condition of a rule (struct db_api_arg). */
export interface ApiArg {
  arg: number;
  op: Cmp;
  mask: bigint;
  datum: bigint;
}

/** A rule as libseccomp stores it: conditions indexed by argument number. */
export interface ApiRule {
  action: number;
  syscall: number;
  args: (ApiArg | null)[];
}

/** A node of the argument tree (struct db_arg_chain_tree). */
export interface Node {
  arg: number;
  argH: boolean;
  argOffset: number;
  op: Cmp;
  opOrig: Cmp;
  mask: number;
  datum: number;
  datumFull: bigint;
  actTFlg: boolean;
  actFFlg: boolean;
  actT: number;
  actF: number;
  lvlPrv: Node | null;
  lvlNxt: Node | null;
  nxtT: Node | null;
  nxtF: Node | null;
  refcnt: number;
}

/** A syscall's entry (struct db_sys_list): an action, or a tree of conditions. */
export interface SysEntry {
  num: number;
  chains: Node | null;
  action: number;
}

export interface ArchDb {
  /** 64: arguments are compared as hi/lo words; 32: the low word only. */
  size: 32 | 64;
  syscalls: Map<number, SysEntry>;
}

export class DbError extends Error {
  constructor(readonly errno: number) {
    super(`libseccomp error ${-errno}`);
  }
}
export const EEXIST = 17;

/** A pointer to a node pointer (C's `struct db_arg_chain_tree **`). */
interface PP {
  get(): Node | null;
  set(n: Node | null): void;
}
function local(v: Node | null): PP & { v: Node | null } {
  return {
    v,
    get() {
      return this.v;
    },
    set(n) {
      this.v = n;
    },
  };
}
function field(o: Node | SysEntry, k: "nxtT" | "nxtF" | "chains"): PP {
  return { get: () => (o as any)[k], set: (n) => ((o as any)[k] = n) };
}

const hi32 = (v: bigint): number => Number((v >> 32n) & 0xffffffffn);
const lo32 = (v: bigint): number => Number(v & 0xffffffffn);
const DATUM_MAX = 0xffffffffffffffffn;

function newNode(): Node {
  return {
    arg: 0, argH: false, argOffset: 0, op: Cmp.EQ, opOrig: Cmp.EQ, mask: 0, datum: 0, datumFull: 0n,
    actTFlg: false, actFFlg: false, actT: 0, actF: 0,
    lvlPrv: null, lvlNxt: null, nxtT: null, nxtF: null, refcnt: 0,
  };
}

function argPriority(a: Node): number {
  return (a.arg << 1) + (a.argH ? 1 : 0);
}

function opPriority(op: Cmp): number {
  switch (op) {
    case Cmp.MASKED_EQ:
    case Cmp.EQ:
    case Cmp.NE:
      return 3;
    case Cmp.LE:
    case Cmp.LT:
      return 2;
    case Cmp.GE:
    case Cmp.GT:
      return 1;
    default:
      return 0;
  }
}

function chainLt(a: Node, b: Node): boolean {
  const aa = argPriority(a), ba = argPriority(b);
  if (aa < ba) return true;
  if (aa > ba) return false;
  const ao = opPriority(a.opOrig), bo = opPriority(b.opOrig);
  if (ao < bo) return true;
  if (ao > bo) return false;
  switch (a.opOrig) {
    case Cmp.LE:
    case Cmp.LT:
      return a.datum > b.datum;
    default:
      return a.datum < b.datum;
  }
}

function chainEq(a: Node, b: Node): boolean {
  return argPriority(a) === argPriority(b) && a.op === b.op && a.datum === b.datum && a.mask === b.mask;
}

function chainLeaf(n: Node): boolean {
  return n.nxtT === null && n.nxtF === null;
}

function chainZombie(n: Node): boolean {
  return chainLeaf(n) && !n.actTFlg && !n.actFFlg;
}

function nodeGet(n: Node | null): Node | null {
  if (n) n.refcnt++;
  return n;
}

function levelClean(node: Node): number {
  let cnt = 0;
  let n: Node | null = node;
  while (n.lvlPrv) n = n.lvlPrv;
  const start = n;
  while (n) {
    let links = 0;
    if (n.lvlPrv) links++;
    if (n.lvlNxt) links++;
    if (n.refcnt > links) return cnt;
    n = n.lvlNxt;
  }
  const p = local(start);
  while (p.v) cnt += nodePut(p);
  return cnt;
}

function treePut(tree: PP): number {
  let cnt = nodePut(tree);
  const t = tree.get();
  if (t) cnt += levelClean(t);
  return cnt;
}

function nodePut(node: PP): number {
  let cnt = 0;
  const n = node.get();
  if (!n) return 0;
  if (--n.refcnt === 0) {
    const lp = local(n.lvlPrv);
    const ln = local(n.lvlNxt);
    const nt = local(n.nxtT);
    const nf = local(n.nxtF);
    if (lp.v) lp.v.lvlNxt = null;
    if (ln.v) ln.v.lvlPrv = null;
    if (lp.v) cnt += nodePut(lp);
    if (ln.v) cnt += nodePut(ln);
    if (lp.v) lp.v.lvlNxt = nodeGet(ln.v);
    if (ln.v) ln.v.lvlPrv = nodeGet(lp.v);
    node.set(lp.v ?? ln.v ?? null);
    cnt += treePut(nt);
    cnt += treePut(nf);
    cnt++;
  }
  return cnt;
}

function treeRemove(tree: PP, node: Node): number {
  let cnt = 0;
  let c: Node | null = tree.get();
  if (!c) return 0;
  while (c.lvlPrv) c = c.lvlPrv;
  let found = false;
  do {
    if (c === node) {
      found = true;
      break;
    }
    cnt += treeRemove(field(c, "nxtT"), node);
    cnt += treeRemove(field(c, "nxtF"), node);
    if (chainZombie(c)) {
      found = true;
      break;
    }
    c = c.lvlNxt;
  } while (c && cnt === 0);
  if (!found) return cnt;
  // remove c
  if (c === tree.get()) tree.set(c!.lvlPrv ?? c!.lvlNxt);
  if (c!.lvlPrv) c!.lvlPrv.lvlNxt = c!.lvlNxt;
  if (c!.lvlNxt) c!.lvlNxt.lvlPrv = c!.lvlPrv;
  c!.lvlPrv = null;
  c!.lvlNxt = null;
  cnt += nodePut(local(c));
  return cnt;
}

function treeActCheck(tree: Node | null, action: number): number {
  if (!tree) return 0;
  let c: Node | null = tree;
  while (c.lvlPrv) c = c.lvlPrv;
  do {
    if (c.actTFlg && c.actT !== action) return -EEXIST;
    if (c.actFFlg && c.actF !== action) return -EEXIST;
    let rc = treeActCheck(c.nxtT, action);
    if (rc < 0) return rc;
    rc = treeActCheck(c.nxtF, action);
    if (rc < 0) return rc;
    c = c.lvlNxt;
  } while (c);
  return 0;
}

const IST_MATCH = 0x1;
const IST_MATCH_ONCE = 0x2;
const IST_X_FINISHED = 0x10;
const IST_N_FINISHED = 0x20;
const IST_X_PREFIX = 0x100;
const IST_N_PREFIX = 0x200;
const IST_M_MATCHSET = IST_MATCH | IST_MATCH_ONCE;
const IST_M_REDUNDANT = IST_MATCH | IST_X_FINISHED | IST_N_PREFIX;

interface IterState {
  flags: number;
  action: number;
  sx: SysEntry;
}

function treePrune(existing: PP, nw: Node | null, state: IterState): number {
  let cnt = 0;
  const stateNew: IterState = { ...state };
  const x = local(existing.get());
  const n = nw;
  let ret = false;

  if (n === null || x.v === null) ret = true;
  else if ((state.flags & IST_M_MATCHSET) === IST_MATCH_ONCE) ret = true;

  if (!ret) {
    while (x.v!.lvlPrv) x.v = x.v!.lvlPrv;
    fell: do {
      const xNext = x.v!.lvlNxt;
      const xi = x.v!;
      next: {
        if (chainEq(xi, n!)) {
          stateNew.flags |= IST_M_MATCHSET;
          if (chainLeaf(n!)) stateNew.flags |= IST_N_FINISHED;
          if (chainLeaf(xi)) stateNew.flags |= IST_X_FINISHED;
          if ((xi.actTFlg || xi.nxtT) && !(n!.actTFlg || n!.nxtT)) { ret = true; break fell; }
          if ((xi.actFFlg || xi.nxtF) && !(n!.actFFlg || n!.nxtF)) { ret = true; break fell; }
          if (stateNew.flags & IST_N_FINISHED && stateNew.flags & IST_X_FINISHED) {
            if (n!.actTFlg !== xi.actTFlg || n!.actT !== xi.actT || n!.actFFlg !== xi.actFFlg || n!.actF !== xi.actF) {
              ret = true;
              break fell;
            }
          }
          if (n!.nxtT) {
            nodeGet(x.v);
            const sn: IterState = { ...state, flags: state.flags | IST_M_MATCHSET };
            cnt += treePrune(field(x.v!, "nxtT"), n!.nxtT, sn);
            cnt += nodePut(x);
            if (sn.flags & IST_MATCH) stateNew.flags |= sn.flags;
            if (x.v === null) break next;
          }
          if (n!.nxtF) {
            nodeGet(x.v);
            const sn: IterState = { ...state, flags: state.flags | IST_M_MATCHSET };
            cnt += treePrune(field(x.v!, "nxtF"), n!.nxtF, sn);
            cnt += nodePut(x);
            if (sn.flags & IST_MATCH) stateNew.flags |= sn.flags;
            if (x.v === null) break next;
          }
          if (
            !treeActCheck(x.v, stateNew.action) &&
            stateNew.flags & IST_MATCH &&
            stateNew.flags & IST_N_FINISHED &&
            stateNew.flags & IST_X_PREFIX
          ) {
            // the new tree is "shorter"
            cnt += treeRemove(field(state.sx, "chains"), x.v!);
            if (state.sx.chains === null) { ret = true; break fell; }
          } else if (
            !treeActCheck(x.v, stateNew.action) &&
            stateNew.flags & IST_MATCH &&
            stateNew.flags & IST_X_FINISHED &&
            stateNew.flags & IST_N_PREFIX
          ) {
            // the new tree is "longer"
            ret = true;
            break fell;
          }
        } else if (chainLt(xi, n!)) {
          if (state.flags & IST_N_PREFIX) { ret = true; break fell; }
          if (xi.nxtT) {
            nodeGet(x.v);
            const sn: IterState = { ...state, flags: (state.flags & ~IST_MATCH) | IST_X_PREFIX };
            cnt += treePrune(field(x.v!, "nxtT"), n, sn);
            cnt += nodePut(x);
            if (sn.flags & IST_MATCH) {
              stateNew.flags |= sn.flags;
              ret = true;
              break fell;
            }
            if (x.v === null) break next;
          }
          if (x.v!.nxtF) {
            nodeGet(x.v);
            const sn: IterState = { ...state, flags: (state.flags & ~IST_MATCH) | IST_X_PREFIX };
            cnt += treePrune(field(x.v!, "nxtF"), n, sn);
            cnt += nodePut(x);
            if (sn.flags & IST_MATCH) {
              stateNew.flags |= sn.flags;
              ret = true;
              break fell;
            }
            if (x.v === null) break next;
          }
        } else {
          if (state.flags & IST_X_PREFIX) { ret = true; break fell; }
          if (n!.nxtT) {
            nodeGet(x.v);
            const sn: IterState = { ...state, flags: (state.flags & ~IST_MATCH) | IST_N_PREFIX };
            cnt += treePrune(x, n!.nxtT, sn);
            cnt += nodePut(x);
            if (sn.flags & IST_MATCH) {
              stateNew.flags |= sn.flags;
              ret = true;
              break fell;
            }
            if (x.v === null) break next;
          }
          if (n!.nxtF) {
            nodeGet(x.v);
            const sn: IterState = { ...state, flags: (state.flags & ~IST_MATCH) | IST_N_PREFIX };
            cnt += treePrune(x, n!.nxtF, sn);
            cnt += nodePut(x);
            if (sn.flags & IST_MATCH) {
              stateNew.flags |= sn.flags;
              ret = true;
              break fell;
            }
            if (x.v === null) break next;
          }
        }
      }
      x.v = xNext;
    } while (x.v);
    if (!ret) stateNew.flags &= ~IST_MATCH;
  }

  if (stateNew.flags & IST_MATCH) state.flags |= stateNew.flags;
  else state.flags &= ~IST_MATCH;
  return cnt;
}

function treeAdd(existing: PP, nw: Node, state: IterState): number {
  let x: Node | null = existing.get();
  const n = nw;
  do {
    if (chainEq(x!, n)) {
      if (n.actTFlg) {
        if (!x!.actTFlg) {
          const rc = treeActCheck(x!.nxtT, n.actT);
          if (rc !== 0) return rc;
          nodePut(field(x!, "nxtT"));
          x!.nxtT = null;
          x!.actT = n.actT;
          x!.actTFlg = true;
        } else if (n.actT !== x!.actT) {
          if (n.argH && n.datumFull > x!.datumFull) x!.actT = n.actT;
          if (chainLeaf(x!) || chainLeaf(n)) return -EEXIST;
        }
      }
      if (n.actFFlg) {
        if (!x!.actFFlg) {
          const rc = treeActCheck(x!.nxtF, n.actF);
          if (rc !== 0) return rc;
          nodePut(field(x!, "nxtF"));
          x!.nxtF = null;
          x!.actF = n.actF;
          x!.actFFlg = true;
        } else if (n.actF !== x!.actF) {
          // (sic: libseccomp updates act_t here)
          if (n.argH && n.datumFull < x!.datumFull) x!.actT = n.actT;
          if (chainLeaf(x!) || chainLeaf(n)) return -EEXIST;
        }
      }
      if (n.nxtT) {
        if (x!.nxtT) {
          const rc = treeAdd(field(x!, "nxtT"), n.nxtT, state);
          if (rc !== 0) return rc;
        } else if (!x!.actTFlg) x!.nxtT = nodeGet(n.nxtT);
        else return 0;
      }
      if (n.nxtF) {
        if (x!.nxtF) {
          const rc = treeAdd(field(x!, "nxtF"), n.nxtF, state);
          if (rc !== 0) return rc;
        } else if (!x!.actFFlg) x!.nxtF = nodeGet(n.nxtF);
        else return 0;
      }
      return 0;
    } else if (!chainLt(x!, n)) {
      if (x!.lvlNxt === null) {
        n.lvlPrv = nodeGet(x);
        x!.lvlNxt = nodeGet(n);
        return 0;
      }
      x = x!.lvlNxt;
    } else {
      if (x!.lvlPrv !== null) {
        x!.lvlPrv.lvlNxt = nodeGet(n);
        n.lvlPrv = x!.lvlPrv;
        x!.lvlPrv = nodeGet(n);
        n.lvlNxt = x;
      } else {
        x!.lvlPrv = nodeGet(n);
        n.lvlNxt = nodeGet(x);
      }
      if (existing.get() === x) {
        existing.set(nodeGet(n));
        nodePut(local(x));
      }
      return 0;
    }
  } while (x);
  return 0;
}

function needLo(a: ApiArg): boolean {
  return !(a.op === Cmp.MASKED_EQ && lo32(a.mask) === 0);
}
function needHi(a: ApiArg): boolean {
  return !(a.op === Cmp.MASKED_EQ && hi32(a.mask) === 0);
}

/** The low word of argument `arg` in struct seccomp_data (little-endian). */
export function argOffsetLo(arg: number): number {
  return 16 + arg * 8;
}

function ruleGen64(rule: ApiRule): SysEntry {
  const s: SysEntry = { num: rule.syscall, chains: null, action: 0 };
  let cur: (Node | null)[] = [null, null, null];
  let prev: (Node | null)[] = [null, null, null];
  let opPrev: Cmp | 0 = 0;
  for (let i = 0; i < ARG_COUNT_MAX; i++) {
    const a = rule.args[i];
    if (!a) continue;
    if (!needHi(a) && !needLo(a)) continue;
    cur = [newNode(), newNode(), null];
    const { arg, mask, datum } = a;
    switch (a.op) {
      case Cmp.GT:
      case Cmp.GE:
      case Cmp.LE:
      case Cmp.LT: {
        cur[2] = newNode();
        const [c0, c1, c2] = cur as Node[];
        for (const c of [c0, c1, c2] as Node[]) {
          c.arg = arg;
          c.datumFull = datum;
          c.opOrig = a.op;
        }
        c0!.argH = c1!.argH = true;
        c2!.argH = false;
        c0!.argOffset = c1!.argOffset = argOffsetLo(arg) + 4;
        c2!.argOffset = argOffsetLo(arg);
        c0!.mask = c1!.mask = hi32(mask);
        c2!.mask = lo32(mask);
        c0!.datum = c1!.datum = hi32(datum);
        c2!.datum = lo32(datum);
        for (const c of [c0, c1, c2] as Node[]) c.datum = (c.datum & c.mask) >>> 0;
        c0!.op = Cmp.GT;
        c1!.op = Cmp.EQ;
        c2!.op = a.op === Cmp.GT || a.op === Cmp.LE ? Cmp.GT : Cmp.GE;
        c0!.nxtF = nodeGet(c1!);
        c1!.nxtT = nodeGet(c2!);
        break;
      }
      case Cmp.EQ:
      case Cmp.MASKED_EQ:
      case Cmp.NE: {
        const [c0, c1] = cur as Node[];
        c0!.arg = c1!.arg = arg;
        c0!.argH = true;
        c1!.argH = false;
        c0!.argOffset = argOffsetLo(arg) + 4;
        c1!.argOffset = argOffsetLo(arg);
        c0!.mask = hi32(mask);
        c1!.mask = lo32(mask);
        c0!.datum = (hi32(datum) & c0!.mask) >>> 0;
        c1!.datum = (lo32(datum) & c1!.mask) >>> 0;
        c0!.datumFull = c1!.datumFull = datum;
        c0!.op = c1!.op = a.op === Cmp.MASKED_EQ ? Cmp.MASKED_EQ : Cmp.EQ;
        c0!.opOrig = c1!.opOrig = a.op;
        c0!.nxtT = nodeGet(c1!);
        break;
      }
    }
    if (prev[0] !== null) {
      switch (opPrev) {
        case Cmp.GT:
        case Cmp.GE:
          prev[0]!.nxtT = nodeGet(cur[0]!);
          prev[2]!.nxtT = nodeGet(cur[0]!);
          break;
        case Cmp.EQ:
        case Cmp.MASKED_EQ:
          prev[1]!.nxtT = nodeGet(cur[0]!);
          break;
        case Cmp.LE:
        case Cmp.LT:
          prev[1]!.nxtF = nodeGet(cur[0]!);
          prev[2]!.nxtF = nodeGet(cur[0]!);
          break;
        case Cmp.NE:
          prev[0]!.nxtF = nodeGet(cur[0]!);
          prev[1]!.nxtF = nodeGet(cur[0]!);
          break;
      }
    } else s.chains = nodeGet(cur[0]!);
    prev = cur;
    opPrev = a.op;
  }
  if (prev[0] !== null) {
    const act = rule.action;
    switch (opPrev) {
      case Cmp.GT:
      case Cmp.GE:
        Object.assign(prev[0]!, { actTFlg: true, actT: act });
        Object.assign(prev[2]!, { actTFlg: true, actT: act });
        break;
      case Cmp.LE:
      case Cmp.LT:
        Object.assign(prev[1]!, { actFFlg: true, actF: act });
        Object.assign(prev[2]!, { actFFlg: true, actF: act });
        break;
      case Cmp.EQ:
      case Cmp.MASKED_EQ:
        Object.assign(prev[1]!, { actTFlg: true, actT: act });
        break;
      case Cmp.NE:
        Object.assign(prev[0]!, { actFFlg: true, actF: act });
        Object.assign(prev[1]!, { actFFlg: true, actF: act });
        break;
    }
  } else s.action = rule.action;
  return s;
}

function ruleGen32(rule: ApiRule): SysEntry {
  const s: SysEntry = { num: rule.syscall, chains: null, action: 0 };
  let c: Node | null = null;
  let p: Node | null = null;
  let tf = true;
  for (let i = 0; i < ARG_COUNT_MAX; i++) {
    const a = rule.args[i];
    if (!a) continue;
    if (!needLo(a)) continue;
    c = newNode();
    c.arg = a.arg;
    c.argH = false;
    c.argOffset = argOffsetLo(a.arg);
    c.op = a.op;
    c.opOrig = a.op;
    c.mask = lo32(a.mask);
    c.datum = lo32(a.datum);
    c.datumFull = a.datum;
    if (p !== null) {
      if (tf) p.nxtT = nodeGet(c);
      else p.nxtF = nodeGet(c);
    } else s.chains = nodeGet(c);
    switch (c.op) {
      case Cmp.NE:
        c.op = Cmp.EQ;
        tf = false;
        break;
      case Cmp.LT:
        c.op = Cmp.GE;
        tf = false;
        break;
      case Cmp.LE:
        c.op = Cmp.GT;
        tf = false;
        break;
      default:
        tf = true;
    }
    c.datum = (c.datum & c.mask) >>> 0;
    p = c;
  }
  if (c !== null) {
    if (tf) {
      c.actTFlg = true;
      c.actT = rule.action;
    } else {
      c.actFFlg = true;
      c.actF = rule.action;
    }
  } else s.action = rule.action;
  return s;
}

/** db_rule_add: merge one rule (already translated to this arch's syscall number) into the db.
 * Throws DbError(-EEXIST) where libseccomp refuses the rule. */
export function dbRuleAdd(db: ArchDb, rule: ApiRule): void {
  const sNew = db.size === 64 ? ruleGen64(rule) : ruleGen32(rule);
  const sIter = db.syscalls.get(rule.syscall);
  let rmFlag = false;
  for (;;) {
    // add_reset:
    if (sIter === undefined) {
      db.syscalls.set(rule.syscall, sNew);
      return;
    }
    if (sIter.chains === null) {
      if (rmFlag) {
        sIter.chains = sNew.chains;
        sIter.action = sNew.action;
        return;
      }
      // the existing entry (no conditions) is at least as broad as the new one
      treePut(field(sNew, "chains"));
      return;
    }
    if (sNew.chains === null) {
      // a rule without conditions replaces every conditional rule of the syscall
      treePut(field(sIter, "chains"));
      sIter.chains = null;
      sIter.action = rule.action;
      treePut(field(sNew, "chains"));
      return;
    }
    const state: IterState = { flags: 0, action: rule.action, sx: sIter };
    const rc = treePrune(field(sIter, "chains"), sNew.chains, state);
    if (rc > 0) {
      rmFlag = true;
      if (sIter.chains === null) continue; // pruned the whole tree
    } else if ((state.flags & IST_M_REDUNDANT) === IST_M_REDUNDANT) {
      // the existing tree is "shorter": drop the new one
      treePut(field(sNew, "chains"));
      return;
    }
    const addState: IterState = { flags: 0, action: 0, sx: sIter };
    const arc = treeAdd(field(sIter, "chains"), sNew.chains, addState);
    if (arc < 0) throw new DbError(arc);
    treePut(field(sNew, "chains"));
    return;
  }
}

/** The conditions of a rule as db_col_rule_add files them: by argument number. A second condition
 * on the same argument is -EINVAL (runc never passes one: it splits such rules). */
export function ruleArgs(conds: { arg: number; op: Cmp; a: bigint; b: bigint }[]): (ApiArg | null)[] {
  const args: (ApiArg | null)[] = new Array(ARG_COUNT_MAX).fill(null);
  for (const c of conds) {
    if (c.arg >= ARG_COUNT_MAX || args[c.arg] !== null) throw new DbError(-22);
    args[c.arg] =
      c.op === Cmp.MASKED_EQ
        ? { arg: c.arg, op: c.op, mask: BigInt.asUintN(64, c.a), datum: BigInt.asUintN(64, c.b) }
        : { arg: c.arg, op: c.op, mask: DATUM_MAX, datum: BigInt.asUintN(64, c.a) };
  }
  return args;
}
