import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  type CgroupManager,
  type CgroupManagerOptions,
  type DeviceRule,
  detectCgroupHost,
  loadCgroupManager,
  newCgroupManager,
  stringifyJSON,
} from "../../src/cgroups/index.ts";
import { FakeKernel } from "./cgroups-fake.ts";

let k: FakeKernel;
afterEach(() => k?.cleanup());

function setup(extra: Partial<CgroupManagerOptions> = {}, controllers?: string[]): CgroupManager {
  k = new FakeKernel({ unified: "root", v2Controllers: controllers });
  const host = detectCgroupHost({ root: k.root, mountinfo: k.mountinfo(), procCgroup: "0::/\n", fs: k });
  return newCgroupManager({ containerId: "c1", cgroupsPath: "/tsrunc-test/r1/c1", host, fs: k, hugePagesDir: k.hugePagesDir, ...extra });
}
const rel = (path: string) => path.slice(k.root.length);
const writes = () => k.writes.map(([path, v]) => [rel(path), v]);
function created(extra: Partial<CgroupManagerOptions> = {}, controllers?: string[]): CgroupManager {
  const cg = setup(extra, controllers);
  cg.create();
  k.writes.length = 0;
  return cg;
}

describe("v2 manager: create, apply, destroy", () => {
  it("makes the directories and enables every controller from the root down to the parent", () => {
    const cg = setup();
    expect(cg.kind).toBe("v2");
    expect(cg.mode).toBe("unified");
    cg.create();
    const all = "+cpuset +cpu +io +memory +hugetlb +pids +rdma";
    expect(writes()).toEqual([
      ["/cgroup.subtree_control", all],
      ["/tsrunc-test/cgroup.subtree_control", all],
      ["/tsrunc-test/r1/cgroup.subtree_control", all],
    ]);
    expect(k.file(join(cg.paths[""]!, "cgroup.controllers"))).toBe("cpuset cpu io memory hugetlb pids rdma");
    expect(cg.toState()).toEqual({
      version: 1,
      driver: "cgroupfs",
      kind: "v2",
      mode: "unified",
      root: k.root,
      paths: { "": join(k.root, "tsrunc-test/r1/c1") },
      mountpoints: { "": k.root },
      created: [join(k.root, "tsrunc-test"), join(k.root, "tsrunc-test/r1"), join(k.root, "tsrunc-test/r1/c1")],
    });
    expect(cg.mountLayout()).toEqual({ version: 2 });
  });

  it("enables controllers one by one when the kernel refuses the lot", () => {
    const cg = setup();
    k.onWrite = (path, v) => {
      if (path.endsWith("subtree_control") && v.includes(" ")) throw Object.assign(new Error("EINVAL"), { code: "EINVAL" });
    };
    cg.create();
    expect(k.file(join(k.root, "tsrunc-test/r1/cgroup.subtree_control"))).toBe("cpuset cpu io memory hugetlb pids rdma");
  });

  it("apply() joins the pid; destroy() from a later process removes what was made, nothing else", () => {
    k = new FakeKernel({ unified: "root" });
    k.mkdir(join(k.root, "tsrunc-test")); // existed before
    const host = detectCgroupHost({ root: k.root, mountinfo: k.mountinfo(), procCgroup: "0::/\n", fs: k });
    const cg = newCgroupManager({ containerId: "c1", cgroupsPath: "/tsrunc-test/r1/c1", host, fs: k });
    cg.apply(777);
    expect(k.file(join(cg.paths[""]!, "cgroup.procs"))).toBe("777\n");
    expect(cg.pids()).toEqual([777]);
    expect(cg.toState().created).toEqual([join(k.root, "tsrunc-test/r1"), join(k.root, "tsrunc-test/r1/c1")]);
    writeFileSync(join(cg.paths[""]!, "cgroup.procs"), "");
    loadCgroupManager(JSON.parse(JSON.stringify(cg.toState())), { fs: k }).destroy();
    expect(k.tree().filter((d) => !d.startsWith("hugepages"))).toEqual(["tsrunc-test"]);
  });

  it("refuses domain controllers below a cgroup in an invalid state, goes threaded otherwise", () => {
    k = new FakeKernel({ unified: "root" });
    k.mkdir(join(k.root, "busy"));
    k.onWrite = (path) => {
      if (path.endsWith("busy/cgroup.subtree_control")) return false; // processes inside: nothing enabled
    };
    const origMkdir = k.mkdir.bind(k);
    k.mkdir = (p: string) => {
      const made = origMkdir(p);
      if (made && p.includes("busy/")) writeFileSync(join(p, "cgroup.type"), "domain invalid");
      return made;
    };
    const host = detectCgroupHost({ root: k.root, mountinfo: k.mountinfo(), procCgroup: "0::/\n", fs: k });
    const mk = (resources: CgroupManagerOptions["resources"]) =>
      newCgroupManager({ containerId: "c1", cgroupsPath: "/busy/c1", host, fs: k, resources });
    expect(() => mk({ memory: { limit: 1 << 20 } }).create()).toThrow(/cannot enter cgroupv2 ".*\/busy\/c1" with domain controllers -- it is in an invalid state/);
    expect(k.tree()).not.toContain("busy/c1"); // the failed create left nothing behind
    mk({ pids: { limit: 10 } }).create();
    expect(k.file(join(k.root, "busy/c1/cgroup.type"))).toBe("threaded");
  });

  it("nests a relative path under the parent of our own cgroup", () => {
    k = new FakeKernel({ unified: "root" });
    const host = detectCgroupHost({ root: k.root, mountinfo: k.mountinfo(), procCgroup: "0::/user.slice/session-1.scope\n", fs: k });
    expect(newCgroupManager({ containerId: "c1", host, fs: k }).paths).toEqual({ "": join(k.root, "user.slice/c1") });
  });
});

describe("v2 manager: set()", () => {
  it("converts memory+swap to swap-only and writes max/low", () => {
    const cg = created();
    cg.set({ memory: { limit: 64 << 20, swap: 96 << 20, reservation: 16 << 20, swappiness: 10, disableOOMKiller: true } });
    expect(writes().map(([p, v]) => [p!.split("/").pop(), v])).toEqual([
      ["memory.swap.max", String(32 << 20)],
      ["memory.max", String(64 << 20)],
      ["memory.low", String(16 << 20)],
    ]);
    k.writes.length = 0;
    cg.set({ memory: { limit: 64 << 20, swap: 64 << 20 } });
    expect(writes().map(([p, v]) => [p!.split("/").pop(), v])).toEqual([
      ["memory.swap.max", "0"],
      ["memory.max", String(64 << 20)],
    ]);
    k.writes.length = 0;
    cg.set({ memory: { limit: -1 } });
    expect(writes().map(([p, v]) => [p!.split("/").pop(), v])).toEqual([
      ["memory.swap.max", "max"],
      ["memory.max", "max"],
    ]);
    expect(() => cg.set({ memory: { swap: 100 } })).toThrow("unable to set swap limit without memory limit");
  });

  it("checkBeforeUpdate refuses a limit at or below the current usage", () => {
    const cg = created();
    writeFileSync(join(cg.paths[""]!, "memory.current"), "5000");
    expect(() => cg.set({ memory: { limit: 4096, checkBeforeUpdate: true } })).toThrow(/rejecting memory limit 4096 <= usage 5000/);
    expect(() => cg.set({ memory: { limit: 8192, swap: 4096, checkBeforeUpdate: true } })).toThrow(/rejecting memory\+swap limit 4096 <= usage 5000/);
    cg.set({ memory: { limit: 4096 } }); // without the flag the kernel decides
  });

  it("writes pids, cpu (shares → weight, quota/period, burst, idle), cpuset, io, hugetlb, rdma, unified", () => {
    const cg = created();
    cg.set({
      pids: { limit: 5 },
      cpu: { shares: 1024, quota: 50000, period: 200000, burst: 1000, idle: 1, realtimeRuntime: 5, cpus: "0-1", mems: "0" },
      blockIO: {
        weight: 500,
        leafWeight: 10,
        throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1048576 }],
        throttleWriteIOPSDevice: [{ major: 8, minor: 0, rate: 100 }],
      },
      hugepageLimits: [{ pageSize: "2MB", limit: 4194304 }],
      rdma: { mlx4_0: { hcaHandles: 2 } },
      network: { classID: 1 },
      unified: { "memory.high": "1073741824" },
    });
    expect(writes().map(([p, v]) => [p!.split("/").pop(), v])).toEqual([
      ["pids.max", "5"],
      ["io.weight", "4950"],
      ["io.max", "8:0 rbps=1048576"],
      ["io.max", "8:0 wiops=100"],
      ["cpu.idle", "1"],
      ["cpu.weight", "39"],
      ["cpu.max.burst", "1000"],
      ["cpu.max", "50000 200000"],
      ["cpuset.cpus", "0-1"],
      ["cpuset.mems", "0"],
      ["hugetlb.2MB.max", "4194304"],
      ["rdma.max", "mlx4_0 hca_handle=2"],
      ["memory.high", "1073741824"],
    ]);
    k.writes.length = 0;
    cg.set({ cpu: { quota: -1 }, pids: { limit: -1 } });
    expect(writes().map(([p, v]) => [p!.split("/").pop(), v])).toEqual([
      ["pids.max", "max"],
      ["cpu.max", "max 100000"],
    ]);
  });

  it("uses BFQ for weights when the kernel has it, per device where supported", () => {
    const cg = created();
    writeFileSync(join(cg.paths[""]!, "io.bfq.weight"), "default 100\n");
    cg.set({ blockIO: { weight: 300, weightDevice: [{ major: 8, minor: 0, weight: 50 }] } });
    expect(writes().map(([p, v]) => [p!.split("/").pop(), v])).toEqual([
      ["io.bfq.weight", "300"],
      ["io.bfq.weight", "8:0 50"],
    ]);
  });

  it("names a controller that is not enabled for the cgroup", () => {
    const cg = created({}, ["cpu", "memory"]);
    expect(() => cg.set({ pids: { limit: 5 } })).toThrow(
      `cgroup: the pids controller is not available in ${join(k.root, "tsrunc-test/r1/c1")} (needed for linux.resources.pids)`,
    );
    expect(() => cg.set({ unified: { "io.max": "8:0 rbps=1" } })).toThrow(`unified resource "io.max" can't be set: controller "io" not available`);
    expect(() => cg.set({ unified: { "../x": "1" } })).toThrow("must be a file name (no slashes)");
    expect(() => cg.set({ hugepageLimits: [{ pageSize: "64KB", limit: 1 }] })).toThrow(/page size "64KB" is not supported by this host/);
  });

  it("hands device rules to the eBPF filter when there is one, and leaves them alone otherwise", () => {
    const devices = [
      { allow: false, access: "rwm" },
      { allow: true, type: "c", major: 1, minor: 3, access: "rw" },
    ];
    created().set({ devices });
    expect(k.writes).toEqual([]);
    k.cleanup();
    const seen: [string, DeviceRule[]][] = [];
    const cg = created({ deviceFilter: { apply: (dir, rules) => void seen.push([dir, rules]) } });
    cg.set({ devices });
    expect(seen).toEqual([
      [
        cg.paths[""],
        [
          { type: "a", major: -1, minor: -1, access: "rwm", allow: false },
          { type: "c", major: 1, minor: 3, access: "rw", allow: true },
        ],
      ],
    ]);
  });
});

describe("v2 manager: freezer, kill, stats", () => {
  it("freezes through cgroup.freeze and waits for cgroup.events", () => {
    const cg = created();
    expect(cg.state()).toBe("thawed");
    cg.freeze();
    expect(cg.state()).toBe("frozen");
    cg.thaw();
    expect(cg.state()).toBe("thawed");
  });

  it("uses cgroup.kill for SIGKILL", () => {
    const cg = created();
    cg.killAll();
    expect(writes()).toEqual([["/tsrunc-test/r1/c1/cgroup.kill", "1"]]);
    k.writes.length = 0;
    cg.killAll("SIGTERM"); // no processes: freeze, nothing to signal, thaw
    expect(writes().map(([, v]) => v)).toEqual(["1", "0"]);
  });

  it("reads stats like runc (swap reported as memory+swap, v2 counters in ns)", () => {
    const cg = created();
    const put = (file: string, v: string) => writeFileSync(join(cg.paths[""]!, file), v);
    put("pids.current", "3");
    put("pids.max", "10");
    put("memory.current", "1000");
    put("memory.max", "4096");
    put("memory.swap.current", "24");
    put("memory.swap.max", "max");
    put("memory.stat", "anon 700\nfile 300\n");
    put("memory.events", "oom 1\noom_kill 2\n");
    put("cpu.stat", "usage_usec 10\nuser_usec 6\nsystem_usec 4\nnr_periods 2\nnr_throttled 1\nthrottled_usec 3\n");
    put("io.stat", "8:0 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n");
    put("hugetlb.2MB.current", "2097152");
    put("hugetlb.2MB.events", "max 1\n");
    for (const [f, v] of [["max", "max"], ["current", "0"], ["events", "max 0\n"]]) put(`hugetlb.1GB.${f}`, v!);
    expect(cg.oomKillCount()).toBe(2);
    expect(stringifyJSON(cg.stats())).toBe(
      '{"cpu":{"usage":{"total":10000,"kernel":4000,"user":6000},"throttling":{"periods":2,"throttledPeriods":1,"throttledTime":3000}},' +
        '"cpuset":{"cpu_exclusive":0,"mem_hardwall":0,"mem_exclusive":0,"memory_migrate":0,"memory_spread_page":0,"memory_spread_slab":0,"memory_pressure":0,"sched_load_balance":0,"sched_relax_domain_level":0},' +
        '"memory":{"cache":300,"usage":{"limit":4096,"usage":1000,"failcnt":0},"swap":{"limit":18446744073709551615,"usage":1024,"failcnt":0},' +
        '"kernel":{"limit":0,"failcnt":0},"kernelTCP":{"limit":0,"failcnt":0},"raw":{"anon":700,"file":300}},' +
        '"pids":{"current":3,"limit":10},' +
        '"blkio":{"ioServiceBytesRecursive":[{"major":8,"op":"Read","value":4096},{"major":8,"op":"Write"}],"ioServicedRecursive":[{"major":8,"op":"Read","value":1},{"major":8,"op":"Write"}]},' +
        '"hugetlb":{"1GB":{"failcnt":0},"2MB":{"usage":2097152,"failcnt":1}},"intel_rdt":{},"network_interfaces":null}',
    );
  });

  it("counts cgroup.procs when there is no pids controller", () => {
    const cg = created({}, ["cpu", "memory"]);
    writeFileSync(join(cg.paths[""]!, "cgroup.procs"), "5\n6\n");
    expect(cg.stats().pids).toEqual({ current: 2n });
  });
});
