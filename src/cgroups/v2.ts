// cgroup v2: one directory in the unified tree. Follows runc 1.1's fs2 manager (plus cpu.idle,
// cpu.max.burst and memory checkBeforeUpdate, which came later); see types.ts for the contract.
//
// Devices: cgroup v2 has no devices controller. Device rules are an eBPF program attached to the
// directory, which is a separate piece (it needs bpf(2) through the native addon): pass a
// V2DeviceFilter to enforce them; without one, set() leaves devices alone.

import { join, posix } from "node:path";
import { BaseManager, type ManagerIo, sleep } from "./common.ts";
import {
  blkioWeightToIoWeight,
  checkHugePageSizes,
  hugePageSizes,
  intStr,
  memorySwapToV2,
  parseKeyValues,
  parseU64,
  sharesToWeight,
  toBig,
  v2LimitStr,
} from "./convert.ts";
import { deviceRulesFromSpec } from "./devices.ts";
import { CgroupError, controllerMissing } from "./errors.ts";
import { blkioSet, cpuSet, cpusetSet, hugetlbSet, memoryLimitsSet, rdmaLine } from "./resources.ts";
import {
  emptyStats,
  finalizeStats,
  readCpuThrottling,
  readHugetlbStats,
  readIoStatsV2,
  readMemoryStatsV2,
  readPidsStats,
} from "./stats.ts";
import type { CgroupManager, CgroupMountLayout, CgroupStats, FreezerState, LinuxResources, V2DeviceFilter } from "./types.ts";

export interface V2Options extends ManagerIo {
  /** Resources the container will get: create() refuses a threaded subtree when they need domain
   * controllers (memory, io, cpu, hugetlb), as runc does. */
  resources?: LinuxResources;
  /** Enforces linux.resources.devices (the eBPF part). Without one, device rules are not enforced. */
  deviceFilter?: V2DeviceFilter;
}

/** Which controller owns a file ("memory.max" → "memory"). */
function controllerOf(file: string): string {
  return file.split(".")[0]!;
}

export class V2Manager extends BaseManager implements CgroupManager {
  readonly kind = "v2" as const;
  private readonly initial?: LinuxResources;
  private readonly deviceFilter?: V2DeviceFilter;

  /** `root` is the unified mount point; `dir` the container's directory below it. */
  constructor(root: string, dir: string, created: string[], opts: V2Options = {}) {
    super("unified", root, { "": dir }, { "": root }, created, opts);
    this.initial = opts.resources;
    this.deviceFilter = opts.deviceFilter;
  }

  get dir(): string {
    return this.pathMap[""]!;
  }

  protected leafDirs(): string[] {
    return [this.dir];
  }

  mountLayout(): CgroupMountLayout {
    return { version: 2 };
  }

  private controllers(dir: string): Set<string> {
    return new Set((this.files.readOptional(dir, "cgroup.controllers") ?? "").split(/\s+/).filter(Boolean));
  }

  create(): void {
    const rel = posix.relative(this.root, this.dir);
    if (rel.startsWith("..") || posix.isAbsolute(rel)) {
      throw new CgroupError(`invalid cgroup path ${this.dir}: not inside ${this.root}`, { path: this.dir });
    }
    const all = [...this.controllers(this.root)];
    const enable = all.map((c) => `+${c}`).join(" ");
    const domain = this.initial ? needsDomainControllers(this.initial) : false;
    const before = this.created.length;
    try {
      // Enable every available controller from the root down to the container's parent, so that
      // any later `update` finds its controller (runc does the same).
      if (this.dir !== this.root && enable) this.enableControllers(this.root, enable);
      this.mkdirAll(this.root, this.dir, (level) => {
        this.checkType(level, domain);
        if (level !== this.dir && enable) this.enableControllers(level, enable);
      });
    } catch (err) {
      // Don't leave directories made by a failed create behind.
      for (const d of this.created.splice(before).reverse()) {
        try {
          this.fs.rmdir(d);
        } catch {
          /* report the original error */
        }
      }
      throw err;
    }
    this.isCreated = true;
  }

  private checkType(dir: string, domain: boolean): void {
    const type = this.files.readOptional(dir, "cgroup.type")?.trim();
    if (type === "domain invalid") {
      // Below a cgroup with processes in it: only thread-aware controllers can work here.
      if (domain) throw new CgroupError(`cannot enter cgroupv2 ${JSON.stringify(dir)} with domain controllers -- it is in an invalid state`, { path: dir });
      try {
        this.files.write(dir, "cgroup.type", "threaded");
      } catch {
        /* as runc: best effort */
      }
    } else if ((type === "domain threaded" || type === "threaded") && domain) {
      throw new CgroupError(`cannot enter cgroupv2 ${JSON.stringify(dir)} with domain controllers -- it is in ${type} mode`, { path: dir });
    }
  }

  private enableControllers(dir: string, enable: string): void {
    try {
      this.files.write(dir, "cgroup.subtree_control", enable);
    } catch {
      // One by one: some may be refused (not delegated, threaded …); set() reports what is missing.
      for (const c of enable.split(" ")) {
        try {
          this.files.write(dir, "cgroup.subtree_control", c);
        } catch {
          /* see above */
        }
      }
    }
  }

  apply(pid: number): void {
    if (!this.isCreated) this.create();
    this.writeProcs(this.dir, pid);
  }

  /** Writes a file, turning "no such file" for a controller the cgroup lacks into an error naming
   * the controller. */
  private write(file: string, value: string, what: string): void {
    try {
      this.files.write(this.dir, file, value);
    } catch (err) {
      if (err instanceof CgroupError && (err.code === "ENOENT" || err.code === "EPERM")) {
        const c = controllerOf(file);
        if (c !== "cgroup" && this.fs.exists(this.dir) && !this.controllers(this.dir).has(c)) {
          throw controllerMissing(c, what, this.dir);
        }
      }
      throw err;
    }
  }

  set(r: LinuxResources): void {
    if (hugetlbSet(r)) {
      checkHugePageSizes(
        r.hugepageLimits!.map((h) => h.pageSize),
        hugePageSizes(this.fs, this.hugePagesDir),
      );
    }
    // runc's order: pids, memory, io, cpu, devices, cpuset, hugetlb, rdma, unified.
    if (r.pids && toBig(r.pids.limit) !== 0n) {
      const limit = toBig(r.pids.limit);
      this.write("pids.max", limit > 0n ? limit.toString() : "max", "linux.resources.pids");
    }
    if (memoryLimitsSet(r)) this.setMemory(r);
    if (blkioSet(r)) this.setIo(r);
    if (cpuSet(r)) this.setCpu(r);
    if (r.devices && this.deviceFilter) this.deviceFilter.apply(this.dir, deviceRulesFromSpec(r.devices));
    if (cpusetSet(r)) {
      if (r.cpu!.cpus) this.write("cpuset.cpus", r.cpu!.cpus, "linux.resources.cpu.cpus");
      if (r.cpu!.mems) this.write("cpuset.mems", r.cpu!.mems, "linux.resources.cpu.mems");
    }
    for (const h of r.hugepageLimits ?? []) {
      this.write(`hugetlb.${h.pageSize}.max`, intStr(h.limit), "linux.resources.hugepageLimits");
    }
    for (const [dev, lim] of Object.entries(r.rdma ?? {})) this.write("rdma.max", rdmaLine(dev, lim), "linux.resources.rdma");
    for (const [k, v] of Object.entries(r.unified ?? {})) this.setUnified(k, v);
    // Ignored on v2, as runc does: memory swappiness / disableOOMKiller / kernel*, cpu realtime*,
    // blockIO leafWeight, network (net_cls/net_prio don't exist in v2).
  }

  private setMemory(r: LinuxResources): void {
    const m = r.memory!;
    const limit = m.limit !== undefined ? toBig(m.limit) : 0n;
    const swapIn = m.swap !== undefined ? toBig(m.swap) : 0n;
    if (m.checkBeforeUpdate && (limit > 0n || swapIn > 0n)) {
      const cur = this.files.readOptional(this.dir, "memory.current");
      const usage = cur === undefined ? undefined : parseU64(cur);
      if (usage !== undefined && swapIn > 0n && swapIn <= usage) {
        throw new CgroupError(`rejecting memory+swap limit ${swapIn} <= usage ${usage} (linux.resources.memory.checkBeforeUpdate)`, { controller: "memory" });
      }
      if (usage !== undefined && limit > 0n && limit <= usage) {
        throw new CgroupError(`rejecting memory limit ${limit} <= usage ${usage} (linux.resources.memory.checkBeforeUpdate)`, { controller: "memory" });
      }
    }
    const swap = memorySwapToV2(swapIn, limit);
    let swapStr = v2LimitStr(swap);
    if (swapStr === "" && swap === 0n && swapIn > 0n) swapStr = "0"; // memory == memory+swap: no swap
    if (swapStr !== "") {
      try {
        this.write("memory.swap.max", swapStr, "linux.resources.memory.swap");
      } catch (err) {
        // Without swap accounting there is no memory.swap.max: "max" and "0" then hold anyway.
        if (!(err instanceof CgroupError && err.code === "ENOENT" && !err.controller && (swapStr === "max" || swapStr === "0"))) throw err;
      }
    }
    const max = v2LimitStr(limit);
    if (max) this.write("memory.max", max, "linux.resources.memory.limit");
    const low = v2LimitStr(m.reservation !== undefined ? toBig(m.reservation) : 0n);
    if (low) this.write("memory.low", low, "linux.resources.memory.reservation");
  }

  private setIo(r: LinuxResources): void {
    const b = r.blockIO!;
    const what = "linux.resources.blockIO";
    // BFQ's io.bfq.weight takes blkio weights as they are; io.weight needs converting.
    const bfq = this.files.readOptional(this.dir, "io.bfq.weight");
    if (b.weight) {
      if (bfq !== undefined) this.write("io.bfq.weight", String(b.weight), what);
      else this.write("io.weight", blkioWeightToIoWeight(b.weight).toString(), what);
    }
    // Per-device BFQ weights need Linux 5.4+, where io.bfq.weight reads "default N" rather than N.
    if (bfq !== undefined && !/^\s*\d+\s*$/.test(bfq)) {
      for (const wd of b.weightDevice ?? []) {
        if (wd.weight) this.write("io.bfq.weight", `${intStr(wd.major)}:${intStr(wd.minor)} ${wd.weight}`, what);
      }
    }
    const throttles: [keyof typeof b, string][] = [
      ["throttleReadBpsDevice", "rbps"],
      ["throttleWriteBpsDevice", "wbps"],
      ["throttleReadIOPSDevice", "riops"],
      ["throttleWriteIOPSDevice", "wiops"],
    ];
    for (const [k, name] of throttles) {
      for (const t of (b[k] as { major: number; minor: number; rate: number }[] | undefined) ?? []) {
        this.write("io.max", `${intStr(t.major)}:${intStr(t.minor)} ${name}=${intStr(t.rate)}`, what);
      }
    }
  }

  private setCpu(r: LinuxResources): void {
    const c = r.cpu!;
    const what = "linux.resources.cpu";
    if (c.idle !== undefined && c.idle !== null) this.write("cpu.idle", intStr(c.idle), what);
    const weight = c.shares !== undefined ? sharesToWeight(c.shares) : 0n;
    if (weight !== 0n) this.write("cpu.weight", weight.toString(), what);
    const quota = c.quota !== undefined ? toBig(c.quota) : 0n;
    const period = c.period !== undefined ? toBig(c.period) : 0n;
    const burst = c.burst !== undefined && c.burst !== null ? intStr(c.burst) : undefined;
    let retryBurst = false;
    if (burst !== undefined) {
      try {
        this.write("cpu.max.burst", burst, what);
      } catch (err) {
        // A burst over the old quota is refused: retry once the new quota is in.
        if (!(err instanceof CgroupError && err.code === "EINVAL" && quota !== 0n)) throw err;
        retryBurst = true;
      }
    }
    if (quota !== 0n || period !== 0n) {
      const q = quota > 0n ? quota.toString() : "max";
      this.write("cpu.max", `${q} ${period !== 0n ? period : 100000n}`, what);
      if (retryBurst) this.write("cpu.max.burst", burst!, what);
    }
  }

  private setUnified(key: string, value: string): void {
    if (key.includes("/")) throw new CgroupError(`unified resource ${JSON.stringify(key)} must be a file name (no slashes)`);
    try {
      this.files.write(this.dir, key, value);
    } catch (err) {
      if (err instanceof CgroupError && (err.code === "ENOENT" || err.code === "EPERM")) {
        const parts = key.split(".");
        if (parts.length < 2) throw new CgroupError(`unified resource ${JSON.stringify(key)} must be in the form CONTROLLER.PARAMETER`);
        const c = parts[0]!;
        if (c !== "cgroup" && !this.controllers(this.dir).has(c)) {
          throw new CgroupError(`unified resource ${JSON.stringify(key)} can't be set: controller ${JSON.stringify(c)} not available`, {
            controller: c,
            code: err.code,
          });
        }
      }
      throw err;
    }
  }

  // ---- freezer ----------------------------------------------------------------------------------

  freeze(): void {
    if (!this.files.exists(this.dir, "cgroup.freeze")) {
      throw new CgroupError(`freezer not supported: ${join(this.dir, "cgroup.freeze")} does not exist (Linux 5.2+)`, { controller: "freezer" });
    }
    this.files.write(this.dir, "cgroup.freeze", "1");
    if (this.state() !== "frozen") {
      throw new CgroupError(`expected "cgroup.freeze" to be in state frozen`, { controller: "freezer" });
    }
  }

  thaw(): void {
    if (!this.files.exists(this.dir, "cgroup.freeze")) return;
    this.files.write(this.dir, "cgroup.freeze", "0");
    const state = this.state();
    if (state !== "thawed") throw new CgroupError(`expected "cgroup.freeze" to be in state thawed but was in ${state}`, { controller: "freezer" });
  }

  state(): FreezerState {
    const v = this.files.readOptional(this.dir, "cgroup.freeze")?.trim();
    if (v === undefined) return "undefined";
    if (v === "0") return "thawed";
    if (v !== "1") throw new CgroupError(`unknown "cgroup.freeze" state: ${JSON.stringify(v)}`);
    // Asked to freeze: wait until every process actually is (cgroup.events "frozen 1"), 10 s at most.
    for (let i = 0; i < 1000; i++) {
      const ev = parseKeyValues(this.files.read(this.dir, "cgroup.events"));
      if (ev.get("frozen") === 1n) return "frozen";
      sleep(10);
    }
    throw new CgroupError("timeout of 10s reached waiting for the cgroup to freeze", { controller: "freezer" });
  }

  // ---- processes --------------------------------------------------------------------------------

  pids(): number[] {
    return this.pidsUnder(this.dir);
  }

  exists(): boolean {
    return this.fs.exists(this.dir);
  }

  /** SIGKILL through cgroup.kill (Linux 5.14+): the kernel kills every process, forks included.
   * Otherwise freeze, signal each pid, thaw. */
  killAll(signal: NodeJS.Signals | number = "SIGKILL"): void {
    if ((signal === "SIGKILL" || signal === 9) && this.files.exists(this.dir, "cgroup.kill")) {
      this.files.write(this.dir, "cgroup.kill", "1");
      return;
    }
    this.signalAllFrozen(signal, true);
  }

  oomKillCount(): number {
    const text = this.files.readOptional(this.dir, "memory.events");
    return text === undefined ? 0 : Number(parseKeyValues(text).get("oom_kill") ?? 0n);
  }

  stats(): CgroupStats {
    const st = emptyStats();
    const d = this.dir;
    if (!readPidsStats(this.files, d, st)) {
      // Without the pids controller, count cgroup.procs.
      const procs = this.files.readOptional(d, "cgroup.procs");
      if (procs !== undefined) {
        const n = BigInt(procs.split("\n").filter((l) => l.trim()).length);
        if (n) st.pids.current = n;
      }
    }
    readMemoryStatsV2(this.files, d, st);
    readIoStatsV2(this.files, d, st);
    readCpuThrottling(this.files, d, st, true);
    if (this.controllers(d).has("hugetlb")) {
      readHugetlbStats(this.files, d, st, hugePageSizes(this.fs, this.hugePagesDir), true);
    }
    return finalizeStats(st);
  }
}

/** runc's containsDomainController: memory, io, cpu or hugetlb settings can't live in a threaded subtree. */
export function needsDomainControllers(r: LinuxResources): boolean {
  return memoryLimitsSet(r) || blkioSet(r) || cpuSet(r) || hugetlbSet(r);
}
