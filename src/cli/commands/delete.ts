import type { CommandContext } from "../context.ts";
import { runtimeFor } from "./runtime.ts";

export async function run(ctx: CommandContext): Promise<number> {
  await runtimeFor(ctx).delete(ctx.args[0]!, ctx.flags.force === true);
  return 0;
}
