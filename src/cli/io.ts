// What a foreground `run` and `exec` share: signals passed on to the container's process and the
// pty proxied to the caller's terminal.
import { closeSync, createReadStream, openSync, writeSync } from "node:fs";
import { isatty, ReadStream } from "node:tty";
import type { Native } from "../native/types.ts";
import { errnoMessage } from "../runtime/errno.ts";
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

/** The caller's terminal, for a process with a terminal in the foreground. */
export interface HostConsole {
  fd: number;
  /** The fd is /dev/tty, opened here. */
  opened: boolean;
}

/** The caller's terminal as runc finds it: stderr, stdout or stdin, else the controlling terminal.
 * Asked for before the process starts: without one runc fails at once and starts nothing. */
export function openHostConsole(): HostConsole {
  for (const fd of [2, 1, 0]) if (isatty(fd)) return { fd, opened: false };
  try {
    return { fd: openSync("/dev/tty", "r"), opened: true };
  } catch (e) {
    throw new Error(`open /dev/tty: ${errnoMessage(e)}`);
  }
}

export function closeHostConsole(host: HostConsole): void {
  if (host.opened) closeSync(host.fd);
}

/** Raw mode on the host's terminal; returns the undo. Through stdin when it is a terminal (the
 * common case: the one it is), else through a stream of its own on the terminal found. */
function rawMode(host: HostConsole): () => void {
  const stdin = process.stdin;
  if (stdin.isTTY) {
    const wasRaw = stdin.isRaw;
    stdin.setRawMode(true);
    return () => stdin.setRawMode(wasRaw);
  }
  // On an fd of its own (the stream closes it), never one of our stdio fds or the host's.
  let fd = -1;
  let tty: ReadStream | undefined;
  try {
    fd = openSync(host.opened ? "/dev/tty" : `/proc/self/fd/${host.fd}`, "r");
    tty = new ReadStream(fd);
    tty.setRawMode(true);
  } catch {
    // best effort: the process runs, its output still comes through
    if (tty) tty.destroy();
    else if (fd >= 0) closeSync(fd);
    return () => {};
  }
  const stream = tty;
  return () => {
    stream.setRawMode(false);
    stream.destroy();
  };
}

/** Proxy a pty master to our stdio: raw mode, the host terminal's size and SIGWINCH, as runc does
 * (output to stdout, input from stdin, whichever of them are terminals). Returns the undo, which
 * first lets the output the process left in the pty reach us (until EIO: its side is closed),
 * briefly, and closes the host console. */
export function proxyTerminal(native: Native, master: number, host: HostConsole): () => Promise<void> {
  const stdin = process.stdin;
  const resize = () => {
    try {
      const { rows, cols } = native.getWinsize(host.fd);
      native.setWinsize(master, rows, cols);
    } catch {
      // as runc: the terminal may be gone (a SIGHUP race); the size stays
    }
  };
  resize();
  process.on("SIGWINCH", resize);
  const unraw = rawMode(host);
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
    unraw();
    closeHostConsole(host);
    stdin.pause();
    out.destroy();
  };
}
