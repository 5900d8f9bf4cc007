// Hides most of the kernel's cgroup attach latency from `create` and `run` (bench/README.md).
//
// Moving a process into a cgroup (a write to cgroup.procs, v1 or v2) write-locks the kernel's global
// cgroup_threadgroup_rwsem. When nobody has done so for a while, taking that lock first waits for an
// RCU grace period: 5–15 ms on the bench machine, the largest single cost of `tsrunc run` (runc pays
// it too). An attach that comes within about a grace period after another one takes ~0.1 ms.
//
// So the wait is started early and off the main thread: a throw-away child that exits at once is
// forked before the container's cgroups are made; as soon as they exist, its pid is written to one
// of their cgroup.procs from Bun's thread pool. The kernel takes the lock (paying the grace period),
// then skips the task because it has exited: nothing moves. Meanwhile this thread builds the plan
// and clones the init, and the init's real attach finds the lock warm (if the no-op attach is still
// waiting, the real one simply waits in the kernel for it to finish, no longer than it would have).
//
// The pid is only written once the child is a zombie (checked in /proc), so no live process ever
// enters the container's cgroup; any failure only means that the wait is not hidden.
import { promises as fsp } from "node:fs";
import { join } from "node:path";
import type { Native } from "../native/types.ts";
import { processStartTime } from "./state.ts";

export class AttachPrimer {
  private pid = 0;
  private pidfd = -1;
  private sock = -1;
  private write: Promise<void> | undefined;

  constructor(private readonly native: Native) {
    try {
      // An empty plan: the child resets its signal handlers and exits 0.
      const child = native.spawnInit({ cloneFlags: 0, rootfs: "/", ops: [] });
      this.pid = child.pid;
      this.pidfd = child.pidfd;
      this.sock = child.sock;
    } catch {
      // no priming
    }
  }

  /** Start the no-op attach into `cgroupDir` (a cgroup directory, with a cgroup.procs file). */
  prime(cgroupDir: string | undefined): void {
    if (!cgroupDir || this.pid <= 0 || this.write) return;
    // Still running (not yet a zombie)? Then skip: it must never join the container's cgroup.
    if (processStartTime(this.pid) !== null) return;
    // "r+": never create the file (a directory that is not a cgroup gets nothing).
    this.write = fsp.writeFile(join(cgroupDir, "cgroup.procs"), String(this.pid), { flag: "r+" }).catch(() => {});
  }

  /** Wait for the no-op attach, then reap the child. */
  async dispose(): Promise<void> {
    if (this.pidfd < 0) return;
    const { native } = this;
    try {
      await this.write;
      await native.waitPidfd(this.pidfd);
    } catch {}
    for (const fd of [this.pidfd, this.sock]) {
      try {
        native.close(fd);
      } catch {}
    }
    this.pidfd = -1;
  }
}
