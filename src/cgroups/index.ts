// The cgroups library the runtime calls.
//
//   const cg = newCgroupManager({ containerId, cgroupsPath: spec.linux?.cgroupsPath, resources });
//   cg.create(); saveState({ cgroup: cg.toState() }); cg.apply(initPid); cg.set(resources);
//   … later, in another process:
//   const cg = loadCgroupManager(state.cgroup); cg.killAll(); …wait for the processes… cg.destroy();

import { isAbsolute, posix } from "node:path";
import { type CgroupHost, type DetectOptions, detectCgroupHost, findV1Hierarchy, isSystemdRunning, parseProcCgroup } from "./detect.ts";
import { CgroupError } from "./errors.ts";
import { type CgroupFs, nodeCgroupFs } from "./fsops.ts";
import {
  innerCgroupPath,
  parseSystemdCgroupsPath,
  resolveV1Paths,
  resolveV2Path,
  type SystemdCgroupConfig,
  systemdCgroupPath,
  systemdUnitName,
  V1_SUBSYSTEMS,
} from "./paths.ts";
import { SystemdManager } from "./systemd/manager.ts";
import { annotationProperties } from "./systemd/properties.ts";
import type { SystemdBusOptions } from "./systemd/systemd1.ts";
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
export { SystemdManager } from "./systemd/manager.ts";
export type { SystemdBusOptions } from "./systemd/systemd1.ts";
export { type BusStream, type PollFn, fdStream } from "./systemd/dbus.ts";

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
  /** How the systemd driver reaches systemd (the runtime connects sockets with its addon). */
  systemdBus?: SystemdBusOptions;
  /** The container's annotations: the systemd driver takes org.systemd.property.* from them. */
  annotations?: Record<string, string>;
  /** Effective uid (default process.geteuid()): the systemd driver is for root only. */
  euid?: number;
  /** Where warnings go (runc logs them): device rules systemd can't express, a unit that didn't stop cleanly. */
  warn?: (msg: string) => void;
}

/** The manager for a new container: paths resolved, nothing created yet. */
export function newCgroupManager(opts: CgroupManagerOptions): CgroupManager {
  if (opts.systemd) return newSystemdManager(parseSystemdCgroupsPath(opts.cgroupsPath, opts.containerId), opts);
  const host = opts.host ?? detectCgroupHost(opts);
  const inner = innerCgroupPath(opts.cgroupsPath, opts.containerId);
  const paths = host.mode === "unified" ? { "": resolveV2Path(host, inner) } : resolveV1Paths(host, inner);
  return fsManagerOf(newState(host, paths, { driver: "cgroupfs" }), { ...opts, existing: false });
}

/** The state of a manager not created yet: `paths` in the host's hierarchies. */
function newState(host: CgroupHost, paths: Record<string, string>, driver: Pick<CgroupState, "driver" | "unit">): CgroupState {
  const mountpoints: Record<string, string> = {};
  for (const s of Object.keys(paths)) mountpoints[s] = s === "" ? host.unified!.mountpoint : findV1Hierarchy(host, s)!.mountpoint;
  const unified = host.mode === "unified";
  return { version: 1, ...driver, kind: unified ? "v2" : "v1", mode: host.mode, root: unified ? host.unified!.mountpoint : host.root, paths, mountpoints, created: [] };
}

export type LoadOptions = Pick<CgroupManagerOptions, "fs" | "hugePagesDir" | "deviceFilter" | "skipDevices" | "systemdBus" | "warn">;

/** The manager of an existing container, from what toState() returned (possibly in another process). */
export function loadCgroupManager(state: CgroupState, opts: LoadOptions = {}): CgroupManager {
  if (!state || state.version !== 1 || (state.driver !== "cgroupfs" && state.driver !== "systemd")) {
    throw new CgroupError(`unsupported cgroup state ${JSON.stringify(state)?.slice(0, 200)}`);
  }
  for (const p of [...Object.values(state.paths), ...Object.values(state.mountpoints ?? {}), ...state.created]) {
    if (typeof p !== "string" || !isAbsolute(p)) throw new CgroupError(`invalid path ${JSON.stringify(p)} in cgroup state`);
  }
  if (state.driver === "cgroupfs") return fsManagerOf(state, { ...opts, existing: true });
  const unit = state.unit;
  if (typeof unit !== "string" || !/^[^/\0]+\.(scope|slice)$/.test(unit)) {
    throw new CgroupError(`invalid systemd unit ${JSON.stringify(unit)} in cgroup state`);
  }
  return new SystemdManager(fsManagerOf(state, { ...opts, existing: true }), { name: unit, containerId: "", slice: "", extra: [] }, {
    bus: opts.systemdBus,
    fs: opts.fs ?? nodeCgroupFs,
    existing: true,
    skipDevices: opts.skipDevices,
    warn: opts.warn,
  });
}

/** The v1 or v2 manager of the directories a state names. With the systemd driver, the unit's
 * directories count as made by us: what systemd leaves there after StopUnit is ours to remove. */
function fsManagerOf(
  state: CgroupState,
  opts: LoadOptions & Pick<CgroupManagerOptions, "resources"> & { existing: boolean },
): V1Manager | V2Manager {
  const created = state.driver === "systemd" ? Object.values(state.paths) : state.created;
  const io = { fs: opts.fs, hugePagesDir: opts.hugePagesDir, existing: opts.existing, resources: opts.resources };
  if (state.kind === "v2") {
    const dir = state.paths[""];
    if (!dir) throw new CgroupError("cgroup state of kind v2 has no path");
    return new V2Manager(state.root, dir, created, { ...io, deviceFilter: opts.deviceFilter });
  }
  if (state.mode !== "legacy" && state.mode !== "hybrid") throw new CgroupError(`cgroup state of kind v1 with mode ${state.mode}`);
  return new V1Manager(state.mode, state.root, { ...state.paths }, { ...state.mountpoints }, created, {
    ...io,
    skipDevices: opts.skipDevices,
  });
}

/** The systemd driver: the cgroup is a transient unit made over D-Bus (systemd/manager.ts), its
 * files handled by the cgroupfs manager of the directories systemd makes. */
function newSystemdManager(config: SystemdCgroupConfig, opts: CgroupManagerOptions): CgroupManager {
  const fs = opts.fs ?? nodeCgroupFs;
  if (!isSystemdRunning(fs, opts.systemdRunDir)) {
    throw new CgroupError("systemd cgroup driver requested but systemd is not running");
  }
  if ((opts.euid ?? process.geteuid?.() ?? 0) !== 0) {
    // runc talks to the user's own systemd instance over the session bus there: not done here.
    throw new CgroupError("the systemd cgroup driver is not supported for rootless containers; run without --systemd-cgroup");
  }
  const host = opts.host ?? detectCgroupHost(opts);
  const unit = {
    name: systemdUnitName(config),
    containerId: config.name,
    slice: config.parent || "system.slice",
    extra: annotationProperties(opts.annotations),
  };
  const rel = systemdCgroupPath(config);
  const paths: Record<string, string> = {};
  if (host.mode === "unified") {
    paths[""] = posix.join(host.unified!.mountpoint, rel);
  } else {
    // v1: below the cgroup of systemd itself (pid 1) in each hierarchy, as runc's legacy manager.
    const init = pid1Cgroups(fs);
    for (const s of V1_SUBSYSTEMS) {
      const h = findV1Hierarchy(host, s);
      if (h) paths[s] = posix.join(h.mountpoint, initPrefix(init.get(s)), rel);
    }
    if (host.mode === "hybrid" && host.unified) paths[""] = posix.join(host.unified.mountpoint, initPrefix(init.get("")), rel);
  }
  const state = newState(host, paths, { driver: "systemd", unit: unit.name });
  return new SystemdManager(fsManagerOf(state, { ...opts, existing: false }), unit, {
    bus: opts.systemdBus,
    fs,
    existing: false,
    skipDevices: opts.skipDevices,
    warn: opts.warn,
  });
}

/** /proc/1/cgroup; empty when it can't be read. */
function pid1Cgroups(fs: CgroupFs): Map<string, string> {
  try {
    return parseProcCgroup(fs.read("/proc/1/cgroup"));
  } catch {
    return new Map();
  }
}

/** systemd 226+ runs in init.scope: its units hang beside that, from the parent. */
function initPrefix(cgroup: string | undefined): string {
  const p = posix.normalize(cgroup || "/");
  return p.endsWith("/init.scope") ? posix.dirname(p) : p;
}
