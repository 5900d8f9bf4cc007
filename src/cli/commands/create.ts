import type { CommandContext } from "../context.ts";
import { runtimeFor } from "./runtime.ts";

export async function run(ctx: CommandContext): Promise<number> {
  const rt = runtimeFor(ctx);
  const id = ctx.args[0]!;
  try {
    const created = await rt.create(id, {
      bundle: (ctx.flags.bundle as string) || process.cwd(),
      pidFile: ctx.flags["pid-file"] as string | undefined,
      consoleSocket: ctx.flags["console-socket"] as string | undefined,
      noPivot: ctx.flags["no-pivot"] === true,
      noNewKeyring: ctx.flags["no-new-keyring"] === true,
      preserveFds: ctx.flags["preserve-fds"] as number,
    });
    rt.native.close(created.pidfd);
  } catch (e) {
    throw new Error(`tsrunc create failed: ${(e as Error).message}`);
  }
  return 0;
}
