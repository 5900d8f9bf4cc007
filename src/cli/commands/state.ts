import type { CommandContext } from "../context.ts";
import { runtimeFor } from "./runtime.ts";
import { writeOut } from "../out.ts";

export function run(ctx: CommandContext): number {
  // runc prints the state indented by two spaces, without a trailing newline.
  writeOut(JSON.stringify(runtimeFor(ctx).state(ctx.args[0]!), null, "  "));
  return 0;
}
