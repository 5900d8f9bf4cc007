// `tsrunc exec`: runc's flags, its checks in its order, its exit codes (the process's, 128+n for a
// signal, 255 when exec itself fails). containerd's shim runs
// `exec --process F --detach --pid-file P [--console-socket S] ID`.
import type { CommandContext } from "../context.ts";
import { runtimeFor } from "./runtime.ts";
import { closeHostConsole, openHostConsole, proxyTerminal, signalForwarder, type HostConsole } from "../io.ts";
import { checkedProcessFromFlags, execInContainer, execTarget, loadProcessFile, parseSubCgroups } from "../../runtime/exec.ts";
import { exitCode } from "../../runtime/initproc.ts";
import { mark } from "../../runtime/timing.ts";

const strs = (v: unknown): string[] | undefined => (Array.isArray(v) ? v.map(String) : undefined);
const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

export async function run(ctx: CommandContext): Promise<number> {
  try {
    return await exec(ctx);
  } catch (e) {
    ctx.log.fatal(`exec failed: ${(e as Error).message}`);
    return 255;
  }
}

async function exec(ctx: CommandContext): Promise<number> {
  const rt = runtimeFor(ctx);
  const f = ctx.flags;
  const [id, ...args] = ctx.args as [string, ...string[]];
  const state = execTarget(rt, id, f["ignore-paused"] === true);
  mark("exec: container state");
  const processFile = str(f.process);
  if (!processFile && args.length === 0) throw new Error("process args cannot be empty");
  const proc = processFile
    ? loadProcessFile(processFile, state.config, state.bundle, ctx.log)
    : checkedProcessFromFlags(
        state,
        {
          args,
          cwd: str(f.cwd),
          env: strs(f.env),
          tty: f.tty as boolean | undefined,
          user: str(f.user),
          additionalGids: strs(f["additional-gids"]),
          caps: strs(f.cap),
          noNewPrivs: f["no-new-privs"] as boolean | undefined,
          apparmor: str(f.apparmor),
          processLabel: str(f["process-label"]),
        },
        ctx.log,
      );
  const subCgroups = parseSubCgroups(strs(f.cgroup) ?? []);
  mark("exec: process checked");
  const detach = f.detach === true;
  const consoleSocket = str(f["console-socket"]);
  // A terminal in the foreground needs the caller's: without one nothing is started (runc's words).
  const host: HostConsole | undefined = proc.terminal && !detach && !consoleSocket ? openHostConsole() : undefined;

  // Installed first: a signal that comes while the process is set up is delivered once it runs.
  const forwarder = detach ? undefined : signalForwarder(rt.native);
  let execed;
  try {
    execed = execInContainer(rt, state, {
      process: proc,
      detach,
      consoleSocket,
      pidFile: str(f["pid-file"]),
      preserveFds: f["preserve-fds"] as number,
      subCgroups,
    });
  } catch (e) {
    forwarder?.stop();
    if (host) closeHostConsole(host);
    throw e;
  }
  mark("exec: process started");
  if (!forwarder) {
    rt.native.close(execed.pidfd);
    return 0;
  }
  forwarder.target(execed.pidfd);
  const stopTty = execed.consoleMaster !== undefined && host ? proxyTerminal(rt.native, execed.consoleMaster, host) : async () => {};
  try {
    const st = await rt.native.waitPidfd(execed.pidfd);
    mark("exec: process exited");
    return exitCode(st);
  } finally {
    forwarder.stop();
    await stopTty();
    rt.native.close(execed.pidfd);
  }
}
