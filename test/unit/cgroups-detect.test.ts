import { describe, expect, it } from "vitest";
import {
  CgroupError,
  type CgroupFs,
  detectCgroupHost,
  findV1Hierarchy,
  isSystemdRunning,
  nodeCgroupFs,
  ownCgroupDir,
  parseMountInfo,
  parseProcCgroup,
} from "../../src/cgroups/index.ts";

// This machine (Debian 12 on a 6.18 kernel, no systemd): every v1 controller on its own, and a
// cgroup2 with only hugetlb at /sys/fs/cgroup/unified.
const THIS_HOST_MOUNTINFO = `22 1 254:0 / / rw,relatime - ext4 /dev/vda rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;
const THIS_HOST_CGROUP = `9:name=systemd:/
8:pids:/
7:blkio:/
6:freezer:/
5:devices:/
4:memory:/process_api/5af67d7f1c8cea88aa99130397b3b6c1
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
`;

// A systemd host in hybrid mode (Ubuntu 20.04 style): co-mounted cpu,cpuacct and net_cls,net_prio.
const SYSTEMD_HYBRID_MOUNTINFO = `25 0 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
30 25 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
32 30 0:28 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
35 30 0:31 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,cpu,cpuacct
36 30 0:32 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,net_cls,net_prio
37 30 0:33 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,memory
38 30 0:34 / /sys/fs/cgroup/devices rw,nosuid,nodev,noexec,relatime shared:18 - cgroup cgroup rw,devices
39 30 0:35 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:19 - cgroup cgroup rw,cpuset,clone_children
40 30 0:36 / /sys/fs/cgroup/freezer rw,nosuid,nodev,noexec,relatime shared:20 - cgroup cgroup rw,freezer
41 30 0:37 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:21 - cgroup cgroup rw,pids
42 30 0:38 / /sys/fs/cgroup/blkio rw,nosuid,nodev,noexec,relatime shared:22 - cgroup cgroup rw,blkio
43 30 0:39 / /sys/fs/cgroup/hugetlb rw,nosuid,nodev,noexec,relatime shared:23 - cgroup cgroup rw,hugetlb
44 30 0:40 / /sys/fs/cgroup/perf_event rw,nosuid,nodev,noexec,relatime shared:24 - cgroup cgroup rw,perf_event
45 30 0:41 / /sys/fs/cgroup/rdma rw,nosuid,nodev,noexec,relatime shared:25 - cgroup cgroup rw,rdma
`;
const SYSTEMD_HYBRID_CGROUP = `12:rdma:/
11:perf_event:/
10:hugetlb:/
9:blkio:/user.slice
8:pids:/user.slice/user-1000.slice/session-2.scope
7:freezer:/
6:cpuset:/
5:devices:/user.slice
4:memory:/user.slice/user-1000.slice/session-2.scope
3:net_cls,net_prio:/
2:cpu,cpuacct:/user.slice
1:name=systemd:/user.slice/user-1000.slice/session-2.scope
0::/user.slice/user-1000.slice/session-2.scope
`;

const PURE_V2_MOUNTINFO = `24 1 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`;

const noStatfs: CgroupFs = { ...nodeCgroupFs, statfsType: () => undefined };

describe("parseMountInfo", () => {
  it("reads the fields after the optional ones and unescapes octal escapes", () => {
    const [m] = parseMountInfo("36 35 98:0 /mnt\\0401 /mnt\\040two rw,noatime master:1 shared:2 - cgroup my\\040src rw,cpu,cpuacct\n");
    expect(m).toEqual({
      mountId: 36,
      parentId: 35,
      root: "/mnt 1",
      mountpoint: "/mnt two",
      optional: ["master:1", "shared:2"],
      fstype: "cgroup",
      source: "my src",
      superOptions: ["rw", "cpu", "cpuacct"],
    });
  });

  it("rejects a line without the separator", () => {
    expect(() => parseMountInfo("1 2 3:4 / /x rw\n")).toThrow(/malformed mountinfo line/);
  });
});

describe("parseProcCgroup", () => {
  it("maps each controller of a line, named hierarchies and the v2 entry", () => {
    const m = parseProcCgroup(SYSTEMD_HYBRID_CGROUP);
    expect(m.get("cpu")).toBe("/user.slice");
    expect(m.get("cpuacct")).toBe("/user.slice");
    expect(m.get("net_prio")).toBe("/");
    expect(m.get("name=systemd")).toBe("/user.slice/user-1000.slice/session-2.scope");
    expect(m.get("")).toBe("/user.slice/user-1000.slice/session-2.scope");
  });

  it("keeps colons inside the path", () => {
    expect(parseProcCgroup("0::/a:b\n").get("")).toBe("/a:b");
  });
});

describe("detectCgroupHost", () => {
  it("sees this machine as hybrid with separate cpu and cpuacct and a hugetlb-only cgroup2", () => {
    const host = detectCgroupHost({ mountinfo: THIS_HOST_MOUNTINFO, procCgroup: THIS_HOST_CGROUP });
    expect(host.mode).toBe("hybrid");
    expect(host.root).toBe("/sys/fs/cgroup");
    expect(host.v1.map((h) => h.controllers.join(","))).toEqual([
      "cpu",
      "cpuacct",
      "cpuset",
      "memory",
      "devices",
      "freezer",
      "blkio",
      "pids",
      "name=systemd",
    ]);
    expect(findV1Hierarchy(host, "memory")).toEqual({
      controllers: ["memory"],
      mountpoint: "/sys/fs/cgroup/memory",
      mountRoot: "/",
      cgroup: "/process_api/5af67d7f1c8cea88aa99130397b3b6c1",
    });
    expect(host.unified).toEqual({ mountpoint: "/sys/fs/cgroup/unified", mountRoot: "/", cgroup: "/" });
    expect(findV1Hierarchy(host, "hugetlb")).toBeUndefined();
  });

  it("finds co-mounted controllers and named hierarchies, ignoring options that are not controllers", () => {
    const host = detectCgroupHost({ mountinfo: SYSTEMD_HYBRID_MOUNTINFO, procCgroup: SYSTEMD_HYBRID_CGROUP });
    expect(host.mode).toBe("hybrid");
    const cpu = findV1Hierarchy(host, "cpuacct")!;
    expect(cpu.controllers).toEqual(["cpu", "cpuacct"]);
    expect(cpu.mountpoint).toBe("/sys/fs/cgroup/cpu,cpuacct");
    expect(cpu.cgroup).toBe("/user.slice");
    expect(findV1Hierarchy(host, "net_prio")!.mountpoint).toBe("/sys/fs/cgroup/net_cls,net_prio");
    expect(findV1Hierarchy(host, "name=systemd")!.controllers).toEqual(["name=systemd"]);
    expect(findV1Hierarchy(host, "cpuset")!.controllers).toEqual(["cpuset"]); // not clone_children
    expect(host.unified!.cgroup).toBe("/user.slice/user-1000.slice/session-2.scope");
  });

  it("is legacy without a cgroup2 mount", () => {
    const text = SYSTEMD_HYBRID_MOUNTINFO.split("\n").filter((l) => !l.includes("cgroup2")).join("\n");
    const host = detectCgroupHost({ mountinfo: text, procCgroup: SYSTEMD_HYBRID_CGROUP });
    expect(host.mode).toBe("legacy");
    expect(host.unified).toBeUndefined();
  });

  it("is unified when cgroup2 is mounted at the root", () => {
    const host = detectCgroupHost({ mountinfo: PURE_V2_MOUNTINFO, procCgroup: "0::/init.scope\n" });
    expect(host).toEqual({
      mode: "unified",
      root: "/sys/fs/cgroup",
      v1: [],
      unified: { mountpoint: "/sys/fs/cgroup", mountRoot: "/", cgroup: "/init.scope" },
    });
  });

  it("lets statfs decide when asked (as runc does)", () => {
    const fs: CgroupFs = { ...nodeCgroupFs, statfsType: (p) => (p === "/sys/fs/cgroup" ? 0x63677270 : undefined) };
    const host = detectCgroupHost({ mountinfo: "", procCgroup: "0::/\n", fs, statfs: true });
    expect(host.mode).toBe("unified");
    expect(host.unified!.mountpoint).toBe("/sys/fs/cgroup");
  });

  it("takes the mount under the root when a hierarchy is mounted twice", () => {
    const text = `90 1 0:32 / /mnt/elsewhere rw - cgroup cgroup rw,memory\n${THIS_HOST_MOUNTINFO}`;
    const host = detectCgroupHost({ mountinfo: text, procCgroup: THIS_HOST_CGROUP });
    expect(findV1Hierarchy(host, "memory")!.mountpoint).toBe("/sys/fs/cgroup/memory");
  });

  it("uses an injected root", () => {
    const text = THIS_HOST_MOUNTINFO.replaceAll("/sys/fs/cgroup", "/tmp/x");
    const host = detectCgroupHost({ root: "/tmp/x/", mountinfo: text, procCgroup: THIS_HOST_CGROUP, fs: noStatfs });
    expect(host.root).toBe("/tmp/x");
    expect(host.unified!.mountpoint).toBe("/tmp/x/unified");
  });

  it("fails clearly without any cgroup mount", () => {
    expect(() => detectCgroupHost({ mountinfo: "22 1 254:0 / / rw - ext4 /dev/vda rw\n", procCgroup: "" })).toThrow(
      CgroupError,
    );
    expect(() => detectCgroupHost({ mountinfo: "", procCgroup: "" })).toThrow(/no cgroup hierarchy is mounted/);
  });

  it("reads the real machine (no injection)", () => {
    const host = detectCgroupHost();
    expect(["unified", "legacy", "hybrid"]).toContain(host.mode);
    if (host.mode === "unified") expect(host.unified).toBeDefined();
    else expect(host.v1.length).toBeGreaterThan(0);
  });
});

describe("ownCgroupDir", () => {
  it("joins the mount point with the cgroup path below the mount's root (nested containers)", () => {
    expect(ownCgroupDir({ mountpoint: "/sys/fs/cgroup/memory", mountRoot: "/", cgroup: "/a/b" })).toBe("/sys/fs/cgroup/memory/a/b");
    expect(ownCgroupDir({ mountpoint: "/sys/fs/cgroup/memory", mountRoot: "/docker/abc", cgroup: "/docker/abc/x" })).toBe(
      "/sys/fs/cgroup/memory/x",
    );
    // A cgroup outside what the mount shows can't be reached: stay at the mount point.
    expect(ownCgroupDir({ mountpoint: "/sys/fs/cgroup/memory", mountRoot: "/docker/abc", cgroup: "/other" })).toBe(
      "/sys/fs/cgroup/memory",
    );
  });
});

describe("isSystemdRunning", () => {
  it("looks for the /run/systemd/system directory", () => {
    const fs = (dirs: string[]): CgroupFs => ({ ...nodeCgroupFs, subdirs: () => dirs });
    expect(isSystemdRunning(fs(["system", "journal"]))).toBe(true);
    expect(isSystemdRunning(fs(["journal"]))).toBe(false);
  });
});
