// What cgroups this machine has: pure cgroup v2 ("unified"), v1 only ("legacy"), or v1 controllers
// plus a cgroup2 mount beside them ("hybrid"); where each v1 hierarchy is mounted (co-mounted
// controllers such as cpu,cpuacct share one; named ones such as name=systemd have none); and the
// cgroup this process is in, per hierarchy. All inputs can be injected for tests.

import { readFileSync } from "node:fs";
import { join, posix } from "node:path";
import { CgroupError } from "./errors.ts";
import { CGROUP2_SUPER_MAGIC, type CgroupFs, nodeCgroupFs } from "./fsops.ts";
import type { CgroupMode } from "./types.ts";

export const DEFAULT_CGROUP_ROOT = "/sys/fs/cgroup";

/** v1 controllers the kernel knows; any other mount option of a cgroup mount is not a controller. */
const V1_CONTROLLERS = new Set([
  "cpuset",
  "cpu",
  "cpuacct",
  "blkio",
  "memory",
  "devices",
  "freezer",
  "net_cls",
  "perf_event",
  "net_prio",
  "hugetlb",
  "pids",
  "rdma",
  "misc",
  "debug",
]);

export interface MountInfoEntry {
  mountId: number;
  parentId: number;
  /** Root of the mount within its file system (for cgroup: the cgroup path the mount shows). */
  root: string;
  mountpoint: string;
  /** The optional fields ("shared:2", "master:1" …). */
  optional: string[];
  fstype: string;
  source: string;
  superOptions: string[];
}

/** Decodes mountinfo's octal escapes (\040 for a space …). */
function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export function parseMountInfo(text: string): MountInfoEntry[] {
  const out: MountInfoEntry[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    const fields = line.split(" ");
    const sep = fields.indexOf("-", 6);
    if (sep < 0 || fields.length < sep + 3) throw new CgroupError(`malformed mountinfo line: ${JSON.stringify(line)}`);
    out.push({
      mountId: Number(fields[0]),
      parentId: Number(fields[1]),
      root: unescapeMountField(fields[3]!),
      mountpoint: unescapeMountField(fields[4]!),
      optional: fields.slice(6, sep),
      fstype: fields[sep + 1]!,
      source: unescapeMountField(fields[sep + 2]!),
      superOptions: (fields[sep + 3] ?? "").split(",").filter(Boolean),
    });
  }
  return out;
}

/** /proc/<pid>/cgroup: controller (or "name=xxx", or "" for cgroup2) → cgroup path. */
export function parseProcCgroup(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split("\n")) {
    if (!line) continue;
    const a = line.indexOf(":");
    const b = line.indexOf(":", a + 1);
    if (a < 0 || b < 0) throw new CgroupError(`malformed /proc/self/cgroup line: ${JSON.stringify(line)}`);
    const path = line.slice(b + 1);
    for (const c of line.slice(a + 1, b).split(",")) out.set(c, path);
  }
  return out;
}

export interface V1Hierarchy {
  /** Controllers of the hierarchy as mount options name them: ["cpu", "cpuacct"], ["name=systemd"]. */
  controllers: string[];
  mountpoint: string;
  /** The cgroup the mount shows at its mount point ("/" unless the mount is of a sub-tree). */
  mountRoot: string;
  /** This process's cgroup in the hierarchy, from /proc/self/cgroup ("" when not listed). */
  cgroup: string;
}

export interface UnifiedHierarchy {
  mountpoint: string;
  mountRoot: string;
  cgroup: string;
}

export interface CgroupHost {
  mode: CgroupMode;
  /** Where the hierarchies hang (normally /sys/fs/cgroup). */
  root: string;
  /** v1 hierarchies (none in unified mode). */
  v1: V1Hierarchy[];
  /** The cgroup2 hierarchy: the whole tree in unified mode, /sys/fs/cgroup/unified in hybrid mode. */
  unified?: UnifiedHierarchy;
}

export interface DetectOptions {
  /** Default /sys/fs/cgroup. */
  root?: string;
  /** Text of /proc/self/mountinfo (default: read it). */
  mountinfo?: string;
  /** Text of /proc/self/cgroup (default: read it). */
  procCgroup?: string;
  /** Used for statfs(root); default the real file system. */
  fs?: CgroupFs;
  /** Ask statfs(root) whether it is cgroup2 (as runc does). Default: only when mountinfo is read from
   * /proc, so an injected mountinfo alone decides. */
  statfs?: boolean;
}

function under(path: string, root: string): boolean {
  return path === root || path.startsWith(root.endsWith("/") ? root : `${root}/`);
}

/** The first mount, preferring one under `root` (runc takes the first mount of a hierarchy). */
function pick<T extends { mountpoint: string }>(mounts: T[], root: string): T | undefined {
  return mounts.find((m) => under(m.mountpoint, root)) ?? mounts[0];
}

export function detectCgroupHost(opts: DetectOptions = {}): CgroupHost {
  const root = posix.normalize(opts.root ?? DEFAULT_CGROUP_ROOT).replace(/(.)\/$/, "$1");
  const mountinfoText = opts.mountinfo ?? readFileSync("/proc/self/mountinfo", "utf8");
  const procText = opts.procCgroup ?? readFileSync("/proc/self/cgroup", "utf8");
  const useStatfs = opts.statfs ?? opts.mountinfo === undefined;
  const fs = opts.fs ?? nodeCgroupFs;

  const mounts = parseMountInfo(mountinfoText);
  const own = parseProcCgroup(procText);

  // v1: one entry per hierarchy (the same hierarchy may be mounted more than once).
  const byKey = new Map<string, V1Hierarchy[]>();
  for (const m of mounts) {
    if (m.fstype !== "cgroup") continue;
    const controllers = m.superOptions.filter((o) => V1_CONTROLLERS.has(o) || o.startsWith("name="));
    if (controllers.length === 0) continue;
    const key = [...controllers].sort().join(",");
    const cgroup = own.get(controllers[0]!) ?? "";
    const list = byKey.get(key) ?? [];
    list.push({ controllers, mountpoint: m.mountpoint, mountRoot: m.root, cgroup });
    byKey.set(key, list);
  }
  const v1: V1Hierarchy[] = [];
  for (const list of byKey.values()) v1.push(pick(list, root)!);

  const v2mounts = mounts
    .filter((m) => m.fstype === "cgroup2")
    .map((m) => ({ mountpoint: m.mountpoint, mountRoot: m.root, cgroup: own.get("") ?? "" }));
  let unified = v2mounts.find((m) => m.mountpoint === root);
  let isUnified = unified !== undefined;
  if (useStatfs) {
    const t = fs.statfsType(root);
    if (t !== undefined) isUnified = t === CGROUP2_SUPER_MAGIC;
    if (isUnified && !unified) unified = { mountpoint: root, mountRoot: "/", cgroup: own.get("") ?? "" };
  }
  if (isUnified) return { mode: "unified", root, v1: [], unified };

  // Hybrid: runc only looks at <root>/unified; prefer that mount, but accept another cgroup2 mount.
  const hybrid = v2mounts.find((m) => m.mountpoint === join(root, "unified")) ?? pick(v2mounts, root);
  if (v1.length === 0) {
    if (hybrid) return { mode: "unified", root: hybrid.mountpoint, v1: [], unified: hybrid };
    throw new CgroupError(`no cgroup hierarchy is mounted (looked for cgroup and cgroup2 mounts under ${root})`);
  }
  return hybrid ? { mode: "hybrid", root, v1, unified: hybrid } : { mode: "legacy", root, v1 };
}

/** The v1 hierarchy holding `subsystem` ("memory", "name=systemd" …). */
export function findV1Hierarchy(host: CgroupHost, subsystem: string): V1Hierarchy | undefined {
  return host.v1.find((h) => h.controllers.includes(subsystem));
}

/** Directory of this process's own cgroup in a hierarchy (the mount point joined with the part of the
 * cgroup path below the mount's root, as runc does for nested containers). */
export function ownCgroupDir(h: { mountpoint: string; mountRoot: string; cgroup: string }): string {
  let rel = posix.relative(h.mountRoot || "/", h.cgroup || "/");
  if (rel.startsWith("..")) rel = "";
  return posix.join(h.mountpoint, rel);
}

/** sd_booted(3), as runc checks it: /run/systemd/system is a directory (not a symlink to one). */
export function isSystemdRunning(fs: CgroupFs = nodeCgroupFs, dir = "/run/systemd/system"): boolean {
  return fs.subdirs(posix.dirname(dir)).includes(posix.basename(dir));
}
