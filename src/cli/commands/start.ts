import type { CommandContext } from "../context.ts";
import { runtimeFor } from "./runtime.ts";

export function run(ctx: CommandContext): number {
  runtimeFor(ctx).start(ctx.args[0]!);
  return 0;
}
