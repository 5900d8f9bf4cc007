// runc's lifecycle against real containers from the busybox bundle, runc side by side where the two
// must agree. Root only.
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { bundleFactory, errors, haveBinary, isRoot, leftovers, runc, tsrunc, waitFor } from "./helpers.ts";

const bundle = bundleFactory();

describe.skipIf(!isRoot || !haveBinary)("lifecycle", () => {
  it("runs /bin/true in the foreground and returns its exit code", () => {
    const b = bundle();
    const r = tsrunc(b, ["run", b.id]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    // run deletes the container after it exits
    expect(existsSync(join(b.root, b.id))).toBe(false);
  });

  it("returns the process's exit code, and 128+n for a signal", () => {
    const b = bundle((c) => (c.process.args = ["sh", "-c", "exit 3"]));
    expect(tsrunc(b, ["run", b.id]).status).toBe(3);
    // pid 1 cannot SIGKILL itself from inside; use a child shell that kills itself instead
    const b2 = bundle((c) => (c.process.args = ["sh", "-c", "sh -c 'kill -9 $$'; exit $?"]));
    expect(tsrunc(b2, ["run", b2.id]).status).toBe(137);
  });

  it("inherits stdio and sees its own namespaces, hostname and rootfs", () => {
    const b = bundle((c) => (c.process.args = ["sh", "-c", "echo pid=$$ host=$(hostname) user=$(id -u); cat /etc/hostname; read x; echo got=$x"]));
    const r = tsrunc(b, ["run", b.id], { input: "hello\n" });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe("pid=1 host=tsrunc user=0\nbusybox\ngot=hello\n");
  });

  it("create waits for start; state reports runc's fields and statuses", () => {
    const b = bundle((c) => (c.process.args = ["sleep", "30"]));
    const pidFile = join(b.dir, "pid");
    let r = tsrunc(b, ["create", "--pid-file", pidFile, b.id]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const created = JSON.parse(tsrunc(b, ["state", b.id]).stdout);
    expect(Object.keys(created)).toEqual(["ociVersion", "id", "pid", "status", "bundle", "rootfs", "created", "owner"]);
    expect(created).toMatchObject({ id: b.id, status: "created", bundle: b.dir, owner: "" });
    expect(created.pid).toBeGreaterThan(1);
    expect(Number(readFileSync(pidFile, "utf8"))).toBe(created.pid);
    // the init waits: its command line is not sleep yet
    expect(readFileSync(`/proc/${created.pid}/cmdline`, "utf8")).not.toContain("sleep");

    r = tsrunc(b, ["start", b.id]);
    expect(r.status).toBe(0);
    expect(JSON.parse(tsrunc(b, ["state", b.id]).stdout).status).toBe("running");
    expect(waitFor(() => readFileSync(`/proc/${created.pid}/cmdline`, "utf8").startsWith("sleep"))).toBe(true);

    r = tsrunc(b, ["start", b.id]);
    expect(r.status).toBe(1);
    expect(errors(r)).toContain("cannot start an already running container");

    r = tsrunc(b, ["delete", b.id]);
    expect(r.status).toBe(1);
    expect(errors(r)).toContain(`cannot delete container ${b.id} that is not stopped: running`);

    expect(tsrunc(b, ["kill", b.id, "KILL"]).status).toBe(0);
    expect(waitFor(() => JSON.parse(tsrunc(b, ["state", b.id]).stdout).status === "stopped")).toBe(true);
    const stopped = JSON.parse(tsrunc(b, ["state", b.id]).stdout);
    expect(stopped.pid).toBe(0);

    r = tsrunc(b, ["start", b.id]);
    expect(errors(r)).toContain("cannot start a container that has stopped");
    r = tsrunc(b, ["kill", b.id]);
    expect(r.status).toBe(1);
    expect(errors(r)).toContain("container not running");

    expect(tsrunc(b, ["delete", b.id]).status).toBe(0);
    r = tsrunc(b, ["state", b.id]);
    expect(r.status).toBe(1);
    expect(errors(r)).toContain("container does not exist");
  });

  it("create + start work for a non-root process and in a user namespace mapped away from root", () => {
    for (const mutate of [
      (c: any) => (c.process.user = { uid: 1000, gid: 1000 }),
      (c: any) => {
        c.linux.namespaces.push({ type: "user" });
        c.linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
        c.linux.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      },
    ]) {
      const b = bundle((c) => {
        mutate(c);
        c.process.args = ["sh", "-c", "id -u > /dev/shm/x; sleep 30"];
      });
      expect(tsrunc(b, ["create", b.id]).status).toBe(0);
      const r = tsrunc(b, ["start", b.id]);
      expect(errors(r)).toBe("");
      expect(r.status).toBe(0);
      expect(waitFor(() => JSON.parse(tsrunc(b, ["state", b.id]).stdout).status === "running")).toBe(true);
      const pid = JSON.parse(tsrunc(b, ["state", b.id]).stdout).pid;
      // the user's program runs (busybox sh execs its last command: sleep)
      expect(waitFor(() => readFileSync(`/proc/${pid}/cmdline`, "utf8").startsWith("sleep"))).toBe(true);
    }
  });

  it("agrees with runc on the state document and the status sequence", () => {
    const b = bundle((c) => (c.process.args = ["sleep", "30"]));
    const seq = (run: typeof tsrunc) => {
      const out: any[] = [];
      run(b, ["create", b.id]);
      out.push(JSON.parse(run(b, ["state", b.id]).stdout));
      run(b, ["start", b.id]);
      out.push(JSON.parse(run(b, ["state", b.id]).stdout));
      run(b, ["kill", b.id, "9"]);
      waitFor(() => JSON.parse(run(b, ["state", b.id]).stdout).status === "stopped");
      out.push(JSON.parse(run(b, ["state", b.id]).stdout));
      run(b, ["delete", b.id]);
      return out;
    };
    const ours = seq(tsrunc);
    const theirs = seq(runc);
    expect(ours.map((s) => s.status)).toEqual(theirs.map((s) => s.status));
    expect(ours.map((s) => Object.keys(s))).toEqual(theirs.map((s) => Object.keys(s)));
    expect(ours[0].created).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
  });

  it("shows the same mounts inside as runc does", () => {
    const script = "cut -d' ' -f5,9,10 /proc/self/mountinfo; ls /dev | sort | tr '\\n' ' '";
    const b = bundle((c) => (c.process.args = ["sh", "-c", script]));
    const ours = tsrunc(b, ["run", b.id]);
    const theirs = runc(b, ["run", b.id]);
    expect(ours.status).toBe(0);
    expect(theirs.status).toBe(0);
    // Mount ids differ; mount points, filesystems and sources must not.
    expect(ours.stdout).toBe(theirs.stdout);
  });

  it("kill takes signal names and numbers; delete --force stops a running container", () => {
    const b = bundle((c) => (c.process.args = ["sh", "-c", "trap 'echo usr1 >> /dev/shm/x' USR1; while true; do sleep 0.05; done"]));
    expect(tsrunc(b, ["run", "-d", b.id]).status).toBe(0);
    expect(tsrunc(b, ["kill", b.id, "USR1"]).status).toBe(0);
    expect(tsrunc(b, ["kill", b.id, "SIGUSR1"]).status).toBe(0);
    expect(tsrunc(b, ["kill", b.id, "10"]).status).toBe(0);
    const bad = tsrunc(b, ["kill", b.id, "FOO"]);
    expect(bad.status).toBe(1);
    expect(errors(bad)).toContain('unknown signal "FOO"');
    const pid = JSON.parse(tsrunc(b, ["state", b.id]).stdout).pid;
    expect(tsrunc(b, ["delete", "--force", b.id]).status).toBe(0);
    expect(existsSync(`/proc/${pid}/stat`) && !readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z")).toBe(false);
  });

  it("lists containers as a table, ids only, and JSON", () => {
    const b = bundle((c) => (c.process.args = ["sleep", "30"]));
    expect(tsrunc(b, ["list"]).stdout).toBe("ID          PID         STATUS      BUNDLE      CREATED     OWNER\n");
    expect(tsrunc(b, ["list", "--format", "json"]).stdout.trim()).toBe("null");
    tsrunc(b, ["create", b.id]);
    expect(tsrunc(b, ["list", "-q"]).stdout).toBe(b.id + "\n");
    const table = tsrunc(b, ["list"]).stdout.split("\n");
    expect(table[1]).toMatch(new RegExp(`^${b.id}\\s+\\d+\\s+created\\s+${b.dir}\\s+\\S+\\s+root$`));
    const json = JSON.parse(tsrunc(b, ["list", "--format", "json"]).stdout);
    expect(json).toHaveLength(1);
    expect(json[0]).toMatchObject({ id: b.id, status: "created", owner: "root" });
  });

  it("refuses a duplicate id and leaves the first container alone", () => {
    const b = bundle((c) => (c.process.args = ["sleep", "30"]));
    expect(tsrunc(b, ["create", b.id]).status).toBe(0);
    const r = tsrunc(b, ["create", b.id]);
    expect(r.status).toBe(1);
    expect(errors(r)).toContain("container with given ID already exists");
    expect(JSON.parse(tsrunc(b, ["state", b.id]).stdout).status).toBe("created");
  });

  it("reports a missing executable at create, as runc does, and leaves nothing", () => {
    const b = bundle((c) => (c.process.args = ["nosuchbinary"]));
    const r = tsrunc(b, ["create", b.id]);
    expect(r.status).toBe(1);
    expect(errors(r)).toContain('exec: "nosuchbinary": executable file not found in $PATH');
    expect(leftovers(b)).toEqual([]);
  });

  it("writes errors as JSON lines to --log with --log-format json", () => {
    const b = bundle();
    const log = join(b.dir, "log.json");
    const r = tsrunc(b, ["--log", log, "--log-format", "json", "state", "nope"]);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe("container does not exist\n");
    const entry = JSON.parse(readFileSync(log, "utf8").trim());
    expect(entry).toMatchObject({ level: "error", msg: "container does not exist" });
    expect(entry.time).toMatch(/^\d{4}-\d\d-\d\dT/);
  });
});

describe.skipIf(!isRoot || !haveBinary)("bad input", () => {
  it("a missing rootfs", () => {
    const b = bundle((c) => (c.root.path = "/nonexistent-rootfs"));
    const r = tsrunc(b, ["create", b.id]);
    expect(r.status).toBe(1);
    expect(errors(r)).toMatch(/root|rootfs/);
    expect(leftovers(b)).toEqual([]);
  });

  it("an unknown namespace type", () => {
    const b = bundle((c) => c.linux.namespaces.push({ type: "bogus" }));
    const r = tsrunc(b, ["create", b.id]);
    expect(r.status).toBe(1);
    expect(errors(r)).toContain("/linux/namespaces/5");
    expect(leftovers(b)).toEqual([]);
  });

  it("a namespace path that is not a namespace", () => {
    const b = bundle((c) => (c.linux.namespaces[1] = { type: "network", path: "/etc/hostname" }));
    const r = tsrunc(b, ["create", b.id]);
    expect(r.status).toBe(1);
    expect(errors(r)).toContain("not a namespace");
    expect(leftovers(b)).toEqual([]);
  });

  it("a mount onto a symlink that escapes the rootfs stays inside it", () => {
    // A private rootfs with a hostile symlink: /evil -> ../../../../../tmp/<marker dir>
    const b = bundle();
    const rootfs = join(b.dir, "rootfs");
    mkdirSync(join(rootfs, "bin"), { recursive: true });
    for (const d of ["proc", "dev", "sys", "tmp"]) mkdirSync(join(rootfs, d));
    writeFileSync(join(rootfs, "bin/busybox"), readFileSync("/bin/busybox"), { mode: 0o755 });
    for (const a of ["sh", "ls", "cat", "true"]) symlinkSync("busybox", join(rootfs, "bin", a));
    const outside = join(b.dir, "outside");
    mkdirSync(outside);
    symlinkSync(`../../../../../../../../..${outside}`, join(rootfs, "evil"));
    const config = JSON.parse(readFileSync(join(b.dir, "config.json"), "utf8"));
    config.root.path = "rootfs";
    config.root.readonly = false;
    config.mounts.push({ destination: "/evil", type: "tmpfs", source: "tmpfs", options: ["size=1m"] });
    config.process.args = ["sh", "-c", "touch /evil/marker && ls /evil"];
    writeFileSync(join(b.dir, "config.json"), JSON.stringify(config));
    const r = tsrunc(b, ["run", b.id]);
    expect(r.stdout).toContain("marker");
    // the tmpfs landed inside the rootfs, never on the host directory the link names
    expect(existsSync(join(outside, "marker"))).toBe(false);
    rmSync(outside, { recursive: true });
  });
});
