// cgroup v1 (and the v1 part of a hybrid host): one directory per hierarchy, keyed by subsystem as
// runc keys them. Follows runc 1.1's fs manager; see types.ts for the contract.

import { posix } from "node:path";
import { BaseManager, type ManagerIo, sleep } from "./common.ts";
import { checkHugePageSizes, hugePageSizes, intStr, parseKeyValues, parseU64, toBig } from "./convert.ts";
import { DeviceEmulator, deviceRuleString, deviceRulesFromSpec } from "./devices.ts";
import { CgroupError, controllerMissing } from "./errors.ts";
import { BEST_EFFORT_SUBSYSTEMS, V1_SUBSYSTEMS } from "./paths.ts";
import { blkioSet, cpuSet, cpusetSet, memorySet, rdmaLine } from "./resources.ts";
import {
  emptyStats,
  finalizeStats,
  readBlkioStatsV1,
  readCpuacctStats,
  readCpusetStats,
  readCpuThrottling,
  readHugetlbStats,
  readMemoryStatsV1,
  readPidsStats,
} from "./stats.ts";
import type { CgroupManager, CgroupMountLayout, CgroupStats, FreezerState, LinuxResources } from "./types.ts";

export interface V1Options extends ManagerIo {
  /** Resources that must be in place before a process joins: cpuset cpus/mems, cpu realtime. */
  resources?: LinuxResources;
  /** Don't require (or touch) the devices controller. */
  skipDevices?: boolean;
}

const SUBSYSTEM_ORDER: string[] = [...V1_SUBSYSTEMS, ""];

export class V1Manager extends BaseManager implements CgroupManager {
  readonly kind = "v1" as const;
  private readonly initial?: LinuxResources;
  private readonly skipDevices: boolean;

  constructor(
    mode: "legacy" | "hybrid",
    root: string,
    paths: Record<string, string>,
    mountpoints: Record<string, string>,
    created: string[],
    opts: V1Options = {},
  ) {
    super(mode, root, paths, mountpoints, created, opts);
    this.initial = opts.resources;
    this.skipDevices = opts.skipDevices ?? false;
    if (this.skipDevices) delete this.pathMap.devices;
  }

  protected leafDirs(): string[] {
    return Object.values(this.pathMap);
  }

  private mountpointOf(subsystem: string): string {
    const m = this.mountpoints[subsystem];
    if (m === undefined) throw new CgroupError(`no mount point known for the ${subsystem || "cgroup2"} hierarchy`);
    return m;
  }

  mountLayout(): CgroupMountLayout {
    const hierarchies: { name: string; hostPath: string }[] = [];
    const symlinks: { name: string; target: string }[] = [];
    const seen = new Set<string>();
    for (const s of V1_SUBSYSTEMS) {
      const dir = this.pathMap[s];
      const mp = this.mountpoints[s];
      if (dir === undefined || mp === undefined || seen.has(mp)) continue;
      seen.add(mp);
      const name = posix.basename(mp);
      hierarchies.push({ name, hostPath: dir });
      // Co-mounted controllers get a symlink each: cpu -> cpu,cpuacct.
      if (name.includes(",")) for (const c of name.split(",")) symlinks.push({ name: c, target: name });
    }
    // runc mounts the hierarchies in the host's mount order; so does the container's mountinfo then.
    let mountinfo = "";
    try {
      mountinfo = this.fs.read("/proc/self/mountinfo");
    } catch {}
    const rank = (h: { name: string }) => {
      const mp = Object.values(this.mountpoints).find((m) => posix.basename(m) === h.name);
      const i = mp ? mountinfo.indexOf(` ${mp} `) : -1;
      return i < 0 ? Number.MAX_SAFE_INTEGER : i;
    };
    hierarchies.sort((a, b) => rank(a) - rank(b));
    return { version: 1, hierarchies, symlinks };
  }

  create(): void {
    if (!this.pathMap.devices && !this.skipDevices) {
      throw controllerMissing("devices", "confining the container's device access (required for security)");
    }
    for (const s of SUBSYSTEM_ORDER) {
      const dir = this.pathMap[s];
      if (dir === undefined) continue;
      try {
        const top = this.mountpointOf(s);
        const made = this.mkdirAll(top, dir);
        if (s === "cpuset") this.prepareCpuset(top, made.map((m) => m.dir));
        if (s === "cpu" && this.initial) this.setRealtime(dir, this.initial);
      } catch (err) {
        if (BEST_EFFORT_SUBSYSTEMS.has(s)) {
          delete this.pathMap[s];
          continue;
        }
        throw err;
      }
    }
    this.isCreated = true;
  }

  /** A new cpuset cgroup has empty cpus/mems and takes no process: copy the parent's down the chain
   * (runc's cpusetEnsureParent), putting the requested cpus/mems on the leaf first. */
  private prepareCpuset(top: string, chain: string[]): void {
    let parent = top;
    chain.forEach((dir, i) => {
      if (i === chain.length - 1 && this.initial?.cpu) this.setCpuset(dir, this.initial);
      for (const f of ["cpuset.cpus", "cpuset.mems"]) {
        if (this.files.read(dir, f).trim() === "") this.files.write(dir, f, this.files.read(parent, f).trim());
      }
      parent = dir;
    });
  }

  apply(pid: number): void {
    if (!this.isCreated) this.create();
    const done = new Set<string>();
    for (const s of SUBSYSTEM_ORDER) {
      const dir = this.pathMap[s];
      if (dir === undefined || done.has(dir)) continue;
      done.add(dir);
      try {
        this.writeProcs(dir, pid);
      } catch (err) {
        if (BEST_EFFORT_SUBSYSTEMS.has(s)) continue;
        throw err;
      }
    }
  }

  /** Directory of a subsystem for a setting, or an error naming the missing controller. */
  private need(subsystem: string, what: string): string {
    const dir = this.pathMap[subsystem];
    if (dir === undefined) throw controllerMissing(subsystem, what);
    return dir;
  }

  set(r: LinuxResources): void {
    if (r.unified && Object.keys(r.unified).length > 0) {
      throw new CgroupError("invalid configuration: cannot use unified on cgroup v1 (linux.resources.unified)");
    }
    if (r.hugepageLimits?.length) {
      checkHugePageSizes(
        r.hugepageLimits.map((h) => h.pageSize),
        hugePageSizes(this.fs, this.hugePagesDir),
      );
    }
    // runc's subsystem order.
    if (cpusetSet(r)) this.setCpuset(this.need("cpuset", "linux.resources.cpu.cpus/mems"), r);
    if (r.devices && !this.skipDevices) this.setDevices(this.need("devices", "linux.resources.devices"), r);
    if (memorySet(r)) this.setMemory(this.need("memory", "linux.resources.memory"), r);
    if (cpuSet(r)) this.setCpu(this.need("cpu", "linux.resources.cpu"), r);
    if (r.pids && toBig(r.pids.limit) !== 0n) {
      const limit = toBig(r.pids.limit);
      this.files.write(this.need("pids", "linux.resources.pids"), "pids.max", limit > 0n ? limit.toString() : "max");
    }
    if (blkioSet(r)) this.setBlkio(this.need("blkio", "linux.resources.blockIO"), r);
    for (const h of r.hugepageLimits ?? []) {
      this.files.write(this.need("hugetlb", "linux.resources.hugepageLimits"), `hugetlb.${h.pageSize}.limit_in_bytes`, intStr(h.limit));
    }
    if (r.network?.classID) {
      this.files.write(this.need("net_cls", "linux.resources.network.classID"), "net_cls.classid", String(r.network.classID));
    }
    for (const p of r.network?.priorities ?? []) {
      this.files.write(this.need("net_prio", "linux.resources.network.priorities"), "net_prio.ifpriomap", `${p.name} ${p.priority}`);
    }
    for (const [dev, lim] of Object.entries(r.rdma ?? {})) {
      this.files.write(this.need("rdma", "linux.resources.rdma"), "rdma.max", rdmaLine(dev, lim));
    }
  }

  private setCpuset(dir: string, r: LinuxResources): void {
    if (r.cpu?.cpus) this.files.write(dir, "cpuset.cpus", r.cpu.cpus);
    if (r.cpu?.mems) this.files.write(dir, "cpuset.mems", r.cpu.mems);
  }

  private setDevices(dir: string, r: LinuxResources): void {
    const target = DeviceEmulator.fromRules(deviceRulesFromSpec(r.devices));
    const current = DeviceEmulator.fromList(this.files.read(dir, "devices.list"));
    for (const rule of current.transition(target)) {
      this.files.write(dir, rule.allow ? "devices.allow" : "devices.deny", deviceRuleString(rule));
    }
    const after = DeviceEmulator.fromList(this.files.read(dir, "devices.list"));
    if (!target.defaultAllow && !after.equals(target)) {
      throw new CgroupError("resulting devices cgroup doesn't precisely match target", { path: dir, controller: "devices" });
    }
    if (target.defaultAllow !== after.defaultAllow) {
      throw new CgroupError("resulting devices cgroup doesn't match target mode", { path: dir, controller: "devices" });
    }
  }

  private setMemory(dir: string, r: LinuxResources): void {
    const m = r.memory!;
    const limit = m.limit !== undefined ? toBig(m.limit) : 0n;
    let swap = m.swap !== undefined ? toBig(m.swap) : 0n;
    // Unlimited memory without a swap setting means unlimited swap too (when swap accounting exists).
    if (limit === -1n && swap === 0n && this.files.exists(dir, "memory.memsw.limit_in_bytes")) swap = -1n;

    const writeLimit = () => {
      if (limit === 0n) return;
      try {
        this.files.write(dir, "memory.limit_in_bytes", limit.toString());
      } catch (err) {
        if (!(err instanceof CgroupError) || err.code !== "EBUSY") throw err;
        // EBUSY: the new limit is below what the cgroup uses now.
        const usage = this.files.readOptional(dir, "memory.usage_in_bytes")?.trim();
        const peak = this.files.readOptional(dir, "memory.max_usage_in_bytes")?.trim();
        throw new CgroupError(
          `${err.message.replace(/^cgroup: /, "")} (unable to set memory limit to ${limit}: current usage ${usage}, peak usage ${peak})`,
          { code: err.code, path: err.path, controller: "memory", cause: err },
        );
      }
    };
    const writeSwap = () => {
      if (swap !== 0n) this.files.write(dir, "memory.memsw.limit_in_bytes", swap.toString());
    };
    // memsw must stay >= memory: order the two writes so that holds at each step.
    let swapFirst = false;
    if (limit !== 0n && swap !== 0n) {
      const cur = parseU64(this.files.read(dir, "memory.limit_in_bytes"));
      swapFirst = swap === -1n || cur < swap;
    }
    if (swapFirst) {
      writeSwap();
      writeLimit();
    } else {
      writeLimit();
      writeSwap();
    }

    if (m.reservation !== undefined && toBig(m.reservation) !== 0n) {
      this.files.write(dir, "memory.soft_limit_in_bytes", intStr(m.reservation));
    }
    if (m.disableOOMKiller) this.files.write(dir, "memory.oom_control", "1");
    if (m.swappiness !== undefined && m.swappiness !== null) {
      const sw = toBig(m.swappiness);
      if (sw === -1n || sw === 0xffff_ffff_ffff_ffffn) {
        // -1: leave the kernel default, as runc does.
      } else if (sw >= 0n && sw <= 100n) {
        this.files.write(dir, "memory.swappiness", sw.toString());
      } else {
        throw new CgroupError(`invalid memory swappiness value: ${sw} (valid range is 0-100)`, { controller: "memory" });
      }
    }
    // kernel, kernelTCP and useHierarchy are ignored, as runc 1.1 ignores them.
  }

  /** Realtime settings go in before a process joins: a SCHED_RR process can't join a cgroup without
   * RT bandwidth. Period and runtime depend on each other; retry the period after the runtime. */
  private setRealtime(dir: string, r: LinuxResources): void {
    const c = r.cpu;
    if (!c) return;
    const period = c.realtimePeriod !== undefined ? toBig(c.realtimePeriod) : 0n;
    const runtime = c.realtimeRuntime !== undefined ? toBig(c.realtimeRuntime) : 0n;
    let retryPeriod = false;
    if (period !== 0n) {
      try {
        this.files.write(dir, "cpu.rt_period_us", period.toString());
      } catch (err) {
        if (!(err instanceof CgroupError && err.code === "EINVAL" && runtime !== 0n)) throw err;
        retryPeriod = true;
      }
    }
    if (runtime !== 0n) {
      this.files.write(dir, "cpu.rt_runtime_us", runtime.toString());
      if (retryPeriod) this.files.write(dir, "cpu.rt_period_us", period.toString());
    }
  }

  private setCpu(dir: string, r: LinuxResources): void {
    const c = r.cpu!;
    const shares = c.shares !== undefined ? toBig(c.shares) : 0n;
    if (shares !== 0n) {
      this.files.write(dir, "cpu.shares", shares.toString());
      const got = parseU64(this.files.read(dir, "cpu.shares"));
      if (shares > got) throw new CgroupError(`the maximum allowed cpu-shares is ${got}`, { controller: "cpu" });
      if (shares < got) throw new CgroupError(`the minimum allowed cpu-shares is ${got}`, { controller: "cpu" });
    }
    const quota = c.quota !== undefined ? toBig(c.quota) : 0n;
    const period = c.period !== undefined ? toBig(c.period) : 0n;
    // The kernel may refuse a period (or burst) that doesn't fit the old quota: retry after the quota.
    const deferrable = (file: string, value: string, ignoreMissing: boolean): boolean => {
      try {
        this.files.write(dir, file, value);
        return false;
      } catch (err) {
        if (err instanceof CgroupError && ignoreMissing && err.code === "ENOENT") return false;
        if (err instanceof CgroupError && err.code === "EINVAL" && quota !== 0n) return true;
        throw err;
      }
    };
    const retryPeriod = period !== 0n && deferrable("cpu.cfs_period_us", period.toString(), false);
    // cpu.cfs_burst_us came with Linux 5.14; without it the burst is ignored, as runc does.
    const burst = c.burst !== undefined && c.burst !== null ? intStr(c.burst) : undefined;
    const retryBurst = burst !== undefined && deferrable("cpu.cfs_burst_us", burst, true);
    if (quota !== 0n) {
      this.files.write(dir, "cpu.cfs_quota_us", quota.toString());
      if (retryPeriod) this.files.write(dir, "cpu.cfs_period_us", period.toString());
      if (retryBurst) this.files.write(dir, "cpu.cfs_burst_us", burst!);
    }
    if (c.idle !== undefined && c.idle !== null) this.files.write(dir, "cpu.idle", intStr(c.idle));
    this.setRealtime(dir, r);
  }

  private setBlkio(dir: string, r: LinuxResources): void {
    const b = r.blockIO!;
    // CFQ's blkio.weight, or BFQ's blkio.bfq.weight on kernels without CFQ.
    const cfq = this.files.exists(dir, "blkio.weight");
    const weightFile = cfq ? "blkio.weight" : "blkio.bfq.weight";
    const weightDeviceFile = cfq ? "blkio.weight_device" : "blkio.bfq.weight_device";
    if (b.weight) this.files.write(dir, weightFile, String(b.weight));
    if (b.leafWeight) this.files.write(dir, "blkio.leaf_weight", String(b.leafWeight));
    for (const wd of b.weightDevice ?? []) {
      const dev = `${intStr(wd.major)}:${intStr(wd.minor)}`;
      if (wd.weight) this.files.write(dir, weightDeviceFile, `${dev} ${wd.weight}`);
      if (wd.leafWeight) this.files.write(dir, "blkio.leaf_weight_device", `${dev} ${wd.leafWeight}`);
    }
    const throttles: [keyof typeof b, string][] = [
      ["throttleReadBpsDevice", "blkio.throttle.read_bps_device"],
      ["throttleWriteBpsDevice", "blkio.throttle.write_bps_device"],
      ["throttleReadIOPSDevice", "blkio.throttle.read_iops_device"],
      ["throttleWriteIOPSDevice", "blkio.throttle.write_iops_device"],
    ];
    for (const [k, file] of throttles) {
      for (const t of (b[k] as { major: number; minor: number; rate: number }[] | undefined) ?? []) {
        this.files.write(dir, file, `${intStr(t.major)}:${intStr(t.minor)} ${intStr(t.rate)}`);
      }
    }
  }

  // ---- freezer ----------------------------------------------------------------------------------

  private freezerDir(): string {
    const dir = this.pathMap.freezer;
    if (dir === undefined) throw new CgroupError("cannot toggle freezer: cgroups not configured for container", { controller: "freezer" });
    return dir;
  }

  freeze(): void {
    const dir = this.freezerDir();
    try {
      // A v1 cgroup may stay FREEZING while processes keep forking: retry, thawing now and then (runc).
      for (let i = 0; i < 1000; i++) {
        if (i % 50 === 49) {
          this.files.write(dir, "freezer.state", "THAWED");
          sleep(10);
        }
        this.files.write(dir, "freezer.state", "FROZEN");
        // A short pause now and then lets the tasks reach the refrigerator on a busy host (runc too).
        if (i % 25 === 24) sleep(0.01);
        const state = this.files.read(dir, "freezer.state").trim();
        if (state === "FROZEN") return;
        if (state !== "FREEZING") throw new CgroupError(`unexpected state ${state} while freezing`, { controller: "freezer" });
      }
      throw new CgroupError("unable to freeze", { controller: "freezer" });
    } catch (err) {
      // Don't leave it half frozen.
      try {
        this.files.write(dir, "freezer.state", "THAWED");
      } catch {
        /* the freeze error is the one to report */
      }
      throw err;
    }
  }

  thaw(): void {
    this.files.write(this.freezerDir(), "freezer.state", "THAWED");
  }

  state(): FreezerState {
    const dir = this.pathMap.freezer;
    if (dir === undefined) return "undefined";
    for (;;) {
      const state = this.files.readOptional(dir, "freezer.state")?.trim();
      if (state === undefined) return "undefined";
      if (state === "THAWED") return "thawed";
      if (state === "FREEZING") {
        sleep(1);
        continue;
      }
      if (state !== "FROZEN") throw new CgroupError(`unknown freezer.state ${JSON.stringify(state)}`);
      // Frozen by us, or only because an ancestor is? runc reports the latter as thawed.
      const self = this.files.readOptional(dir, "freezer.self_freezing")?.trim();
      return self === "0" ? "thawed" : "frozen";
    }
  }

  // ---- processes --------------------------------------------------------------------------------

  /** The directory runc lists processes from (the devices cgroup; any other without one). */
  private mainDir(): string | undefined {
    return this.pathMap.devices ?? this.pathMap.freezer ?? Object.values(this.pathMap)[0];
  }

  pids(): number[] {
    const dir = this.mainDir();
    return dir === undefined ? [] : this.pidsUnder(dir);
  }

  exists(): boolean {
    const dir = this.mainDir();
    return dir !== undefined && this.fs.exists(dir);
  }

  /** Freeze (so nothing forks past us), signal every pid, thaw. */
  killAll(signal: NodeJS.Signals | number = "SIGKILL"): void {
    this.signalAllFrozen(signal, this.pathMap.freezer !== undefined && this.fs.exists(this.pathMap.freezer));
  }

  oomKillCount(): number {
    const dir = this.pathMap.memory;
    if (dir === undefined) return 0;
    const text = this.files.readOptional(dir, "memory.oom_control");
    return text === undefined ? 0 : Number(parseKeyValues(text).get("oom_kill") ?? 0n);
  }

  stats(): CgroupStats {
    const st = emptyStats();
    const p = this.pathMap;
    const live = (s: string) => (p[s] !== undefined && this.fs.exists(p[s]!) ? p[s] : undefined);
    let d: string | undefined;
    if ((d = live("cpuset"))) readCpusetStats(this.files, d, st);
    if ((d = live("memory"))) readMemoryStatsV1(this.files, d, st);
    if ((d = live("cpu"))) readCpuThrottling(this.files, d, st, false);
    if ((d = live("cpuacct"))) readCpuacctStats(this.files, d, st);
    if ((d = live("pids"))) readPidsStats(this.files, d, st);
    if ((d = live("blkio"))) readBlkioStatsV1(this.files, d, st);
    if ((d = live("hugetlb"))) readHugetlbStats(this.files, d, st, hugePageSizes(this.fs, this.hugePagesDir), false);
    return finalizeStats(st);
  }
}
