// Hooks in the runtime's namespaces (real child processes, no root needed), the state they read,
// and ps's filtering of ps(1) output.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { hookState, runPoststopHooks, runRuntimeHooks } from "../../src/runtime/hooks.ts";
import { HOOK_NAMES, hookArgv, hasHooks } from "../../src/runtime/hook-config.ts";
import { features } from "../../src/runtime/features.ts";
import { filterPsOutput } from "../../src/runtime/ps.ts";
import type { ContainerState } from "../../src/runtime/state.ts";

const dir = mkdtempSync(join(tmpdir(), "tsrunc-hooks-unit-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the state a hook reads", () => {
  it("has runc's fields in runc's order, the host pid, and no pid once stopped", () => {
    const c = { id: "c1", bundle: "/b", annotations: { a: "1" } };
    expect(hookState(c, "creating", 42)).toBe('{"ociVersion":"1.3.0","id":"c1","status":"creating","pid":42,"bundle":"/b","annotations":{"a":"1"}}');
    expect(hookState({ id: "c1", bundle: "/b" }, "stopped", 42)).toBe('{"ociVersion":"1.3.0","id":"c1","status":"stopped","bundle":"/b"}');
  });
});

describe("runtime-namespace hooks", () => {
  it("get the state on stdin, their args (argv[0] included) and exactly their env", () => {
    const out = join(dir, "rec.out");
    // sh -c: $0 is argv[0] as given.
    const script = `{ echo "argv0=$0"; env | sort | tr '\\n' ' '; echo; cat; } > ${out}`;
    runRuntimeHooks("prestart", [{ path: "/bin/sh", args: ["my-hook", "-c", script], env: ["ONLY=1"] }], '{"id":"c1"}');
    const [argv, env, stdin] = readFileSync(out, "utf8").split("\n");
    expect(argv).toBe("argv0=my-hook");
    // sh adds PWD (and maybe SHLVL) itself; nothing comes from our environment.
    expect(env).toContain("ONLY=1");
    expect(env).not.toContain("PATH=");
    expect(stdin).toBe('{"id":"c1"}');
  });

  it("inherit our environment when they have none, and default argv to the path", () => {
    expect(hookArgv({ path: "/x" })).toEqual(["/x"]);
    const out = join(dir, "inherit.out");
    process.env.TSRUNC_UNIT_MARK = "yes";
    try {
      runRuntimeHooks("poststart", [{ path: "/bin/sh", args: ["sh", "-c", `env > ${out}`] }], "{}");
    } finally {
      delete process.env.TSRUNC_UNIT_MARK;
    }
    expect(readFileSync(out, "utf8")).toContain("TSRUNC_UNIT_MARK=yes");
  });

  it("fail in runc's words: exit status with the output, a missing program, a timeout", () => {
    expect(() => runRuntimeHooks("createRuntime", [{ path: "/bin/true" }, { path: "/bin/sh", args: ["sh", "-c", "echo out; echo err >&2; exit 3"] }], "{}")).toThrow(
      "error running createRuntime hook #1: exit status 3, stdout: out\n, stderr: err\n",
    );
    expect(() => runRuntimeHooks("prestart", [{ path: "/nonexistent/hook" }], "{}")).toThrow(
      "error running prestart hook #0: fork/exec /nonexistent/hook: no such file or directory",
    );
    const t0 = Date.now();
    expect(() => runRuntimeHooks("poststart", [{ path: "/bin/sleep", args: ["sleep", "10"], timeout: 1 }], "{}")).toThrow(
      "error running poststart hook #0: hook ran past specified timeout of 1.0s",
    );
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it("don't care whether the hook reads its stdin", () => {
    expect(() => runRuntimeHooks("prestart", [{ path: "/bin/true" }], "x".repeat(1 << 20))).not.toThrow();
  });

  it("poststop failures only warn, and the later poststop hooks still run", () => {
    const out = join(dir, "poststop.out");
    const warnings: string[] = [];
    const state = { id: "c1", bundle: "/b", config: { hooks: { poststop: [{ path: "/bin/false" }, { path: "/bin/sh", args: ["sh", "-c", `cat > ${out}`] }] } } } as unknown as ContainerState;
    runPoststopHooks(state, { debug() {}, info() {}, error() {}, warn: (m) => warnings.push(m) });
    expect(warnings).toEqual(["error running poststop hook #0: exit status 1, stdout: , stderr: "]);
    expect(JSON.parse(readFileSync(out, "utf8"))).toMatchObject({ id: "c1", status: "stopped" });
  });

  it("are listed by features, and found in a config", () => {
    expect(features().hooks).toEqual([...HOOK_NAMES]);
    expect(hasHooks({ hooks: { poststop: [{ path: "/x" }] } }, "prestart", "poststop")).toBe(true);
    expect(hasHooks({ hooks: { poststop: [] } }, "poststop")).toBe(false);
    expect(hasHooks({}, "prestart")).toBe(false);
  });
});

describe("ps output", () => {
  const table = [
    "UID          PID    PPID  C STIME TTY          TIME CMD",
    "root           1       0  0 15:10 ?        00:00:07 /sbin/init",
    "root        4242       1  0 15:49 ?        00:00:00 sleep 1000",
    "root        4300    4242  0 15:49 ?        00:00:00 sh -c x 1",
    "",
  ].join("\n");

  it("keeps the header and the lines of the container's pids", () => {
    expect(filterPsOutput(table, [4242, 4300])).toBe(table.split("\n").filter((l, i) => i !== 1 && l).join("\n") + "\n");
    expect(filterPsOutput(table, [])).toBe(table.split("\n")[0] + "\n");
    expect(filterPsOutput("  PID COMMAND\n 4242 sleep\n    7 x\n", [4242])).toBe("  PID COMMAND\n 4242 sleep\n");
  });

  it("needs a PID column", () => {
    expect(() => filterPsOutput("USER COMMAND\nroot x\n", [1])).toThrow("couldn't find PID field in ps output");
  });
});
