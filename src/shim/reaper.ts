// The shim's children (container inits and exec'd processes) are reaped on SIGCHLD, like runc's
// shim does: a blocking waitid per process would hold one of the runtime's few worker threads for
// the process's whole life, and the second one would wait for the first.
import type { ExitStatus, Native } from "../native/types.ts";

export class Reaper {
  private readonly waiting = new Map<number, (st: ExitStatus) => void>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private readonly onSignal = () => this.check();

  constructor(private readonly native: Native) {}

  /** Resolves with the exit of `pid`, a child of ours, once it has been reaped. */
  wait(pid: number): Promise<ExitStatus> {
    return new Promise((resolve) => {
      this.waiting.set(pid, resolve);
      if (this.waiting.size === 1) {
        process.on("SIGCHLD", this.onSignal);
        // Signals coalesce, and one may come between a clone and this call: look now and then too.
        this.timer = setInterval(this.onSignal, 1000);
        this.timer.unref?.();
      }
      this.check();
    });
  }

  private check(): void {
    for (const [pid, resolve] of this.waiting) {
      let st: ExitStatus | null;
      try {
        st = this.native.tryWait(pid);
      } catch {
        // ECHILD: somebody else reaped it; its status is lost (containerd's "unknown" is 255).
        st = { code: 255, signal: null };
      }
      if (st === null) continue;
      this.waiting.delete(pid);
      resolve(st);
    }
    if (this.waiting.size === 0 && this.timer) {
      process.off("SIGCHLD", this.onSignal);
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}
