import type { CommandContext } from "../context.ts";
import { features } from "../../runtime/features.ts";
import { writeOut } from "../out.ts";

export function run(_ctx: CommandContext): number {
  writeOut(JSON.stringify(features(), null, "    ") + "\n");
  return 0;
}
