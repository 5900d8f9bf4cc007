import type { CommandContext } from "../context.ts";
import { mark } from "../../runtime/timing.ts";
import { runtimeFor } from "./runtime.ts";
import type { Created } from "../../runtime/container.ts";
import { closeHostConsole, openHostConsole, proxyTerminal, signalForwarder, type HostConsole } from "../io.ts";

export async function run(ctx: CommandContext): Promise<number> {
  const rt = runtimeFor(ctx);
  const id = ctx.args[0]!;
  const detach = ctx.flags.detach === true;
  const consoleSocket = ctx.flags["console-socket"] as string | undefined;
  if (!detach && ctx.flags["no-subreaper"] !== true) rt.native.setChildSubreaper(true);
  const forwarder = detach ? undefined : signalForwarder(rt.native);
  let created: Created;
  let host: HostConsole | undefined;
  try {
    created = await rt.create(id, {
      bundle: (ctx.flags.bundle as string) || process.cwd(),
      pidFile: ctx.flags["pid-file"] as string | undefined,
      consoleSocket,
      noPivot: ctx.flags["no-pivot"] === true,
      noNewKeyring: ctx.flags["no-new-keyring"] === true,
      preserveFds: ctx.flags["preserve-fds"] as number,
      receiveConsole: !detach && !consoleSocket,
      // A terminal in the foreground needs the caller's: without one nothing is created (runc's words).
      beforeConsole: () => (host = openHostConsole()),
      waitForStart: false,
    });
  } catch (e) {
    forwarder?.stop();
    if (host) closeHostConsole(host);
    throw new Error(`tsrunc run failed: ${(e as Error).message}`);
  }
  if (!forwarder) {
    rt.native.close(created.pidfd);
    return 0;
  }
  forwarder.target(created.pidfd);
  const stopTty = created.consoleMaster !== undefined && host ? proxyTerminal(rt.native, created.consoleMaster, host) : async () => {};
  let code: number;
  try {
    mark("create done");
    code = await rt.waitExit(created);
    mark("exec+wait");
  } finally {
    forwarder.stop();
    await stopTty();
  }
  if (ctx.flags.keep !== true) await rt.destroy(created.state);
  mark("cleanup");
  return code;
}
