import { createReadStream, writeSync } from "node:fs";
import type { CommandContext } from "../context.ts";
import { runtimeFor } from "./runtime.ts";
import type { Created } from "../../runtime/container.ts";
import type { Runtime } from "../../runtime/container.ts";
import { SIGNALS } from "../../runtime/linux.ts";

// Signals a foreground `run` passes on to the container, as runc does (all but those it handles).
const FORWARDED = ["SIGHUP", "SIGINT", "SIGQUIT", "SIGTERM", "SIGUSR1", "SIGUSR2", "SIGCONT", "SIGALRM", "SIGPWR"] as const;

export async function run(ctx: CommandContext): Promise<number> {
  const rt = runtimeFor(ctx);
  const id = ctx.args[0]!;
  const detach = ctx.flags.detach === true;
  const consoleSocket = ctx.flags["console-socket"] as string | undefined;
  if (!detach && ctx.flags["no-subreaper"] !== true) rt.native.setChildSubreaper(true);
  const forwarder = detach ? undefined : signalForwarder(rt);
  let created: Created;
  try {
    created = await rt.create(id, {
      bundle: (ctx.flags.bundle as string) || process.cwd(),
      pidFile: ctx.flags["pid-file"] as string | undefined,
      consoleSocket,
      noPivot: ctx.flags["no-pivot"] === true,
      noNewKeyring: ctx.flags["no-new-keyring"] === true,
      preserveFds: ctx.flags["preserve-fds"] as number,
      receiveConsole: !detach && !consoleSocket,
      waitForStart: false,
    });
  } catch (e) {
    forwarder?.stop();
    throw new Error(`tsrunc run failed: ${(e as Error).message}`);
  }
  if (!forwarder) {
    rt.native.close(created.pidfd);
    return 0;
  }
  forwarder.target(created.pidfd);
  const stopTty = created.consoleMaster !== undefined ? proxyTerminal(rt, created.consoleMaster) : () => {};
  let code: number;
  try {
    code = await rt.waitExit(created);
  } finally {
    forwarder.stop();
    stopTty();
  }
  if (ctx.flags.keep !== true) rt.destroy(created.state);
  return code;
}

/** Forward signals to the container. Installed before the container starts, so a signal that
 * arrives while it is being created is held and delivered once the init is known (runc does too). */
function signalForwarder(rt: Runtime): { target(pidfd: number): void; stop(): void } {
  let pidfd = -1;
  const pending: number[] = [];
  const send = (sig: number) => {
    try {
      rt.native.pidfdSendSignal(pidfd, sig);
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

/** Proxy the container's pty to ours: raw mode, window size, SIGWINCH. */
function proxyTerminal(rt: Runtime, master: number): () => void {
  const stdin = process.stdin;
  const resize = () => {
    if (process.stdout.isTTY) rt.native.setWinsize(master, process.stdout.rows, process.stdout.columns);
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
  out.on("data", (chunk) => process.stdout.write(chunk));
  out.on("error", () => {}); // EIO once the container's side closes
  return () => {
    process.off("SIGWINCH", resize);
    stdin.off("data", onInput);
    if (stdin.isTTY) stdin.setRawMode(wasRaw);
    stdin.pause();
    out.destroy();
  };
}
