// The container lifecycle, as runc has it: create (the init waits at exec.fifo), start, state, kill,
// delete. This is the library the CLI, the shim and the manager call; it never prints.
import { chmodSync, closeSync, existsSync, openSync, readSync, realpathSync, rmdirSync, statfsSync, unlinkSync, writeFileSync, constants as fsc } from "node:fs";
import { basename, isAbsolute, join, resolve } from "node:path";
import type { InitMessage, Native } from "../native/types.ts";
import { native as realNative } from "../native/index.ts";
import { buildPlan, type CgroupMountLayout, SYNC_DONE, SYNC_HOOKS, SYNC_READY, SYNC_SETUP, type BuiltPlan } from "./plan.ts";
import { nowRfc3339Nano, processStartTime, StateStore, statusOf, type ContainerState, type Status } from "./state.ts";
import { silentLogger, type Logger } from "./log.ts";
import { loadCgroupManager, newCgroupManager, type CgroupManager } from "../cgroups/index.ts";
import { parseSignal } from "./linux.ts";
import { errnoMessage } from "./errno.ts";
import { describeInitError, exeOf, waitForExec, writePidFile } from "./initproc.ts";
import { hasHooks, runCreateHooks, runPoststartHooks, runPoststopHooks, runStartContainerHooks } from "./hooks.ts";
import { loadBundleConfig } from "./config.ts";
import { effectiveResources } from "./devices.ts";
import { AttachPrimer } from "./attach-primer.ts";
import { mark } from "./timing.ts";
import { nativeDeviceFilter } from "./devicefilter.ts";

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
  /** Wait at exec.fifo for `start` (create); false runs the process at once (run). */
  waitForStart?: boolean;
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
const NSFS_MAGIC = 0x6e736673;

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
   * (eBPF through the addon, loaded only when a v2 manager sets device rules). */
  readonly cgroupOptions = { deviceFilter: nativeDeviceFilter(() => this.native, (m) => this.log.warn(m)) };

  /** The addon itself loads on first use: commands like `state` or `list` never pay for it. */
  get native(): Native {
    return (this.nativeImpl ??= realNative);
  }

  private get rootless(): boolean {
    const r = this.opts.rootless ?? "auto";
    if (r === "true") return true;
    if (r === "false") return false;
    return process.geteuid?.() !== 0;
  }

  // ---------------------------------------------------------------- create

  async create(id: string, o: CreateOptions): Promise<Created> {
    const bundle = resolve(o.bundle);
    const spec = loadBundleConfig(bundle, { requireProcess: true, rootless: this.rootless, systemdCgroup: this.opts.systemdCgroup, noPivotRoot: o.noPivot, log: this.log });
    if (!spec.process) throw new Error("process: a process is required to create a container");
    if (spec.process.terminal && !o.consoleSocket && !o.receiveConsole)
      throw new Error("cannot allocate tty if tsrunc will detach without setting console socket");
    if (!spec.process.terminal && o.consoleSocket)
      throw new Error("cannot use console socket if tsrunc will not allocate tty");
    const rootPath = spec.root?.path as string;
    let rootfs: string;
    try {
      rootfs = realpathSync(isAbsolute(rootPath) ? rootPath : join(bundle, rootPath));
    } catch {
      throw new Error(`invalid rootfs: ${rootPath}: no such file or directory`);
    }
    this.checkNamespacePaths(spec);
    mark("config read+validate");

    // Forked now, used once the cgroups exist: hides the kernel's attach latency (attach-primer.ts).
    const primer = new AttachPrimer(this.native);
    try {
      this.store.reserve(id);
      // Held until create returns: a racing delete or start waits for a complete container.
      return await this.store.withLockAsync(id, () => this.createLocked(id, o, bundle, spec, rootfs, primer));
    } finally {
      await primer.dispose();
    }
  }

  private async createLocked(id: string, o: CreateOptions, bundle: string, spec: Record<string, any>, rootfs: string, primer?: AttachPrimer): Promise<Created> {
    const native = this.native;
    let cgroup: CgroupManager | undefined;
    let pidfd = -1;
    let initPid = 0;
    const fdsToClose: number[] = [];
    const state: ContainerState = {
      id,
      bundle,
      rootfs,
      pid: 0,
      pidStartTime: 0,
      created: nowRfc3339Nano(),
      owner: "",
      annotations: spec.annotations,
      config: spec,
      rootless: this.rootless,
      systemdCgroup: this.opts.systemdCgroup ?? false,
      noNewKeyring: o.noNewKeyring ?? false,
    };
    try {
      // Written before anything is made, so that `delete --force` can undo a create that crashed.
      this.store.save(state);
      mark("state save");
      cgroup = this.makeCgroup(id, spec, state);
      mark("cgroup create");
      if (cgroup) {
        state.cgroup = cgroup.toState();
        primer?.prime(Object.values(cgroup.paths)[0]);
        this.store.save(state);
      }

      const waitForStart = o.waitForStart !== false;
      const fifo = this.store.fifo(id);
      if (waitForStart) {
        native.mkfifo(fifo, 0o622);
        // Writable by the container's user whoever it is (mkfifo applied our umask), as runc's.
        chmodSync(fifo, 0o622);
      }

      let consoleFd: number | null = null;
      let consoleParent = -1;
      if (spec.process.terminal) {
        if (o.consoleSocket) consoleFd = native.connectUnix(o.consoleSocket);
        else {
          const [a, b] = native.socketpair();
          consoleParent = a;
          consoleFd = b;
          fdsToClose.push(a);
        }
        fdsToClose.push(consoleFd);
      }

      // The init opens the fifo relative to its directory, which the runtime opens for it: no search
      // permission on --root is needed then (a user namespace's root may have none).
      let fifoDir = -1;
      if (waitForStart) {
        fifoDir = openSync(this.store.dir(id), fsc.O_RDONLY | fsc.O_DIRECTORY);
        fdsToClose.push(fifoDir);
      }
      const built = buildPlan({
        spec,
        rootfs,
        containerId: id,
        execFifo: waitForStart ? { dirFd: fifoDir, name: basename(fifo) } : null,
        consoleSocketFd: consoleFd,
        noPivot: o.noPivot ?? false,
        noNewKeyring: o.noNewKeyring ?? false,
        preserveFds: o.preserveFds ?? 0,
        rootless: state.rootless,
        cgroupLayout: cgroupLayoutOf(cgroup),
        createHooks: hasHooks(spec, "prestart", "createRuntime", "createContainer"),
        warn: (m) => this.log.warn(m),
      });

      mark("plan build");
      const spawned = native.spawnInit(built.plan);
      mark("clone");
      pidfd = spawned.pidfd;
      initPid = spawned.pid;
      if (consoleFd !== null) {
        native.close(consoleFd);
        fdsToClose.splice(fdsToClose.indexOf(consoleFd), 1);
      }
      try {
        initPid = await this.driveInit(built, spawned.sock, spawned.pid, pidfd, cgroup, spec, (pid, fd) => {
          initPid = pid;
          pidfd = fd;
        }, async () => {
          state.pid = initPid;
          state.pidStartTime = processStartTime(initPid) ?? 0;
          this.store.save(state);
          if (o.pidFile) writePidFile(o.pidFile, initPid);
          // run: the init execs the user's program as soon as it is answered.
          if (!waitForStart) runStartContainerHooks(native, state, this.store.dir(id), this.log);
        }, (pid) => runCreateHooks(native, state, pid, cgroup, this.store.dir(id)));
        if (!waitForStart && hasHooks(spec, "poststart")) {
          this.awaitExec(built, spawned.sock);
          runPoststartHooks(state, initPid);
        }
      } finally {
        native.close(spawned.sock);
      }
      let consoleMaster: number | undefined;
      if (consoleParent >= 0) {
        consoleMaster = native.recvFd(consoleParent).fd;
      }
      for (const fd of fdsToClose) native.close(fd);
      return { state, pidfd, consoleMaster };
    } catch (e) {
      for (const fd of fdsToClose) {
        try {
          native.close(fd);
        } catch {}
      }
      if (pidfd >= 0) {
        try {
          native.pidfdSendSignal(pidfd, 9);
          await native.waitPidfd(pidfd);
        } catch {}
        try {
          native.close(pidfd);
        } catch {}
      }
      try {
        cgroup?.destroy();
      } catch (err) {
        this.log.warn(`cleaning up the cgroup after a failed create: ${(err as Error).message}`);
      }
      this.store.remove(id);
      if (hasHooks(spec, "poststop")) runPoststopHooks(state, this.log);
      throw e;
    }
  }

  /** After the last sync point: the init's socket closes when it execs the user's program. */
  private awaitExec(built: BuiltPlan, sock: number): void {
    const m = this.native.recvMessage(sock);
    if (m.kind === "error") {
      const what = built.describe[m.op] ?? `step ${m.op}`;
      throw new Error(`unable to start container process: ${describeInitError(what, built.plan.ops[m.op], m.errno)}`);
    }
    if (m.kind !== "eof") throw new Error(`unexpected message from the init: ${m.kind}`);
  }

  /** Answer the init's sync points until it is done (or fails). Returns the init's final pid. */
  private async driveInit(
    built: BuiltPlan,
    sock: number,
    firstPid: number,
    firstPidfd: number,
    cgroup: CgroupManager | undefined,
    spec: Record<string, any>,
    onPid: (pid: number, pidfd: number) => void,
    onDone: () => Promise<void>,
    onHooks: (pid: number) => void,
  ): Promise<number> {
    const native = this.native;
    let pid = firstPid;
    for (;;) {
      const m: InitMessage = native.recvMessage(sock);
      switch (m.kind) {
        case "sync":
          if (m.tag === SYNC_SETUP) {
            mark("init: namespaces");
            try {
              this.setupFromParent(built, pid, cgroup, spec);
              mark("cgroup join+limits");
            } catch (e) {
              native.reply(sock, 1);
              throw e;
            }
          } else if (m.tag === SYNC_HOOKS) {
            try {
              onHooks(pid);
            } catch (e) {
              native.reply(sock, 1);
              throw e;
            }
          } else if (m.tag === SYNC_DONE) {
            mark("init: rootfs+identity");
            await onDone();
            mark("state save (pid)");
            native.reply(sock, 0);
            return pid;
          } else if (m.tag !== SYNC_READY) {
            native.reply(sock, 1);
            throw new Error(`init sent an unknown sync point ${m.tag}`);
          }
          native.reply(sock, 0);
          break;
        case "pid": {
          // The init re-forked into its pid namespace: the first child exits; reap it.
          await native.waitPidfd(firstPidfd);
          native.close(firstPidfd);
          pid = m.pid;
          onPid(pid, native.pidfdOpen(pid));
          break;
        }
        case "error": {
          const what = built.describe[m.op] ?? `step ${m.op}`;
          const op = built.plan.ops[m.op];
          throw new Error(`unable to start container process: ${describeInitError(what, op, m.errno)}`);
        }
        case "eof":
          throw new Error("unable to start container process: the container init exited unexpectedly");
      }
    }
  }

  /** The container's cgroup, created. Rootless (runc's --rootless, "auto" for an unprivileged
   * user): a cgroup the user may not create is done without, as runc does, unless the spec asks for
   * limits that need one. */
  private makeCgroup(id: string, spec: Record<string, any>, state: ContainerState): CgroupManager | undefined {
    const make = () => {
      const cg = newCgroupManager({
        containerId: id,
        cgroupsPath: spec.linux?.cgroupsPath,
        systemd: state.systemdCgroup,
        resources: effectiveResources(spec),
        ...this.cgroupOptions,
      });
      cg.create();
      return cg;
    };
    if (!state.rootless) return make();
    try {
      return make();
    } catch (e) {
      const code = (e as { code?: string }).code ?? "";
      const denied = ["EACCES", "EPERM", "EROFS"].includes(code) || /permission denied|read-only file system/.test((e as Error).message);
      if (!denied) throw e;
      const { devices: _devices, ...limits } = (spec.linux?.resources ?? {}) as Record<string, unknown>;
      if (Object.keys(limits).length)
        throw new Error(`rootless container requires cgroup access for linux.resources (${Object.keys(limits).join(", ")}): ${(e as Error).message}`);
      this.log.debug(`rootless: running without a cgroup: ${(e as Error).message}`);
      return undefined;
    }
  }

  /** At the first sync point the namespaces exist: the parent writes what only it can. */
  private setupFromParent(built: BuiltPlan, pid: number, cgroup: CgroupManager | undefined, spec: Record<string, any>): void {
    const linux = spec.linux ?? {};
    if (built.timens && linux.timeOffsets) {
      const lines = Object.entries(linux.timeOffsets as Record<string, { secs?: number; nanosecs?: number }>).map(
        ([clock, o]) => `${clock} ${o.secs ?? 0} ${o.nanosecs ?? 0}`,
      );
      writeFileSync(`/proc/${pid}/timens_offsets`, lines.join("\n"));
    }
    if (built.userns) {
      const fmt = (maps: { containerID: number; hostID: number; size: number }[]) =>
        maps.map((x) => `${x.containerID} ${x.hostID} ${x.size}`).join("\n");
      if (this.rootless) writeFileSync(`/proc/${pid}/setgroups`, "deny");
      writeFileSync(`/proc/${pid}/uid_map`, fmt(linux.uidMappings ?? []));
      writeFileSync(`/proc/${pid}/gid_map`, fmt(linux.gidMappings ?? []));
    }
    if (!cgroup) return;
    cgroup.apply(pid);
    const resources = effectiveResources(spec);
    if (resources) cgroup.set(resources);
  }

  /** A namespace path that is not a namespace file gets a clear error before anything is made. */
  private checkNamespacePaths(spec: Record<string, any>): void {
    for (const ns of (spec.linux?.namespaces ?? []) as { type: string; path?: string }[]) {
      if (!ns.path) continue;
      let type: number;
      try {
        type = Number(statfsSync(ns.path).type);
      } catch (e) {
        throw new Error(`linux.namespaces: ${ns.type} namespace path ${ns.path}: ${errnoMessage(e)}`);
      }
      if (type !== NSFS_MAGIC) throw new Error(`linux.namespaces: ${ns.type} namespace path ${ns.path}: not a namespace file`);
    }
  }

  // ---------------------------------------------------------------- start

  /** Release a created container's init (runc's exec.fifo hand-off). */
  start(id: string): ContainerState {
    const poststart = { exe: null as string | null };
    const s = this.store.withLock(id, () => {
      const state = this.store.load(id);
      const status = this.statusOfState(id, state);
      if (status === "stopped") throw new Error("cannot start a container that has stopped");
      if (status !== "created") throw new Error("cannot start an already running container");
      const s = state!;
      try {
        runStartContainerHooks(this.native, s, this.store.dir(id), this.log);
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
    if (hasHooks(s.config, "poststart")) {
      waitForExec(s.pid, s.pidStartTime, poststart.exe);
      try {
        runPoststartHooks(s, s.pid);
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
        this.destroy(state);
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
  destroy(state: ContainerState): void {
    if (state.cgroup) {
      const cg = loadCgroupManager(state.cgroup);
      try {
        cg.killAll(9);
      } catch {}
      cg.destroy();
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
    if (hasHooks(state.config, "poststop")) runPoststopHooks(state, this.log);
  }

  // ---------------------------------------------------------------- run

  /** Foreground run: create, start at once, wait for the exit. Returns runc's exit code. */
  async waitExit(created: Created): Promise<number> {
    const st = await this.native.waitPidfd(created.pidfd);
    this.native.close(created.pidfd);
    if (st.signal !== null) return 128 + st.signal;
    return st.code ?? 0;
  }
}

/** What /sys/fs/cgroup shows inside; on v2 the container's own directory, to bind if cgroup2 can't
 * be mounted (a user namespace without a cgroup namespace). */
function cgroupLayoutOf(cgroup: CgroupManager | undefined): CgroupMountLayout | null {
  if (!cgroup) return null;
  const layout = cgroup.mountLayout();
  return layout.version === 2 ? { version: 2, hostPath: cgroup.paths[""] } : layout;
}
