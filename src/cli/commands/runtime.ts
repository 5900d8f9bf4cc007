import { Runtime } from "../../runtime/container.ts";
import type { CommandContext } from "../context.ts";

/** The runtime library configured from runc's global options. */
export function runtimeFor(ctx: CommandContext): Runtime {
  return new Runtime({ root: ctx.root, log: ctx.log, systemdCgroup: ctx.systemdCgroup, rootless: ctx.rootless });
}
