// What config.json asks of a container, really in effect inside it: namespaces new and joined, the
// process's identity and limits, devices, sysctls, the rootfs options. runc side by side where the
// two must agree. Root only.
import { spawn, spawnSync } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync, readlinkSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type Bundle, bundleFactory, errors, haveBinary, isRoot, leftovers, runc, tsrunc, TSRUNC, waitFor } from "./helpers.ts";

const bundle = bundleFactory();

function sh(script: string): (c: any) => void {
  return (c) => (c.process.args = ["sh", "-c", script]);
}

/** Run the same bundle with both runtimes; both must succeed. Returns what each container wrote
 * (stdout, then stderr). */
function both(b: Bundle): { ours: string; theirs: string } {
  const ours = tsrunc(b, ["run", b.id]);
  const theirs = runc(b, ["run", b.id]);
  expect(ours.status).toBe(0);
  expect(theirs.status).toBe(0);
  return { ours: ours.stdout + ours.stderr, theirs: theirs.stdout + theirs.stderr };
}

describe.skipIf(!isRoot || !haveBinary)("namespaces", () => {
  it("creates every namespace it is asked for, and no other", () => {
    const b = bundle((c) => {
      c.process.args = ["sh", "-c", "for n in cgroup ipc mnt net pid time user uts; do readlink /proc/self/ns/$n; done"];
      c.linux.namespaces.push({ type: "cgroup" });
    });
    const r = tsrunc(b, ["run", b.id]);
    expect(r.status).toBe(0);
    const inside = r.stdout.trim().split("\n");
    const host = ["cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"].map((n) => readlinkSync(`/proc/self/ns/${n}`));
    const differs = inside.map((v, i) => v !== host[i]);
    // cgroup ipc mnt net pid: new; time, user: the host's; uts: new
    expect(differs).toEqual([true, true, true, true, true, false, false, true]);
  });

  it("maps ids in a user namespace", () => {
    const b = bundle((c) => {
      c.linux.namespaces.push({ type: "user" });
      c.linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      c.linux.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      c.process.args = ["sh", "-c", "id -u; cat /proc/self/uid_map /proc/self/gid_map; ls -ln /dev/null | cut -c1-10"];
    });
    const r = tsrunc(b, ["run", b.id]);
    expect(errors(r)).toBe("");
    expect(r.status).toBe(0);
    const lines = r.stdout.split("\n").map((l) => l.trim().replace(/\s+/g, " "));
    expect(lines[0]).toBe("0");
    expect(lines[1]).toBe("0 100000 65536");
    expect(lines[2]).toBe("0 100000 65536");
    expect(lines[3]).toBe("crw-rw-rw-"); // the host's /dev/null bound in: mknod is not allowed there
  });

  it("joins a network namespace by path", () => {
    const ns = `tsrunc-test-${process.pid}`;
    expect(spawnSync("ip", ["netns", "add", ns]).status).toBe(0);
    try {
      const path = `/var/run/netns/${ns}`;
      const b = bundle((c) => {
        c.linux.namespaces = c.linux.namespaces.map((n: any) => (n.type === "network" ? { type: "network", path } : n));
        c.process.args = ["sh", "-c", "readlink /proc/self/ns/net"];
      });
      const r = tsrunc(b, ["run", b.id]);
      expect(errors(r)).toBe("");
      expect(r.stdout.trim()).toBe(`net:[${statSync(path).ino}]`);
    } finally {
      spawnSync("ip", ["netns", "delete", ns]);
    }
  });

  it("gives a time namespace its offsets", () => {
    const b = bundle((c) => {
      c.linux.namespaces.push({ type: "time" });
      c.linux.timeOffsets = { boottime: { secs: 864000, nanosecs: 0 } };
      c.process.args = ["sh", "-c", "cut -d. -f1 /proc/uptime; echo $$"];
    });
    const r = tsrunc(b, ["run", b.id]);
    expect(errors(r)).toBe("");
    const [uptime, pid] = r.stdout.trim().split("\n").map(Number);
    const hostUptime = Number(readFileSync("/proc/uptime", "utf8").split(".")[0]);
    expect(uptime! - hostUptime).toBeGreaterThanOrEqual(863990);
    expect(pid).toBe(1); // re-forked into the new pid namespace too
  });

  it("shows the container's own cgroup as / in a cgroup namespace, as runc does", () => {
    const b = bundle((c) => {
      c.linux.namespaces.push({ type: "cgroup" });
      c.process.args = ["sh", "-c", "grep -v '^0::' /proc/self/cgroup | cut -d: -f3 | sort -u"];
    });
    const { ours, theirs } = both(b);
    expect(ours).toBe("/\n");
    expect(ours).toBe(theirs);
  });
});

describe.skipIf(!isRoot || !haveBinary)("the process", () => {
  it("runs as the configured user, groups, umask, cwd and env", () => {
    const b = bundle((c) => {
      c.process.user = { uid: 1000, gid: 1001, additionalGids: [5, 100], umask: 0o077 };
      c.process.cwd = "/tmp";
      c.process.env.push("GREETING=hi there");
      c.process.args = ["sh", "-c", "id; umask; pwd; echo \"$GREETING\"; echo HOME=$HOME"];
    });
    const { ours, theirs } = both(b);
    expect(ours).toBe("uid=1000 gid=1001 groups=5(tty),100(users)\n0077\n/tmp\nhi there\nHOME=/\n");
    expect(ours).toBe(theirs);
  });

  it("makes a missing cwd and enters one only root may enter before the user change, as runc", () => {
    // The new cwd is made on a tmpfs: the shared rootfs is never written.
    const made = bundle((c) => {
      c.mounts.push({ destination: "/scratch", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev"] });
      c.process.cwd = "/scratch/new/dir";
      c.process.args = ["sh", "-c", "pwd; stat -c '%a %u' ."];
    });
    const a = both(made);
    expect(a.ours).toBe("/scratch/new/dir\n755 0\n");
    expect(a.ours).toBe(a.theirs);
    // /root is 0700 root: uid 1000 could not chdir there, root could before the switch.
    const rootOnly = bundle((c) => {
      c.process.user = { uid: 1000, gid: 1000 };
      c.process.cwd = "/root";
      c.process.args = ["sh", "-c", "pwd; ls . || true"];
    });
    const b = both(rootOnly);
    expect(b.ours).toBe("/root\nls: .: Permission denied\n");
    expect(b.ours).toBe(b.theirs);
    // A cwd that cannot be made fails create for both.
    const bad = bundle((c) => (c.process.cwd = "/etc/passwd/x"));
    const ours = tsrunc(bad, ["run", bad.id]);
    expect(runc(bad, ["run", bad.id]).status).toBe(1);
    expect(ours.status).toBe(1);
    expect(errors(ours)).toContain("mkdir /etc/passwd/x: not a directory");
  });

  it("quotes the executable's name in its error as runc (Go's %q)", () => {
    const b = bundle((c) => (c.process.args = ['/no"such']));
    const ours = tsrunc(b, ["run", b.id]);
    const theirs = runc(b, ["run", b.id]);
    expect(ours.status).toBe(1);
    expect(errors(ours)).toBe(errors(theirs).replace("runc run", "tsrunc run"));
    expect(errors(ours)).toContain('exec: "/no\\"such": stat /no"such: no such file or directory');
  });

  it("has runc's capabilities, no_new_privs and rlimits", () => {
    const b = bundle(sh("grep -E '^(Cap|NoNewPrivs)' /proc/self/status; ulimit -n; ulimit -Hn"));
    const { ours, theirs } = both(b);
    expect(ours).toContain("CapEff:\t0000000020000420");
    expect(ours).toContain("NoNewPrivs:\t1");
    expect(ours).toBe(theirs);
  });

  it("sets hostname, sysctls and the oom score as runc does, and the domainname", () => {
    const b = bundle((c) => {
      c.hostname = "box1";
      c.linux.sysctl = { "net.ipv4.ip_forward": "1", "kernel.msgmax": "4096" };
      c.process.oomScoreAdj = 123;
      c.process.args = ["sh", "-c", "hostname; cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/msgmax /proc/self/oom_score_adj"];
    });
    const { ours, theirs } = both(b);
    expect(ours).toBe("box1\n1\n4096\n123\n");
    expect(ours).toBe(theirs);
    // runc 1.1 predates domainname (runtime-spec 1.1); the spec says to set it.
    const d = bundle((c) => {
      c.domainname = "example.test";
      c.process.args = ["cat", "/proc/sys/kernel/domainname"];
    });
    expect(tsrunc(d, ["run", d.id]).stdout).toBe("example.test\n");
  });

  it("fails like runc where this sandbox lacks CAP_SYS_RESOURCE (negative oom_score_adj)", () => {
    const capEff = BigInt("0x" + /CapEff:\s+(\w+)/.exec(readFileSync("/proc/self/status", "utf8"))![1]);
    if (capEff & (1n << 24n)) return; // CAP_SYS_RESOURCE present: nothing to show here
    const b = bundle((c) => (c.process.oomScoreAdj = -100));
    const ours = tsrunc(b, ["run", b.id]);
    const theirs = runc(b, ["run", b.id]);
    expect(theirs.status).not.toBe(0);
    expect(ours.status).toBe(1);
    expect(errors(ours)).toContain("oom_score_adj");
    expect(errors(ours)).toContain("permission denied");
  });

  it("fails in runc's words when asked for a capability this sandbox lacks (CAP_SYS_RESOURCE)", () => {
    const capEff = BigInt("0x" + /CapEff:\s+(\w+)/.exec(readFileSync("/proc/self/status", "utf8"))![1]);
    if (capEff & (1n << 24n)) return; // CAP_SYS_RESOURCE present: nothing to show here
    const b = bundle((c) => {
      for (const set of ["bounding", "effective", "permitted"]) c.process.capabilities[set].push("CAP_SYS_RESOURCE");
    });
    const ours = tsrunc(b, ["run", b.id]);
    const theirs = runc(b, ["run", b.id]);
    expect(theirs.status).toBe(1);
    expect(ours.status).toBe(1);
    expect(errors(ours)).toBe("tsrunc run failed: unable to start container process: unable to apply caps: operation not permitted");
    expect(errors(ours)).toBe(errors(theirs).replace("runc run", "tsrunc run"));
  });

  it("fails in runc's words when an rlimit is above this sandbox's hard limit (create and exec)", () => {
    const capEff = BigInt("0x" + /CapEff:\s+(\w+)/.exec(readFileSync("/proc/self/status", "utf8"))![1]);
    if (capEff & (1n << 24n)) return; // CAP_SYS_RESOURCE present: any limit can be raised
    const big = [{ type: "RLIMIT_NOFILE", hard: 1 << 30, soft: 1 << 30 }];
    const b = bundle((c) => (c.process.rlimits = big));
    const ours = tsrunc(b, ["run", b.id]);
    expect(ours.status).toBe(1);
    expect(errors(ours)).toBe("tsrunc run failed: unable to start container process: error during container init: error setting rlimits for ready process: error setting rlimit type 7: operation not permitted");
    expect(errors(ours)).toBe(errors(runc(b, ["run", b.id])).replace("runc run", "tsrunc run"));
    // exec: the same limits in --process.
    const e = bundle(sh("sleep 100"));
    writeFileSync(join(e.dir, "process.json"), JSON.stringify({ ...e.config.process, args: ["true"], rlimits: big }));
    const errs: string[] = [];
    for (const rt of [tsrunc, runc]) {
      expect(rt(e, ["run", "--detach", e.id]).status).toBe(0);
      const r = rt(e, ["exec", "--process", join(e.dir, "process.json"), e.id]);
      expect(r.status).toBe(255);
      errs.push(errors(r));
      rt(e, ["delete", "--force", e.id]);
    }
    expect(errs[0]).toBe("exec failed: unable to start container process: error setting rlimits for process: error setting rlimit type 7: operation not permitted");
    expect(errs[0]).toBe(errs[1]);
  });

  it("switches personality", () => {
    const b = bundle((c) => {
      c.linux.personality = { domain: "LINUX32" };
      c.process.args = ["uname", "-m"];
    });
    const r = tsrunc(b, ["run", b.id]);
    expect(r.stdout.trim()).toMatch(/^i[3-6]86$/);
  });

  it("passes --preserve-fds descriptors and closes every other inherited one", () => {
    const b = bundle(sh("cat <&3; ls -l /proc/self/fd/ 2>/dev/null | grep -c leak-marker"));
    const file = join(b.dir, "fd3.txt");
    writeFileSync(file, "through fd 3\n");
    const fd3 = openSync(file, "r");
    writeFileSync(join(b.dir, "leak-marker"), "");
    const extra = openSync(join(b.dir, "leak-marker"), "r"); // fd 4 in tsrunc: must not reach the container
    try {
      const r = spawnSync(TSRUNC, ["--root", b.root, "run", "--preserve-fds", "1", b.id], {
        cwd: b.dir,
        stdio: ["ignore", "pipe", "pipe", fd3, extra],
        encoding: "utf8",
      });
      expect(r.stderr).toBe("");
      expect(r.stdout).toBe("through fd 3\n0\n");
    } finally {
      closeSync(fd3);
      closeSync(extra);
    }
  });

  it("forwards signals to the container from a foreground run", async () => {
    const b = bundle(sh("trap 'echo got-term; exit 7' TERM; echo ready; while true; do sleep 0.05; done"));
    const child = spawn(TSRUNC, ["--root", b.root, "run", b.id], { cwd: b.dir, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    await new Promise<void>((resolve) => child.stdout.once("data", () => resolve()));
    child.kill("SIGTERM");
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    expect(out).toContain("got-term");
    expect(code).toBe(7);
  });
});

describe.skipIf(!isRoot || !haveBinary)("rootfs and devices", () => {
  it("keeps a read-only root read-only, and /dev writable", () => {
    const b = bundle(sh("touch /x 2>&1; touch /dev/shm/ok && echo shm-ok"));
    const { ours, theirs } = both(b);
    expect(ours).toContain("Read-only file system");
    expect(ours).toContain("shm-ok");
    expect(ours).toBe(theirs);
  });

  it("creates linux.devices nodes and allows them in the device cgroup", () => {
    const b = bundle((c) => {
      c.linux.devices = [{ path: "/dev/fuse", type: "c", major: 10, minor: 229, fileMode: 0o600, uid: 0, gid: 0 }];
      c.process.args = ["sh", "-c", "ls -l /dev/fuse | cut -c1-10; ls -l /dev/fuse | tr -s ' ' | cut -d' ' -f5,6"];
    });
    const { ours, theirs } = both(b);
    expect(ours).toBe("crw-------\n10, 229\n");
    expect(ours).toBe(theirs);
  });

  it("gives device nodes their fileMode whatever the runtime's umask, as runc (umask 0 around mknod)", () => {
    const b = bundle((c) => {
      c.linux.devices = [
        { path: "/dev/fuse", type: "c", major: 10, minor: 229, fileMode: 0o666, uid: 0, gid: 0 },
        { path: "/dev/loop-test", type: "b", major: 7, minor: 200, fileMode: 0o660, uid: 0, gid: 0 },
      ];
      c.process.args = ["sh", "-c", "ls -l /dev/fuse /dev/loop-test /dev/null /dev/zero | cut -c1-10"];
    });
    const old = process.umask(0o022);
    try {
      const { ours, theirs } = both(b);
      expect(ours).toBe("crw-rw-rw-\nbrw-rw----\ncrw-rw-rw-\ncrw-rw-rw-\n");
      expect(ours).toBe(theirs);
    } finally {
      process.umask(old);
    }
  });

  it("runs with every rootfsPropagation runc runs with, and refuses the unbindable ones as runc", () => {
    // "shared" makes / shared before the rootfs is bound: pivot_root needs its parent private again
    for (const prop of ["shared", "rshared", "slave", "rslave", "private", "rprivate", "unbindable", "runbindable"]) {
      const b = bundle((c) => {
        c.linux.rootfsPropagation = prop;
        c.process.args = ["echo", "ran"];
      });
      const o = tsrunc(b, ["run", b.id]);
      const t = runc(b, ["run", b.id]);
      expect({ prop, status: o.status, stdout: o.stdout }).toEqual({ prop, status: t.status, stdout: t.stdout });
      expect(o.status === 0).toBe(!prop.endsWith("unbindable"));
    }
  });

  it("denies devices outside the allow list (v1 device cgroup)", () => {
    // CAP_MKNOD so that the node can be made (the cgroup allows mknod); opening it must still fail
    const b = bundle((c) => {
      for (const set of ["bounding", "effective", "permitted"]) c.process.capabilities[set].push("CAP_MKNOD");
      c.process.args = ["sh", "-c", "mknod /dev/sda1 b 8 1 && echo made; head -c1 /dev/sda1 >/dev/null 2>&1 && echo opened || echo denied"];
    });
    const { ours, theirs } = both(b);
    expect(ours).toBe("made\ndenied\n");
    expect(ours).toBe(theirs);
  });

  it("masks and write-protects paths as runc does", () => {
    const b = bundle(sh("cat /proc/kcore 2>&1 | wc -c; echo 1 > /proc/sys/kernel/domainname 2>&1 || echo ro; ls /sys/firmware | wc -l"));
    const { ours, theirs } = both(b);
    expect(ours).toBe(theirs);
  });

  it("runs with --no-pivot", () => {
    const b = bundle(sh("cut -d' ' -f5 /proc/self/mountinfo | head -1; ls /"));
    const r = tsrunc(b, ["run", "--no-pivot", b.id]);
    const theirs = runc(b, ["run", "--no-pivot", b.id]);
    expect(errors(r)).toBe("");
    expect(r.stdout.split("\n")[0]).toBe("/");
    expect(r.stdout).toBe(theirs.stdout);
  });
});

describe.skipIf(!isRoot || !haveBinary)("state and crashes", () => {
  it("lets exactly one of several racing starts win", async () => {
    const b = bundle((c) => (c.process.args = ["sleep", "30"]));
    expect(tsrunc(b, ["create", b.id]).status).toBe(0);
    const runs = Array.from({ length: 5 }, () =>
      new Promise<number | null>((resolve) => {
        const p = spawn(TSRUNC, ["--root", b.root, "start", b.id], { stdio: "ignore" });
        p.on("exit", resolve);
      }),
    );
    const codes = await Promise.all(runs);
    expect(codes.filter((c) => c === 0)).toHaveLength(1);
    expect(JSON.parse(tsrunc(b, ["state", b.id]).stdout).status).toBe("running");
  });

  it("cleans up with delete --force after create is killed at any point", async () => {
    for (const delay of [1, 5, 10, 20, 40]) {
      const b = bundle((c) => (c.process.args = ["sleep", "30"]));
      const p = spawn(TSRUNC, ["--root", b.root, "create", b.id], { cwd: b.dir, stdio: "ignore" });
      const exited = new Promise((r) => p.on("exit", r));
      await new Promise((r) => setTimeout(r, delay));
      p.kill("SIGKILL");
      await exited;
      const state = join(b.root, b.id, "state.json");
      const pid = existsSync(state) ? JSON.parse(readFileSync(state, "utf8")).pid : 0;
      const d = tsrunc(b, ["delete", "--force", b.id]);
      expect(d.status).toBe(0);
      expect(leftovers(b)).toEqual([]);
      if (pid > 0) expect(waitFor(() => !existsSync(`/proc/${pid}`) || readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z "))).toBe(true);
    }
  });
});
