// `create` (and the creating half of `run`): config.json validated, the cgroup made, the plan built
// and the init cloned and driven through its sync points. Its own module, loaded only by the
// commands that create: the validator, the plan builder and the seccomp compiler it needs are most
// of tsrunc's code, and `start`, `state`, `kill` and `delete` start faster without them.
import { chmodSync, openSync, realpathSync, statfsSync, writeFileSync, constants as fsc } from "node:fs";
import { basename, isAbsolute, join, resolve } from "node:path";
import type { InitMessage } from "../native/types.ts";
import { buildPlan, type CgroupMountLayout, type BuiltPlan } from "./plan.ts";
import { SYNC_DONE, SYNC_HOOKS, SYNC_READY, SYNC_SETUP } from "./protocol.ts";
import { nowRfc3339Nano, processStartTime, type ContainerState } from "./state.ts";
import { type CgroupHost, detectCgroupHost, newCgroupManager, type CgroupManager } from "../cgroups/index.ts";
import { errnoMessage } from "./errno.ts";
import { describeInitError, writePidFile } from "./initproc.ts";
import { runCreateHooks, runPoststartHooks, runPoststopHooks, runStartContainerHooks } from "./hooks.ts";
import { hasHooks } from "./hook-config.ts";
import { loadBundleConfig } from "./config.ts";
import { effectiveResources } from "./devices.ts";
import { cloneIntoDir, primeCgroupAttach } from "./attach-primer.ts";
import { mark } from "./timing.ts";
import type { Created, CreateOptions, Runtime } from "./container.ts";

const NSFS_MAGIC = 0x6e736673;

export class Creator {
  /** The machine's cgroup mounts, read once (undefined where none are mounted). */
  private host?: CgroupHost;
  /** The init was cloned into its cgroup (CLONE_INTO_CGROUP): no cgroup.procs write. */
  private initInCgroup = false;

  constructor(private readonly rt: Runtime) {}

  async create(id: string, o: CreateOptions): Promise<Created> {
    try {
      this.host = detectCgroupHost();
    } catch {}
    const bundle = resolve(o.bundle);
    const spec = loadBundleConfig(bundle, { requireProcess: true, rootless: this.rt.rootlessEUID, systemdCgroup: this.rt.opts.systemdCgroup, noPivotRoot: o.noPivot, log: this.rt.log });
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
    if (spec.process.terminal && o.receiveConsole) o.beforeConsole?.();
    mark("config read+validate");

    this.rt.store.reserve(id);
    // Held until create returns: a racing delete or start waits for a complete container.
    return this.rt.store.withLockAsync(id, () => this.createLocked(id, o, bundle, spec, rootfs));
  }

  private async createLocked(id: string, o: CreateOptions, bundle: string, spec: Record<string, any>, rootfs: string): Promise<Created> {
    const native = this.rt.native;
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
      rootless: this.rt.rootless,
      systemdCgroup: this.rt.opts.systemdCgroup ?? false,
      noNewKeyring: o.noNewKeyring ?? false,
    };
    try {
      // Written before anything is made, so that `delete --force` can undo a create that crashed.
      this.rt.store.save(state);
      mark("state save");
      cgroup = this.makeCgroup(id, spec, state);
      mark("cgroup create");
      // On cgroup v2 the init is born in its cgroup (clone3 CLONE_INTO_CGROUP, as crun does).
      const intoCgroup = cloneIntoDir(cgroup);
      if (cgroup) {
        // Not earlier: while the kernel waits, it holds the locks that mkdir of a cgroup and fork
        // take (attach-primer.ts). From here to the clone is JS work: the plan.
        if (this.host && !intoCgroup) void primeCgroupAttach(this.host);
        state.cgroup = cgroup.toState();
        this.rt.store.save(state);
      }

      const waitForStart = o.waitForStart !== false;
      const fifo = this.rt.store.fifo(id);
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
        fifoDir = openSync(this.rt.store.dir(id), fsc.O_RDONLY | fsc.O_DIRECTORY);
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
        rootless: this.rt.rootlessEUID,
        cgroupLayout: cgroupLayoutOf(cgroup),
        stdio: o.stdio,
        createHooks: hasHooks(spec, "prestart", "createRuntime", "createContainer"),
        warn: (m) => this.rt.log.warn(m),
      });

      if (intoCgroup) {
        built.plan.intoCgroupFd = openSync(intoCgroup, fsc.O_RDONLY | fsc.O_DIRECTORY);
        fdsToClose.push(built.plan.intoCgroupFd);
      }
      mark("plan build");
      const spawned = native.spawnInit(built.plan);
      this.initInCgroup = spawned.inCgroup;
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
          this.rt.store.save(state);
          if (o.pidFile) writePidFile(o.pidFile, initPid);
          // run: the init execs the user's program as soon as it is answered.
          if (!waitForStart) runStartContainerHooks(native, state, this.rt.store.dir(id), this.rt.log);
        }, (pid) => runCreateHooks(native, state, pid, cgroup, this.rt.store.dir(id)));
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
        this.rt.log.warn(`cleaning up the cgroup after a failed create: ${(err as Error).message}`);
      }
      this.rt.store.remove(id);
      if (hasHooks(spec, "poststop")) runPoststopHooks(state, this.rt.log);
      throw e;
    }
  }

  /** After the last sync point: the init's socket closes when it execs the user's program. */
  private awaitExec(built: BuiltPlan, sock: number): void {
    const m = this.rt.native.recvMessage(sock);
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
    const native = this.rt.native;
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
   * user): a cgroup the user may not create is done without, as runc does, unless the spec names a
   * cgroupsPath or asks for limits that need one. */
  private makeCgroup(id: string, spec: Record<string, any>, state: ContainerState): CgroupManager | undefined {
    const make = () => {
      const cg = newCgroupManager({
        containerId: id,
        cgroupsPath: spec.linux?.cgroupsPath,
        systemd: state.systemdCgroup,
        annotations: spec.annotations,
        host: this.host,
        resources: effectiveResources(spec),
        ...this.rt.cgroupOptions,
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
      // As runc: only a container that names no cgroup of its own may do without one.
      if (!denied || spec.linux?.cgroupsPath) throw e;
      const { devices: _devices, ...limits } = (spec.linux?.resources ?? {}) as Record<string, unknown>;
      if (Object.keys(limits).length)
        throw new Error(`rootless container requires cgroup access for linux.resources (${Object.keys(limits).join(", ")}): ${(e as Error).message}`);
      this.rt.log.debug(`rootless: running without a cgroup: ${(e as Error).message}`);
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
      if (this.rt.rootlessEUID) writeFileSync(`/proc/${pid}/setgroups`, "deny");
      writeFileSync(`/proc/${pid}/uid_map`, fmt(linux.uidMappings ?? []));
      writeFileSync(`/proc/${pid}/gid_map`, fmt(linux.gidMappings ?? []));
    }
    if (!cgroup) return;
    if (!this.initInCgroup) cgroup.apply(pid);
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
}

/** What /sys/fs/cgroup shows inside; on v2 the container's own directory, to bind if cgroup2 can't
 * be mounted (a user namespace without a cgroup namespace). */
function cgroupLayoutOf(cgroup: CgroupManager | undefined): CgroupMountLayout | null {
  if (!cgroup) return null;
  const layout = cgroup.mountLayout();
  return layout.version === 2 ? { version: 2, hostPath: cgroup.paths[""] } : layout;
}
