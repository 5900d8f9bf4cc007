// Resource limits through real containers started by dist/tsrunc, enforced by the kernel: memory,
// pids, devices; update of a live container, pause/resume, events, kill --all; bad input. Runs on
// whatever cgroups the machine has: cgroup v1 here (hybrid host), cgroup v2 in the cg2vm guest
// (scripts/test-cgroup-v2.sh). Root only.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { type CgroupHost, detectCgroupHost, findV1Hierarchy, hugePageSizes, newCgroupManager, nodeCgroupFs } from "../../src/cgroups/index.ts";
import { native } from "../../src/native/index.ts";
import { nativeDeviceFilter } from "../../src/runtime/devicefilter.ts";
import { startWaiting } from "./cgroups-util.ts";
import { CGROUP_PARENT, cleanup, errors, haveBinary, isRoot, leftovers, makeBundle, removeRunCgroups, runc, TSRUNC, tsrunc, waitFor, type Bundle } from "./helpers.ts";

let host: CgroupHost | undefined;
try {
  host = detectCgroupHost();
} catch {
  host = undefined;
}
const V2 = host?.mode === "unified";
const why = !isRoot ? "needs root" : !haveBinary ? "needs dist/tsrunc (npm run build)" : !host ? "needs cgroups" : "";
if (why) console.warn(`resources e2e skipped: ${why}`);
const whyNotV2 = why || (V2 ? "" : `needs a pure cgroup v2 host, this one is ${host?.mode}: run scripts/test-cgroup-v2.sh`);
if (!why && whyNotV2) console.warn(`resources e2e, cgroup v2 part skipped: ${whyNotV2}`);
const haveRunc = (() => {
  try {
    return /runc version 1\./.test(execFileSync("runc", ["--version"], { encoding: "utf8" }));
  } catch {
    return false;
  }
})();

const made: Bundle[] = [];
const streams: ChildProcess[] = [];
function bundle(mutate?: (c: any) => void, prefix?: string): Bundle {
  const b = makeBundle(mutate, prefix);
  made.push(b);
  return b;
}
afterEach(() => {
  for (const s of streams.splice(0)) s.kill("SIGKILL");
  for (const b of made.splice(0)) {
    cleanup(b);
    expect(leftovers(b)).toEqual([]);
  }
});
afterAll(removeRunCgroups);

const sh = (script: string) => (c: any) => (c.process.args = ["sh", "-c", script]);
const withResources = (r: any, script: string) => (c: any) => {
  c.linux.resources = r;
  c.process.args = ["sh", "-c", script];
};

/** The container's cgroup directory for a controller (v2: the one directory). */
function cgDir(b: Bundle, controller: string): string {
  if (V2) return join(host!.unified!.mountpoint, CGROUP_PARENT, b.id);
  return join(findV1Hierarchy(host!, controller)!.mountpoint, CGROUP_PARENT, b.id);
}
const cgRead = (b: Bundle, controller: string, file: string) => readFileSync(join(cgDir(b, controller), file), "utf8").trim();
const memLimitFile = V2 ? "memory.max" : "memory.limit_in_bytes";

function state(b: Bundle): any {
  const r = tsrunc(b, ["state", b.id]);
  expect(errors(r)).toBe("");
  return JSON.parse(r.stdout);
}
function stats(b: Bundle): any {
  const r = tsrunc(b, ["events", "--stats", b.id]);
  expect(errors(r)).toBe("");
  expect(r.status).toBe(0);
  const ev = JSON.parse(r.stdout);
  expect(ev.type).toBe("stats");
  expect(ev.id).toBe(b.id);
  return ev.data;
}
/** A file the container wrote in its /dev/shm, seen from the host (undefined until it exists). */
function shm(pid: number, name: string): string | undefined {
  try {
    const t = readFileSync(`/proc/${pid}/root/dev/shm/${name}`, "utf8").trim();
    return t === "" ? undefined : t;
  } catch {
    return undefined;
  }
}
function runDetached(b: Bundle): number {
  const r = tsrunc(b, ["run", "-d", b.id]);
  expect(errors(r)).toBe("");
  expect(r.status).toBe(0);
  return state(b).pid;
}
/** Per-test timeout: generous, for the emulated cg2vm guest where each tsrunc call takes seconds. */
const SLOW = 300_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `tsrunc events` as a stream: the lines so far, and whether it has exited (with its code). */
function eventStream(b: Bundle, args: string[]): { lines: () => string[]; exit: () => number | null | undefined; stderr: () => string } {
  const p = spawn(TSRUNC, ["--root", b.root, "events", ...args, b.id], { stdio: ["ignore", "pipe", "pipe"] });
  streams.push(p);
  let out = "";
  let err = "";
  let code: number | null | undefined;
  p.stdout!.on("data", (d) => (out += d));
  p.stderr!.on("data", (d) => (err += d));
  p.on("exit", (c) => (code = c));
  return { lines: () => out.split("\n").filter(Boolean), exit: () => code, stderr: () => err };
}
async function until(pred: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}

// Opening /dev/kmsg (c 1:11) for reading needs CAP_SYSLOG; for writing, nothing. It is outside
// runc's default allow list, and it exists on every Linux: a device that opens unless the cgroup
// says no.
const KMSG_PROBE =
  "mknod /dev/k c 1 11 && echo made; (: < /dev/k) 2>/dev/null && echo read-ok || echo read-denied; (: > /dev/k) 2>/dev/null && echo write-ok || echo write-denied";
const withMknod = (c: any) => {
  for (const set of ["bounding", "effective", "permitted"]) c.process.capabilities[set].push("CAP_MKNOD", "CAP_SYSLOG");
};

describe.skipIf(!!why)(`limits enforced (cgroup ${V2 ? "v2" : "v1"})`, () => {
  it("kills an allocation over the memory limit, and lets one under it run", () => {
    const b = bundle(
      withResources(
        { memory: { limit: 32 << 20, swap: 32 << 20 } },
        "dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null; echo big=$?; dd if=/dev/zero of=/dev/null bs=8M count=1 2>/dev/null; echo small=$?",
      ),
    );
    const r = tsrunc(b, ["run", b.id], { timeout: 60_000 });
    expect(r.status).toBe(0);
    // 137 = 128 + SIGKILL: the OOM killer.
    expect(r.stdout).toBe("big=137\nsmall=0\n");
  }, SLOW);

  it("stops a fork loop at the pids limit", async () => {
    const b = bundle(
      withResources(
        { pids: { limit: 8 } },
        "(i=0; while [ $i -lt 20 ]; do sleep 60 & i=$((i+1)); done; echo all-forked) 2>/dev/null; echo $? > /dev/shm/loop; while :; do sleep 1; done",
      ),
    );
    const pid = runDetached(b);
    await until(() => shm(pid, "loop") !== undefined, 30_000, "the fork loop to end");
    // busybox sh gives up when fork fails (exit 2): it never got to "all-forked".
    expect(shm(pid, "loop")).toBe("2");
    expect(cgRead(b, "pids", "pids.max")).toBe("8");
    expect(cgRead(b, "pids", "pids.events")).toMatch(/^max [1-9]/);
    const st = stats(b);
    expect(st.pids.limit).toBe(8);
    expect(st.pids.current).toBeLessThanOrEqual(8);
    expect(st.pids.current).toBeGreaterThanOrEqual(7);
  }, SLOW);

  it.skipIf(!haveRunc)("denies a device outside the allow list, allows what a rule allows, as runc", () => {
    const denied = bundle((c) => {
      withMknod(c);
      c.process.args = ["sh", "-c", KMSG_PROBE];
    });
    const ours = tsrunc(denied, ["run", denied.id], { timeout: 60_000 });
    expect(ours.stdout).toBe("made\nread-denied\nwrite-denied\n");
    expect(runc(denied, ["run", denied.id]).stdout).toBe(ours.stdout);

    const readOnly = bundle((c) => {
      withMknod(c);
      c.linux.resources.devices.push({ allow: true, type: "c", major: 1, minor: 11, access: "r" });
      c.process.args = ["sh", "-c", KMSG_PROBE];
    });
    const ours2 = tsrunc(readOnly, ["run", readOnly.id], { timeout: 60_000 });
    expect(ours2.stdout).toBe("made\nread-ok\nwrite-denied\n");
    expect(runc(readOnly, ["run", readOnly.id]).stdout).toBe(ours2.stdout);
  }, SLOW);

  it("denies host devices even when the config has no linux.resources at all", () => {
    const b = bundle((c) => {
      withMknod(c);
      delete c.linux.resources;
      c.process.args = ["sh", "-c", `${KMSG_PROBE}; echo x > /dev/null && echo null-ok`];
    });
    const r = tsrunc(b, ["run", b.id], { timeout: 60_000 });
    expect(r.stdout).toBe("made\nread-denied\nwrite-denied\nnull-ok\n");
  }, SLOW);
});

describe.skipIf(!!why)(`update, pause, resume, kill --all (cgroup ${V2 ? "v2" : "v1"})`, () => {
  it("update changes a live memory limit: an allocation that fitted is killed, then fits again", async () => {
    const b = bundle(
      withResources(
        { memory: { limit: 96 << 20, swap: 96 << 20 } },
        "n=0; while :; do dd if=/dev/zero of=/dev/null bs=40M count=1 2>/dev/null; echo \"$n $?\" > /dev/shm/t; mv /dev/shm/t /dev/shm/rc; n=$((n+1)); sleep 0.3; done",
      ),
    );
    const pid = runDetached(b);
    const rc = () => shm(pid, "rc")?.split(" ");
    // Waits for a dd that started after now and returns its exit code.
    const nextRc = async () => {
      const first = Number(rc()?.[0] ?? -1);
      await until(() => Number(rc()?.[0] ?? -1) >= first + 2, 30_000, "two more rounds of dd");
      return rc()![1];
    };
    await until(() => rc() !== undefined, 30_000, "the first dd");
    expect(await nextRc()).toBe("0");

    // The kernel refuses a limit under the current usage while dd holds its buffer: retry then.
    const update = async (args: string[]) => {
      for (let i = 0; ; i++) {
        const r = tsrunc(b, ["update", ...args, b.id]);
        if (r.status === 0) return;
        if (i === 5) expect(errors(r)).toBe("");
        await sleep(100);
      }
    };
    await update(["--memory", "24m", "--memory-swap", "24m"]);
    expect(cgRead(b, "memory", memLimitFile)).toBe(String(24 << 20));
    expect(await nextRc()).toBe("137");
    const saved = JSON.parse(readFileSync(join(b.root, b.id, "state.json"), "utf8")).config.linux.resources;
    expect(saved.memory).toMatchObject({ limit: 24 << 20, swap: 24 << 20 });

    // And back, from a resources document on stdin.
    const r = tsrunc(b, ["update", "-r", "-", b.id], { input: JSON.stringify({ memory: { limit: 96 << 20, swap: 96 << 20 } }) });
    expect(errors(r)).toBe("");
    expect(cgRead(b, "memory", memLimitFile)).toBe(String(96 << 20));
    expect(await nextRc()).toBe("0");
  }, SLOW);

  it("update changes pids and cpu limits; a bad value is refused, naming it, and changes nothing", () => {
    const b = bundle(withResources({ pids: { limit: 50 }, memory: { limit: 64 << 20 } }, "sleep 1000"));
    runDetached(b);
    const statePath = join(b.root, b.id, "state.json");
    let r = tsrunc(b, ["update", "--pids-limit", "20", "--cpu-quota", "20000", "--cpu-period", "100000", b.id]);
    expect(errors(r)).toBe("");
    expect(cgRead(b, "pids", "pids.max")).toBe("20");
    if (V2) expect(cgRead(b, "cpu", "cpu.max")).toBe("20000 100000");
    else expect(cgRead(b, "cpu", "cpu.cfs_quota_us")).toBe("20000");
    const before = readFileSync(statePath, "utf8");
    const mem = cgRead(b, "memory", memLimitFile);

    const bad: [string[], string | undefined, RegExp][] = [
      [["--memory", "-5"], undefined, /invalid value for memory: invalid size: '-5'/],
      [["--memory", "lots"], undefined, /invalid value for memory: invalid size: 'lots'/],
      [["--pids-limit", "-5"], undefined, /invalid value for pids-limit: -5/],
      [["--pids-limit", "many"], undefined, /invalid value "many" for flag --pids-limit/],
      [["--cpu-share", "-2"], undefined, /invalid value for cpu-share: strconv.ParseUint: parsing "-2": invalid syntax/],
      [["-r", "-"], '{"memory":{"limit":-7}}', /invalid resources: memory.limit: -7 is out of range/],
      [["-r", "-"], '{"pids":{"limit":"20"}}', /invalid resources: pids.limit: expected an integer/],
      [["-r", "-"], "{bad json", /invalid resources JSON in the standard input/],
      [["-r", "/nonexistent/resources.json"], undefined, /open \/nonexistent\/resources.json: no such file or directory/],
      [["--l3-cache-schema", "L3:0=f"], undefined, /Intel RDT\/CAT: l3 cache schema is not enabled/],
      [["--mem-bw-schema", "MB:0=50"], undefined, /Intel RDT\/MBA: memory bandwidth schema is not enabled/],
      // Accepted by the parser, refused by the kernel: rolled back.
      [["--pids-limit", "30", "--cpuset-cpus", "4096"], undefined, /cpuset.cpus/],
    ];
    for (const [args, input, msg] of bad) {
      r = tsrunc(b, ["update", ...args, b.id], { input });
      expect({ args, status: r.status, err: errors(r) }).toMatchObject({ status: 1, err: expect.stringMatching(msg) });
      expect(readFileSync(statePath, "utf8")).toBe(before);
      expect(cgRead(b, "pids", "pids.max")).toBe("20");
      expect(cgRead(b, "memory", memLimitFile)).toBe(mem);
    }
    expect(state(b).status).toBe("running");
  }, SLOW);

  it("pause stops a busy loop from progressing, resume restarts it; runc's errors otherwise", async () => {
    const b = bundle(sh("i=0; while :; do i=$((i+1)); echo $i > /dev/shm/n; done"));
    const pid = runDetached(b);
    const n = () => Number(shm(pid, "n") ?? 0);
    await until(() => n() > 0, 30_000, "the loop to start");
    let r = tsrunc(b, ["resume", b.id]);
    expect(r.status).toBe(1);
    expect(errors(r)).toContain("container not paused");

    expect(errors(tsrunc(b, ["pause", b.id]))).toBe("");
    expect(state(b).status).toBe("paused");
    if (V2) expect(cgRead(b, "freezer", "cgroup.freeze")).toBe("1");
    else expect(cgRead(b, "freezer", "freezer.state")).toBe("FROZEN");
    const frozenAt = n();
    await sleep(500);
    expect(n()).toBe(frozenAt);
    r = tsrunc(b, ["pause", b.id]);
    expect(r.status).toBe(1);
    expect(errors(r)).toContain("container not running");
    // A paused container can still be updated and inspected (as with runc).
    expect(tsrunc(b, ["update", "--pids-limit", "100", b.id]).status).toBe(0);
    expect(stats(b).pids.limit).toBe(100);

    expect(errors(tsrunc(b, ["resume", b.id]))).toBe("");
    expect(state(b).status).toBe("running");
    await until(() => n() > frozenAt + 10, 10_000, "the loop to go on");

    // Paused again, delete --force still ends it.
    expect(tsrunc(b, ["pause", b.id]).status).toBe(0);
    expect(tsrunc(b, ["delete", "--force", b.id]).status).toBe(0);
    expect(leftovers(b)).toEqual([]);
  }, SLOW);

  it("pause, resume, update and events refuse a stopped container as runc does", () => {
    const b = bundle(sh("true"));
    expect(tsrunc(b, ["run", "-d", b.id]).status).toBe(0);
    expect(waitFor(() => state(b).status === "stopped", 60_000)).toBe(true);
    const cases: [string[], string][] = [
      [["pause"], "container not running"],
      [["resume"], "container not paused"],
      [["update", "--memory", "64m"], "container not running"],
      [["events", "--stats"], `container with id ${b.id} is not running`],
      [["events"], `container with id ${b.id} is not running`],
    ];
    for (const [args, msg] of cases) {
      const r = tsrunc(b, [...args, b.id]);
      expect({ args, status: r.status, err: errors(r).trim() }).toEqual({ args, status: 1, err: msg });
    }
    // kill --all of a stopped container whose cgroup is still there is fine (runc 1.1).
    expect(tsrunc(b, ["kill", "--all", b.id, "KILL"]).status).toBe(0);
    expect(errors(tsrunc(b, ["kill", b.id, "KILL"]))).toContain("container not running");
  }, SLOW);

  it("kill --all signals every process in the cgroup, kill only the init", async () => {
    // pid 1 ignores SIGTERM without a handler: only --all reaches the sleeps.
    const b = bundle(sh("sleep 100 & sleep 100 & echo started > /dev/shm/s; wait; echo reaped > /dev/shm/s; while :; do sleep 1; done"));
    const pid = runDetached(b);
    await until(() => shm(pid, "s") === "started", 30_000, "the sleeps");
    const procs = () => readFileSync(join(cgDir(b, "pids"), "cgroup.procs"), "utf8").trim().split("\n").filter(Boolean);
    expect(procs()).toHaveLength(3);
    expect(tsrunc(b, ["kill", b.id, "TERM"]).status).toBe(0);
    await sleep(300);
    expect(shm(pid, "s")).toBe("started");
    expect(tsrunc(b, ["kill", "--all", b.id, "TERM"]).status).toBe(0);
    await until(() => shm(pid, "s") === "reaped", 10_000, "the sleeps to die of SIGTERM");
    expect(tsrunc(b, ["kill", "--all", b.id, "KILL"]).status).toBe(0);
    await until(() => state(b).status === "stopped", 10_000, "the container to stop");
  }, SLOW);
});

describe.skipIf(!!why)(`events (cgroup ${V2 ? "v2" : "v1"})`, () => {
  it.skipIf(!haveRunc)("events --stats prints what runc prints, field for field", () => {
    const mutate = withResources({ memory: { limit: 64 << 20 }, pids: { limit: 50 } }, "sleep 1000");
    const ours = bundle(mutate);
    const theirs = bundle(mutate);
    runDetached(ours);
    expect(runc(theirs, ["run", "-d", theirs.id]).status).toBe(0);
    const a = JSON.parse(tsrunc(ours, ["events", "--stats", ours.id]).stdout);
    const rr = runc(theirs, ["events", "--stats", theirs.id]);
    expect(rr.status).toBe(0);
    const b = JSON.parse(rr.stdout);
    expect(Object.keys(a)).toEqual(["type", "id", "data"]);
    expect(Object.keys(a.data)).toEqual(Object.keys(b.data));
    // Every field, in runc's order and of runc's JSON type. Values differ; so may a few fields runc
    // leaves out when they are zero (Go's omitempty) and the kernel's raw memory.stat keys' order.
    const shape = (v: any, path = "", out: string[] = []): string[] => {
      const t = v === null ? "null" : Array.isArray(v) ? "array" : typeof v;
      if (/\.memory\.(cache|raw)$|\.blkio\./.test(path)) return out;
      out.push(`${path}:${t}`);
      if (t === "object") for (const k of Object.keys(v)) shape(v[k], `${path}.${k}`, out);
      return out;
    };
    expect(shape(a.data)).toEqual(shape(b.data));
    expect(Object.keys(a.data.memory.raw).sort()).toEqual(Object.keys(b.data.memory.raw).sort());
    expect(a.data.memory.usage.limit).toBe(64 << 20);
    expect(a.data.pids).toEqual({ current: 1, limit: 50 });
  }, SLOW);

  it("streams stats every interval and an OOM event when the OOM killer acts; ends when the container goes", async () => {
    const b = bundle(
      withResources(
        { memory: { limit: 32 << 20, swap: 32 << 20 } },
        "while [ ! -e /dev/shm/go ]; do sleep 0.1; done; dd if=/dev/zero of=/dev/null bs=64M count=1; echo $? > /dev/shm/dd; while :; do sleep 1; done",
      ),
    );
    const pid = runDetached(b);
    const ev = eventStream(b, ["--interval", "1s"]);
    await until(() => ev.lines().length >= 1, 30_000, "a stats event");
    expect(JSON.parse(ev.lines()[0]!)).toMatchObject({ type: "stats", id: b.id, data: { memory: { usage: { limit: 32 << 20 } } } });
    expect(ev.lines().some((l) => l.includes('"oom"'))).toBe(false);
    writeFileSync(`/proc/${pid}/root/dev/shm/go`, "");
    await until(() => shm(pid, "dd") !== undefined, 30_000, "dd to end");
    expect(shm(pid, "dd")).toBe("137");
    await until(() => ev.lines().some((l) => l === `{"type":"oom","id":"${b.id}"}`), 10_000, "the oom event");
    expect(ev.exit()).toBeUndefined();
    expect(tsrunc(b, ["delete", "--force", b.id]).status).toBe(0);
    await until(() => ev.exit() !== undefined, 10_000, "events to end with the container");
    expect(ev.exit()).toBe(0);
    expect(ev.stderr()).toBe("");
  }, SLOW);

  it("refuses a bad interval with runc's words", () => {
    const b = bundle(sh("sleep 1000"));
    runDetached(b);
    let r = tsrunc(b, ["events", "--interval", "0", b.id]);
    expect([r.status, errors(r).trim()]).toEqual([1, "duration interval must be greater than 0"]);
    r = tsrunc(b, ["events", "--interval", "5", b.id]);
    expect([r.status, errors(r).trim()]).toEqual([1, 'invalid value "5" for flag --interval: parse error']);
  }, SLOW);
});

describe.skipIf(!!why)(`bad resources at create (cgroup ${V2 ? "v2" : "v1"})`, () => {
  it("a huge page size the host does not have: named, nothing left behind", () => {
    const b = bundle(withResources({ hugepageLimits: [{ pageSize: "3MB", limit: 1 << 22 }] }, "true"));
    const r = tsrunc(b, ["run", b.id]);
    expect(r.status).toBe(1);
    expect(errors(r)).toMatch(/hugepageLimits: page size "3MB" is not supported by this host \(available: .*\)/);
    expect(leftovers(b)).toEqual([]);
  }, SLOW);

  it("a controller the host lacks: named, nothing left behind", () => {
    // Hybrid host: no net_cls hierarchy (and hugetlb only in cgroup2). Pure v2: an unknown controller.
    const missing = V2 ? { unified: { "nosuch.max": "1" } } : { network: { classID: 42 } };
    const b = bundle(withResources(missing, "true"));
    const r = tsrunc(b, ["run", b.id]);
    expect(r.status).toBe(1);
    expect(errors(r)).toMatch(V2 ? /controller "nosuch" not available/ : /the net_cls controller is not available/);
    expect(leftovers(b)).toEqual([]);
    if (!V2 && !findV1Hierarchy(host!, "hugetlb") && hugePageSizes(nodeCgroupFs).length) {
      const h = bundle(withResources({ hugepageLimits: [{ pageSize: hugePageSizes(nodeCgroupFs)[0], limit: 1 << 22 }] }, "true"));
      const rh = tsrunc(h, ["run", h.id]);
      expect(rh.status).toBe(1);
      expect(errors(rh)).toMatch(/the hugetlb controller is not available/);
      expect(leftovers(h)).toEqual([]);
    }
  }, SLOW);

  it("a negative limit in config.json: refused before anything is made", () => {
    const b = bundle(withResources({ memory: { limit: -5 } }, "true"));
    const r = tsrunc(b, ["run", b.id]);
    expect(r.status).toBe(1);
    expect(errors(r)).toMatch(/\/linux\/resources\/memory\/limit: must be >= -1/);
    expect(leftovers(b)).toEqual([]);
  }, SLOW);
});

it.runIf(!!process.env.TSRUNC_REQUIRE_V2)("runs on a pure cgroup v2 host (scripts/test-cgroup-v2.sh asks for it)", () => {
  expect(why).toBe("");
  expect(host?.mode).toBe("unified");
});

describe.skipIf(!!whyNotV2)("cgroup v2 only", () => {
  it("the eBPF device filter stays in force across update and pause/resume", async () => {
    const b = bundle((c) => {
      withMknod(c);
      c.process.args = ["sh", "-c", "mknod /dev/k c 1 11; while [ ! -e /dev/shm/go ]; do sleep 0.1; done; (: < /dev/k) 2>/dev/null && echo read-ok > /dev/shm/r || echo read-denied > /dev/shm/r; sleep 1000"];
    });
    const pid = runDetached(b);
    expect(tsrunc(b, ["update", "--memory", "64m", "--pids-limit", "30", b.id]).status).toBe(0);
    expect(tsrunc(b, ["pause", b.id]).status).toBe(0);
    expect(tsrunc(b, ["resume", b.id]).status).toBe(0);
    writeFileSync(`/proc/${pid}/root/dev/shm/go`, "");
    await until(() => shm(pid, "r") !== undefined, 30_000, "the probe");
    expect(shm(pid, "r")).toBe("read-denied");
    expect(cgRead(b, "memory", "memory.max")).toBe(String(64 << 20));
  }, SLOW);

  it("a second set() replaces the filter (BPF_F_REPLACE): one program, the new rules in force", async () => {
    const attached: number[] = [];
    const counting = {
      ...native,
      attachDeviceFilter(dir: string, insns: Uint8Array, license: string) {
        const before = native.attachDeviceFilter(dir, insns, license);
        attached.push(before);
        return before;
      },
    };
    const cg = newCgroupManager({ containerId: "filter", cgroupsPath: `${CGROUP_PARENT}/filter-${process.pid}`, deviceFilter: nativeDeviceFilter(() => counting) });
    cg.create();
    try {
      const probe = async () => {
        const p = startWaiting(": > /dev/null && echo null-ok; (: > /dev/full) 2>/dev/null && echo full-ok || echo full-denied");
        cg.apply(p.pid);
        p.go();
        await p.exit;
        return p.out();
      };
      const rules = (extra: any[]) => [{ allow: false, access: "rwm" }, { allow: true, type: "c", major: 1, minor: 3, access: "rwm" }, ...extra];
      cg.set({ devices: rules([]) });
      expect(await probe()).toBe("null-ok\nfull-denied\n");
      cg.set({ devices: rules([{ allow: true, type: "c", major: 1, minor: 7, access: "w" }]) });
      expect(await probe()).toBe("null-ok\nfull-ok\n");
      // Nothing attached before the first; exactly one (ours) before the second.
      expect(attached).toEqual([0, 1]);
    } finally {
      cg.destroy();
    }
  }, SLOW);

  it.skipIf(!existsSync("/usr/bin/strace"))("the init and exec'd processes are born in the cgroup (clone3 CLONE_INTO_CGROUP): no cgroup.procs write", () => {
    const b = bundle(sh("sleep 1000"));
    // tsrunc's main thread only (no -f): it clones and would write cgroup.procs; following the
    // created init would never end (it waits for `start`).
    const traced = (args: string[]) => {
      const trace = join(b.dir, "strace.out");
      // Output to a file, not a pipe: the created init inherits it and keeps it open.
      const outFile = join(b.dir, "traced.out");
      const fd = openSync(outFile, "w");
      try {
        execFileSync("strace", ["-o", trace, "-e", "trace=clone,clone3,openat", TSRUNC, "--root", b.root, ...args], {
          cwd: b.dir,
          stdio: ["ignore", fd, "ignore"],
          timeout: 120_000,
        });
      } finally {
        closeSync(fd);
      }
      return { out: readFileSync(outFile, "utf8"), lines: readFileSync(trace, "utf8").split("\n") };
    };
    const procs = `${cgDir(b, "memory")}/cgroup.procs`;
    const created = traced(["create", "--bundle", b.dir, b.id]);
    expect(created.lines.some((l) => /clone3\(\{flags=[^}]*CLONE_INTO_CGROUP/.test(l))).toBe(true);
    expect(created.lines.filter((l) => l.includes(procs))).toEqual([]);
    expect(readFileSync(`/proc/${state(b).pid}/cgroup`, "utf8").trim()).toBe(`0::${CGROUP_PARENT}/${b.id}`);
    expect(tsrunc(b, ["start", b.id]).status).toBe(0);
    const execed = traced(["exec", b.id, "cat", "/proc/self/cgroup"]);
    expect(execed.lines.some((l) => /clone3\(\{flags=[^}]*CLONE_INTO_CGROUP/.test(l))).toBe(true);
    expect(execed.lines.filter((l) => l.includes(procs))).toEqual([]);
    // No cgroup namespace in the default spec (as runc's): the host's path shows.
    expect(execed.out.trim()).toBe(`0::${CGROUP_PARENT}/${b.id}`);
  }, SLOW);

  it("update sets memory.swap.max from memory+swap, and unified files", () => {
    const b = bundle(withResources({ memory: { limit: 64 << 20, swap: 64 << 20 } }, "sleep 1000"));
    runDetached(b);
    const r = tsrunc(b, ["update", "-r", "-", b.id], { input: JSON.stringify({ memory: { limit: 32 << 20, swap: 48 << 20 }, unified: { "memory.high": String(30 << 20) } }) });
    expect(errors(r)).toBe("");
    expect(cgRead(b, "memory", "memory.max")).toBe(String(32 << 20));
    if (existsSync(join(cgDir(b, "memory"), "memory.swap.max"))) expect(cgRead(b, "memory", "memory.swap.max")).toBe(String(16 << 20));
    expect(cgRead(b, "memory", "memory.high")).toBe(String(30 << 20));
  }, SLOW);
});
