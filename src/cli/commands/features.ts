import type { CommandContext } from "../context.ts";
import { features } from "../../runtime/features.ts";

export function run(_ctx: CommandContext): number {
  process.stdout.write(JSON.stringify(features(), null, "    ") + "\n");
  return 0;
}
