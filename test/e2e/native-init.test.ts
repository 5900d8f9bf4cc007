// End-to-end tests of the native boundary: the real addon, loaded under vitest/node, cloning real
// inits (root only). Each test builds what it needs under one temp dir, reaps every process it
// spawned and leaves mounts only in namespaces that die with their init.

import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { native } from "../../src/native/index.ts";
import type { ExitStatus, InitMessage, InitOp, InitPlan, NativeError, SpawnedInit } from "../../src/native/types.ts";

const isRoot = process.geteuid?.() === 0;
const repo = path.resolve(__dirname, "../..");

const CLONE_NEWNS = 0x00020000;
const CLONE_NEWUTS = 0x04000000;
const CLONE_NEWIPC = 0x08000000;
const CLONE_NEWUSER = 0x10000000;
const CLONE_NEWPID = 0x20000000;
const MS_RDONLY = 0x1;
const MS_BIND = 0x1000;
const MS_REC = 0x4000;
const MS_PRIVATE = 1 << 18;
const MOUNT_ATTR_RDONLY = 0x1;
const S_IFCHR = 0o020000;
const ENOENT = 2;
const EACCES = 13;
const SIGKILL = 9;

let tmp: string; // realpath of the per-file temp dir
let rootfs: string;
let counter = 0;

function fresh(name: string): string {
  return path.join(tmp, `${name}-${++counter}`);
}

function buildRootfs(dir: string): void {
  for (const d of ["bin", "proc", "etc", "dev", "tmp", "data"]) fs.mkdirSync(path.join(dir, d), { recursive: true });
  fs.copyFileSync("/bin/busybox", path.join(dir, "bin/busybox"));
  fs.chmodSync(path.join(dir, "bin/busybox"), 0o755);
  for (const app of ["sh", "true", "cat", "echo", "hostname", "id", "ls", "mkdir", "sleep", "tty", "stty", "stat", "touch", "grep", "uname", "pwd"]) {
    fs.symlinkSync("busybox", path.join(dir, "bin", app));
  }
  fs.writeFileSync(path.join(dir, "notexec"), "#!/bin/sh\n", { mode: 0o644 });
  // A symlink that tries to climb out of the rootfs: RESOLVE_IN_ROOT keeps it at rootfs/etc.
  fs.symlinkSync("/../../etc", path.join(dir, "escape"));
}

/** Kill `pid` if the test is still waiting for it after `sec` seconds: recvMessage blocks the JS
 * thread, so vitest's own timeout could never fire. */
function watchdog(pid: number, sec = 20): ChildProcess {
  // Its own process group, so that stopping it also stops its `sleep`.
  const dog = spawn("/bin/busybox", ["sh", "-c", `sleep ${sec}; kill -9 ${pid}`], { stdio: "ignore", detached: true });
  dog.unref();
  return dog;
}

function stopWatchdog(dog: ChildProcess): void {
  try {
    if (dog.pid) process.kill(-dog.pid, "SIGKILL");
  } catch {
    // already gone
  }
}

interface Run {
  spawned: SpawnedInit;
  messages: InitMessage[];
  /** Exit status of the first child (the intermediate if the plan forked). */
  first: ExitStatus;
  /** Exit status of the process that ran the plan to the end. */
  init: ExitStatus;
  initPid: number;
}

interface RunOptions {
  /** Called at each sync; returns the reply (default 0). */
  onSync?: (tag: number, s: SpawnedInit) => number | void;
  /** Called right after spawn, before any message is read. */
  afterSpawn?: (s: SpawnedInit) => Promise<void> | void;
}

/** Spawn a plan, answer its syncs, read to eof, reap everything it created. */
async function run(plan: InitPlan, opts: RunOptions = {}): Promise<Run> {
  const s = native.spawnInit(plan);
  const dogs = [watchdog(s.pid)];
  const messages: InitMessage[] = [];
  let initPid = s.pid;
  let firstReaped = false;
  let initFd = -1;
  try {
    await opts.afterSpawn?.(s);
    for (;;) {
      const m = native.recvMessage(s.sock);
      messages.push(m);
      if (m.kind === "eof") break;
      if (m.kind === "sync") native.reply(s.sock, opts.onSync?.(m.tag, s) ?? 0);
      if (m.kind === "pid") {
        initPid = m.pid;
        dogs.push(watchdog(m.pid));
      }
    }
    const first = await native.waitPidfd(s.pidfd);
    firstReaped = true;
    let init = first;
    if (initPid !== s.pid) {
      initFd = native.pidfdOpen(initPid);
      init = await native.waitPidfd(initFd);
    }
    return { spawned: s, messages, first, init, initPid };
  } finally {
    if (!firstReaped) {
      try {
        native.pidfdSendSignal(s.pidfd, SIGKILL);
      } catch {}
      await native.waitPidfd(s.pidfd).catch(() => {});
    }
    for (const fd of [s.pidfd, s.sock, initFd]) if (fd >= 0) native.close(fd);
    for (const d of dogs) stopWatchdog(d);
  }
}

/** Open a host file for the init's stdout; returns [fd, read()]. */
function outFile(): [number, () => string] {
  const p = fresh("out");
  const fd = fs.openSync(p, "w+");
  return [fd, () => fs.readFileSync(p, "utf8")];
}

/** The init's stdout to fd `out`, nothing else of ours inherited. */
const stdoutTo = (out: number): InitOp[] => [
  { op: "dup2", from: out, to: 1 },
  { op: "cloexecFrom", from: 3 },
];

/** fn with a host file for the init's stdout (its fd and a reader), closed after. */
async function withOutFile<T>(fn: (out: number, read: () => string) => Promise<T>): Promise<T> {
  const [out, read] = outFile();
  try {
    return await fn(out, read);
  } finally {
    fs.closeSync(out);
  }
}

const bb = (script: string): InitOp => ({ op: "exec", candidates: ["/bin/busybox"], argv: ["sh", "-c", script], envp: ["PATH=/bin"] });

/** Private mounts, rootfs bound onto itself, /proc mounted inside, pivot_root. */
function enterRootfs(): InitOp[] {
  return [
    { op: "mount", source: null, target: "/", fstype: null, flags: MS_REC | MS_PRIVATE, data: null, inRoot: false },
    { op: "mount", source: rootfs, target: rootfs, fstype: null, flags: MS_BIND | MS_REC, data: null, inRoot: false },
    { op: "mkdirAll", path: "/proc", mode: 0o755, inRoot: true },
    { op: "mount", source: "proc", target: "/proc", fstype: "proc", flags: 0, data: null, inRoot: true },
    { op: "pivotRoot", rootfs },
  ];
}

describe.skipIf(!isRoot)("native init (root)", () => {
  beforeAll(() => {
    execFileSync("bash", [path.join(repo, "scripts/build-native.sh")], { stdio: "inherit" });
    tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "tsrunc-native-e2e-")));
    rootfs = path.join(tmp, "rootfs");
    buildRootfs(rootfs);
  });

  afterAll(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("runs as pid 1 with its own hostname after pivot_root", async () => {
    const [out, read] = outFile();
    const hostHostname = os.hostname();
    try {
      const r = await run({
        cloneFlags: CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC,
        rootfs,
        ops: [
          ...stdoutTo(out),
          ...enterRootfs(),
          { op: "sethostname", name: "tsrunc-e2e" },
          { op: "sync", tag: 42 },
          { op: "checkExec", candidates: ["/bin/sh"] },
          { op: "exec", candidates: ["/bin/sh"], argv: ["sh", "-c", "echo $$ $(hostname)"], envp: ["PATH=/bin"] },
        ],
      });
      expect(r.messages).toEqual([{ kind: "sync", tag: 42 }, { kind: "eof" }]);
      expect(r.init).toEqual({ code: 0, signal: null });
      expect(read()).toBe("1 tsrunc-e2e\n");
      expect(os.hostname()).toBe(hostHostname);
    } finally {
      fs.closeSync(out);
    }
  });

  it("reports the failing op's index and errno", async () => {
    const r = await run({
      cloneFlags: CLONE_NEWNS,
      rootfs,
      ops: [
        { op: "cloexecFrom", from: 3 },
        { op: "mount", source: null, target: "/", fstype: null, flags: MS_REC | MS_PRIVATE, data: null, inRoot: false },
        { op: "mount", source: "tmpfs", target: "/does/not/exist", fstype: "tmpfs", flags: 0, data: null, inRoot: true },
        bb("echo unreachable"),
      ],
    });
    expect(r.messages).toEqual([{ kind: "error", op: 2, errno: ENOENT }, { kind: "eof" }]);
    expect(r.init).toEqual({ code: 1, signal: null });
  });

  it("treats ENOENT as success for optional mounts and writes", async () => {
    const r = await run({
      cloneFlags: CLONE_NEWNS,
      rootfs,
      ops: [
        { op: "mount", source: null, target: "/", fstype: null, flags: MS_REC | MS_PRIVATE, data: null, inRoot: false },
        { op: "mount", source: "tmpfs", target: "/nope", fstype: "tmpfs", flags: 0, data: null, inRoot: true, optional: true },
        { op: "writeFile", path: path.join(tmp, "missing", "file"), data: "x", optional: true },
        { op: "writeFile", path: path.join(tmp, "missing", "file"), data: "x" },
      ],
    });
    expect(r.messages).toEqual([{ kind: "error", op: 3, errno: ENOENT }, { kind: "eof" }]);
  });

  it("checkExec and exec report like execvp (EACCES preferred over ENOENT)", async () => {
    const notexec = path.join(rootfs, "notexec");
    const missing = path.join(rootfs, "missing");
    const c1 = await run({ cloneFlags: 0, rootfs, ops: [{ op: "checkExec", candidates: [missing, notexec] }] });
    expect(c1.messages[0]).toEqual({ kind: "error", op: 0, errno: ENOENT }); // the first candidate's errno
    const c2 = await run({ cloneFlags: 0, rootfs, ops: [{ op: "checkExec", candidates: [path.join(rootfs, "bin")] }] });
    expect(c2.messages[0]).toEqual({ kind: "error", op: 0, errno: EACCES }); // a directory
    const c3 = await run({ cloneFlags: 0, rootfs, ops: [{ op: "checkExec", candidates: [] }] });
    expect(c3.messages[0]).toEqual({ kind: "error", op: 0, errno: ENOENT });
    const e1 = await run({
      cloneFlags: 0,
      rootfs,
      ops: [{ op: "cloexecFrom", from: 3 }, { op: "exec", candidates: [missing, notexec, missing], argv: ["x"], envp: [] }],
    });
    expect(e1.messages[0]).toEqual({ kind: "error", op: 1, errno: EACCES });
    const e2 = await run({ cloneFlags: 0, rootfs, ops: [{ op: "exec", candidates: [missing], argv: ["x"], envp: [] }] });
    expect(e2.messages[0]).toEqual({ kind: "error", op: 0, errno: ENOENT });
    // A plan without exec just exits 0.
    const none = await run({ cloneFlags: 0, rootfs, ops: [{ op: "umask", mask: 0o22 }] });
    expect(none.messages).toEqual([{ kind: "eof" }]);
    expect(none.init).toEqual({ code: 0, signal: null });
  });

  it("keeps a symlinked mount target inside the rootfs", async () => {
    await withOutFile(async (out, read) => {
      const r = await run({
        cloneFlags: CLONE_NEWNS,
        rootfs,
        ops: [
          ...stdoutTo(out),
          { op: "mount", source: null, target: "/", fstype: null, flags: MS_REC | MS_PRIVATE, data: null, inRoot: false },
          // "escape" -> "/../../etc": must land on <rootfs>/etc, not the host's /etc.
          { op: "mount", source: "tsrunc-escape", target: "/escape", fstype: "tmpfs", flags: 0, data: "size=1m", inRoot: true },
          { op: "mkdirAll", path: "/escape/made-inside", mode: 0o755, inRoot: true },
          { op: "exec", candidates: ["/bin/busybox"], argv: ["cat", "/proc/self/mountinfo"], envp: [] },
        ],
      });
      expect(r.init).toEqual({ code: 0, signal: null });
      const mounts = read()
        .trim()
        .split("\n")
        .map((l) => ({ point: l.split(" ")[4], source: l.split(" - ")[1]?.split(" ")[1] }));
      const ours = mounts.filter((m) => m.source === "tsrunc-escape");
      expect(ours.map((m) => m.point)).toEqual([path.join(rootfs, "etc")]);
      expect(fs.existsSync("/etc/made-inside")).toBe(false);
    });
  });

  it("creates directories, files, nodes and symlinks only inside the rootfs", async () => {
    const outside = fresh("outside");
    fs.mkdirSync(outside);
    const base = path.join(rootfs, "mk");
    fs.mkdirSync(base);
    fs.mkdirSync(path.join(base, "data"));
    // Points "up and out" to the host dir `outside`; in the root it means <rootfs><outside>, absent.
    fs.symlinkSync("/../../../../../.." + outside, path.join(base, "out"));
    fs.symlinkSync("/../../../mk/data", path.join(base, "in")); // stays in: <rootfs>/mk/data
    const ops: InitOp[] = [
      { op: "mkdirAll", path: "/mk/in/a/b/c", mode: 0o750, inRoot: true },
      { op: "touch", path: "/mk/in/file", mode: 0o600, inRoot: true },
      { op: "touch", path: "/mk/in/file", mode: 0o600, inRoot: true }, // exists: fine
      { op: "mknod", path: "/mk/in/null", mode: S_IFCHR | 0o666, major: 1, minor: 3, uid: 1234, gid: 5678, inRoot: true },
      { op: "symlink", target: "/proc/self/fd", linkpath: "/mk/in/fd", inRoot: true },
      { op: "symlink", target: "/proc/self/fd", linkpath: "/mk/in/fd", inRoot: true }, // EEXIST tolerated
      { op: "mkdirAll", path: path.join(tmp, "host-dir", "x"), mode: 0o755, inRoot: false },
    ];
    const r = await run({ cloneFlags: 0, rootfs, ops });
    expect(r.messages).toEqual([{ kind: "eof" }]);
    const data = path.join(base, "data");
    expect(fs.statSync(path.join(data, "a/b/c")).isDirectory()).toBe(true);
    expect(fs.statSync(path.join(data, "file")).isFile()).toBe(true);
    const n = fs.statSync(path.join(data, "null"));
    expect([n.isCharacterDevice(), n.rdev, n.uid, n.gid]).toEqual([true, (1 << 8) | 3, 1234, 5678]);
    expect(fs.readlinkSync(path.join(data, "fd"))).toBe("/proc/self/fd");
    expect(fs.statSync(path.join(tmp, "host-dir", "x")).isDirectory()).toBe(true);

    // Through the escaping link every op fails (the target does not exist in the root) ...
    for (const op of [
      { op: "mkdirAll", path: "/mk/out/sub", mode: 0o755, inRoot: true },
      { op: "touch", path: "/mk/out/f", mode: 0o644, inRoot: true },
      { op: "mknod", path: "/mk/out/null", mode: S_IFCHR | 0o666, major: 1, minor: 3, uid: 0, gid: 0, inRoot: true },
      { op: "symlink", target: "x", linkpath: "/mk/out/l", inRoot: true },
    ] as InitOp[]) {
      const e = await run({ cloneFlags: 0, rootfs, ops: [op] });
      expect(e.messages[0]).toEqual({ kind: "error", op: 0, errno: ENOENT });
    }
    // ... and nothing appeared outside.
    expect(fs.readdirSync(outside)).toEqual([]);
  });

  it("joins a user namespace mapped by the parent during a sync", async () => {
    await withOutFile(async (out, read) => {
      const r = await run(
        {
          cloneFlags: CLONE_NEWUSER,
          rootfs,
          ops: [
            { op: "sync", tag: 1 },
            { op: "setgroups", gids: [] },
            { op: "setresgid", gid: 0 },
            { op: "setresuid", uid: 0 },
            ...stdoutTo(out),
            bb("id -u; id -g; cat /proc/self/uid_map"),
          ],
        },
        {
          onSync(_tag, s) {
            fs.writeFileSync(`/proc/${s.pid}/uid_map`, "0 100000 65536\n");
            fs.writeFileSync(`/proc/${s.pid}/gid_map`, "0 100000 65536\n");
          },
        },
      );
      expect(r.init).toEqual({ code: 0, signal: null });
      const [uid, gid, map] = read().trim().split("\n");
      expect([uid, gid]).toEqual(["0", "0"]);
      expect(map!.trim().split(/\s+/)).toEqual(["0", "100000", "65536"]);
    });
  });

  it("aborts quietly on a non-zero sync reply", async () => {
    const marker = fresh("marker");
    const r = await run(
      { cloneFlags: 0, rootfs, ops: [{ op: "sync", tag: 5 }, { op: "cloexecFrom", from: 3 }, bb(`touch ${marker}`)] },
      { onSync: () => 1 },
    );
    expect(r.messages).toEqual([{ kind: "sync", tag: 5 }, { kind: "eof" }]);
    expect(r.init).toEqual({ code: 1, signal: null });
    expect(fs.existsSync(marker)).toBe(false);
  });

  it("forkParent after unshare(CLONE_NEWPID) makes the init pid 1", async () => {
    await withOutFile(async (out, read) => {
      const r = await run({
        cloneFlags: CLONE_NEWNS,
        rootfs,
        ops: [
          { op: "unshare", flags: CLONE_NEWPID },
          { op: "forkParent" },
          ...stdoutTo(out),
          ...enterRootfs(),
          { op: "exec", candidates: ["/bin/sh"], argv: ["sh", "-c", "cat /proc/1/comm; echo $$"], envp: [] },
        ],
      });
      expect(r.messages.map((m) => m.kind)).toEqual(["pid", "eof"]);
      expect(r.initPid).not.toBe(r.spawned.pid);
      expect(r.first).toEqual({ code: 0, signal: null }); // the intermediate
      expect(r.init).toEqual({ code: 0, signal: null });
      expect(read()).toBe("sh\n1\n");
    });
  });

  it("waits for start on the exec fifo", async () => {
    const fifo = fresh("exec.fifo");
    native.mkfifo(fifo, 0o622);
    expect(fs.statSync(fifo).isFIFO()).toBe(true);
    const [out, read] = outFile();
    const fifoDir = fs.openSync(path.dirname(fifo), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    try {
      const r = await run(
        {
          cloneFlags: 0,
          rootfs,
          ops: [
            ...stdoutTo(out),
            { op: "waitStart", dirFd: fifoDir, name: path.basename(fifo) },
            bb("echo started"),
          ],
        },
        {
          async afterSpawn(s) {
            await new Promise((r) => setTimeout(r, 150));
            expect(native.tryWait(s.pid)).toBeNull(); // still waiting
            expect(read()).toBe("");
            // `start`: open for reading (non-blocking: never hang the test), read the "0".
            const fd = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
            try {
              const buf = Buffer.alloc(8);
              let n = 0;
              for (let i = 0; i < 200 && n === 0; i++) {
                try {
                  n = fs.readSync(fd, buf);
                } catch (e) {
                  if ((e as NodeJS.ErrnoException).code !== "EAGAIN") throw e;
                }
                if (n === 0) await new Promise((r) => setTimeout(r, 10));
              }
              expect(buf.subarray(0, n).toString()).toBe("0");
            } finally {
              fs.closeSync(fd);
            }
          },
        },
      );
      expect(r.init).toEqual({ code: 0, signal: null });
      expect(read()).toBe("started\n");
    } finally {
      fs.closeSync(fifoDir);
      fs.closeSync(out);
    }
  });

  it("delivers a pty master over a socket and makes the peer the controlling terminal", async () => {
    const [a, b] = native.socketpair();
    let master = -1;
    try {
      const r = await run(
        {
          cloneFlags: 0,
          rootfs,
          ops: [
            { op: "cloexecFrom", from: 3 },
            { op: "console", socketFd: b, ptmxPath: "/dev/ptmx", rows: 33, cols: 111 },
            { op: "sync", tag: 1 },
            bb("tty; stty size; echo hello"),
          ],
        },
        {
          onSync() {
            const got = native.recvFd(a);
            expect(got.name).toBe("/dev/ptmx");
            master = got.fd;
            // sized by the op before it was sent
            expect(native.getWinsize(master)).toEqual({ rows: 33, cols: 111 });
            native.setWinsize(master, 40, 120);
            expect(native.getWinsize(master)).toEqual({ rows: 40, cols: 120 });
          },
        },
      );
      expect(r.init).toEqual({ code: 0, signal: null });
      // Read what the init wrote to its terminal (EIO once the peer is closed).
      let text = "";
      const buf = Buffer.alloc(4096);
      for (;;) {
        let n = 0;
        try {
          n = fs.readSync(master, buf);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === "EIO") break;
          throw e;
        }
        if (n === 0) break;
        text += buf.subarray(0, n).toString();
      }
      expect(text).toMatch(/^\/dev\/pts\/\d+\r\n40 120\r\nhello\r\n$/);
    } finally {
      for (const fd of [a, b, master]) if (fd >= 0) native.close(fd);
    }
  });

  it("fds at or above cloexecFrom do not reach the exec'd process; inheritFds and dup2 do", async () => {
    const [out, read] = outFile();
    const kept = fs.openSync(rootfs, "r"); // node opens with O_CLOEXEC
    const dropped = fs.openSync(rootfs, "r");
    try {
      const r = await run({
        cloneFlags: 0,
        rootfs,
        ops: [
          { op: "dup2", from: out, to: 1 },
          { op: "dup2", from: kept, to: 200 },
          { op: "dup2", from: dropped, to: 210 },
          { op: "cloexecFrom", from: 205 },
          { op: "inheritFds", from: kept, to: kept + 1 },
          { op: "exec", candidates: ["/bin/busybox"], argv: ["ls", "/proc/self/fd"], envp: [] },
        ],
      });
      expect(r.init).toEqual({ code: 0, signal: null });
      const fds = read().trim().split(/\s+/).map(Number);
      expect(fds).toContain(200);
      expect(fds).toContain(kept);
      expect(fds).not.toContain(210);
      expect(fds.filter((fd) => fd >= 205)).toEqual([]);
      // And with cloexecFrom(3) nothing of node's reaches the process (ls adds one fd for the dir).
      const [out2, read2] = outFile();
      try {
        await run({
          cloneFlags: 0,
          rootfs,
          ops: [
            { op: "dup2", from: out2, to: 1 },
            { op: "cloexecFrom", from: 3 },
            { op: "exec", candidates: ["/bin/busybox"], argv: ["ls", "/proc/self/fd"], envp: [] },
          ],
        });
        expect(read2().trim().split(/\s+/).map(Number).filter((fd) => fd > 3)).toEqual([]);
      } finally {
        fs.closeSync(out2);
      }
    } finally {
      for (const fd of [out, kept, dropped]) fs.closeSync(fd);
    }
  });

  it("never lets inheritFds or dup2 take the init's sync socket", async () => {
    const [out] = outFile();
    try {
      // dup2 over every low fd: one of them is the child's end of the sync socket, which must move
      // away and keep working for the second sync.
      const dups: InitOp[] = [];
      for (let fd = 3; fd < 64; fd++) if (fd !== out) dups.push({ op: "dup2", from: out, to: fd });
      const a = await run({
        cloneFlags: 0,
        rootfs,
        ops: [{ op: "sync", tag: 1 }, ...dups, { op: "sync", tag: 2 }, { op: "cloexecFrom", from: 3 }, bb("true")],
      });
      expect(a.messages).toEqual([{ kind: "sync", tag: 1 }, { kind: "sync", tag: 2 }, { kind: "eof" }]);
      expect(a.init).toEqual({ code: 0, signal: null });
      // inheritFds over a wide range (with holes) must not pass the socket on: EOF comes at exec,
      // not when the (sleeping) process exits.
      const t0 = Date.now();
      let eofAfter = -1;
      const b = native.spawnInit({
        cloneFlags: 0,
        rootfs,
        ops: [{ op: "cloexecFrom", from: 3 }, { op: "inheritFds", from: 3, to: 1024 }, bb("sleep 2")],
      });
      const dog = watchdog(b.pid);
      try {
        expect(native.recvMessage(b.sock)).toEqual({ kind: "eof" });
        eofAfter = Date.now() - t0;
        native.pidfdSendSignal(b.pidfd, SIGKILL);
        expect(await native.waitPidfd(b.pidfd)).toEqual({ code: null, signal: SIGKILL });
      } finally {
        native.close(b.pidfd);
        native.close(b.sock);
        stopWatchdog(dog);
      }
      expect(eofAfter).toBeLessThan(1500);
    } finally {
      fs.closeSync(out);
    }
  });

  it("applies rlimits, umask, chdir, hostname-free ops and capabilities", async () => {
    const [out, read] = outFile();
    const status = fs.readFileSync("/proc/self/status", "utf8");
    const capPrm = BigInt("0x" + /CapPrm:\s*([0-9a-f]+)/.exec(status)![1]);
    try {
      const r = await run({
        cloneFlags: 0,
        rootfs,
        ops: [
          ...stdoutTo(out),
          { op: "setrlimit", resource: 7 /* RLIMIT_NOFILE */, soft: 1000n, hard: 1000n },
          { op: "setrlimit", resource: 4 /* RLIMIT_CORE */, soft: 0n, hard: (1n << 64n) - 1n },
          { op: "umask", mask: 0o027 },
          { op: "chdir", path: rootfs },
          { op: "prctl", option: 24 /* PR_CAPBSET_DROP */, arg2: 21 /* CAP_SYS_ADMIN */, arg3: 0 },
          { op: "capset", effective: capPrm, permitted: capPrm, inheritable: 0x21n },
          { op: "writeFile", path: "/proc/self/oom_score_adj", data: "123" },
          bb("ulimit -n; ulimit -H -c; umask; pwd; grep -E '^Cap(Inh|Bnd)' /proc/self/status; cat /proc/self/oom_score_adj"),
        ],
      });
      expect(r.init).toEqual({ code: 0, signal: null });
      const lines = read().trim().split("\n");
      const bnd = BigInt("0x" + lines[5]!.split(/\s+/)[1]);
      expect(lines.slice(0, 5)).toEqual(["1000", "unlimited", "0027", rootfs, "CapInh:\t0000000000000021"]);
      expect(bnd & (1n << 21n)).toBe(0n);
      expect(lines[6]).toBe("123");
    } finally {
      fs.closeSync(out);
    }
  });

  it("tryChdir enters as root, and leaves to retryChdir only a denied cwd (runc's two chdirs)", async () => {
    const CAP_DAC_OVERRIDE = 1n << 1n;
    const CAP_DAC_READ_SEARCH = 1n << 2n;
    const status = fs.readFileSync("/proc/self/status", "utf8");
    const capPrm = BigInt("0x" + /CapPrm:\s*([0-9a-f]+)/.exec(status)![1]);
    // Mode 0700, owned by root, by uid 1000, by uid 2000: root without its DAC capabilities
    // enters only the first, uid 1000 only the second, nobody here the third.
    const dirs = { root: 0, user: 1000, other: 2000 };
    for (const [name, uid] of Object.entries(dirs)) {
      fs.mkdirSync(path.join(rootfs, name), { mode: 0o700 });
      fs.chownSync(path.join(rootfs, name), uid, uid);
    }
    const attempt = (cwd: string, rootCaps: bigint) =>
      withOutFile(async (out, read) => {
        const r = await run({
          cloneFlags: CLONE_NEWNS,
          rootfs,
          ops: [
            ...stdoutTo(out),
            ...enterRootfs(),
            { op: "capset", effective: rootCaps, permitted: capPrm, inheritable: 0n },
            { op: "tryChdir", path: cwd },
            { op: "setresuid", uid: 1000 },
            { op: "retryChdir", path: cwd },
            bb("pwd"),
          ],
        });
        return { r, out: read() };
      });
    try {
      // Root enters; uid 1000 could not, and is not asked to.
      const a = await attempt("/root", capPrm);
      expect(a.r.init).toEqual({ code: 0, signal: null });
      expect(a.out).toBe("/root\n");
      // Root is denied, uid 1000 enters on the retry.
      const b = await attempt("/user", capPrm & ~(CAP_DAC_OVERRIDE | CAP_DAC_READ_SEARCH));
      expect(b.r.init).toEqual({ code: 0, signal: null });
      expect(b.out).toBe("/user\n");
      // Denied to both: the retry fails (op 10: dup2, cloexecFrom, 5 of enterRootfs, capset, tryChdir, setresuid, retryChdir).
      const c = await attempt("/other", capPrm & ~(CAP_DAC_OVERRIDE | CAP_DAC_READ_SEARCH));
      expect(c.r.messages).toEqual([{ kind: "error", op: 10, errno: EACCES }, { kind: "eof" }]);
      // Anything but a denial fails at once.
      const d = await attempt("/missing", capPrm);
      expect(d.r.messages).toEqual([{ kind: "error", op: 8, errno: ENOENT }, { kind: "eof" }]);
    } finally {
      for (const name of Object.keys(dirs)) fs.rmdirSync(path.join(rootfs, name));
    }
  });

  it("masks paths and remounts read-only with mount_setattr", async () => {
    const dir = path.join(rootfs, "maskme");
    fs.mkdirSync(path.join(dir, "secretdir"), { recursive: true });
    fs.writeFileSync(path.join(dir, "secretdir", "inside"), "x");
    fs.writeFileSync(path.join(dir, "secret"), "s3cret");
    fs.mkdirSync(path.join(dir, "ro"));
    await withOutFile(async (out, read) => {
      const r = await run({
        cloneFlags: CLONE_NEWNS,
        rootfs,
        ops: [
          ...stdoutTo(out),
          { op: "mount", source: null, target: "/", fstype: null, flags: MS_REC | MS_PRIVATE, data: null, inRoot: false },
          { op: "maskPath", path: "/maskme/secret" },
          { op: "maskPath", path: "/maskme/secretdir" },
          { op: "maskPath", path: "/maskme/not-there" },
          { op: "mount", source: path.join(dir, "ro"), target: "/maskme/ro", fstype: null, flags: MS_BIND, data: null, inRoot: true },
          { op: "mountSetattr", target: "/maskme/ro", attrSet: MOUNT_ATTR_RDONLY, attrClr: 0, propagation: 0, recursive: false, inRoot: true },
          bb(
            `cd ${dir}; echo "[$(cat secret)]"; echo "[$(ls secretdir)]"; ` +
              `touch secretdir/x 2>/dev/null && echo dir-rw || echo dir-ro; ` +
              `touch ro/x 2>/dev/null && echo rw || echo ro`,
          ),
        ],
      });
      expect(r.init).toEqual({ code: 0, signal: null });
      expect(read()).toBe("[]\n[]\ndir-ro\nro\n");
      // The host's view is untouched.
      expect(fs.readFileSync(path.join(dir, "secret"), "utf8")).toBe("s3cret");
    });
  });

  it("moveRoot (--no-pivot) and a read-only remount of /", async () => {
    await withOutFile(async (out, read) => {
      const r = await run({
        cloneFlags: CLONE_NEWNS,
        rootfs,
        ops: [
          ...stdoutTo(out),
          { op: "mount", source: null, target: "/", fstype: null, flags: MS_REC | MS_PRIVATE, data: null, inRoot: false },
          { op: "mount", source: rootfs, target: rootfs, fstype: null, flags: MS_BIND | MS_REC, data: null, inRoot: false },
          { op: "moveRoot", rootfs },
          { op: "mount", source: null, target: "/", fstype: null, flags: MS_BIND | MS_REC | MS_RDONLY | 0x20 /* MS_REMOUNT */, data: null, inRoot: false },
          { op: "exec", candidates: ["/bin/sh"], argv: ["sh", "-c", "ls /bin/busybox; touch /x 2>/dev/null || echo ro"], envp: [] },
        ],
      });
      expect(r.init).toEqual({ code: 0, signal: null });
      expect(read()).toBe("/bin/busybox\nro\n");
    });
  });

  it("setns joins another init's namespace", async () => {
    const [out, read] = outFile();
    let inner: Run | undefined;
    try {
      const outer = await run(
        {
          cloneFlags: CLONE_NEWUTS,
          rootfs,
          ops: [{ op: "sethostname", name: "ns-a" }, { op: "sync", tag: 1 }, { op: "cloexecFrom", from: 3 }, bb("true")],
        },
        {
          onSync(_t, s) {
            // While the first init holds at its sync, a second one joins its UTS namespace. The
            // plan below has no sync, so run() completes synchronously up to its waitPidfd.
            const p = run({
              cloneFlags: 0,
              rootfs,
              ops: [
                { op: "setns", path: `/proc/${s.pid}/ns/uts`, nstype: CLONE_NEWUTS },
                ...stdoutTo(out),
                bb("hostname"),
              ],
            });
            void p.then((r) => (inner = r));
          },
        },
      );
      expect(outer.init).toEqual({ code: 0, signal: null });
      for (let i = 0; i < 200 && !inner; i++) await new Promise((r) => setTimeout(r, 10));
      expect(inner?.init).toEqual({ code: 0, signal: null });
      expect(read()).toBe("ns-a\n");
    } finally {
      fs.closeSync(out);
    }
  });

  it.runIf(process.arch === "x64")("installs a seccomp filter and sets a personality", async () => {
    // ld arch; jeq x86_64 ? +1 : kill; ld nr; jeq mkdir|mkdirat -> EPERM; allow
    const insns: [number, number, number, number][] = [
      [0x20, 0, 0, 4],
      [0x15, 1, 0, 0xc000003e],
      [0x06, 0, 0, 0x80000000],
      [0x20, 0, 0, 0],
      [0x15, 2, 0, 83],
      [0x15, 1, 0, 258],
      [0x06, 0, 0, 0x7fff0000],
      [0x06, 0, 0, 0x00050000 | 1],
    ];
    const prog = new Uint8Array(insns.length * 8);
    const dv = new DataView(prog.buffer);
    insns.forEach(([code, jt, jf, k], i) => {
      dv.setUint16(i * 8, code, true);
      dv.setUint8(i * 8 + 2, jt);
      dv.setUint8(i * 8 + 3, jf);
      dv.setUint32(i * 8 + 4, k >>> 0, true);
    });
    const target = fresh("seccomp-dir");
    await withOutFile(async (out, read) => {
      const r = await run({
        cloneFlags: 0,
        rootfs,
        ops: [
          ...stdoutTo(out),
          { op: "personality", persona: 0x0008 /* PER_LINUX32 */ },
          { op: "prctl", option: 38 /* PR_SET_NO_NEW_PRIVS */, arg2: 1, arg3: 0 },
          { op: "seccomp", flags: 0, program: prog },
          bb(`uname -m; mkdir ${target} 2>/dev/null && echo made || echo denied`),
        ],
      });
      expect(r.init).toEqual({ code: 0, signal: null });
      expect(read()).toBe("i686\ndenied\n");
      expect(fs.existsSync(target)).toBe(false);
    });
  });

  it("refuses a malformed plan buffer before cloning", () => {
    expect(() => native.spawnInit({ cloneFlags: 0, rootfs: "", ops: [] })).toThrow(/rootfs/);
  });
});

describe.skipIf(!isRoot)("native helpers (root)", () => {
  beforeAll(() => {
    execFileSync("bash", [path.join(repo, "scripts/build-native.sh")], { stdio: "inherit" });
    tmp ??= fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "tsrunc-native-e2e-")));
    fs.mkdirSync(tmp, { recursive: true });
  });
  afterAll(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("throws errno errors with code, errno and syscall", () => {
    let err: NativeError | undefined;
    try {
      native.close(-1);
    } catch (e) {
      err = e as NativeError;
    }
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({ code: "EBADF", errno: 9, syscall: "close" });
    expect(err!.message).toBe("close: Bad file descriptor (errno 9)");
  });

  it("waits, signals and reaps by pidfd; tryWait reports ECHILD for strangers", async () => {
    const s = native.spawnInit({ cloneFlags: 0, rootfs: "/", ops: [{ op: "cloexecFrom", from: 3 }, bb("sleep 30")] });
    try {
      expect(native.recvMessage(s.sock)).toEqual({ kind: "eof" });
      expect(native.tryWait(s.pid)).toBeNull();
      native.pidfdSendSignal(s.pidfd, SIGKILL);
      expect(await native.waitPidfd(s.pidfd)).toEqual({ code: null, signal: SIGKILL });
      await expect(native.waitPidfd(s.pidfd)).rejects.toMatchObject({ code: "ECHILD" });
      expect(() => native.tryWait(1)).toThrow(expect.objectContaining({ code: "ECHILD" }));
      expect(() => native.pidfdOpen(0x3ffffff0)).toThrow(expect.objectContaining({ code: "ESRCH" }));
    } finally {
      native.close(s.pidfd);
      native.close(s.sock);
    }
    const t = native.spawnInit({ cloneFlags: 0, rootfs: "/", ops: [{ op: "cloexecFrom", from: 3 }, bb("exit 7")] });
    expect(native.recvMessage(t.sock)).toEqual({ kind: "eof" });
    let st: ExitStatus | null = null;
    for (let i = 0; i < 500 && !st; i++) {
      st = native.tryWait(t.pid);
      if (!st) await new Promise((r) => setTimeout(r, 5));
    }
    expect(st).toEqual({ code: 7, signal: null });
    native.close(t.pidfd);
    native.close(t.sock);
  });

  it("lockFile: a POSIX lock other processes see, which a cloned init does not keep", async () => {
    const p = path.join(tmp, "lockfile");
    fs.writeFileSync(p, "");
    // Another process tries the same lock (POSIX lockf), without waiting: exit 0 = got it.
    const other = () =>
      spawnSync("python3", ["-c", "import fcntl,sys; f=open(sys.argv[1],'r+'); fcntl.lockf(f, fcntl.LOCK_EX|fcntl.LOCK_NB)", p]).status;
    const fd = fs.openSync(p, "r+");
    expect(native.lockFile(fd, true, true)).toBe(true);
    expect(other()).not.toBe(0);
    // An init cloned while the lock is held, waiting at a sync point: closing our fd frees the lock.
    const t = native.spawnInit({ cloneFlags: 0, rootfs: "/", ops: [{ op: "sync", tag: 1 }] });
    expect(native.recvMessage(t.sock)).toEqual({ kind: "sync", tag: 1 });
    fs.closeSync(fd);
    expect(other()).toBe(0);
    native.reply(t.sock, 1);
    await native.waitPidfd(t.pidfd);
    native.close(t.pidfd);
    native.close(t.sock);
  });

  it("connectUnix connects to a listening socket and reports ENOENT otherwise", async () => {
    const sockPath = path.join(tmp, "console.sock");
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(sockPath, r));
    const accepted = new Promise<net.Socket>((r) => server.once("connection", r));
    try {
      const fd = native.connectUnix(sockPath);
      const conn = await accepted;
      conn.destroy();
      native.close(fd);
      expect(() => native.connectUnix(path.join(tmp, "nobody-here.sock"))).toThrow(expect.objectContaining({ code: "ENOENT" }));
      expect(() => native.connectUnix("/" + "x".repeat(200))).toThrow(expect.objectContaining({ code: "ENAMETOOLONG" }));
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it("winsize on a non-tty is ENOTTY; subreaper toggles", () => {
    const [a, b] = native.socketpair();
    try {
      expect(() => native.getWinsize(a)).toThrow(expect.objectContaining({ code: "ENOTTY" }));
      expect(() => native.setWinsize(a, 1, 1)).toThrow(expect.objectContaining({ code: "ENOTTY" }));
    } finally {
      native.close(a);
      native.close(b);
    }
    native.setChildSubreaper(true);
    native.setChildSubreaper(false);
  });

  it("mkfifo makes a fifo and fails on an existing path", () => {
    const p = path.join(tmp, "fifo");
    native.mkfifo(p, 0o600);
    expect(fs.statSync(p).isFIFO()).toBe(true);
    expect(() => native.mkfifo(p, 0o600)).toThrow(expect.objectContaining({ code: "EEXIST", syscall: "mkfifo" }));
  });
});
