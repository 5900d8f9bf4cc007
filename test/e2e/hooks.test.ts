// The six runtime-spec hooks against real containers: order, the state on stdin, the namespaces
// each runs in, timeouts and failures. Root only.
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type Bundle, bundleFactory, errors, haveBinary, isRoot, ROOTFS, tsrunc, TSRUNC, waitFor } from "./helpers.ts";

const newBundle = bundleFactory();

interface Entry {
  name: string;
  mnt: string;
  pidns: string;
  /** CapEff, as /proc/self/status shows it. */
  caps: string;
  cwd: string;
  state: any;
}

/** A bundle whose hooks log to <bundle>/out/log: host hooks through a script of the bundle, the
 * startContainer hook (its path resolves in the container) through the container's sh, writing
 * to /out, a bind mount of <bundle>/out. The container's program logs "main" there too. */
function hooked(hooks: (script: string, log: string, b: Bundle) => Record<string, any[]>, mutate: (c: any) => void = () => {}): Bundle & { log: string } {
  const b = newBundle((c) => {
    c.mounts.push({ destination: "/out", type: "bind", source: "", options: ["rbind", "rw"] });
    c.process.args = ["sh", "-c", "echo 'main|||||' >> /out/log; exec sleep 1000"];
    mutate(c);
  });
  const out = join(b.dir, "out");
  mkdirSync(out);
  chmodSync(out, 0o777);
  const log = join(out, "log");
  const script = join(b.dir, "hook.sh");
  writeFileSync(script, `#!/bin/sh\nread -r state\necho "$1|$(readlink /proc/self/ns/mnt)|$(readlink /proc/self/ns/pid)|$(grep CapEff /proc/self/status | cut -f2)|$(pwd)|$state" >> ${log}\n`);
  chmodSync(script, 0o755);
  const config = JSON.parse(readFileSync(join(b.dir, "config.json"), "utf8"));
  config.mounts.at(-1).source = out;
  config.hooks = hooks(script, log, b);
  writeFileSync(join(b.dir, "config.json"), JSON.stringify(config, null, 2));
  return { ...b, config, log };
}

const host = (script: string, name: string, extra: Record<string, unknown> = {}) => ({ path: script, args: ["hook.sh", name], ...extra });
/** The same record, from inside the container (busybox's sh, id, readlink). */
const inContainer = (name: string) => ({
  path: "/bin/sh",
  args: ["sh", "-c", `read -r state; echo "${name}|$(readlink /proc/self/ns/mnt)|$(readlink /proc/self/ns/pid)|$(grep CapEff /proc/self/status | cut -f2)|$(pwd)|$state" >> /out/log`],
});

function entries(log: string): Entry[] {
  let text = "";
  try {
    text = readFileSync(log, "utf8");
  } catch {}
  return text
    .split("\n")
    .filter(Boolean)
    .map((l) => {
      const [name, mnt, pidns, caps, cwd, ...state] = l.split("|");
      const s = state.join("|");
      return { name: name!, mnt: mnt!, pidns: pidns!, caps: caps!, cwd: cwd!, state: s ? JSON.parse(s) : null };
    });
}

/** The error logged (errors() trims it: so is the expected message). */
const lastError = (r: { stderr: string }) => errors(r);
const names = (log: string) => entries(log).map((e) => e.name);
const hostMnt = readlinkSync("/proc/self/ns/mnt");
const hostPid = readlinkSync("/proc/self/ns/pid");
const initPid = (b: Bundle): number => JSON.parse(tsrunc(b, ["state", b.id]).stdout).pid;

describe.skipIf(!isRoot || !haveBinary)("hooks", () => {
  it("runs the six hooks in the spec's order, in their namespaces, with the state on stdin", () => {
    const b = hooked(
      (s) => ({
        prestart: [host(s, "prestart")],
        createRuntime: [host(s, "createRuntime")],
        createContainer: [host(s, "createContainer")],
        startContainer: [inContainer("startContainer")],
        poststart: [host(s, "poststart")],
        poststop: [host(s, "poststop")],
      }),
      (c) => {
        c.annotations = { "org.example/key": "value" };
      },
    );
    let r = tsrunc(b, ["create", b.id]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const pid = initPid(b);
    const mnt = readlinkSync(`/proc/${pid}/ns/mnt`);
    const pidns = readlinkSync(`/proc/${pid}/ns/pid`);
    expect(names(b.log)).toEqual(["prestart", "createRuntime", "createContainer"]);

    expect(tsrunc(b, ["start", b.id]).status).toBe(0);
    expect(waitFor(() => names(b.log).includes("main"))).toBe(true);
    expect(tsrunc(b, ["kill", b.id, "KILL"]).status).toBe(0);
    expect(waitFor(() => JSON.parse(tsrunc(b, ["state", b.id]).stdout).status === "stopped")).toBe(true);
    expect(tsrunc(b, ["delete", b.id]).status).toBe(0);

    const log = entries(b.log);
    const order = log.map((e) => e.name);
    expect(order.slice(0, 4)).toEqual(["prestart", "createRuntime", "createContainer", "startContainer"]);
    expect(order.indexOf("main")).toBeGreaterThan(order.indexOf("startContainer"));
    expect(order.indexOf("poststart")).toBeGreaterThan(order.indexOf("startContainer"));
    expect(order.at(-1)).toBe("poststop");
    const by = Object.fromEntries(log.map((e) => [e.name, e]));
    const state = (status: string, withPid = true) => ({
      ociVersion: "1.3.0",
      id: b.id,
      status,
      ...(withPid ? { pid } : {}),
      bundle: b.dir,
      annotations: { "org.example/key": "value" },
    });
    // runtime namespace: the host's mount and pid namespaces, with our capabilities, from our cwd
    const ours = readFileSync("/proc/self/status", "utf8").match(/^CapEff:\s+(\w+)/m)![1]!;
    for (const n of ["prestart", "createRuntime", "poststart", "poststop"]) {
      expect(by[n], n).toMatchObject({ mnt: hostMnt, pidns: hostPid, caps: ours, cwd: b.dir });
    }
    // container namespace: createContainer as root before pivot_root, from the rootfs;
    // startContainer as the process will run (runc's spec: CAP_AUDIT_WRITE, CAP_KILL, CAP_NET_BIND_SERVICE)
    expect(by.createContainer).toMatchObject({ mnt, pidns, caps: ours, cwd: ROOTFS });
    expect(by.startContainer).toMatchObject({ mnt, pidns, caps: "0000000020000420", cwd: "/" });
    expect(by.prestart!.state).toEqual(state("creating"));
    expect(by.createRuntime!.state).toEqual(state("creating"));
    expect(by.createContainer!.state).toEqual(state("creating"));
    expect(by.startContainer!.state).toEqual(state("created"));
    expect(by.poststart!.state).toEqual(state("running"));
    expect(by.poststop!.state).toEqual(state("stopped", false));
  });

  it("runs them around a foreground run too, and hooks get exactly their args and env", () => {
    const b = hooked((s, log) => ({
      prestart: [host(s, "prestart")],
      createRuntime: [{ path: "/bin/sh", args: ["named-hook", "-c", `echo "env|$0|$(env | grep -v -e ^PWD= -e ^SHLVL= -e ^_= | sort | tr '\\n' ' ')|||" >> ${log}`], env: ["ONLY=this", "AND=that"] }],
      createContainer: [host(s, "createContainer")],
      startContainer: [inContainer("startContainer")],
      poststart: [host(s, "poststart")],
      poststop: [host(s, "poststop")],
    }));
    const config = JSON.parse(readFileSync(join(b.dir, "config.json"), "utf8"));
    config.process.args = ["sh", "-c", "echo 'main|||||' >> /out/log"];
    writeFileSync(join(b.dir, "config.json"), JSON.stringify(config));
    const r = tsrunc(b, ["run", b.id]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const order = names(b.log);
    expect(order.slice(0, 5)).toEqual(["prestart", "env", "createContainer", "startContainer", order[4]]);
    expect(order.indexOf("main")).toBeGreaterThan(order.indexOf("startContainer"));
    expect(order.indexOf("poststart")).toBeGreaterThan(order.indexOf("startContainer"));
    expect(order.at(-1)).toBe("poststop");
    const env = entries(b.log).find((e) => e.name === "env")!;
    expect(env.mnt).toBe("named-hook");
    expect(env.pidns).toBe("AND=that ONLY=this ");
  });

  it("kills a hook past its timeout and fails create, leaving nothing (poststop still runs)", () => {
    const b = hooked((s) => ({
      createContainer: [{ path: "/bin/sleep", args: ["sleep", "37.25"], timeout: 1 }],
      poststop: [host(s, "poststop")],
    }));
    const t0 = Date.now();
    const r = tsrunc(b, ["create", b.id]);
    expect(Date.now() - t0).toBeLessThan(30_000); // not the hook's 37 s (slow hosts included)
    expect(r.status).toBe(1);
    expect(lastError(r)).toBe("tsrunc create failed: error running createContainer hook #0: hook ran past specified timeout of 1.0s".trim());
    expect(names(b.log)).toEqual(["poststop"]);
    expect(readFileSync("/proc/self/mountinfo", "utf8")).not.toContain(b.dir);
    const sleeping = tsrunc(b, ["ps", b.id]); // the container is gone...
    expect(errors(sleeping)).toContain("container does not exist");
    // ...and so is the hook
    const ps = spawnSync("ps", ["-eo", "args"], { encoding: "utf8" }).stdout;
    expect(ps).not.toContain("sleep 37.25");

    const b2 = hooked(() => ({ prestart: [{ path: "/bin/sleep", args: ["sleep", "5"], timeout: 1 }] }));
    const r2 = tsrunc(b2, ["create", b2.id]);
    expect(lastError(r2)).toBe("tsrunc create failed: error running prestart hook #0: hook ran past specified timeout of 1.0s".trim());
  });

  it("fails create on a failing hook, with its output", () => {
    const b = hooked(() => ({ createRuntime: [{ path: "/bin/true" }, { path: "/bin/sh", args: ["sh", "-c", "echo out; echo err >&2; exit 2"] }] }));
    const r = tsrunc(b, ["create", b.id]);
    expect(r.status).toBe(1);
    expect(lastError(r)).toBe("tsrunc create failed: error running createRuntime hook #1: exit status 2, stdout: out\n, stderr: err\n".trim());
    const b2 = hooked(() => ({ createContainer: [{ path: "/nonexistent/hook" }] }));
    const r2 = tsrunc(b2, ["create", b2.id]);
    expect(lastError(r2)).toBe("tsrunc create failed: error running createContainer hook #0: fork/exec /nonexistent/hook: no such file or directory".trim());
  });

  it("stops the container and fails start when a startContainer or poststart hook fails", () => {
    const b = hooked(() => ({ startContainer: [{ path: "/bin/false" }] }));
    expect(tsrunc(b, ["create", b.id]).status).toBe(0);
    let r = tsrunc(b, ["start", b.id]);
    expect(r.status).toBe(1);
    expect(lastError(r)).toBe("error running startContainer hook #0: exit status 1, stdout: , stderr: ".trim());
    expect(waitFor(() => JSON.parse(tsrunc(b, ["state", b.id]).stdout).status === "stopped")).toBe(true);
    expect(names(b.log)).not.toContain("main"); // the program never ran
    expect(tsrunc(b, ["delete", b.id]).status).toBe(0);

    const b2 = hooked(() => ({ poststart: [{ path: "/bin/sh", args: ["sh", "-c", "exit 7"] }] }));
    expect(tsrunc(b2, ["create", b2.id]).status).toBe(0);
    r = tsrunc(b2, ["start", b2.id]);
    expect(r.status).toBe(1);
    expect(lastError(r)).toBe("error running poststart hook #0: exit status 7, stdout: , stderr: ".trim());
    expect(waitFor(() => JSON.parse(tsrunc(b2, ["state", b2.id]).stdout).status === "stopped")).toBe(true);
    expect(tsrunc(b2, ["delete", b2.id]).status).toBe(0);
  });

  it("lets a poststart hook call tsrunc on the container (start holds no lock by then)", () => {
    const b = hooked((_s, log, self) => ({
      poststart: [{ path: "/bin/sh", args: ["sh", "-c", `${TSRUNC} --root ${self.root} kill ${self.id} CONT && echo "poststart|||||" >> ${log}`], timeout: 20 }],
    }));
    expect(tsrunc(b, ["create", b.id]).status).toBe(0);
    const r = tsrunc(b, ["start", b.id]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(names(b.log)).toContain("poststart");
  });

  it("only warns when a poststop hook fails; the next ones still run", () => {
    const b = hooked((s) => ({ poststop: [{ path: "/bin/false" }, host(s, "poststop")] }));
    expect(tsrunc(b, ["run", "-d", b.id]).status).toBe(0);
    const r = tsrunc(b, ["delete", "--force", b.id]);
    expect(r.status).toBe(0);
    expect(r.stderr).toContain("level=warning");
    expect(lastError(r)).toBe("error running poststop hook #0: exit status 1, stdout: , stderr: ".trim());
    expect(names(b.log).at(-1)).toBe("poststop");
  });

  it("runs createContainer in a container's user namespace too", () => {
    const b = hooked(
      (s) => ({ createContainer: [host(s, "createContainer")] }),
      (c) => {
        c.linux.namespaces.push({ type: "user" });
        c.linux.uidMappings = [{ containerID: 0, hostID: 0, size: 65536 }];
        c.linux.gidMappings = [{ containerID: 0, hostID: 0, size: 65536 }];
      },
    );
    expect(tsrunc(b, ["create", b.id]).status).toBe(0);
    const pid = initPid(b);
    expect(entries(b.log)[0]).toMatchObject({ name: "createContainer", mnt: readlinkSync(`/proc/${pid}/ns/mnt`), pidns: readlinkSync(`/proc/${pid}/ns/pid`) });
  });

  it("are listed by features", () => {
    const f = JSON.parse(tsrunc({ root: "/nonexistent" }, ["features"]).stdout);
    expect(f.hooks).toEqual(["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]);
  });
});
