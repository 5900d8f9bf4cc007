// Capability names (as in the runtime-spec) and the masks the init's capset/prctl ops take.
import { readFileSync } from "node:fs";

export const CAPABILITIES = [
  "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
  "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
  "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
  "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
  "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
  "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
  "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
] as const;

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
