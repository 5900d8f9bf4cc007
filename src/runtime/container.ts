// The container lifecycle, as runc has it: create (the init waits at exec.fifo), start, state, kill,
// delete. This is the library the CLI, the shim and the manager call; it never prints.
import { closeSync, existsSync, openSync, readSync, rmdirSync, unlinkSync, constants as fsc } from "node:fs";
import type { Native } from "../native/types.ts";
import { native as realNative } from "../native/index.ts";
import { processStartTime, StateStore, statusOf, type ContainerState, type Status } from "./state.ts";
import { silentLogger, type Logger } from "./log.ts";
import { fdStream, loadCgroupManager, newCgroupManager } from "../cgroups/index.ts";
import { parseSignal } from "./linux.ts";
import { exeOf, exitCode, waitForExec } from "./initproc.ts";
import { hasHooks } from "./hook-config.ts";
import { nativeDeviceFilter } from "./devicefilter.ts";
import { inUserNamespace } from "./userns.ts";

// create (create.ts) and the hook runner (hooks.ts) are imported when used: with the validator, the
// plan builder and the seccomp compiler behind them they are most of tsrunc's code.

export interface RuntimeOptions {
  root: string;
  log?: Logger;
  systemdCgroup?: boolean;
  /** runc's --rootless: "true", "false" or "auto". */
  rootless?: string;
  /** The native boundary; tests pass a fake. Loaded lazily otherwise. */
  native?: Native;
}

export interface CreateOptions {
  bundle: string;
  pidFile?: string;
  consoleSocket?: string;
  noPivot?: boolean;
  noNewKeyring?: boolean;
  preserveFds?: number;
  /** For `run` in the foreground with a terminal: the runtime receives the pty master itself. */
  receiveConsole?: boolean;
  /** With receiveConsole, for a process with a terminal: called before anything is created (a throw
   * fails create). */
  beforeConsole?: () => void;
  /** Wait at exec.fifo for `start` (create); false runs the process at once (run). */
  waitForStart?: boolean;
  /** Fds of this process to be the container process's 0, 1 and 2 (the shim's pipes); absent: the
   * caller's own are inherited, as with runc. */
  stdio?: readonly [number, number, number];
}

export interface Created {
  state: ContainerState;
  /** pidfd of the init, valid only in the process that created it. */
  pidfd: number;
  /** The pty master, when receiveConsole was asked for. */
  consoleMaster?: number;
}

/** The runtime-spec state, as `tsrunc state` prints it (runc's field order). */
export interface OciState {
  ociVersion: string;
  id: string;
  pid: number;
  status: Status;
  bundle: string;
  rootfs: string;
  created: string;
  owner: string;
  annotations?: Record<string, string>;
}

const OCI_VERSION = "1.3.0";

export class Runtime {
  readonly store: StateStore;
  readonly log: Logger;
  private nativeImpl?: Native;

  constructor(readonly opts: RuntimeOptions) {
    this.log = opts.log ?? silentLogger;
    this.nativeImpl = opts.native;
    this.store = new StateStore(opts.root, () => this.native);
  }

  /** What a cgroup manager that writes resources needs from the runtime: the v2 device filter
   * (eBPF through the addon, loaded only when a v2 manager sets device rules), and for the systemd
   * driver a way to systemd's sockets (connected and polled by the addon). */
  readonly cgroupOptions = {
    deviceFilter: nativeDeviceFilter(() => this.native, (m) => this.log.warn(m)),
    systemdBus: { openUnix: (path: string) => fdStream(this.native.connectUnix(path), (fd, ev, ms) => this.native.poll(fd, ev, ms)) },
    warn: (m: string) => this.log.warn(m),
  };

  /** The addon itself loads on first use: commands like `state` or `list` never pay for it. */
  get native(): Native {
    return (this.nativeImpl ??= realNative);
  }

  /** runc's --rootless: the flag, or "auto": an unprivileged user, or root in a user namespace
   * (rootless podman) with cgroupfs; with systemd, runc asks systemd who owns it and takes root
   * when it cannot tell, as here. */
  get rootless(): boolean {
    const r = this.opts.rootless ?? "auto";
    if (r === "true") return true;
    if (r === "false") return false;
    if (this.rootlessEUID) return true;
    return !this.opts.systemdCgroup && inUserNamespace();
  }

  /** runc's RootlessEUID: the runtime is not root where it runs. What the kernel then refuses (ids
   * outside a user namespace, setgroups, maps of a non-dumpable child) follows from it; root in a
   * user namespace is root there. */
  get rootlessEUID(): boolean {
    return process.geteuid?.() !== 0;
  }

  // ---------------------------------------------------------------- create

  async create(id: string, o: CreateOptions): Promise<Created> {
    const { Creator } = await import("./create.ts");
    return new Creator(this).create(id, o);
  }

  // ---------------------------------------------------------------- start

  /** Release a created container's init (runc's exec.fifo hand-off). */
  async start(id: string): Promise<ContainerState> {
    const poststart = { exe: null as string | null };
    let hooks: typeof import("./hooks.ts") | undefined;
    const s = await this.store.withLockAsync(id, async () => {
      const state = this.store.load(id);
      const status = this.statusOfState(id, state);
      if (status === "stopped") throw new Error("cannot start a container that has stopped");
      if (status !== "created") throw new Error("cannot start an already running container");
      const s = state!;
      if (hasHooks(s.config, "startContainer", "poststart")) hooks = await import("./hooks.ts");
      try {
        hooks?.runStartContainerHooks(this.native, s, this.store.dir(id), this.log);
        if (hasHooks(s.config, "poststart")) poststart.exe = exeOf(s.pid);
        this.releaseFifo(id);
      } catch (e) {
        // runtime.md: a failed startContainer hook stops the container.
        if (hasHooks(s.config, "startContainer")) this.stopAfterHookFailure(s);
        throw e;
      }
      return s;
    });
    // poststart, once the program runs, without the lock: a hook may call tsrunc on the container.
    if (hooks && hasHooks(s.config, "poststart")) {
      waitForExec(s.pid, s.pidStartTime, poststart.exe);
      try {
        hooks.runPoststartHooks(s, s.pid);
      } catch (e) {
        this.stopAfterHookFailure(s);
        throw e;
      }
    }
    return s;
  }

  private stopAfterHookFailure(state: ContainerState): void {
    try {
      this.signalInit(state, 9);
    } catch {}
    try {
      if (state.cgroup) loadCgroupManager(state.cgroup).killAll(9);
    } catch {}
  }

  private releaseFifo(id: string): void {
    const fifo = this.store.fifo(id);
    // The init is blocked opening the fifo for writing; opening it for reading lets it go on.
    const fd = openSync(fifo, fsc.O_RDONLY);
    try {
      const buf = Buffer.alloc(1);
      const n = readSync(fd, buf, 0, 1, null);
      if (n !== 1) throw new Error("cannot start a container that has stopped");
    } finally {
      closeSync(fd);
      try {
        unlinkSync(fifo);
      } catch {}
    }
  }

  // ---------------------------------------------------------------- state

  statusOfState(id: string, state: ContainerState | null): Status {
    return statusOf(state, existsSync(this.store.fifo(id)), () => {
      if (!state?.cgroup) return false;
      try {
        return loadCgroupManager(state.cgroup).state() === "frozen";
      } catch {
        return false;
      }
    });
  }

  state(id: string): OciState {
    const s = this.store.load(id);
    if (!s) throw new Error("container does not exist");
    const status = this.statusOfState(id, s);
    const out: OciState = {
      ociVersion: OCI_VERSION,
      id: s.id,
      pid: status === "stopped" ? 0 : s.pid,
      status,
      bundle: s.bundle,
      rootfs: s.rootfs,
      created: s.created,
      owner: s.owner,
    };
    if (s.annotations && Object.keys(s.annotations).length) out.annotations = s.annotations;
    return out;
  }

  list(): OciState[] {
    const out: OciState[] = [];
    for (const id of this.store.list()) {
      try {
        out.push(this.state(id));
      } catch {
        // a container being deleted or half-created: runc skips those too
      }
    }
    return out;
  }

  // ---------------------------------------------------------------- kill

  kill(id: string, signal: string | number = "SIGTERM", all = false): void {
    const sig = typeof signal === "number" ? signal : parseSignal(signal);
    this.store.withLock(id, () => {
      const state = this.store.load(id);
      const status = this.statusOfState(id, state);
      if (all && state?.cgroup) {
        // As runc: --all signals whatever is in the cgroup, even after the init is gone.
        const cg = loadCgroupManager(state.cgroup);
        if (status === "stopped" && !cg.exists()) return;
        cg.killAll(sig);
        return;
      }
      if (status === "stopped") throw new Error("container not running");
      this.signalInit(state!, sig);
    });
  }

  private signalInit(state: ContainerState, sig: number): void {
    const native = this.native;
    let fd: number;
    try {
      fd = native.pidfdOpen(state.pid);
    } catch {
      throw new Error("container not running");
    }
    try {
      // The pidfd pins the process: if its start time still matches, the signal goes to our init.
      if (processStartTime(state.pid) !== state.pidStartTime) throw new Error("container not running");
      native.pidfdSendSignal(fd, sig);
    } finally {
      native.close(fd);
    }
  }

  // ---------------------------------------------------------------- delete

  async delete(id: string, force = false): Promise<void> {
    try {
      await this.store.withLockAsync(id, async () => {
        const state = this.store.load(id);
        if (state === null) {
          // A create that died before writing anything: only the directory is left.
          this.store.remove(id);
          return;
        }
        const status = this.statusOfState(id, state);
        if ((status === "running" || status === "paused") && !force)
          throw new Error(`cannot delete container ${id} that is not stopped: ${status}`);
        if (status !== "stopped") await this.killAndWait(state);
        await this.destroy(state);
      });
    } catch (e) {
      // runc: deleting what does not exist is fine with --force.
      if (force && (e as Error).message === "container does not exist") return;
      throw e;
    }
  }

  private async killAndWait(state: ContainerState): Promise<void> {
    const cg = state.cgroup ? loadCgroupManager(state.cgroup) : undefined;
    if (cg?.state() === "frozen") cg.thaw();
    try {
      this.signalInit(state, 9);
    } catch {
      return;
    }
    // Not our child: poll until it is gone (runc waits up to 10 s too).
    for (let i = 0; i < 10000; i++) {
      if (processStartTime(state.pid) !== state.pidStartTime) return;
      await new Promise((r) => setTimeout(r, 1));
    }
    throw new Error(`container init ${state.pid} did not exit after SIGKILL`);
  }

  /** Remove everything the container had: its processes, cgroups and state. */
  async destroy(state: ContainerState): Promise<void> {
    if (state.cgroup) {
      const cg = loadCgroupManager(state.cgroup, this.cgroupOptions);
      const killAll = () => {
        try {
          cg.killAll(9);
        } catch {}
      };
      // As runc: with a pid namespace of its own, the container's processes died with its init (the
      // kernel kills the namespace), so the freeze, kill and thaw are skipped unless one lingers.
      const ownPidNs = ((state.config.linux?.namespaces ?? []) as { type: string; path?: string }[]).some((n) => n.type === "pid" && !n.path);
      if (!ownPidNs) killAll();
      try {
        cg.destroy();
      } catch (e) {
        if (!ownPidNs) throw e;
        killAll();
        cg.destroy();
      }
    } else {
      // A create that died before recording its cgroup may still have made the container's own
      // directories: remove those (only if empty, as rmdir does); parents stay, as with runc.
      try {
        const paths = newCgroupManager({ containerId: state.id, cgroupsPath: state.config.linux?.cgroupsPath, systemd: state.systemdCgroup }).paths;
        for (const p of Object.values(paths)) {
          try {
            rmdirSync(p);
          } catch {}
        }
      } catch {}
    }
    this.store.remove(state.id);
    if (hasHooks(state.config, "poststop")) (await import("./hooks.ts")).runPoststopHooks(state, this.log);
  }

  // ---------------------------------------------------------------- run

  /** Foreground run: create, start at once, wait for the exit. Returns runc's exit code. */
  async waitExit(created: Created): Promise<number> {
    const st = await this.native.waitPidfd(created.pidfd);
    this.native.close(created.pidfd);
    return exitCode(st);
  }
}

