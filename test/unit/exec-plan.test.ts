// exec without root: the process built from runc's flags, process.json checks, --cgroup parsing,
// and the plans of a process joining a running container (exec, createContainer hooks).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { InitOp } from "../../src/native/types.ts";
import { checkedProcessFromFlags, checkProcess, loadProcessFile, parseSubCgroups, processFromFlags, subCgroupDirs } from "../../src/runtime/exec.ts";
import * as L from "../../src/runtime/linux.ts";
import { buildExecPlan, buildHookPlan, buildPlan, mergeEnv, type ExecPlanInput } from "../../src/runtime/plan.ts";
import { SYNC_DONE, SYNC_HOOKS, SYNC_SETUP } from "../../src/runtime/protocol.ts";
import type { ContainerState } from "../../src/runtime/state.ts";
import { defaultSpec } from "../../src/spec/generate.ts";
import { planInput } from "./plan-input.ts";

const kinds = (ops: InitOp[]) => ops.map((o) => o.op);
const tmp = mkdtempSync(join(tmpdir(), "tsrunc-exec-unit-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function config(mutate: (c: any) => void = () => {}): any {
  const c: any = defaultSpec();
  c.root.path = tmp; // any existing directory
  c.process.terminal = false;
  mutate(c);
  return c;
}

function state(c: any): ContainerState {
  return { id: "c1", bundle: tmp, rootfs: tmp, pid: 4242, pidStartTime: 1, created: "", owner: "", config: c, rootless: false, systemdCgroup: false };
}

function execInput(extra: Partial<ExecPlanInput> = {}, mutate?: (c: any) => void): ExecPlanInput {
  const spec = config(mutate);
  return {
    spec,
    process: { ...spec.process, args: ["ps"], rlimits: [{ type: "RLIMIT_NOFILE", soft: 10, hard: 20 }] },
    containerId: "c1",
    rootfs: "/nonexistent-rootfs",
    initPid: 4242,
    consoleSocketFd: null,
    preserveFds: 0,
    rootless: false,
    setgroupsDenied: false,
    noNewKeyring: false,
    ...extra,
  };
}

describe("the process of exec, from runc's flags", () => {
  const base = config().process;

  it("takes the container's process with new args, appends env and keeps the rest", () => {
    const p = processFromFlags(base, { args: ["ls", "-l"], env: ["A=1"], cwd: "/tmp" });
    expect(p.args).toEqual(["ls", "-l"]);
    expect(p.cwd).toBe("/tmp");
    expect(p.env).toEqual([...base.env, "A=1"]);
    expect(p.terminal).toBe(false);
    expect(p.capabilities).toEqual(base.capabilities);
    expect(base.args).toEqual(["sh"]); // the container's own process is untouched
  });

  it("sets the user as uid[:gid], appends additional gids, and says what is wrong with bad ones", () => {
    expect(processFromFlags(base, { args: ["id"], user: "1000" }).user).toEqual({ uid: 1000, gid: 0 });
    expect(processFromFlags(base, { args: ["id"], user: "1000:2000", additionalGids: ["10", "20"] }).user).toEqual({ uid: 1000, gid: 2000, additionalGids: [10, 20] });
    expect(() => processFromFlags(base, { args: ["id"], user: "foo" })).toThrow('parsing foo as int for uid failed: strconv.Atoi: parsing "foo": invalid syntax');
    expect(() => processFromFlags(base, { args: ["id"], user: "1:x" })).toThrow("parsing x as int for gid failed");
    expect(() => processFromFlags(base, { args: ["id"], additionalGids: ["-5"] })).toThrow("additional-gids must be a positive number -5");
    expect(() => processFromFlags(base, { args: ["id"], additionalGids: ["x"] })).toThrow('invalid value "x" for flag -additional-gids');
  });

  it("adds --cap to every set but the inheritable one, and sets tty, no_new_privs and LSM labels only when given", () => {
    const p = processFromFlags(base, { args: ["sh"], caps: ["CAP_SYS_ADMIN"], tty: true, noNewPrivs: false, apparmor: "prof", processLabel: "lbl" });
    for (const set of ["bounding", "effective", "permitted", "ambient"]) expect(p.capabilities[set]).toContain("CAP_SYS_ADMIN");
    expect(p.capabilities.inheritable ?? []).not.toContain("CAP_SYS_ADMIN");
    expect(p.terminal).toBe(true);
    expect(p.noNewPrivileges).toBe(false);
    expect(p.apparmorProfile).toBe("prof");
    expect(p.selinuxLabel).toBe("lbl");
    expect(processFromFlags(base, { args: ["sh"] }).noNewPrivileges).toBe(base.noNewPrivileges);
  });

  it("is checked like the config's process (a relative --cwd, an unmapped uid)", () => {
    expect(() => checkedProcessFromFlags(state(config()), { args: ["ls"], cwd: "rel" })).toThrow('process: /cwd: must be an absolute path (got "rel")');
    const userns = config((c) => {
      c.linux.namespaces.push({ type: "user" });
      c.linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 1000 }];
      c.linux.gidMappings = [{ containerID: 0, hostID: 100000, size: 1000 }];
    });
    expect(() => checkedProcessFromFlags(state(userns), { args: ["ls"], user: "5000" })).toThrow("process: /user/uid: uid 5000 is not mapped by /linux/uidMappings");
    expect(checkedProcessFromFlags(state(userns), { args: ["ls"], user: "500" }).user.uid).toBe(500);
  });
});

describe("process.json", () => {
  it("is checked with every error's JSON path, relative to the file", () => {
    const r = checkProcess({ args: [], cwd: "rel", user: { uid: "x", gid: 0 }, env: ["NOEQUALS"] }, config(), tmp);
    expect(r.errors.map((e) => e.path).sort()).toEqual(["/args", "/cwd", "/env/0", "/user/uid"]);
    expect(checkProcess({ args: ["true"], cwd: "/" }, config(), tmp).errors).toEqual([]);
    expect(checkProcess(["not", "an", "object"], config(), tmp).errors[0]).toMatchObject({ path: "" });
  });

  it("names the file and the path in the error; unknown properties only warn", () => {
    const f = join(tmp, "process.json");
    writeFileSync(f, JSON.stringify({ args: ["true"], cwd: "/", bogus: 1 }));
    const warnings: string[] = [];
    const log = { debug() {}, info() {}, error() {}, warn: (m: string) => warnings.push(m) };
    expect(loadProcessFile(f, config(), tmp, log).args).toEqual(["true"]);
    expect(warnings).toEqual([`${f}: /bogus: unknown property "bogus" (ignored)`]);
    writeFileSync(f, JSON.stringify({ args: ["true"] }));
    expect(() => loadProcessFile(f, config(), tmp)).toThrow(`${f}: /cwd: required property is missing`);
    writeFileSync(f, '{"args": [');
    expect(() => loadProcessFile(f, config(), tmp)).toThrow(/invalid JSON at line 1/);
    expect(() => loadProcessFile(join(tmp, "nope.json"), config(), tmp)).toThrow(`open ${join(tmp, "nope.json")}: no such file or directory`);
  });
});

describe("--cgroup", () => {
  it("parses runc's forms", () => {
    expect(parseSubCgroups([])).toEqual({});
    expect(parseSubCgroups(["sub"])).toEqual({ "": "sub" });
    expect(parseSubCgroups(["memory,pids:a", "cpu:b"])).toEqual({ memory: "a", pids: "a", cpu: "b" });
    expect(() => parseSubCgroups(["a:b:c"])).toThrow("invalid --cgroup argument: a:b:c");
    expect(() => parseSubCgroups(["a", "cpu:b"])).toThrow("(missing <controller>: prefix)");
  });

  it("stays under the container's cgroup and knows its controllers", () => {
    const paths = { memory: "/sys/fs/cgroup/memory/c1", pids: "/sys/fs/cgroup/pids/c1" };
    expect(subCgroupDirs(paths, { "": "s" })).toEqual({ memory: "/sys/fs/cgroup/memory/c1/s", pids: "/sys/fs/cgroup/pids/c1/s" });
    expect(subCgroupDirs(paths, { memory: "a/b" })).toEqual({ memory: "/sys/fs/cgroup/memory/c1/a/b", pids: "/sys/fs/cgroup/pids/c1" });
    expect(() => subCgroupDirs(paths, { memory: "../c2" })).toThrow("../c2 is not a sub cgroup path");
    expect(() => subCgroupDirs(paths, { cpu: "x" })).toThrow("unknown controller cpu in SubCgroupPaths");
  });
});

describe("the exec plan", () => {
  it("sets limits first, joins user first and mount last from the init's /proc, then forks into the pid namespace", () => {
    const b = buildExecPlan(execInput({}, (c) => c.linux.namespaces.push({ type: "user" })));
    const ops = b.plan.ops;
    expect(b.plan.cloneFlags).toBe(0);
    expect(b.refork).toBe(true);
    expect(b.userns).toBe(true);
    expect(ops[0]).toEqual({ op: "cloexecFrom", from: 3 });
    expect(ops[1]).toMatchObject({ op: "setrlimit", resource: L.RLIMITS.RLIMIT_NOFILE, soft: 10n, hard: 20n });
    const setns = ops.filter((o) => o.op === "setns") as Extract<InitOp, { op: "setns" }>[];
    expect(setns[0]).toEqual({ op: "setns", path: "/proc/4242/ns/user", nstype: L.CLONE_NEWUSER });
    expect(setns.at(-1)).toEqual({ op: "setns", path: "/proc/4242/ns/mnt", nstype: L.CLONE_NEWNS });
    expect(setns.map((o) => o.path).sort()).toEqual(["ipc", "mnt", "net", "pid", "user", "uts"].map((n) => `/proc/4242/ns/${n}`));
    const k = kinds(ops);
    const sync = ops.findIndex((o) => o.op === "sync" && o.tag === SYNC_SETUP);
    expect(sync).toBe(k.lastIndexOf("setns") + 1);
    expect(k.slice(sync + 1, sync + 4)).toEqual(["setresgid", "setresuid", "forkParent"]);
    expect(k.indexOf("joinSessionKeyring")).toBeGreaterThan(k.indexOf("forkParent"));
    expect(k).toContain("setsid");
    expect(k.indexOf("capset")).toBeGreaterThan(k.indexOf("forkParent"));
    expect(ops.at(-2)).toEqual({ op: "sync", tag: SYNC_DONE });
    expect(ops.at(-1)).toMatchObject({ op: "exec", argv: ["ps"] });
    // No mounts, no rootfs: the container has them already.
    expect(k.filter((x) => ["mount", "mknod", "pivotRoot", "mkdirAll", "waitStart", "sethostname"].includes(x))).toEqual([]);
  });

  it("leaves the groups alone where the user namespace says deny to setgroups (rootless podman)", () => {
    expect(kinds(buildExecPlan(execInput()).plan.ops)).toContain("setgroups");
    expect(kinds(buildExecPlan(execInput({ setgroupsDenied: true })).plan.ops)).not.toContain("setgroups");
  });

  it("joins through fds we opened when given (the init may not be dumpable yet), naming the init's files", () => {
    const b = buildExecPlan(execInput({ nsFds: { pid: 20, mount: 21, network: 22, ipc: 23, uts: 24 } }));
    const i = b.plan.ops.findIndex((o) => o.op === "setns" && o.nstype === L.CLONE_NEWNS);
    expect(b.plan.ops[i]).toEqual({ op: "setns", path: "/proc/self/fd/21", nstype: L.CLONE_NEWNS });
    expect(b.describe[i]).toBe("join mount namespace /proc/4242/ns/mnt");
  });

  it("joins only the namespaces the container has, and forks only for a pid or time namespace", () => {
    const b = buildExecPlan(execInput({}, (c) => (c.linux.namespaces = [{ type: "mount" }, { type: "network" }])));
    expect(b.refork).toBe(false);
    expect(b.plan.ops.filter((o) => o.op === "setns").map((o) => (o as any).path)).toEqual(["/proc/4242/ns/net", "/proc/4242/ns/mnt"]);
    expect(kinds(b.plan.ops)).not.toContain("forkParent");
    // No user namespace: no switch to its root, only the process's own setresuid.
    expect(kinds(b.plan.ops).filter((x) => x === "setresuid")).toHaveLength(1);
  });

  it("makes a console, preserves fds, keeps the caller's keyring when the container did", () => {
    const ops = buildExecPlan(execInput({ consoleSocketFd: 9, preserveFds: 2, noNewKeyring: true })).plan.ops;
    expect(ops[0]).toEqual({ op: "cloexecFrom", from: 5 });
    expect(ops[1]).toEqual({ op: "inheritFds", from: 3, to: 5 });
    expect(ops).toContainEqual({ op: "console", socketFd: 9, ptmxPath: "/dev/ptmx", rows: 0, cols: 0 });
    expect(kinds(ops)).not.toContain("setsid");
    expect(kinds(ops)).not.toContain("joinSessionKeyring");
  });

  it("sizes the console from the process's consoleSize, not the container's", () => {
    const input = execInput({ consoleSocketFd: 9 }, (c) => (c.process.consoleSize = { height: 1, width: 2 }));
    input.process = { ...input.process, consoleSize: { height: 44, width: 122 } };
    expect(buildExecPlan(input).plan.ops).toContainEqual({ op: "console", socketFd: 9, ptmxPath: "/dev/ptmx", rows: 44, cols: 122 });
  });

  it("runs a hook's exact path, argv and env with its stdio from files", () => {
    const ops = buildExecPlan(execInput({ stdio: [10, 11, 12], path: "/bin/hook", process: { args: ["hook", "x"], env: ["A=1"], cwd: "/" } })).plan.ops;
    expect(ops.filter((o) => o.op === "dup2")).toEqual([
      { op: "dup2", from: 10, to: 0 },
      { op: "dup2", from: 11, to: 1 },
      { op: "dup2", from: 12, to: 2 },
    ]);
    expect(ops.at(-1)).toEqual({ op: "exec", candidates: ["/bin/hook"], argv: ["hook", "x"], envp: ["A=1"] });
  });
});

describe("the createContainer hook plan and the hooks sync point", () => {
  it("joins the container, takes its stdio, runs from the rootfs", () => {
    const b = buildHookPlan({ spec: config(), initPid: 77, path: "/usr/bin/h", args: ["h"], env: ["E=1"], cwd: "/rootfs", stdio: [3, 4, 5] });
    const k = kinds(b.plan.ops);
    expect(k.slice(0, 1)).toEqual(["cloexecFrom"]);
    expect(k.filter((x) => x === "setns")).toHaveLength(5);
    expect(b.plan.ops).toContainEqual({ op: "chdir", path: "/rootfs" });
    expect(b.plan.ops.at(-1)).toEqual({ op: "exec", candidates: ["/usr/bin/h"], argv: ["h"], envp: ["E=1"] });
    expect(k).not.toContain("capset");
  });

  it("stops at SYNC_HOOKS after the mounts, just before pivot_root, only when there are create hooks", () => {
    const input = (createHooks: boolean) => ({ ...planInput(), spec: config(), createHooks });
    const ops = buildPlan(input(true)).plan.ops;
    const hooks = ops.findIndex((o) => o.op === "sync" && o.tag === SYNC_HOOKS);
    expect(ops[hooks + 1]).toMatchObject({ op: "pivotRoot" });
    // After the rootfs's mounts and devices (the /dev symlinks come last).
    expect(hooks).toBeGreaterThan(ops.findLastIndex((o) => o.op === "symlink"));
    expect(hooks).toBeGreaterThan(ops.findIndex((o) => o.op === "mount" && o.fstype === "proc"));
    expect(buildPlan(input(false)).plan.ops.some((o) => o.op === "sync" && o.tag === SYNC_HOOKS)).toBe(false);
  });
});

describe("the environment", () => {
  it("keeps a name's first place and its last value, as runc's init (Go's Setenv)", () => {
    expect(mergeEnv(["PATH=/bin", "A=1", "PATH=/usr/bin", "B=2", "A=3"])).toEqual(["PATH=/usr/bin", "A=3", "B=2"]);
  });
});
