// The task service's Stats answer: the container's cgroup as containerd's cgroups library reports
// it, so that `ctr task metrics`, the CRI's container stats and `nerdctl stats` read what they read
// from runc's shim. containerd 1.6 (vendoring containerd/cgroups 1.0.4) packs
// io.containerd.cgroups.v1.Metrics on a cgroup v1 or hybrid host (stats/v1/metrics.proto) and
// io.containerd.cgroups.v2.Metrics on a pure cgroup v2 one (v2/stats/metrics.proto); the Any's type
// URL is the bare gogo-registered name, like the events in messages.ts.
//
// What the runtime already reads (CgroupManager.stats(), runc's `events --stats` figures) is reused;
// what containerd reports beyond it (memory.stat's counters, memory.oom_control, blkio with device
// names, rdma, v2 memory.events, io.stat per device, v2 "max" limits) is read here from the same
// manager's directories, following cgroups 1.0.4's rules (which files, and what a missing one means).
//
// Descriptor fields are listed in field-number order: encode() writes them in list order, and so
// the bytes are the canonical ones protoc and Go's marshaller write.

import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type CgroupStats, loadCgroupManager } from "../cgroups/index.ts";
import { parseKeyValues, parseU64 } from "../cgroups/convert.ts";
import type { Runtime } from "../runtime/container.ts";
import { type Any, message, type MessageDesc, packAny } from "./protobuf.ts";
import { Code, TtrpcError } from "./ttrpc.ts";

/** A uint64 to encode: a bigint keeps values past 2^53 exact ("max" limits); decode gives numbers. */
export type U64 = number | bigint;

const u64 = (name: string, no: number) => ({ name, no, type: "uint64" as const });
const str = (name: string, no: number) => ({ name, no, type: "string" as const });
const u32 = (name: string, no: number) => ({ name, no, type: "uint32" as const });
const msg = (name: string, no: number, m: () => MessageDesc<any>, repeated = false) => ({ name, no, type: "message" as const, message: m, repeated });

// ---------------------------------------------------------------------------------------------
// io.containerd.cgroups.v1 (containerd/cgroups stats/v1/metrics.proto)

export interface V1HugetlbStat { usage: U64; max: U64; failcnt: U64; pagesize: string }
export const V1HugetlbStat: MessageDesc<V1HugetlbStat> = message("io.containerd.cgroups.v1.HugetlbStat", [
  u64("usage", 1), u64("max", 2), u64("failcnt", 3), str("pagesize", 4),
]);

export interface V1PidsStat { current: U64; limit: U64 }
export const V1PidsStat: MessageDesc<V1PidsStat> = message("io.containerd.cgroups.v1.PidsStat", [u64("current", 1), u64("limit", 2)]);

/** Nanoseconds. */
export interface V1CPUUsage { total: U64; kernel: U64; user: U64; per_cpu: U64[] }
export const V1CPUUsage: MessageDesc<V1CPUUsage> = message("io.containerd.cgroups.v1.CPUUsage", [
  u64("total", 1), u64("kernel", 2), u64("user", 3), { name: "per_cpu", no: 4, type: "uint64", repeated: true },
]);

export interface V1Throttle { periods: U64; throttled_periods: U64; throttled_time: U64 }
export const V1Throttle: MessageDesc<V1Throttle> = message("io.containerd.cgroups.v1.Throttle", [
  u64("periods", 1), u64("throttled_periods", 2), u64("throttled_time", 3),
]);

export interface V1CPUStat { usage: V1CPUUsage | undefined; throttling: V1Throttle | undefined }
export const V1CPUStat: MessageDesc<V1CPUStat> = message("io.containerd.cgroups.v1.CPUStat", [
  msg("usage", 1, () => V1CPUUsage), msg("throttling", 2, () => V1Throttle),
]);

export interface V1MemoryEntry { limit: U64; usage: U64; max: U64; failcnt: U64 }
export const V1MemoryEntry: MessageDesc<V1MemoryEntry> = message("io.containerd.cgroups.v1.MemoryEntry", [
  u64("limit", 1), u64("usage", 2), u64("max", 3), u64("failcnt", 4),
]);

/** MemoryStat's counters in field-number order (1..32): [field name, memory.stat key]. */
const V1_MEMORY_COUNTERS = [
  ["cache", "cache"], ["rss", "rss"], ["rss_huge", "rss_huge"], ["mapped_file", "mapped_file"],
  ["dirty", "dirty"], ["writeback", "writeback"], ["pg_pg_in", "pgpgin"], ["pg_pg_out", "pgpgout"],
  ["pg_fault", "pgfault"], ["pg_maj_fault", "pgmajfault"], ["inactive_anon", "inactive_anon"],
  ["active_anon", "active_anon"], ["inactive_file", "inactive_file"], ["active_file", "active_file"],
  ["unevictable", "unevictable"], ["hierarchical_memory_limit", "hierarchical_memory_limit"],
  // The field is named for swap, the kernel's key for memory+swap.
  ["hierarchical_swap_limit", "hierarchical_memsw_limit"],
  ["total_cache", "total_cache"], ["total_rss", "total_rss"], ["total_rss_huge", "total_rss_huge"],
  ["total_mapped_file", "total_mapped_file"], ["total_dirty", "total_dirty"], ["total_writeback", "total_writeback"],
  ["total_pg_pg_in", "total_pgpgin"], ["total_pg_pg_out", "total_pgpgout"], ["total_pg_fault", "total_pgfault"],
  ["total_pg_maj_fault", "total_pgmajfault"], ["total_inactive_anon", "total_inactive_anon"],
  ["total_active_anon", "total_active_anon"], ["total_inactive_file", "total_inactive_file"],
  ["total_active_file", "total_active_file"], ["total_unevictable", "total_unevictable"],
] as const;

export type V1MemoryStat = Record<(typeof V1_MEMORY_COUNTERS)[number][0], U64> & {
  usage: V1MemoryEntry | undefined;
  swap: V1MemoryEntry | undefined;
  kernel: V1MemoryEntry | undefined;
  kernel_tcp: V1MemoryEntry | undefined;
};
export const V1MemoryStat: MessageDesc<V1MemoryStat> = message("io.containerd.cgroups.v1.MemoryStat", [
  ...V1_MEMORY_COUNTERS.map(([name], i) => u64(name, i + 1)),
  msg("usage", 33, () => V1MemoryEntry), msg("swap", 34, () => V1MemoryEntry),
  msg("kernel", 35, () => V1MemoryEntry), msg("kernel_tcp", 36, () => V1MemoryEntry),
]);

export interface V1MemoryOomControl { oom_kill_disable: U64; under_oom: U64; oom_kill: U64 }
export const V1MemoryOomControl: MessageDesc<V1MemoryOomControl> = message("io.containerd.cgroups.v1.MemoryOomControl", [
  u64("oom_kill_disable", 1), u64("under_oom", 2), u64("oom_kill", 3),
]);

export interface V1BlkIOEntry { op: string; device: string; major: U64; minor: U64; value: U64 }
export const V1BlkIOEntry: MessageDesc<V1BlkIOEntry> = message("io.containerd.cgroups.v1.BlkIOEntry", [
  str("op", 1), str("device", 2), u64("major", 3), u64("minor", 4), u64("value", 5),
]);

export interface V1BlkIOStat {
  io_service_bytes_recursive: V1BlkIOEntry[];
  io_serviced_recursive: V1BlkIOEntry[];
  io_queued_recursive: V1BlkIOEntry[];
  io_service_time_recursive: V1BlkIOEntry[];
  io_wait_time_recursive: V1BlkIOEntry[];
  io_merged_recursive: V1BlkIOEntry[];
  io_time_recursive: V1BlkIOEntry[];
  sectors_recursive: V1BlkIOEntry[];
}
const BLKIO_LISTS: (keyof V1BlkIOStat)[] = [
  "io_service_bytes_recursive", "io_serviced_recursive", "io_queued_recursive", "io_service_time_recursive",
  "io_wait_time_recursive", "io_merged_recursive", "io_time_recursive", "sectors_recursive",
];
export const V1BlkIOStat: MessageDesc<V1BlkIOStat> = message("io.containerd.cgroups.v1.BlkIOStat",
  BLKIO_LISTS.map((name, i) => msg(name, i + 1, () => V1BlkIOEntry, true)));

export interface RdmaEntry { device: string; hca_handles: number; hca_objects: number }
export const V1RdmaEntry: MessageDesc<RdmaEntry> = message("io.containerd.cgroups.v1.RdmaEntry", [
  str("device", 1), u32("hca_handles", 2), u32("hca_objects", 3),
]);
export interface RdmaStat { current: RdmaEntry[]; limit: RdmaEntry[] }
export const V1RdmaStat: MessageDesc<RdmaStat> = message("io.containerd.cgroups.v1.RdmaStat", [
  msg("current", 1, () => V1RdmaEntry, true), msg("limit", 2, () => V1RdmaEntry, true),
]);

export interface V1NetworkStat {
  name: string; rx_bytes: U64; rx_packets: U64; rx_errors: U64; rx_dropped: U64;
  tx_bytes: U64; tx_packets: U64; tx_errors: U64; tx_dropped: U64;
}
export const V1NetworkStat: MessageDesc<V1NetworkStat> = message("io.containerd.cgroups.v1.NetworkStat", [
  str("name", 1), u64("rx_bytes", 2), u64("rx_packets", 3), u64("rx_errors", 4), u64("rx_dropped", 5),
  u64("tx_bytes", 6), u64("tx_packets", 7), u64("tx_errors", 8), u64("tx_dropped", 9),
]);

export interface V1CgroupStats { nr_sleeping: U64; nr_running: U64; nr_stopped: U64; nr_uninterruptible: U64; nr_io_wait: U64 }
export const V1CgroupStats: MessageDesc<V1CgroupStats> = message("io.containerd.cgroups.v1.CgroupStats", [
  u64("nr_sleeping", 1), u64("nr_running", 2), u64("nr_stopped", 3), u64("nr_uninterruptible", 4), u64("nr_io_wait", 5),
]);

export interface V1Metrics {
  hugetlb: V1HugetlbStat[];
  pids: V1PidsStat | undefined;
  cpu: V1CPUStat | undefined;
  memory: V1MemoryStat | undefined;
  blkio: V1BlkIOStat | undefined;
  rdma: RdmaStat | undefined;
  network: V1NetworkStat[];
  cgroup_stats: V1CgroupStats | undefined;
  memory_oom_control: V1MemoryOomControl | undefined;
}
export const V1Metrics: MessageDesc<V1Metrics> = message("io.containerd.cgroups.v1.Metrics", [
  msg("hugetlb", 1, () => V1HugetlbStat, true),
  msg("pids", 2, () => V1PidsStat),
  msg("cpu", 3, () => V1CPUStat),
  msg("memory", 4, () => V1MemoryStat),
  msg("blkio", 5, () => V1BlkIOStat),
  msg("rdma", 6, () => V1RdmaStat),
  msg("network", 7, () => V1NetworkStat, true),
  msg("cgroup_stats", 8, () => V1CgroupStats),
  msg("memory_oom_control", 9, () => V1MemoryOomControl),
]);

// ---------------------------------------------------------------------------------------------
// io.containerd.cgroups.v2 (containerd/cgroups v2/stats/metrics.proto)

export interface V2PidsStat { current: U64; limit: U64 }
export const V2PidsStat: MessageDesc<V2PidsStat> = message("io.containerd.cgroups.v2.PidsStat", [u64("current", 1), u64("limit", 2)]);

export interface V2CPUStat { usage_usec: U64; user_usec: U64; system_usec: U64; nr_periods: U64; nr_throttled: U64; throttled_usec: U64 }
const V2_CPU_KEYS: (keyof V2CPUStat)[] = ["usage_usec", "user_usec", "system_usec", "nr_periods", "nr_throttled", "throttled_usec"];
export const V2CPUStat: MessageDesc<V2CPUStat> = message("io.containerd.cgroups.v2.CPUStat", V2_CPU_KEYS.map((k, i) => u64(k, i + 1)));

/** MemoryStat's memory.stat counters (fields 1..31, named as the keys), then the four files. */
const V2_MEMORY_KEYS = [
  "anon", "file", "kernel_stack", "slab", "sock", "shmem", "file_mapped", "file_dirty", "file_writeback",
  "anon_thp", "inactive_anon", "active_anon", "inactive_file", "active_file", "unevictable",
  "slab_reclaimable", "slab_unreclaimable", "pgfault", "pgmajfault", "workingset_refault",
  "workingset_activate", "workingset_nodereclaim", "pgrefill", "pgscan", "pgsteal", "pgactivate",
  "pgdeactivate", "pglazyfree", "pglazyfreed", "thp_fault_alloc", "thp_collapse_alloc",
] as const;
export type V2MemoryStat = Record<(typeof V2_MEMORY_KEYS)[number], U64> & { usage: U64; usage_limit: U64; swap_usage: U64; swap_limit: U64 };
export const V2MemoryStat: MessageDesc<V2MemoryStat> = message("io.containerd.cgroups.v2.MemoryStat", [
  ...V2_MEMORY_KEYS.map((k, i) => u64(k, i + 1)),
  u64("usage", 32), u64("usage_limit", 33), u64("swap_usage", 34), u64("swap_limit", 35),
]);

export interface V2MemoryEvents { low: U64; high: U64; max: U64; oom: U64; oom_kill: U64 }
export const V2MemoryEvents: MessageDesc<V2MemoryEvents> = message("io.containerd.cgroups.v2.MemoryEvents", [
  u64("low", 1), u64("high", 2), u64("max", 3), u64("oom", 4), u64("oom_kill", 5),
]);

export const V2RdmaEntry: MessageDesc<RdmaEntry> = message("io.containerd.cgroups.v2.RdmaEntry", [
  str("device", 1), u32("hca_handles", 2), u32("hca_objects", 3),
]);
export const V2RdmaStat: MessageDesc<RdmaStat> = message("io.containerd.cgroups.v2.RdmaStat", [
  msg("current", 1, () => V2RdmaEntry, true), msg("limit", 2, () => V2RdmaEntry, true),
]);

export interface V2IOEntry { major: U64; minor: U64; rbytes: U64; wbytes: U64; rios: U64; wios: U64 }
export const V2IOEntry: MessageDesc<V2IOEntry> = message("io.containerd.cgroups.v2.IOEntry", [
  u64("major", 1), u64("minor", 2), u64("rbytes", 3), u64("wbytes", 4), u64("rios", 5), u64("wios", 6),
]);
export interface V2IOStat { usage: V2IOEntry[] }
export const V2IOStat: MessageDesc<V2IOStat> = message("io.containerd.cgroups.v2.IOStat", [msg("usage", 1, () => V2IOEntry, true)]);

export interface V2HugeTlbStat { current: U64; max: U64; pagesize: string }
export const V2HugeTlbStat: MessageDesc<V2HugeTlbStat> = message("io.containerd.cgroups.v2.HugeTlbStat", [
  u64("current", 1), u64("max", 2), str("pagesize", 3),
]);

export interface V2Metrics {
  pids: V2PidsStat | undefined;
  cpu: V2CPUStat | undefined;
  memory: V2MemoryStat | undefined;
  rdma: RdmaStat | undefined;
  io: V2IOStat | undefined;
  hugetlb: V2HugeTlbStat[];
  memory_events: V2MemoryEvents | undefined;
}
export const V2Metrics: MessageDesc<V2Metrics> = message("io.containerd.cgroups.v2.Metrics", [
  msg("pids", 1, () => V2PidsStat),
  msg("cpu", 2, () => V2CPUStat),
  msg("memory", 4, () => V2MemoryStat),
  msg("rdma", 5, () => V2RdmaStat),
  msg("io", 6, () => V2IOStat),
  msg("hugetlb", 7, () => V2HugeTlbStat, true),
  msg("memory_events", 8, () => V2MemoryEvents),
]);

// ---------------------------------------------------------------------------------------------
// Reading

export interface MetricsOptions {
  /** Where the host's huge page sizes are listed (tests); /sys/kernel/mm/hugepages by default. */
  hugePagesDir?: string;
  /** Where block device names come from (tests); /proc/partitions by default. */
  partitions?: string;
}

const U64_MAX = 0xffff_ffff_ffff_ffffn;
const U32_MAX = 0xffff_ffff;

/** A file's text, or undefined when it does not exist (cgroups' IgnoreNotExist); other errors throw. */
function readOptional(dir: string, file: string): string | undefined {
  try {
    return readFileSync(join(dir, file), "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

function exists(dir: string, file = ""): boolean {
  return existsSync(join(dir, file));
}

/** "key value" lines; absent file → empty. */
function keyValues(dir: string, file: string): Map<string, bigint> {
  const t = readOptional(dir, file);
  return t === undefined ? new Map() : parseKeyValues(t);
}

/** The stats answer of a container (not deleted) served by `rt`: its cgroup's Metrics, v1 or v2 as
 * the cgroup's kind says. Like runc's shim, a task that has exited but is not deleted still answers
 * (its cgroup is still there); a cgroup that is gone is an error. */
export function taskMetrics(rt: Runtime, id: string, o: MetricsOptions = {}): Any {
  const state = rt.store.load(id);
  // NOT_FOUND, as runc's shim answers for a container without a cgroup.
  if (!state?.cgroup) throw new TtrpcError(Code.NOT_FOUND, "cgroup does not exist");
  const cg = loadCgroupManager(state.cgroup, { hugePagesDir: o.hugePagesDir });
  if (!cg.exists()) throw new TtrpcError(Code.NOT_FOUND, "cgroup does not exist");
  const st = cg.stats();
  if (cg.kind === "v2") return packAny(V2Metrics, v2Metrics(cg.paths[""]!, st));
  return packAny(V1Metrics, v1Metrics(cg.paths, st, o));
}

// ---- v1 ----------------------------------------------------------------------------------------

/** cgroups' v1 Stat(): each controller the container has a directory in fills its part. */
export function v1Metrics(paths: Readonly<Record<string, string>>, st: CgroupStats, o: MetricsOptions = {}): V1Metrics {
  const live = (s: string) => (paths[s] !== undefined && exists(paths[s]!) ? paths[s] : undefined);
  const u = st.cpu.usage;
  const t = st.cpu.throttling;
  const m: V1Metrics = {
    hugetlb: [],
    pids: undefined,
    // Always present, zero without cpu/cpuacct (Stat() starts from it).
    cpu: {
      usage: live("cpuacct") ? { total: u.total ?? 0n, kernel: u.kernel, user: u.user, per_cpu: u.percpu ?? [] } : { total: 0, kernel: 0, user: 0, per_cpu: [] },
      throttling: live("cpu")
        ? { periods: t.periods ?? 0n, throttled_periods: t.throttledPeriods ?? 0n, throttled_time: t.throttledTime ?? 0n }
        : { periods: 0, throttled_periods: 0, throttled_time: 0 },
    },
    memory: undefined,
    blkio: undefined,
    rdma: undefined,
    network: [],
    cgroup_stats: undefined,
    memory_oom_control: undefined,
  };
  let d: string | undefined;
  if ((d = live("memory"))) v1Memory(d, st, m);
  if ((d = live("pids")) && exists(d, "pids.current")) {
    // "max" (no limit) is 0 here, as in cgroups' v1 pids.
    m.pids = { current: st.pids.current ?? 0n, limit: st.pids.limit ?? 0n };
  }
  if ((d = live("blkio"))) m.blkio = v1Blkio(d, o.partitions ?? "/proc/partitions");
  if (live("hugetlb")) m.hugetlb = v1Hugetlb(st);
  if ((d = live("rdma"))) m.rdma = v1Rdma(d);
  return m;
}

function v1Memory(dir: string, st: CgroupStats, m: V1Metrics): void {
  if (!exists(dir, "memory.stat")) return;
  const raw = st.memory.raw ?? {};
  const zero = (): V1MemoryEntry => ({ limit: 0, usage: 0, max: 0, failcnt: 0 });
  const mem = { usage: zero(), swap: zero(), kernel: zero(), kernel_tcp: zero() } as V1MemoryStat;
  for (const [field, key] of V1_MEMORY_COUNTERS) mem[field] = raw[key] ?? 0n;
  m.memory = mem;
  // Then memory.oom_control, then the four counter groups; cgroups stops at the first file missing
  // (no swap accounting: no memsw files, and kmem is then left at zero too).
  const oom = readOptional(dir, "memory.oom_control");
  if (oom === undefined) return;
  const kv = parseKeyValues(oom);
  m.memory_oom_control = { oom_kill_disable: kv.get("oom_kill_disable") ?? 0n, under_oom: kv.get("under_oom") ?? 0n, oom_kill: kv.get("oom_kill") ?? 0n };
  const groups: [keyof typeof st.memory & string, "usage" | "swap" | "kernel" | "kernel_tcp", string][] = [
    ["usage", "usage", "memory"],
    ["swap", "swap", "memory.memsw"],
    ["kernel", "kernel", "memory.kmem"],
    ["kernelTCP", "kernel_tcp", "memory.kmem.tcp"],
  ];
  for (const [from, to, prefix] of groups) {
    if (!["usage_in_bytes", "max_usage_in_bytes", "failcnt", "limit_in_bytes"].every((f) => exists(dir, `${prefix}.${f}`))) return;
    const e = st.memory[from] as CgroupStats["memory"]["usage"];
    mem[to] = { limit: e.limit, usage: e.usage ?? 0n, max: e.max ?? 0n, failcnt: e.failcnt };
  }
}

/** /proc/partitions: "major minor #blocks name" after two header lines; the first name of a number wins. */
function blockDevices(path: string): Map<string, string> {
  const out = new Map<string, string>();
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return out;
  }
  for (const line of text.split("\n").slice(2)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4) continue;
    const key = `${f[0]}:${f[1]}`;
    if (!out.has(key)) out.set(key, `/dev/${f[3]}`);
  }
  return out;
}

/** cgroups 1.0.4's blkio: the CFQ files when the kernel has them and they say something, else the
 * (non-recursive) throttle files. runc's `events` prefers BFQ's files; containerd does not read them. */
function v1Blkio(dir: string, partitions: string): V1BlkIOStat {
  const b: V1BlkIOStat = {
    io_service_bytes_recursive: [], io_serviced_recursive: [], io_queued_recursive: [], io_service_time_recursive: [],
    io_wait_time_recursive: [], io_merged_recursive: [], io_time_recursive: [], sectors_recursive: [],
  };
  const devices = blockDevices(partitions);
  const read = (file: string, into: keyof V1BlkIOStat) => {
    const text = readOptional(dir, file);
    if (text === undefined) return;
    for (const line of text.split("\n")) {
      const f = line.split(/[ :]/).filter(Boolean);
      if (f.length < 3) continue; // "Total N" and the empty last line
      const four = f.length === 4;
      b[into].push({
        op: four ? f[2]! : "",
        device: devices.get(`${f[0]}:${f[1]}`) ?? "",
        major: BigInt(f[0]!),
        minor: BigInt(f[1]!),
        value: BigInt(f[four ? 3 : 2]!),
      });
    }
  };
  if (exists(dir, "blkio.io_serviced_recursive")) {
    const cfq: [string, keyof V1BlkIOStat][] = [
      ["sectors_recursive", "sectors_recursive"], ["io_service_bytes_recursive", "io_service_bytes_recursive"],
      ["io_serviced_recursive", "io_serviced_recursive"], ["io_queued_recursive", "io_queued_recursive"],
      ["io_service_time_recursive", "io_service_time_recursive"], ["io_wait_time_recursive", "io_wait_time_recursive"],
      ["io_merged_recursive", "io_merged_recursive"], ["time_recursive", "io_time_recursive"],
    ];
    for (const [file, into] of cfq) read(`blkio.${file}`, into);
    if (BLKIO_LISTS.some((k) => b[k].length > 0)) return b;
  }
  read("blkio.throttle.io_serviced", "io_serviced_recursive");
  read("blkio.throttle.io_service_bytes", "io_service_bytes_recursive");
  return b;
}

/** In the order cgroups lists sizes: its directory names, hugepages-<kB>kB, sorted. */
function v1Hugetlb(st: CgroupStats): V1HugetlbStat[] {
  const kb = (size: string) => {
    const m = /^(\d+)(KB|MB|GB)$/.exec(size);
    return m ? Number(m[1]) * { KB: 1, MB: 1024, GB: 1024 * 1024 }[m[2] as "KB"] : 0;
  };
  return Object.entries(st.hugetlb)
    .sort(([a], [b]) => (`hugepages-${kb(a)}kB` < `hugepages-${kb(b)}kB` ? -1 : 1))
    .map(([pagesize, h]) => ({ usage: h.usage ?? 0n, max: h.max ?? 0n, failcnt: h.failcnt, pagesize }));
}

/** "mlx4_0 hca_handle=2 hca_object=2000" lines; "max" is the uint32 maximum; a bad value stays 0. */
function rdmaEntries(text: string): RdmaEntry[] {
  const out: RdmaEntry[] = [];
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length !== 3) continue;
    const e: RdmaEntry = { device: f[0]!, hca_handles: 0, hca_objects: 0 };
    for (const kv of f.slice(1)) {
      const [k, v, extra] = kv.split("=");
      if (v === undefined || extra !== undefined) continue;
      const n = v === "max" ? U32_MAX : /^\d+$/.test(v) && Number(v) <= U32_MAX ? Number(v) : undefined;
      if (n === undefined) continue;
      if (k === "hca_handle") e.hca_handles = n;
      else if (k === "hca_object") e.hca_objects = n;
    }
    out.push(e);
  }
  return out;
}

function v1Rdma(dir: string): RdmaStat | undefined {
  const cur = readOptional(dir, "rdma.current");
  const max = readOptional(dir, "rdma.max");
  // A device removed between the two reads: no rdma figures this time.
  if (cur === undefined || max === undefined || cur.split("\n").length !== max.split("\n").length) return undefined;
  return { current: rdmaEntries(cur), limit: rdmaEntries(max) };
}

// ---- v2 ----------------------------------------------------------------------------------------

/** A single-value file as cgroups' v2 reads it: absent → 0, "max" → 2^64-1, negative → 0. */
function single(dir: string, file: string): bigint {
  const t = readOptional(dir, file);
  if (t === undefined) return 0n;
  try {
    return parseU64(t);
  } catch {
    return 0n;
  }
}

/** cgroups' v2 Manager.Stat(). */
export function v2Metrics(dir: string, st: CgroupStats): V2Metrics {
  const controllersText = readOptional(dir, "cgroup.controllers");
  if (controllersText === undefined) throw new Error(`${dir}: cgroup does not exist`);
  const controllers = new Set(controllersText.trim().split(/\s+/));
  // cpu.stat and memory.stat count only when their controller is enabled for the cgroup.
  const cpu = controllers.has("cpu");
  const u = st.cpu.usage;
  const t = st.cpu.throttling;
  const usec = (ns: bigint | undefined) => (cpu ? (ns ?? 0n) / 1000n : 0n);
  const raw = controllers.has("memory") ? (st.memory.raw ?? {}) : {};
  const memory = {} as V2MemoryStat;
  for (const k of V2_MEMORY_KEYS) memory[k] = raw[k] ?? 0n;
  memory.usage = single(dir, "memory.current");
  memory.usage_limit = single(dir, "memory.max");
  memory.swap_usage = single(dir, "memory.swap.current");
  memory.swap_limit = single(dir, "memory.swap.max");
  const ev = keyValues(dir, "memory.events");
  return {
    pids: { current: single(dir, "pids.current"), limit: single(dir, "pids.max") },
    cpu: {
      usage_usec: usec(u.total),
      user_usec: usec(u.user),
      system_usec: usec(u.kernel),
      nr_periods: cpu ? (t.periods ?? 0n) : 0n,
      nr_throttled: cpu ? (t.throttledPeriods ?? 0n) : 0n,
      throttled_usec: usec(t.throttledTime),
    },
    memory,
    rdma: { current: rdmaEntries(readOptional(dir, "rdma.current") ?? ""), limit: rdmaEntries(readOptional(dir, "rdma.max") ?? "") },
    io: { usage: v2Io(readOptional(dir, "io.stat") ?? "") },
    hugetlb: v2Hugetlb(dir),
    memory_events: ev.size
      ? { low: ev.get("low") ?? 0n, high: ev.get("high") ?? 0n, max: ev.get("max") ?? 0n, oom: ev.get("oom") ?? 0n, oom_kill: ev.get("oom_kill") ?? 0n }
      : undefined,
  };
}

/** io.stat: "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0" per device. */
function v2Io(text: string): V2IOEntry[] {
  const out: V2IOEntry[] = [];
  for (const line of text.split("\n")) {
    const [dev, ...items] = line.split(" ");
    const m = /^(\d+):(\d+)$/.exec(dev ?? "");
    if (!m || items.length === 0) continue;
    const e: V2IOEntry = { major: BigInt(m[1]!), minor: BigInt(m[2]!), rbytes: 0n, wbytes: 0n, rios: 0n, wios: 0n };
    for (const item of items) {
      const [k, v, extra] = item.split("=");
      if (v === undefined || extra !== undefined || !/^\d+$/.test(v)) continue;
      if (k === "rbytes" || k === "wbytes" || k === "rios" || k === "wios") e[k] = BigInt(v);
    }
    out.push(e);
  }
  return out;
}

/** hugetlb.<size>.current and .max of every size the directory has ("max" → 2^64-1). cgroups lists
 * them in map order (random); here by page size name. */
function v2Hugetlb(dir: string): V2HugeTlbStat[] {
  const sizes = new Map<string, V2HugeTlbStat>();
  for (const name of readdirSync(dir)) {
    const m = /^hugetlb\.([^.]+)\.(current|max)$/.exec(name);
    if (!m) continue;
    const text = readOptional(dir, name);
    if (text === undefined) continue;
    const v = text.trim() === "max" ? U64_MAX : /^\d+$/.test(text.trim()) ? BigInt(text.trim()) : undefined;
    if (v === undefined) continue;
    const e = sizes.get(m[1]!) ?? { current: 0n, max: 0n, pagesize: m[1]! };
    if (m[2] === "max") e.max = v;
    else e.current = v;
    sizes.set(m[1]!, e);
  }
  return [...sizes.keys()].sort().map((k) => sizes.get(k)!);
}
