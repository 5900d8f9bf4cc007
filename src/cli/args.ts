// runc's command line, as data. The same table drives the parser below (the hot path: no library
// is loaded to start a container) and the --help pages, which yargs renders on demand (help.ts).
//
// Parsing follows runc's (Go flag / urfave cli): `--flag value`, `--flag=value`, `-flag value`,
// booleans take no value unless written `--flag=false`. For exec and ps, flags end at the first
// positional argument, because everything after the container id belongs to the process.

import { defaultStateRoot } from "../runtime/userns.ts";

export type FlagType = "boolean" | "string" | "number" | "array";

export interface FlagSpec {
  name: string;
  alias?: string;
  type: FlagType;
  describe: string;
  default?: string | number | boolean;
}

export interface CommandSpec {
  name: string;
  aliases?: string[];
  describe: string;
  usage: string;
  /** Exact (number) or [min, max] positional count; max -1 = unlimited. */
  args: number | [number, number];
  flags: FlagSpec[];
  /** Flags end at the first positional (exec, ps). */
  haltAtPositional?: boolean;
}

export const globalFlags: FlagSpec[] = [
  { name: "debug", type: "boolean", describe: "enable debug logging" },
  { name: "log", type: "string", describe: "set the log file to write tsrunc logs to (default is '/dev/stderr')" },
  { name: "log-format", type: "string", describe: "set the log format ('text' (default), or 'json')", default: "text" },
  // runc's default: /run/tsrunc, or $XDG_RUNTIME_DIR/tsrunc when rootless (as help shows it).
  { name: "root", type: "string", describe: "root directory for storage of container state (this should be located in tmpfs)", default: defaultStateRoot("tsrunc") },
  { name: "criu", type: "string", describe: "path to the criu binary used for checkpoint and restore (accepted for compatibility; checkpoint is unsupported)", default: "criu" },
  { name: "systemd-cgroup", type: "boolean", describe: 'enable systemd cgroup support, expects cgroupsPath to be of form "slice:prefix:name" for e.g. "system.slice:tsrunc:434234"' },
  { name: "rootless", type: "string", describe: "ignore cgroup permission errors ('true', 'false', or 'auto')", default: "auto" },
  { name: "help", alias: "h", type: "boolean", describe: "show help" },
  { name: "version", alias: "v", type: "boolean", describe: "print the version" },
];

const bundle: FlagSpec = { name: "bundle", alias: "b", type: "string", describe: "path to the root of the bundle directory, defaults to the current directory" };
const consoleSocket: FlagSpec = { name: "console-socket", type: "string", describe: "path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal" };
const pidFile: FlagSpec = { name: "pid-file", type: "string", describe: "specify the file to write the process id to" };
const noPivot: FlagSpec = { name: "no-pivot", type: "boolean", describe: "do not use pivot root to jail process inside rootfs.  This should be used whenever the rootfs is on top of a ramdisk" };
const noNewKeyring: FlagSpec = { name: "no-new-keyring", type: "boolean", describe: "do not create a new session keyring for the container.  This will cause the container to inherit the calling processes session key" };
const preserveFds: FlagSpec = { name: "preserve-fds", type: "number", describe: "Pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total)", default: 0 };
const format: FlagSpec = { name: "format", alias: "f", type: "string", describe: "select one of: table or json (default: \"table\")", default: "table" };

export const commands: CommandSpec[] = [
  { name: "checkpoint", describe: "checkpoint a running container (unsupported)", usage: "<container-id>", args: [0, -1], flags: [] },
  {
    name: "create", describe: "create a container", usage: "[command options] <container-id>", args: 1,
    flags: [bundle, consoleSocket, pidFile, noPivot, noNewKeyring, preserveFds],
  },
  {
    name: "delete", describe: "delete any resources held by the container often used with detached container", usage: "[command options] <container-id>", args: 1,
    flags: [{ name: "force", alias: "f", type: "boolean", describe: "Forcibly deletes the container if it is still running (uses SIGKILL)" }],
  },
  {
    name: "events", describe: "display container events such as OOM notifications, cpu, memory, and IO usage statistics", usage: "[command options] <container-id>", args: 1,
    flags: [
      { name: "interval", type: "string", describe: "set the stats collection interval", default: "5s" },
      { name: "stats", type: "boolean", describe: "display the container's stats then exit" },
    ],
  },
  {
    name: "exec", describe: "execute new process inside the container", usage: "[command options] <container-id> <command> [command options]", args: [1, -1], haltAtPositional: true,
    flags: [
      consoleSocket,
      { name: "cwd", type: "string", describe: "current working directory in the container" },
      { name: "env", alias: "e", type: "array", describe: "set environment variables" },
      { name: "tty", alias: "t", type: "boolean", describe: "allocate a pseudo-TTY" },
      { name: "user", alias: "u", type: "string", describe: "UID (format: <uid>[:<gid>])" },
      { name: "additional-gids", alias: "g", type: "array", describe: "additional gids" },
      { name: "process", alias: "p", type: "string", describe: "path to the process.json" },
      { name: "detach", alias: "d", type: "boolean", describe: "detach from the container's process" },
      pidFile,
      { name: "process-label", type: "string", describe: "set the asm process label for the process commonly used with selinux" },
      { name: "apparmor", type: "string", describe: "set the apparmor profile for the process" },
      { name: "no-new-privs", type: "boolean", describe: "set the no new privileges value for the process" },
      { name: "cap", alias: "c", type: "array", describe: "add a capability to the bounding set for the process" },
      preserveFds,
      { name: "cgroup", type: "array", describe: "run the process in an (existing) sub-cgroup(s). Format is [<controller>:]<cgroup>." },
      { name: "ignore-paused", type: "boolean", describe: "allow exec in a paused container" },
    ],
  },
  { name: "features", describe: "show the enabled features", usage: "", args: 0, flags: [] },
  {
    name: "kill", describe: "kill sends the specified signal (default: SIGTERM) to the container's init process", usage: "[command options] <container-id> [signal]", args: [1, 2],
    flags: [{ name: "all", alias: "a", type: "boolean", describe: "send the specified signal to all processes inside the container" }],
  },
  {
    name: "list", aliases: ["ls"], describe: "lists containers started by tsrunc with the given root", usage: "[command options]", args: 0,
    flags: [format, { name: "quiet", alias: "q", type: "boolean", describe: "display only container IDs" }],
  },
  { name: "pause", describe: "pause suspends all processes inside the container", usage: "<container-id>", args: 1, flags: [] },
  { name: "ps", describe: "ps displays the processes running inside a container", usage: "[command options] <container-id> [ps options]", args: [1, -1], haltAtPositional: true, flags: [format] },
  { name: "restore", describe: "restore a container from a previous checkpoint (unsupported)", usage: "<container-id>", args: [0, -1], flags: [] },
  { name: "resume", describe: "resumes all processes that have been previously paused", usage: "<container-id>", args: 1, flags: [] },
  {
    name: "run", describe: "create and run a container", usage: "[command options] <container-id>", args: 1,
    flags: [
      bundle, consoleSocket,
      { name: "detach", alias: "d", type: "boolean", describe: "detach from the container's process" },
      { name: "keep", type: "boolean", describe: "do not delete the container after it exits" },
      pidFile,
      { name: "no-subreaper", type: "boolean", describe: "disable the use of the subreaper used to reap reparented processes" },
      noPivot, noNewKeyring, preserveFds,
    ],
  },
  {
    name: "spec", describe: "create a new specification file", usage: "[command options]", args: 0,
    flags: [
      { name: "bundle", alias: "b", type: "string", describe: "path to the root of the bundle directory" },
      { name: "rootless", type: "boolean", describe: "generate a configuration for a rootless container" },
    ],
  },
  { name: "start", describe: "executes the user defined process in a created container", usage: "<container-id>", args: 1, flags: [] },
  { name: "state", describe: "output the state of a container", usage: "<container-id>", args: 1, flags: [] },
  {
    name: "update", describe: "update container resource constraints", usage: "[command options] <container-id>", args: 1,
    flags: [
      { name: "resources", alias: "r", type: "string", describe: "path to the file containing the resources to update or '-' to read from the standard input" },
      { name: "blkio-weight", type: "number", describe: "Specifies per cgroup weight, range is from 10 to 1000" },
      { name: "cpu-period", type: "string", describe: "CPU CFS period to be used for hardcapping (in usecs). 0 to use system default" },
      { name: "cpu-quota", type: "string", describe: "CPU CFS hardcap limit (in usecs). Allowed cpu time in a given period" },
      { name: "cpu-share", type: "string", describe: "CPU shares (relative weight vs. other containers)" },
      { name: "cpu-rt-period", type: "string", describe: "CPU realtime period to be used for hardcapping (in usecs). 0 to use system default" },
      { name: "cpu-rt-runtime", type: "string", describe: "CPU realtime hardcap limit (in usecs). Allowed cpu time in a given period" },
      { name: "cpuset-cpus", type: "string", describe: "CPU(s) to use" },
      { name: "cpuset-mems", type: "string", describe: "Memory node(s) to use" },
      { name: "kernel-memory", type: "string", describe: "(obsoleted; do not use)" },
      { name: "kernel-memory-tcp", type: "string", describe: "(obsoleted; do not use)" },
      { name: "memory", type: "string", describe: "Memory limit (in bytes)" },
      { name: "memory-reservation", type: "string", describe: "Memory reservation or soft_limit (in bytes)" },
      { name: "memory-swap", type: "string", describe: "Total memory usage (memory + swap); set '-1' to enable unlimited swap" },
      { name: "pids-limit", type: "number", describe: "Maximum number of pids allowed in the container" },
      { name: "l3-cache-schema", type: "string", describe: "The string of Intel RDT/CAT L3 cache schema" },
      { name: "mem-bw-schema", type: "string", describe: "The string of Intel RDT/MBA memory bandwidth schema" },
    ],
  },
  { name: "validate", describe: "check a bundle's config.json against the runtime-spec and create nothing", usage: "[command options]", args: 0, flags: [bundle] },
];

export type FlagValues = Record<string, string | number | boolean | string[] | undefined>;

export interface Parsed {
  global: FlagValues;
  command?: CommandSpec;
  /** The command word as typed (unknown commands are kept for the error). */
  word?: string;
  flags: FlagValues;
  args: string[];
}

export class UsageError extends Error {
  constructor(
    message: string,
    readonly command?: CommandSpec,
    /** runc exits 3 for an unknown command, 1 for other usage errors. */
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

export function findCommand(word: string): CommandSpec | undefined {
  return commands.find((c) => c.name === word || c.aliases?.includes(word));
}

function lookup(specs: FlagSpec[], name: string): FlagSpec | undefined {
  return specs.find((f) => f.name === name || f.alias === name);
}

function setFlag(out: FlagValues, spec: FlagSpec, raw: string | undefined, where: string): void {
  switch (spec.type) {
    case "boolean":
      if (raw === undefined || raw === "true" || raw === "1") out[spec.name] = true;
      else if (raw === "false" || raw === "0") out[spec.name] = false;
      else throw new UsageError(`invalid boolean value "${raw}" for flag --${spec.name}`);
      return;
    case "number": {
      const n = Number(raw);
      if (raw === undefined || raw.trim() === "" || !Number.isInteger(n))
        throw new UsageError(`invalid value "${raw ?? ""}" for flag --${spec.name}${where}: parse error`);
      out[spec.name] = n;
      return;
    }
    case "array": {
      const prev = out[spec.name];
      out[spec.name] = [...(Array.isArray(prev) ? prev : []), raw ?? ""];
      return;
    }
    default:
      out[spec.name] = raw ?? "";
  }
}

/** Parse flags of one level (global or a command) from argv starting at i. Returns the index where
 * the level ends (the command word for the global level) and the positional arguments met. */
function parseLevel(
  argv: string[],
  start: number,
  specs: FlagSpec[],
  out: FlagValues,
  opts: { stopAtPositional: boolean; where: string; command?: CommandSpec },
): { next: number; positionals: string[] } {
  const positionals: string[] = [];
  let i = start;
  while (i < argv.length) {
    const a = argv[i]!;
    if (a === "--") {
      positionals.push(...argv.slice(i + 1));
      return { next: argv.length, positionals };
    }
    if (a.length > 1 && a.startsWith("-")) {
      const body = a.replace(/^--?/, "");
      const eq = body.indexOf("=");
      const name = eq >= 0 ? body.slice(0, eq) : body;
      const spec = lookup(specs, name);
      if (!spec) throw new UsageError(`flag provided but not defined: -${name}`, opts.command);
      let raw: string | undefined = eq >= 0 ? body.slice(eq + 1) : undefined;
      if (raw === undefined && spec.type !== "boolean") {
        raw = argv[i + 1];
        if (raw === undefined) throw new UsageError(`flag needs an argument: -${name}`, opts.command);
        i++;
      }
      setFlag(out, spec, raw, opts.where);
      i++;
      continue;
    }
    positionals.push(a);
    i++;
    if (opts.stopAtPositional) return { next: i, positionals };
  }
  return { next: i, positionals };
}

export function parseArgv(argv: string[]): Parsed {
  const global: FlagValues = {};
  const g = parseLevel(argv, 0, globalFlags, global, { stopAtPositional: true, where: "" });
  for (const f of globalFlags) if (global[f.name] === undefined && f.default !== undefined) global[f.name] = f.default;
  const word = g.positionals[0];
  if (word === undefined) return { global, flags: {}, args: [] };
  const command = findCommand(word);
  if (!command) return { global, word, flags: {}, args: argv.slice(g.next) };
  const flags: FlagValues = {};
  // --help is accepted by every command.
  const specs = [...command.flags, { name: "help", alias: "h", type: "boolean", describe: "show help" } as FlagSpec];
  let args: string[];
  if (command.haltAtPositional) {
    const first = parseLevel(argv, g.next, specs, flags, { stopAtPositional: true, where: "", command });
    args = [...first.positionals, ...argv.slice(first.next)];
  } else {
    args = parseLevel(argv, g.next, specs, flags, { stopAtPositional: false, where: "", command }).positionals;
  }
  for (const f of command.flags) if (flags[f.name] === undefined && f.default !== undefined) flags[f.name] = f.default;
  return { global, command, word, flags, args };
}

/** runc's argument-count check and its wording. */
export function checkArgCount(command: CommandSpec, args: string[]): void {
  const [min, max] = typeof command.args === "number" ? [command.args, command.args] : command.args;
  if (min === max && args.length !== min)
    throw new UsageError(`tsrunc: "${command.name}" requires exactly ${min} argument(s)`, command);
  if (args.length < min) throw new UsageError(`tsrunc: "${command.name}" requires a minimum of ${min} argument(s)`, command);
  if (max >= 0 && args.length > max) throw new UsageError(`tsrunc: "${command.name}" requires a maximum of ${max} argument(s)`, command);
}
