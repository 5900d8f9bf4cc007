// The cgroups library the runtime calls.
//
//   const cg = newCgroupManager({ containerId, cgroupsPath: spec.linux?.cgroupsPath, resources });
//   cg.create(); saveState({ cgroup: cg.toState() }); cg.apply(initPid); cg.set(resources);
//   … later, in another process:
//   const cg = loadCgroupManager(state.cgroup); cg.killAll(); …wait for the processes… cg.destroy();

import { isAbsolute } from "node:path";
import { type CgroupHost, type DetectOptions, detectCgroupHost, findV1Hierarchy, isSystemdRunning } from "./detect.ts";
import { CgroupError } from "./errors.ts";
import { nodeCgroupFs } from "./fsops.ts";
import {
  innerCgroupPath,
  parseSystemdCgroupsPath,
  resolveV1Paths,
  resolveV2Path,
  type SystemdCgroupConfig,
  systemdUnitName,
} from "./paths.ts";
import type { CgroupManager, CgroupState, LinuxResources, V2DeviceFilter } from "./types.ts";
import { V1Manager } from "./v1.ts";
import { V2Manager } from "./v2.ts";

export type * from "./types.ts";
export { CgroupError } from "./errors.ts";
export type { CgroupFs } from "./fsops.ts";
export { nodeCgroupFs } from "./fsops.ts";
export {
  type CgroupHost,
  type DetectOptions,
  type MountInfoEntry,
  type UnifiedHierarchy,
  type V1Hierarchy,
  DEFAULT_CGROUP_ROOT,
  detectCgroupHost,
  findV1Hierarchy,
  isSystemdRunning,
  ownCgroupDir,
  parseMountInfo,
  parseProcCgroup,
} from "./detect.ts";
export {
  type SystemdCgroupConfig,
  cleanPath,
  expandSlice,
  innerCgroupPath,
  parseSystemdCgroupsPath,
  resolveV1Paths,
  resolveV2Path,
  systemdCgroupPath,
  systemdUnitName,
} from "./paths.ts";
export { blkioWeightToIoWeight, hugePageSizes, memorySwapToV2, sharesToWeight } from "./convert.ts";
export { DeviceEmulator, deviceRuleString, deviceRulesFromSpec } from "./devices.ts";
export { type BpfInsn, type DeviceFilterProgram, deviceFilterProgram, encodeInsns } from "./devicefilter.ts";
export { stringifyJSON } from "./stats.ts";
export { V1Manager } from "./v1.ts";
export { V2Manager } from "./v2.ts";

export interface CgroupManagerOptions extends DetectOptions {
  containerId: string;
  /** linux.cgroupsPath; empty/absent → runc's default (the container id, relative). */
  cgroupsPath?: string;
  /** --systemd-cgroup: cgroupsPath is "slice:prefix:name". */
  systemd?: boolean;
  /** The container's linux.resources: create() needs the parts that must precede a process joining
   * (v1 cpuset cpus/mems and cpu realtime; v2 whether domain controllers are needed). */
  resources?: LinuxResources;
  /** Detected host (default: detectCgroupHost(this)). */
  host?: CgroupHost;
  /** Where the kernel lists huge page sizes (default /sys/kernel/mm/hugepages). */
  hugePagesDir?: string;
  /** Don't require or touch the v1 devices controller (runc's SkipDevices). */
  skipDevices?: boolean;
  /** Enforces device rules on cgroup v2 (the eBPF loader); without it v2 device rules are not enforced. */
  deviceFilter?: V2DeviceFilter;
  /** Where sd_booted(3) looks (default /run/systemd/system). */
  systemdRunDir?: string;
}

/** The manager for a new container: paths resolved, nothing created yet. */
export function newCgroupManager(opts: CgroupManagerOptions): CgroupManager {
  if (opts.systemd) return newSystemdManager(parseSystemdCgroupsPath(opts.cgroupsPath, opts.containerId), opts);
  const host = opts.host ?? detectCgroupHost(opts);
  const inner = innerCgroupPath(opts.cgroupsPath, opts.containerId);
  const io = { fs: opts.fs, hugePagesDir: opts.hugePagesDir };
  if (host.mode === "unified") {
    return new V2Manager(host.unified!.mountpoint, resolveV2Path(host, inner), [], {
      ...io,
      resources: opts.resources,
      deviceFilter: opts.deviceFilter,
    });
  }
  const paths = resolveV1Paths(host, inner);
  const mountpoints: Record<string, string> = {};
  for (const s of Object.keys(paths)) {
    mountpoints[s] = s === "" ? host.unified!.mountpoint : findV1Hierarchy(host, s)!.mountpoint;
  }
  return new V1Manager(host.mode, host.root, paths, mountpoints, [], {
    ...io,
    resources: opts.resources,
    skipDevices: opts.skipDevices,
  });
}

export type LoadOptions = Pick<CgroupManagerOptions, "fs" | "hugePagesDir" | "deviceFilter" | "skipDevices">;

/** The manager of an existing container, from what toState() returned (possibly in another process). */
export function loadCgroupManager(state: CgroupState, opts: LoadOptions = {}): CgroupManager {
  if (!state || state.version !== 1 || state.driver !== "cgroupfs") {
    throw new CgroupError(`unsupported cgroup state ${JSON.stringify(state)?.slice(0, 200)}`);
  }
  for (const p of [...Object.values(state.paths), ...Object.values(state.mountpoints ?? {}), ...state.created]) {
    if (typeof p !== "string" || !isAbsolute(p)) throw new CgroupError(`invalid path ${JSON.stringify(p)} in cgroup state`);
  }
  const io = { fs: opts.fs, hugePagesDir: opts.hugePagesDir, existing: true };
  if (state.kind === "v2") {
    const dir = state.paths[""];
    if (!dir) throw new CgroupError("cgroup state of kind v2 has no path");
    return new V2Manager(state.root, dir, state.created, { ...io, deviceFilter: opts.deviceFilter });
  }
  if (state.mode !== "legacy" && state.mode !== "hybrid") throw new CgroupError(`cgroup state of kind v1 with mode ${state.mode}`);
  return new V1Manager(state.mode, state.root, { ...state.paths }, { ...state.mountpoints }, state.created, {
    ...io,
    skipDevices: opts.skipDevices,
  });
}

/** The systemd driver: the cgroup is a transient unit made over D-Bus. The D-Bus part is not written
 * yet; this checks what can be checked now so callers get runc's errors. */
function newSystemdManager(config: SystemdCgroupConfig, opts: CgroupManagerOptions): CgroupManager {
  if (!isSystemdRunning(opts.fs ?? nodeCgroupFs, opts.systemdRunDir)) {
    throw new CgroupError("systemd cgroup driver requested but systemd is not running");
  }
  throw new CgroupError(
    `systemd cgroup driver is not supported yet (unit ${systemdUnitName(config)}); run without --systemd-cgroup to use the cgroupfs driver`,
  );
}
