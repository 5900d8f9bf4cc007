// Stats in the shape `runc events --stats` prints, and a JSON printer that keeps uint64 exact.

import { parseCpuList, parseKeyValues, parseU64 } from "./convert.ts";
import type { CgroupFiles } from "./fsops.ts";
import type { CgroupStats, StatsBlkioEntry, StatsMemoryEntry } from "./types.ts";

export function emptyStats(): CgroupStats {
  const mem = (): StatsMemoryEntry => ({ limit: 0n, failcnt: 0n });
  return {
    cpu: { usage: { kernel: 0n, user: 0n }, throttling: {} },
    cpuset: {
      cpu_exclusive: 0n,
      mem_hardwall: 0n,
      mem_exclusive: 0n,
      memory_migrate: 0n,
      memory_spread_page: 0n,
      memory_spread_slab: 0n,
      memory_pressure: 0n,
      sched_load_balance: 0n,
      sched_relax_domain_level: 0n,
    },
    memory: { usage: mem(), swap: mem(), kernel: mem(), kernelTCP: mem() },
    pids: {},
    blkio: {},
    hugetlb: {},
    intel_rdt: {},
    network_interfaces: null,
  };
}

/** Sets obj[k] = v unless v is zero/empty (Go's omitempty), so the JSON matches runc's. */
export function setNonZero<T extends object, K extends keyof T>(obj: T, k: K, v: T[K]): void {
  if (v === undefined || v === 0n || v === 0 || v === "" || (Array.isArray(v) && v.length === 0)) {
    delete obj[k];
    return;
  }
  obj[k] = v;
}

/** A map with keys in Go's encoding/json order (sorted). */
export function sortedRecord<V>(m: Map<string, V>): Record<string, V> {
  const out: Record<string, V> = {};
  for (const k of [...m.keys()].sort()) out[k] = m.get(k)!;
  return out;
}

/** JSON.stringify for values holding bigint (printed as plain numbers); undefined members are left out. */
export function stringifyJSON(value: unknown): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "bigint":
      return value.toString();
    case "number":
      return Number.isFinite(value) ? JSON.stringify(value) : "null";
    case "string":
    case "boolean":
      return JSON.stringify(value);
    case "undefined":
    case "function":
    case "symbol":
      return "null";
  }
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? "null" : stringifyJSON(v))).join(",")}]`;
  const parts: string[] = [];
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (v === undefined || typeof v === "function" || typeof v === "symbol") continue;
    parts.push(`${JSON.stringify(k)}:${stringifyJSON(v)}`);
  }
  return `{${parts.join(",")}}`;
}

// ---- v1 readers --------------------------------------------------------------------------------

const U64_MAX = 0xffff_ffff_ffff_ffffn;
const NS_PER_TICK = 10_000_000n; // 1e9 / USER_HZ (100 on Linux)

export function readCpuacctStats(files: CgroupFiles, dir: string, st: CgroupStats): void {
  const stat = files.readOptional(dir, "cpuacct.stat");
  if (stat === undefined) return;
  const kv = parseKeyValues(stat);
  st.cpu.usage.user = (kv.get("user") ?? 0n) * NS_PER_TICK;
  st.cpu.usage.kernel = (kv.get("system") ?? 0n) * NS_PER_TICK;
  setNonZero(st.cpu.usage, "total", parseU64(files.read(dir, "cpuacct.usage")));
  const percpu = files.readOptional(dir, "cpuacct.usage_percpu");
  if (percpu !== undefined) setNonZero(st.cpu.usage, "percpu", percpu.trim().split(/\s+/).filter(Boolean).map(parseU64));
  const all = files.readOptional(dir, "cpuacct.usage_all");
  if (all !== undefined) {
    // "cpu user system" header, then one line per cpu.
    const kernel: bigint[] = [];
    const user: bigint[] = [];
    for (const line of all.split("\n").slice(1)) {
      const f = line.trim().split(" ");
      if (f.length !== 3) continue;
      user.push(parseU64(f[1]!));
      kernel.push(parseU64(f[2]!));
    }
    setNonZero(st.cpu.usage, "percpu_kernel", kernel);
    setNonZero(st.cpu.usage, "percpu_user", user);
  }
}

export function readCpuThrottling(files: CgroupFiles, dir: string, st: CgroupStats, v2: boolean): void {
  const text = files.readOptional(dir, "cpu.stat");
  if (text === undefined) return;
  const kv = parseKeyValues(text);
  const t = st.cpu.throttling;
  setNonZero(t, "periods", kv.get("nr_periods"));
  setNonZero(t, "throttledPeriods", kv.get("nr_throttled"));
  if (v2) {
    const us = (k: string) => (kv.has(k) ? kv.get(k)! * 1000n : undefined);
    setNonZero(t, "throttledTime", us("throttled_usec"));
    setNonZero(st.cpu.usage, "total", us("usage_usec"));
    st.cpu.usage.user = us("user_usec") ?? 0n;
    st.cpu.usage.kernel = us("system_usec") ?? 0n;
  } else {
    setNonZero(t, "throttledTime", kv.get("throttled_time"));
  }
}

export function readCpusetStats(files: CgroupFiles, dir: string, st: CgroupStats): void {
  const c = st.cpuset;
  const list = (f: string) => {
    const t = files.readOptional(dir, f);
    return t === undefined ? undefined : parseCpuList(t);
  };
  const num = (f: string) => {
    const t = files.readOptional(dir, f);
    return t === undefined ? 0n : BigInt(t.trim() || "0");
  };
  setNonZero(c, "cpus", list("cpuset.cpus"));
  c.cpu_exclusive = num("cpuset.cpu_exclusive");
  setNonZero(c, "mems", list("cpuset.mems"));
  c.mem_hardwall = num("cpuset.mem_hardwall");
  c.mem_exclusive = num("cpuset.mem_exclusive");
  c.memory_migrate = num("cpuset.memory_migrate");
  c.memory_spread_page = num("cpuset.memory_spread_page");
  c.memory_spread_slab = num("cpuset.memory_spread_slab");
  c.memory_pressure = num("cpuset.memory_pressure");
  c.sched_load_balance = num("cpuset.sched_load_balance");
  c.sched_relax_domain_level = num("cpuset.sched_relax_domain_level");
}

function memoryEntry(files: CgroupFiles, dir: string, prefix: string, optional: boolean): StatsMemoryEntry {
  const usage = files.readOptional(dir, `${prefix}.usage_in_bytes`);
  if (usage === undefined) {
    if (optional) return { limit: 0n, failcnt: 0n };
    files.read(dir, `${prefix}.usage_in_bytes`); // throws the error naming the file
  }
  const e: StatsMemoryEntry = { limit: parseU64(files.read(dir, `${prefix}.limit_in_bytes`)), failcnt: 0n };
  setNonZero(e, "usage", parseU64(usage!));
  setNonZero(e, "max", parseU64(files.read(dir, `${prefix}.max_usage_in_bytes`)));
  e.failcnt = parseU64(files.read(dir, `${prefix}.failcnt`));
  return e;
}

export function readMemoryStatsV1(files: CgroupFiles, dir: string, st: CgroupStats): void {
  const raw = files.readOptional(dir, "memory.stat");
  if (raw === undefined) return;
  const kv = parseKeyValues(raw);
  setNonZero(st.memory, "cache", kv.get("cache"));
  st.memory.usage = memoryEntry(files, dir, "memory", false);
  st.memory.swap = memoryEntry(files, dir, "memory.memsw", true);
  st.memory.kernel = memoryEntry(files, dir, "memory.kmem", true);
  st.memory.kernelTCP = memoryEntry(files, dir, "memory.kmem.tcp", true);
  if (kv.size) st.memory.raw = sortedRecord(kv);
}

export function readMemoryStatsV2(files: CgroupFiles, dir: string, st: CgroupStats): void {
  const raw = files.readOptional(dir, "memory.stat");
  if (raw === undefined) return;
  const kv = parseKeyValues(raw);
  setNonZero(st.memory, "cache", kv.get("file"));
  const usage: StatsMemoryEntry = { limit: 0n, failcnt: 0n };
  const cur = files.readOptional(dir, "memory.current");
  if (cur !== undefined) {
    setNonZero(usage, "usage", parseU64(cur));
    usage.limit = parseU64(files.read(dir, "memory.max"));
  }
  st.memory.usage = usage;
  // v1 reports swap as memory+swap; runc adds memory to v2's swap-only figures to match.
  const swap: StatsMemoryEntry = { limit: 0n, failcnt: 0n };
  const swapCur = files.readOptional(dir, "memory.swap.current");
  if (swapCur !== undefined) {
    swap.limit = parseU64(files.read(dir, "memory.swap.max"));
    swap.usage = parseU64(swapCur);
  }
  setNonZero(swap, "usage", (swap.usage ?? 0n) + (usage.usage ?? 0n));
  if (swap.limit !== U64_MAX) swap.limit += usage.limit;
  st.memory.swap = swap;
  if (kv.size) st.memory.raw = sortedRecord(kv);
}

export function readPidsStats(files: CgroupFiles, dir: string, st: CgroupStats): boolean {
  const cur = files.readOptional(dir, "pids.current");
  if (cur === undefined) return false;
  setNonZero(st.pids, "current", parseU64(cur));
  const max = parseU64(files.read(dir, "pids.max"));
  // "max" (no limit) is reported as 0, i.e. left out.
  setNonZero(st.pids, "limit", max === U64_MAX ? 0n : max);
  return true;
}

/** blkio.* "8:0 Read 123" lines (v1). undefined when the file is absent. */
function readBlkioFile(files: CgroupFiles, dir: string, file: string): StatsBlkioEntry[] | undefined {
  const text = files.readOptional(dir, file);
  if (text === undefined) return undefined;
  const out: StatsBlkioEntry[] = [];
  for (const line of text.split("\n")) {
    const f = line.split(/[ :]/).filter(Boolean);
    if (f.length < 3) continue; // "Total 123" and empty lines
    const e: StatsBlkioEntry = {};
    setNonZero(e, "major", BigInt(f[0]!));
    setNonZero(e, "minor", BigInt(f[1]!));
    if (f.length === 4) setNonZero(e, "op", f[2]!);
    setNonZero(e, "value", parseU64(f[f.length - 1]!));
    out.push(e);
  }
  return out;
}

export function readBlkioStatsV1(files: CgroupFiles, dir: string, st: CgroupStats): void {
  // Like runc: the first group whose first file exists and is non-empty wins (BFQ debug, BFQ, CFQ,
  // throttle recursive, throttle).
  type Key = keyof CgroupStats["blkio"];
  const groups: [string, Key][][] = [
    [
      ["blkio.bfq.sectors_recursive", "sectorsRecursive"],
      ["blkio.bfq.io_service_time_recursive", "ioServiceTimeRecursive"],
      ["blkio.bfq.io_wait_time_recursive", "ioWaitTimeRecursive"],
      ["blkio.bfq.io_merged_recursive", "ioMergedRecursive"],
      ["blkio.bfq.io_queued_recursive", "ioQueueRecursive"],
      ["blkio.bfq.time_recursive", "ioTimeRecursive"],
      ["blkio.bfq.io_serviced_recursive", "ioServicedRecursive"],
      ["blkio.bfq.io_service_bytes_recursive", "ioServiceBytesRecursive"],
    ],
    [
      ["blkio.bfq.io_serviced_recursive", "ioServicedRecursive"],
      ["blkio.bfq.io_service_bytes_recursive", "ioServiceBytesRecursive"],
    ],
    [
      ["blkio.sectors_recursive", "sectorsRecursive"],
      ["blkio.io_service_time_recursive", "ioServiceTimeRecursive"],
      ["blkio.io_wait_time_recursive", "ioWaitTimeRecursive"],
      ["blkio.io_merged_recursive", "ioMergedRecursive"],
      ["blkio.io_queued_recursive", "ioQueueRecursive"],
      ["blkio.time_recursive", "ioTimeRecursive"],
      ["blkio.io_serviced_recursive", "ioServicedRecursive"],
      ["blkio.io_service_bytes_recursive", "ioServiceBytesRecursive"],
    ],
    [
      ["blkio.throttle.io_serviced_recursive", "ioServicedRecursive"],
      ["blkio.throttle.io_service_bytes_recursive", "ioServiceBytesRecursive"],
    ],
    [
      ["blkio.throttle.io_serviced", "ioServicedRecursive"],
      ["blkio.throttle.io_service_bytes", "ioServiceBytesRecursive"],
    ],
  ];
  for (const group of groups) {
    const first = readBlkioFile(files, dir, group[0]![0]);
    if (!first || first.length === 0) continue;
    const blkio: CgroupStats["blkio"] = {};
    group.forEach(([file, k], i) => {
      const entries = i === 0 ? first : readBlkioFile(files, dir, file);
      if (entries && entries.length) blkio[k] = entries;
    });
    st.blkio = blkio;
    return;
  }
}

export function readIoStatsV2(files: CgroupFiles, dir: string, st: CgroupStats): void {
  const text = files.readOptional(dir, "io.stat");
  if (text === undefined) return;
  const bytes: StatsBlkioEntry[] = [];
  const ios: StatsBlkioEntry[] = [];
  for (const line of text.split("\n")) {
    const [dev, ...items] = line.trim().split(/\s+/);
    const m = /^(\d+):(\d+)$/.exec(dev ?? "");
    if (!m) continue;
    for (const item of items) {
      const [k, v] = item.split("=");
      const table = k === "rbytes" || k === "wbytes" ? bytes : k === "rios" || k === "wios" ? ios : undefined;
      if (!table || v === undefined) continue;
      const e: StatsBlkioEntry = {};
      setNonZero(e, "major", BigInt(m[1]!));
      setNonZero(e, "minor", BigInt(m[2]!));
      e.op = k!.startsWith("r") ? "Read" : "Write";
      setNonZero(e, "value", parseU64(v));
      table.push(e);
    }
  }
  const blkio: CgroupStats["blkio"] = {};
  if (bytes.length) blkio.ioServiceBytesRecursive = bytes;
  if (ios.length) blkio.ioServicedRecursive = ios;
  st.blkio = blkio;
}

export function readHugetlbStats(files: CgroupFiles, dir: string, st: CgroupStats, sizes: string[], v2: boolean): void {
  const m = new Map<string, CgroupStats["hugetlb"][string]>();
  for (const size of sizes) {
    const p = `hugetlb.${size}`;
    const e: CgroupStats["hugetlb"][string] = { failcnt: 0n };
    if (v2) {
      setNonZero(e, "usage", parseU64(files.read(dir, `${p}.current`)));
      const events = parseKeyValues(files.read(dir, `${p}.events`));
      e.failcnt = events.get("max") ?? 0n;
    } else {
      setNonZero(e, "usage", parseU64(files.read(dir, `${p}.usage_in_bytes`)));
      setNonZero(e, "max", parseU64(files.read(dir, `${p}.max_usage_in_bytes`)));
      e.failcnt = parseU64(files.read(dir, `${p}.failcnt`));
    }
    m.set(size, e);
  }
  st.hugetlb = sortedRecord(m);
}

/** Rebuilds every object with runc's field order (the readers fill them in any order), so that
 * stringifyJSON(stats) prints what `runc events --stats` prints. */
export function finalizeStats(st: CgroupStats): CgroupStats {
  const pick = <T extends object>(o: T, keys: (keyof T)[]): T => {
    const out = {} as T;
    for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
    return out;
  };
  const mem = (e: StatsMemoryEntry) => pick(e, ["limit", "usage", "max", "failcnt"]);
  const hugetlb: CgroupStats["hugetlb"] = {};
  for (const [k, v] of Object.entries(st.hugetlb)) hugetlb[k] = pick(v, ["usage", "max", "failcnt"]);
  const entries = (l: StatsBlkioEntry[] | undefined) => l?.map((e) => pick(e, ["major", "minor", "op", "value"]));
  const b = st.blkio;
  return {
    cpu: {
      usage: pick(st.cpu.usage, ["total", "percpu", "percpu_kernel", "percpu_user", "kernel", "user"]),
      throttling: pick(st.cpu.throttling, ["periods", "throttledPeriods", "throttledTime"]),
    },
    cpuset: pick(st.cpuset, [
      "cpus",
      "cpu_exclusive",
      "mems",
      "mem_hardwall",
      "mem_exclusive",
      "memory_migrate",
      "memory_spread_page",
      "memory_spread_slab",
      "memory_pressure",
      "sched_load_balance",
      "sched_relax_domain_level",
    ]),
    memory: {
      ...(st.memory.cache ? { cache: st.memory.cache } : {}),
      usage: mem(st.memory.usage),
      swap: mem(st.memory.swap),
      kernel: mem(st.memory.kernel),
      kernelTCP: mem(st.memory.kernelTCP),
      ...(st.memory.raw ? { raw: st.memory.raw } : {}),
    },
    pids: pick(st.pids, ["current", "limit"]),
    blkio: pick(
      {
        ioServiceBytesRecursive: entries(b.ioServiceBytesRecursive),
        ioServicedRecursive: entries(b.ioServicedRecursive),
        ioQueueRecursive: entries(b.ioQueueRecursive),
        ioServiceTimeRecursive: entries(b.ioServiceTimeRecursive),
        ioWaitTimeRecursive: entries(b.ioWaitTimeRecursive),
        ioMergedRecursive: entries(b.ioMergedRecursive),
        ioTimeRecursive: entries(b.ioTimeRecursive),
        sectorsRecursive: entries(b.sectorsRecursive),
      },
      [
        "ioServiceBytesRecursive",
        "ioServicedRecursive",
        "ioQueueRecursive",
        "ioServiceTimeRecursive",
        "ioWaitTimeRecursive",
        "ioMergedRecursive",
        "ioTimeRecursive",
        "sectorsRecursive",
      ],
    ),
    hugetlb,
    intel_rdt: st.intel_rdt,
    network_interfaces: st.network_interfaces,
  };
}
