// What a foreground `run` and `exec` share: signals passed on to the container's process and the
// pty proxied to the caller's terminal.
import { createReadStream, writeSync } from "node:fs";
import type { Native } from "../native/types.ts";
import { SIGNALS } from "../runtime/linux.ts";

// Signals passed on to the process, as runc does (all but those it handles itself).
const FORWARDED = ["SIGHUP", "SIGINT", "SIGQUIT", "SIGTERM", "SIGUSR1", "SIGUSR2", "SIGCONT", "SIGALRM", "SIGPWR"] as const;

export interface SignalForwarder {
  /** The process to signal from now on (its pidfd); signals that came before are delivered now. */
  target(pidfd: number): void;
  stop(): void;
}

/** Forward signals to a process. Installed before the process exists, so a signal that arrives
 * while it is being set up is held and delivered once it is known (runc does too). */
export function signalForwarder(native: Native): SignalForwarder {
  let pidfd = -1;
  const pending: number[] = [];
  const send = (sig: number) => {
    try {
      native.pidfdSendSignal(pidfd, sig);
    } catch {
      // already gone: the wait will tell
    }
  };
  const handlers: [string, () => void][] = FORWARDED.map((name) => {
    const h = () => (pidfd >= 0 ? send(SIGNALS[name]!) : pending.push(SIGNALS[name]!));
    process.on(name, h);
    return [name, h];
  });
  return {
    target(fd) {
      pidfd = fd;
      for (const sig of pending.splice(0)) send(sig);
    },
    stop() {
      for (const [name, h] of handlers) process.off(name, h);
    },
  };
}

/** Proxy a pty master to our stdio: raw mode, window size, SIGWINCH. Returns the undo, which first
 * lets the output the process left in the pty reach us (until EIO: its side is closed), briefly. */
export function proxyTerminal(native: Native, master: number): () => Promise<void> {
  const stdin = process.stdin;
  const resize = () => {
    if (process.stdout.isTTY) native.setWinsize(master, process.stdout.rows, process.stdout.columns);
  };
  resize();
  process.on("SIGWINCH", resize);
  const wasRaw = stdin.isTTY ? stdin.isRaw : false;
  if (stdin.isTTY) stdin.setRawMode(true);
  const onInput = (chunk: Buffer) => {
    try {
      writeSync(master, chunk);
    } catch {}
  };
  stdin.on("data", onInput);
  const out = createReadStream("", { fd: master, autoClose: false, highWaterMark: 16384 });
  // Written synchronously: the process exits right after, and nothing may be left unwritten.
  out.on("data", (chunk) => {
    try {
      writeSync(1, chunk as Buffer);
    } catch {}
  });
  const drained = new Promise<void>((resolve) => {
    out.on("error", () => resolve()); // EIO once the container's side closes
    out.on("end", () => resolve());
    out.on("close", () => resolve());
  });
  return async () => {
    await Promise.race([drained, new Promise((r) => setTimeout(r, 1000))]);
    process.off("SIGWINCH", resize);
    stdin.off("data", onInput);
    if (stdin.isTTY) stdin.setRawMode(wasRaw);
    stdin.pause();
    out.destroy();
  };
}
