// Which parts of linux.resources ask for something (runc's isXxxSet), shared by both managers.

import { toBig } from "./convert.ts";
import type { LinuxRdma, LinuxResources } from "./types.ts";

const nonZero = (v: unknown) => v !== undefined && v !== null && toBig(v as number) !== 0n;
const present = (v: unknown) => v !== undefined && v !== null;

/** Memory settings a v1 cgroup takes (v2 uses only limit, swap and reservation). */
export function memorySet(r: LinuxResources): boolean {
  const m = r.memory;
  if (!m) return false;
  return nonZero(m.limit) || nonZero(m.reservation) || nonZero(m.swap) || !!m.disableOOMKiller || present(m.swappiness);
}

export function memoryLimitsSet(r: LinuxResources): boolean {
  const m = r.memory;
  return !!m && (nonZero(m.limit) || nonZero(m.reservation) || nonZero(m.swap));
}

/** CPU bandwidth/weight settings (cpus and mems belong to cpuset). */
export function cpuSet(r: LinuxResources): boolean {
  const c = r.cpu;
  if (!c) return false;
  return (
    nonZero(c.shares) ||
    nonZero(c.quota) ||
    nonZero(c.period) ||
    present(c.burst) ||
    present(c.idle) ||
    nonZero(c.realtimePeriod) ||
    nonZero(c.realtimeRuntime)
  );
}

export function cpusetSet(r: LinuxResources): boolean {
  return !!(r.cpu?.cpus || r.cpu?.mems);
}

export function blkioSet(r: LinuxResources): boolean {
  const b = r.blockIO;
  if (!b) return false;
  return (
    !!b.weight ||
    !!b.leafWeight ||
    !!b.weightDevice?.length ||
    !!b.throttleReadBpsDevice?.length ||
    !!b.throttleWriteBpsDevice?.length ||
    !!b.throttleReadIOPSDevice?.length ||
    !!b.throttleWriteIOPSDevice?.length
  );
}

export function hugetlbSet(r: LinuxResources): boolean {
  return !!r.hugepageLimits?.length;
}

/** "mlx4_0 hca_handle=2 hca_object=2000" for rdma.max. */
export function rdmaLine(device: string, l: LinuxRdma): string {
  let s = device;
  if (present(l.hcaHandles)) s += ` hca_handle=${l.hcaHandles}`;
  if (present(l.hcaObjects)) s += ` hca_object=${l.hcaObjects}`;
  return s;
}
