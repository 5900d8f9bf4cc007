// Types of the cgroups library: the part of the OCI config it reads (linux.resources), the manager
// interface the runtime drives, and the JSON-serialisable state that lets a later process (`delete`)
// act on the cgroups an earlier one (`create`) made.

/** An integer field of the OCI config. JSON.parse gives numbers; a bigint is accepted for values past 2^53. */
export type Int = number | bigint;

/** linux.resources.devices[] (runtime-spec config-linux.md "Allowed Device List"). */
export interface LinuxDeviceCgroup {
  allow: boolean;
  /** "a" (all, the default), "c" or "b". */
  type?: string;
  /** Absent or -1 means any (`*`). */
  major?: Int | null;
  minor?: Int | null;
  /** Some of "rwm". runc rejects an empty access string; so do we. */
  access?: string;
}

export interface LinuxMemory {
  limit?: Int;
  reservation?: Int;
  /** memory+swap, as in cgroup v1. */
  swap?: Int;
  /** Ignored (runc 1.1 only warns): kernel memory limits are deprecated and gone from recent kernels. */
  kernel?: Int;
  /** Ignored, like `kernel`. */
  kernelTCP?: Int;
  swappiness?: Int;
  disableOOMKiller?: boolean;
  /** Ignored, like runc: memory.use_hierarchy is always 1 on current kernels. */
  useHierarchy?: boolean;
  /** cgroup v2: refuse a memory (or memory+swap) limit at or below the current usage. */
  checkBeforeUpdate?: boolean;
}

export interface LinuxCPU {
  shares?: Int;
  quota?: Int;
  burst?: Int;
  period?: Int;
  realtimeRuntime?: Int;
  realtimePeriod?: Int;
  cpus?: string;
  mems?: string;
  idle?: Int;
}

export interface LinuxWeightDevice {
  major: Int;
  minor: Int;
  weight?: number;
  leafWeight?: number;
}

export interface LinuxThrottleDevice {
  major: Int;
  minor: Int;
  rate: Int;
}

export interface LinuxBlockIO {
  weight?: number;
  leafWeight?: number;
  weightDevice?: LinuxWeightDevice[];
  throttleReadBpsDevice?: LinuxThrottleDevice[];
  throttleWriteBpsDevice?: LinuxThrottleDevice[];
  throttleReadIOPSDevice?: LinuxThrottleDevice[];
  throttleWriteIOPSDevice?: LinuxThrottleDevice[];
}

export interface LinuxHugepageLimit {
  /** "2MB", "1GB", "64KB" … */
  pageSize: string;
  limit: Int;
}

export interface LinuxNetwork {
  classID?: number;
  priorities?: { name: string; priority: number }[];
}

export interface LinuxRdma {
  hcaHandles?: number;
  hcaObjects?: number;
}

/** linux.resources of the OCI runtime-spec. */
export interface LinuxResources {
  devices?: LinuxDeviceCgroup[];
  memory?: LinuxMemory;
  cpu?: LinuxCPU;
  pids?: { limit: Int };
  blockIO?: LinuxBlockIO;
  hugepageLimits?: LinuxHugepageLimit[];
  network?: LinuxNetwork;
  rdma?: Record<string, LinuxRdma>;
  /** cgroup v2 files to write verbatim ("memory.high": "1G"). An error on cgroup v1, as in runc. */
  unified?: Record<string, string>;
}

/** How the machine's cgroups are mounted. */
export type CgroupMode = "unified" | "legacy" | "hybrid";

/** freezer state; "undefined" when the container has no freezer (runc's configs.Undefined). */
export type FreezerState = "frozen" | "thawed" | "undefined";

/** What `toState()` returns and `loadCgroupManager()` takes back: plain JSON. */
export interface CgroupState {
  version: 1;
  /** "systemd": the cgroup is the transient unit `unit` (--systemd-cgroup); the paths are its
   * directories, written directly as with "cgroupfs". */
  driver: "cgroupfs" | "systemd";
  unit?: string;
  /** v1 (legacy and hybrid) or v2 (unified). */
  kind: "v1" | "v2";
  mode: CgroupMode;
  /** The root of the hierarchies (normally /sys/fs/cgroup); for v2 the unified mount point. */
  root: string;
  /** v1: subsystem → absolute directory (runc's cgroup_paths keys: "cpu", "memory", …, "name=systemd",
   * and "" for the cgroup2 hierarchy of a hybrid host). v2: { "": dir }. */
  paths: Record<string, string>;
  /** Mount point of each hierarchy, same keys as `paths`. */
  mountpoints: Record<string, string>;
  /** Every directory this manager made, in the order it made them (parents first). Only these are
   * removed by destroy(): a cgroup that existed before is never removed. */
  created: string[];
}

/** How to show the container its own cgroups at /sys/fs/cgroup (a `cgroup` mount in the config),
 * as runc does without a cgroup namespace: v1 gets a tmpfs with each hierarchy's container directory
 * bind-mounted under the hierarchy's name ("cpu,cpuacct", "memory", "systemd" …) and symlinks for
 * co-mounted controllers ("cpu" → "cpu,cpuacct"); v2 gets a cgroup2 mount. */
export type CgroupMountLayout =
  | { version: 2 }
  | { version: 1; hierarchies: { name: string; hostPath: string }[]; symlinks: { name: string; target: string }[] };

/** A device rule in the form the v1 devices controller and the v2 eBPF filter both understand. */
export interface DeviceRule {
  type: "a" | "c" | "b";
  /** -1 = any. */
  major: number;
  minor: number;
  /** Some of "rwm", in that order. */
  access: string;
  allow: boolean;
}

/**
 * Enforces device rules on a cgroup v2 directory. cgroup v2 has no devices controller: rules are an
 * eBPF program (BPF_PROG_TYPE_CGROUP_DEVICE) attached to the directory. That loader lives outside this
 * library (it needs the native addon); the v2 manager calls it when one is given, and without one
 * `set()` leaves devices alone.
 */
export interface V2DeviceFilter {
  apply(cgroupDir: string, rules: DeviceRule[]): void;
}

// ---- stats, in the shape of `runc events --stats` ("data" of the stats event) -------------------------
// Values are bigint because cgroup counters are uint64 (a v1 "no limit" is 9223372036854771712).
// Optional fields are those runc's JSON omits when zero (Go omitempty); stringifyJSON() prints them.

export interface StatsCpuUsage {
  total?: bigint;
  percpu?: bigint[];
  percpu_kernel?: bigint[];
  percpu_user?: bigint[];
  kernel: bigint;
  user: bigint;
}

export interface StatsThrottling {
  periods?: bigint;
  throttledPeriods?: bigint;
  throttledTime?: bigint;
}

export interface StatsCpuset {
  cpus?: number[];
  cpu_exclusive: bigint;
  mems?: number[];
  mem_hardwall: bigint;
  mem_exclusive: bigint;
  memory_migrate: bigint;
  memory_spread_page: bigint;
  memory_spread_slab: bigint;
  memory_pressure: bigint;
  sched_load_balance: bigint;
  sched_relax_domain_level: bigint;
}

export interface StatsMemoryEntry {
  limit: bigint;
  usage?: bigint;
  max?: bigint;
  failcnt: bigint;
}

export interface StatsMemory {
  cache?: bigint;
  usage: StatsMemoryEntry;
  swap: StatsMemoryEntry;
  kernel: StatsMemoryEntry;
  kernelTCP: StatsMemoryEntry;
  raw?: Record<string, bigint>;
}

export interface StatsBlkioEntry {
  major?: bigint;
  minor?: bigint;
  op?: string;
  value?: bigint;
}

export interface StatsBlkio {
  ioServiceBytesRecursive?: StatsBlkioEntry[];
  ioServicedRecursive?: StatsBlkioEntry[];
  ioQueueRecursive?: StatsBlkioEntry[];
  ioServiceTimeRecursive?: StatsBlkioEntry[];
  ioWaitTimeRecursive?: StatsBlkioEntry[];
  ioMergedRecursive?: StatsBlkioEntry[];
  ioTimeRecursive?: StatsBlkioEntry[];
  sectorsRecursive?: StatsBlkioEntry[];
}

export interface StatsHugetlb {
  usage?: bigint;
  max?: bigint;
  failcnt: bigint;
}

export interface CgroupStats {
  cpu: { usage: StatsCpuUsage; throttling: StatsThrottling };
  cpuset: StatsCpuset;
  memory: StatsMemory;
  pids: { current?: bigint; limit?: bigint };
  blkio: StatsBlkio;
  hugetlb: Record<string, StatsHugetlb>;
  /** Filled by the runtime (Intel RDT is not a cgroup); {} here, as runc prints without RDT. */
  intel_rdt: Record<string, unknown>;
  /** Filled by the runtime from the container's network namespace; null here, as runc prints without. */
  network_interfaces: unknown[] | null;
}

/** The runtime's handle on one container's cgroup(s). Synchronous, like the cgroup file system: the
 * few waits (a pid still being set up, a cgroup still freezing or emptying) block briefly. */
export interface CgroupManager {
  readonly kind: "v1" | "v2";
  readonly mode: CgroupMode;
  /** Same keys as CgroupState.paths. */
  readonly paths: Readonly<Record<string, string>>;

  /** mkdir every missing directory (remembering which), prepare cpuset/realtime settings that must
   * be in place before a process joins (v1) and enable controllers in the parents (v2). Idempotent. */
  create(): void;
  /** create() if needed, then put `pid` in the cgroup (cgroup.procs of every hierarchy). */
  apply(pid: number): void;
  /** Write linux.resources. Fields left out are left alone. */
  set(resources: LinuxResources): void;
  freeze(): void;
  thaw(): void;
  state(): FreezerState;
  /** Every pid in the container's cgroup and its descendants. */
  pids(): number[];
  stats(): CgroupStats;
  /** Number of OOM kills in the container's memory cgroup (0 without one). */
  oomKillCount(): number;
  /** Signal every process; SIGKILL on v2 uses cgroup.kill where the kernel has it. Does not wait. */
  killAll(signal?: NodeJS.Signals | number): void;
  /** rmdir what create() made, leaf first (sub-cgroups of a leaf we made go too), retrying on EBUSY.
   * Kills nothing: a cgroup that still has processes makes it fail. */
  destroy(): void;
  /** Whether the container's cgroup directory exists. */
  exists(): boolean;
  /** What the container's /sys/fs/cgroup should show (see CgroupMountLayout). */
  mountLayout(): CgroupMountLayout;
  toState(): CgroupState;
}
