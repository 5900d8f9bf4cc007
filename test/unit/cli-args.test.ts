import { describe, expect, it } from "vitest";
import { checkArgCount, commands, parseArgv, UsageError } from "../../src/cli/args.ts";

describe("runc's command line", () => {
  it("parses global flags before the command and command flags after it", () => {
    const p = parseArgv(["--root", "/tmp/r", "--log-format=json", "--debug", "create", "-b", "/b", "--pid-file", "/p", "id1"]);
    expect(p.global.root).toBe("/tmp/r");
    expect(p.global["log-format"]).toBe("json");
    expect(p.global.debug).toBe(true);
    expect(p.command?.name).toBe("create");
    expect(p.flags.bundle).toBe("/b");
    expect(p.flags["pid-file"]).toBe("/p");
    expect(p.flags["preserve-fds"]).toBe(0);
    expect(p.args).toEqual(["id1"]);
  });

  it("accepts Go's single-dash long flags", () => {
    const p = parseArgv(["-root", "/r", "delete", "-force", "x"]);
    expect(p.global.root).toBe("/r");
    expect(p.flags.force).toBe(true);
  });

  it("defaults --root to /run/tsrunc and --log-format to text", () => {
    const p = parseArgv(["state", "x"]);
    expect(p.global.root).toBe("/run/tsrunc");
    expect(p.global["log-format"]).toBe("text");
  });

  it("stops at the container id for exec, keeping the process's own flags", () => {
    const p = parseArgv(["exec", "-t", "--env", "A=1", "-e", "B=2", "c1", "ls", "-la", "--color"]);
    expect(p.flags.tty).toBe(true);
    expect(p.flags.env).toEqual(["A=1", "B=2"]);
    expect(p.args).toEqual(["c1", "ls", "-la", "--color"]);
  });

  it("passes ps options through after the id", () => {
    const p = parseArgv(["ps", "--format", "json", "c1", "-ef"]);
    expect(p.flags.format).toBe("json");
    expect(p.args).toEqual(["c1", "-ef"]);
  });

  it("rejects an unknown flag and a missing value", () => {
    expect(() => parseArgv(["create", "--nope", "x"])).toThrow(UsageError);
    expect(() => parseArgv(["create", "--bundle"])).toThrow(/needs an argument/);
    expect(() => parseArgv(["create", "--preserve-fds", "x", "id"])).toThrow(/invalid value/);
  });

  it("checks argument counts with runc's wording", () => {
    const state = commands.find((c) => c.name === "state")!;
    expect(() => checkArgCount(state, [])).toThrow('"state" requires exactly 1 argument(s)');
    const kill = commands.find((c) => c.name === "kill")!;
    expect(() => checkArgCount(kill, [])).toThrow('"kill" requires a minimum of 1 argument(s)');
    expect(() => checkArgCount(kill, ["a", "b", "c"])).toThrow('"kill" requires a maximum of 2 argument(s)');
    expect(() => checkArgCount(kill, ["a", "KILL"])).not.toThrow();
  });

  it("keeps an unknown command word for the error", () => {
    const p = parseArgv(["frobnicate"]);
    expect(p.command).toBeUndefined();
    expect(p.word).toBe("frobnicate");
  });

  it("has runc's command set", () => {
    const names = commands.map((c) => c.name);
    for (const c of ["checkpoint", "create", "delete", "events", "exec", "features", "kill", "list", "pause", "ps", "restore", "resume", "run", "spec", "start", "state", "update"])
      expect(names).toContain(c);
  });
});
