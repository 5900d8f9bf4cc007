// The plan: a validated spec turned into the exact list of operations the native init performs, in
// runc's order. Everything the container will be is decided here, in TypeScript, where it can be
// unit-tested; the addon only executes it (see src/native/types.ts).
import { existsSync, lstatSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { InitOp, InitPlan } from "../native/types.ts";
import { mask, resolveCapabilities, lastCapability } from "../security/capabilities.ts";
import { seccompInitOp } from "../security/seccomp.ts";
import * as L from "./linux.ts";
import { flagsToAttrs, parseMountOptions } from "./mounts.ts";
import { DEFAULT_DEVICES } from "./devices.ts";
import { type MountInfoEntry, parseMountInfo } from "../cgroups/detect.ts";
import { resolveInRoot } from "./securejoin.ts";
import { inUserNamespace, setgroupsDenied } from "./userns.ts";
import { joinedNamespaces, rank, SYNC_DONE, SYNC_HOOKS, SYNC_READY, SYNC_SETUP } from "./protocol.ts";

type Spec = Record<string, any>;

/** How /sys/fs/cgroup is laid out inside the container (from the cgroup manager). */
export type CgroupMountLayout =
  /** hostPath: the container's own cgroup2 directory, bound when cgroup2 can't be mounted. */
  | { version: 2; hostPath?: string }
  | { version: 1; hierarchies: { name: string; hostPath: string }[]; symlinks: { name: string; target: string }[] };

export interface PlanInput {
  spec: Spec;
  /** Absolute, symlink-free host path of the rootfs. */
  rootfs: string;
  containerId: string;
  /** exec.fifo to rendezvous with `start`; null: exec at once. */
  execFifo: { dirFd: number; name: string } | null;
  /** An fd of this process (inherited by the init) to send the pty master through. */
  consoleSocketFd: number | null;
  noPivot: boolean;
  /** Keep the caller's session keyring (--no-new-keyring). */
  noNewKeyring?: boolean;
  preserveFds: number;
  /** The runtime runs unprivileged (rootless): setgroups is denied in its user namespace. */
  rootless: boolean;
  cgroupLayout: CgroupMountLayout | null;
  /** Stop at SYNC_HOOKS (mounts done, before pivot_root) for the create-time hooks. */
  createHooks?: boolean;
  /** The runtime itself runs in a user namespace (rootless podman), where mknod is refused even
   * to its root. Default: looked up. */
  inUserns?: boolean;
  /** Text of /proc/self/mountinfo, for the rootfs's parent mount (read only when a
   * rootfsPropagation can leave it shared). Default: read. */
  mountinfo?: string;
  /** /proc/self/setgroups says "deny": so will a user namespace the init makes. Default: looked up. */
  setgroupsDenied?: boolean;
  /** Fds of this process to become the init's 0, 1 and 2 (the shim's pipes); absent: ours are
   * inherited, as runc's init inherits runc's. */
  stdio?: readonly [number, number, number];
  warn?: (msg: string) => void;
}

export interface BuiltPlan {
  plan: InitPlan;
  /** Per op: what it does, for error messages ("mount proc to /proc"). */
  describe: string[];
  /** New namespaces the init creates. */
  newNamespaces: number;
  userns: boolean;
  timens: boolean;
  /** The init will be re-forked (forkParent): expect a pid message. */
  refork: boolean;
}

/** An op list with a description of each op, for error messages. */
export class Ops {
  ops: InitOp[] = [];
  describe: string[] = [];
  add(op: InitOp, what: string): void {
    this.ops.push(op);
    this.describe.push(what);
  }
}

function isBind(m: Spec): boolean {
  return m.type === "bind" || (m.options ?? []).some((o: string) => o === "bind" || o === "rbind");
}

/** Executable candidates for args[0], like Go's exec.LookPath that runc uses. */
export function execCandidates(arg0: string, env: string[]): string[] {
  if (arg0.includes("/")) return [arg0];
  const pathVar = env.find((e) => e.startsWith("PATH="));
  if (!pathVar) return [];
  return pathVar
    .slice(5)
    .split(":")
    .map((dir) => (dir === "" ? "." : dir) + "/" + arg0);
}

/** HOME from the container's /etc/passwd for uid, as runc sets it when the env has none. */
function homeOf(rootfs: string, uid: number): string {
  try {
    // Read it only if neither etc nor passwd is a symlink: the file must not lead outside the rootfs.
    if (lstatSync(join(rootfs, "etc")).isSymbolicLink()) return "/";
    const p = join(rootfs, "etc/passwd");
    if (lstatSync(p).isSymbolicLink()) return "/";
    for (const line of readFileSync(p, "utf8").split("\n")) {
      const f = line.split(":");
      if (f.length >= 6 && Number(f[2]) === uid && f[2] !== "") return f[5] || "/";
    }
  } catch {
    // no passwd: runc's default
  }
  return "/";
}

function mountOps(o: Ops, m: Spec, input: PlanInput, userns: boolean): void {
  // Symlinks in the destination are followed as the container would, never out of the rootfs.
  const dest = resolveInRoot(input.rootfs, m.destination.startsWith("/") ? m.destination : "/" + m.destination);
  const opts = parseMountOptions(m.options);
  if (opts.idmap) throw new Error(`mounts: ${dest}: idmapped mounts are not supported yet`);
  const type: string | undefined = m.type;
  if (isBind(m)) {
    const source: string = m.source;
    // The source is a host path chosen by the caller; only its kind (directory or not) matters here.
    let isDir: boolean;
    try {
      isDir = statSync(source).isDirectory();
    } catch {
      throw new Error(`mount ${source} to ${dest}: stat ${source}: no such file or directory`);
    }
    if (isDir) o.add({ op: "mkdirAll", path: dest, mode: 0o755, inRoot: true }, `mkdir ${dest}`);
    else {
      const parent = dest.replace(/\/[^/]*$/, "") || "/";
      o.add({ op: "mkdirAll", path: parent, mode: 0o755, inRoot: true }, `mkdir ${parent}`);
      o.add({ op: "touch", path: dest, mode: 0o755, inRoot: true }, `create mount target ${dest}`);
    }
    o.add(
      { op: "mount", source, target: dest, fstype: null, flags: opts.flags & (L.MS_BIND | L.MS_REC), data: null, inRoot: true },
      `mount ${source} to ${dest}`,
    );
    // Other flags of a bind apply by remounting; mount_setattr changes only what is asked, so flags the
    // kernel locked (in a user namespace) are left alone.
    const attrs = flagsToAttrs(opts.flags);
    if (attrs.set || attrs.clr)
      o.add(
        { op: "mountSetattr", target: dest, attrSet: attrs.set, attrClr: attrs.clr, propagation: 0, recursive: false, inRoot: true },
        `remount ${dest}`,
      );
  } else if (type === "cgroup" && input.cgroupLayout?.version === 1) {
    cgroupV1Ops(o, dest, opts.flags, input.cgroupLayout);
  } else if (type === "cgroup" && input.cgroupLayout === null) {
    // No cgroup of its own (rootless without cgroup access): the host's hierarchy, read-only.
    o.add({ op: "mkdirAll", path: dest, mode: 0o755, inRoot: true }, `mkdir ${dest}`);
    o.add({ op: "mount", source: "/sys/fs/cgroup", target: dest, fstype: null, flags: L.MS_BIND | L.MS_REC, data: null, inRoot: true }, `mount /sys/fs/cgroup to ${dest}`);
    o.add({ op: "mountSetattr", target: dest, attrSet: L.MOUNT_ATTR_RDONLY | L.MOUNT_ATTR_NOSUID | L.MOUNT_ATTR_NODEV | L.MOUNT_ATTR_NOEXEC, attrClr: 0, propagation: 0, recursive: true, inRoot: true }, `remount ${dest} read-only`);
  } else {
    o.add({ op: "mkdirAll", path: dest, mode: 0o755, inRoot: true }, `mkdir ${dest}`);
    let fstype = type ?? "none";
    if (fstype === "cgroup" && input.cgroupLayout?.version === 2) fstype = "cgroup2";
    const flags = opts.flags;
    const owns = (t: string) => (input.spec.linux?.namespaces ?? []).some((n: Spec) => n.type === t && !n.path);
    // In a user namespace, sysfs needs a network namespace of its own and cgroup2 a cgroup namespace
    // of its own; without them runc binds the host's instead.
    const bindFrom =
      userns && fstype === "sysfs" && !owns("network")
        ? "/sys"
        : userns && fstype === "cgroup2" && !owns("cgroup")
          ? ((input.cgroupLayout as { hostPath?: string } | null)?.hostPath ?? "/sys/fs/cgroup")
          : undefined;
    if (bindFrom) {
      o.add({ op: "mount", source: bindFrom, target: dest, fstype: null, flags: L.MS_BIND | L.MS_REC, data: null, inRoot: true }, `mount ${bindFrom} to ${dest}`);
      const attrs = flagsToAttrs(flags);
      if (attrs.set || attrs.clr)
        o.add({ op: "mountSetattr", target: dest, attrSet: attrs.set, attrClr: attrs.clr, propagation: 0, recursive: true, inRoot: true }, `remount ${dest}`);
    } else {
      o.add(
        { op: "mount", source: m.source ?? fstype, target: dest, fstype, flags, data: opts.data || null, inRoot: true },
        `mount ${m.source ?? fstype} to ${dest}`,
      );
    }
  }
  for (const p of opts.propagation)
    o.add({ op: "mount", source: null, target: dest, fstype: null, flags: p, data: null, inRoot: true }, `change propagation of ${dest}`);
  if (opts.recAttrSet || opts.recAttrClr)
    o.add(
      { op: "mountSetattr", target: dest, attrSet: opts.recAttrSet, attrClr: opts.recAttrClr, propagation: 0, recursive: true, inRoot: true },
      `set recursive attributes of ${dest}`,
    );
}

/** cgroup v1 inside the container, as runc lays it out: a tmpfs with each hierarchy's container
 * cgroup bind-mounted (read-only unless asked otherwise), plus symlinks for co-mounted controllers. */
function cgroupV1Ops(o: Ops, dest: string, flags: number, layout: Extract<CgroupMountLayout, { version: 1 }>): void {
  o.add({ op: "mkdirAll", path: dest, mode: 0o755, inRoot: true }, `mkdir ${dest}`);
  o.add(
    { op: "mount", source: "tmpfs", target: dest, fstype: "tmpfs", flags: flags & ~L.MS_RDONLY & (L.MS_NOSUID | L.MS_NODEV | L.MS_NOEXEC | L.MS_RELATIME), data: "mode=755", inRoot: true },
    `mount tmpfs to ${dest}`,
  );
  const attrs = flagsToAttrs(flags);
  for (const h of layout.hierarchies) {
    const target = `${dest}/${h.name}`;
    o.add({ op: "mkdirAll", path: target, mode: 0o755, inRoot: true }, `mkdir ${target}`);
    o.add({ op: "mount", source: h.hostPath, target, fstype: null, flags: L.MS_BIND | L.MS_REC, data: null, inRoot: true }, `mount ${h.hostPath} to ${target}`);
    if (attrs.set || attrs.clr)
      o.add({ op: "mountSetattr", target, attrSet: attrs.set, attrClr: attrs.clr, propagation: 0, recursive: false, inRoot: true }, `remount ${target}`);
  }
  for (const s of layout.symlinks)
    o.add({ op: "symlink", target: s.target, linkpath: `${dest}/${s.name}`, inRoot: true }, `symlink ${dest}/${s.name}`);
}

export function buildPlan(input: PlanInput): BuiltPlan {
  const { spec } = input;
  const linux: Spec = spec.linux ?? {};
  const proc: Spec = spec.process;
  const o = new Ops();
  const namespaces: Spec[] = linux.namespaces ?? [];

  let newFlags = 0;
  const joins: { type: string; path: string }[] = [];
  for (const ns of namespaces) {
    const flag = L.NAMESPACE_FLAGS[ns.type];
    if (flag === undefined) throw new Error(`linux.namespaces: unknown namespace type "${ns.type}"`);
    if (ns.path) joins.push({ type: ns.type, path: ns.path });
    else newFlags |= flag;
  }
  // The user namespace is joined first (it owns the others); the mount namespace last, since paths
  // of the other namespace files must still resolve in ours.
  joins.sort((a, b) => rank(a.type) - rank(b.type));
  const userns = (newFlags & L.CLONE_NEWUSER) !== 0;
  const joinedUserns = joins.some((j) => j.type === "user");
  const timens = (newFlags & L.CLONE_NEWTIME) !== 0;
  const twoStage = joins.length > 0 || timens;
  const refork = twoStage && ((newFlags & (L.CLONE_NEWPID | L.CLONE_NEWTIME)) !== 0 || joins.some((j) => j.type === "pid"));

  // Bun's own descriptors must not reach the container; preserved ones (3 .. 3+N) must.
  const keepTo = 3 + input.preserveFds;
  o.add({ op: "cloexecFrom", from: keepTo }, "close inherited file descriptors");
  if (input.preserveFds > 0) o.add({ op: "inheritFds", from: 3, to: keepTo }, "pass preserved file descriptors");
  stdioOps(o, input.stdio);

  // The cgroup namespace is made after the parent has put the init in its cgroup, so that the
  // container's cgroup is its root (as runc does).
  const earlyFlags = newFlags & ~L.CLONE_NEWCGROUP;
  if (twoStage) {
    for (const j of joins) o.add({ op: "setns", path: j.path, nstype: L.NAMESPACE_FLAGS[j.type]! }, `join ${j.type} namespace ${j.path}`);
    if (earlyFlags) o.add({ op: "unshare", flags: earlyFlags }, "create namespaces");
  }
  // An unprivileged parent can only write the id maps of a dumpable child.
  const dumpable = userns && input.rootless;
  if (dumpable) o.add({ op: "prctl", option: L.PR_SET_DUMPABLE, arg2: 1, arg3: 0 }, "allow the parent to write the id maps");
  o.add({ op: "sync", tag: SYNC_SETUP }, "set up namespaces");
  if (dumpable) o.add({ op: "prctl", option: L.PR_SET_DUMPABLE, arg2: 0, arg3: 0 }, "make the init non-dumpable again");
  if (userns || joinedUserns) {
    // runc becomes root in the user namespace before anything else.
    o.add({ op: "setresgid", gid: 0 }, "become root in the user namespace (gid)");
    o.add({ op: "setresuid", uid: 0 }, "become root in the user namespace (uid)");
  }
  if (newFlags & L.CLONE_NEWCGROUP) o.add({ op: "unshare", flags: L.CLONE_NEWCGROUP }, "create the cgroup namespace");
  if (refork) o.add({ op: "forkParent" }, "fork into the pid namespace");
  // A keyring of its own, as runc gives each container ("_ses.<id>"), searchable by its user:
  // the kernel's default for a new session keyring plus KEY_USR_SEARCH, as runc sets it.
  if (!input.noNewKeyring)
    o.add({ op: "joinSessionKeyring", name: `_ses.${input.containerId}`, perm: 0x3f1b0000 }, "join a new session keyring");

  if (spec.hostname !== undefined && spec.hostname !== "") o.add({ op: "sethostname", name: spec.hostname }, `sethostname ${spec.hostname}`);
  if (spec.domainname !== undefined && spec.domainname !== "") o.add({ op: "setdomainname", name: spec.domainname }, `setdomainname ${spec.domainname}`);

  const ownMountNs = (newFlags & L.CLONE_NEWNS) !== 0;
  if (!ownMountNs && !joins.some((j) => j.type === "mount"))
    throw new Error("linux.namespaces: tsrunc needs a mount namespace of the container's (unlike runc 1.1, it does not chroot and leave the container's mounts in the host's namespace)");

  if (ownMountNs) {
    // Nothing done in here may propagate back to the host.
    const rootProp = propagationFlag(linux.rootfsPropagation) ?? L.MS_SLAVE | L.MS_REC;
    o.add({ op: "mount", source: null, target: "/", fstype: null, flags: rootProp, data: null, inRoot: false }, "set the propagation of /");
    // As runc: the rootfs's parent mount made private if it is shared now, or pivot_root fails
    // (EINVAL) and the rootfs bind would propagate back to the host.
    const parent = sharedRootfsParent(input, rootProp);
    if (parent !== null)
      o.add({ op: "mount", source: null, target: parent, fstype: null, flags: L.MS_PRIVATE, data: null, inRoot: false }, `make ${parent} private`);
  }
  o.add({ op: "mount", source: input.rootfs, target: input.rootfs, fstype: null, flags: L.MS_BIND | L.MS_REC, data: null, inRoot: false }, `bind ${input.rootfs} onto itself`);

  const mounts: Spec[] = spec.mounts ?? [];
  for (const m of mounts) mountOps(o, m, input, userns || joinedUserns);

  const devBound = mounts.some((m) => m.destination === "/dev" && isBind(m));
  // As runc: device nodes are bound from the host when the container or the runtime is in a user
  // namespace.
  if (!devBound) devOps(o, linux, userns || joinedUserns || (input.inUserns ?? inUserNamespace()));


  // The mounts are done and the old root is still reachable: the parent runs the prestart and
  // createRuntime hooks, then the createContainer hooks in the container's namespaces.
  if (input.createHooks) o.add({ op: "sync", tag: SYNC_HOOKS }, "run the prestart, createRuntime and createContainer hooks");

  if (input.noPivot) o.add({ op: "moveRoot", rootfs: input.rootfs }, "move the rootfs to / (--no-pivot)");
  else o.add({ op: "pivotRoot", rootfs: input.rootfs }, "pivot_root into the rootfs");
  // runc creates a missing cwd, inside the new root and before / may turn read-only: images and
  // clients (`ctr run --cwd`, a WORKDIR no layer made) count on it.
  const cwd: string | undefined = proc?.cwd;
  if (cwd && cwd !== "/") o.add({ op: "mkdirAll", path: cwd, mode: 0o755, inRoot: false }, `mkdir ${cwd}`);

  if (input.consoleSocketFd !== null) o.add(consoleOp(input.consoleSocketFd, spec.process), "set up the console");
  else o.add({ op: "setsid" }, "setsid");

  for (const [key, value] of Object.entries((linux.sysctl ?? {}) as Record<string, string>))
    o.add({ op: "writeFile", path: "/proc/sys/" + key.replace(/\./g, "/"), data: value }, `write sysctl key ${key}`);
  for (const p of (linux.readonlyPaths ?? []) as string[]) {
    o.add({ op: "mount", source: p, target: p, fstype: null, flags: L.MS_BIND | L.MS_REC, data: null, inRoot: true, optional: true }, `bind ${p} read-only`);
    o.add({ op: "mountSetattr", target: p, attrSet: L.MOUNT_ATTR_RDONLY, attrClr: 0, propagation: 0, recursive: true, inRoot: true, optional: true }, `make ${p} read-only`);
  }
  for (const p of (linux.maskedPaths ?? []) as string[]) o.add({ op: "maskPath", path: p }, `mask ${p}`);

  const rootPropAfter = propagationFlag(linux.rootfsPropagation);
  if (rootPropAfter !== undefined && ownMountNs)
    o.add({ op: "mount", source: null, target: "/", fstype: null, flags: rootPropAfter, data: null, inRoot: false }, "set rootfs propagation");
  if (spec.root?.readonly)
    o.add({ op: "mountSetattr", target: "/", attrSet: L.MOUNT_ATTR_RDONLY, attrClr: 0, propagation: 0, recursive: false, inRoot: false }, "remount / read-only");

  if (proc)
    processOps(o, proc, {
      rootfs: input.rootfs,
      userns,
      rootless: input.rootless,
      setgroupsDenied: input.setgroupsDenied ?? setgroupsDenied("self"),
      personality: linux.personality,
      seccomp: linux.seccomp,
      limits: true,
      readySync: true,
      waitStart: input.execFifo,
      warn: input.warn,
    });

  return {
    plan: { cloneFlags: twoStage ? 0 : earlyFlags, rootfs: input.rootfs, ops: o.ops },
    describe: o.describe,
    newNamespaces: newFlags,
    userns,
    timens,
    refork,
  };
}


/** runc's mapping: the spec's four names for the mount alone, their r-forms recursive. */
function propagationFlag(p: string | undefined): number | undefined {
  switch (p) {
    case "shared": return L.MS_SHARED;
    case "slave": return L.MS_SLAVE;
    case "private": return L.MS_PRIVATE;
    case "unbindable": return L.MS_UNBINDABLE;
    case "rshared": return L.MS_SHARED | L.MS_REC;
    case "rslave": return L.MS_SLAVE | L.MS_REC;
    case "rprivate": return L.MS_PRIVATE | L.MS_REC;
    case "runbindable": return L.MS_UNBINDABLE | L.MS_REC;
    default: return undefined;
  }
}

/** The mount the rootfs is on (runc's getParentMount: the longest mount point above or at it),
 * when it will be shared once `rootProp` is applied to / in the container's new mount namespace
 * (a copy of ours, peer groups kept); else null. */
function sharedRootfsParent(input: PlanInput, rootProp: number): string | null {
  // Applied recursively and not shared: no mount can be shared, no need to look.
  if (rootProp & L.MS_REC && !(rootProp & L.MS_SHARED)) return null;
  const mounts = parseMountInfo(input.mountinfo ?? readFileSync("/proc/self/mountinfo", "utf8"));
  const under = (mp: string) => mp === "/" || input.rootfs === mp || input.rootfs.startsWith(mp + "/");
  let parent: MountInfoEntry | undefined;
  for (const m of mounts) if (under(m.mountpoint) && m.mountpoint.length >= (parent?.mountpoint.length ?? 0)) parent = m;
  if (!parent) return null;
  const touched = parent.mountpoint === "/" || (rootProp & L.MS_REC) !== 0;
  const shared = touched ? (rootProp & L.MS_SHARED) !== 0 : parent.optional.some((f) => f.startsWith("shared:"));
  return shared ? parent.mountpoint : null;
}

function devOps(o: Ops, linux: Spec, userns: boolean): void {
  const devices: { path: string; type: string; major: number; minor: number; fileMode: number; uid: number; gid: number }[] = [
    ...DEFAULT_DEVICES.map((d) => ({ ...d, type: "c", fileMode: 0o666, uid: 0, gid: 0 })),
  ];
  for (const d of (linux.devices ?? []) as Spec[]) {
    const dev = { path: d.path, type: d.type, major: d.major ?? 0, minor: d.minor ?? 0, fileMode: d.fileMode ?? 0o666, uid: d.uid ?? 0, gid: d.gid ?? 0 };
    const i = devices.findIndex((x) => x.path === d.path);
    if (i >= 0) devices[i] = dev;
    else devices.push(dev);
  }
  for (const d of devices) {
    const parent = d.path.replace(/\/[^/]*$/, "") || "/";
    if (parent !== "/dev") o.add({ op: "mkdirAll", path: parent, mode: 0o755, inRoot: true }, `mkdir ${parent}`);
    if (userns) {
      // mknod is not allowed in a user namespace: bind the host's node instead, as runc does.
      o.add({ op: "touch", path: d.path, mode: 0o644, inRoot: true }, `create ${d.path}`);
      o.add({ op: "mount", source: d.path, target: d.path, fstype: null, flags: L.MS_BIND, data: null, inRoot: true }, `bind device ${d.path}`);
    } else {
      const kind = d.type === "b" ? L.S_IFBLK : d.type === "p" ? L.S_IFIFO : L.S_IFCHR;
      o.add(
        { op: "mknod", path: d.path, mode: kind | (d.fileMode & 0o7777), major: d.major, minor: d.minor, uid: d.uid, gid: d.gid, inRoot: true },
        `mknod ${d.path}`,
      );
    }
  }
  const links: [string, string][] = [
    ["/proc/self/fd", "/dev/fd"],
    ["/proc/self/fd/0", "/dev/stdin"],
    ["/proc/self/fd/1", "/dev/stdout"],
    ["/proc/self/fd/2", "/dev/stderr"],
  ];
  if (existsSync("/proc/kcore")) links.push(["/proc/kcore", "/dev/core"]);
  for (const [target, linkpath] of links) o.add({ op: "symlink", target, linkpath, inRoot: true }, `symlink ${linkpath}`);
  // /dev/ptmx points into the container's own devpts instance.
  o.add({ op: "symlink", target: "pts/ptmx", linkpath: "/dev/ptmx", inRoot: true }, "symlink /dev/ptmx");
}

const RLIM_INFINITY = (1n << 64n) - 1n;

/** JSON turns RLIM_INFINITY (2^64-1) into 2^64: anything that large means unlimited. */
function rlimitValue(v: number | bigint): bigint {
  const b = BigInt(v);
  return b >= RLIM_INFINITY ? RLIM_INFINITY : b;
}

/** How the process part of a plan is built, for the init (create) and for a process joining a
 * running container (exec, the startContainer hooks). */
export interface ProcessOpsInput {
  /** Host path of the rootfs: HOME comes from its /etc/passwd when the env has none. */
  rootfs: string;
  /** The process is in a user namespace of the container (setgroups may be denied there). */
  userns: boolean;
  /** The runtime is unprivileged: setgroups is denied in its user namespace. */
  rootless: boolean;
  /** The user namespace the process ends in has setgroups "deny" (rootless podman's). */
  setgroupsDenied: boolean;
  /** The container's linux.personality. */
  personality?: Spec;
  /** The container's linux.seccomp: its filter is loaded where runc loads it. */
  seccomp?: Spec;
  /** Set rlimits and oom_score_adj here. A joining process sets them before it joins (limitOps),
   * while it may still raise them. */
  limits: boolean;
  /** Stop at SYNC_READY before the identity switch (create). */
  readySync: boolean;
  /** Wait for `start` at the exec fifo before exec. */
  waitStart: { dirFd: number; name: string } | null;
  /** Exec this absolute path instead of looking up args[0] in PATH, with the env exactly as given
   * (a hook: no HOME added). */
  path?: string;
  warn?: (msg: string) => void;
}

/** rlimits and oom_score_adj of the process: the container's init, or a process joining it. */
export function limitOps(o: Ops, proc: Spec, joining = false): void {
  // runc's words: it sets them from the runtime, at the init's ready point or before an exec joins.
  const failed = joining ? "error setting rlimits for process" : "error during container init: error setting rlimits for ready process";
  for (const r of (proc.rlimits ?? []) as Spec[]) {
    const res = L.RLIMITS[r.type];
    if (res === undefined) throw new Error(`process.rlimits: unknown rlimit type "${r.type}"`);
    o.add({ op: "setrlimit", resource: res, soft: rlimitValue(r.soft), hard: rlimitValue(r.hard) }, `${failed}: error setting rlimit type ${res}`);
  }
  if (proc.oomScoreAdj !== undefined)
    o.add({ op: "writeFile", path: "/proc/self/oom_score_adj", data: String(proc.oomScoreAdj) }, "write /proc/self/oom_score_adj");
}

/** The environment as runc's init sets it up: for a name given twice, the last value at the place
 * of the first (Go's os.Setenv in order). */
export function mergeEnv(env: readonly string[]): string[] {
  const out: string[] = [];
  const at = new Map<string, number>();
  for (const e of env) {
    const eq = e.indexOf("=");
    const name = eq < 0 ? e : e.slice(0, eq);
    const i = at.get(name);
    if (i === undefined) {
      at.set(name, out.length);
      out.push(e);
    } else out[i] = e;
  }
  return out;
}

/** The process's environment as runc's init makes it: merged (mergeEnv), and HOME from the
 * container's /etc/passwd if it has none. */
export function processEnv(proc: Spec, rootfs: string): string[] {
  const env = mergeEnv((proc.env ?? []) as string[]);
  if (!env.some((e) => e.startsWith("HOME="))) env.push("HOME=" + homeOf(rootfs, proc.user?.uid ?? 0));
  return env;
}

/** The process: its limits, identity, capabilities, cwd, then the exec. */
export function processOps(o: Ops, proc: Spec, input: ProcessOpsInput): void {
  if (input.limits) limitOps(o, proc);
  const persona = input.personality;
  if (persona) o.add({ op: "personality", persona: persona.domain === "LINUX32" ? 0x0008 : 0 }, `personality ${persona.domain}`);

  if (input.readySync) o.add({ op: "sync", tag: SYNC_READY }, "report the rootfs ready");
  // Seccomp as runc: without no_new_privs loading a filter needs CAP_SYS_ADMIN, so before the
  // identity and capabilities change; with it, as late as possible (after the executable is found).
  const filter = seccompInitOp(input.seccomp as any, proc.noNewPrivileges === true);
  if (filter && proc.noNewPrivileges !== true) o.add(filter.op, filter.describe);

  const caps = resolveCapabilities(proc.capabilities, input.warn);
  const user = proc.user ?? { uid: 0, gid: 0 };
  // As runc: the cwd is entered before the identity changes (a user may run in a directory only
  // root can enter), and again after it only if root was denied (root squashed on NFS).
  const cwd: string = proc.cwd ?? "/";
  const chdirFailed = `chdir to cwd (${JSON.stringify(cwd)}) set in config.json failed`;
  o.add({ op: "tryChdir", path: cwd }, chdirFailed);
  o.add({ op: "prctl", option: L.PR_SET_KEEPCAPS, arg2: 1, arg3: 0 }, "keep capabilities across setuid");
  const last = lastCapability();
  for (let c = 0; c <= last; c++)
    if (!caps.bounding.includes(c)) o.add({ op: "prctl", option: L.PR_CAPBSET_DROP, arg2: c, arg3: 0 }, "unable to apply bounding set");
  // In a rootless user namespace setgroups is denied (it would let the user drop groups); runc
  // also skips it where the namespace says "deny".
  if (!(input.userns && input.rootless) && !input.setgroupsDenied)
    o.add({ op: "setgroups", gids: (user.additionalGids ?? []) as number[] }, "setgroups");
  o.add({ op: "setresgid", gid: user.gid ?? 0 }, `setresgid ${user.gid ?? 0}`);
  o.add({ op: "setresuid", uid: user.uid ?? 0 }, `setresuid ${user.uid ?? 0}`);
  o.add({ op: "retryChdir", path: cwd }, chdirFailed);
  o.add({ op: "prctl", option: L.PR_SET_KEEPCAPS, arg2: 0, arg3: 0 }, "clear keepcaps");
  o.add(
    { op: "capset", effective: mask(caps.effective), permitted: mask(caps.permitted), inheritable: mask(caps.inheritable) },
    "unable to apply caps", // runc's words
  );
  // The kernel raises an ambient capability only if it is permitted and inheritable; runc's raise
  // fails silently otherwise, so those are skipped here (the container sees the same CapAmb).
  for (const c of caps.ambient.filter((c) => caps.permitted.includes(c) && caps.inheritable.includes(c))) o.add({ op: "prctl", option: L.PR_CAP_AMBIENT, arg2: L.PR_CAP_AMBIENT_RAISE, arg3: c }, `raise ambient capability ${c}`);
  o.add({ op: "umask", mask: user.umask ?? 0o022 }, "umask");
  if (proc.noNewPrivileges) o.add({ op: "prctl", option: L.PR_SET_NO_NEW_PRIVS, arg2: 1, arg3: 0 }, "set no_new_privs");

  const args: string[] = proc.args;
  let env: string[];
  let candidates: string[];
  if (input.path !== undefined) {
    env = [...((proc.env ?? []) as string[])];
    candidates = [input.path];
  } else {
    env = processEnv(proc, input.rootfs);
    candidates = execCandidates(args[0]!, env);
  }
  const what = `exec: "${input.path ?? args[0]}"`;
  o.add({ op: "checkExec", candidates }, what);
  if (filter && proc.noNewPrivileges === true) o.add(filter.op, filter.describe);
  o.add({ op: "sync", tag: SYNC_DONE }, "report the init done");
  if (input.waitStart) o.add({ op: "waitStart", ...input.waitStart }, "wait for start");
  o.add({ op: "exec", candidates, argv: args, envp: env }, what);
}

// ---------------------------------------------------------------- joining a running container

/** Join every namespace of a running container (joinedNamespaces), stop at SYNC_SETUP for the parent
 * to put the process in the container's cgroup, become root in the user namespace, and fork into
 * the pid (and time) namespace. The namespaces are /proc/<initPid>/ns/*, or fds of ours the child
 * inherits (nsFds): once in the container's user namespace, the process may no longer open the
 * files of an init that has not exec'd yet (it is not dumpable), so runc opens them all first. */
function joinOps(o: Ops, spec: Spec, initPid: number, nsFds?: Readonly<Record<string, number>>): { userns: boolean; refork: boolean } {
  const types = joinedNamespaces(spec);
  for (const t of types) {
    const file = `/proc/${initPid}/ns/${L.NAMESPACE_PROC_NAMES[t]}`;
    const fd = nsFds?.[t];
    o.add({ op: "setns", path: fd === undefined ? file : `/proc/self/fd/${fd}`, nstype: L.NAMESPACE_FLAGS[t]! }, `join ${t} namespace ${file}`);
  }
  o.add({ op: "sync", tag: SYNC_SETUP }, "join the container's cgroup");
  const userns = types.includes("user");
  if (userns) {
    o.add({ op: "setresgid", gid: 0 }, "become root in the user namespace (gid)");
    o.add({ op: "setresuid", uid: 0 }, "become root in the user namespace (uid)");
  }
  const refork = types.includes("pid") || types.includes("time");
  if (refork) o.add({ op: "forkParent" }, "fork into the pid namespace");
  return { userns, refork };
}

function stdioOps(o: Ops, stdio: readonly [number, number, number] | undefined): void {
  if (!stdio) return;
  stdio.forEach((from, to) => o.add({ op: "dup2", from, to }, `set up fd ${to}`));
}

/** The console, sized by process.consoleSize as runc sizes it (each cut to 16 bits, as its uint16). */
function consoleOp(socketFd: number, process: Spec | undefined): InitOp {
  const size = process?.consoleSize;
  return { op: "console", socketFd, ptmxPath: "/dev/ptmx", rows: (size?.height ?? 0) & 0xffff, cols: (size?.width ?? 0) & 0xffff };
}

export interface ExecPlanInput {
  /** The container's config: its namespaces and personality. */
  spec: Spec;
  /** The process to run: exec's (from process.json or the flags), or a startContainer hook's. */
  process: Spec;
  containerId: string;
  /** Host path of the rootfs (for HOME). */
  rootfs: string;
  /** Host pid of the container's init, whose namespaces are joined. */
  initPid: number;
  /** Its namespaces, opened by us (withNamespaceFds): namespace type → fd. */
  nsFds?: Readonly<Record<string, number>>;
  /** An fd of this process to send the pty master through (process.terminal). */
  consoleSocketFd: number | null;
  preserveFds: number;
  rootless: boolean;
  /** The user namespace the process ends in says "deny" to setgroups. Default: looked up. */
  setgroupsDenied?: boolean;
  /** The container keeps the caller's session keyring (created with --no-new-keyring). */
  noNewKeyring: boolean;
  /** Fds of this process to become the process's 0, 1 and 2 (hooks); absent: ours are inherited. */
  stdio?: readonly [number, number, number];
  /** Exec this absolute path with the env as given (hooks; see ProcessOpsInput.path). */
  path?: string;
  warn?: (msg: string) => void;
}

/** A new process in a running container, as runc's setns init: limits first (raising one needs the
 * host's privileges), the container's namespaces and cgroup, its session keyring, a console or a
 * new session, then the process's identity, capabilities and cwd, and the exec. No mounts: the
 * rootfs is there. */
export function buildExecPlan(input: ExecPlanInput): BuiltPlan {
  const o = new Ops();
  const keepTo = 3 + input.preserveFds;
  o.add({ op: "cloexecFrom", from: keepTo }, "close inherited file descriptors");
  if (input.preserveFds > 0) o.add({ op: "inheritFds", from: 3, to: keepTo }, "pass preserved file descriptors");
  limitOps(o, input.process, true);
  const { userns, refork } = joinOps(o, input.spec, input.initPid, input.nsFds);
  if (!input.noNewKeyring)
    o.add({ op: "joinSessionKeyring", name: `_ses.${input.containerId}`, perm: 0x3f1b0000 }, "join the container's session keyring");
  stdioOps(o, input.stdio);
  if (input.consoleSocketFd !== null) o.add(consoleOp(input.consoleSocketFd, input.process), "set up the console");
  else o.add({ op: "setsid" }, "setsid");
  processOps(o, input.process, {
    rootfs: input.rootfs,
    userns,
    rootless: input.rootless,
    // The process ends in the container's user namespace, or in ours.
    setgroupsDenied: input.setgroupsDenied ?? setgroupsDenied(userns ? input.initPid : "self"),
    personality: input.spec.linux?.personality,
    seccomp: input.spec.linux?.seccomp,
    limits: false,
    readySync: false,
    waitStart: null,
    path: input.path,
    warn: input.warn,
  });
  return { plan: { cloneFlags: 0, rootfs: "/", ops: o.ops }, describe: o.describe, newNamespaces: 0, userns, timens: false, refork };
}

export interface HookPlanInput {
  spec: Spec;
  initPid: number;
  nsFds?: Readonly<Record<string, number>>;
  /** Absolute path of the program, argv and envp exactly as they are passed. */
  path: string;
  args: string[];
  env: string[];
  cwd: string;
  stdio: readonly [number, number, number];
}

/** A createContainer hook: in the container's namespaces and cgroup, as root, before pivot_root
 * (so its path resolves as on the host), with its stdio from the given fds. */
export function buildHookPlan(input: HookPlanInput): BuiltPlan {
  const o = new Ops();
  o.add({ op: "cloexecFrom", from: 3 }, "close inherited file descriptors");
  const { userns, refork } = joinOps(o, input.spec, input.initPid, input.nsFds);
  stdioOps(o, input.stdio);
  o.add({ op: "chdir", path: input.cwd }, `chdir to ${input.cwd}`);
  o.add({ op: "sync", tag: SYNC_DONE }, "report the hook ready");
  o.add({ op: "exec", candidates: [input.path], argv: input.args, envp: input.env }, `exec: "${input.path}"`);
  return { plan: { cloneFlags: 0, rootfs: "/", ops: o.ops }, describe: o.describe, newNamespaces: 0, userns, timens: false, refork };
}
