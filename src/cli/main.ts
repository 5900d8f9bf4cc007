// tsrunc's entry point: parse runc's command line, then load and run only the command asked for.
import { mark, reportTiming } from "../runtime/timing.ts"; // first: its evaluation marks the first JS
import { checkArgCount, findCommand, parseArgv, UsageError, type CommandSpec, type Parsed } from "./args.ts";
import { RuncLogger } from "../runtime/log.ts";
import { defaultStateRoot } from "../runtime/userns.ts";
import type { CommandContext } from "./context.ts";
import { VERSION, versionText } from "./version.ts";
import { writeSync } from "node:fs";

type CommandModule = { run(ctx: CommandContext): Promise<number> | number };

// Literal dynamic imports: bundled into the binary, evaluated only when the command runs.
function load(name: string): Promise<CommandModule> {
  switch (name) {
    case "spec": return import("./commands/spec.ts");
    case "validate": return import("./commands/validate.ts");
    case "create": return import("./commands/create.ts");
    case "start": return import("./commands/start.ts");
    case "run": return import("./commands/run.ts");
    case "state": return import("./commands/state.ts");
    case "kill": return import("./commands/kill.ts");
    case "delete": return import("./commands/delete.ts");
    case "list": return import("./commands/list.ts");
    case "features": return import("./commands/features.ts");
    case "update": return import("./commands/update.ts");
    case "pause": return import("./commands/pause.ts");
    case "resume": return import("./commands/resume.ts");
    case "events": return import("./commands/events.ts");
    case "exec": return import("./commands/exec.ts");
    case "ps": return import("./commands/ps.ts");
    default: return import("./commands/unsupported.ts");
  }
}

/** A short output straight to fd 1: the first use of process.stdout costs ~3 ms of start-up. */
function writeOut(text: string): void {
  const buf = Buffer.from(text);
  let off = 0;
  try {
    while (off < buf.length) off += writeSync(1, buf, off);
  } catch {
    process.stdout.write(buf.subarray(off)); // EAGAIN (a non-blocking stdout) and the like
  }
}

async function help(command?: CommandSpec, stream: NodeJS.WriteStream = process.stdout): Promise<void> {
  const { renderHelp } = await import("./help.ts");
  stream.write(await renderHelp(command));
}

export async function main(argv: string[]): Promise<number> {
  mark("cli modules");
  // containerd finds the shim as dist/containerd-shim-tsrunc-v2, a link to this binary.
  if (/^containerd-shim-/.test(process.argv0.split("/").pop() ?? "")) {
    // A separate entry point of the binary (scripts/build.sh), imported by a path the bundler does
    // not follow: in the CLI's module graph it would cost every command its start-up.
    const shim = "../shim/main.ts";
    return ((await import(shim)) as typeof import("../shim/main.ts")).shimMain(argv);
  }
  // The cheapest path first: `--version` loads nothing.
  if (argv.length === 1 && (argv[0] === "--version" || argv[0] === "-v")) {
    writeOut(versionText());
    return 0;
  }
  let parsed: Parsed;
  try {
    parsed = parseArgv(argv);
  } catch (e) {
    const err = e as UsageError;
    new RuncLogger({ format: "text", debug: false }).fatal(err.message);
    return 1;
  }
  const g = parsed.global;
  const logFormat = g["log-format"] === "json" ? "json" : "text";
  const log = new RuncLogger({ file: g.log as string | undefined, format: logFormat, debug: g.debug === true });
  if (g["log-format"] !== "text" && g["log-format"] !== "json") {
    log.fatal(`invalid log-format: ${String(g["log-format"])}`);
    return 1;
  }
  if (g.version) {
    writeOut(versionText());
    return 0;
  }
  if (!parsed.word || g.help) {
    await help();
    return 0;
  }
  if (parsed.word === "help" || parsed.word === "h") {
    const topic = parsed.args[0];
    if (topic === undefined) {
      await help();
      return 0;
    }
    const c = findCommand(topic);
    if (!c) {
      log.fatal(`No help topic for '${topic}'`);
      return 3;
    }
    await help(c);
    return 0;
  }
  const command = parsed.command;
  if (!command) {
    log.fatal(`No help topic for '${parsed.word}'`);
    return 3;
  }
  if (parsed.flags.help) {
    await help(command);
    return 0;
  }
  try {
    checkArgCount(command, parsed.args);
  } catch (e) {
    process.stdout.write("Incorrect Usage.\n\n");
    await help(command);
    log.fatal((e as Error).message);
    return 1;
  }
  const ctx: CommandContext = {
    command: command.name,
    root: (g.root as string) || defaultStateRoot("tsrunc"),
    systemdCgroup: g["systemd-cgroup"] === true,
    rootless: g.rootless as string,
    flags: parsed.flags,
    args: parsed.args,
    log,
    version: VERSION,
  };
  try {
    const mod = await load(command.name);
    mark("command modules");
    return await mod.run(ctx);
  } catch (e) {
    log.fatal(e instanceof Error ? e.message : String(e));
    if (process.env.TSRUNC_TRACE && e instanceof Error && e.stack) process.stderr.write(e.stack + "\n");
    return 1;
  }
}

const code = await main(process.argv.slice(2));
reportTiming();
// Let pending stdout writes drain before exiting (a pipe may be slow to read).
process.exit(code);
