// The runtime-spec's POSIX hooks (config.md "POSIX-platform Hooks", runtime.md "Lifecycle"). Each
// gets the container's state on stdin, its args and env, and is killed past its timeout.
//
//   prestart, createRuntime   create, mounts done, before pivot_root    runtime namespaces (here)
//   createContainer           same point                               the container's namespaces
//   startContainer            start, before the user's program          the container's namespaces
//   poststart                 start, after the user's program exec'd    runtime namespaces (here)
//   poststop                  delete, after the container is gone      runtime namespaces (here)
//
// Runtime-namespace hooks are children of this process (node:child_process). The others are
// processes the addon starts into the container's namespaces and cgroup (plan.ts: buildHookPlan,
// buildExecPlan), with their stdio from files: the state in, the output out.
import { spawnSync } from "node:child_process";
import { closeSync, fstatSync, openSync, readSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Native } from "../native/types.ts";
import { loadCgroupManager, type CgroupManager } from "../cgroups/index.ts";
import { SPEC_VERSION } from "../cli/version.ts";
import { errnoMessage } from "./errno.ts";
import { InitOpError, reap, spawnJoined, waitFor, withNamespaceFds } from "./initproc.ts";
import { SIGNALS } from "./linux.ts";
import type { Logger } from "./log.ts";
import { buildExecPlan, buildHookPlan, processEnv, type BuiltPlan } from "./plan.ts";
import type { ContainerState } from "./state.ts";
import { type Hook, type HookName, hookArgv, hooksOf } from "./hook-config.ts";

/** The runtime-spec state a hook reads on stdin, in runc's field order (specs.State); the pid is
 * the host's and is left out once the container is stopped. */
export function hookState(c: { id: string; bundle: string; annotations?: Record<string, string> }, status: string, pid: number): string {
  const s: Record<string, unknown> = { ociVersion: SPEC_VERSION, id: c.id, status };
  if (pid > 0 && status !== "stopped") s.pid = pid;
  s.bundle = c.bundle;
  if (c.annotations && Object.keys(c.annotations).length) s.annotations = c.annotations;
  return JSON.stringify(s);
}

export class HookError extends Error {
  constructor(
    readonly hook: HookName,
    readonly index: number,
    reason: string,
  ) {
    super(`error running ${hook} hook #${index}: ${reason}`);
  }
}

const timeoutMessage = (seconds: number) => `hook ran past specified timeout of ${seconds.toFixed(1)}s`;
const failure = (how: string, stdout: string, stderr: string) => `${how}, stdout: ${stdout}, stderr: ${stderr}`;

/** Run hooks in the runtime's namespaces, in order; the first failure throws a HookError. */
export function runRuntimeHooks(name: HookName, hooks: Hook[], state: string): void {
  hooks.forEach((h, i) => {
    const reason = runHostHook(h, state);
    if (reason !== null) throw new HookError(name, i, reason);
  });
}

/** One hook as a child of this process: null when it succeeded, else why it failed (runc's words). */
function runHostHook(h: Hook, state: string): string | null {
  const argv = hookArgv(h);
  // Without env the hook inherits ours (Go's exec.Cmd with a nil Env); with it, exactly that.
  let env: NodeJS.ProcessEnv | undefined;
  if (h.env) {
    env = {};
    for (const e of h.env) {
      const eq = e.indexOf("=");
      if (eq > 0) env[e.slice(0, eq)] = e.slice(eq + 1);
    }
  }
  const r = spawnSync(h.path, argv.slice(1), {
    argv0: argv[0],
    env,
    input: state,
    stdio: "pipe",
    timeout: h.timeout ? h.timeout * 1000 : undefined,
    killSignal: "SIGKILL",
    maxBuffer: 64 << 20,
  });
  const stdout = r.stdout?.toString() ?? "";
  const stderr = r.stderr?.toString() ?? "";
  const code = (r.error as NodeJS.ErrnoException | undefined)?.code;
  if (code === "ETIMEDOUT") return timeoutMessage(h.timeout!);
  // A hook that exits without reading its stdin is fine.
  if (r.error && code !== "EPIPE") {
    if (r.pid === 0 || r.pid === undefined) return `fork/exec ${h.path}: ${errnoMessage(r.error)}`;
    return failure(r.error.message, stdout, stderr);
  }
  if (r.signal) return failure(`signal: ${r.signal}`, stdout, stderr);
  if (r.status !== 0) return failure(`exit status ${r.status}`, stdout, stderr);
  return null;
}

export interface ContainerHookContext {
  native: Native;
  /** The container's config and init: the hooks join its namespaces. */
  spec: Record<string, any>;
  initPid: number;
  /** A directory of the runtime's for the hooks' stdio files (the container's state directory). */
  dir: string;
  /** The plan of a hook's process: its stdio from the given fds, the init's namespaces opened. */
  plan(hook: Hook, stdio: [number, number, number], nsFds: Record<string, number>): BuiltPlan;
  /** Put the hook's process in the container's cgroup (at its first sync point). */
  setup(pid: number): void;
}

/** Run hooks in the container's namespaces, in order; the first failure throws a HookError. */
export function runContainerHooks(name: HookName, hooks: Hook[], state: string, ctx: ContainerHookContext): void {
  hooks.forEach((h, i) => {
    const reason = runJoinedHook(h, state, ctx, `${name}-${i}`);
    if (reason !== null) throw new HookError(name, i, reason);
  });
}

/** A file of ours opened and already unlinked: nothing is left behind whatever happens. */
function scratchFile(path: string, content: string | null): number {
  writeFileSync(path, content ?? "", { mode: 0o600 });
  try {
    return openSync(path, content === null ? "r+" : "r");
  } finally {
    unlinkSync(path);
  }
}

function runJoinedHook(h: Hook, state: string, ctx: ContainerHookContext, tag: string): string | null {
  const { native } = ctx;
  const base = join(ctx.dir, `.hook-${process.pid}-${tag}`);
  const fds: number[] = [];
  try {
    fds.push(scratchFile(base + ".in", state), scratchFile(base + ".out", null), scratchFile(base + ".err", null));
    let joined;
    try {
      joined = withNamespaceFds(ctx.spec, ctx.initPid, (nsFds) => spawnJoined(native, ctx.plan(h, [fds[0]!, fds[1]!, fds[2]!], nsFds), ctx.setup));
    } catch (e) {
      if (e instanceof InitOpError && (e.op?.op === "exec" || e.op?.op === "checkExec")) return `fork/exec ${h.path}: ${errnoMessage(e.errno)}`;
      throw e;
    }
    let st = waitFor(native, joined.pid, h.timeout ? h.timeout * 1000 : Infinity);
    if (st === null) {
      try {
        native.pidfdSendSignal(joined.pidfd, 9);
      } catch {}
      st = reap(native, joined.pid);
      native.close(joined.pidfd);
      return timeoutMessage(h.timeout!);
    }
    native.close(joined.pidfd);
    const out = () => readAll(fds[1]!);
    const err = () => readAll(fds[2]!);
    if (st.signal !== null) return failure(`signal: ${signalName(st.signal)}`, out(), err());
    if (st.code !== 0) return failure(`exit status ${st.code}`, out(), err());
    return null;
  } finally {
    for (const fd of fds) closeSync(fd);
  }
}

/** The whole file behind fd (its offset is shared with the hook, so read from 0). */
function readAll(fd: number): string {
  const buf = Buffer.alloc(Math.min(fstatSync(fd).size, 64 << 20));
  let n = 0;
  while (n < buf.length) {
    const k = readSync(fd, buf, n, buf.length - n, n);
    if (k === 0) break;
    n += k;
  }
  return buf.toString("utf8", 0, n);
}

function signalName(n: number): string {
  return Object.entries(SIGNALS).find(([, v]) => v === n)?.[0] ?? String(n);
}

// ---------------------------------------------------------------- the lifecycle's hook points

/** prestart and createRuntime here, then createContainer in the container: the init (host pid
 * `pid`) is stopped at SYNC_HOOKS, its mounts done, before pivot_root. */
export function runCreateHooks(native: Native, state: ContainerState, pid: number, cgroup: CgroupManager | undefined, dir: string): void {
  const spec = state.config;
  const st = hookState(state, "creating", pid);
  runRuntimeHooks("prestart", hooksOf(spec, "prestart"), st);
  runRuntimeHooks("createRuntime", hooksOf(spec, "createRuntime"), st);
  const hooks = hooksOf(spec, "createContainer");
  if (!hooks.length) return;
  const env = processEnv(spec.process ?? {}, state.rootfs);
  runContainerHooks("createContainer", hooks, st, {
    native,
    spec,
    initPid: pid,
    dir,
    // As root in the container's namespaces, from the rootfs (not pivoted yet: the path resolves
    // as on the host).
    plan: (h, stdio, nsFds) => buildHookPlan({ spec, initPid: pid, nsFds, path: h.path, args: hookArgv(h), env: h.env ?? env, cwd: state.rootfs, stdio }),
    setup: (p) => cgroup?.apply(p),
  });
}

/** startContainer, in the container, just before the init (waiting for `start`, or at its last
 * sync point for `run`) execs the user's program. The hook runs as that program will: its user,
 * capabilities, no_new_privs, rlimits and cwd, with its environment unless the hook has one. */
export function runStartContainerHooks(native: Native, state: ContainerState, dir: string, log?: Logger): void {
  const spec = state.config;
  const hooks = hooksOf(spec, "startContainer");
  if (!hooks.length) return;
  const proc = spec.process ?? {};
  const env = processEnv(proc, state.rootfs);
  runContainerHooks("startContainer", hooks, hookState(state, "created", state.pid), {
    native,
    spec,
    initPid: state.pid,
    dir,
    plan: (h, stdio, nsFds) =>
      buildExecPlan({
        spec,
        process: { ...proc, terminal: false, args: hookArgv(h), env: h.env ?? env },
        containerId: state.id,
        rootfs: state.rootfs,
        initPid: state.pid,
        nsFds,
        consoleSocketFd: null,
        preserveFds: 0,
        rootless: state.rootless,
        noNewKeyring: state.noNewKeyring ?? false,
        stdio,
        path: h.path,
        warn: log ? (m) => log.warn(m) : undefined,
      }),
    setup: (p) => {
      if (state.cgroup) loadCgroupManager(state.cgroup).apply(p);
    },
  });
}

/** poststart, here, once the user's program runs (pid). */
export function runPoststartHooks(state: ContainerState, pid: number): void {
  runRuntimeHooks("poststart", hooksOf(state.config, "poststart"), hookState(state, "running", pid));
}

/** poststop, here, once the container is gone. A failure is only a warning (runtime.md, step 13),
 * and the hooks after it still run. */
export function runPoststopHooks(state: ContainerState, log: Logger): void {
  const st = hookState(state, "stopped", 0);
  hooksOf(state.config, "poststop").forEach((h, i) => {
    try {
      runRuntimeHooks("poststop", [h], st);
    } catch (e) {
      log.warn((e as Error).message.replace("hook #0", `hook #${i}`));
    }
  });
}
