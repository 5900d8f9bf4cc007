// `exec`: a new process in a running container, as runc's setns process. It joins every namespace
// of the container (the user namespace first, the mount namespace last) and its cgroup, forks into
// its pid namespace, and gets the process's identity, capabilities, no_new_privs and rlimits. The
// process comes from a process.json, or is the container's own process with runc's flags applied.
import { existsSync, openSync, readFileSync, writeFileSync, constants as fsc } from "node:fs";
import { join } from "node:path";
import { detectCgroupHost, loadCgroupManager } from "../cgroups/index.ts";
import { cloneIntoDir, primeCgroupAttach } from "./attach-primer.ts";
import { mark } from "./timing.ts";
import { checkConfig, formatErrors, parseConfigJson, type ValidationError } from "../spec/validate.ts";
import type { Runtime } from "./container.ts";
import { errnoMessage } from "./errno.ts";
import { reap, spawnJoined, withNamespaceFds, writePidFile } from "./initproc.ts";
import type { Logger } from "./log.ts";
import { buildExecPlan } from "./plan.ts";
import type { ContainerState } from "./state.ts";

type Spec = Record<string, any>;

/** runc's exec flags that shape the process (used when there is no process.json). */
export interface ExecFlags {
  args: string[];
  cwd?: string;
  env?: string[];
  tty?: boolean;
  /** uid[:gid] */
  user?: string;
  additionalGids?: string[];
  caps?: string[];
  noNewPrivs?: boolean;
  apparmor?: string;
  processLabel?: string;
}

function parseId(s: string, what: string): number {
  if (!/^[+-]?\d+$/.test(s)) throw new Error(`parsing ${s} as int for ${what} failed: strconv.Atoi: parsing ${JSON.stringify(s)}: invalid syntax`);
  const n = Number(s);
  if (n < 0 || n > 0xffffffff) throw new Error(`parsing ${s} as int for ${what} failed: out of range`);
  return n;
}

/** runc's getProcess without -p: the container's process, with args and the flags applied. */
export function processFromFlags(base: Spec | undefined, f: ExecFlags): Spec {
  const p: Spec = structuredClone(base ?? {});
  p.args = [...f.args];
  if (f.cwd) p.cwd = f.cwd;
  if (f.apparmor) p.apparmorProfile = f.apparmor;
  if (f.processLabel) p.selinuxLabel = f.processLabel;
  if (f.caps?.length) {
    p.capabilities ??= {};
    // runc adds them to every set but the inheritable one.
    for (const set of ["bounding", "effective", "permitted", "ambient"]) p.capabilities[set] = [...(p.capabilities[set] ?? []), ...f.caps];
  }
  p.env = [...(p.env ?? []), ...(f.env ?? [])];
  p.terminal = f.tty ?? false;
  if (f.noNewPrivs !== undefined) p.noNewPrivileges = f.noNewPrivs;
  p.user = { ...(p.user ?? { uid: 0, gid: 0 }) };
  if (f.user) {
    const [uid, gid] = f.user.split(/:(.*)/s);
    if (gid !== undefined) p.user.gid = parseId(gid, "gid");
    p.user.uid = parseId(uid!, "uid");
  }
  for (const g of f.additionalGids ?? []) {
    if (!/^[+-]?\d+$/.test(g)) throw new Error(`invalid value ${JSON.stringify(g)} for flag -additional-gids: parse error`);
    const n = Number(g);
    if (n < 0) throw new Error(`additional-gids must be a positive number ${n}`);
    p.user.additionalGids = [...(p.user.additionalGids ?? []), n];
  }
  return p;
}

/** A process checked as the process of the container's config (the schema, runc's rules, the
 * container's user namespace mappings). Paths are JSON pointers into the process itself. */
export function checkProcess(p: unknown, config: Spec, bundle: string): { errors: ValidationError[]; warnings: ValidationError[] } {
  const r = checkConfig({ ...config, process: p }, { bundle, requireProcess: true });
  const own = (list: ValidationError[]) =>
    list.filter((e) => e.path === "/process" || e.path.startsWith("/process/")).map((e) => ({ path: e.path.slice("/process".length), message: e.message }));
  return { errors: own(r.errors), warnings: own(r.warnings) };
}

/** Read and check a process.json (runc's --process): one line per problem, naming its JSON path. */
export function loadProcessFile(path: string, config: Spec, bundle: string, log?: Logger): Spec {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new Error(`open ${path}: ${errnoMessage(e)}`);
  }
  const parsed = parseConfigJson(text);
  if (!parsed.ok) throw new Error(formatErrors([parsed.error], path));
  const { errors, warnings } = checkProcess(parsed.value, config, bundle);
  for (const w of warnings) log?.warn(formatErrors([w], path));
  if (errors.length) throw new Error(formatErrors(errors, path));
  return parsed.value as Spec;
}

/** A process built from the flags, checked like a process.json. */
export function checkedProcessFromFlags(state: ContainerState, f: ExecFlags, log?: Logger): Spec {
  const p = processFromFlags(state.config.process, f);
  const { errors, warnings } = checkProcess(p, state.config, state.bundle);
  for (const w of warnings) log?.warn(formatErrors([w], "process"));
  if (errors.length) throw new Error(formatErrors(errors, "process"));
  return p;
}

/** runc's --cgroup values: "[controller[,controller]:]path"; a path alone applies to every
 * controller (and must then be the only value). */
export function parseSubCgroups(args: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const c of args) {
    const parts = c.split(":");
    if (parts.length > 2) throw new Error(`invalid --cgroup argument: ${c}`);
    if (parts.length === 1) {
      if (args.length !== 1) throw new Error(`invalid --cgroup argument: ${c} (missing <controller>: prefix)`);
      out[""] = c;
    } else for (const ctrl of parts[0]!.split(",")) out[ctrl] = parts[1]!;
  }
  return out;
}

/** Directories the process joins: the container's cgroup, or the sub-cgroups asked for. */
export function subCgroupDirs(paths: Readonly<Record<string, string>>, subs: Record<string, string>): Record<string, string> {
  const dirs: Record<string, string> = { ...paths };
  const under = (base: string, add: string) => {
    const p = join(base, add);
    if (p !== base && !p.startsWith(base.endsWith("/") ? base : base + "/")) throw new Error(`${add} is not a sub cgroup path`);
    return p;
  };
  if (subs[""] !== undefined) {
    for (const k of Object.keys(dirs)) dirs[k] = under(paths[k]!, subs[""]);
  } else {
    for (const [ctrl, add] of Object.entries(subs)) {
      if (paths[ctrl] === undefined) throw new Error(`unknown controller ${ctrl} in SubCgroupPaths`);
      dirs[ctrl] = under(paths[ctrl]!, add);
    }
  }
  return dirs;
}

/** The container to exec in: it exists and runs (or waits for `start`), and is not paused unless
 * asked (the process then waits, frozen, until the container is resumed). */
export function execTarget(rt: Runtime, id: string, ignorePaused = false): ContainerState {
  primeAttach();
  const state = rt.store.load(id);
  if (!state) throw new Error("container does not exist");
  const status = rt.statusOfState(id, state);
  if (status === "stopped") throw new Error("cannot exec in a stopped container");
  if (status === "paused" && !ignorePaused) throw new Error("cannot exec in a paused container (use --ignore-paused to override)");
  return state;
}

export interface ExecOptions {
  /** The process, complete and checked (loadProcessFile, checkedProcessFromFlags). */
  process: Spec;
  detach?: boolean;
  /** With process.terminal and detach: where the pty master goes (containerd's shim). */
  consoleSocket?: string;
  pidFile?: string;
  preserveFds?: number;
  /** --cgroup, parsed (parseSubCgroups). */
  subCgroups?: Record<string, string>;
  /** Fds of this process to be the process's 0, 1 and 2 (the shim's pipes); absent: ours. */
  stdio?: readonly [number, number, number];
}

export interface Execed {
  /** Host pid of the process. */
  pid: number;
  /** Its pidfd (it is our child until we exit: wait on it, or close it to detach). */
  pidfd: number;
  /** The pty master, for a terminal without a console socket (the caller proxies it). */
  consoleMaster?: number;
}

function lsmEnabled(kind: "apparmor" | "selinux"): boolean {
  try {
    if (kind === "apparmor") return existsSync("/sys/kernel/security/apparmor") && readFileSync("/sys/module/apparmor/parameters/enabled", "utf8").startsWith("Y");
    return existsSync("/sys/fs/selinux/enforce");
  } catch {
    return false;
  }
}

/** AppArmor profiles and SELinux labels are accepted and ignored where the host has neither; a
 * host that has them would expect them applied, which tsrunc can't do yet. */
function checkLsm(p: Spec, log: Logger): void {
  for (const [field, kind, name] of [["apparmorProfile", "apparmor", "AppArmor"], ["selinuxLabel", "selinux", "SELinux"]] as const) {
    if (!p[field]) continue;
    if (lsmEnabled(kind)) throw new Error(`process.${field}: ${name} is enabled on this host but tsrunc cannot apply ${field} yet`);
    log.warn(`ignoring process.${field} ${JSON.stringify(p[field])}: ${name} is not enabled on this host`);
  }
}

/** The process will be written into the container's cgroups: start the kernel's attach wait first
 * thing, so that it passes while the process is prepared (attach-primer.ts). Not on a cgroup v2
 * host, where the process is cloned into its cgroup and a pending attach would only hold up the
 * clone. */
function primeAttach(): void {
  try {
    const host = detectCgroupHost();
    if (host.mode !== "unified") void primeCgroupAttach(host);
  } catch {}
}

/** Start the process in the container; returns once it has exec'd (and the pid file is written). */
export function execInContainer(rt: Runtime, state: ContainerState, o: ExecOptions): Execed {
  const p = o.process;
  const detach = o.detach === true;
  if (detach && p.terminal && !o.consoleSocket) throw new Error("cannot allocate tty if tsrunc will detach without setting console socket");
  if (o.consoleSocket && (!detach || !p.terminal)) throw new Error("cannot use console socket if tsrunc will not detach or allocate tty");
  checkLsm(p, rt.log);

  // Where the process joins the container's cgroup (checked before anything starts).
  let joinCgroup: (pid: number) => void = () => {};
  // cgroup v2 with the cgroupfs driver: the process is cloned straight into it (create.ts).
  let intoCgroup: string | undefined;
  if (state.cgroup) {
    const cg = loadCgroupManager(state.cgroup);
    intoCgroup = cloneIntoDir(cg);
    if (o.subCgroups && Object.keys(o.subCgroups).length) {
      const dirs = [...new Set(Object.values(subCgroupDirs(cg.paths, o.subCgroups)))];
      if (intoCgroup) intoCgroup = dirs[0];
      joinCgroup = (pid) => {
        for (const d of dirs) {
          try {
            writeFileSync(join(d, "cgroup.procs"), String(pid));
          } catch (e) {
            throw new Error(`error adding pid ${pid} to cgroups: write ${join(d, "cgroup.procs")}: ${errnoMessage(e)}`);
          }
        }
      };
    } else joinCgroup = (pid) => cg.apply(pid);
  } else if (o.subCgroups && Object.keys(o.subCgroups).length) {
    throw new Error("--cgroup: the container has no cgroup of its own");
  }

  const native = rt.native;
  const toClose: number[] = [];
  try {
    let consoleFd: number | null = null;
    let consoleParent = -1;
    if (p.terminal) {
      if (o.consoleSocket) consoleFd = native.connectUnix(o.consoleSocket);
      else [consoleParent, consoleFd] = native.socketpair();
      toClose.push(consoleFd);
      if (consoleParent >= 0) toClose.push(consoleParent);
    }
    const joined = withNamespaceFds(state.config, state.pid, (nsFds) => {
      const built = buildExecPlan({
        spec: state.config,
        process: p,
        containerId: state.id,
        rootfs: state.rootfs,
        initPid: state.pid,
        nsFds,
        consoleSocketFd: consoleFd,
        preserveFds: o.preserveFds ?? 0,
        rootless: state.rootless,
        noNewKeyring: state.noNewKeyring ?? false,
        stdio: o.stdio,
        warn: (m) => rt.log.warn(m),
      });
      mark("exec: plan build");
      if (intoCgroup) {
        built.plan.intoCgroupFd = openSync(intoCgroup, fsc.O_RDONLY | fsc.O_DIRECTORY);
        toClose.push(built.plan.intoCgroupFd);
      }
      return spawnJoined(native, built, (pid, inCgroup) => {
        if (!inCgroup) joinCgroup(pid);
      });
    });
    try {
      const consoleMaster = consoleParent >= 0 ? native.recvFd(consoleParent).fd : undefined;
      if (o.pidFile) writePidFile(o.pidFile, joined.pid);
      return { pid: joined.pid, pidfd: joined.pidfd, consoleMaster };
    } catch (e) {
      try {
        native.pidfdSendSignal(joined.pidfd, 9);
        reap(native, joined.pid);
      } catch {}
      native.close(joined.pidfd);
      throw e;
    }
  } finally {
    for (const fd of toClose) native.close(fd);
  }
}
