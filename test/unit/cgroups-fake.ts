// A small fake of the cgroup file systems on a temporary directory, for unit tests without root:
// mkdir fills a new cgroup with control files (as the kernel does), rmdir refuses a cgroup with
// sub-cgroups or processes (EBUSY), and a few files behave like the kernel's (subtree_control,
// cgroup.freeze, devices.allow/deny). Every write is logged.

import * as fs from "node:fs";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, relative } from "node:path";
import { type CgroupFs, nodeCgroupFs } from "../../src/cgroups/index.ts";

const V1_FILES: Record<string, Record<string, string>> = {
  "": { "cgroup.procs": "", tasks: "", notify_on_release: "0", "cgroup.clone_children": "0" },
  cpuset: {
    "cpuset.cpus": "",
    "cpuset.mems": "",
    "cpuset.cpu_exclusive": "0",
    "cpuset.mem_exclusive": "0",
    "cpuset.mem_hardwall": "0",
    "cpuset.memory_migrate": "0",
    "cpuset.memory_pressure": "0",
    "cpuset.memory_spread_page": "0",
    "cpuset.memory_spread_slab": "0",
    "cpuset.sched_load_balance": "1",
    "cpuset.sched_relax_domain_level": "-1",
  },
  cpu: {
    "cpu.shares": "1024",
    "cpu.cfs_period_us": "100000",
    "cpu.cfs_quota_us": "-1",
    "cpu.cfs_burst_us": "0",
    "cpu.idle": "0",
    "cpu.rt_period_us": "1000000",
    "cpu.rt_runtime_us": "0",
    "cpu.stat": "nr_periods 0\nnr_throttled 0\nthrottled_time 0\n",
  },
  cpuacct: {
    "cpuacct.stat": "user 0\nsystem 0\n",
    "cpuacct.usage": "0",
    "cpuacct.usage_percpu": "0 0 \n",
    "cpuacct.usage_all": "cpu user system\n0 0 0\n1 0 0\n",
  },
  memory: {
    "memory.limit_in_bytes": "9223372036854771712",
    "memory.usage_in_bytes": "0",
    "memory.max_usage_in_bytes": "0",
    "memory.failcnt": "0",
    "memory.memsw.limit_in_bytes": "9223372036854771712",
    "memory.memsw.usage_in_bytes": "0",
    "memory.memsw.max_usage_in_bytes": "0",
    "memory.memsw.failcnt": "0",
    "memory.soft_limit_in_bytes": "9223372036854771712",
    "memory.swappiness": "60",
    "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
    "memory.use_hierarchy": "1",
    "memory.stat": "cache 0\nrss 0\n",
  },
  devices: { "devices.list": "a *:* rwm\n", "devices.allow": "", "devices.deny": "" },
  freezer: { "freezer.state": "THAWED", "freezer.self_freezing": "0", "freezer.parent_freezing": "0" },
  blkio: {
    "blkio.weight": "500",
    "blkio.weight_device": "",
    "blkio.leaf_weight": "500",
    "blkio.leaf_weight_device": "",
    "blkio.throttle.read_bps_device": "",
    "blkio.throttle.write_bps_device": "",
    "blkio.throttle.read_iops_device": "",
    "blkio.throttle.write_iops_device": "",
    "blkio.throttle.io_serviced": "Total 0\n",
    "blkio.throttle.io_service_bytes": "Total 0\n",
  },
  pids: { "pids.max": "max", "pids.current": "0" },
  hugetlb: {
    "hugetlb.2MB.limit_in_bytes": "9223372036854771712",
    "hugetlb.2MB.usage_in_bytes": "0",
    "hugetlb.2MB.max_usage_in_bytes": "0",
    "hugetlb.2MB.failcnt": "0",
  },
  net_cls: { "net_cls.classid": "0" },
  net_prio: { "net_prio.ifpriomap": "", "net_prio.prioidx": "1" },
};

const V2_FILES: Record<string, Record<string, string>> = {
  "": {
    "cgroup.procs": "",
    "cgroup.type": "domain",
    "cgroup.controllers": "",
    "cgroup.subtree_control": "",
    "cgroup.freeze": "0",
    "cgroup.events": "populated 0\nfrozen 0\n",
    "cgroup.kill": "",
    "cpu.stat": "usage_usec 0\nuser_usec 0\nsystem_usec 0\n",
  },
  memory: {
    "memory.max": "max",
    "memory.low": "0",
    "memory.high": "max",
    "memory.current": "0",
    "memory.swap.max": "max",
    "memory.swap.current": "0",
    "memory.stat": "anon 0\nfile 0\n",
    "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n",
  },
  pids: { "pids.max": "max", "pids.current": "0" },
  cpu: {
    "cpu.weight": "100",
    "cpu.max": "max 100000",
    "cpu.max.burst": "0",
    "cpu.idle": "0",
    "cpu.stat": "usage_usec 0\nuser_usec 0\nsystem_usec 0\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n",
  },
  io: { "io.weight": "default 100\n", "io.max": "", "io.stat": "" },
  cpuset: { "cpuset.cpus": "", "cpuset.mems": "" },
  hugetlb: { "hugetlb.2MB.max": "max", "hugetlb.2MB.current": "0", "hugetlb.2MB.events": "max 0\n" },
  rdma: { "rdma.max": "", "rdma.current": "" },
};

export function enoent(p: string): Error {
  return Object.assign(new Error(`ENOENT: no such file or directory, '${p}'`), { code: "ENOENT" });
}
export function errno(code: string, p: string): Error {
  return Object.assign(new Error(`${code}: ${p}`), { code });
}

/** A v1 hierarchy to fake: its directory name under the root and its mount options. */
export interface FakeHierarchy {
  dir: string;
  controllers: string[];
}

export const HYBRID_LIKE_THIS_HOST: FakeHierarchy[] = [
  { dir: "cpu", controllers: ["cpu"] },
  { dir: "cpuacct", controllers: ["cpuacct"] },
  { dir: "cpuset", controllers: ["cpuset"] },
  { dir: "memory", controllers: ["memory"] },
  { dir: "devices", controllers: ["devices"] },
  { dir: "freezer", controllers: ["freezer"] },
  { dir: "blkio", controllers: ["blkio"] },
  { dir: "pids", controllers: ["pids"] },
  { dir: "systemd", controllers: ["name=systemd"] },
];

export class FakeKernel implements CgroupFs {
  readonly root: string;
  readonly writes: [string, string][] = [];
  /** basename → errno code: the next writes to such files fail. */
  readonly failWrites = new Map<string, string>();
  /** Hook run before a write: return false to skip the default behaviour. */
  onWrite?: (path: string, data: string) => boolean | void;
  private readonly v1: FakeHierarchy[];
  private readonly v2Mount?: string;

  constructor(opts: { v1?: FakeHierarchy[]; unified?: "root" | "hybrid"; v2Controllers?: string[] }) {
    // tmpfs when there is one: a fake cgroup tree is hundreds of small files.
    const base = fs.existsSync("/dev/shm") ? "/dev/shm" : tmpdir();
    this.root = mkdtempSync(join(base, "tsrunc-cgfake-"));
    this.v1 = opts.v1 ?? [];
    for (const h of this.v1) {
      const dir = join(this.root, h.dir);
      fs.mkdirSync(dir);
      this.populateV1(dir, h, true);
    }
    if (opts.unified) {
      this.v2Mount = opts.unified === "root" ? this.root : join(this.root, "unified");
      fs.mkdirSync(this.v2Mount, { recursive: true });
      const ctrls = opts.v2Controllers ?? ["cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma"];
      this.put(this.v2Mount, { "cgroup.controllers": ctrls.join(" "), "cgroup.subtree_control": "", "cgroup.procs": "", "cpu.stat": "usage_usec 0\n" });
    }
    // Huge pages of 2 MB and 1 GB.
    fs.mkdirSync(join(this.root, "hugepages", "hugepages-2048kB"), { recursive: true });
    fs.mkdirSync(join(this.root, "hugepages", "hugepages-1048576kB"), { recursive: true });
  }

  get hugePagesDir(): string {
    return join(this.root, "hugepages");
  }

  /** /proc/self/mountinfo text for this fake. */
  mountinfo(): string {
    const lines = [`30 1 0:27 / ${this.root} rw,relatime - tmpfs tmpfs rw`];
    this.v1.forEach((h, i) => {
      lines.push(`${31 + i} 30 0:${28 + i} / ${join(this.root, h.dir)} rw,nosuid - cgroup cgroup rw,${h.controllers.join(",")}`);
    });
    if (this.v2Mount) lines.push(`60 30 0:60 / ${this.v2Mount} rw,nosuid - cgroup2 cgroup2 rw,nsdelegate`);
    return lines.join("\n") + "\n";
  }

  put(dir: string, files: Record<string, string>): void {
    for (const [f, v] of Object.entries(files)) fs.writeFileSync(join(dir, f), v);
  }

  file(p: string): string {
    return fs.readFileSync(p, "utf8");
  }

  private populateV1(dir: string, h: FakeHierarchy, isRoot: boolean): void {
    this.put(dir, V1_FILES[""]!);
    for (const c of h.controllers) this.put(dir, V1_FILES[c] ?? {});
    if (isRoot && h.controllers.includes("cpuset")) this.put(dir, { "cpuset.cpus": "0-3", "cpuset.mems": "0" });
  }

  private hierarchyOf(p: string): FakeHierarchy | "v2" | undefined {
    if (this.v2Mount && (p === this.v2Mount || p.startsWith(this.v2Mount + "/"))) return "v2";
    const top = relative(this.root, p).split("/")[0];
    return this.v1.find((h) => h.dir === top);
  }

  private populateV2(dir: string): void {
    const parent = dirname(dir);
    const enabled = this.file(join(parent, "cgroup.subtree_control")).split(/\s+/).filter(Boolean);
    this.put(dir, V2_FILES[""]!);
    this.put(dir, { "cgroup.controllers": enabled.join(" ") });
    for (const c of enabled) this.put(dir, V2_FILES[c] ?? {});
  }

  // ---- CgroupFs --------------------------------------------------------------------------------

  read(p: string): string {
    return nodeCgroupFs.read(p);
  }

  write(p: string, data: string): void {
    if (!fs.existsSync(p)) throw enoent(p);
    const fail = this.failWrites.get(basename(p));
    if (fail) throw errno(fail, p);
    this.writes.push([p, data]);
    if (this.onWrite?.(p, data) === false) return;
    const name = basename(p);
    const dir = dirname(p);
    if (name === "cgroup.subtree_control") {
      const have = new Set(this.file(p).split(/\s+/).filter(Boolean));
      const avail = new Set(this.file(join(dir, "cgroup.controllers")).split(/\s+/).filter(Boolean));
      for (const tok of data.split(/\s+/).filter(Boolean)) {
        const c = tok.slice(1);
        if (!avail.has(c)) throw errno("ENOENT", p);
        if (tok[0] === "+") have.add(c);
        else have.delete(c);
      }
      fs.writeFileSync(p, [...have].join(" "));
      return;
    }
    if (name === "cgroup.freeze") {
      fs.writeFileSync(p, data);
      fs.writeFileSync(join(dir, "cgroup.events"), `populated 0\nfrozen ${data.trim()}\n`);
      return;
    }
    if (name === "devices.allow" || name === "devices.deny") {
      this.fakeDevices(dir, data, name === "devices.allow");
      return;
    }
    if (name === "cgroup.procs") {
      fs.appendFileSync(p, `${data}\n`);
      return;
    }
    fs.writeFileSync(p, data);
  }

  /** Just enough of the kernel's devices cgroup: "a" resets, otherwise exceptions are added/removed. */
  private fakeDevices(dir: string, rule: string, allow: boolean): void {
    const list = join(dir, "devices.list");
    const lines = this.file(list).split("\n").filter(Boolean);
    const [type, dev, perms] = rule.split(" ") as [string, string, string];
    if (type === "a") {
      fs.writeFileSync(list, allow ? "a *:* rwm\n" : "");
      return;
    }
    const allowAll = lines.includes("a *:* rwm");
    if (allowAll) throw new Error(`fake devices: deny-list edits are not modelled (${rule})`);
    const key = `${type} ${dev}`;
    const idx = lines.findIndex((l) => l.startsWith(`${key} `));
    const have = idx >= 0 ? lines[idx]!.split(" ")[2]! : "";
    const next = allow ? [..."rwm"].filter((c) => have.includes(c) || perms.includes(c)).join("") : [...have].filter((c) => !perms.includes(c)).join("");
    if (idx >= 0) lines.splice(idx, 1);
    if (next) lines.push(`${key} ${next}`);
    fs.writeFileSync(list, lines.map((l) => `${l}\n`).join(""));
  }

  mkdir(p: string): boolean {
    const made = nodeCgroupFs.mkdir(p);
    if (made) {
      const h = this.hierarchyOf(p);
      if (h === "v2") this.populateV2(p);
      else if (h) this.populateV1(p, h, false);
    }
    return made;
  }

  rmdir(p: string): void {
    if (!fs.existsSync(p)) throw enoent(p);
    if (this.subdirs(p).length > 0) throw errno("EBUSY", p);
    const procs = join(p, "cgroup.procs");
    if (fs.existsSync(procs) && this.file(procs).trim() !== "") throw errno("EBUSY", p);
    for (const f of fs.readdirSync(p)) fs.unlinkSync(join(p, f));
    fs.rmdirSync(p);
  }

  exists(p: string): boolean {
    return fs.existsSync(p);
  }

  subdirs(p: string): string[] {
    return nodeCgroupFs.subdirs(p);
  }

  statfsType(): number | undefined {
    return undefined;
  }

  /** Every directory below the root (relative), for "nothing left behind" checks. */
  tree(): string[] {
    const out: string[] = [];
    const walk = (d: string) => {
      for (const s of this.subdirs(d)) {
        out.push(relative(this.root, join(d, s)));
        walk(join(d, s));
      }
    };
    walk(this.root);
    return out.sort();
  }

  cleanup(): void {
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}
