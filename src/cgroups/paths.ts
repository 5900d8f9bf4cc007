// linux.cgroupsPath → directories, as runc 1.1 reads it.
//
// cgroupfs driver (runc's default):
//   - absolute "/a/b": <hierarchy mount point>/a/b in every hierarchy (v2: <root>/a/b);
//   - relative "a/b":  v1: <this process's own cgroup in that hierarchy>/a/b;
//                      v2: <the PARENT of this process's own cgroup>/a/b (runc takes the parent because
//                      the own cgroup usually has processes, so controllers can't be enabled below it);
//                      hybrid's cgroup2 part: <root>/unified/a/b (runc ignores the own cgroup there);
//   - empty:           runc uses the container id as a relative path (c.Name = id, c.Path = ""), so
//                      it is the relative case with "<id>".
//   Both go through runc's CleanPath first: a relative path can't climb out with "..".
// systemd driver: "slice:prefix:name" (empty → parent system.slice, prefix "runc", name = id).

import { posix } from "node:path";
import { type CgroupHost, findV1Hierarchy, ownCgroupDir } from "./detect.ts";
import { CgroupError } from "./errors.ts";

/** v1 subsystems runc joins, in its order ("" = the cgroup2 hierarchy of a hybrid host). */
export const V1_SUBSYSTEMS = [
  "cpuset",
  "devices",
  "memory",
  "cpu",
  "cpuacct",
  "pids",
  "blkio",
  "hugetlb",
  "net_cls",
  "net_prio",
  "perf_event",
  "freezer",
  "rdma",
  "name=systemd",
] as const;

/** Subsystems joined best-effort (their failures are ignored, as in runc's NameGroup). */
export const BEST_EFFORT_SUBSYSTEMS = new Set(["name=systemd", ""]);

/** runc's utils.CleanPath: lexically clean; a relative path stays relative but can't start with "..". */
export function cleanPath(path: string): string {
  if (path === "") return "";
  let p = posix.normalize(path);
  if (!p.startsWith("/")) {
    p = posix.relative("/", posix.normalize(`/${p}`)) || ".";
  }
  p = posix.normalize(p);
  return p.length > 1 && p.endsWith("/") ? p.slice(0, -1) : p;
}

/** The path inside the hierarchies that a cgroupfs-driver container uses: its cleaned cgroupsPath, or
 * its id when cgroupsPath is empty. Absolute or relative, as given. */
export function innerCgroupPath(cgroupsPath: string | undefined, containerId: string): string {
  const inner = cleanPath(cgroupsPath ?? "");
  if (inner !== "") return inner;
  const name = cleanPath(containerId);
  if (name === "" || name === ".") throw new CgroupError("empty cgroupsPath and no container id to name the cgroup");
  return name;
}

/** Directory of the container in the cgroup v2 tree. */
export function resolveV2Path(host: CgroupHost, inner: string): string {
  const u = host.unified;
  if (!u) throw new CgroupError("no cgroup2 hierarchy is mounted");
  if (inner.startsWith("/")) return posix.join(u.mountpoint, inner);
  // The parent of our own cgroup, taken below the mount's root so it can't leave the mount.
  let rel = posix.relative(u.mountRoot || "/", u.cgroup || "/");
  if (rel.startsWith("..")) rel = "";
  return posix.join(u.mountpoint, posix.dirname(`/${rel}`), inner);
}

/** subsystem → directory of the container for every v1 hierarchy the host has (plus "" on a hybrid
 * host). A subsystem the host doesn't mount is absent. */
export function resolveV1Paths(host: CgroupHost, inner: string): Record<string, string> {
  const paths: Record<string, string> = {};
  const abs = inner.startsWith("/");
  for (const s of V1_SUBSYSTEMS) {
    const h = findV1Hierarchy(host, s);
    if (!h) continue;
    paths[s] = abs ? posix.join(h.mountpoint, inner) : posix.join(ownCgroupDir(h), inner);
  }
  if (host.mode === "hybrid" && host.unified) paths[""] = posix.join(host.unified.mountpoint, inner);
  return paths;
}

// ---- systemd driver ------------------------------------------------------------------------------

export interface SystemdCgroupConfig {
  /** The slice ("system.slice"); "" for the default. */
  parent: string;
  scopePrefix: string;
  name: string;
}

/** "slice:prefix:name", as runc splits it; empty → runc's defaults. */
export function parseSystemdCgroupsPath(cgroupsPath: string | undefined, containerId: string): SystemdCgroupConfig {
  if (!cgroupsPath) return { parent: "", scopePrefix: "runc", name: containerId };
  const parts = cgroupsPath.split(":");
  if (parts.length !== 3) {
    throw new CgroupError(
      `expected cgroupsPath to be of format "slice:prefix:name" for systemd cgroups, got ${JSON.stringify(cgroupsPath)} instead`,
    );
  }
  return { parent: parts[0]!, scopePrefix: parts[1]!, name: parts[2]! };
}

/** systemd's slice naming: "a-b-c.slice" lives at /a.slice/a-b.slice/a-b-c.slice; "-.slice" is "/". */
export function expandSlice(slice: string): string {
  const suffix = ".slice";
  if (slice.length < suffix.length || !slice.endsWith(suffix) || slice.includes("/")) {
    throw new CgroupError(`invalid slice name: ${slice}`);
  }
  const base = slice.slice(0, -suffix.length);
  if (base === "-") return "/";
  let path = "";
  let prefix = "";
  for (const part of base.split("-")) {
    if (part === "") throw new CgroupError(`invalid slice name: ${slice}`);
    path += `/${prefix}${part}${suffix}`;
    prefix += `${part}-`;
  }
  return path;
}

/** A scope "<prefix>-<name>.scope" unless the name is itself a slice. */
export function systemdUnitName(c: SystemdCgroupConfig): string {
  return c.name.endsWith(".slice") ? c.name : `${c.scopePrefix}-${c.name}.scope`;
}

/** Where systemd will put the unit, relative to the cgroup root (v2 layout): "/system.slice/runc-x.scope". */
export function systemdCgroupPath(c: SystemdCgroupConfig, rootless = false): string {
  const slice = c.parent ? expandSlice(c.parent) : rootless ? "/user.slice" : "/system.slice";
  return posix.join(slice, systemdUnitName(c));
}
