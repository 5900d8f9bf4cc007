// Hides most of the kernel's cgroup attach latency from `create`, `run` and `exec` (bench/README.md).
//
// Moving a process into a cgroup (a write to cgroup.procs, v1 or v2) write-locks the kernel's global
// cgroup_threadgroup_rwsem. When nobody has done so for a while, taking that lock first waits for an
// RCU grace period: 5–15 ms on the bench machine, the largest single cost of `tsrunc run` (runc pays
// it too). An attach that comes within about a grace period after another one takes ~0.1 ms.
//
// So the wait is started early and off the main thread: this process writes its own pid into the
// cgroup.procs of the cgroup it already is in, from Bun's thread pool. The kernel takes the lock
// (paying the grace period), finds nothing to move and releases it; the init's real attach then
// finds the lock warm. Any failure only means the wait is not hidden.
//
// "Early" has a limit: while the kernel waits for the grace period it holds cgroup_mutex (which
// mkdir of a cgroup takes) and blocks the read side of that rwsem (which every fork and thread
// creation takes). So the caller primes once the container's cgroups exist and before JS work
// that neither forks nor makes cgroups (building the plan); the init's clone then waits for what is
// left of the grace period, and its attach does not wait again.
import { promises as fsp } from "node:fs";
import { posix } from "node:path";
import type { CgroupHost, CgroupManager } from "../cgroups/index.ts";

/** Start the no-op attach; the promise settles (never rejects) when the kernel is done with it. */
export function primeCgroupAttach(host: CgroupHost): Promise<void> {
  // Any hierarchy will do: the lock is global. Prefer cgroup2, where the own cgroup is one line.
  const h = host.unified ?? host.v1.find((x) => x.controllers.includes("pids")) ?? host.v1[0];
  if (!h?.cgroup) return Promise.resolve();
  // Only our own cgroup: a directory that is not it would move this process. When the mount shows
  // another part of the tree, our cgroup is not there to write to.
  const rel = posix.relative(h.mountRoot || "/", h.cgroup);
  if (rel.startsWith("..")) return Promise.resolve();
  // "r+": never create the file (a directory that is not a cgroup gets nothing).
  return fsp.writeFile(posix.join(h.mountpoint, rel, "cgroup.procs"), String(process.pid), { flag: "r+" }).catch(() => {});
}

/** The directory a process can be cloned straight into (clone3 CLONE_INTO_CGROUP), which needs no
 * attach and so no wait: the container's cgroup on a pure cgroup v2 host with the cgroupfs driver
 * (the systemd driver makes its unit for a live pid). Undefined elsewhere. */
export function cloneIntoDir(cg: CgroupManager | undefined): string | undefined {
  return cg && cg.kind === "v2" && cg.mode === "unified" && cg.toState().driver === "cgroupfs" ? cg.paths[""] : undefined;
}
