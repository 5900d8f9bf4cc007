// Real clients drive dist/tsrunc exactly as they drive runc: containerd 1.6's runc shim (through
// ctr), podman 4.3 (through conmon) and docker 20.10 (dockerd and its own containerd). Each runs as a
// private instance under a temp dir, on an image packed from the busybox rootfs
// (bundles/build-oci-image.sh: there is no registry), and is stopped by pid with everything it made
// removed. A client that is not installed skips its tests, saying why. Root only.
import { type ChildProcess, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { CGROUP_PARENT, cgroupHierarchies, TSRUNC, waitFor } from "./helpers.ts";
import {
  alive, cgroupsLeft, ctrRemove, which, clientDescribe, expectMemoryLimitHolds, HOOK_TIMEOUT, IMAGE, image, memoryLimit, missing, type Out,
  removeImageAndCgroups, run, startContainerdWithImage, startDaemon, tearDown, TEST_TIMEOUT, underPty,
} from "./client-helpers.ts";

afterAll(removeImageAndCgroups);

/** A client's run of a command (its output, exit 3) and of a missing one with tsrunc and with runc:
 * returns the two errors, which must read the same. */
function runAndMissing(start: (name: string, runtime: "tsrunc" | "runc", args: string[]) => Out, missingStatus: number): [string, string] {
  const r = start("run1", "tsrunc", ["--rm", IMAGE, "sh", "-c", "echo hello; echo to stderr >&2; exit 3"]);
  expect([r.status, r.stdout, r.stderr]).toEqual([3, "hello\n", "to stderr\n"]);
  const missingCmd = (runtime: "tsrunc" | "runc") => {
    const m = start(`missing-${runtime}`, runtime, ["--rm", IMAGE, "/nonexistent"]);
    expect(m.status).toBe(missingStatus);
    return m.stderr.trim();
  };
  return [missingCmd("tsrunc"), missingCmd("runc")];
}

// ------------------------------------------------------------------------------------------------

clientDescribe("containerd 1.6: ctr and the runc shim", missing("containerd", "ctr", "containerd-shim-runc-v2", "unshare"), () => {
  let dir = "";
  let daemon: ChildProcess | undefined;
  let sock = "";
  const made: string[] = [];
  const cg = (id: string) => `${CGROUP_PARENT}/ctd-${id}`;
  const ctr = (args: string[], timeout = 60_000) => run("ctr", ["--address", sock, ...args], timeout);
  /** `ctr run` with the runtime as the shim's runc binary, the container in a test-only cgroup. */
  const ctrRun = (runtime: string, id: string, flags: string[], cmd: string[]) => {
    made.push(id);
    return ctr(["run", "--runc-binary", runtime, "--fifo-dir", join(dir, "fifo"), "--cgroup", cg(id), ...flags, IMAGE, id, ...cmd]);
  };
  const status = (id: string) => /\s(RUNNING|PAUSED|STOPPED|CREATED|PAUSING|UNKNOWN)\s*$/m.exec(ctr(["task", "ls"]).stdout.split("\n").find((l) => l.startsWith(id + " ")) ?? "")?.[1];
  /** The runtime's state directory of a container, seen from the daemon's namespace. */
  const runtimeState = (id: string) => `/proc/${daemon!.pid}/root/run/containerd/runc/default/${id}`;

  beforeAll(() => {
    dir = realpathSync(mkdtempSync(join(tmpdir(), "tsrunc-containerd-")));
    mkdirSync(join(dir, "fifo"));
    sock = join(dir, "containerd.sock");
    daemon = startContainerdWithImage(dir, sock);
  }, HOOK_TIMEOUT);

  afterEach(() => {
    for (const id of made.splice(0)) {
      ctrRemove(ctr, id);
      expect(cgroupsLeft(cg(id))).toEqual([]);
      expect(existsSync(runtimeState(id))).toBe(false);
    }
  });

  // The shims outlive the daemon by design: each is ours (its command line names our socket).
  afterAll(() => dir && tearDown(dir, daemon?.pid ? [daemon.pid] : []), HOOK_TIMEOUT);

  it(
    "runs a command to its output and exit code, fails a missing one in runc's words, makes a missing cwd",
    () => {
      for (const [name, runtime] of [["tsrunc", TSRUNC], ["runc", "runc"]] as const) {
        const id = `run-${name}`;
        const r = ctrRun(runtime, id, ["--rm"], ["sh", "-c", `echo hello; grep -q :${cg(id)}$ /proc/self/cgroup && echo in its cgroup; exit 3`]);
        expect([r.status, r.stdout, r.stderr]).toEqual([3, "hello\nin its cgroup\n", ""]);
      }
      const missingCmd = (name: string, runtime: string) => {
        const r = ctrRun(runtime, `missing-${name}`, ["--rm"], ["/nonexistent"]);
        expect(r.status).toBe(1);
        return r.stderr.trim();
      };
      const ours = missingCmd("tsrunc", TSRUNC);
      expect(ours).toBe(
          'ctr: failed to create shim task: OCI runtime create failed: tsrunc create failed: unable to start container process: exec: "/nonexistent": stat /nonexistent: no such file or directory: unknown',
      );
      expect(ours).toBe(missingCmd("runc", "runc").replace("runc create", "tsrunc create"));
      // The cwd does not exist in the image: runc makes it, so must tsrunc.
      const cwd = ctrRun(TSRUNC, "cwd", ["--rm", "--cwd", "/made/here", "--read-only"], ["pwd"]);
      expect(cwd.stderr).toBe("");
      expect(cwd.stdout).toBe("/made/here\n");
    },
    TEST_TIMEOUT,
  );

  it(
    "serves a detached task: exec with and without a tty, ps, pause and resume, kill and delete",
    () => {
      const id = "task";
      expect(ctrRun(TSRUNC, id, ["-d"], ["sleep", "1000"]).status).toBe(0);
      expect(status(id)).toBe("RUNNING");
      const initPid = Number(/^\S+\s+(\d+)/m.exec(ctr(["task", "ls"]).stdout.split("\n").find((l) => l.startsWith(id + " "))!)![1]);

      const plain = ctr(["task", "exec", "--fifo-dir", join(dir, "fifo"), "--exec-id", "e1", id, "sh", "-c", "echo from exec; echo to stderr >&2; exit 5"]);
      expect([plain.status, plain.stdout, plain.stderr]).toEqual([5, "from exec\n", "to stderr\n"]);
      const user = ctr(["task", "exec", "--fifo-dir", join(dir, "fifo"), "--exec-id", "e2", "--user", "1", "--cwd", "/tmp", id, "sh", "-c", "id -u; pwd"]);
      expect(user.stdout).toBe("1\n/tmp\n");
      const tty = underPty(["ctr", "--address", sock, "task", "exec", "--fifo-dir", join(dir, "fifo"), "-t", "--exec-id", "e3", id, "sh"], "tty; echo answer=$((6*7)); exit 4\n");
      expect(tty.stdout).toMatch(/\/dev\/pts\/\d+/);
      expect(tty.stdout).toContain("answer=42");
      expect(tty.status).toBe(4);
      const bad = ctr(["task", "exec", "--fifo-dir", join(dir, "fifo"), "--exec-id", "e4", id, "/nonexistent"]);
      expect(bad.status).toBe(1);
      expect(bad.stderr).toContain('exec failed: unable to start container process: exec: "/nonexistent": stat /nonexistent: no such file or directory');

      const ps = ctr(["task", "ps", id]);
      expect(ps.status).toBe(0);
      expect(ps.stdout.split("\n").slice(1).map((l) => l.split(/\s+/)[0])).toContain(String(initPid));

      const freezer = cgroupHierarchies().find((h) => existsSync(join(h, "freezer.state")) || existsSync(join(h, cg(id), "freezer.state")));
      expect(ctr(["task", "pause", id]).status).toBe(0);
      expect(status(id)).toBe("PAUSED");
      if (freezer) expect(readFileSync(join(freezer, cg(id), "freezer.state"), "utf8").trim()).toBe("FROZEN");
      expect(ctr(["task", "resume", id]).status).toBe(0);
      expect(status(id)).toBe("RUNNING");
      if (freezer) expect(readFileSync(join(freezer, cg(id), "freezer.state"), "utf8").trim()).toBe("THAWED");

      // sleep as pid 1 ignores SIGTERM: SIGKILL.
      expect(ctr(["task", "kill", "-s", "SIGKILL", id]).status).toBe(0);
      expect(waitFor(() => status(id) === "STOPPED", 10_000)).toBe(true);
      const del = ctr(["task", "delete", id]);
      expect(del.status).toBe(0);
      expect(del.stderr).toContain("exit code 137");
      expect(alive(initPid)).toBe(false);
      expect(cgroupsLeft(cg(id))).toEqual([]);
    },
    TEST_TIMEOUT,
  );

  it(
    "enforces a memory limit: the cgroup's limit, an OOM kill inside it, the shim's metrics (runc alike)",
    () => {
      for (const [name, runtime] of [["tsrunc", TSRUNC], ["runc", "runc"]] as const) {
        const id = `mem-${name}`;
        expect(ctrRun(runtime, id, ["-d", "--memory-limit", String(32 << 20)], ["sleep", "1000"]).status).toBe(0);
        expectMemoryLimitHolds(cg(id), () => ctr(["task", "exec", "--fifo-dir", join(dir, "fifo"), "--exec-id", "hog", id, "tail", "/dev/zero"]));
        expect(status(id)).toBe("RUNNING");
        const metrics = ctr(["task", "metrics", id]);
        expect(metrics.stdout).toMatch(new RegExp(`memory\\.(limit_in_bytes|max)\\s+${32 << 20}\\b`));
      }
    },
    TEST_TIMEOUT,
  );
});

// ------------------------------------------------------------------------------------------------

clientDescribe("podman 4.3: conmon", missing("podman", "conmon", "unshare"), () => {
  let dir = "";
  let parent = "";
  let env: string[] = [];
  let global: string[] = [];
  const made: string[] = [];
  /** podman with tsrunc as its runtime (or runc), every path of its own under the temp dir. */
  // In the temp dir: conmon leaves a file "oom" in its working directory after an OOM kill.
  const podman = (args: string[], runtime = TSRUNC, timeout = 60_000) => run("env", [...env, "podman", ...global, "--runtime", runtime, ...args], timeout, "", dir);
  const podmanRun = (name: string, args: string[], runtime = TSRUNC) => {
    made.push(name);
    return podman(["run", "--name", name, "--cgroup-parent", parent, ...args], runtime);
  };
  const inspect = (name: string, format: string) => podman(["inspect", "--format", format, name]).stdout.trim();
  const cgroupOf = (name: string) => `${parent}/libpod-${inspect(name, "{{.Id}}")}`;

  beforeAll(() => {
    dir = realpathSync(mkdtempSync(join(tmpdir(), "tsrunc-podman-")));
    parent = `${CGROUP_PARENT}/podman`;
    for (const d of ["root", "runroot", "tmp", "net", "volumes"]) mkdirSync(join(dir, d));
    // Only these files are read (CONTAINERS_CONF, CONTAINERS_STORAGE_CONF). Locks in files, not in
    // /dev/shm; no network; rlimits this sandbox can grant (podman's defaults raise nofile and
    // nproc beyond the hard limits, which needs CAP_SYS_RESOURCE); tsrunc logs in JSON as runc.
    writeFileSync(
      join(dir, "containers.conf"),
      `[containers]
netns = "none"
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[network]
network_config_dir = "${dir}/net"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "${dir}/events.log"
tmp_dir = "${dir}/tmp"
static_dir = "${dir}/root/libpod"
volume_path = "${dir}/volumes"
lock_type = "file"
runtime_supports_json = ["crun", "runc", "tsrunc"]
`,
    );
    writeFileSync(join(dir, "storage.conf"), `[storage]\ndriver = "vfs"\nrunroot = "${dir}/runroot"\ngraphroot = "${dir}/root"\n`);
    writeFileSync(join(dir, "registries.conf"), "");
    env = [`CONTAINERS_CONF=${dir}/containers.conf`, `CONTAINERS_STORAGE_CONF=${dir}/storage.conf`, `CONTAINERS_REGISTRIES_CONF=${dir}/registries.conf`];
    global = ["--root", `${dir}/root`, "--runroot", `${dir}/runroot`, "--tmpdir", `${dir}/tmp`, "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "file"];
    // podman load keeps a blob-info cache in /var/lib/containers whatever the config says: it loads
    // in a mount namespace where /var/lib is an empty tmpfs.
    const load = run("unshare", ["--mount", "--propagation", "private", "sh", "-c", `mount -t tmpfs tsrunc-test-varlib /var/lib && exec "$@"`, "sh", "env", ...env, "podman", ...global, "load", "-i", image()], 120_000);
    if (load.status !== 0) throw new Error(`podman load: ${load.stderr}`);
  }, HOOK_TIMEOUT);

  afterEach(() => {
    for (const name of made.splice(0)) {
      const id = inspect(name, "{{.Id}}");
      podman(["rm", "--force", "--time", "0", name]);
      if (id) {
        expect(cgroupsLeft(`${parent}/libpod-${id}`)).toEqual([]);
        // podman passes no --root: tsrunc's default state directory.
        expect(existsSync(`/run/tsrunc/${id}`)).toBe(false);
      }
    }
  });

  afterAll(() => {
    if (!dir) return;
    podman(["rm", "--all", "--force", "--time", "0"]);
    // podman puts every conmon of a cgroup parent in <parent>/conmon and never removes it.
    tearDown(dir, [], [`${parent}/conmon`, parent]);
  }, HOOK_TIMEOUT);

  it(
    "runs a command to its output and exit code, fails a missing one as with runc, enters a cwd only root may",
    () => {
      // conmon reads the error from tsrunc's --log file (JSON) and podman maps it to exit 127.
      const runc = which("runc")!;
      const [ours, theirs] = runAndMissing((name, rt, args) => podmanRun(name, args, rt === "tsrunc" ? TSRUNC : runc), 127);
      expect(ours).toBe(
        `Error: ${TSRUNC}: tsrunc create failed: unable to start container process: exec: "/nonexistent": stat /nonexistent: no such file or directory: OCI runtime attempted to invoke a command that was not found`,
      );
      expect(ours).toBe(theirs.replace(`${runc}: runc`, `${TSRUNC}: tsrunc`));
      // /root is 0700: uid 1 runs there because the runtime enters it before dropping root, as runc.
      const cwd = podmanRun("cwd", ["--rm", "--user", "1", "--workdir", "/root", IMAGE, "pwd"]);
      expect([cwd.status, cwd.stdout]).toEqual([0, "/root\n"]);
    },
    TEST_TIMEOUT,
  );

  it(
    "serves a detached container: exec with and without a tty, top, pause and unpause, logs, stop and rm",
    () => {
      const name = "task";
      const started = podmanRun(name, ["--detach", IMAGE, "sh", "-c", "echo started; trap 'echo stopping; exit 0' TERM; while :; do sleep 0.1; done"]);
      expect(started.status).toBe(0);
      expect(inspect(name, "{{.State.Status}}")).toBe("running");
      const cgroup = cgroupOf(name);

      const plain = podman(["exec", name, "sh", "-c", "echo from exec; exit 5"]);
      expect([plain.status, plain.stdout]).toEqual([5, "from exec\n"]);
      const stdin = run("env", [...env, "podman", ...global, "--runtime", TSRUNC, "exec", "--interactive", name, "cat"], 30_000, "stdin data\n", dir);
      expect([stdin.status, stdin.stdout]).toEqual([0, "stdin data\n"]);
      const user = podman(["exec", "--user", "1", "--workdir", "/tmp", "--env", "X=y", name, "sh", "-c", "id -u; pwd; echo $X"]);
      expect(user.stdout).toBe("1\n/tmp\ny\n");
      const tty = underPty(["env", ...env, "podman", ...global, "--runtime", TSRUNC, "exec", "--tty", "--interactive", name, "sh"], "tty; echo answer=$((6*7)); exit 4\n", dir);
      expect(tty.stdout).toMatch(/\/dev\/pts\/\d+/);
      expect(tty.stdout).toContain("answer=42");
      expect(tty.status).toBe(4);

      const top = podman(["top", name, "pid", "args"]);
      expect(top.status).toBe(0);
      expect(top.stdout).toMatch(/^\s*1\s+sh -c echo started/m);

      const freezer = cgroupHierarchies().find((h) => existsSync(join(h, cgroup, "freezer.state")));
      expect(podman(["pause", name]).status).toBe(0);
      expect(inspect(name, "{{.State.Status}}")).toBe("paused");
      if (freezer) expect(readFileSync(join(freezer, cgroup, "freezer.state"), "utf8").trim()).toBe("FROZEN");
      expect(podman(["unpause", name]).status).toBe(0);
      expect(inspect(name, "{{.State.Status}}")).toBe("running");

      // stop sends SIGTERM through the runtime's kill; the trap answers it.
      const stop = podman(["stop", "--time", "10", name]);
      expect(stop.status).toBe(0);
      expect(inspect(name, "{{.State.Status}} {{.State.ExitCode}}")).toBe("exited 0");
      expect(podman(["logs", name]).stdout).toBe("started\nstopping\n");
      expect(cgroupsLeft(cgroup)).toEqual([]);
      expect(podman(["rm", name]).status).toBe(0);
      expect(podman(["container", "exists", name]).status).toBe(1);
    },
    TEST_TIMEOUT,
  );

  it(
    "enforces a memory limit: the container's cgroup, an OOM kill inside it",
    () => {
      const name = "mem";
      expect(podmanRun(name, ["--detach", "--memory", "32m", IMAGE, "sleep", "1000"]).status).toBe(0);
      expectMemoryLimitHolds(cgroupOf(name), () => podman(["exec", name, "tail", "/dev/zero"]));
      expect(inspect(name, "{{.State.Status}}")).toBe("running");
    },
    TEST_TIMEOUT,
  );
});

// ------------------------------------------------------------------------------------------------

const NOBODY = 65534;

/** Why uid 65534 cannot run tsrunc here (a checkout under a private home), or null. */
function nobodyCannotRunTsrunc(): string | null {
  const r = spawnSync("setpriv", [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", "test", "-x", TSRUNC]);
  return r.status === 0 ? null : `uid ${NOBODY} cannot execute ${TSRUNC}`;
}

clientDescribe(
  "podman 4.3 rootless: as an unprivileged user, tsrunc as root in podman's user namespace",
  missing("podman", "conmon", "setpriv") ?? nobodyCannotRunTsrunc(),
  () => {
    let dir = "";
    let env: string[] = [];
    /** podman as uid 65534 with $HOME and $XDG_RUNTIME_DIR in the temp dir, and nothing else of ours. */
    const podman = (args: string[], runtime = TSRUNC, timeout = 60_000) =>
      run("setpriv", [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", "env", "-i", ...env, "podman", "--storage-driver", "vfs", "--runtime", runtime, ...args], timeout, "", dir);
    const noWarnings = (s: string) => s.split("\n").filter((l) => !/level=(warning|error) msg="(.*not a shared mount|cannot find UID\/GID|Using rootless single mapping)/.test(l)).join("\n");

    beforeAll(() => {
      dir = realpathSync(mkdtempSync(join(tmpdir(), "tsrunc-podman-rootless-")));
      // The user must reach the image, its home and its runtime directory, and tsrunc.
      spawnSync("chmod", ["755", dir]);
      for (const d of ["home", "run"]) {
        mkdirSync(join(dir, d), { mode: 0o700 });
        spawnSync("chown", [`${NOBODY}:${NOBODY}`, join(dir, d)]);
      }
      writeFileSync(join(dir, "containers.conf"), `[containers]\nnetns = "none"\n[engine]\nevents_logger = "file"\nruntime_supports_json = ["crun", "runc", "tsrunc"]\n`);
      writeFileSync(join(dir, "registries.conf"), "");
      env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", `HOME=${dir}/home`, `XDG_RUNTIME_DIR=${dir}/run`, `CONTAINERS_CONF=${dir}/containers.conf`, `CONTAINERS_REGISTRIES_CONF=${dir}/registries.conf`];
      spawnSync("cp", [image(), join(dir, "image.tar")]);
      spawnSync("chmod", ["644", join(dir, "image.tar")]);
      const load = podman(["load", "-i", join(dir, "image.tar")], TSRUNC, 120_000);
      if (load.status !== 0) throw new Error(`podman load: ${load.stderr}`);
    }, HOOK_TIMEOUT);

    afterAll(() => {
      if (!dir) return;
      podman(["rm", "--all", "--force", "--time", "0"]);
      // podman keeps its user namespace open with a pause process.
      const pause = join(dir, "run/libpod/tmp/pause.pid");
      tearDown(dir, existsSync(pause) ? [Number(readFileSync(pause, "utf8"))] : []);
    }, HOOK_TIMEOUT);

    it(
      "runs, execs with and without a tty, stops and removes, its state under $XDG_RUNTIME_DIR/tsrunc",
      () => {
        const r = podman(["run", "--rm", IMAGE, "sh", "-c", "echo hello; id -u; exit 3"]);
        expect([r.status, r.stdout, noWarnings(r.stderr).trim()]).toEqual([3, "hello\n0\n", ""]);
        const missingCmd = podman(["run", "--rm", IMAGE, "/nonexistent"]);
        expect(missingCmd.status).toBe(127);
        expect(noWarnings(missingCmd.stderr)).toContain('tsrunc create failed: unable to start container process: exec: "/nonexistent": stat /nonexistent: no such file or directory');

        const started = podman(["run", "--detach", "--name", "task", IMAGE, "sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"]);
        expect(started.status).toBe(0);
        const id = started.stdout.trim();
        expect(existsSync(join(dir, "run/tsrunc", id, "state.json"))).toBe(true);
        const plain = podman(["exec", "task", "sh", "-c", "echo from exec; exit 5"]);
        expect([plain.status, plain.stdout]).toEqual([5, "from exec\n"]);
        const tty = underPty(["setpriv", `--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", "env", "-i", ...env, "podman", "--storage-driver", "vfs", "--runtime", TSRUNC, "exec", "--tty", "--interactive", "task", "sh"], "tty; echo answer=$((6*7)); exit 4\n", dir);
        expect(tty.stdout).toContain("answer=42");
        expect(tty.status).toBe(4);
        expect(podman(["stop", "--time", "10", "task"]).status).toBe(0);
        expect(podman(["inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", "task"]).stdout.trim()).toBe("exited 0");
        expect(podman(["rm", "task"]).status).toBe(0);
        expect(existsSync(join(dir, "run/tsrunc", id))).toBe(false);
      },
      TEST_TIMEOUT,
    );
  },
);

// ------------------------------------------------------------------------------------------------

clientDescribe("docker 20.10: dockerd and its containerd", missing("dockerd", "/usr/bin/docker", "containerd", "containerd-shim-runc-v2", "unshare"), () => {
  let dir = "";
  let daemon: ChildProcess | undefined;
  let parent = "";
  const made: string[] = [];
  const docker = (args: string[], input = "", timeout = 60_000) =>
    run("env", [`DOCKER_CONFIG=${dir}/cli`, "/usr/bin/docker", "-H", `unix://${dir}/docker.sock`, ...args], timeout, input);
  const dockerRun = (name: string, args: string[], runtime = "tsrunc") => {
    made.push(name);
    return docker(["run", "--name", name, "--runtime", runtime, "--network", "none", ...args]);
  };
  const inspect = (name: string, format: string) => docker(["inspect", "--format", format, name]).stdout.trim();

  beforeAll(() => {
    if (!existsSync("/etc/docker")) throw new Error("/etc/docker is missing (docker.io ships it)");
    dir = realpathSync(mkdtempSync(join(tmpdir(), "tsrunc-docker-")));
    parent = `${CGROUP_PARENT}/docker`;
    writeFileSync(join(dir, "daemon.json"), "{}\n");
    // Its own data and exec roots, socket and pid file, no bridge or iptables, containers under a
    // test-only cgroup parent. /etc/docker is a tmpfs in its namespace: dockerd writes its key.json
    // there whatever the flags say.
    daemon = startDaemon(dir, "dockerd", [
      "sh", "-c", `mount -t tmpfs -o mode=755 tsrunc-test-etc-docker /etc/docker && exec "$@"`, "sh",
      "dockerd", "--config-file", join(dir, "daemon.json"), "--data-root", join(dir, "data"), "--exec-root", join(dir, "exec"),
      "-H", `unix://${dir}/docker.sock`, "--pidfile", join(dir, "docker.pid"), "--add-runtime", `tsrunc=${TSRUNC}`,
      "--iptables=false", "--ip6tables=false", "--bridge=none", "--ip-forward=false", "--ip-masq=false",
      "--cgroup-parent", parent, "--storage-driver", "overlay2",
    ]);
    const up = waitFor(() => existsSync(join(dir, "docker.sock")) && docker(["version"], "", 5000).status === 0, 30_000);
    if (!up) throw new Error(`dockerd did not start: ${readFileSync(join(dir, "dockerd.log"), "utf8").slice(-2000)}`);
    const load = docker(["load", "--input", image()], "", 120_000);
    if (load.status !== 0) throw new Error(`docker load: ${load.stderr}`);
  }, HOOK_TIMEOUT);

  afterEach(() => {
    for (const name of made.splice(0)) {
      const id = inspect(name, "{{.Id}}");
      docker(["rm", "--force", name]);
      if (id) {
        expect(cgroupsLeft(`${parent}/${id}`)).toEqual([]);
        // dockerd gives every runc-like runtime its runc root.
        expect(existsSync(join(dir, "exec/runtime-runc/moby", id))).toBe(false);
      }
    }
  });

  afterAll(() => {
    if (!dir) return;
    docker(["rm", "--force", ...docker(["ps", "--all", "--quiet"]).stdout.split("\n").filter(Boolean)]);
    // dockerd stops its containerd; shims left over name our exec root.
    tearDown(dir, daemon?.pid ? [daemon.pid] : [], [parent]);
  }, HOOK_TIMEOUT);

  it(
    "runs a command to its output and exit code, fails a missing one as with runc",
    () => {
      // docker 20.10's CLI races its own --rm wait against the failed start and sometimes adds
      // 'error waiting for container: context canceled', with runc too: that line is the client's.
      const cliNoise = (s: string) =>
        s.split("\n").filter((l) => !l.includes('msg="error waiting for container: context canceled"')).join("\n");
      const [ours, theirs] = runAndMissing((name, rt, args) => dockerRun(name, args, rt), 127).map(cliNoise);
      expect(ours).toContain(
        'OCI runtime create failed: tsrunc create failed: unable to start container process: exec: "/nonexistent": stat /nonexistent: no such file or directory: unknown',
      );
      expect(ours).toBe(theirs!.replace("runc create", "tsrunc create"));
    },
    TEST_TIMEOUT,
  );

  it(
    "serves a detached container: exec with and without a tty, top, pause and unpause, update, stop, restart and rm",
    () => {
      const name = "task";
      const started = dockerRun(name, ["--detach", "--memory", "64m", IMAGE, "sh", "-c", "echo started; trap 'echo stopping; exit 0' TERM; while :; do sleep 0.1; done"]);
      expect(started.status).toBe(0);
      expect(inspect(name, "{{.State.Status}}")).toBe("running");
      const cgroup = `${parent}/${inspect(name, "{{.Id}}")}`;

      const plain = docker(["exec", name, "sh", "-c", "echo from exec; exit 5"]);
      expect([plain.status, plain.stdout]).toEqual([5, "from exec\n"]);
      const stdin = docker(["exec", "--interactive", name, "cat"], "stdin data\n");
      expect([stdin.status, stdin.stdout]).toEqual([0, "stdin data\n"]);
      const user = docker(["exec", "--user", "1", "--workdir", "/tmp", "--env", "X=y", name, "sh", "-c", "id -u; pwd; echo $X"]);
      expect(user.stdout).toBe("1\n/tmp\ny\n");
      const tty = underPty(["env", `DOCKER_CONFIG=${dir}/cli`, "/usr/bin/docker", "-H", `unix://${dir}/docker.sock`, "exec", "--tty", "--interactive", name, "sh"], "tty; echo answer=$((6*7)); exit 4\n");
      expect(tty.stdout).toMatch(/\/dev\/pts\/\d+/);
      expect(tty.stdout).toContain("answer=42");
      expect(tty.status).toBe(4);

      // top is the runtime's ps.
      const top = docker(["top", name]);
      expect(top.status).toBe(0);
      expect(top.stdout).toContain("sh -c echo started");

      const freezer = cgroupHierarchies().find((h) => existsSync(join(h, cgroup, "freezer.state")));
      expect(docker(["pause", name]).status).toBe(0);
      expect(inspect(name, "{{.State.Status}}")).toBe("paused");
      if (freezer) expect(readFileSync(join(freezer, cgroup, "freezer.state"), "utf8").trim()).toBe("FROZEN");
      expect(docker(["unpause", name]).status).toBe(0);
      expect(inspect(name, "{{.State.Status}}")).toBe("running");

      // update goes through the runtime's update --resources.
      expect(docker(["update", "--memory", "128m", "--memory-swap", "256m", "--pids-limit", "50", name]).status).toBe(0);
      expect(memoryLimit(cgroup)).toBe(128 << 20);
      const pids = cgroupHierarchies().find((h) => existsSync(join(h, cgroup, "pids.max")));
      if (pids) expect(readFileSync(join(pids, cgroup, "pids.max"), "utf8").trim()).toBe("50");

      expect(docker(["stop", "--time", "10", name]).status).toBe(0);
      expect(inspect(name, "{{.State.Status}} {{.State.ExitCode}}")).toBe("exited 0");
      expect(docker(["logs", name]).stdout).toBe("started\nstopping\n");
      expect(cgroupsLeft(cgroup)).toEqual([]);
      expect(docker(["start", name]).status).toBe(0);
      expect(inspect(name, "{{.State.Status}}")).toBe("running");
      expect(docker(["kill", name]).status).toBe(0);
      expect(docker(["wait", name]).stdout.trim()).toBe("137");
      expect(docker(["rm", name]).status).toBe(0);
    },
    TEST_TIMEOUT,
  );

  it(
    "enforces a memory limit: the container's cgroup, an OOM kill inside it",
    () => {
      const name = "mem";
      expect(dockerRun(name, ["--detach", "--memory", "32m", IMAGE, "sleep", "1000"]).status).toBe(0);
      expectMemoryLimitHolds(`${parent}/${inspect(name, "{{.Id}}")}`, () => docker(["exec", name, "tail", "/dev/zero"]));
      expect(inspect(name, "{{.State.Status}}")).toBe("running");
    },
    TEST_TIMEOUT,
  );
});
