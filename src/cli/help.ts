// --help pages, rendered by yargs from the same command table the parser uses. Loaded only when help
// is asked for: yargs costs ~20 ms to load, which no container start should pay.
import type { CommandSpec, FlagSpec } from "./args.ts";
import { commands, globalFlags } from "./args.ts";

function optionOf(f: FlagSpec): Record<string, unknown> {
  return {
    alias: f.alias,
    type: f.type === "array" ? "array" : f.type,
    describe: f.describe,
    default: f.default,
  };
}

export async function renderHelp(command?: CommandSpec): Promise<string> {
  const { default: yargs } = await import("yargs");
  let y = yargs([]).scriptName("tsrunc").version(false).help(false).wrap(110).strict(false);
  if (command) {
    y = y.usage(`tsrunc ${command.name} - ${command.describe}\n\nUSAGE:\n  tsrunc ${command.name} ${command.usage}`);
    for (const f of command.flags) y = y.option(f.name, optionOf(f));
  } else {
    y = y.usage(
      "tsrunc - Open Container Initiative runtime, compatible with runc\n\n" +
        "USAGE:\n  tsrunc [global options] command [command options] [arguments...]\n\n" +
        "To start a new instance of a container:\n\n    # tsrunc run [ -b bundle ] <container-id>",
    );
    for (const c of commands) y = y.command(c.name, c.describe);
    y = y.command("help", "Shows a list of commands or help for one command");
    for (const f of globalFlags) y = y.option(f.name, optionOf(f));
  }
  return (await y.getHelp()) + "\n";
}
