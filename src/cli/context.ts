import type { FlagValues } from "./args.ts";
import type { RuncLogger } from "../runtime/log.ts";

/** What a command receives: runc's global options, its own flags and positionals, the logger. */
export interface CommandContext {
  command: string;
  root: string;
  systemdCgroup: boolean;
  rootless: string;
  flags: FlagValues;
  args: string[];
  log: RuncLogger;
  version: string;
}
