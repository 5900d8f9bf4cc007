// cgroup v1 for real, as root, on a legacy or hybrid host (this machine: hybrid). Every cgroup lives
// under /tsrunc-test/<random>/ and is removed; the last test checks that nothing is left.

import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  type CgroupHost,
  type CgroupManager,
  detectCgroupHost,
  loadCgroupManager,
  newCgroupManager,
  stringifyJSON,
} from "../../src/cgroups/index.ts";
import { alive, killAndDestroy, busyboxBundle, haveRunc, isRoot, procCgroup, randomName, sleepMs, startWaiting, waitFor, within } from "./cgroups-util.ts";

let host: CgroupHost | undefined;
try {
  host = detectCgroupHost();
} catch {
  host = undefined;
}
const why = !isRoot()
  ? "needs root"
  : !host || host.mode === "unified"
    ? `needs cgroup v1 controllers (this host is ${host?.mode ?? "without cgroups"}; see cgroups-v2.test.ts)`
    : !existsSync("/bin/busybox")
      ? "needs /bin/busybox"
      : "";
if (why) console.warn(`cgroups-v1 e2e skipped: ${why}`);

const RUN = `/tsrunc-test/${randomName()}`;
const managers: CgroupManager[] = [];
const pidsToKill: number[] = [];

function manager(name: string, resources?: Parameters<typeof newCgroupManager>[0]["resources"]): CgroupManager {
  const cg = newCgroupManager({ containerId: name, cgroupsPath: `${RUN}/${name}`, resources });
  managers.push(cg);
  cg.create();
  return cg;
}

/** Paths this file made runc make (outside RUN). */
const runcIds: string[] = [];

/** Every place a path under RUN (or a runc container's cgroup) could be, in every hierarchy. */
function leftovers(): string[] {
  if (!host) return [];
  const mounts = [...host.v1.map((h) => h.mountpoint), ...(host.unified ? [host.unified.mountpoint] : [])];
  const paths = [RUN, ...runcIds.map((id) => `/${id}`)];
  return mounts.flatMap((m) => paths.map((p) => join(m, p))).filter((p) => existsSync(p));
}

afterAll(() => killAndDestroy(pidsToKill, managers));

describe.skipIf(!!why)("cgroup v1 manager on this host", () => {
  it("puts a process in the container's cgroup in every hierarchy", async () => {
    const cg = manager("join");
    const p = startWaiting("exec /bin/busybox sleep 60");
    pidsToKill.push(p.pid);
    cg.apply(p.pid);
    const lines = procCgroup(p.pid);
    for (const h of host!.v1) {
      expect(lines).toContain(`:${h.controllers.join(",")}:${RUN}/join\n`);
    }
    if (host!.mode === "hybrid") expect(lines).toContain(`0::${RUN}/join\n`);
    expect(cg.pids()).toEqual([p.pid]);
    cg.killAll();
    expect((await within(p.exit, 5000, "sleep to die")).signal).toBe("SIGKILL");
  });

  it("pids.max = 5 stops a fork loop", async () => {
    const cg = manager("pids");
    const p = startWaiting("i=0; while [ $i -lt 20 ]; do /bin/busybox sleep 60 & i=$((i+1)); done; echo all-forked; wait");
    pidsToKill.push(p.pid);
    cg.apply(p.pid);
    cg.set({ pids: { limit: 5 } });
    expect(readFileSync(join(cg.paths.pids!, "pids.max"), "utf8").trim()).toBe("5");
    p.go();
    // busybox sh gives up when fork fails: it exits 2 with "can't fork", leaving 4 sleeps.
    const ex = await within(p.exit, 5000, "the fork loop to stop");
    expect(ex.code).toBe(2);
    expect(p.err()).toMatch(/can't fork: Resource temporarily unavailable/);
    expect(p.out()).not.toContain("all-forked");
    await waitFor(() => cg.pids().length === 4, 2000, "4 sleeps left");
    expect(readFileSync(join(cg.paths.pids!, "pids.events"), "utf8")).toMatch(/^max [1-9]/);
    const sleeps = cg.pids();
    pidsToKill.push(...sleeps);
    expect(cg.stats().pids).toEqual({ current: 4n, limit: 5n });
    cg.killAll();
    await waitFor(() => sleeps.every((pid) => !alive(pid)), 5000, "the sleeps to die");
  });

  it("a memory limit gets an allocation over it OOM-killed (SIGKILL)", async () => {
    const limit = 32 << 20;
    const cg = manager("memory");
    cg.set({ memory: { limit, swap: limit } });
    expect(cg.oomKillCount()).toBe(0);
    // dd's 64 MiB buffer, filled from /dev/zero, can't fit in 32 MiB.
    const p = startWaiting("exec /bin/busybox dd if=/dev/zero of=/dev/null bs=64M count=1");
    pidsToKill.push(p.pid);
    cg.apply(p.pid);
    p.go();
    const ex = await within(p.exit, 10000, "dd to be killed");
    expect(ex.signal).toBe("SIGKILL");
    expect(cg.oomKillCount()).toBeGreaterThanOrEqual(1);
    const st = cg.stats();
    expect(st.memory.usage.limit).toBe(BigInt(limit));
    expect(st.memory.swap.limit).toBe(BigInt(limit));
  });

  it("a memory limit below the usage is refused with an error naming the file", async () => {
    const cg = manager("membusy");
    const p = startWaiting("x=$(/bin/busybox head -c 8000000 /dev/zero | /bin/busybox tr '\\0' a); echo filled; exec /bin/busybox sleep 60");
    pidsToKill.push(p.pid);
    cg.apply(p.pid);
    p.go();
    await waitFor(() => p.out().includes("filled"), 5000, "the shell to fill its memory");
    expect(() => cg.set({ memory: { limit: 4096 } })).toThrow(
      /^cgroup: memory.limit_in_bytes: write 4096: device or resource busy \(unable to set memory limit to 4096: current usage \d+, peak usage \d+\)$/,
    );
    cg.killAll();
    await within(p.exit, 5000, "the shell to die");
  });

  it("a cpu quota of 10% throttles a busy loop", async () => {
    const cg = manager("cpu");
    cg.set({ cpu: { shares: 256, quota: 10000, period: 100000 } });
    expect(readFileSync(join(cg.paths.cpu!, "cpu.shares"), "utf8").trim()).toBe("256");
    const p = startWaiting("while :; do :; done");
    pidsToKill.push(p.pid);
    cg.apply(p.pid);
    const before = cg.stats().cpu.usage.total ?? 0n;
    const t0 = process.hrtime.bigint();
    p.go();
    await sleepMs(1500);
    const used = (cg.stats().cpu.usage.total ?? 0n) - before;
    const wall = process.hrtime.bigint() - t0;
    // 10% of the wall time, give or take a period; an unthrottled loop would use ~100%.
    expect(Number(used) / Number(wall)).toBeLessThan(0.25);
    expect(Number(used)).toBeGreaterThan(0);
    expect(cg.stats().cpu.throttling.throttledPeriods ?? 0n).toBeGreaterThan(0n);

    // Frozen, it gets no cpu at all. (Unthrottled first: a task parked by the quota cannot enter the
    // freezer until it runs again, which on a loaded machine can take longer than a freeze waits.)
    cg.set({ cpu: { quota: -1, period: 100000 } });
    cg.freeze();
    expect(cg.state()).toBe("frozen");
    const frozenAt = cg.stats().cpu.usage.total!;
    await sleepMs(400);
    expect(cg.stats().cpu.usage.total).toBe(frozenAt);
    cg.thaw();
    expect(cg.state()).toBe("thawed");
    await sleepMs(400);
    expect(cg.stats().cpu.usage.total!).toBeGreaterThan(frozenAt);

    cg.killAll();
    expect((await within(p.exit, 5000, "the loop to die")).signal).toBe("SIGKILL");
  });

  it("devices: only what is allowed can be opened", async () => {
    const cg = manager("devices");
    cg.set({
      devices: [
        { allow: false, access: "rwm" },
        { allow: true, type: "c", major: 1, minor: 3, access: "rwm" },
      ],
    });
    expect(readFileSync(join(cg.paths.devices!, "devices.list"), "utf8")).toBe("c 1:3 rwm\n");
    const p = startWaiting("echo x > /dev/null && echo null-ok; /bin/busybox head -c1 /dev/zero > /dev/null || echo zero-denied");
    pidsToKill.push(p.pid);
    cg.apply(p.pid);
    p.go();
    await within(p.exit, 5000, "the shell to finish");
    expect(p.out()).toBe("null-ok\nzero-denied\n");
    expect(p.err()).toMatch(/\/dev\/zero: Operation not permitted/);
  });

  it("stats() has the shape of `runc events --stats`", async () => {
    const cg = manager("stats", { cpu: { cpus: "0" } });
    cg.set({ pids: { limit: 100 }, memory: { limit: 64 << 20 } });
    const p = startWaiting("exec /bin/busybox sleep 60");
    pidsToKill.push(p.pid);
    cg.apply(p.pid);
    p.go();
    const st = JSON.parse(stringifyJSON(cg.stats()));
    expect(Object.keys(st)).toEqual(["cpu", "cpuset", "memory", "pids", "blkio", "hugetlb", "intel_rdt", "network_interfaces"]);
    expect(Object.keys(st.cpu)).toEqual(["usage", "throttling"]);
    expect(st.cpuset.cpus).toEqual([0]);
    expect(st.memory.usage.limit).toBe(64 << 20);
    expect(st.memory.raw).toHaveProperty("total_rss");
    expect(st.pids).toEqual({ current: 1, limit: 100 });
    expect(st.network_interfaces).toBeNull();
    cg.killAll();
    await within(p.exit, 5000, "sleep to die");
  });

  it("state saved as JSON lets a later process kill everything and destroy exactly what was made", async () => {
    const cg = manager("later");
    const p = startWaiting("/bin/busybox sleep 60 & /bin/busybox sleep 60 & wait");
    pidsToKill.push(p.pid);
    cg.apply(p.pid);
    p.go();
    await waitFor(() => cg.pids().length === 3, 3000, "two sleeps");
    const all = cg.pids();
    pidsToKill.push(...all);
    const saved = JSON.stringify(cg.toState());

    const later = loadCgroupManager(JSON.parse(saved));
    expect(later.exists()).toBe(true);
    later.killAll("SIGKILL");
    await waitFor(() => all.every((pid) => !alive(pid)), 5000, "every process to die");
    later.destroy();
    expect(later.exists()).toBe(false);
    for (const dir of Object.values(later.paths)) expect(existsSync(dir)).toBe(false);
  });

  it.skipIf(!haveRunc())("places an empty-cgroupsPath container where runc 1.1 does: <own cgroup>/<id>", async () => {
    // A shell in a test cgroup stands in for the runtime: runc nests under the runtime's own cgroup.
    const runner = manager("runner");
    const id = `tsrunc-test-${randomName()}`;
    runcIds.push(id);
    const bundle = busyboxBundle();
    const root = join(bundle, "runc-root");
    const p = startWaiting(`exec runc --root ${root} run -d --bundle ${bundle} ${id} </dev/null >/dev/null 2>&1`);
    pidsToKill.push(p.pid);
    runner.apply(p.pid);
    const ownCgroup = procCgroup(p.pid);
    const ours = newCgroupManager({ containerId: id, cgroupsPath: "", procCgroup: ownCgroup });
    try {
      p.go();
      expect((await within(p.exit, 20000, "runc run -d")).code).toBe(0);
      const state = JSON.parse(execFileSync("runc", ["--root", root, "state", id], { encoding: "utf8" }));
      const theirs = procCgroup(state.pid);
      for (const h of host!.v1) {
        const line = theirs.split("\n").find((l) => l.split(":")[1] === h.controllers.join(","))!;
        const dir = join(h.mountpoint, line.split(":").slice(2).join(":"));
        for (const c of h.controllers) expect(ours.paths[c], c).toBe(dir);
      }
      expect(ours.paths.memory).toBe(join(findMount("memory"), RUN, "runner", id));
      if (host!.mode === "hybrid") {
        // runc's quirk on hybrid hosts: the cgroup2 part goes right under the mount, not under our own.
        const line = theirs.split("\n").find((l) => l.startsWith("0::"))!;
        expect(ours.paths[""]).toBe(join(host!.unified!.mountpoint, line.slice(3)));
        expect(ours.paths[""]).toBe(join(host!.unified!.mountpoint, id));
      }
    } finally {
      try {
        execFileSync("runc", ["--root", root, "delete", "--force", id], { stdio: "ignore" });
      } catch {
        /* not created */
      }
      rmSync(bundle, { recursive: true, force: true });
    }
  });

  it("leaves nothing behind", async () => {
    // Last made, first destroyed: the first manager made the shared parents and removes them.
    for (const cg of managers.splice(0).reverse()) cg.destroy();
    expect(leftovers()).toEqual([]);
  });
});

function findMount(controller: string): string {
  return host!.v1.find((h) => h.controllers.includes(controller))!.mountpoint;
}
