// Unit properties of a container's transient unit, as runc 1.1's systemd driver sets them: the ones
// StartTransientUnit gets (description, slice, delegation, accounting, the init's pid, the
// `org.systemd.property.*` annotations) and the ones linux.resources turn into (SetUnitProperties
// in set(), before the cgroup files are written directly as with the cgroupfs driver).

import { memorySwapToV2, sharesToWeight, toBig } from "../convert.ts";
import { DeviceEmulator, deviceRulesFromSpec } from "../devices.ts";
import { CgroupError } from "../errors.ts";
import type { CgroupFs } from "../fsops.ts";
import type { LinuxResources } from "../types.ts";
import { type DbusValue, splitSignature, Variant } from "./dbus.ts";

export interface UnitProperty {
  name: string;
  value: Variant;
}

const U64_MAX = (1n << 64n) - 1n;
/** runc's default CFS period (µs), the kernel's too. */
const DEFAULT_CPU_PERIOD = 100_000n;

const prop = (name: string, signature: string, value: DbusValue): UnitProperty => ({ name, value: new Variant(signature, value) });
/** Go's uint64(x) of an int64: -1 (unlimited) becomes 2^64-1, systemd's "infinity". */
const u64 = (v: bigint): bigint => BigInt.asUintN(64, v);

export interface StartOptions {
  containerId: string;
  unitName: string;
  /** The slice the unit goes in: Slice= of a scope, Wants= of a slice. */
  slice: string;
  pid: number;
  kind: "v1" | "v2";
  /** From annotations (annotationProperties). */
  extra: UnitProperty[];
}

/** What runc's Apply passes to StartTransientUnit, in its order. */
export function startProperties(o: StartOptions): UnitProperty[] {
  const props = [prop("Description", "s", `libcontainer container ${o.containerId}`)];
  if (o.unitName.endsWith(".slice")) {
    props.push(prop("Wants", "as", [o.slice]));
  } else {
    props.push(prop("Slice", "s", o.slice), prop("Delegate", "b", true));
  }
  if (o.pid !== -1) props.push(prop("PIDs", "au", [o.pid]));
  // Accounting always on: the same controllers as the cgroupfs driver, and memory accounting
  // switched on later would not charge what the container already uses.
  props.push(
    prop("MemoryAccounting", "b", true),
    prop("CPUAccounting", "b", true),
    prop(o.kind === "v2" ? "IOAccounting" : "BlockIOAccounting", "b", true),
    prop("TasksAccounting", "b", true),
    prop("DefaultDependencies", "b", false),
  );
  return [...props, ...o.extra];
}

// ---- annotations ---------------------------------------------------------------------------------

const ANNOTATION_PREFIX = "org.systemd.property.";

/** `org.systemd.property.<Name>` annotations → properties, as runc's initSystemdProps: a name of at
 * least 3 ASCII letters, a GVariant-text value, and "<x>Sec" names turned into "<x>USec" (seconds
 * to microseconds). Throws on a bad name or value. */
export function annotationProperties(annotations: Record<string, string> | undefined): UnitProperty[] {
  const out: UnitProperty[] = [];
  for (const [key, text] of Object.entries(annotations ?? {})) {
    if (!key.startsWith(ANNOTATION_PREFIX)) continue;
    let name = key.slice(ANNOTATION_PREFIX.length);
    if (name.length < 3) throw new CgroupError(`annotation ${key} name incorrect: too short`);
    if (!/^[A-Za-z]+$/.test(name)) throw new CgroupError(`annotation ${key} name incorrect: contains non-alphabetic character`);
    let value: Variant;
    try {
      value = parseGVariant(text);
      const base = name.slice(0, -3);
      if (name.endsWith("Sec") && /[a-z]$/.test(base)) {
        name = `${base}USec`;
        value = secToUSec(value);
      }
    } catch (err) {
      throw new CgroupError(`annotation ${key}=${text} value parse error: ${(err as Error).message}`);
    }
    out.push({ name, value });
  }
  return out;
}

function secToUSec(v: Variant): Variant {
  const M = 1_000_000n;
  if (v.signature.length === 1 && "ynqiuxt".includes(v.signature)) return new Variant("t", u64(toBig(v.value as number | bigint) * M));
  if (v.signature === "d") return new Variant("t", u64(BigInt(Math.trunc((v.value as number) * 1e6))));
  throw new Error("not a number");
}

const TYPE_KEYWORDS: Record<string, string> = {
  boolean: "b",
  byte: "y",
  int16: "n",
  uint16: "q",
  int32: "i",
  uint32: "u",
  int64: "x",
  uint64: "t",
  double: "d",
  string: "s",
  objectpath: "o",
  signature: "g",
};

/** The GVariant text format (what runc reads annotation values with), the part systemd properties
 * need: booleans, numbers (int32, or double with a point or exponent, unless typed), quoted strings,
 * type keywords ("uint64 5") and @-annotations ("@as []"), arrays [ ], tuples ( ) and variants < >. */
export function parseGVariant(text: string): Variant {
  const p = new GVariantParser(text);
  const v = p.value();
  p.skipSpace();
  if (!p.done()) throw new Error(`unexpected ${JSON.stringify(text.slice(p.pos, p.pos + 10))} after the value`);
  return v;
}

class GVariantParser {
  pos = 0;
  constructor(private readonly s: string) {}

  done(): boolean {
    return this.pos >= this.s.length;
  }

  skipSpace(): void {
    while (/\s/.test(this.s[this.pos] ?? "")) this.pos++;
  }

  private peek(): string {
    this.skipSpace();
    return this.s[this.pos] ?? "";
  }

  private expect(c: string): void {
    if (this.peek() !== c) throw new Error(`expected ${JSON.stringify(c)} at offset ${this.pos}`);
    this.pos++;
  }

  /** One value; `type` is the signature it must have, when already known. */
  value(type?: string): Variant {
    const c = this.peek();
    if (c === "@") {
      this.pos++;
      const sig = /^[a-z(){}]+/.exec(this.s.slice(this.pos))?.[0];
      if (!sig) throw new Error(`missing type after @ at offset ${this.pos}`);
      // The annotation is one complete type: the shortest prefix that is one.
      const one = firstType(sig);
      this.pos += one.length;
      return this.value(this.unify(type, one));
    }
    const word = /^[a-z][a-z0-9]*/.exec(this.s.slice(this.pos))?.[0];
    if (word && TYPE_KEYWORDS[word] && /\s/.test(this.s[this.pos + word.length] ?? "")) {
      this.pos += word.length;
      return this.value(this.unify(type, TYPE_KEYWORDS[word]!));
    }
    if (word === "true" || word === "false") {
      this.pos += word.length;
      this.unify(type, "b");
      return new Variant("b", word === "true");
    }
    if (c === "'" || c === '"') {
      const t = this.unify(type, type === "o" || type === "g" ? type : "s");
      return new Variant(t, this.string());
    }
    if (c === "[") return this.array(type);
    if (c === "(") return this.tuple(type);
    if (c === "<") {
      this.pos++;
      const inner = this.value();
      this.expect(">");
      this.unify(type, "v");
      return new Variant("v", inner);
    }
    if (/[-+0-9.]/.test(c)) return this.number(type);
    throw new Error(c ? `unexpected ${JSON.stringify(c)} at offset ${this.pos}` : "empty value");
  }

  private unify(want: string | undefined, got: string): string {
    if (want !== undefined && want !== got) throw new Error(`expected a value of type ${want}, got ${got}`);
    return got;
  }

  private string(): string {
    const q = this.s[this.pos++]!;
    let out = "";
    for (;;) {
      const ch = this.s[this.pos++];
      if (ch === undefined) throw new Error("unterminated string");
      if (ch === q) return out;
      if (ch !== "\\") {
        out += ch;
        continue;
      }
      const e = this.s[this.pos++];
      const simple: Record<string, string> = { n: "\n", t: "\t", r: "\r", b: "\b", f: "\f", v: "\v", "\\": "\\", "'": "'", '"': '"' };
      if (e !== undefined && simple[e] !== undefined) out += simple[e];
      else if (e === "u" || e === "U") {
        const n = e === "u" ? 4 : 8;
        const hex = this.s.slice(this.pos, this.pos + n);
        if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(hex)) throw new Error("bad unicode escape");
        out += String.fromCodePoint(parseInt(hex, 16));
        this.pos += n;
      } else throw new Error(`bad escape \\${e ?? ""}`);
    }
  }

  private number(type?: string): Variant {
    const m = /^[-+]?(0x[0-9a-fA-F]+|[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?|inf|nan)/.exec(this.s.slice(this.pos));
    if (!m) throw new Error(`bad number at offset ${this.pos}`);
    const text = m[0];
    this.pos += text.length;
    const isFloat = !/0x/i.test(text) && /[.eE]|inf|nan/.test(text);
    const t = type ?? (isFloat ? "d" : "i");
    if (t === "d") return new Variant("d", Number(text));
    if (isFloat) throw new Error(`${text} is not an integer`);
    const neg = text.startsWith("-");
    const mag = BigInt(text.replace(/^[-+]/, ""));
    const v = neg ? -mag : mag;
    const ranges: Record<string, [bigint, bigint]> = {
      y: [0n, 0xffn],
      n: [-0x8000n, 0x7fffn],
      q: [0n, 0xffffn],
      i: [-0x8000_0000n, 0x7fff_ffffn],
      u: [0n, 0xffff_ffffn],
      x: [-(1n << 63n), (1n << 63n) - 1n],
      t: [0n, U64_MAX],
    };
    const r = ranges[t];
    if (!r) throw new Error(`a number cannot be of type ${t}`);
    if (v < r[0] || v > r[1]) throw new Error(`${text} is out of range for type ${t}`);
    return new Variant(t, t === "x" || t === "t" ? v : Number(v));
  }

  private array(type?: string): Variant {
    if (type !== undefined && !type.startsWith("a")) throw new Error(`expected a value of type ${type}, got an array`);
    this.pos++;
    let elem = type?.slice(1);
    const items: DbusValue[] = [];
    while (this.peek() !== "]") {
      if (items.length) this.expect(",");
      const v = this.value(elem);
      elem ??= v.signature;
      items.push(v.value);
    }
    this.pos++;
    if (elem === undefined) throw new Error("the type of an empty array must be given (e.g. @as [])");
    return new Variant(`a${elem}`, items);
  }

  private tuple(type?: string): Variant {
    const fields = type !== undefined ? splitTuple(type) : undefined;
    this.pos++;
    const values: DbusValue[] = [];
    const sigs: string[] = [];
    while (this.peek() !== ")") {
      if (values.length) this.expect(",");
      const v = this.value(fields?.[values.length]);
      values.push(v.value);
      sigs.push(v.signature);
    }
    this.pos++;
    if (values.length === 0) throw new Error("empty tuple");
    const sig = `(${sigs.join("")})`;
    return new Variant(this.unify(type, sig), values);
  }
}

/** The complete type at the start of `sig`. */
function firstType(sig: string): string {
  for (let n = 1; n <= sig.length; n++) {
    try {
      if (splitSignature(sig.slice(0, n)).length === 1) return sig.slice(0, n);
    } catch {
      /* not yet complete */
    }
  }
  throw new Error(`invalid type ${JSON.stringify(sig)}`);
}

function splitTuple(type: string): string[] {
  if (!type.startsWith("(")) throw new Error(`expected a value of type ${type}, got a tuple`);
  const out: string[] = [];
  let rest = type.slice(1, -1);
  while (rest) {
    const t = firstType(rest);
    out.push(t);
    rest = rest.slice(t.length);
  }
  return out;
}

// ---- resources -----------------------------------------------------------------------------------

export interface ResourceContext {
  /** systemd's version (Manager.Version): older ones lack some properties. */
  systemdVersion: number;
  /** Reads /proc/devices and checks /dev paths (device rules). */
  fs: CgroupFs;
  skipDevices?: boolean;
  warn?: (msg: string) => void;
}

/** linux.resources → unit properties: runc's genV2ResourcesProperties / genV1ResourcesProperties. */
export function resourceProperties(r: LinuxResources, kind: "v1" | "v2", ctx: ResourceContext): UnitProperty[] {
  const props = deviceProperties(r, ctx);
  const limit = r.memory?.limit !== undefined ? toBig(r.memory.limit) : 0n;
  const shares = r.cpu?.shares !== undefined ? toBig(r.cpu.shares) : 0n;
  if (kind === "v2") {
    if (limit !== 0n) props.push(prop("MemoryMax", "t", u64(limit)));
    const reservation = r.memory?.reservation !== undefined ? toBig(r.memory.reservation) : 0n;
    if (reservation !== 0n) props.push(prop("MemoryLow", "t", u64(reservation)));
    const swap = memorySwapToV2(r.memory?.swap !== undefined ? toBig(r.memory.swap) : 0n, limit);
    if (swap !== 0n) props.push(prop("MemorySwapMax", "t", u64(swap)));
    const weight = sharesToWeight(shares);
    if (weight !== 0n) props.push(prop("CPUWeight", "t", weight));
  } else {
    if (limit !== 0n) props.push(prop("MemoryLimit", "t", u64(limit)));
    if (shares !== 0n) props.push(prop("CPUShares", "t", u64(shares)));
  }
  const quota = r.cpu?.quota !== undefined ? toBig(r.cpu.quota) : 0n;
  const period = r.cpu?.period !== undefined ? toBig(r.cpu.period) : 0n;
  props.push(...cpuQuotaProperties(quota, period, ctx.systemdVersion));
  if (kind === "v1" && r.blockIO?.weight) props.push(prop("BlockIOWeight", "t", BigInt(r.blockIO.weight)));
  const pids = r.pids ? toBig(r.pids.limit) : 0n;
  if (pids > 0n || pids === -1n) props.push(prop("TasksMax", "t", u64(pids)));
  props.push(...cpusetProperties(r.cpu?.cpus, r.cpu?.mems, ctx.systemdVersion));
  if (kind === "v2" && r.unified) props.push(...unifiedProperties(r.unified, ctx.systemdVersion));
  return props;
}

/** CPUQuotaPerSecUSec (rounded up to whole percents, as systemd keeps CPUQuota in percent) and,
 * from systemd 242 on, CPUQuotaPeriodUSec. */
export function cpuQuotaProperties(quota: bigint, period: bigint, systemdVersion: number): UnitProperty[] {
  const out: UnitProperty[] = [];
  if (period !== 0n && systemdVersion >= 242) out.push(prop("CPUQuotaPeriodUSec", "t", u64(period)));
  if (quota !== 0n || period !== 0n) {
    let perSec = U64_MAX; // systemd's USEC_INFINITY
    if (quota > 0n) {
      perSec = u64(quota * 1_000_000n) / u64(period !== 0n ? period : DEFAULT_CPU_PERIOD);
      if (perSec % 10_000n !== 0n) perSec = (perSec / 10_000n + 1n) * 10_000n;
    }
    out.push(prop("CPUQuotaPerSecUSec", "t", perSec));
  }
  return out;
}

function cpusetProperties(cpus: string | undefined, mems: string | undefined, systemdVersion: number): UnitProperty[] {
  if ((!cpus && !mems) || systemdVersion < 244) return [];
  const out: UnitProperty[] = [];
  if (cpus) out.push(prop("AllowedCPUs", "ay", rangeToBits(cpus, "linux.resources.cpu.cpus")));
  if (mems) out.push(prop("AllowedMemoryNodes", "ay", rangeToBits(mems, "linux.resources.cpu.mems")));
  return out;
}

/** "0-2,7" → systemd's CPU set bitmask: bit n of byte n/8 for cpu n (runc's RangeToBits). */
export function rangeToBits(list: string, what = "cpu list"): Uint8Array {
  const bits: number[] = [];
  const fail = (why: string) => new CgroupError(`${what}=${JSON.stringify(list)} conversion error: ${why}`);
  for (const raw of list.split(",")) {
    const part = raw.trim();
    if (!part) continue;
    const [a, b, extra] = part.split("-");
    const num = (s: string | undefined) => {
      if (s === undefined || !/^\d+$/.test(s.trim()) || Number(s) > 0xffff_ffff) throw fail(`invalid number ${JSON.stringify(s)}`);
      return Number(s);
    };
    if (extra !== undefined) throw fail(`invalid range ${part}`);
    const lo = num(a);
    const hi = b === undefined ? lo : num(b);
    if (lo > hi) throw fail(`invalid range: ${part}`);
    if (hi >= 1 << 20) throw fail(`${hi} is too large`);
    for (let i = lo; i <= hi; i++) bits[i] = 1;
  }
  if (bits.length === 0) throw fail("empty value");
  const out = new Uint8Array(Math.ceil(bits.length / 8));
  bits.forEach((on, i) => {
    if (on) out[i >> 3]! |= 1 << (i & 7);
  });
  return out;
}

/** linux.resources.unified entries systemd has properties for (runc's unifiedResToSystemdProps);
 * the rest are only written to the cgroup files. */
function unifiedProperties(unified: Record<string, string>, systemdVersion: number): UnitProperty[] {
  const out: UnitProperty[] = [];
  const parseU64 = (k: string, v: string): bigint => {
    if (v === "max") return U64_MAX;
    if (!/^\d+$/.test(v) || BigInt(v) > U64_MAX) throw new CgroupError(`unified resource ${JSON.stringify(k)} value conversion error: ${JSON.stringify(v)}`);
    return BigInt(v);
  };
  const memory: Record<string, string> = {
    "memory.high": "MemoryHigh",
    "memory.low": "MemoryLow",
    "memory.min": "MemoryMin",
    "memory.max": "MemoryMax",
    "memory.swap.max": "MemorySwapMax",
  };
  for (const [k, raw] of Object.entries(unified)) {
    if (k.includes("/")) throw new CgroupError(`unified resource ${JSON.stringify(k)} must be a file name (no slashes)`);
    if (k.split(".").length < 2) throw new CgroupError(`unified resource ${JSON.stringify(k)} must be in the form CONTROLLER.PARAMETER`);
    const v = raw.trim();
    if (k === "cpu.max") {
      const f = v.split(/\s+/);
      if (f.length < 1 || f.length > 2 || !f[0]) throw new CgroupError(`unified resource ${JSON.stringify(k)} value invalid: ${JSON.stringify(v)}`);
      const bad = () => new CgroupError(`unified resource ${JSON.stringify(k)} value conversion error: ${JSON.stringify(v)}`);
      if (f[0] !== "max" && !/^-?\d+$/.test(f[0])) throw bad();
      if (f[1] !== undefined && !/^\d+$/.test(f[1])) throw bad();
      const quota = f[0] === "max" ? 0n : BigInt(f[0]);
      out.push(...cpuQuotaProperties(quota, f[1] !== undefined ? BigInt(f[1]) : DEFAULT_CPU_PERIOD, systemdVersion));
    } else if (k === "cpu.weight") {
      out.push(prop("CPUWeight", "t", parseU64(k, v)));
    } else if (k === "cpuset.cpus" || k === "cpuset.mems") {
      if (systemdVersion >= 244) {
        out.push(prop(k === "cpuset.cpus" ? "AllowedCPUs" : "AllowedMemoryNodes", "ay", rangeToBits(v, `unified resource "${k}"`)));
      }
    } else if (memory[k]) {
      out.push(prop(memory[k]!, "t", parseU64(k, v)));
    } else if (k === "pids.max") {
      out.push(prop("TasksMax", "t", parseU64(k, v)));
    }
  }
  return out;
}

// ---- devices -------------------------------------------------------------------------------------

/** Device rules → DevicePolicy + DeviceAllow (runc's generateDeviceProperties). systemd knows only
 * allow-lists: a deny-list other than "allow everything" becomes deny-all here (the rules are
 * enforced exactly by the cgroup writes that follow). */
function deviceProperties(r: LinuxResources, ctx: ResourceContext): UnitProperty[] {
  if (ctx.skipDevices || r.devices === undefined) return [];
  const warn = ctx.warn ?? (() => {});
  const strict = [prop("DevicePolicy", "s", "strict"), prop("DeviceAllow", "a(ss)", [])];
  const emu = DeviceEmulator.fromRules(deviceRulesFromSpec(r.devices));
  if (emu.defaultAllow) {
    if (emu.rules.size === 0) return [prop("DevicePolicy", "s", "auto"), prop("DeviceAllow", "a(ss)", [])];
    warn("systemd doesn't support blacklist device rules -- applying temporary deny-all rule");
    return strict;
  }
  const allow: [string, string][] = [];
  for (const rule of emu.exceptions()) {
    if (rule.type === "a") continue; // exceptions are of "b" or "c" devices only
    const prefix = rule.type === "b" ? "block-" : "char-";
    const dir = rule.type === "b" ? "/dev/block" : "/dev/char";
    let path: string;
    if (rule.major < 0) {
      if (rule.minor >= 0) {
        warn(`systemd doesn't support '*:n' device rules -- temporarily ignoring rule: ${rule.type} *:${rule.minor} ${rule.access}`);
        continue;
      }
      path = `${prefix}*`;
    } else if (rule.minor < 0) {
      const group = deviceGroup(ctx.fs, rule.type, rule.major);
      if (!group) {
        warn(`could not find device group for '${rule.type}/${rule.major}' in /proc/devices -- temporarily ignoring rule`);
        continue;
      }
      path = `${prefix}${group}`;
    } else {
      path = `${dir}/${rule.major}:${rule.minor}`;
      // Before v240 systemd stat()s the path and drops a rule for a device that isn't there.
      if (ctx.systemdVersion < 240 && !ctx.fs.exists(path)) continue;
    }
    allow.push([path, rule.access]);
  }
  return [...strict, prop("DeviceAllow", "a(ss)", allow)];
}

/** The name /proc/devices gives a (type, major): systemd's "char-<name>" device groups. */
function deviceGroup(fs: CgroupFs, type: "b" | "c", major: number): string | undefined {
  let text: string;
  try {
    text = fs.read("/proc/devices");
  } catch (err) {
    throw new CgroupError(`unable to find device '${type}/${major}': ${(err as Error).message}`);
  }
  let section = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "Character devices:") section = "c";
    else if (line === "Block devices:") section = "b";
    else if (section === type) {
      const m = /^(\d+)\s+(\S+)/.exec(line);
      if (m && Number(m[1]) === major) return m[2];
    }
  }
  return undefined;
}
