import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { defaultSpec, renderSpec, rootlessSpec } from "../../spec/generate.ts";
import type { CommandContext } from "../context.ts";

export function run(ctx: CommandContext): number {
  const bundle = ctx.flags.bundle as string | undefined;
  if (bundle !== undefined && bundle !== "") {
    try {
      process.chdir(bundle);
    } catch (e) {
      throw new Error(`chdir ${bundle}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file or directory" : (e as Error).message}`);
    }
  }
  if (existsSync("config.json")) throw new Error("File config.json exists. Remove it first");
  const spec = ctx.flags.rootless ? rootlessSpec(process.geteuid!(), process.getegid!()) : defaultSpec();
  writeFileSync(join(process.cwd(), "config.json"), renderSpec(spec), { mode: 0o666, flag: "wx" });
  return 0;
}
