// Value conversions between the OCI config (cgroup v1 units) and cgroup files, as runc 1.1 does them.

import { CgroupError } from "./errors.ts";
import type { CgroupFs } from "./fsops.ts";
import type { Int } from "./types.ts";

export function toBig(v: Int): bigint {
  if (typeof v === "bigint") return v;
  if (!Number.isFinite(v)) throw new CgroupError(`not a finite number: ${v}`);
  return BigInt(Math.trunc(v));
}

/** Decimal text of an integer, never in exponent notation. */
export function intStr(v: Int): string {
  return toBig(v).toString();
}

/** cpu.shares (v1, 2…262144, default 1024) → cpu.weight (v2, 1…10000, default 100), runc 1.1's
 * linear map: 1 + ((shares - 2) * 9999) / 262142 (integer division); 0 stays 0 ("unset"). */
export function sharesToWeight(shares: Int): bigint {
  const s = toBig(shares);
  if (s === 0n) return 0n;
  // In uint64 arithmetic, as runc: shares of 1 wrap around (and the kernel rejects the result).
  const mask = (1n << 64n) - 1n;
  return 1n + (((s - 2n) & mask) * 9999n & mask) / 262142n;
}

/** blkio.weight (10…1000) → io.weight (1…10000) when BFQ's io.bfq.weight is absent. */
export function blkioWeightToIoWeight(weight: number): bigint {
  if (weight === 0) return 0n;
  return 1n + (BigInt(weight) - 10n) * 9999n / 990n;
}

/** memory.swap of the spec is memory+swap (v1); v2's memory.swap.max is swap alone. */
export function memorySwapToV2(memorySwap: bigint, memory: bigint): bigint {
  if (memory === -1n && memorySwap === 0n) return -1n;
  if (memorySwap === -1n || memorySwap === 0n) return memorySwap;
  if (memory === 0n || memory === -1n) throw new CgroupError("unable to set swap limit without memory limit");
  if (memory < 0n) throw new CgroupError(`invalid memory value: ${memory}`);
  if (memorySwap < memory) throw new CgroupError("memory+swap limit should be >= memory limit");
  return memorySwap - memory;
}

/** v2 value text for *.max/*.low: -1 → "max", 0 → "" (leave alone). */
export function v2LimitStr(v: bigint): string {
  if (v === 0n) return "";
  if (v === -1n) return "max";
  return v.toString();
}

/** Page sizes the kernel offers, in cgroup file naming ("2MB", "1GB", "64KB"), from
 * /sys/kernel/mm/hugepages/hugepages-<n>kB. */
export function hugePageSizes(fs: CgroupFs, dir = "/sys/kernel/mm/hugepages"): string[] {
  const sizes: string[] = [];
  for (const name of fs.subdirs(dir)) {
    const m = /^hugepages-(\d+)kB$/.exec(name);
    if (!m) continue;
    const kb = Number(m[1]);
    if (kb >= 1 << 20) sizes.push(`${kb >> 20}GB`);
    else if (kb >= 1 << 10) sizes.push(`${kb >> 10}MB`);
    else sizes.push(`${kb}KB`);
  }
  return sizes;
}

/** Checks that every requested huge page size exists on the host, naming the one that doesn't. */
export function checkHugePageSizes(requested: string[], available: string[]): void {
  for (const size of requested) {
    if (!available.includes(size)) {
      const have = available.length ? available.join(", ") : "none";
      throw new CgroupError(`hugepageLimits: page size ${JSON.stringify(size)} is not supported by this host (available: ${have})`, {
        controller: "hugetlb",
      });
    }
  }
}

/** Parses a cgroup counter like runc's fscommon.ParseUint: "max" → 2^64-1, a negative → 0. */
export function parseU64(text: string): bigint {
  const t = text.trim();
  if (t === "max") return 0xffff_ffff_ffff_ffffn;
  if (!/^-?\d+$/.test(t)) throw new CgroupError(`cannot parse ${JSON.stringify(t)} as a number`);
  const v = BigInt(t);
  return v < 0n ? 0n : v;
}

/** "name value" lines → map (memory.stat, cpu.stat …). Malformed lines are skipped. */
export function parseKeyValues(text: string): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const line of text.split("\n")) {
    const parts = line.split(" ");
    if (parts.length !== 2 || !/^-?\d+$/.test(parts[1]!.trim())) continue;
    out.set(parts[0]!, parseU64(parts[1]!));
  }
  return out;
}

/** "0-3,5" → [0,1,2,3,5]. */
export function parseCpuList(text: string): number[] {
  const out: number[] = [];
  for (const part of text.trim().split(",")) {
    if (!part) continue;
    const [a, b, extra] = part.split("-");
    if (extra !== undefined) throw new CgroupError(`malformed cpu list ${JSON.stringify(text.trim())}`);
    const lo = Number(a);
    const hi = b === undefined ? lo : Number(b);
    if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo > hi) {
      throw new CgroupError(`malformed cpu list ${JSON.stringify(text.trim())}`);
    }
    for (let i = lo; i <= hi; i++) out.push(i);
  }
  return out;
}
