import { resumeContainer } from "../../runtime/pause.ts";
import type { CommandContext } from "../context.ts";
import { runtimeFor } from "./runtime.ts";

export function run(ctx: CommandContext): number {
  resumeContainer(runtimeFor(ctx), ctx.args[0]!);
  return 0;
}
