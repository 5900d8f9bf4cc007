import { describe, expect, it } from "vitest";
import { buildPlan, execCandidates } from "../../src/runtime/plan.ts";
import { SYNC_DONE, SYNC_READY, SYNC_SETUP } from "../../src/runtime/protocol.ts";
import * as L from "../../src/runtime/linux.ts";
import type { InitOp } from "../../src/native/types.ts";
import { planInput } from "./plan-input.ts";

const input = planInput;

const kinds = (ops: InitOp[]) => ops.map((o) => o.op);
const indexOf = (ops: InitOp[], pred: (o: InitOp) => boolean) => ops.findIndex(pred);

describe("the plan", () => {
  it("creates the namespaces in one clone and keeps runc's order of steps", () => {
    const b = buildPlan(input());
    const ops = b.plan.ops;
    expect(b.plan.cloneFlags).toBe(L.CLONE_NEWPID | L.CLONE_NEWNET | L.CLONE_NEWIPC | L.CLONE_NEWUTS | L.CLONE_NEWNS);
    expect(b.refork).toBe(false);
    expect(ops[0]).toEqual({ op: "cloexecFrom", from: 3 });
    const setup = indexOf(ops, (o) => o.op === "sync" && o.tag === SYNC_SETUP);
    const proc = indexOf(ops, (o) => o.op === "mount" && o.fstype === "proc");
    const pivot = indexOf(ops, (o) => o.op === "pivotRoot");
    const mask = indexOf(ops, (o) => o.op === "maskPath");
    const ready = indexOf(ops, (o) => o.op === "sync" && o.tag === SYNC_READY);
    const setuid = indexOf(ops, (o) => o.op === "setresuid");
    const done = indexOf(ops, (o) => o.op === "sync" && o.tag === SYNC_DONE);
    const wait = indexOf(ops, (o) => o.op === "waitStart");
    expect(setup).toBeGreaterThan(0);
    expect(proc).toBeGreaterThan(setup);
    expect(pivot).toBeGreaterThan(proc);
    expect(mask).toBeGreaterThan(pivot);
    expect(ready).toBeGreaterThan(mask);
    expect(setuid).toBeGreaterThan(ready);
    expect(done).toBeGreaterThan(setuid);
    expect(wait).toBe(done + 1);
    expect(ops.at(-1)).toMatchObject({ op: "exec", argv: ["sh"] });
    expect(b.describe).toHaveLength(ops.length);
  });

  it("mounts the spec's mounts inside the rootfs with their flags", () => {
    const ops = buildPlan(input()).plan.ops;
    const sys = ops.find((o) => o.op === "mount" && o.target === "/sys");
    expect(sys).toMatchObject({ fstype: "sysfs", inRoot: true, flags: L.MS_NOSUID | L.MS_NOEXEC | L.MS_NODEV | L.MS_RDONLY });
    const dev = ops.find((o) => o.op === "mount" && o.target === "/dev");
    expect(dev).toMatchObject({ fstype: "tmpfs", data: "mode=755,size=65536k", flags: L.MS_NOSUID | L.MS_STRICTATIME });
  });

  it("creates runc's default devices with mknod, or binds them in a user namespace", () => {
    const plain = buildPlan(input()).plan.ops;
    expect(plain.find((o) => o.op === "mknod" && o.path === "/dev/null")).toMatchObject({ mode: L.S_IFCHR | 0o666, major: 1, minor: 3 });
    const userns = buildPlan(
      input((s) => {
        s.linux.namespaces.push({ type: "user" });
        s.linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
        s.linux.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      }),
    );
    expect(userns.userns).toBe(true);
    expect(userns.plan.ops.some((o) => o.op === "mknod")).toBe(false);
    // The runtime in a user namespace (rootless podman): no mknod either, as runc.
    const nested = buildPlan(input(() => {}, { inUserns: true })).plan.ops;
    expect(nested.some((o) => o.op === "mknod")).toBe(false);
    expect(nested.find((o) => o.op === "mount" && o.target === "/dev/null")).toMatchObject({ source: "/dev/null", flags: L.MS_BIND });
    expect(userns.plan.ops.find((o) => o.op === "mount" && o.target === "/dev/null")).toMatchObject({ source: "/dev/null", flags: L.MS_BIND });
    const setup = indexOf(userns.plan.ops, (o) => o.op === "sync" && o.tag === SYNC_SETUP);
    expect(userns.plan.ops[setup + 1]).toEqual({ op: "setresgid", gid: 0 });
  });

  it("joins namespaces by path in a second stage, user first and mount last", () => {
    const b = buildPlan(
      input((s) => {
        s.linux.namespaces = [{ type: "mount" }, { type: "network", path: "/var/run/netns/x" }, { type: "pid" }, { type: "user", path: "/proc/1/ns/user" }];
      }),
    );
    expect(b.plan.cloneFlags).toBe(0);
    expect(b.refork).toBe(true);
    expect(kinds(b.plan.ops).slice(1, 5)).toEqual(["setns", "setns", "unshare", "sync"]);
    expect(b.plan.ops[1]).toMatchObject({ path: "/proc/1/ns/user", nstype: L.CLONE_NEWUSER });
    expect(b.plan.ops[3]).toEqual({ op: "unshare", flags: L.CLONE_NEWNS | L.CLONE_NEWPID });
    expect(kinds(b.plan.ops)).toContain("forkParent");
  });

  it("binds the container's cgroup2 directory in a user namespace without a cgroup namespace, as runc", () => {
    const userns = (s: any) => {
      s.linux.namespaces.push({ type: "user" });
      s.linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      s.linux.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    };
    const layout = { version: 2 as const, hostPath: "/sys/fs/cgroup/test/c1" };
    const bound = buildPlan(input(userns, { cgroupLayout: layout })).plan.ops;
    expect(bound.find((o) => o.op === "mount" && o.target === "/sys/fs/cgroup")).toMatchObject({ source: "/sys/fs/cgroup/test/c1", fstype: null });
    const own = buildPlan(input((s) => (userns(s), s.linux.namespaces.push({ type: "cgroup" })), { cgroupLayout: layout })).plan.ops;
    expect(own.find((o) => o.op === "mount" && o.target === "/sys/fs/cgroup")).toMatchObject({ fstype: "cgroup2" });
  });

  it("refuses to run without a mount namespace", () => {
    expect(() => buildPlan(input((s) => (s.linux.namespaces = [{ type: "pid" }])))).toThrow(/mount namespace/);
  });

  it("uses MS_MOVE and chroot with --no-pivot, and a console op with a terminal", () => {
    const ops = buildPlan(input(() => {}, { noPivot: true, consoleSocketFd: 7 })).plan.ops;
    expect(kinds(ops)).toContain("moveRoot");
    expect(kinds(ops)).not.toContain("pivotRoot");
    expect(ops.find((o) => o.op === "console")).toEqual({ op: "console", socketFd: 7, ptmxPath: "/dev/ptmx", rows: 0, cols: 0 });
  });

  it("sizes the console from process.consoleSize, each cut to 16 bits as runc's uint16", () => {
    const sized = (size: object) =>
      buildPlan(input((s) => (s.process.consoleSize = size), { consoleSocketFd: 7 })).plan.ops.find((o) => o.op === "console");
    expect(sized({ height: 33, width: 111 })).toMatchObject({ rows: 33, cols: 111 });
    expect(sized({ height: 44, width: 65537 })).toMatchObject({ rows: 44, cols: 1 });
  });

  it("drops every capability outside the bounding set and raises the ambient ones", () => {
    const ops = buildPlan(input()).plan.ops;
    const dropped = ops.filter((o) => o.op === "prctl" && o.option === L.PR_CAPBSET_DROP).map((o) => (o as any).arg2);
    expect(dropped).not.toContain(5); // CAP_KILL is kept
    expect(dropped).toContain(21); // CAP_SYS_ADMIN goes
    const capset = ops.find((o) => o.op === "capset") as any;
    expect(capset.effective).toBe((1n << 29n) | (1n << 5n) | (1n << 10n));
    // runc's spec lists ambient capabilities but no inheritable ones: the kernel refuses to raise them
    expect(ops.filter((o) => o.op === "prctl" && o.option === L.PR_CAP_AMBIENT)).toHaveLength(0);
    const withInheritable = buildPlan(input((s) => (s.process.capabilities.inheritable = ["CAP_KILL"]))).plan.ops;
    expect(withInheritable.filter((o) => o.op === "prctl" && o.option === L.PR_CAP_AMBIENT)).toEqual([
      { op: "prctl", option: L.PR_CAP_AMBIENT, arg2: L.PR_CAP_AMBIENT_RAISE, arg3: 5 },
    ]);
  });

  it("preserves fds 3..3+N and marks the rest close-on-exec", () => {
    const ops = buildPlan(input(() => {}, { preserveFds: 2 })).plan.ops;
    expect(ops[0]).toEqual({ op: "cloexecFrom", from: 5 });
    expect(ops[1]).toEqual({ op: "inheritFds", from: 3, to: 5 });
  });

  it("finds the executable like Go's LookPath", () => {
    expect(execCandidates("sh", ["PATH=/usr/bin:/bin"])).toEqual(["/usr/bin/sh", "/bin/sh"]);
    expect(execCandidates("./x", ["PATH=/bin"])).toEqual(["./x"]);
    expect(execCandidates("sh", [])).toEqual([]);
  });

  it("makes a missing cwd inside the new root and enters it before and, if denied, after the identity change (runc)", () => {
    const b = buildPlan(
      input((s) => {
        s.process.cwd = "/work/dir";
        s.process.user = { uid: 1000, gid: 1000 };
        s.root.readonly = true;
      }),
    );
    const ops = b.plan.ops;
    const pivot = indexOf(ops, (o) => o.op === "pivotRoot");
    const mkdir = indexOf(ops, (o) => o.op === "mkdirAll" && o.path === "/work/dir");
    const readonly = indexOf(ops, (o) => o.op === "mountSetattr" && o.target === "/" && !o.inRoot);
    expect(ops[mkdir]).toEqual({ op: "mkdirAll", path: "/work/dir", mode: 0o755, inRoot: false });
    expect(mkdir).toBe(pivot + 1);
    expect(readonly).toBeGreaterThan(mkdir);
    const tryAt = indexOf(ops, (o) => o.op === "tryChdir");
    const setuid = indexOf(ops, (o) => o.op === "setresuid");
    const retryAt = indexOf(ops, (o) => o.op === "retryChdir");
    const capset = indexOf(ops, (o) => o.op === "capset");
    expect(ops[tryAt]).toEqual({ op: "tryChdir", path: "/work/dir" });
    expect(ops[retryAt]).toEqual({ op: "retryChdir", path: "/work/dir" });
    expect(tryAt).toBeLessThan(setuid);
    expect(retryAt).toBe(setuid + 1);
    expect(capset).toBeGreaterThan(retryAt);
    expect(kinds(ops)).not.toContain("chdir");
    expect(b.describe[retryAt]).toBe('chdir to cwd ("/work/dir") set in config.json failed');
    // "/" needs no mkdir.
    expect(buildPlan(input((s) => (s.process.cwd = "/"))).plan.ops.some((o) => o.op === "mkdirAll" && o.path === "/")).toBe(false);
  });

  it("leaves the groups alone where the user namespace says deny to setgroups (rootless podman), as runc", () => {
    const groups = (s: any) => (s.process.user = { uid: 1, gid: 1, additionalGids: [5] });
    expect(kinds(buildPlan(input(groups)).plan.ops)).toContain("setgroups");
    expect(kinds(buildPlan(input(groups, { setgroupsDenied: true })).plan.ops)).not.toContain("setgroups");
  });

  it("writes sysctls, rlimits and the oom score", () => {
    const ops = buildPlan(
      input((s) => {
        s.linux.sysctl = { "net.ipv4.ip_forward": "1" };
        s.process.oomScoreAdj = 100;
      }),
    ).plan.ops;
    expect(ops).toContainEqual({ op: "writeFile", path: "/proc/sys/net/ipv4/ip_forward", data: "1" });
    expect(ops).toContainEqual({ op: "writeFile", path: "/proc/self/oom_score_adj", data: "100" });
    expect(ops).toContainEqual({ op: "setrlimit", resource: L.RLIMITS.RLIMIT_NOFILE, soft: 1024n, hard: 1024n });
  });
});

describe("rootfsPropagation", () => {
  // / is private on the host; /srv is a shared mount of its own; the rootfs is under one or the other
  const MOUNTINFO = [
    "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw",
    "40 27 254:1 / /srv rw,relatime shared:7 - ext4 /dev/vdb rw",
    "41 27 0:50 / /srvx rw,relatime shared:8 - tmpfs tmpfs rw",
  ].join("\n");
  const rootOps = (prop: string | undefined, rootfs: string) =>
    buildPlan(input((s) => (prop === undefined ? delete s.linux.rootfsPropagation : (s.linux.rootfsPropagation = prop)), { rootfs, mountinfo: MOUNTINFO })).plan.ops;
  /** The propagation changes before the rootfs is bound onto itself: [target, flags]. */
  const before = (ops: InitOp[], rootfs: string) => {
    const bind = indexOf(ops, (o) => o.op === "mount" && o.source === rootfs && o.target === rootfs);
    expect(bind).toBeGreaterThan(0);
    return ops.slice(0, bind).flatMap((o) => (o.op === "mount" && o.source === null ? [[o.target, o.flags]] : []));
  };

  it("maps the spec's names to the mount alone and runc's r-forms recursively, as runc", () => {
    for (const [prop, flags] of [
      ["slave", L.MS_SLAVE], ["private", L.MS_PRIVATE], ["rslave", L.MS_SLAVE | L.MS_REC], ["rprivate", L.MS_PRIVATE | L.MS_REC],
      ["runbindable", L.MS_UNBINDABLE | L.MS_REC], [undefined, L.MS_SLAVE | L.MS_REC],
    ] as const)
      expect(before(rootOps(prop, "/var/c1/rootfs"), "/var/c1/rootfs")).toEqual([["/", flags]]);
  });

  it("makes the rootfs's parent mount private when it is shared (else pivot_root fails)", () => {
    // shared on / : / is the parent, now shared
    expect(before(rootOps("shared", "/var/c1/rootfs"), "/var/c1/rootfs")).toEqual([["/", L.MS_SHARED], ["/", L.MS_PRIVATE]]);
    // rshared: every mount is shared, the parent is /srv
    expect(before(rootOps("rshared", "/srv/c1/rootfs"), "/srv/c1/rootfs")).toEqual([["/", L.MS_SHARED | L.MS_REC], ["/srv", L.MS_PRIVATE]]);
    // slave on / alone leaves /srv shared, as it is on the host
    expect(before(rootOps("slave", "/srv/c1/rootfs"), "/srv/c1/rootfs")).toEqual([["/", L.MS_SLAVE], ["/srv", L.MS_PRIVATE]]);
    // the rootfs a mount point itself; /srvx is not a parent of /srv
    expect(before(rootOps("private", "/srv"), "/srv")).toEqual([["/", L.MS_PRIVATE], ["/srv", L.MS_PRIVATE]]);
    // recursively slave, or the default: nothing stays shared
    expect(before(rootOps("rslave", "/srv/c1/rootfs"), "/srv/c1/rootfs")).toEqual([["/", L.MS_SLAVE | L.MS_REC]]);
    expect(before(rootOps(undefined, "/srv/c1/rootfs"), "/srv/c1/rootfs")).toEqual([["/", L.MS_SLAVE | L.MS_REC]]);
  });
});
