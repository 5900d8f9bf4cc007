// `update`: runc's flags (or a linux.resources document with --resources FILE|-) → a checked patch
// for the runtime (src/runtime/update.ts). Parse errors name the flag or field, as runc's do, and
// come before anything is touched.
import { readFileSync } from "node:fs";
import { errnoMessage } from "../../runtime/errno.ts";
import { parseJsonExact, parseResourcesUpdate, type ResourcesPatch, updateContainer } from "../../runtime/update.ts";
import type { CommandContext } from "../context.ts";
import { runtimeFor } from "./runtime.ts";

const INT64_MAX = (1n << 63n) - 1n;
const UINT64_MAX = (1n << 64n) - 1n;

/** docker/go-units RAMInBytes as runc 1.1 vendors it (v0.4.0): "64m", "1.5g", "512 KiB", binary units. */
const SIZE_RE = /^(\d+(\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$/;
const UNITS: Record<string, number> = { k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40, p: 2 ** 50 };

export function ramInBytes(text: string): bigint {
  const m = SIZE_RE.exec(text);
  if (!m) throw new Error(`invalid size: '${text}'`);
  if (!/^\d+(\.\d+)?$/.test(m[1]!)) throw new Error(`strconv.ParseFloat: parsing ${JSON.stringify(m[1])}: invalid syntax`);
  const mul = m[3] ? UNITS[m[3].toLowerCase()]! : 1;
  // Exact for integers; Go's float64 arithmetic otherwise.
  const v = /^\d+$/.test(m[1]!) ? BigInt(m[1]!) * BigInt(mul) : BigInt(Math.trunc(Number(m[1]) * mul));
  if (v > INT64_MAX) throw new Error(`invalid size: '${text}' (more than ${INT64_MAX} bytes)`);
  return v;
}

/** strconv.ParseUint(s, 10, 64) / ParseInt(s, 10, 64), with Go's error texts. */
function parseUint(s: string): bigint {
  if (!/^\d+$/.test(s)) throw new Error(`strconv.ParseUint: parsing ${JSON.stringify(s)}: invalid syntax`);
  const v = BigInt(s);
  if (v > UINT64_MAX) throw new Error(`strconv.ParseUint: parsing ${JSON.stringify(s)}: value out of range`);
  return v;
}
function parseInt64(s: string): bigint {
  if (!/^[+-]?\d+$/.test(s)) throw new Error(`strconv.ParseInt: parsing ${JSON.stringify(s)}: invalid syntax`);
  const v = BigInt(s);
  if (v > INT64_MAX || v < -INT64_MAX - 1n) throw new Error(`strconv.ParseInt: parsing ${JSON.stringify(s)}: value out of range`);
  return v;
}

/** A limit flag: -1 means none; any other negative value is refused (runc would pass it on). */
function checkLimit(flag: string, v: bigint): bigint {
  if (v < -1n) throw new Error(`invalid value for ${flag}: ${v} (must be -1 for no limit, or not negative)`);
  return v;
}

/** The patch runc's flags describe (runc's update.go, flag by flag). */
export function patchFromFlags(f: CommandContext["flags"], warn: (m: string) => void): ResourcesPatch {
  const str = (name: string) => {
    const v = f[name];
    return typeof v === "string" && v !== "" ? v : undefined;
  };
  const wrap = <T>(flag: string, fn: () => T): T => {
    try {
      return fn();
    } catch (e) {
      throw new Error(`invalid value for ${flag}: ${(e as Error).message}`);
    }
  };
  const p: ResourcesPatch = { memory: {}, cpu: {}, blockIO: {}, pids: {} };
  const weight = f["blkio-weight"];
  if (typeof weight === "number" && weight !== 0) {
    if (weight < 0 || weight > 65535) throw new Error(`invalid value for blkio-weight: ${weight} (range is from 10 to 1000)`);
    p.blockIO!.weight = weight;
  }
  if (str("cpuset-cpus")) p.cpu!.cpus = str("cpuset-cpus");
  if (str("cpuset-mems")) p.cpu!.mems = str("cpuset-mems");
  for (const [flag, key] of [["cpu-period", "period"], ["cpu-rt-period", "realtimePeriod"], ["cpu-share", "shares"]] as const) {
    const v = str(flag);
    if (v !== undefined) p.cpu![key] = wrap(flag, () => parseUint(v));
  }
  for (const [flag, key] of [["cpu-quota", "quota"], ["cpu-rt-runtime", "realtimeRuntime"]] as const) {
    const v = str(flag);
    if (v !== undefined) p.cpu![key] = checkLimit(flag, wrap(flag, () => parseInt64(v)));
  }
  for (const [flag, key] of [["memory", "limit"], ["memory-swap", "swap"], ["memory-reservation", "reservation"]] as const) {
    const v = str(flag);
    if (v !== undefined) p.memory![key] = v === "-1" ? -1n : wrap(flag, () => ramInBytes(v));
  }
  if (str("kernel-memory") !== undefined || str("kernel-memory-tcp") !== undefined) {
    warn("Kernel memory settings are ignored and will be removed");
  }
  const pids = f["pids-limit"];
  if (typeof pids === "number" && pids !== 0) p.pids!.limit = checkLimit("pids-limit", BigInt(pids));
  return p;
}

function readResources(path: string): string {
  try {
    return readFileSync(path === "-" ? 0 : path, "utf8");
  } catch (e) {
    throw new Error(`open ${path}: ${errnoMessage(e)}`);
  }
}

export function run(ctx: CommandContext): number {
  const rt = runtimeFor(ctx);
  const id = ctx.args[0]!;
  // runc looks the container up first.
  rt.store.load(id);
  let patch: ResourcesPatch;
  const file = ctx.flags.resources;
  if (typeof file === "string" && file !== "") {
    const text = readResources(file);
    let doc: unknown;
    try {
      doc = parseJsonExact(text);
    } catch (e) {
      throw new Error(`invalid resources JSON in ${file === "-" ? "the standard input" : file}: ${(e as Error).message}`);
    }
    patch = parseResourcesUpdate(doc, (m) => ctx.log.warn(m));
  } else {
    patch = patchFromFlags(ctx.flags, (m) => ctx.log.warn(m));
  }
  // tsrunc has no Intel RDT support: refused with runc's words for a host without it.
  if (typeof ctx.flags["l3-cache-schema"] === "string" && ctx.flags["l3-cache-schema"] !== "")
    throw new Error("Intel RDT/CAT: l3 cache schema is not enabled");
  if (typeof ctx.flags["mem-bw-schema"] === "string" && ctx.flags["mem-bw-schema"] !== "")
    throw new Error("Intel RDT/MBA: memory bandwidth schema is not enabled");
  updateContainer(rt, id, patch);
  return 0;
}
