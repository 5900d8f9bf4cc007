import { resolve } from "node:path";
import type { CommandContext } from "../context.ts";
import { loadBundleConfig } from "../../runtime/config.ts";
import { writeOut } from "../out.ts";

/** Check a bundle and create nothing (runc has no such command). */
export function run(ctx: CommandContext): number {
  const bundle = resolve((ctx.flags.bundle as string) || process.cwd());
  loadBundleConfig(bundle, { log: ctx.log, systemdCgroup: ctx.systemdCgroup });
  writeOut(`${bundle}/config.json: valid\n`);
  return 0;
}
