import type { CommandContext } from "../context.ts";

/** Commands runc has that tsrunc does not implement (yet): said plainly, never faked. */
export function run(ctx: CommandContext): number {
  throw new Error(`${ctx.command} is not supported by tsrunc`);
}
