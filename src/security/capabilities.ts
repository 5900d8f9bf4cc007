// Capability names (as in the runtime-spec) and the masks the init's capset/prctl ops take.
import { readFileSync } from "node:fs";
import { CAPABILITY_NAMES } from "../spec/types.ts";

export const CAPABILITIES = CAPABILITY_NAMES;

let lastCap: number | undefined;

/** The highest capability this kernel knows (/proc/sys/kernel/cap_last_cap). */
export function lastCapability(): number {
  if (lastCap === undefined) {
    try {
      lastCap = Number(readFileSync("/proc/sys/kernel/cap_last_cap", "utf8").trim());
    } catch {
      lastCap = CAPABILITIES.length - 1;
    }
  }
  return lastCap;
}

/** Number of a capability name; runc 1.1 ignores names it does not know (with a warning). */
export function capabilityNumber(name: string): number | undefined {
  const i = (CAPABILITIES as readonly string[]).indexOf(name.toUpperCase());
  return i >= 0 ? i : undefined;
}

export interface CapabilitySets {
  bounding: number[];
  effective: number[];
  permitted: number[];
  inheritable: number[];
  ambient: number[];
}

export function resolveCapabilities(
  caps: Partial<Record<keyof CapabilitySets, string[]>> | undefined,
  warn: (msg: string) => void = () => {},
): CapabilitySets {
  const out: CapabilitySets = { bounding: [], effective: [], permitted: [], inheritable: [], ambient: [] };
  const last = lastCapability();
  for (const key of Object.keys(out) as (keyof CapabilitySets)[]) {
    const unknown: string[] = [];
    for (const name of caps?.[key] ?? []) {
      const n = capabilityNumber(name);
      if (n === undefined || n > last) unknown.push(name);
      else if (!out[key].includes(n)) out[key].push(n);
    }
    if (unknown.length) warn(`ignoring unknown or unavailable capabilities: [${unknown.join(" ")}]`);
  }
  return out;
}

export function mask(caps: number[]): bigint {
  let m = 0n;
  for (const c of caps) m |= 1n << BigInt(c);
  return m;
}
