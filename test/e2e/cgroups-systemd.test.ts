// The systemd cgroup driver (--systemd-cgroup) against a real systemd: containers land in a
// transient scope that systemd reports with their limits, the limits hold, and `delete` stops the
// unit. Needs root, systemd as pid 1 (sd_booted) and cgroup v2: this machine has no systemd, so
// scripts/test-systemd.sh runs it in the cg2vm guest with systemd as the init of a pid namespace.
// TSRUNC_REQUIRE_SYSTEMD=1 (set by that script) turns the skip into a failure.
import { execFileSync } from "node:child_process";
import { existsSync, lstatSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type CgroupHost, detectCgroupHost } from "../../src/cgroups/index.ts";
import { cleanup, errors, haveBinary, isRoot, leftovers, makeBundle, tsrunc, waitFor, type Bundle } from "./helpers.ts";

let host: CgroupHost | undefined;
try {
  host = detectCgroupHost();
} catch {
  host = undefined;
}
const sdBooted = (() => {
  try {
    return lstatSync("/run/systemd/system").isDirectory();
  } catch {
    return false;
  }
})();
const why = !isRoot
  ? "needs root"
  : !haveBinary
    ? "needs dist/tsrunc (npm run build)"
    : !sdBooted
      ? "needs systemd as pid 1 (/run/systemd/system is absent): run scripts/test-systemd.sh, which starts one in the cg2vm guest"
      : host?.mode !== "unified"
        ? `needs cgroup v2 (this host is ${host?.mode ?? "without cgroups"}): run scripts/test-systemd.sh`
        : "";
if (why && process.env.TSRUNC_REQUIRE_SYSTEMD === "1") throw new Error(`cgroups-systemd e2e cannot run: ${why}`);
if (why) console.warn(`cgroups-systemd e2e skipped: ${why}`);

const made: Bundle[] = [];
function bundle(mutate: (c: any) => void): Bundle {
  const b = makeBundle((c) => {
    c.linux.cgroupsPath = "";
    mutate(c);
  }, "sd");
  made.push(b);
  return b;
}
const sd = (b: Bundle, args: string[], timeout?: number) => tsrunc(b, ["--systemd-cgroup", ...args], { timeout });
const unitDir = (unit: string, slice = "system.slice") => join(host!.unified!.mountpoint, slice, unit);

/** `systemctl show` as a map (only the properties asked for). */
function show(unit: string, props: string[]): Record<string, string> {
  const out = execFileSync("systemctl", ["show", unit, ...props.map((p) => `--property=${p}`)], { encoding: "utf8" });
  return Object.fromEntries(
    out
      .split("\n")
      .filter((l) => l.includes("="))
      .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
}

afterEach(() => {
  for (const b of made.splice(0)) {
    cleanup(b);
    expect(leftovers(b)).toEqual([]);
  }
});

// Generous: the cg2vm guest is emulated, and each test runs tsrunc several times.
describe.skipIf(!!why)("systemd cgroup driver with a real systemd", { timeout: 240_000 }, () => {
  it("runs the container in runc-<id>.scope of system.slice, with the limits in the unit and the files, and delete stops the unit", () => {
    const limit = 48 * 1024 * 1024;
    const b = bundle((c) => {
      c.process.args = ["sleep", "1000"];
      c.linux.resources = { memory: { limit }, pids: { limit: 64 }, cpu: { quota: 50000, period: 100000 } };
    });
    const unit = `runc-${b.id}.scope`;
    const r = sd(b, ["run", "--detach", "--bundle", b.dir, b.id], 60_000);
    expect(errors(r)).toBe("");
    expect(r.status).toBe(0);
    const pid = JSON.parse(sd(b, ["state", b.id]).stdout).pid as number;
    expect(readFileSync(`/proc/${pid}/cgroup`, "utf8").trim()).toBe(`0::/system.slice/${unit}`);

    const p = show(unit, ["ActiveState", "Description", "Slice", "Delegate", "MemoryMax", "TasksMax", "CPUQuotaPerSecUSec", "DefaultDependencies", "ControlGroup"]);
    expect(p).toMatchObject({
      ActiveState: "active",
      Description: `libcontainer container ${b.id}`,
      Slice: "system.slice",
      Delegate: "yes",
      MemoryMax: String(limit),
      TasksMax: "64",
      CPUQuotaPerSecUSec: "500ms",
      DefaultDependencies: "no",
      ControlGroup: `/system.slice/${unit}`,
    });
    const dir = unitDir(unit);
    expect(readFileSync(join(dir, "memory.max"), "utf8").trim()).toBe(String(limit));
    expect(readFileSync(join(dir, "pids.max"), "utf8").trim()).toBe("64");
    expect(readFileSync(join(dir, "cpu.max"), "utf8").trim()).toBe("50000 100000");

    // update goes to systemd too (SetUnitProperties), not only to the files.
    const u = sd(b, ["update", "--memory", String(2 * limit), b.id]);
    expect(errors(u)).toBe("");
    expect(show(unit, ["MemoryMax"]).MemoryMax).toBe(String(2 * limit));
    expect(readFileSync(join(dir, "memory.max"), "utf8").trim()).toBe(String(2 * limit));

    expect(sd(b, ["kill", b.id, "KILL"]).status).toBe(0);
    expect(waitFor(() => JSON.parse(sd(b, ["state", b.id]).stdout).status === "stopped", 20_000)).toBe(true);
    const d = sd(b, ["delete", b.id], 60_000);
    expect(errors(d)).toBe("");
    expect(d.status).toBe(0);
    expect(show(unit, ["LoadState"]).LoadState).toBe("not-found");
    expect(existsSync(dir)).toBe(false);
  });

  it("enforces memory.max: a process that grows past it is killed", () => {
    const b = bundle((c) => {
      // busybox tail keeps the endless "line" of /dev/zero in memory.
      c.process.args = ["tail", "/dev/zero"];
      c.linux.resources = { memory: { limit: 16 * 1024 * 1024, swap: 16 * 1024 * 1024 } };
    });
    const r = sd(b, ["run", "--bundle", b.dir, b.id], 120_000);
    expect(r.status).toBe(137);
    expect(existsSync(unitDir(`runc-${b.id}.scope`))).toBe(false);
    expect(show(`runc-${b.id}.scope`, ["LoadState"]).LoadState).toBe("not-found");
  });

  it('takes "slice:prefix:name" and org.systemd.property.* annotations', () => {
    const b = bundle((c) => {
      c.process.args = ["sleep", "1000"];
      c.linux.cgroupsPath = `system.slice:tsrunc-e2e:n${process.pid}-${Date.now().toString(36)}`;
      c.annotations = { "org.systemd.property.TimeoutStopSec": "17", "org.systemd.property.CollectMode": "'inactive-or-failed'" };
    });
    const name = b.config.linux.cgroupsPath.split(":")[2];
    const unit = `tsrunc-e2e-${name}.scope`;
    const r = sd(b, ["create", "--bundle", b.dir, b.id], 60_000);
    expect(errors(r)).toBe("");
    const p = show(unit, ["ActiveState", "TimeoutStopUSec", "CollectMode"]);
    expect(p).toEqual({ ActiveState: "active", TimeoutStopUSec: "17s", CollectMode: "inactive-or-failed" });
    const st = JSON.parse(readFileSync(join(b.root, b.id, "state.json"), "utf8"));
    expect(st.cgroup).toMatchObject({ driver: "systemd", unit, paths: { "": unitDir(unit) } });
    expect(sd(b, ["delete", "--force", b.id], 60_000).status).toBe(0);
    expect(show(unit, ["LoadState"]).LoadState).toBe("not-found");
    expect(existsSync(unitDir(unit))).toBe(false);
  });

  it("refuses a bad property annotation before making anything", () => {
    const b = bundle((c) => {
      c.annotations = { "org.systemd.property.Bad-Name": "1" };
    });
    const r = sd(b, ["create", "--bundle", b.dir, b.id]);
    expect(r.status).not.toBe(0);
    expect(errors(r)).toContain("annotation org.systemd.property.Bad-Name name incorrect: contains non-alphabetic character");
    expect(show(`runc-${b.id}.scope`, ["LoadState"]).LoadState).toBe("not-found");
  });
});
