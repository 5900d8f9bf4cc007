import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  blkioWeightToIoWeight,
  cleanPath,
  detectCgroupHost,
  expandSlice,
  innerCgroupPath,
  memorySwapToV2,
  newCgroupManager,
  parseSystemdCgroupsPath,
  resolveV1Paths,
  resolveV2Path,
  sharesToWeight,
  systemdCgroupPath,
  systemdUnitName,
} from "../../src/cgroups/index.ts";

const HYBRID = `31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw
35 31 0:31 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
37 31 0:33 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
38 31 0:34 / /sys/fs/cgroup/devices rw - cgroup cgroup rw,devices
32 31 0:28 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
31 30 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
`;
const HYBRID_CGROUP = `4:memory:/process_api/abc
3:devices:/
2:cpu,cpuacct:/user.slice
1:name=systemd:/user.slice/session-2.scope
0::/user.slice/session-2.scope
`;
const hybrid = () => detectCgroupHost({ mountinfo: HYBRID, procCgroup: HYBRID_CGROUP });
const v2 = (own: string) =>
  detectCgroupHost({ mountinfo: "24 1 0:22 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n", procCgroup: `0::${own}\n` });

describe("cleanPath (runc's utils.CleanPath)", () => {
  it.each([
    ["", ""],
    ["/", "/"],
    ["/a/b/", "/a/b"],
    ["/../../a", "/a"],
    ["a/b/", "a/b"],
    ["a/../../b", "b"],
    ["../../../etc/x", "etc/x"],
    ["./a//b", "a/b"],
    [".", "."],
  ])("%j → %j", (input, want) => {
    expect(cleanPath(input)).toBe(want);
  });
});

describe("innerCgroupPath", () => {
  it("is the container id (relative) when cgroupsPath is empty, as in runc", () => {
    expect(innerCgroupPath(undefined, "mycontainer")).toBe("mycontainer");
    expect(innerCgroupPath("", "mycontainer")).toBe("mycontainer");
  });
  it("keeps absolute paths absolute and relative ones relative", () => {
    expect(innerCgroupPath("/tsrunc-test/x/c1", "c1")).toBe("/tsrunc-test/x/c1");
    expect(innerCgroupPath("foo/../bar", "c1")).toBe("bar");
  });
  it("needs an id when there is no path", () => {
    expect(() => innerCgroupPath("", "")).toThrow(/no container id/);
  });
});

describe("resolveV1Paths", () => {
  it("puts an absolute path under every hierarchy's mount point, co-mounted ones sharing a directory", () => {
    expect(resolveV1Paths(hybrid(), "/tsrunc-test/c1")).toEqual({
      devices: "/sys/fs/cgroup/devices/tsrunc-test/c1",
      memory: "/sys/fs/cgroup/memory/tsrunc-test/c1",
      cpu: "/sys/fs/cgroup/cpu,cpuacct/tsrunc-test/c1",
      cpuacct: "/sys/fs/cgroup/cpu,cpuacct/tsrunc-test/c1",
      "name=systemd": "/sys/fs/cgroup/systemd/tsrunc-test/c1",
      "": "/sys/fs/cgroup/unified/tsrunc-test/c1",
    });
  });

  it("nests a relative path under our own cgroup in each v1 hierarchy (runc), the cgroup2 part directly under its mount", () => {
    expect(resolveV1Paths(hybrid(), "c1")).toEqual({
      devices: "/sys/fs/cgroup/devices/c1",
      memory: "/sys/fs/cgroup/memory/process_api/abc/c1",
      cpu: "/sys/fs/cgroup/cpu,cpuacct/user.slice/c1",
      cpuacct: "/sys/fs/cgroup/cpu,cpuacct/user.slice/c1",
      "name=systemd": "/sys/fs/cgroup/systemd/user.slice/session-2.scope/c1",
      "": "/sys/fs/cgroup/unified/c1",
    });
  });

  it("follows the mount root of a nested container", () => {
    const host = detectCgroupHost({
      mountinfo: "37 31 0:33 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n",
      procCgroup: "4:memory:/docker/abc\n",
    });
    expect(resolveV1Paths(host, "inner")).toEqual({ memory: "/sys/fs/cgroup/memory/inner" });
    expect(resolveV1Paths(host, "/abs")).toEqual({ memory: "/sys/fs/cgroup/memory/abs" });
  });
});

describe("resolveV2Path", () => {
  it("puts an absolute path under the root", () => {
    expect(resolveV2Path(v2("/user.slice/session-1.scope"), "/tsrunc-test/c1")).toBe("/sys/fs/cgroup/tsrunc-test/c1");
  });
  it("nests a relative path under the PARENT of our own cgroup (runc: the own one has processes)", () => {
    expect(resolveV2Path(v2("/user.slice/user-0.slice/session-1.scope"), "c1")).toBe("/sys/fs/cgroup/user.slice/user-0.slice/c1");
    expect(resolveV2Path(v2("/"), "c1")).toBe("/sys/fs/cgroup/c1");
    expect(resolveV2Path(v2("/init.scope"), "a/b")).toBe("/sys/fs/cgroup/a/b");
  });
});

describe("systemd driver paths", () => {
  it("parses slice:prefix:name with runc's defaults and errors", () => {
    expect(parseSystemdCgroupsPath("system.slice:docker:abc", "id")).toEqual({ parent: "system.slice", scopePrefix: "docker", name: "abc" });
    expect(parseSystemdCgroupsPath("", "id")).toEqual({ parent: "", scopePrefix: "runc", name: "id" });
    expect(() => parseSystemdCgroupsPath("/a/b", "id")).toThrow(
      'cgroup: expected cgroupsPath to be of format "slice:prefix:name" for systemd cgroups, got "/a/b" instead',
    );
  });

  it("expands slices as systemd nests them", () => {
    expect(expandSlice("system.slice")).toBe("/system.slice");
    expect(expandSlice("test-a-b.slice")).toBe("/test.slice/test-a.slice/test-a-b.slice");
    expect(expandSlice("-.slice")).toBe("/");
    for (const bad of ["test--a.slice", "-test.slice", "foo", "a/b.slice", ".slice"]) {
      expect(() => expandSlice(bad), bad).toThrow(/invalid slice name/);
    }
  });

  it("names the unit and where it lands", () => {
    const c = parseSystemdCgroupsPath("machine-x.slice:libpod:abc", "id");
    expect(systemdUnitName(c)).toBe("libpod-abc.scope");
    expect(systemdCgroupPath(c)).toBe("/machine.slice/machine-x.slice/libpod-abc.scope");
    expect(systemdCgroupPath(parseSystemdCgroupsPath("", "c1"))).toBe("/system.slice/runc-c1.scope");
    expect(systemdUnitName({ parent: "", scopePrefix: "p", name: "my.slice" })).toBe("my.slice");
  });

  it("says clearly that systemd is not running; when it is, the manager names the unit (and refuses rootless)", () => {
    const dir = mkdtempSync(join(tmpdir(), "tsrunc-sd-"));
    try {
      const opts = { containerId: "c1", systemd: true, systemdRunDir: join(dir, "system") };
      expect(() => newCgroupManager(opts)).toThrow("cgroup: systemd cgroup driver requested but systemd is not running");
      expect(() => newCgroupManager({ ...opts, cgroupsPath: "nocolons" })).toThrow(/slice:prefix:name/);
      mkdirSync(join(dir, "system"));
      // Nothing is asked of systemd before apply(): no bus is needed to make the manager.
      expect(newCgroupManager({ ...opts, euid: 0 }).toState()).toMatchObject({ driver: "systemd", unit: "runc-c1.scope" });
      expect(() => newCgroupManager({ ...opts, euid: 1000 })).toThrow(/systemd cgroup driver is not supported for rootless containers/);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});

describe("value conversions", () => {
  it("converts cpu shares to a v2 weight like runc 1.1", () => {
    expect(sharesToWeight(0)).toBe(0n);
    expect(sharesToWeight(2)).toBe(1n);
    expect(sharesToWeight(1024)).toBe(39n);
    expect(sharesToWeight(512)).toBe(20n);
    expect(sharesToWeight(262144)).toBe(10000n);
    expect(sharesToWeight(100000)).toBe(3815n);
  });

  it("converts blkio weights to io.weight", () => {
    expect(blkioWeightToIoWeight(10)).toBe(1n);
    expect(blkioWeightToIoWeight(500)).toBe(4950n);
    expect(blkioWeightToIoWeight(1000)).toBe(10000n);
  });

  it("turns memory+swap into v2's swap-only value", () => {
    expect(memorySwapToV2(0n, -1n)).toBe(-1n);
    expect(memorySwapToV2(-1n, 100n)).toBe(-1n);
    expect(memorySwapToV2(300n, 100n)).toBe(200n);
    expect(memorySwapToV2(100n, 100n)).toBe(0n);
    expect(() => memorySwapToV2(300n, 0n)).toThrow("unable to set swap limit without memory limit");
    expect(() => memorySwapToV2(50n, 100n)).toThrow("memory+swap limit should be >= memory limit");
  });
});
