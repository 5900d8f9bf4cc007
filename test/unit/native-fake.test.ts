import { describe, expect, it } from "vitest";
import { FakeNative, nativeError } from "../../src/native/fake.ts";
import type { InitPlan } from "../../src/native/types.ts";

const plan: InitPlan = {
  cloneFlags: 0,
  rootfs: "/r",
  ops: [
    { op: "sync", tag: 1 },
    { op: "unshare", flags: 0x20000000 },
    { op: "forkParent" },
    { op: "sync", tag: 2 },
    { op: "exec", candidates: ["/bin/sh"], argv: ["sh"], envp: [] },
  ],
};

describe("FakeNative", () => {
  it("records the plan and answers it like a healthy init", async () => {
    const f = new FakeNative();
    const s = f.spawnInit(plan);
    expect(f.spawns[0]!.plan).toBe(plan);
    expect(f.recvMessage(s.sock)).toEqual({ kind: "sync", tag: 1 });
    f.reply(s.sock, 0);
    const m = f.recvMessage(s.sock);
    expect(m.kind).toBe("pid");
    const pid = (m as { pid: number }).pid;
    expect(pid).not.toBe(s.pid);
    // the intermediate exited 0 and can be reaped through the first pidfd
    await expect(f.waitPidfd(s.pidfd)).resolves.toEqual({ code: 0, signal: null });
    await expect(f.waitPidfd(s.pidfd)).rejects.toMatchObject({ code: "ECHILD" });
    expect(f.recvMessage(s.sock)).toEqual({ kind: "sync", tag: 2 });
    f.reply(s.sock, 0);
    expect(f.recvMessage(s.sock)).toEqual({ kind: "eof" });
    expect(f.spawns[0]!.replies).toEqual([0, 0]);
    // the init keeps running until it is told to exit
    const pidfd = f.pidfdOpen(pid);
    expect(f.tryWait(pid)).toBeNull();
    const waited = f.waitPidfd(pidfd);
    f.exit(pid, { code: 3, signal: null });
    await expect(waited).resolves.toEqual({ code: 3, signal: null });
    expect(() => f.tryWait(pid)).toThrow(expect.objectContaining({ code: "ECHILD" }));
  });

  it("scripts a failure at an op", async () => {
    const f = new FakeNative().script({ failAt: { op: 3, errno: 2 } });
    const s = f.spawnInit(plan);
    expect(f.recvMessage(s.sock)).toEqual({ kind: "sync", tag: 1 });
    f.reply(s.sock, 0);
    const pidMsg = f.recvMessage(s.sock) as { kind: "pid"; pid: number };
    expect(pidMsg.kind).toBe("pid");
    expect(f.recvMessage(s.sock)).toEqual({ kind: "error", op: 3, errno: 2 });
    expect(f.recvMessage(s.sock)).toEqual({ kind: "eof" });
    expect(f.processes.get(pidMsg.pid)!.status).toEqual({ code: 1, signal: null });
  });

  it("scripts explicit messages, spawn errors, and a function of the plan", () => {
    const f = new FakeNative()
      .script({ spawnError: nativeError("clone", "ENOSPC") })
      .script({ messages: [{ kind: "sync", tag: 9 }], exitAfterEof: { code: 0, signal: null } })
      .script((p) => ({ messages: [{ kind: "sync", tag: p.ops.length }] }));
    expect(() => f.spawnInit(plan)).toThrow(expect.objectContaining({ code: "ENOSPC", syscall: "clone", errno: 28 }));
    const a = f.spawnInit(plan);
    expect(f.recvMessage(a.sock)).toEqual({ kind: "sync", tag: 9 });
    f.reply(a.sock, 0);
    expect(f.recvMessage(a.sock)).toEqual({ kind: "eof" });
    expect(f.tryWait(a.pid)).toEqual({ code: 0, signal: null });
    const b = f.spawnInit(plan);
    expect(f.recvMessage(b.sock)).toEqual({ kind: "sync", tag: plan.ops.length });
  });

  it("aborts the init on a non-zero reply", () => {
    const f = new FakeNative();
    const s = f.spawnInit(plan);
    f.recvMessage(s.sock);
    f.reply(s.sock, 1);
    expect(f.recvMessage(s.sock)).toEqual({ kind: "eof" });
    expect(f.tryWait(s.pid)).toEqual({ code: 1, signal: null });
  });

  it("kills on fatal signals and reports ESRCH after exit", async () => {
    const f = new FakeNative().script({ messages: [] });
    const s = f.spawnInit(plan);
    f.pidfdSendSignal(s.pidfd, 10); // SIGUSR1: recorded only
    expect(f.processes.get(s.pid)!.signals).toEqual([10]);
    f.pidfdSendSignal(s.pidfd, 9);
    await expect(f.waitPidfd(s.pidfd)).resolves.toEqual({ code: null, signal: 9 });
    expect(() => f.pidfdSendSignal(s.pidfd, 15)).toThrow(expect.objectContaining({ code: "ESRCH" }));
  });

  it("models fds, locks, sockets, consoles and fifos", () => {
    const f = new FakeNative();
    const [a, b] = f.socketpair();
    expect(a).not.toBe(b);
    f.close(a);
    expect(() => f.close(a)).toThrow(expect.objectContaining({ code: "EBADF" }));
    expect(f.lockFile(7, true, true)).toBe(true);
    expect(f.locks.get(7)).toBe("ex");
    f.contendedLocks.add(8);
    expect(f.lockFile(8, true, true)).toBe(false);
    f.connectErrors.set("/nope.sock", "ECONNREFUSED");
    expect(() => f.connectUnix("/nope.sock")).toThrow(expect.objectContaining({ code: "ECONNREFUSED" }));
    const c = f.connectUnix("/console.sock");
    expect(f.connections).toEqual([{ path: "/console.sock", fd: c }]);
    const m = f.recvFd(b);
    expect(m.name).toBe("/dev/ptmx");
    f.fdsToReceive.push({ fd: 42, name: "x" });
    expect(f.recvFd(b)).toEqual({ fd: 42, name: "x" });
    f.setWinsize(m.fd, 30, 100);
    expect(f.getWinsize(m.fd)).toEqual({ rows: 30, cols: 100 });
    f.mkfifo("/run/x/exec.fifo", 0o622);
    expect(f.fifos).toEqual([{ path: "/run/x/exec.fifo", mode: 0o622 }]);
    f.setChildSubreaper(true);
    expect(f.subreaper).toBe(true);
    expect(f.calls.map((c) => c.fn)).toContain("mkfifo");
  });
});
