// The shim's children (container inits and exec'd processes) are reaped on SIGCHLD, like runc's
// shim does: a blocking waitid per process would hold one of the runtime's few worker threads for
// the process's whole life, and the second one would wait for the first.
//
// The shim is a subreaper: the orphans of a container without a pid namespace of its own come to
// it, and are reaped too, unless a runtime operation is under way (hold()): that one waits for its
// own short-lived children (the forked intermediate of a pid-namespace join, a failed init) and must
// find them unreaped.
import type { ExitStatus, Native } from "../native/types.ts";

export class Reaper {
  private readonly waiting = new Map<number, (st: ExitStatus) => void>();
  private busy = 0;
  private readonly onSignal = () => this.check();
  /** Orphans reaped so far (for tests and the debug log). */
  orphansReaped = 0;

  constructor(private readonly native: Native) {
    process.on("SIGCHLD", this.onSignal);
    // Signals coalesce, and one may come between a clone and wait(): look now and then too.
    const timer = setInterval(this.onSignal, 1000);
    timer.unref?.();
    this.stop = () => {
      process.off("SIGCHLD", this.onSignal);
      clearInterval(timer);
    };
  }

  /** Stop listening (tests; the shim reaps until it exits). */
  readonly stop: () => void;

  /** Resolves with the exit of `pid`, a child of ours, once it has been reaped. */
  wait(pid: number): Promise<ExitStatus> {
    return new Promise((resolve) => {
      this.waiting.set(pid, resolve);
      this.check();
    });
  }

  /** Run a runtime operation with the orphan reaping held back. */
  async hold<T>(fn: () => Promise<T> | T): Promise<T> {
    this.busy++;
    try {
      return await fn();
    } finally {
      this.busy--;
      this.check();
    }
  }

  private resolve(pid: number, st: ExitStatus): void {
    const r = this.waiting.get(pid);
    this.waiting.delete(pid);
    r?.(st);
  }

  private check(): void {
    for (const pid of [...this.waiting.keys()]) {
      let st: ExitStatus | null;
      try {
        st = this.native.tryWait(pid);
      } catch {
        // ECHILD: somebody else reaped it; its status is lost (containerd's "unknown" is 255).
        st = { code: 255, signal: null };
      }
      if (st !== null) this.resolve(pid, st);
    }
    if (this.busy > 0) return;
    for (;;) {
      let pid: number;
      try {
        pid = this.native.peekExited();
      } catch {
        return;
      }
      if (pid <= 0) return;
      let st: ExitStatus | null = null;
      try {
        st = this.native.tryWait(pid);
      } catch {}
      if (st === null) return; // not reapable after all: leave it to the next signal
      if (this.waiting.has(pid)) this.resolve(pid, st);
      else this.orphansReaped++;
    }
  }
}
