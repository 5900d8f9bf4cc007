// The shim's reaper: children are reaped when SIGCHLD comes (or at the latest on its 1 s tick),
// each waiter gets its own child's status, and one that somebody else reaped gets 255.
import { afterEach, describe, expect, it } from "vitest";
import { FakeNative } from "../../src/native/fake.ts";
import { Reaper } from "../../src/shim/reaper.ts";

const plan = { cloneFlags: 0, rootfs: "/", ops: [] };

describe("shim reaper", () => {
  const reapers: Reaper[] = [];
  const newReaper = (fake: FakeNative) => {
    const r = new Reaper(fake);
    reapers.push(r);
    return r;
  };
  afterEach(() => {
    for (const r of reapers.splice(0)) r.stop();
    expect(process.listenerCount("SIGCHLD")).toBe(0);
  });

  it("reaps each child on SIGCHLD and gives it its own status", async () => {
    const fake = new FakeNative();
    const a = fake.spawnInit(plan).pid;
    const b = fake.spawnInit(plan).pid;
    const reaper = newReaper(fake);
    const got: string[] = [];
    const wa = reaper.wait(a).then((s) => got.push(`a ${s.code} ${s.signal}`));
    const wb = reaper.wait(b).then((s) => got.push(`b ${s.code} ${s.signal}`));
    expect(process.listenerCount("SIGCHLD")).toBe(1);
    // The signal, not the 1 s tick, reaps: the status is there right after it.
    const tick = () => new Promise((r) => setImmediate(r));
    fake.exit(b, { code: null, signal: 9 });
    await tick();
    expect(got).toEqual([]);
    process.emit("SIGCHLD" as never);
    await tick();
    expect(got).toEqual(["b null 9"]);
    fake.exit(a, { code: 3, signal: null });
    process.emit("SIGCHLD" as never);
    await tick();
    expect(got).toEqual(["b null 9", "a 3 null"]);
    await Promise.all([wa, wb]);
    // Reaped: a second wait on either is ECHILD.
    expect(() => fake.tryWait(a)).toThrow("ECHILD");
  });

  it("resolves at once for a child that exited before the wait, and 255 for one reaped elsewhere", async () => {
    const fake = new FakeNative();
    const done = fake.spawnInit(plan).pid;
    const stolen = fake.spawnInit(plan).pid;
    fake.exit(done, { code: 0, signal: null });
    fake.exit(stolen, { code: 0, signal: null });
    fake.tryWait(stolen);
    const reaper = newReaper(fake);
    expect(await reaper.wait(done)).toEqual({ code: 0, signal: null });
    expect(await reaper.wait(stolen)).toEqual({ code: 255, signal: null });
  });
});

describe("shim reaper: orphans", () => {
  it("reaps children nobody waits for (orphans of a container without its own pid namespace), but not while the runtime works", async () => {
    const fake = new FakeNative();
    const reaper = new Reaper(fake);
    try {
      const orphan = fake.spawnInit(plan).pid;
      const runtimes = fake.spawnInit(plan).pid;
      let release!: () => void;
      const held = reaper.hold(() => new Promise<void>((r) => (release = r)));
      fake.exit(orphan, { code: 0, signal: null });
      fake.exit(runtimes, { code: 1, signal: null });
      process.emit("SIGCHLD" as never);
      // The runtime's own child is still there for it to reap, and so is the orphan meanwhile.
      expect(fake.tryWait(runtimes)).toEqual({ code: 1, signal: null });
      expect(reaper.orphansReaped).toBe(0);
      release();
      await held;
      expect(reaper.orphansReaped).toBe(1);
      expect(() => fake.tryWait(orphan)).toThrow("ECHILD");
    } finally {
      reaper.stop();
    }
  });
});
