// The shim's Stats answer (src/shim/metrics.ts): fake v1 and v2 cgroup trees in a temp dir, a
// container state pointing at them, taskMetrics decoded and checked against the files; and the
// encodings byte for byte against protoc's for the same values.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { CgroupState } from "../../src/cgroups/index.ts";
import { Runtime } from "../../src/runtime/container.ts";
import {
  taskMetrics, V1MemoryEntry, V1Metrics, V2Metrics, type U64,
} from "../../src/shim/metrics.ts";
import { decode, encode, type MessageDesc } from "../../src/shim/protobuf.ts";
import { TtrpcError } from "../../src/shim/ttrpc.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const V1_NO_LIMIT = "9223372036854771712"; // a v1 "unlimited": 2^63 - 4096, past 2^53
const U64_MAX = "18446744073709551615";

let tmp = "";
afterEach(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  tmp = "";
});

function writeTree(dir: string, files: Record<string, string>): void {
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) {
    if (name.endsWith("/")) mkdirSync(join(dir, name), { recursive: true });
    else writeFileSync(join(dir, name), text);
  }
}

/** A runtime whose container `id` has the cgroup `cgroup` (state.json as create writes it). */
function runtimeWith(id: string, cgroup: CgroupState): Runtime {
  const root = join(tmp, "state");
  mkdirSync(join(root, id), { recursive: true });
  const rt = new Runtime({ root });
  rt.store.save({
    id, bundle: "/bundle", rootfs: "/bundle/rootfs", pid: process.pid, pidStartTime: 0, created: new Date().toISOString(),
    owner: "", config: {}, cgroup, rootless: false, systemdCgroup: false,
  });
  return rt;
}

// ---------------------------------------------------------------------------------------------
// v1

const V1_SUBSYSTEMS = ["cpu", "cpuacct", "memory", "pids", "blkio", "hugetlb", "rdma"];
const memEntry = (prefix: string, usage: string, max: string, failcnt: string, limit: string) => ({
  [`${prefix}.usage_in_bytes`]: usage, [`${prefix}.max_usage_in_bytes`]: max, [`${prefix}.failcnt`]: failcnt, [`${prefix}.limit_in_bytes`]: limit,
});
const V1_FILES: Record<string, Record<string, string>> = {
  cpu: { "cpu.stat": "nr_periods 10\nnr_throttled 2\nthrottled_time 3000\n", "cpu.shares": "1024" },
  cpuacct: {
    "cpuacct.stat": "user 12\nsystem 7\n",
    "cpuacct.usage": "190000001",
    "cpuacct.usage_percpu": "100000000 90000001 \n",
    "cpuacct.usage_all": "cpu user system\n0 60000000 40000000\n1 60000000 30000001\n",
  },
  memory: {
    "memory.stat": [
      "cache 4096", "rss 8192", "rss_huge 0", "shmem 0", "mapped_file 1024", "dirty 12", "writeback 13", "swap 0",
      "pgpgin 100", "pgpgout 50", "pgfault 300", "pgmajfault 4", "inactive_anon 15", "active_anon 16",
      "inactive_file 17", "active_file 18", "unevictable 19", `hierarchical_memory_limit 33554432`,
      `hierarchical_memsw_limit ${V1_NO_LIMIT}`, "total_cache 4097", "total_rss 8193", "total_rss_huge 22",
      "total_shmem 0", "total_mapped_file 1025", "total_dirty 23", "total_writeback 24", "total_swap 0",
      "total_pgpgin 101", "total_pgpgout 51", "total_pgfault 301", "total_pgmajfault 5", "total_inactive_anon 25",
      "total_active_anon 26", "total_inactive_file 27", "total_active_file 28", "total_unevictable 29", "",
    ].join("\n"),
    "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
    ...memEntry("memory", "1048576", "2097152", "3", "33554432"),
    ...memEntry("memory.memsw", "1048577", "2097153", "0", V1_NO_LIMIT),
    ...memEntry("memory.kmem", "65536", "131072", "0", V1_NO_LIMIT),
    ...memEntry("memory.kmem.tcp", "0", "0", "0", V1_NO_LIMIT),
  },
  pids: { "pids.current": "2", "pids.max": "max" },
  blkio: {
    // No CFQ (blkio.io_serviced_recursive): cgroups reads the throttle files.
    "blkio.throttle.io_serviced": "8:0 Read 5\n8:0 Write 6\n8:0 Sync 0\n8:0 Async 11\n8:0 Discard 0\n8:0 Total 11\n253:1 Read 1\nTotal 12\n",
    "blkio.throttle.io_service_bytes": "8:0 Read 20480\n8:0 Write 24576\nTotal 45056\n",
    "blkio.throttle.io_serviced_recursive": "8:0 Read 99\nTotal 99\n",
  },
  hugetlb: { ...memEntry("hugetlb.2MB", "2097152", "4194304", "1", V1_NO_LIMIT), ...memEntry("hugetlb.1GB", "0", "0", "0", V1_NO_LIMIT) },
  rdma: { "rdma.current": "mlx4_0 hca_handle=2 hca_object=2000\n", "rdma.max": "mlx4_0 hca_handle=max hca_object=10\n" },
};

function v1Cgroup(omit: string[] = []): CgroupState {
  const root = join(tmp, "cgroup");
  const paths: Record<string, string> = {};
  const mountpoints: Record<string, string> = {};
  for (const s of V1_SUBSYSTEMS) {
    paths[s] = join(root, s, "tsrunc-test/c1");
    mountpoints[s] = join(root, s);
    writeTree(paths[s]!, { "cgroup.procs": "", ...V1_FILES[s] });
  }
  for (const f of omit) unlinkSync(join(paths.memory!, f));
  return { version: 1, driver: "cgroupfs", kind: "v1", mode: "hybrid", root, paths, mountpoints, created: [] };
}

function v1Options() {
  const hugePagesDir = join(tmp, "hugepages");
  writeTree(hugePagesDir, { "hugepages-2048kB/": "", "hugepages-1048576kB/": "" });
  const partitions = join(tmp, "partitions");
  writeFileSync(partitions, "major minor  #blocks  name\n\n   8        0  10485760 sda\n   8        1   1048576 sda1\n");
  return { hugePagesDir, partitions };
}

/** The raw bytes of a varint-encoded uint64 field (tag included), for checking values past 2^53. */
function varintField(no: number, v: bigint): string {
  const out = [no << 3];
  for (; v > 0x7fn; v >>= 7n) out.push(Number(v & 0x7fn) | 0x80);
  out.push(Number(v));
  return hex(new Uint8Array(out));
}

describe("taskMetrics on cgroup v1", () => {
  it("packs io.containerd.cgroups.v1.Metrics with what the cgroup files say", () => {
    tmp = mkdtempSync(join(tmpdir(), "tsrunc-metrics-"));
    const rt = runtimeWith("c1", v1Cgroup());
    const any = taskMetrics(rt, "c1", v1Options());
    expect(any.type_url).toBe("io.containerd.cgroups.v1.Metrics");
    const m = decode(V1Metrics, any.value);

    expect(m.cpu).toEqual({
      usage: { total: 190000001, kernel: 70_000_000, user: 120_000_000, per_cpu: [100000000, 90000001] },
      throttling: { periods: 10, throttled_periods: 2, throttled_time: 3000 },
    });
    const mem = m.memory!;
    expect([mem.cache, mem.rss, mem.rss_huge, mem.mapped_file, mem.dirty, mem.writeback]).toEqual([4096, 8192, 0, 1024, 12, 13]);
    expect([mem.pg_pg_in, mem.pg_pg_out, mem.pg_fault, mem.pg_maj_fault]).toEqual([100, 50, 300, 4]);
    expect([mem.inactive_anon, mem.active_anon, mem.inactive_file, mem.active_file, mem.unevictable]).toEqual([15, 16, 17, 18, 19]);
    expect([mem.hierarchical_memory_limit, mem.hierarchical_swap_limit]).toEqual([33554432, Number(V1_NO_LIMIT)]);
    expect([mem.total_cache, mem.total_rss, mem.total_rss_huge, mem.total_mapped_file, mem.total_dirty, mem.total_writeback]).toEqual([
      4097, 8193, 22, 1025, 23, 24,
    ]);
    expect([mem.total_pg_pg_in, mem.total_pg_pg_out, mem.total_pg_fault, mem.total_pg_maj_fault]).toEqual([101, 51, 301, 5]);
    expect([mem.total_inactive_anon, mem.total_active_anon, mem.total_inactive_file, mem.total_active_file, mem.total_unevictable]).toEqual([
      25, 26, 27, 28, 29,
    ]);
    expect(mem.usage).toEqual({ limit: 33554432, usage: 1048576, max: 2097152, failcnt: 3 });
    expect(mem.swap).toEqual({ limit: Number(V1_NO_LIMIT), usage: 1048577, max: 2097153, failcnt: 0 });
    expect(mem.kernel).toEqual({ limit: Number(V1_NO_LIMIT), usage: 65536, max: 131072, failcnt: 0 });
    expect(mem.kernel_tcp).toEqual({ limit: Number(V1_NO_LIMIT), usage: 0, max: 0, failcnt: 0 });
    expect(m.memory_oom_control).toEqual({ oom_kill_disable: 0, under_oom: 0, oom_kill: 1 });
    // "max" pids is 0 on v1, as cgroups reports it.
    expect(m.pids).toEqual({ current: 2, limit: 0 });
    // The throttle files (not the recursive ones), every line but the totals, named from /proc/partitions.
    const entry = (op: string, major: number, minor: number, value: number, device = "/dev/sda") => ({ op, device, major, minor, value });
    expect(m.blkio!.io_serviced_recursive).toEqual([
      entry("Read", 8, 0, 5), entry("Write", 8, 0, 6), entry("Sync", 8, 0, 0), entry("Async", 8, 0, 11),
      entry("Discard", 8, 0, 0), entry("Total", 8, 0, 11), entry("Read", 253, 1, 1, ""),
    ]);
    expect(m.blkio!.io_service_bytes_recursive).toEqual([entry("Read", 8, 0, 20480), entry("Write", 8, 0, 24576)]);
    expect(m.blkio!.sectors_recursive).toEqual([]);
    // Sizes in the order of /sys/kernel/mm/hugepages' names (hugepages-1048576kB first).
    expect(m.hugetlb).toEqual([
      { usage: 0, max: 0, failcnt: 0, pagesize: "1GB" },
      { usage: 2097152, max: 4194304, failcnt: 1, pagesize: "2MB" },
    ]);
    expect(m.rdma).toEqual({
      current: [{ device: "mlx4_0", hca_handles: 2, hca_objects: 2000 }],
      limit: [{ device: "mlx4_0", hca_handles: 4294967295, hca_objects: 10 }],
    });
    expect([m.network, m.cgroup_stats]).toEqual([[], undefined]);

    // Past 2^53 the decoded numbers are rounded; the bytes are exact: the swap entry is
    // {limit: 2^63-4096, usage, max} and nothing rounded.
    const swapBytes = hex(encode(V1MemoryEntry, { limit: BigInt(V1_NO_LIMIT), usage: 1048577, max: 2097153 }));
    expect(swapBytes.startsWith(varintField(1, BigInt(V1_NO_LIMIT)))).toBe(true);
    expect(varintField(1, BigInt(V1_NO_LIMIT))).toBe("08" + "80e0ffffffffffff7f");
    expect(hex(any.value)).toContain(swapBytes);
  });

  it("stops at the first memory group whose files are missing (no swap accounting), as cgroups does", () => {
    tmp = mkdtempSync(join(tmpdir(), "tsrunc-metrics-"));
    const memsw = ["usage_in_bytes", "max_usage_in_bytes", "failcnt", "limit_in_bytes"].map((f) => `memory.memsw.${f}`);
    const rt = runtimeWith("c1", v1Cgroup(memsw));
    const m = decode(V1Metrics, taskMetrics(rt, "c1", v1Options()).value);
    const zero = { limit: 0, usage: 0, max: 0, failcnt: 0 };
    expect(m.memory!.usage!.usage).toBe(1048576);
    expect([m.memory!.swap, m.memory!.kernel, m.memory!.kernel_tcp]).toEqual([zero, zero, zero]);
  });

  it("answers NOT_FOUND once the cgroup is gone", () => {
    tmp = mkdtempSync(join(tmpdir(), "tsrunc-metrics-"));
    const cg = v1Cgroup();
    const rt = runtimeWith("c1", cg);
    for (const s of V1_SUBSYSTEMS) rmSync(cg.paths[s]!, { recursive: true });
    expect(() => taskMetrics(rt, "c1")).toThrow(TtrpcError);
    expect(() => taskMetrics(rt, "c1")).toThrow("cgroup does not exist");
  });
});

// ---------------------------------------------------------------------------------------------
// v2

const V2_MEMORY_STAT = [
  "anon 1000", "file 2000", "kernel 0", "kernel_stack 3000", "pagetables 5", "percpu 6", "sock 7", "vmalloc 0", "shmem 8",
  "zswap 0", "file_mapped 9", "file_dirty 10", "file_writeback 11", "swapcached 0", "anon_thp 12", "file_thp 0",
  "shmem_thp 0", "inactive_anon 13", "active_anon 14", "inactive_file 15", "active_file 16", "unevictable 17",
  "slab_reclaimable 18", "slab_unreclaimable 19", "slab 37", "workingset_refault_anon 0", "workingset_refault_file 0",
  "workingset_activate_anon 0", "workingset_activate_file 0", "workingset_restore_anon 0", "workingset_nodereclaim 20",
  "pgscan 21", "pgsteal 22", "pgfault 23", "pgmajfault 24", "pgrefill 25", "pgactivate 26", "pgdeactivate 27",
  "pglazyfree 28", "pglazyfreed 29", "thp_fault_alloc 30", "thp_collapse_alloc 31", "",
].join("\n");

function v2Cgroup(controllers = "cpuset cpu io memory hugetlb pids rdma misc"): CgroupState {
  const root = join(tmp, "unified");
  const dir = join(root, "tsrunc-test/c1");
  writeTree(dir, {
    "cgroup.controllers": controllers + "\n",
    "cgroup.procs": "",
    "cgroup.events": "populated 1\nfrozen 0\n",
    "cpu.stat": "usage_usec 5000\nuser_usec 3000\nsystem_usec 2000\nnr_periods 40\nnr_throttled 4\nthrottled_usec 400\n",
    "memory.stat": V2_MEMORY_STAT,
    "memory.current": "1048576\n",
    "memory.max": "33554432\n",
    "memory.swap.current": "0\n",
    "memory.swap.max": "max\n",
    "memory.events": "low 0\nhigh 1\nmax 2\noom 3\noom_kill 4\n",
    "pids.current": "3\n",
    "pids.max": "max\n",
    "io.stat": "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n253:1 rbytes=1 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n",
    "hugetlb.2MB.current": "2097152\n",
    "hugetlb.2MB.max": "max\n",
    "hugetlb.2MB.events": "max 0\n",
    "hugetlb.2MB.rsvd.max": "max\n",
    "hugetlb.1GB.current": "0\n",
    "hugetlb.1GB.max": "0\n",
    "rdma.current": "mlx4_0 hca_handle=1 hca_object=20\n",
    "rdma.max": "mlx4_0 hca_handle=max hca_object=max\n",
  });
  return { version: 1, driver: "cgroupfs", kind: "v2", mode: "unified", root, paths: { "": dir }, mountpoints: { "": root }, created: [] };
}

describe("taskMetrics on cgroup v2", () => {
  it("packs io.containerd.cgroups.v2.Metrics with what the cgroup files say", () => {
    tmp = mkdtempSync(join(tmpdir(), "tsrunc-metrics-"));
    const rt = runtimeWith("c2", v2Cgroup());
    const any = taskMetrics(rt, "c2", { hugePagesDir: join(tmp, "none") });
    expect(any.type_url).toBe("io.containerd.cgroups.v2.Metrics");
    const m = decode(V2Metrics, any.value);
    // "max" is 2^64-1 on v2 (pids.max, memory.swap.max, hugetlb max).
    expect(m.pids).toEqual({ current: 3, limit: Number(U64_MAX) });
    expect(m.cpu).toEqual({ usage_usec: 5000, user_usec: 3000, system_usec: 2000, nr_periods: 40, nr_throttled: 4, throttled_usec: 400 });
    const mem = m.memory!;
    expect([mem.anon, mem.file, mem.kernel_stack, mem.slab, mem.sock, mem.shmem, mem.file_mapped, mem.file_dirty, mem.file_writeback]).toEqual([
      1000, 2000, 3000, 37, 7, 8, 9, 10, 11,
    ]);
    expect([mem.anon_thp, mem.inactive_anon, mem.active_anon, mem.inactive_file, mem.active_file, mem.unevictable]).toEqual([12, 13, 14, 15, 16, 17]);
    expect([mem.slab_reclaimable, mem.slab_unreclaimable, mem.pgfault, mem.pgmajfault]).toEqual([18, 19, 23, 24]);
    // The kernel's split workingset_refault_anon/_file keys are not the single key cgroups 1.0.4 reads.
    expect([mem.workingset_refault, mem.workingset_activate, mem.workingset_nodereclaim]).toEqual([0, 0, 20]);
    expect([mem.pgrefill, mem.pgscan, mem.pgsteal, mem.pgactivate, mem.pgdeactivate, mem.pglazyfree, mem.pglazyfreed]).toEqual([25, 21, 22, 26, 27, 28, 29]);
    expect([mem.thp_fault_alloc, mem.thp_collapse_alloc]).toEqual([30, 31]);
    expect([mem.usage, mem.usage_limit, mem.swap_usage, mem.swap_limit]).toEqual([1048576, 33554432, 0, Number(U64_MAX)]);
    expect(m.memory_events).toEqual({ low: 0, high: 1, max: 2, oom: 3, oom_kill: 4 });
    expect(m.io).toEqual({
      usage: [
        { major: 8, minor: 0, rbytes: 4096, wbytes: 8192, rios: 1, wios: 2 },
        { major: 253, minor: 1, rbytes: 1, wbytes: 0, rios: 1, wios: 0 },
      ],
    });
    expect(m.hugetlb).toEqual([
      { current: 0, max: 0, pagesize: "1GB" },
      { current: 2097152, max: Number(U64_MAX), pagesize: "2MB" },
    ]);
    expect(m.rdma).toEqual({
      current: [{ device: "mlx4_0", hca_handles: 1, hca_objects: 20 }],
      limit: [{ device: "mlx4_0", hca_handles: 4294967295, hca_objects: 4294967295 }],
    });
    // 2^64-1 exactly: pids {current: 3, limit: ten bytes of 0xff..0x01}.
    expect(hex(any.value).startsWith("0a0d" + "0803" + varintField(2, BigInt(U64_MAX)))).toBe(true);
    expect(varintField(2, BigInt(U64_MAX))).toBe("10ffffffffffffffffff01");
  });

  it("leaves cpu.stat and memory.stat out for controllers the cgroup does not have", () => {
    tmp = mkdtempSync(join(tmpdir(), "tsrunc-metrics-"));
    const rt = runtimeWith("c2", v2Cgroup("pids"));
    const m = decode(V2Metrics, taskMetrics(rt, "c2", { hugePagesDir: join(tmp, "none") }).value);
    expect(m.cpu).toEqual({ usage_usec: 0, user_usec: 0, system_usec: 0, nr_periods: 0, nr_throttled: 0, throttled_usec: 0 });
    expect([m.memory!.anon, m.memory!.pgfault, m.memory!.usage]).toEqual([0, 0, 1048576]);
  });
});

// ---------------------------------------------------------------------------------------------
// Byte-exact against protoc

// The two packages' messages, field numbers from containerd/cgroups 1.0.4's stats/v1/metrics.proto
// and v2/stats/metrics.proto, in protoc's syntax (no gogo options).
const PROTO_V1 = `syntax = "proto3";
package io.containerd.cgroups.v1;
message Metrics { repeated HugetlbStat hugetlb = 1; PidsStat pids = 2; CPUStat cpu = 3; MemoryStat memory = 4;
  BlkIOStat blkio = 5; RdmaStat rdma = 6; repeated NetworkStat network = 7; CgroupStats cgroup_stats = 8;
  MemoryOomControl memory_oom_control = 9; }
message HugetlbStat { uint64 usage = 1; uint64 max = 2; uint64 failcnt = 3; string pagesize = 4; }
message PidsStat { uint64 current = 1; uint64 limit = 2; }
message CPUStat { CPUUsage usage = 1; Throttle throttling = 2; }
message CPUUsage { uint64 total = 1; uint64 kernel = 2; uint64 user = 3; repeated uint64 per_cpu = 4; }
message Throttle { uint64 periods = 1; uint64 throttled_periods = 2; uint64 throttled_time = 3; }
message MemoryStat { uint64 cache = 1; uint64 rss = 2; uint64 rss_huge = 3; uint64 mapped_file = 4; uint64 dirty = 5;
  uint64 writeback = 6; uint64 pg_pg_in = 7; uint64 pg_pg_out = 8; uint64 pg_fault = 9; uint64 pg_maj_fault = 10;
  uint64 inactive_anon = 11; uint64 active_anon = 12; uint64 inactive_file = 13; uint64 active_file = 14;
  uint64 unevictable = 15; uint64 hierarchical_memory_limit = 16; uint64 hierarchical_swap_limit = 17;
  uint64 total_cache = 18; uint64 total_rss = 19; uint64 total_rss_huge = 20; uint64 total_mapped_file = 21;
  uint64 total_dirty = 22; uint64 total_writeback = 23; uint64 total_pg_pg_in = 24; uint64 total_pg_pg_out = 25;
  uint64 total_pg_fault = 26; uint64 total_pg_maj_fault = 27; uint64 total_inactive_anon = 28;
  uint64 total_active_anon = 29; uint64 total_inactive_file = 30; uint64 total_active_file = 31;
  uint64 total_unevictable = 32; MemoryEntry usage = 33; MemoryEntry swap = 34; MemoryEntry kernel = 35;
  MemoryEntry kernel_tcp = 36; }
message MemoryEntry { uint64 limit = 1; uint64 usage = 2; uint64 max = 3; uint64 failcnt = 4; }
message MemoryOomControl { uint64 oom_kill_disable = 1; uint64 under_oom = 2; uint64 oom_kill = 3; }
message BlkIOStat { repeated BlkIOEntry io_service_bytes_recursive = 1; repeated BlkIOEntry io_serviced_recursive = 2;
  repeated BlkIOEntry io_queued_recursive = 3; repeated BlkIOEntry io_service_time_recursive = 4;
  repeated BlkIOEntry io_wait_time_recursive = 5; repeated BlkIOEntry io_merged_recursive = 6;
  repeated BlkIOEntry io_time_recursive = 7; repeated BlkIOEntry sectors_recursive = 8; }
message BlkIOEntry { string op = 1; string device = 2; uint64 major = 3; uint64 minor = 4; uint64 value = 5; }
message RdmaStat { repeated RdmaEntry current = 1; repeated RdmaEntry limit = 2; }
message RdmaEntry { string device = 1; uint32 hca_handles = 2; uint32 hca_objects = 3; }
message NetworkStat { string name = 1; uint64 rx_bytes = 2; uint64 rx_packets = 3; uint64 rx_errors = 4;
  uint64 rx_dropped = 5; uint64 tx_bytes = 6; uint64 tx_packets = 7; uint64 tx_errors = 8; uint64 tx_dropped = 9; }
message CgroupStats { uint64 nr_sleeping = 1; uint64 nr_running = 2; uint64 nr_stopped = 3;
  uint64 nr_uninterruptible = 4; uint64 nr_io_wait = 5; }
`;

const PROTO_V2 = `syntax = "proto3";
package io.containerd.cgroups.v2;
message Metrics { PidsStat pids = 1; CPUStat cpu = 2; MemoryStat memory = 4; RdmaStat rdma = 5; IOStat io = 6;
  repeated HugeTlbStat hugetlb = 7; MemoryEvents memory_events = 8; }
message PidsStat { uint64 current = 1; uint64 limit = 2; }
message CPUStat { uint64 usage_usec = 1; uint64 user_usec = 2; uint64 system_usec = 3; uint64 nr_periods = 4;
  uint64 nr_throttled = 5; uint64 throttled_usec = 6; }
message MemoryStat { uint64 anon = 1; uint64 file = 2; uint64 kernel_stack = 3; uint64 slab = 4; uint64 sock = 5;
  uint64 shmem = 6; uint64 file_mapped = 7; uint64 file_dirty = 8; uint64 file_writeback = 9; uint64 anon_thp = 10;
  uint64 inactive_anon = 11; uint64 active_anon = 12; uint64 inactive_file = 13; uint64 active_file = 14;
  uint64 unevictable = 15; uint64 slab_reclaimable = 16; uint64 slab_unreclaimable = 17; uint64 pgfault = 18;
  uint64 pgmajfault = 19; uint64 workingset_refault = 20; uint64 workingset_activate = 21;
  uint64 workingset_nodereclaim = 22; uint64 pgrefill = 23; uint64 pgscan = 24; uint64 pgsteal = 25;
  uint64 pgactivate = 26; uint64 pgdeactivate = 27; uint64 pglazyfree = 28; uint64 pglazyfreed = 29;
  uint64 thp_fault_alloc = 30; uint64 thp_collapse_alloc = 31; uint64 usage = 32; uint64 usage_limit = 33;
  uint64 swap_usage = 34; uint64 swap_limit = 35; }
message MemoryEvents { uint64 low = 1; uint64 high = 2; uint64 max = 3; uint64 oom = 4; uint64 oom_kill = 5; }
message RdmaStat { repeated RdmaEntry current = 1; repeated RdmaEntry limit = 2; }
message RdmaEntry { string device = 1; uint32 hca_handles = 2; uint32 hca_objects = 3; }
message IOStat { repeated IOEntry usage = 1; }
message IOEntry { uint64 major = 1; uint64 minor = 2; uint64 rbytes = 3; uint64 wbytes = 4; uint64 rios = 5; uint64 wios = 6; }
message HugeTlbStat { uint64 current = 1; uint64 max = 2; string pagesize = 3; }
`;

/** protobuf text format of a value as our codec takes it (plain objects, arrays, numbers, bigints, strings). */
function textFormat(v: Record<string, unknown>): string {
  const parts: string[] = [];
  for (const [k, x] of Object.entries(v)) {
    for (const item of Array.isArray(x) ? x : [x]) {
      if (item === undefined) continue;
      if (typeof item === "object" && item !== null) parts.push(`${k} { ${textFormat(item as Record<string, unknown>)} }`);
      else parts.push(`${k}: ${typeof item === "string" ? JSON.stringify(item) : String(item)}`);
    }
  }
  return parts.join(" ");
}

const haveProtoc = spawnSync("protoc", ["--version"]).status === 0;

function protocEncode(proto: string, type: string, value: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), "tsrunc-protoc-"));
  try {
    writeFileSync(join(dir, "m.proto"), proto);
    const r = spawnSync("protoc", [`-I${dir}`, `--encode=${type}`, "m.proto"], { input: textFormat(value), cwd: dir });
    if (r.status !== 0) throw new Error(`protoc: ${r.stderr.toString()}`);
    return hex(r.stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Every field of `desc` set (distinct values, so a wrong field number or type shows), nested ones
 * recursively, lists with two items; uint64 ones past 2^53 in places. */
function filled(desc: MessageDesc<unknown>, seed: { n: number }): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of desc.fields) {
    const one = (): unknown => {
      seed.n++;
      if (f.type === "message") return filled(f.message(), seed);
      if (f.type === "string") return `s${seed.n}`;
      if (f.type === "uint32") return seed.n * 1000;
      return seed.n % 5 === 0 ? BigInt(U64_MAX) - BigInt(seed.n) : BigInt.asUintN(64, BigInt(seed.n) << BigInt(seed.n % 60));
    };
    if (f.type === "map") continue;
    out[f.name] = f.repeated ? [one(), one()] : one();
  }
  return out;
}

describe.skipIf(!haveProtoc)("Metrics encodings are protoc's", () => {
  it("v1: every field, values past 2^53 included", () => {
    const v = filled(V1Metrics as MessageDesc<unknown>, { n: 0 });
    expect(hex(encode(V1Metrics, v as Partial<V1Metrics>))).toBe(protocEncode(PROTO_V1, "io.containerd.cgroups.v1.Metrics", v));
  });

  it("v2: every field, values past 2^53 included", () => {
    const v = filled(V2Metrics as MessageDesc<unknown>, { n: 0 });
    expect(hex(encode(V2Metrics, v as Partial<V2Metrics>))).toBe(protocEncode(PROTO_V2, "io.containerd.cgroups.v2.Metrics", v));
  });

  it("a small v1 and v2 Metrics as the shim sends them (zeros left out, empty messages kept)", () => {
    const limit: U64 = BigInt(V1_NO_LIMIT);
    const v1 = {
      pids: { current: 1, limit: 0 },
      cpu: { usage: { total: 5, kernel: 0, user: 5, per_cpu: [5, 0] }, throttling: {} },
      memory: { cache: 4096, usage: { limit, usage: 8192, max: 0, failcnt: 0 }, swap: {}, kernel: {}, kernel_tcp: {} },
      blkio: { io_serviced_recursive: [{ op: "Read", device: "/dev/sda", major: 8, minor: 0, value: 1 }] },
      memory_oom_control: { oom_kill_disable: 0, under_oom: 0, oom_kill: 0 },
    };
    const ours1 = hex(encode(V1Metrics, v1 as unknown as Partial<V1Metrics>));
    expect(ours1).toBe(protocEncode(PROTO_V1, "io.containerd.cgroups.v1.Metrics", v1));
    expect(ours1).toContain(varintField(1, limit));
    const v2 = {
      pids: { current: 1, limit: BigInt(U64_MAX) },
      cpu: { usage_usec: 10 },
      memory: { anon: 4096, usage: 8192, usage_limit: BigInt(U64_MAX), swap_limit: BigInt(U64_MAX) },
      rdma: {},
      io: { usage: [{ major: 8, minor: 0, rbytes: 1 }] },
    };
    expect(hex(encode(V2Metrics, v2 as unknown as Partial<V2Metrics>))).toBe(protocEncode(PROTO_V2, "io.containerd.cgroups.v2.Metrics", v2));
  });
});
