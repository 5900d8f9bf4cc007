// `tsrunc ps` beside `runc ps`: ps(1)'s table for the container's processes only, or their pids as
// JSON. Root only.
import { describe, expect, it } from "vitest";
import { type Bundle, bundleFactory, errors, haveBinary, isRoot, runc, tsrunc, waitFor } from "./helpers.ts";

const newBundle = bundleFactory();

type Runtime = typeof tsrunc;

/** A container (its own bundle and cgroup) running `sleep 1000`, plus an exec'd `sleep 999`. */
function twoProcesses(rt: Runtime): Bundle {
  const b = newBundle((c) => (c.process.args = ["sleep", "1000"]));
  expect(rt(b, ["run", "-d", b.id]).status).toBe(0);
  expect(rt(b, ["exec", "-d", b.id, "sleep", "999"]).status).toBe(0);
  return b;
}

const lines = (out: string) => out.split("\n").filter(Boolean);
/** The CMD column of `ps -ef` lines (everything after the TIME field). */
const commands = (out: string) => lines(out).slice(1).map((l) => l.split(/\s+/).slice(7).join(" ")).sort();

describe.skipIf(!isRoot || !haveBinary)("ps", () => {
  it("prints ps -ef's table for the container's processes only, as runc does", () => {
    const ours = twoProcesses(tsrunc);
    const theirs = twoProcesses(runc);
    const a = tsrunc(ours, ["ps", ours.id]);
    const b = runc(theirs, ["ps", theirs.id]);
    expect(a.stderr).toBe("");
    expect(a.status).toBe(0);
    expect(lines(a.stdout)[0]).toBe(lines(b.stdout)[0]);
    expect(lines(a.stdout)[0]).toMatch(/^UID\s+PID\s+PPID\s+C\s+STIME\s+TTY\s+TIME\s+CMD$/);
    expect(commands(a.stdout)).toEqual(["sleep 1000", "sleep 999"]);
    expect(commands(a.stdout)).toEqual(commands(b.stdout));
  });

  it("prints the pids as JSON, and passes its arguments to ps", () => {
    const ours = twoProcesses(tsrunc);
    const theirs = twoProcesses(runc);
    const pids: number[] = JSON.parse(tsrunc(ours, ["ps", "--format", "json", ours.id]).stdout);
    const init = JSON.parse(tsrunc(ours, ["state", ours.id]).stdout).pid;
    expect(pids).toHaveLength(2);
    expect(pids).toContain(init);
    expect(JSON.parse(runc(theirs, ["ps", "-f", "json", theirs.id]).stdout)).toHaveLength(2);

    const a = tsrunc(ours, ["ps", ours.id, "-o", "pid,comm"]);
    const b = runc(theirs, ["ps", theirs.id, "-o", "pid,comm"]);
    expect(lines(a.stdout)[0]).toBe(lines(b.stdout)[0]);
    expect(lines(a.stdout).slice(1).map((l) => Number(l.trim().split(/\s+/)[0])).sort()).toEqual([...pids].sort());
    expect(lines(a.stdout).slice(1).map((l) => l.trim().split(/\s+/)[1])).toEqual(["sleep", "sleep"]);
  });

  it("agrees with runc on a stopped container, a missing one, a bad format, a failing ps", () => {
    for (const rt of [tsrunc, runc]) {
      const b = newBundle((c) => (c.process.args = ["true"]));
      expect(rt(b, ["run", "-d", b.id]).status).toBe(0);
      expect(waitFor(() => JSON.parse(rt(b, ["state", b.id]).stdout).status === "stopped")).toBe(true);
      expect(rt(b, ["ps", "--format", "json", b.id]).stdout).toBe("null\n");
      expect(lines(rt(b, ["ps", b.id]).stdout)).toHaveLength(1);
      let r = rt(b, ["ps", "nosuch"]);
      expect(r.status).toBe(1);
      expect(errors(r)).toBe("container does not exist");
      r = rt(b, ["ps", "--format", "yaml", b.id]);
      expect(r.status).toBe(1);
      expect(errors(r)).toBe("invalid format option");
      r = rt(b, ["ps", b.id, "--no-such-ps-option"]);
      expect(r.status).toBe(1);
      expect(errors(r)).toMatch(/^exit status 1: /);
    }
  });
});
