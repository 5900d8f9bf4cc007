import type { CommandContext } from "../context.ts";
import { runtimeFor } from "./runtime.ts";

export async function run(ctx: CommandContext): Promise<number> {
  await runtimeFor(ctx).start(ctx.args[0]!);
  return 0;
}
