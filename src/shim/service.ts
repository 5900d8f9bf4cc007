// containerd's task service (containerd.task.v2.Task) over the runtime library, in process: the
// shim is the parent of every container init and exec'd process it starts, so it waits on their
// pidfds, knows their exit status first-hand, and owns their stdio. Behaviour follows containerd's
// runc shim (io.containerd.runc.v2), including its error codes, which containerd maps back to its
// errdefs (not found, already exists, failed precondition).
import { Runtime } from "../runtime/container.ts";
import type { Native } from "../native/types.ts";
import type { Logger } from "../runtime/log.ts";
import { StdioError, TaskIo, type StdioPaths } from "./stdio.ts";
import { mountRootfs, unmountAll, type RootfsMount } from "./rootfs.ts";
import { validateId } from "../runtime/state.ts";
import { Reaper } from "./reaper.ts";
import { loadCgroupManager } from "../cgroups/index.ts";
import type { CgroupManager } from "../cgroups/types.ts";
import { runtimeRoot, saveOptions, type RuntimeOptions } from "./options.ts";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { exitCode } from "../runtime/initproc.ts";
import { TaskStatus } from "./messages.ts";
import { timestampFromDate, type Any } from "./protobuf.ts";
// Errors carry the gRPC status containerd maps back to its errdefs (not found, already exists…).
import { Code, TtrpcError } from "./ttrpc.ts";

/** An event for containerd: its topic ("/tasks/exit") and message name ("TaskExit") with fields. */
export interface ShimEvent {
  topic: string;
  type: string;
  event: Record<string, unknown>;
}

export interface ServiceOptions {
  namespace: string;
  native: Native;
  log: Logger;
  publish: (e: ShimEvent) => void;
  /** Called once Shutdown was answered and the shim may exit. */
  onShutdown: () => void;
}

type ProcStatus = "created" | "running" | "stopped";

class Proc {
  pid = 0;
  status: ProcStatus = "created";
  exitStatus = 0;
  exitedAt: Date | undefined;
  readonly exited: Promise<void>;
  private markExited!: () => void;
  constructor(
    readonly execId: string,
    /** Its stdio: an exec's is opened by Start, as runc's shim does (a failed start leaves the
     * client's fifos unopened, so the client stops waiting for their output). */
    public io: TaskIo | undefined,
    readonly paths: StdioPaths,
    /** The process of an exec, as containerd sent it (runtime-spec JSON). */
    readonly spec?: Record<string, unknown>,
  ) {
    this.exited = new Promise((r) => (this.markExited = r));
  }
  exit(status: number): void {
    this.status = "stopped";
    this.exitStatus = status;
    this.exitedAt = new Date();
    this.markExited();
  }
}

/** OOM kills in a container's memory cgroup, as TaskOOM events. runc's shim waits on an eventfd
 * (v1) or inotify (v2); the counter is read here, every 250 ms and once more before the init's exit
 * is published, so that a client hears of the OOM kill before the exit it caused. */
class OomWatch {
  private kills: number;
  private readonly timer: ReturnType<typeof setInterval>;
  constructor(private readonly cg: CgroupManager, private readonly report: () => void) {
    this.kills = this.count();
    this.timer = setInterval(() => this.check(), 250);
    this.timer.unref?.();
  }
  private count(): number {
    try {
      return this.cg.oomKillCount();
    } catch {
      return this.kills;
    }
  }
  check(): void {
    const now = this.count();
    if (now > this.kills) this.report();
    this.kills = Math.max(this.kills, now);
  }
  stop(): void {
    clearInterval(this.timer);
  }
}

class Task {
  readonly execs = new Map<string, Proc>();
  oom: OomWatch | undefined;
  constructor(
    readonly id: string,
    readonly bundle: string,
    readonly rt: Runtime,
    readonly init: Proc,
    readonly rootfsMounted: string | undefined,
  ) {}
}

function timestamp(d: Date | undefined) {
  return d ? timestampFromDate(d) : undefined;
}

const notFound = (what: string) => new TtrpcError(Code.NOT_FOUND, `${what}: not found`);

/** A runtime failure in the words containerd's runc shim wraps runc's in (with the CLI's prefix
 * for create and exec), so clients print what they print with runc. */
function runtimeError(e: unknown, what: string): Error {
  if (e instanceof TtrpcError || e instanceof StdioError) return e;
  return new Error(`${what}: ${(e as Error).message}`);
}

export class TaskService {
  private readonly tasks = new Map<string, Task>();
  private readonly reaper: Reaper;

  constructor(private readonly o: ServiceOptions) {
    this.reaper = new Reaper(o.native);
  }

  /** Run a request that calls the runtime: orphans are not reaped meanwhile (reaper.ts). */
  hold<T>(fn: () => Promise<T> | T): Promise<T> {
    return this.reaper.hold(fn);
  }

  private runtime(opts: RuntimeOptions): Runtime {
    return new Runtime({ root: runtimeRoot(this.o.namespace, opts), log: this.o.log, systemdCgroup: opts.systemd_cgroup === true, native: this.o.native });
  }

  /** The runtime serving task `id` (its --root), for readers outside the service (Stats). */
  runtimeOf(id: string): Runtime {
    return this.task(id).rt;
  }

  private task(id: string): Task {
    const t = this.tasks.get(id);
    if (!t) throw notFound(`container ${id}`);
    return t;
  }

  private proc(t: Task, execId: string): Proc {
    if (!execId) return t.init;
    const p = t.execs.get(execId);
    if (!p) throw notFound(`process ${execId}`);
    return p;
  }

  /** Wait on a process we started (its pidfd is not needed: it stays our child until reaped); its
   * exit is recorded and published. */
  private watch(t: Task, p: Proc, pidfd: number): void {
    const native = this.o.native;
    native.close(pidfd);
    void this.reaper.wait(p.pid).then(
      async (st) => {
        const code = exitCode(st);
        if (p === t.init) {
          // Without a pid namespace of its own nothing kills the rest with the init: the shim does.
          const ns = ((t.rt.store.load(t.id)?.config.linux?.namespaces ?? []) as { type: string; path?: string }[]);
          if (!ns.some((n) => n.type === "pid" && !n.path)) {
            try {
              t.rt.kill(t.id, 9, true);
            } catch {}
          }
        }
        // The output the process left reaches the fifos before anyone hears of the exit.
        await p.io?.drained(2000);
        t.oom?.check();
        if (p === t.init) {
          t.oom?.stop();
          t.oom = undefined;
        }
        p.exit(code);
        this.o.publish({
          topic: "/tasks/exit",
          type: "TaskExit",
          event: { container_id: t.id, id: p.execId || t.id, pid: p.pid, exit_status: code, exited_at: timestamp(p.exitedAt) },
        });
      },
      (e) => this.o.log.error(`waiting for pid ${p.pid}: ${(e as Error).message}`),
    );
  }

  // ------------------------------------------------------------------------------------ create

  async create(r: {
    id: string;
    bundle: string;
    rootfs: RootfsMount[];
    terminal: boolean;
    stdin: string;
    stdout: string;
    stderr: string;
    checkpoint: string;
    options?: RuntimeOptions;
  }): Promise<{ pid: number }> {
    if (r.checkpoint) throw new TtrpcError(Code.UNIMPLEMENTED, "tsrunc cannot restore a checkpoint: checkpoint/restore is not supported");
    try {
      validateId(r.id);
    } catch (e) {
      throw new TtrpcError(Code.INVALID_ARGUMENT, (e as Error).message);
    }
    if (this.tasks.has(r.id)) throw new TtrpcError(Code.ALREADY_EXISTS, `container ${r.id}: already exists`);
    const native = this.o.native;
    const opts = r.options ?? {};
    const rt = this.runtime(opts);
    const paths: StdioPaths = { stdin: r.stdin, stdout: r.stdout, stderr: r.stderr, terminal: r.terminal };
    let mounted: string | undefined;
    let io: TaskIo | undefined;
    try {
      saveOptions(r.bundle, opts);
      if (r.rootfs.length) mounted = mountRootfs(native, r.bundle, r.rootfs);
      io = new TaskIo(native, paths);
      const created = await rt.create(r.id, {
        bundle: r.bundle,
        noPivot: opts.no_pivot_root === true,
        noNewKeyring: opts.no_new_keyring === true,
        receiveConsole: true,
        waitForStart: true,
        stdio: io.childFds,
      });
      io.releaseChildFds();
      if (created.consoleMaster !== undefined) io.attachConsole(created.consoleMaster);
      const init = new Proc("", io, paths);
      init.pid = created.state.pid;
      writeFileSync(join(r.bundle, "init.pid"), String(init.pid));
      const t = new Task(r.id, r.bundle, rt, init, mounted);
      this.tasks.set(r.id, t);
      this.watch(t, init, created.pidfd);
      if (created.state.cgroup) {
        t.oom = new OomWatch(loadCgroupManager(created.state.cgroup), () =>
          this.o.publish({ topic: "/tasks/oom", type: "TaskOOM", event: { container_id: r.id } }),
        );
      }
      this.o.publish({
        topic: "/tasks/create",
        type: "TaskCreate",
        event: {
          container_id: r.id,
          bundle: r.bundle,
          rootfs: r.rootfs,
          io: { stdin: r.stdin, stdout: r.stdout, stderr: r.stderr, terminal: r.terminal },
          checkpoint: "",
          pid: init.pid,
        },
      });
      return { pid: init.pid };
    } catch (e) {
      void io?.close();
      if (mounted) unmountAll(native, mounted);
      throw runtimeError(e, "OCI runtime create failed: tsrunc create failed");
    }
  }

  // ------------------------------------------------------------------------------------- start

  async start(r: { id: string; exec_id: string }): Promise<{ pid: number }> {
    const t = this.task(r.id);
    const p = this.proc(t, r.exec_id);
    if (p.status !== "created") throw new TtrpcError(Code.FAILED_PRECONDITION, `process ${r.exec_id || r.id} is ${p.status === "running" ? "already running" : "stopped"}`);
    if (p === t.init) {
      try {
        await t.rt.start(t.id);
      } catch (e) {
        throw runtimeError(e, "OCI runtime start failed");
      }
      p.status = "running";
      this.o.publish({ topic: "/tasks/start", type: "TaskStart", event: { container_id: t.id, pid: p.pid } });
      return { pid: p.pid };
    }
    const { execInContainer, execTarget } = await import("../runtime/exec.ts");
    const state = execTarget(t.rt, t.id);
    let execed;
    const io = new TaskIo(this.o.native, p.paths);
    try {
      execed = execInContainer(t.rt, state, { process: p.spec!, stdio: io.childFds });
    } catch (e) {
      await io.close();
      // Its Wait returns; it can be deleted.
      p.exit(255);
      throw runtimeError(e, "OCI runtime exec failed: exec failed");
    }
    p.io = io;
    io.releaseChildFds();
    if (execed.consoleMaster !== undefined) io.attachConsole(execed.consoleMaster);
    p.pid = execed.pid;
    p.status = "running";
    this.watch(t, p, execed.pidfd);
    this.o.publish({ topic: "/tasks/exec-started", type: "TaskExecStarted", event: { container_id: t.id, exec_id: p.execId, pid: p.pid } });
    return { pid: p.pid };
  }

  // -------------------------------------------------------------------------------------- exec

  async exec(r: { id: string; exec_id: string; terminal: boolean; stdin: string; stdout: string; stderr: string; spec?: Any }): Promise<void> {
    const t = this.task(r.id);
    if (!r.exec_id) throw new TtrpcError(Code.INVALID_ARGUMENT, "exec id must not be empty");
    if (t.execs.has(r.exec_id)) throw new TtrpcError(Code.ALREADY_EXISTS, `id ${r.exec_id}: already exists`);
    if (t.init.status === "stopped") throw new TtrpcError(Code.FAILED_PRECONDITION, "container must be created or running");
    if (!r.spec) throw new TtrpcError(Code.INVALID_ARGUMENT, "exec: no process spec");
    let spec: Record<string, unknown>;
    try {
      spec = JSON.parse(new TextDecoder().decode(r.spec.value));
    } catch (e) {
      throw new TtrpcError(Code.INVALID_ARGUMENT, `exec: the process spec is not JSON: ${(e as Error).message}`);
    }
    const state = t.rt.store.load(t.id);
    if (!state) throw notFound(`container ${t.id}`);
    const { checkProcess } = await import("../runtime/exec.ts");
    const { formatErrors } = await import("../spec/validate.ts");
    const { errors } = checkProcess(spec, state.config, state.bundle);
    if (errors.length) throw new TtrpcError(Code.INVALID_ARGUMENT, formatErrors(errors, "process"));
    const paths: StdioPaths = { stdin: r.stdin, stdout: r.stdout, stderr: r.stderr, terminal: r.terminal };
    t.execs.set(r.exec_id, new Proc(r.exec_id, undefined, paths, { ...spec, terminal: r.terminal }));
    this.o.publish({ topic: "/tasks/exec-added", type: "TaskExecAdded", event: { container_id: t.id, exec_id: r.exec_id } });
  }

  // ------------------------------------------------------------------------------ state & wait

  state(r: { id: string; exec_id: string }): Record<string, unknown> {
    const t = this.task(r.id);
    const p = this.proc(t, r.exec_id);
    let status: number = TaskStatus[p.status === "created" ? "CREATED" : p.status === "running" ? "RUNNING" : "STOPPED"];
    if (p.status !== "stopped") {
      try {
        if (t.rt.state(t.id).status === "paused") status = TaskStatus.PAUSED;
      } catch {}
    }
    return {
      id: p.execId || t.id,
      bundle: t.bundle,
      pid: p.pid,
      status,
      stdin: p.paths.stdin,
      stdout: p.paths.stdout,
      stderr: p.paths.stderr,
      terminal: p.paths.terminal,
      exit_status: p.exitStatus,
      exited_at: timestamp(p.exitedAt),
      exec_id: p.execId,
    };
  }

  async wait(r: { id: string; exec_id: string }): Promise<{ exit_status: number; exited_at?: { seconds: number; nanos: number } }> {
    const p = this.proc(this.task(r.id), r.exec_id);
    await p.exited;
    return { exit_status: p.exitStatus, exited_at: timestamp(p.exitedAt) };
  }

  // -------------------------------------------------------------------------------------- kill

  kill(r: { id: string; exec_id: string; signal: number; all: boolean }): void {
    const t = this.task(r.id);
    const p = this.proc(t, r.exec_id);
    if (p === t.init) {
      if (p.status === "stopped" && !r.all) throw notFound("process already finished");
      try {
        t.rt.kill(t.id, r.signal, r.all);
      } catch (e) {
        const m = (e as Error).message;
        if (m === "container not running") throw notFound("process already finished");
        throw e;
      }
      return;
    }
    if (p.status !== "running") throw notFound("process already finished");
    const native = this.o.native;
    const fd = native.pidfdOpen(p.pid);
    try {
      native.pidfdSendSignal(fd, r.signal);
    } finally {
      native.close(fd);
    }
  }

  // ------------------------------------------------------------------------------------ delete

  async delete(r: { id: string; exec_id: string }): Promise<{ pid: number; exit_status: number; exited_at?: { seconds: number; nanos: number } }> {
    const t = this.task(r.id);
    const p = this.proc(t, r.exec_id);
    if (p !== t.init) {
      if (p.status === "running") throw new TtrpcError(Code.FAILED_PRECONDITION, `cannot delete a running process ${p.execId}`);
      t.execs.delete(p.execId);
      await p.io?.close();
      return { pid: p.pid, exit_status: p.exitStatus, exited_at: timestamp(p.exitedAt) };
    }
    if (p.status === "running") throw new TtrpcError(Code.FAILED_PRECONDITION, `cannot delete a running container ${t.id}`);
    // A created init is killed by delete (runc's too); its exit is recorded by watch().
    await t.rt.delete(t.id, true);
    if (p.status !== "stopped") await Promise.race([p.exited, new Promise((res) => setTimeout(res, 5000))]);
    t.oom?.stop();
    await Promise.all([...t.execs.values(), p].map((e) => e.io?.close()));
    if (t.rootfsMounted) unmountAll(this.o.native, t.rootfsMounted);
    this.tasks.delete(t.id);
    const out = { pid: p.pid, exit_status: p.exitStatus, exited_at: timestamp(p.exitedAt) };
    this.o.publish({ topic: "/tasks/delete", type: "TaskDelete", event: { container_id: t.id, id: t.id, ...out } });
    return out;
  }

  // ------------------------------------------------------------------------ the other requests

  async pids(r: { id: string }): Promise<{ processes: { pid: number; info?: Any }[] }> {
    const t = this.task(r.id);
    const { containerPids } = await import("../runtime/ps.ts");
    return { processes: containerPids(t.rt, t.id).map((pid) => ({ pid })) };
  }

  async pause(r: { id: string }): Promise<void> {
    const t = this.task(r.id);
    (await import("../runtime/pause.ts")).pauseContainer(t.rt, t.id);
    this.o.publish({ topic: "/tasks/paused", type: "TaskPaused", event: { container_id: t.id } });
  }

  async resume(r: { id: string }): Promise<void> {
    const t = this.task(r.id);
    (await import("../runtime/pause.ts")).resumeContainer(t.rt, t.id);
    this.o.publish({ topic: "/tasks/resumed", type: "TaskResumed", event: { container_id: t.id } });
  }

  async closeIO(r: { id: string; exec_id: string; stdin: boolean }): Promise<void> {
    const p = this.proc(this.task(r.id), r.exec_id);
    if (r.stdin) await p.io?.closeStdin();
  }

  resizePty(r: { id: string; exec_id: string; width: number; height: number }): void {
    const p = this.proc(this.task(r.id), r.exec_id);
    try {
      if (!p.io) throw new Error(`process ${p.execId} has not started`);
      p.io.resize(r.width, r.height);
    } catch (e) {
      throw new TtrpcError(Code.FAILED_PRECONDITION, (e as Error).message);
    }
  }

  async update(r: { id: string; resources?: Any }): Promise<void> {
    const t = this.task(r.id);
    if (!r.resources) throw new TtrpcError(Code.INVALID_ARGUMENT, "update: no resources");
    const { parseJsonExact, parseResourcesUpdate, updateContainer } = await import("../runtime/update.ts");
    let patch;
    try {
      patch = parseResourcesUpdate(parseJsonExact(new TextDecoder().decode(r.resources.value)), (m) => this.o.log.warn(m));
    } catch (e) {
      throw new TtrpcError(Code.INVALID_ARGUMENT, (e as Error).message);
    }
    updateContainer(t.rt, t.id, patch);
  }

  connect(r: { id: string }): { shim_pid: number; task_pid: number; version: string } {
    const t = this.tasks.get(r.id);
    return { shim_pid: process.pid, task_pid: t?.init.pid ?? 0, version: "" };
  }

  /** Shutdown: the shim exits once it serves no container (or at once with `now`). */
  shutdown(r: { now: boolean }): void {
    if (this.tasks.size && !r.now) return;
    this.o.onShutdown();
  }

  /** What is left when the shim goes: containers' fds (processes keep running, as with runc's). */
  get taskCount(): number {
    return this.tasks.size;
  }
}
