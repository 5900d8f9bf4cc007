// TypeScript types of an OCI bundle's config.json, runtime-spec v1.3.0, the Linux-relevant parts.
// Hand-written to match schemas/*.json; a config that passed validateConfig() (src/spec/validate.ts)
// has this shape. Optional in the spec = optional (`?`) here. Integer fields are JS numbers: a 64-bit
// value above 2^53 (e.g. 18446744073709551615 for "unlimited") arrives rounded, as JSON.parse gives it.

/** The runtime-spec version this runtime implements. */
export const OCI_SPEC_VERSION = "1.3.0";

/** The whole config.json. */
export interface Spec {
  /** SemVer 2.0.0 of the spec the bundle complies with. */
  ociVersion: string;
  process?: Process;
  /** REQUIRED on Linux. */
  root: Root;
  hostname?: string;
  domainname?: string;
  mounts?: Mount[];
  hooks?: Hooks;
  annotations?: Record<string, string>;
  linux?: Linux;
  /** Other platforms' sections: accepted, ignored on Linux. */
  solaris?: Record<string, unknown>;
  windows?: Record<string, unknown>;
  vm?: Record<string, unknown>;
  zos?: Record<string, unknown>;
  freebsd?: Record<string, unknown>;
}

export interface Root {
  /** Absolute, or relative to the bundle directory. A directory must exist there. */
  path: string;
  readonly?: boolean;
}

export interface Process {
  terminal?: boolean;
  /** Ignored unless terminal is true. */
  consoleSize?: Box;
  user?: User;
  /** Required (at least one entry) on Linux; args[0] is looked up like execvp's file. */
  args?: string[];
  /** Windows only. */
  commandLine?: string;
  /** "KEY=value" entries. */
  env?: string[];
  /** Absolute path. */
  cwd: string;
  capabilities?: LinuxCapabilities;
  rlimits?: POSIXRlimit[];
  apparmorProfile?: string;
  /** -1000..1000; when absent, oom_score_adj is left alone. */
  oomScoreAdj?: number;
  selinuxLabel?: string;
  noNewPrivileges?: boolean;
  scheduler?: Scheduler;
  ioPriority?: IOPriority;
  execCPUAffinity?: CPUAffinity;
}

export interface Box {
  height: number;
  width: number;
}

export interface User {
  uid: number;
  gid: number;
  /** When absent, the umask is inherited. */
  umask?: number;
  additionalGids?: number[];
  /** Windows only. */
  username?: string;
}

export type CapabilitySet = "bounding" | "effective" | "inheritable" | "permitted" | "ambient";
export type LinuxCapabilities = Partial<Record<CapabilitySet, string[]>>;

export const RLIMIT_TYPES = [
  "RLIMIT_AS", "RLIMIT_CORE", "RLIMIT_CPU", "RLIMIT_DATA", "RLIMIT_FSIZE", "RLIMIT_LOCKS",
  "RLIMIT_MEMLOCK", "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_NOFILE", "RLIMIT_NPROC", "RLIMIT_RSS",
  "RLIMIT_RTPRIO", "RLIMIT_RTTIME", "RLIMIT_SIGPENDING", "RLIMIT_STACK",
] as const;
export type RlimitType = (typeof RLIMIT_TYPES)[number];

export interface POSIXRlimit {
  type: RlimitType;
  soft: number;
  hard: number;
}

export type SchedulerPolicy =
  | "SCHED_OTHER" | "SCHED_FIFO" | "SCHED_RR" | "SCHED_BATCH" | "SCHED_ISO" | "SCHED_IDLE" | "SCHED_DEADLINE";
export type SchedulerFlag =
  | "SCHED_FLAG_RESET_ON_FORK" | "SCHED_FLAG_RECLAIM" | "SCHED_FLAG_DL_OVERRUN" | "SCHED_FLAG_KEEP_POLICY"
  | "SCHED_FLAG_KEEP_PARAMS" | "SCHED_FLAG_UTIL_CLAMP_MIN" | "SCHED_FLAG_UTIL_CLAMP_MAX";

export interface Scheduler {
  policy: SchedulerPolicy;
  /** -20..19 for SCHED_OTHER / SCHED_BATCH; 0 when absent. */
  nice?: number;
  /** 1..99 for SCHED_FIFO / SCHED_RR only; 0 when absent. */
  priority?: number;
  flags?: SchedulerFlag[];
  /** Nanoseconds; SCHED_DEADLINE only. */
  runtime?: number;
  deadline?: number;
  period?: number;
}

export interface IOPriority {
  class: "IOPRIO_CLASS_RT" | "IOPRIO_CLASS_BE" | "IOPRIO_CLASS_IDLE";
  /** 0 (highest) .. 7 (lowest). */
  priority: number;
}

/** CPU lists such as "0-3,7"; not applied to the container's init process. */
export interface CPUAffinity {
  initial?: string;
  final?: string;
}

export interface Mount {
  /** Should be absolute; a relative one is deprecated and taken relative to "/" (with a warning). */
  destination: string;
  /** For bind mounts: absolute, or relative to the bundle. */
  source?: string;
  type?: string;
  options?: string[];
  /** Id-mapped mount; always given together with gidMappings. */
  uidMappings?: LinuxIDMapping[];
  gidMappings?: LinuxIDMapping[];
}

export interface Hook {
  /** Absolute. */
  path: string;
  args?: string[];
  env?: string[];
  /** Seconds, > 0. */
  timeout?: number;
}

export const HOOK_NAMES = [
  "prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop",
] as const;
export type HookName = (typeof HOOK_NAMES)[number];
/** prestart is deprecated in favour of createRuntime/createContainer/startContainer, but still run. */
export type Hooks = Partial<Record<HookName, Hook[]>>;

export interface Linux {
  namespaces?: LinuxNamespace[];
  uidMappings?: LinuxIDMapping[];
  gidMappings?: LinuxIDMapping[];
  timeOffsets?: Partial<Record<"monotonic" | "boottime", LinuxTimeOffset>>;
  devices?: LinuxDevice[];
  /** Host interface name -> settings inside the container. */
  netDevices?: Record<string, LinuxNetDevice>;
  cgroupsPath?: string;
  resources?: LinuxResources;
  intelRdt?: LinuxIntelRdt;
  sysctl?: Record<string, string>;
  seccomp?: LinuxSeccomp;
  /** The spec's four values; runc also takes the r-forms and "". */
  rootfsPropagation?: RootfsPropagation;
  maskedPaths?: string[];
  readonlyPaths?: string[];
  mountLabel?: string;
  personality?: LinuxPersonality;
  memoryPolicy?: LinuxMemoryPolicy;
}

export type RootfsPropagation =
  | "private" | "shared" | "slave" | "unbindable" | "rprivate" | "rshared" | "rslave" | "runbindable" | "";

export const NAMESPACE_TYPES = ["pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time"] as const;
export type LinuxNamespaceType = (typeof NAMESPACE_TYPES)[number];

export interface LinuxNamespace {
  type: LinuxNamespaceType;
  /** Absolute path of a namespace file to join; absent = create a new namespace. */
  path?: string;
}

export interface LinuxIDMapping {
  containerID: number;
  hostID: number;
  size: number;
}

export interface LinuxTimeOffset {
  secs?: number;
  /** 0..999999999 */
  nanosecs?: number;
}

export interface LinuxDevice {
  type: "c" | "b" | "u" | "p";
  /** Path inside the container. */
  path: string;
  /** Required unless type is "p". */
  major?: number;
  minor?: number;
  /** Decimal permission bits (file-type bits, if any, are ignored as runc does). */
  fileMode?: number;
  uid?: number;
  gid?: number;
}

export interface LinuxNetDevice {
  /** Name inside the container (may end in %d); the host name when absent. */
  name?: string;
}

export interface LinuxResources {
  devices?: LinuxDeviceCgroup[];
  memory?: LinuxMemory;
  cpu?: LinuxCPU;
  pids?: LinuxPids;
  blockIO?: LinuxBlockIO;
  hugepageLimits?: LinuxHugepageLimit[];
  network?: LinuxNetwork;
  rdma?: Record<string, LinuxRdma>;
  /** cgroup v2 file name ("controller.param") -> value. */
  unified?: Record<string, string>;
}

export interface LinuxDeviceCgroup {
  allow: boolean;
  /** "a" (default), "c" or "b". */
  type?: "a" | "c" | "b";
  /** Absent = any. */
  major?: number;
  minor?: number;
  /** Letters of "rwm" (runc requires it to be present and non-empty). */
  access?: string;
}

/** Byte limits: -1 = unlimited. */
export interface LinuxMemory {
  limit?: number;
  reservation?: number;
  /** memory+swap, as in cgroup v1. */
  swap?: number;
  /** Deprecated; ignored (with a warning), as runc does. */
  kernel?: number;
  kernelTCP?: number;
  /** 0..100 */
  swappiness?: number;
  disableOOMKiller?: boolean;
  useHierarchy?: boolean;
  checkBeforeUpdate?: boolean;
}

export interface LinuxCPU {
  shares?: number;
  quota?: number;
  burst?: number;
  period?: number;
  realtimeRuntime?: number;
  realtimePeriod?: number;
  cpus?: string;
  mems?: string;
  idle?: number;
}

export interface LinuxPids {
  /** -1 = unlimited; 0 is a real limit. */
  limit?: number;
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

/** At least one of weight / leafWeight is present. */
export interface LinuxWeightDevice {
  major: number;
  minor: number;
  weight?: number;
  leafWeight?: number;
}

export interface LinuxThrottleDevice {
  major: number;
  minor: number;
  rate: number;
}

export interface LinuxHugepageLimit {
  /** "<size><K|M|G>B", e.g. "2MB". */
  pageSize: string;
  limit: number;
}

export interface LinuxNetwork {
  classID?: number;
  priorities?: LinuxInterfacePriority[];
}

export interface LinuxInterfacePriority {
  name: string;
  priority: number;
}

/** At least one of the two is present. */
export interface LinuxRdma {
  hcaHandles?: number;
  hcaObjects?: number;
}

export interface LinuxIntelRdt {
  /** Not "." or ".."; no "/" unless it is exactly "/" (the default CLOS). */
  closID?: string;
  l3CacheSchema?: string;
  /** Starts with "MB:". */
  memBwSchema?: string;
  schemata?: string[];
  enableMonitoring?: boolean;
}

export type SeccompAction =
  | "SCMP_ACT_KILL" | "SCMP_ACT_KILL_PROCESS" | "SCMP_ACT_KILL_THREAD" | "SCMP_ACT_TRAP" | "SCMP_ACT_ERRNO"
  | "SCMP_ACT_TRACE" | "SCMP_ACT_ALLOW" | "SCMP_ACT_LOG" | "SCMP_ACT_NOTIFY";
export type SeccompFlag =
  | "SECCOMP_FILTER_FLAG_TSYNC" | "SECCOMP_FILTER_FLAG_LOG" | "SECCOMP_FILTER_FLAG_SPEC_ALLOW"
  | "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV";
export type SeccompArch =
  | "SCMP_ARCH_X86" | "SCMP_ARCH_X86_64" | "SCMP_ARCH_X32" | "SCMP_ARCH_ARM" | "SCMP_ARCH_AARCH64"
  | "SCMP_ARCH_MIPS" | "SCMP_ARCH_MIPS64" | "SCMP_ARCH_MIPS64N32" | "SCMP_ARCH_MIPSEL" | "SCMP_ARCH_MIPSEL64"
  | "SCMP_ARCH_MIPSEL64N32" | "SCMP_ARCH_PPC" | "SCMP_ARCH_PPC64" | "SCMP_ARCH_PPC64LE" | "SCMP_ARCH_S390"
  | "SCMP_ARCH_S390X" | "SCMP_ARCH_PARISC" | "SCMP_ARCH_PARISC64" | "SCMP_ARCH_RISCV64"
  | "SCMP_ARCH_LOONGARCH64" | "SCMP_ARCH_M68K" | "SCMP_ARCH_SH" | "SCMP_ARCH_SHEB";
export type SeccompOperator =
  | "SCMP_CMP_NE" | "SCMP_CMP_LT" | "SCMP_CMP_LE" | "SCMP_CMP_EQ" | "SCMP_CMP_GE" | "SCMP_CMP_GT"
  | "SCMP_CMP_MASKED_EQ";

export interface LinuxSeccomp {
  defaultAction: SeccompAction;
  /** Only with SCMP_ACT_ERRNO / SCMP_ACT_TRACE; EPERM when absent. */
  defaultErrnoRet?: number;
  flags?: SeccompFlag[];
  /** Unix socket for SCMP_ACT_NOTIFY. */
  listenerPath?: string;
  /** Only with listenerPath. */
  listenerMetadata?: string;
  architectures?: SeccompArch[];
  syscalls?: LinuxSyscall[];
}

export interface LinuxSyscall {
  /** At least one. */
  names: string[];
  action: SeccompAction;
  /** Only with SCMP_ACT_ERRNO / SCMP_ACT_TRACE; EPERM when absent. */
  errnoRet?: number;
  args?: LinuxSeccompArg[];
}

export interface LinuxSeccompArg {
  /** 0..5 */
  index: number;
  value: number;
  valueTwo?: number;
  op: SeccompOperator;
}

export interface LinuxPersonality {
  domain: "LINUX" | "LINUX32";
  /** No flags are defined; any given are ignored with a warning (as runc does). */
  flags?: string[];
}

export type MemoryPolicyMode =
  | "MPOL_DEFAULT" | "MPOL_BIND" | "MPOL_INTERLEAVE" | "MPOL_WEIGHTED_INTERLEAVE" | "MPOL_PREFERRED"
  | "MPOL_PREFERRED_MANY" | "MPOL_LOCAL";
export type MemoryPolicyFlag = "MPOL_F_NUMA_BALANCING" | "MPOL_F_RELATIVE_NODES" | "MPOL_F_STATIC_NODES";

export interface LinuxMemoryPolicy {
  mode: MemoryPolicyMode;
  /** Node list such as "0-3,7"; none for DEFAULT/LOCAL, at least one for BIND/INTERLEAVE/... */
  nodes?: string;
  flags?: MemoryPolicyFlag[];
}

/** Capability names of capabilities(7), in kernel order (the index is the capability's number). */
export const CAPABILITY_NAMES = [
  "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
  "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
  "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
  "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
  "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
  "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
  "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
] as const;
