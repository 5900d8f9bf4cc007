// tsrunc's own containerd shim (containerd-shim-tsrunc-v2, runtime io.containerd.tsrunc.v2) under a
// real containerd 1.6, driven by ctr: the same things the runc shim is asked in clients.test.ts, with
// the runc shim's answers as the reference where they are printed. The containerd is private (its
// own root, state and sockets under a temp dir, /run a private tmpfs in its mount namespace) and
// finds the shim on its PATH in dist/. Root only; skipped without containerd and ctr.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { CGROUP_PARENT, cgroupHierarchies, waitFor } from "./helpers.ts";
import * as M from "../../src/shim/messages.ts";
import { decode, encode, type MessageDesc } from "../../src/shim/protobuf.ts";
import { TtrpcClient } from "../../src/shim/ttrpc.ts";
import { shimSocketPath } from "../../src/shim/main.ts";
import {
  alive, cgroupsLeft, ctrRemove, clientDescribe, expectMemoryLimitHolds, HOOK_TIMEOUT, IMAGE, memoryLimit, missing, pidsWith, removeImageAndCgroups, run,
  startContainerdWithImage, tearDown, TEST_TIMEOUT, underPty,
} from "./client-helpers.ts";

afterAll(removeImageAndCgroups);

const SHIM = resolve("dist/containerd-shim-tsrunc-v2");

clientDescribe("containerd 1.6: ctr and tsrunc's shim", missing("containerd", "ctr", "containerd-shim-runc-v2", "unshare"), () => {
  let dir = "";
  let daemon: ChildProcess | undefined;
  /** containerd's pid (another one after a restart). */
  let daemonPid = 0;
  let env: NodeJS.ProcessEnv = {};
  let sock = "";
  const made: string[] = [];
  const cg = (id: string) => `${CGROUP_PARENT}/shim-${id}`;
  const ctr = (args: string[], timeout = 60_000) => run("ctr", ["--address", sock, ...args], timeout);
  const fifo = () => ["--fifo-dir", join(dir, "fifo")];
  /** `ctr run` through tsrunc's shim (or runc's, for the reference), in a test-only cgroup. */
  const ctrRun = (id: string, flags: string[], cmd: string[], runtime = "io.containerd.tsrunc.v2") => {
    made.push(id);
    return ctr(["run", "--runtime", runtime, ...fifo(), "--cgroup", cg(id), ...flags, IMAGE, id, ...cmd]);
  };
  const exec = (id: string, execId: string, args: string[], input = "") =>
    run("ctr", ["--address", sock, "task", "exec", ...fifo(), "--exec-id", execId, id, ...args], 60_000, input);
  const taskLine = (id: string) => ctr(["task", "ls"]).stdout.split("\n").find((l) => l.startsWith(id + " ")) ?? "";
  const status = (id: string) => /\s(RUNNING|PAUSED|STOPPED|CREATED|PAUSING|UNKNOWN)\s*$/m.exec(taskLine(id))?.[1];
  const initPid = (id: string) => Number(/^\S+\s+(\d+)/.exec(taskLine(id))?.[1]);
  /** Paths as the daemon (and its shims) see them: /run is theirs. */
  const inDaemon = (path: string) => `/proc/${daemonPid}/root${path}`;
  const runtimeState = (id: string) => inDaemon(`/run/containerd/tsrunc/default/${id}`);
  const shimPids = () => pidsWith(SHIM).filter((p) => readFileSync(`/proc/${p}/cmdline`, "utf8").includes(sock));
  const rootfsMounts = () =>
    readFileSync(`/proc/${daemonPid}/mountinfo`, "utf8")
      .split("\n")
      .filter((l) => l.includes(`${dir}/state/`));

  beforeAll(() => {
    dir = realpathSync(mkdtempSync(join(tmpdir(), "tsrunc-shim-")));
    mkdirSync(join(dir, "fifo"));
    sock = join(dir, "containerd.sock");
    // containerd finds containerd-shim-tsrunc-v2 on its PATH.
    env = { ...process.env, PATH: `${dirname(SHIM)}:${process.env.PATH}` };
    const d = startContainerdWithImage(dir, sock, env);
    daemon = d;
    daemonPid = d.pid ?? 0;
  }, HOOK_TIMEOUT);

  afterEach(() => {
    for (const id of made.splice(0)) {
      ctrRemove(ctr, id);
      expect(cgroupsLeft(cg(id))).toEqual([]);
      expect(existsSync(runtimeState(id))).toBe(false);
    }
    // Each shim exits once its container is deleted, unmounting the rootfs it mounted.
    expect(waitFor(() => shimPids().length === 0, 10_000)).toBe(true);
    expect(rootfsMounts()).toEqual([]);
  });

  // A restarted containerd names the temp dir on its command line: tearDown finds it.
  afterAll(() => dir && tearDown(dir, daemonPid ? [daemonPid] : []), HOOK_TIMEOUT);

  it(
    "runs a command to its output and exit code, and fails a missing one in the runc shim's words",
    () => {
      const r = ctrRun("run", ["--rm"], ["sh", "-c", `echo hello; grep -q :${cg("run")}$ /proc/self/cgroup && echo in its cgroup; echo to stderr >&2; exit 3`]);
      expect([r.status, r.stdout, r.stderr]).toEqual([3, "hello\nin its cgroup\n", "to stderr\n"]);
      const missingCmd = (runtime: string, id: string) => {
        const m = ctrRun(id, ["--rm"], ["/nonexistent"], runtime);
        expect(m.status).toBe(1);
        return m.stderr.trim();
      };
      const ours = missingCmd("io.containerd.tsrunc.v2", "missing-tsrunc");
      expect(ours).toBe(
        'ctr: failed to create shim task: OCI runtime create failed: tsrunc create failed: unable to start container process: exec: "/nonexistent": stat /nonexistent: no such file or directory: unknown',
      );
      expect(ours).toBe(missingCmd("io.containerd.runc.v2", "missing-runc").replace("runc create", "tsrunc create"));

      // Fifos the shim cannot see (made in our /run, not the daemon's private one): runc's shim's words.
      const hostFifos = mkdtempSync("/run/tsrunc-test-fifo-");
      try {
        const noFifo = (runtime: string, id: string) => {
          made.push(id);
          const m = ctr(["run", "--rm", "--runtime", runtime, "--fifo-dir", hostFifos, "--cgroup", cg(id), IMAGE, id, "true"]);
          expect(m.status).toBe(1);
          return m.stderr.trim().replace(/\/\d+\//g, "/N/");
        };
        const ourFifo = noFifo("io.containerd.tsrunc.v2", "nofifo-tsrunc");
        expect(ourFifo).toBe(
          `ctr: failed to create shim task: failed to open stdin fifo ${hostFifos}/N/nofifo-tsrunc-stdin: stat ${hostFifos}/N/nofifo-tsrunc-stdin: no such file or directory: unknown`,
        );
        expect(ourFifo).toBe(noFifo("io.containerd.runc.v2", "nofifo-runc").replaceAll("nofifo-runc", "nofifo-tsrunc"));
      } finally {
        rmSync(hostFifos, { recursive: true, force: true });
      }
    },
    TEST_TIMEOUT,
  );

  it(
    "serves a detached task: exec with stdin, a user and a cwd, a tty; a failing exec; ps, pause, resume, kill and delete",
    () => {
      const id = "task";
      expect(ctrRun(id, ["-d"], ["sleep", "1000"]).status).toBe(0);
      expect(status(id)).toBe("RUNNING");
      const pid = initPid(id);
      // tsrunc's shim serves it: the runtime's state is under tsrunc's root, the init is the shim's child.
      expect(existsSync(join(runtimeState(id), "state.json"))).toBe(true);
      const shim = shimPids();
      expect(shim).toHaveLength(1);
      expect(readFileSync(`/proc/${pid}/stat`, "utf8").split(" ")[3]).toBe(String(shim[0]));

      const plain = exec(id, "e1", ["sh", "-c", "echo from exec; echo to stderr >&2; exit 5"]);
      expect([plain.status, plain.stdout, plain.stderr]).toEqual([5, "from exec\n", "to stderr\n"]);
      // The client's stdin reaches the process, and its end is the process's EOF.
      const piped = exec(id, "e2", ["sh", "-c", "cat; echo after EOF"], "piped input\n");
      expect([piped.status, piped.stdout]).toEqual([0, "piped input\nafter EOF\n"]);
      const user = run("ctr", ["--address", sock, "task", "exec", ...fifo(), "--exec-id", "e3", "--user", "1", "--cwd", "/tmp", id, "sh", "-c", "id -u; pwd"]);
      expect(user.stdout).toBe("1\n/tmp\n");
      const tty = underPty(["ctr", "--address", sock, "task", "exec", ...fifo(), "-t", "--exec-id", "e4", id, "sh"], "tty; stty size; echo answer=$((6*7)); exit 4\n");
      expect(tty.stdout).toMatch(/\/dev\/pts\/\d+/);
      // The client's terminal size (pty-driver.py's 30x100) reached the container's pty.
      expect(tty.stdout).toContain("30 100");
      expect(tty.stdout).toContain("answer=42");
      expect(tty.status).toBe(4);
      const bad = exec(id, "e5", ["/nonexistent"]);
      expect(bad.status).toBe(1);
      expect(bad.stderr.trim()).toBe(
        'ctr: OCI runtime exec failed: exec failed: unable to start container process: exec: "/nonexistent": stat /nonexistent: no such file or directory: unknown',
      );

      const ps = ctr(["task", "ps", id]);
      expect(ps.status).toBe(0);
      expect(ps.stdout.split("\n").slice(1).map((l) => l.split(/\s+/)[0])).toContain(String(pid));

      const freezer = cgroupHierarchies().find((h) => existsSync(join(h, cg(id), "freezer.state")) || existsSync(join(h, cg(id), "cgroup.freeze")));
      expect(ctr(["task", "pause", id]).status).toBe(0);
      expect(status(id)).toBe("PAUSED");
      if (freezer?.endsWith("freezer")) expect(readFileSync(join(freezer, cg(id), "freezer.state"), "utf8").trim()).toBe("FROZEN");
      expect(ctr(["task", "resume", id]).status).toBe(0);
      expect(status(id)).toBe("RUNNING");

      // sleep as pid 1 ignores SIGTERM: SIGKILL.
      expect(ctr(["task", "kill", "-s", "SIGKILL", id]).status).toBe(0);
      expect(waitFor(() => status(id) === "STOPPED", 10_000)).toBe(true);
      const del = ctr(["task", "delete", id]);
      expect(del.status).toBe(0);
      expect(del.stderr).toContain("exit code 137");
      expect(alive(pid)).toBe(false);
      expect(cgroupsLeft(cg(id))).toEqual([]);
      expect(existsSync(runtimeState(id))).toBe(false);
    },
    TEST_TIMEOUT,
  );

  it(
    "runs a container with a tty: the client's size, its input, its exit code",
    () => {
      made.push("tty");
      const r = underPty(["ctr", "--address", sock, "run", "-t", "--rm", "--runtime", "io.containerd.tsrunc.v2", ...fifo(), "--cgroup", cg("tty"), IMAGE, "tty", "sh"], "tty; stty size; exit 6\n");
      expect(r.stdout).toMatch(/\/dev\/pts\/0/);
      expect(r.stdout).toContain("30 100");
      expect(r.status).toBe(6);
    },
    TEST_TIMEOUT,
  );

  it(
    "enforces a memory limit: the container's cgroup, an OOM kill inside it, containerd told of it (TaskOOM)",
    async () => {
      const id = "mem";
      // containerd's event stream, as the CRI reads it to say "OOMKilled".
      const events = spawn("ctr", ["--address", sock, "events"], { stdio: ["ignore", "pipe", "ignore"] });
      let seen = "";
      events.stdout!.on("data", (d: Buffer) => (seen += d.toString()));
      try {
        await new Promise((r) => setTimeout(r, 300));
        expect(ctrRun(id, ["-d", "--memory-limit", String(32 << 20)], ["sleep", "1000"]).status).toBe(0);
        expectMemoryLimitHolds(cg(id), () => exec(id, "hog", ["tail", "/dev/zero"]));
        expect(status(id)).toBe("RUNNING");
        const oom = () => seen.split("\n").some((l) => l.includes("/tasks/oom") && l.includes(`"container_id":"${id}"`));
        for (let i = 0; i < 50 && !oom(); i++) await new Promise((r) => setTimeout(r, 100));
        expect(oom()).toBe(true);
      } finally {
        events.kill();
      }
    },
    TEST_TIMEOUT,
  );

  it(
    "serves the containers of one group (a pod) from one shim, which exits with the last of them",
    () => {
      for (const id of ["pod-a", "pod-b"]) expect(ctrRun(id, ["-d", "--annotation", "io.containerd.runc.v2.group=pod"], ["sleep", "1000"]).status).toBe(0);
      expect(shimPids()).toHaveLength(1);
      const [shim] = shimPids();
      for (const id of ["pod-a", "pod-b"]) expect(readFileSync(`/proc/${initPid(id)}/stat`, "utf8").split(" ")[3]).toBe(String(shim));
      expect(ctr(["task", "kill", "-s", "SIGKILL", "pod-a"]).status).toBe(0);
      expect(waitFor(() => status("pod-a") === "STOPPED", 10_000)).toBe(true);
      expect(ctr(["task", "delete", "pod-a"]).status).toBe(0);
      // Still serving the other one.
      expect(shimPids()).toEqual([shim]);
      expect(exec("pod-b", "e", ["echo", "still served"]).stdout).toBe("still served\n");
      expect(ctr(["task", "kill", "-s", "SIGKILL", "pod-b"]).status).toBe(0);
      expect(waitFor(() => status("pod-b") === "STOPPED", 10_000)).toBe(true);
      expect(ctr(["task", "delete", "pod-b"]).status).toBe(0);
      expect(waitFor(() => !alive(shim!), 10_000)).toBe(true);
    },
    TEST_TIMEOUT,
  );

  it(
    "updates a running task's resources as the CRI asks (Update over ttrpc), refuses bad ones leaving it as it was, says checkpoint is unsupported",
    async () => {
      const id = "update";
      expect(ctrRun(id, ["-d", "--memory-limit", String(32 << 20)], ["sleep", "1000"]).status).toBe(0);
      // ctr 1.6 has no `task update`: the shim's own socket, as containerd's CRI calls it.
      const client = await TtrpcClient.connect(inDaemon(shimSocketPath(sock, "default", id)));
      const call = async (method: keyof typeof M.TASK_METHODS, req: object) => {
        const { request, response } = M.TASK_METHODS[method];
        return decode(response as MessageDesc<unknown>, await client.call(M.TASK_SERVICE, method, encode(request as MessageDesc<object>, req)));
      };
      const resources = (r: object) => ({ type_url: "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources", value: new TextEncoder().encode(JSON.stringify(r)) });
      try {
        await call("Update", { id, resources: resources({ memory: { limit: 64 << 20 }, pids: { limit: 50 } }) });
        expect(memoryLimit(cg(id))).toBe(64 << 20);
        const pids = cgroupHierarchies().map((h) => join(h, cg(id), "pids.max")).find((f) => existsSync(f));
        expect(readFileSync(pids!, "utf8").trim()).toBe("50");
        await expect(call("Update", { id, resources: resources({ memory: { limit: "lots" } }) })).rejects.toMatchObject({ code: 3 });
        expect(memoryLimit(cg(id))).toBe(64 << 20);
        await expect(call("Checkpoint", { id, path: join(dir, "cp") })).rejects.toMatchObject({ code: 12, message: "checkpoint is not supported by tsrunc" });
        await expect(call("State", { id: "nope", exec_id: "" })).rejects.toMatchObject({ code: 5, message: "container nope: not found" });
      } finally {
        client.close();
      }
    },
    TEST_TIMEOUT,
  );

  it(
    "takes runc's options from a runtime config file, as containerd's CRI passes them (ConfigPath), and refuses a bad one",
    () => {
      const config = join(dir, "tsrunc-shim.toml");
      writeFileSync(config, '# the shim\'s options\nRoot = "/run/tsrunc-alt"\nNoNewKeyring = true\n');
      const id = "config";
      expect(ctrRun(id, ["-d", "--runtime-config-path", config], ["sleep", "1000"]).status).toBe(0);
      expect(existsSync(inDaemon(`/run/tsrunc-alt/default/${id}/state.json`))).toBe(true);
      expect(existsSync(runtimeState(id))).toBe(false);
      ctrRemove(ctr, id);
      expect(existsSync(inDaemon(`/run/tsrunc-alt/default/${id}`))).toBe(false);

      writeFileSync(config, "SystemdCgroup = 1\n");
      const bad = ctrRun("badconfig", ["--rm", "--runtime-config-path", config], ["true"]);
      expect(bad.status).toBe(1);
      expect(bad.stderr).toContain(`runtime config ${config}: SystemdCgroup must be a boolean`);
    },
    TEST_TIMEOUT,
  );

  it(
    "reaps the orphans of a container in the host's pid namespace, as runc's shim does",
    () => {
      const id = "hostpid";
      // Our own pid namespace: the host's (pid 1's may be out of reach in a sandbox).
      expect(ctrRun(id, ["-d", "--with-ns", `pid:/proc/${process.pid}/ns/pid`], ["sleep", "1000"]).status).toBe(0);
      const [shim] = shimPids();
      // The exec'd sh leaves a child behind: with no pid namespace of the container's to take it, it
      // comes to the shim (a subreaper), and must not stay a zombie when it exits.
      const r = exec(id, "bg", ["sh", "-c", "sleep 1 >/dev/null 2>&1 & echo $!"]);
      const orphan = Number(r.stdout.trim());
      expect(orphan).toBeGreaterThan(1);
      const ppid = () => readFileSync(`/proc/${orphan}/stat`, "utf8").replace(/^.*\) /, "").split(" ")[1];
      expect(ppid()).toBe(String(shim));
      expect(waitFor(() => !existsSync(`/proc/${orphan}`), 10_000)).toBe(true);
      const zombies = readdirSync("/proc").filter((p) => {
        try {
          const stat = readFileSync(`/proc/${p}/stat`, "utf8").replace(/^.*\) /, "").split(" ");
          return stat[0] === "Z" && stat[1] === String(shim);
        } catch {
          return false;
        }
      });
      expect(zombies).toEqual([]);
    },
    TEST_TIMEOUT,
  );

  it(
    "keeps serving across a containerd restart: the task, exec into it, and its events reach the new containerd",
    async () => {
      const id = "restart";
      expect(ctrRun(id, ["-d"], ["sleep", "1000"]).status).toBe(0);
      const [shim] = shimPids();
      // The new containerd in the old one's mount namespace (its private /run, where the shim's socket is).
      process.kill(daemonPid, "SIGTERM");
      expect(waitFor(() => !alive(daemonPid), 10_000)).toBe(true);
      const log = join(dir, "containerd-2.log");
      const again = spawn("sh", ["-c", `exec nsenter -t ${shim} -m containerd --config ${join(dir, "config.toml")} >${log} 2>&1`], { detached: true, stdio: "ignore", env });
      again.unref();
      daemonPid = again.pid!;
      expect(waitFor(() => ctr(["version"], 5000).status === 0, 20_000)).toBe(true);
      expect(status(id)).toBe("RUNNING");
      const events = spawn("ctr", ["--address", sock, "events"], { stdio: ["ignore", "pipe", "ignore"] });
      let seen = "";
      events.stdout!.on("data", (d: Buffer) => (seen += d.toString()));
      try {
        await new Promise((r) => setTimeout(r, 300));
        expect(exec(id, "after", ["echo", "served"]).stdout).toBe("served\n");
        const heard = () => seen.includes("/tasks/exec-added") && seen.includes("/tasks/exit");
        for (let i = 0; i < 50 && !heard(); i++) await new Promise((r) => setTimeout(r, 100));
        expect(heard()).toBe(true);
      } finally {
        events.kill();
      }
      expect(shimPids()).toEqual([shim]);
    },
    TEST_TIMEOUT,
  );

  it(
    "cleans up after a shim that died: containerd's `delete` removes the container, its cgroup and its rootfs mount",
    () => {
      const id = "orphan";
      expect(ctrRun(id, ["-d"], ["sleep", "1000"]).status).toBe(0);
      const pid = initPid(id);
      expect(rootfsMounts().length).toBe(1);
      const [shim] = shimPids();
      process.kill(shim!, "SIGKILL");
      // containerd notices, runs `containerd-shim-tsrunc-v2 ... delete`, and the task is gone.
      expect(waitFor(() => !alive(pid) && !taskLine(id), 20_000)).toBe(true);
      expect(existsSync(runtimeState(id))).toBe(false);
      expect(cgroupsLeft(cg(id))).toEqual([]);
      expect(rootfsMounts()).toEqual([]);
    },
    TEST_TIMEOUT,
  );
});

clientDescribe("containerd-shim-tsrunc-v2: its command line", missing(), () => {
  const shim = (args: string[]) => spawnSync(SHIM, args, { encoding: "utf8", cwd: tmpdir() });

  it("prints its version, and refuses what containerd would never pass, as Go's flag package does", () => {
    const v = shim(["-v"]);
    expect(v.status).toBe(0);
    expect(v.stdout).toMatch(/^containerd-shim-tsrunc-v2:\n {2}Version: {2}\S+/);
    const noNs = shim(["-id", "x", "start"]);
    expect([noNs.status, noNs.stderr]).toEqual([1, "containerd-shim-tsrunc-v2: shim namespace cannot be empty\n"]);
    const bad = shim(["-namespace", "x", "-bogus"]);
    expect([bad.status, bad.stderr]).toEqual([2, "flag provided but not defined: -bogus\n"]);
    const action = shim(["-namespace", "x", "frob"]);
    expect(action.status).toBe(1);
    expect(action.stderr).toContain('unknown action "frob"');
  });
});
