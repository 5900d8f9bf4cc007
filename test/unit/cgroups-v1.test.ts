import { existsSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  type CgroupManager,
  type CgroupManagerOptions,
  CgroupError,
  detectCgroupHost,
  loadCgroupManager,
  newCgroupManager,
  stringifyJSON,
} from "../../src/cgroups/index.ts";
import { FakeKernel, HYBRID_LIKE_THIS_HOST } from "./cgroups-fake.ts";

let k: FakeKernel;
afterEach(() => k?.cleanup());

function setup(hier = HYBRID_LIKE_THIS_HOST, extra: Partial<CgroupManagerOptions> = {}, ownCgroup = "/") {
  k = new FakeKernel({ v1: hier, unified: "hybrid" });
  const procCgroup = hier.map((h, i) => `${i + 1}:${h.controllers.join(",")}:${ownCgroup}`).join("\n") + "\n0::/\n";
  const host = detectCgroupHost({ root: k.root, mountinfo: k.mountinfo(), procCgroup, fs: k });
  const cg = newCgroupManager({
    containerId: "c1",
    cgroupsPath: "/tsrunc-test/r1/c1",
    host,
    fs: k,
    hugePagesDir: k.hugePagesDir,
    ...extra,
  });
  return cg;
}
const p = (...parts: string[]) => join(k.root, ...parts);
const writesTo = (file: string) => k.writes.filter(([path]) => path.endsWith(`/${file}`)).map(([path, v]) => [path.slice(k.root.length), v]);

describe("v1 manager: create, apply, destroy", () => {
  it("creates the directory in every hierarchy and remembers exactly what it made", () => {
    const cg = setup();
    expect(cg.kind).toBe("v1");
    expect(cg.mode).toBe("hybrid");
    cg.create();
    const st = cg.toState();
    expect(st.paths.memory).toBe(p("memory/tsrunc-test/r1/c1"));
    expect(st.paths["name=systemd"]).toBe(p("systemd/tsrunc-test/r1/c1"));
    expect(st.paths[""]).toBe(p("unified/tsrunc-test/r1/c1"));
    expect(st.mountpoints.cpu).toBe(p("cpu"));
    // 10 hierarchies (9 v1 + the cgroup2 one) × 3 levels.
    expect(st.created).toHaveLength(30);
    expect(st.created.slice(0, 3)).toEqual([p("cpuset/tsrunc-test"), p("cpuset/tsrunc-test/r1"), p("cpuset/tsrunc-test/r1/c1")]);
    expect(JSON.parse(JSON.stringify(st))).toEqual(st);
  });

  it("copies cpuset.cpus/mems down the new chain, requested values on the leaf", () => {
    const cg = setup(HYBRID_LIKE_THIS_HOST, { resources: { cpu: { cpus: "1-2" } } });
    cg.create();
    expect(k.file(p("cpuset/tsrunc-test/cpuset.cpus"))).toBe("0-3");
    expect(k.file(p("cpuset/tsrunc-test/r1/cpuset.mems"))).toBe("0");
    expect(k.file(p("cpuset/tsrunc-test/r1/c1/cpuset.cpus"))).toBe("1-2");
    expect(k.file(p("cpuset/tsrunc-test/r1/c1/cpuset.mems"))).toBe("0");
  });

  it("sets realtime bandwidth before a process joins", () => {
    const cg = setup(HYBRID_LIKE_THIS_HOST, { resources: { cpu: { realtimePeriod: 1000000, realtimeRuntime: 950000 } } });
    cg.apply(4242);
    const order = k.writes.map(([path]) => path.slice(k.root.length));
    expect(order.indexOf("/cpu/tsrunc-test/r1/c1/cpu.rt_runtime_us")).toBeLessThan(order.indexOf("/cpu/tsrunc-test/r1/c1/cgroup.procs"));
  });

  it("apply() writes the pid once per directory, co-mounted hierarchies included", () => {
    const cg = setup([
      { dir: "cpu,cpuacct", controllers: ["cpu", "cpuacct"] },
      { dir: "memory", controllers: ["memory"] },
      { dir: "devices", controllers: ["devices"] },
    ]);
    cg.apply(4242);
    expect(writesTo("cgroup.procs")).toEqual([
      ["/devices/tsrunc-test/r1/c1/cgroup.procs", "4242"],
      ["/memory/tsrunc-test/r1/c1/cgroup.procs", "4242"],
      ["/cpu,cpuacct/tsrunc-test/r1/c1/cgroup.procs", "4242"],
      ["/unified/tsrunc-test/r1/c1/cgroup.procs", "4242"],
    ]);
    expect(cg.pids()).toEqual([4242]);
    expect(cg.mountLayout()).toEqual({
      version: 1,
      hierarchies: [
        { name: "devices", hostPath: p("devices/tsrunc-test/r1/c1") },
        { name: "memory", hostPath: p("memory/tsrunc-test/r1/c1") },
        { name: "cpu,cpuacct", hostPath: p("cpu,cpuacct/tsrunc-test/r1/c1") },
      ],
      symlinks: [
        { name: "cpu", target: "cpu,cpuacct" },
        { name: "cpuacct", target: "cpu,cpuacct" },
      ],
    });
  });

  it("a manager loaded from state joins a process (exec) without creating or setting anything", () => {
    const cg = setup(HYBRID_LIKE_THIS_HOST, { resources: { cpu: { cpus: "1" } } });
    cg.create();
    k.writes.length = 0;
    const later = loadCgroupManager(JSON.parse(JSON.stringify(cg.toState())), { fs: k });
    later.apply(99);
    expect(k.writes.every(([path, v]) => path.endsWith("/cgroup.procs") && v === "99")).toBe(true);
    expect(k.writes).toHaveLength(10);
  });

  it("ignores failures of the name=systemd and cgroup2 hierarchies (best effort, as runc), not of others", () => {
    const cg = setup();
    const eperm = () => {
      throw Object.assign(new Error("EPERM"), { code: "EPERM" });
    };
    k.onWrite = (path) => (path.includes("/systemd/") || path.includes("/unified/") ? eperm() : undefined);
    cg.apply(1);
    expect(writesTo("cgroup.procs")).toHaveLength(10);
    k.onWrite = (path) => (path.includes("/pids/") ? eperm() : undefined);
    expect(() => cg.apply(1)).toThrow(/^cgroup: cgroup.procs: write 1: operation not permitted \(joining .*\/pids\/tsrunc-test\/r1\/c1\)$/);
  });

  it("refuses to go on without a devices hierarchy (security), unless told to skip devices", () => {
    const hier = HYBRID_LIKE_THIS_HOST.filter((h) => h.dir !== "devices");
    expect(() => setup(hier).create()).toThrow("cgroup: the devices controller is not available on this host");
    k.cleanup();
    const cg = setup(hier, { skipDevices: true });
    cg.create();
    expect(cg.paths.devices).toBeUndefined();
  });

  it("destroy() from a later process removes what was made, leaf first, and nothing that existed before", () => {
    k = new FakeKernel({ v1: HYBRID_LIKE_THIS_HOST, unified: "hybrid" });
    // Someone else's cgroup next to ours, and a parent that existed before.
    for (const h of HYBRID_LIKE_THIS_HOST) k.mkdir(p(h.dir, "tsrunc-test"));
    const host = detectCgroupHost({ root: k.root, mountinfo: k.mountinfo(), procCgroup: "0::/\n", fs: k });
    const cg = newCgroupManager({ containerId: "c1", cgroupsPath: "/tsrunc-test/r1/c1", host, fs: k });
    cg.create();
    k.mkdir(p("memory/tsrunc-test/r1/other")); // another container under our parent
    k.mkdir(p("memory/tsrunc-test/r1/c1/sub")); // made inside the container
    const saved = JSON.parse(JSON.stringify(cg.toState()));

    const later = loadCgroupManager(saved, { fs: k });
    later.destroy();
    expect(k.tree().filter((d) => !d.startsWith("hugepages"))).toEqual(
      [...HYBRID_LIKE_THIS_HOST.map((h) => h.dir), ...HYBRID_LIKE_THIS_HOST.map((h) => `${h.dir}/tsrunc-test`), "memory/tsrunc-test/r1", "memory/tsrunc-test/r1/other", "unified"].sort(),
    );
    // The shared parent stays on the list: it was ours but now holds someone else's cgroup.
    expect(later.toState().created).toEqual([p("memory/tsrunc-test/r1")]);
    expect(later.exists()).toBe(false);
  });

  it("starts over when a parent vanishes while it descends (another runtime's destroy)", () => {
    const cg = setup();
    const orig = k.mkdir.bind(k);
    let raced = false;
    k.mkdir = (dir: string) => {
      if (!raced && dir === p("memory/tsrunc-test/r1")) {
        raced = true;
        k.rmdir(p("memory/tsrunc-test"));
        throw Object.assign(new Error("ENOENT"), { code: "ENOENT" });
      }
      return orig(dir);
    };
    cg.create();
    expect(existsSync(cg.paths.memory!)).toBe(true);
    expect(cg.toState().created.filter((d) => d.startsWith(p("memory")))).toEqual([
      p("memory/tsrunc-test"),
      p("memory/tsrunc-test/r1"),
      p("memory/tsrunc-test/r1/c1"),
    ]);
  });

  it("destroy() fails naming the cgroup when processes are still in it, and can be retried", () => {
    const cg = setup();
    cg.apply(4242);
    expect(() => cg.destroy()).toThrow(/^cgroup: rmdir .*\/tsrunc-test\/r1\/c1: device or resource busy$/);
    for (const dir of Object.values(cg.paths)) writeFileSync(join(dir, "cgroup.procs"), "");
    cg.destroy();
    expect(k.tree().filter((d) => d.includes("tsrunc-test"))).toEqual([]);
    expect(cg.toState().created).toEqual([]);
  });
});

describe("v1 manager: set()", () => {
  function created(extra: Partial<CgroupManagerOptions> = {}, hier = HYBRID_LIKE_THIS_HOST): CgroupManager {
    const cg = setup(hier, extra);
    cg.create();
    k.writes.length = 0;
    return cg;
  }

  it("writes memory settings, swap before the limit when the limit grows", () => {
    const cg = created();
    writeFileSync(join(cg.paths.memory!, "memory.limit_in_bytes"), String(32 << 20));
    cg.set({ memory: { limit: 64 << 20, swap: 128 << 20, reservation: 32 << 20, swappiness: 10, disableOOMKiller: true, kernel: 1, kernelTCP: 1 } });
    expect(k.writes.map(([path, v]) => [path.split("/").pop(), v])).toEqual([
      ["memory.memsw.limit_in_bytes", String(128 << 20)],
      ["memory.limit_in_bytes", String(64 << 20)],
      ["memory.soft_limit_in_bytes", String(32 << 20)],
      ["memory.oom_control", "1"],
      ["memory.swappiness", "10"],
    ]);
  });

  it("writes the limit before swap when swap shrinks below the current limit", () => {
    const cg = created();
    writeFileSync(join(cg.paths.memory!, "memory.limit_in_bytes"), String(512 << 20));
    cg.set({ memory: { limit: 64 << 20, swap: 64 << 20 } });
    expect(k.writes.map(([path]) => path.split("/").pop())).toEqual(["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]);
  });

  it("makes swap unlimited with an unlimited memory limit", () => {
    const cg = created();
    cg.set({ memory: { limit: -1 } });
    expect(k.writes.map(([path, v]) => [path.split("/").pop(), v])).toEqual([
      ["memory.memsw.limit_in_bytes", "-1"],
      ["memory.limit_in_bytes", "-1"],
    ]);
  });

  it("names the file, the value and the errno, with usage for a limit below it", () => {
    const cg = created();
    k.failWrites.set("memory.limit_in_bytes", "EBUSY");
    writeFileSync(join(cg.paths.memory!, "memory.usage_in_bytes"), "5000");
    const err = (() => {
      try {
        cg.set({ memory: { limit: 123 } });
      } catch (e) {
        return e as CgroupError;
      }
    })();
    expect(err).toBeInstanceOf(CgroupError);
    expect(err!.message).toBe(
      "cgroup: memory.limit_in_bytes: write 123: device or resource busy (unable to set memory limit to 123: current usage 5000, peak usage 0)",
    );
    expect(err!.code).toBe("EBUSY");
    expect(err!.path).toBe(join(cg.paths.memory!, "memory.limit_in_bytes"));
  });

  it("rejects a swappiness over 100", () => {
    expect(() => created().set({ memory: { swappiness: 101 } })).toThrow("invalid memory swappiness value: 101 (valid range is 0-100)");
  });

  it("writes cpu shares (checked by reading back), bandwidth, burst, idle and realtime", () => {
    const cg = created();
    cg.set({ cpu: { shares: 512, quota: 50000, period: 100000, burst: 10000, idle: 0, realtimePeriod: 1000000, realtimeRuntime: 1000 } });
    expect(k.writes.map(([path, v]) => [path.split("/").pop(), v])).toEqual([
      ["cpu.shares", "512"],
      ["cpu.cfs_period_us", "100000"],
      ["cpu.cfs_burst_us", "10000"],
      ["cpu.cfs_quota_us", "50000"],
      ["cpu.idle", "0"],
      ["cpu.rt_period_us", "1000000"],
      ["cpu.rt_runtime_us", "1000"],
    ]);
  });

  it("reports the kernel's bound when cpu shares are clamped", () => {
    const cg = created();
    k.onWrite = (path, v) => {
      if (path.endsWith("cpu.shares")) {
        writeFileSync(path, String(Math.min(Number(v), 262144)));
        return false;
      }
    };
    expect(() => cg.set({ cpu: { shares: 300000 } })).toThrow("the maximum allowed cpu-shares is 262144");
  });

  it("retries a refused period after the quota", () => {
    const cg = created();
    let refused = false;
    k.onWrite = (path) => {
      if (path.endsWith("cpu.cfs_period_us") && !refused) {
        refused = true;
        throw Object.assign(new Error("EINVAL"), { code: "EINVAL" });
      }
    };
    cg.set({ cpu: { quota: 1000, period: 5000 } });
    expect(writesTo("cpu.cfs_period_us").map(([, v]) => v)).toEqual(["5000", "5000"]);
    expect(k.file(join(cg.paths.cpu!, "cpu.cfs_period_us"))).toBe("5000");
  });

  it("writes pids, blkio, cpuset", () => {
    const cg = created();
    cg.set({
      pids: { limit: 5 },
      cpu: { cpus: "0", mems: "0" },
      blockIO: {
        weight: 300,
        leafWeight: 200,
        weightDevice: [{ major: 8, minor: 0, weight: 100, leafWeight: 50 }],
        throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1048576 }],
        throttleWriteBpsDevice: [{ major: 8, minor: 0, rate: 2097152 }],
        throttleReadIOPSDevice: [{ major: 8, minor: 0, rate: 100 }],
        throttleWriteIOPSDevice: [{ major: 8, minor: 0, rate: 200 }],
      },
    });
    expect(k.writes.map(([path, v]) => [path.split("/").pop(), v])).toEqual([
      ["cpuset.cpus", "0"],
      ["cpuset.mems", "0"],
      ["pids.max", "5"],
      ["blkio.weight", "300"],
      ["blkio.leaf_weight", "200"],
      ["blkio.weight_device", "8:0 100"],
      ["blkio.leaf_weight_device", "8:0 50"],
      ["blkio.throttle.read_bps_device", "8:0 1048576"],
      ["blkio.throttle.write_bps_device", "8:0 2097152"],
      ["blkio.throttle.read_iops_device", "8:0 100"],
      ["blkio.throttle.write_iops_device", "8:0 200"],
    ]);
    k.writes.length = 0;
    cg.set({ pids: { limit: -1 } });
    expect(writesTo("pids.max").map(([, v]) => v)).toEqual(["max"]);
  });

  it("uses BFQ's files when CFQ's are absent", () => {
    const cg = created();
    unlinkSync(join(cg.paths.blkio!, "blkio.weight"));
    writeFileSync(join(cg.paths.blkio!, "blkio.bfq.weight"), "100");
    writeFileSync(join(cg.paths.blkio!, "blkio.bfq.weight_device"), "");
    cg.set({ blockIO: { weight: 300, weightDevice: [{ major: 8, minor: 16, weight: 10 }] } });
    expect(k.writes.map(([path, v]) => [path.split("/").pop(), v])).toEqual([
      ["blkio.bfq.weight", "300"],
      ["blkio.bfq.weight_device", "8:16 10"],
    ]);
  });

  it("writes hugetlb, net_cls, net_prio and rdma where the host has them", () => {
    const cg = created({}, [
      ...HYBRID_LIKE_THIS_HOST,
      { dir: "hugetlb", controllers: ["hugetlb"] },
      { dir: "net_cls,net_prio", controllers: ["net_cls", "net_prio"] },
      { dir: "rdma", controllers: ["rdma"] },
    ]);
    writeFileSync(join(cg.paths.rdma!, "rdma.max"), "");
    cg.set({
      hugepageLimits: [{ pageSize: "2MB", limit: 4194304 }],
      network: { classID: 0x100001, priorities: [{ name: "eth0", priority: 5 }, { name: "lo", priority: 1 }] },
      rdma: { mlx5_1: { hcaHandles: 3, hcaObjects: 10000 } },
    });
    expect(k.writes.map(([path, v]) => [path.split("/").pop(), v])).toEqual([
      ["hugetlb.2MB.limit_in_bytes", "4194304"],
      ["net_cls.classid", "1048577"],
      ["net_prio.ifpriomap", "eth0 5"],
      ["net_prio.ifpriomap", "lo 1"],
      ["rdma.max", "mlx5_1 hca_handle=3 hca_object=10000"],
    ]);
  });

  it("names a controller the host lacks, and a page size it lacks", () => {
    const cg = created();
    expect(() => cg.set({ network: { classID: 1 } })).toThrow(
      "cgroup: the net_cls controller is not available on this host (needed for linux.resources.network.classID)",
    );
    expect(() => cg.set({ hugepageLimits: [{ pageSize: "2MB", limit: 1 }] })).toThrow(
      "cgroup: the hugetlb controller is not available on this host (needed for linux.resources.hugepageLimits)",
    );
    expect(() => cg.set({ hugepageLimits: [{ pageSize: "3MB", limit: 1 }] })).toThrow(
      'cgroup: hugepageLimits: page size "3MB" is not supported by this host (available: 1GB, 2MB)',
    );
    expect(() => cg.set({ rdma: { mlx: {} } })).toThrow(/the rdma controller is not available/);
  });

  it("refuses unified on v1, like runc", () => {
    expect(() => created().set({ unified: { "memory.high": "1G" } })).toThrow("cgroup: invalid configuration: cannot use unified on cgroup v1");
  });

  it("leaves everything alone for empty resources", () => {
    created().set({});
    expect(k.writes).toEqual([]);
  });

  it("moves devices from allow-all to the requested list with the fewest writes, and checks the result", () => {
    const cg = created();
    cg.set({
      devices: [
        { allow: false, access: "rwm" },
        { allow: true, type: "c", major: 1, minor: 3, access: "rwm" },
        { allow: true, type: "c", major: 1, minor: 5, access: "rwm" },
        { allow: true, type: "c", major: 136, access: "rwm" },
      ],
    });
    expect(k.writes.map(([path, v]) => [path.split("/").pop(), v])).toEqual([
      ["devices.deny", "a *:* rwm"],
      ["devices.allow", "c 1:3 rwm"],
      ["devices.allow", "c 1:5 rwm"],
      ["devices.allow", "c 136:* rwm"],
    ]);
    // Updating: only the difference is written, nothing is denied wholesale.
    k.writes.length = 0;
    cg.set({
      devices: [
        { allow: false, access: "rwm" },
        { allow: true, type: "c", major: 1, minor: 3, access: "rwm" },
        { allow: true, type: "c", major: 1, minor: 5, access: "r" },
        { allow: true, type: "c", major: 10, minor: 200, access: "rwm" },
      ],
    });
    expect(k.writes.map(([path, v]) => [path.split("/").pop(), v])).toEqual([
      ["devices.deny", "c 1:5 wm"],
      ["devices.deny", "c 136:* rwm"],
      ["devices.allow", "c 10:200 rwm"],
    ]);
    expect(k.file(join(cg.paths.devices!, "devices.list"))).toBe("c 1:3 rwm\nc 1:5 r\nc 10:200 rwm\n");
  });

  it("fails when the kernel's devices.list does not end up as asked", () => {
    const cg = created();
    k.onWrite = (path) => (path.endsWith("devices.allow") ? false : undefined); // the kernel ignores allows
    expect(() => cg.set({ devices: [{ allow: false, access: "rwm" }, { allow: true, type: "c", major: 1, minor: 3, access: "rwm" }] })).toThrow(
      "resulting devices cgroup doesn't precisely match target",
    );
  });
});

describe("v1 manager: freezer, signals, stats", () => {
  it("freezes, thaws and reports the state", () => {
    const cg = setup();
    cg.create();
    expect(cg.state()).toBe("thawed");
    cg.freeze();
    expect(k.file(join(cg.paths.freezer!, "freezer.state"))).toBe("FROZEN");
    writeFileSync(join(cg.paths.freezer!, "freezer.self_freezing"), "1");
    expect(cg.state()).toBe("frozen");
    cg.thaw();
    expect(cg.state()).toBe("thawed");
  });

  it("keeps writing FROZEN while the kernel says FREEZING", () => {
    const cg = setup();
    cg.create();
    let n = 0;
    k.onWrite = (path, v) => {
      if (path.endsWith("freezer.state") && v === "FROZEN") {
        writeFileSync(path, ++n < 5 ? "FREEZING" : "FROZEN");
        return false;
      }
    };
    cg.freeze();
    expect(n).toBe(5);
  });

  it("has no freezer state without a freezer hierarchy", () => {
    const cg = setup(HYBRID_LIKE_THIS_HOST.filter((h) => h.dir !== "freezer"));
    cg.create();
    expect(cg.state()).toBe("undefined");
    expect(() => cg.freeze()).toThrow("cannot toggle freezer: cgroups not configured for container");
  });

  it("counts OOM kills", () => {
    const cg = setup();
    cg.create();
    writeFileSync(join(cg.paths.memory!, "memory.oom_control"), "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n");
    expect(cg.oomKillCount()).toBe(3);
  });

  it("killAll freezes, signals each pid (a gone one is fine) and thaws", () => {
    const cg = setup();
    cg.create();
    writeFileSync(join(cg.paths.devices!, "cgroup.procs"), "2147483646\n");
    k.writes.length = 0;
    cg.killAll("SIGTERM");
    expect(writesTo("freezer.state").map(([, v]) => v)).toEqual(["FROZEN", "THAWED"]);
  });

  it("reads stats in the shape of `runc events --stats`", () => {
    const cg = setup();
    cg.create();
    const put = (sub: string, file: string, v: string) => writeFileSync(join(cg.paths[sub]!, file), v);
    put("cpuacct", "cpuacct.stat", "user 3\nsystem 1\n");
    put("cpuacct", "cpuacct.usage", "10444772");
    put("cpuacct", "cpuacct.usage_percpu", "4235336 6209436 \n");
    put("cpuacct", "cpuacct.usage_all", "cpu user system\n0 3984476 0\n1 0 7932060\n");
    put("cpu", "cpu.stat", "nr_periods 4\nnr_throttled 1\nthrottled_time 500\n");
    put("cpuset", "cpuset.cpus", "0-1\n");
    put("cpuset", "cpuset.mems", "0\n");
    put("memory", "memory.usage_in_bytes", "446464");
    put("memory", "memory.max_usage_in_bytes", "2211840");
    put("memory", "memory.memsw.usage_in_bytes", "446464");
    put("memory", "memory.stat", "cache 0\nrss 49152\nhierarchical_memory_limit 9223372036854771712\n");
    put("pids", "pids.current", "1");
    put("blkio", "blkio.throttle.io_service_bytes", "8:0 Read 4096\n8:0 Write 0\nTotal 4096\n");
    put("blkio", "blkio.throttle.io_serviced", "8:0 Read 1\n8:0 Write 0\nTotal 1\n");
    const json = stringifyJSON(cg.stats());
    expect(json).toBe(
      '{"cpu":{"usage":{"total":10444772,"percpu":[4235336,6209436],"percpu_kernel":[0,7932060],"percpu_user":[3984476,0],"kernel":10000000,"user":30000000},' +
        '"throttling":{"periods":4,"throttledPeriods":1,"throttledTime":500}},' +
        '"cpuset":{"cpus":[0,1],"cpu_exclusive":0,"mems":[0],"mem_hardwall":0,"mem_exclusive":0,"memory_migrate":0,"memory_spread_page":0,"memory_spread_slab":0,"memory_pressure":0,"sched_load_balance":1,"sched_relax_domain_level":-1},' +
        '"memory":{"usage":{"limit":9223372036854771712,"usage":446464,"max":2211840,"failcnt":0},"swap":{"limit":9223372036854771712,"usage":446464,"failcnt":0},' +
        '"kernel":{"limit":0,"failcnt":0},"kernelTCP":{"limit":0,"failcnt":0},"raw":{"cache":0,"hierarchical_memory_limit":9223372036854771712,"rss":49152}},' +
        '"pids":{"current":1},' +
        '"blkio":{"ioServiceBytesRecursive":[{"major":8,"op":"Read","value":4096},{"major":8,"op":"Write"}],"ioServicedRecursive":[{"major":8,"op":"Read","value":1},{"major":8,"op":"Write"}]},' +
        '"hugetlb":{},"intel_rdt":{},"network_interfaces":null}',
    );
  });

  it("reads hugetlb stats for every page size of the host", () => {
    const cg = setup([...HYBRID_LIKE_THIS_HOST, { dir: "hugetlb", controllers: ["hugetlb"] }]);
    cg.create();
    const dir = cg.paths.hugetlb!;
    for (const f of ["limit_in_bytes", "usage_in_bytes", "max_usage_in_bytes", "failcnt"]) writeFileSync(join(dir, `hugetlb.1GB.${f}`), "0");
    writeFileSync(join(dir, "hugetlb.2MB.usage_in_bytes"), "2097152");
    writeFileSync(join(dir, "hugetlb.2MB.failcnt"), "2");
    expect(stringifyJSON(cg.stats().hugetlb)).toBe('{"1GB":{"failcnt":0},"2MB":{"usage":2097152,"failcnt":2}}');
  });

  it("exists() follows the directory", () => {
    const cg = setup();
    expect(cg.exists()).toBe(false);
    cg.create();
    expect(cg.exists()).toBe(true);
    expect(existsSync(cg.paths.devices!)).toBe(true);
  });
});
