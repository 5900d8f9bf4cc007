import type { CommandContext } from "../context.ts";
import { runtimeFor } from "./runtime.ts";

export function run(ctx: CommandContext): number {
  runtimeFor(ctx).kill(ctx.args[0]!, ctx.args[1] ?? "SIGTERM", ctx.flags.all === true);
  return 0;
}
