// The contract between the runtime (which decides) and the native addon (which only executes).
//
// The container's init is a child cloned by the addon from this multi-threaded Bun process. It may
// only make raw system calls, so everything it does is decided here in advance as a flat list of
// operations (an InitPlan). The addon parses the plan in the parent (where allocation is fine),
// clones, and the child walks the parsed ops in order, then execs. No policy lives in Rust: the order
// of the ops, which errors are tolerated and every constant come from TypeScript.

/** One step of the init. Paths marked "inRoot" are resolved under `InitPlan.rootfs` with
 * openat2(RESOLVE_IN_ROOT), so a symlink can never lead a mount or a mknod out of the rootfs. */
export type InitOp =
  /** setns(open(path), nstype). */
  | { op: "setns"; path: string; nstype: number }
  /** unshare(flags). */
  | { op: "unshare"; flags: number }
  /** Send SYNC(tag) to the parent and block until it answers; a non-zero answer aborts the init. */
  | { op: "sync"; tag: number }
  /** clone(CLONE_PARENT|SIGCHLD): the new process (a sibling, so the runtime can reap it) continues
   * with the next op; the old one sends PID(newpid) and exits 0. Needed after unshare(CLONE_NEWPID /
   * CLONE_NEWTIME) or setns into a pid namespace, which only affect children. */
  | { op: "forkParent" }
  /** mkdir -p. Existing directories are fine. */
  | { op: "mkdirAll"; path: string; mode: number; inRoot: boolean }
  /** Create an empty regular file if nothing exists there (a bind-mount target for a file). */
  | { op: "touch"; path: string; mode: number; inRoot: boolean }
  /** mount(2). `target` is resolved (inRoot) and mounted through /proc/self/fd/N. `source` is a host
   * path for binds (never resolved in root). null fields are passed as NULL. */
  | {
      op: "mount";
      source: string | null;
      target: string;
      fstype: string | null;
      flags: number;
      data: string | null;
      inRoot: boolean;
      /** Treat ENOENT on the target as success (maskedPaths / readonlyPaths). */
      optional?: boolean;
    }
  /** mount_setattr(AT_RECURSIVE if recursive) with attr_set / attr_clr / propagation. */
  | {
      op: "mountSetattr";
      target: string;
      attrSet: number;
      attrClr: number;
      propagation: number;
      recursive: boolean;
      inRoot: boolean;
      /** Treat ENOENT on the target as success (readonlyPaths). */
      optional?: boolean;
    }
  /** Mask a path: bind /dev/null over a file, or mount a read-only empty tmpfs over a directory.
   * ENOENT is tolerated (runc does the same). The path is always resolved in the root (the rootfs,
   * or "/" once pivotRoot/moveRoot has run); "/dev/null" is taken from the current root. */
  | { op: "maskPath"; path: string }
  /** mknod(path, mode, makedev(major, minor)) then chown(uid, gid). EEXIST is an error. */
  | { op: "mknod"; path: string; mode: number; major: number; minor: number; uid: number; gid: number; inRoot: boolean }
  /** symlink(target, linkpath); EEXIST tolerated. */
  | { op: "symlink"; target: string; linkpath: string; inRoot: boolean }
  /** pivot_root into rootfs (the pivot_root(".", ".") + umount2(".", MNT_DETACH) idiom). */
  | { op: "pivotRoot"; rootfs: string }
  /** --no-pivot: chdir(rootfs), mount(rootfs, "/", MS_MOVE), chroot("."), chdir("/"). */
  | { op: "moveRoot"; rootfs: string }
  /** open(path, O_WRONLY|O_TRUNC) and write data (sysctl, oom_score_adj, …). */
  | { op: "writeFile"; path: string; data: string; optional?: boolean }
  | { op: "sethostname"; name: string }
  | { op: "setdomainname"; name: string }
  | { op: "setrlimit"; resource: number; soft: bigint; hard: bigint }
  | { op: "personality"; persona: number }
  /** prctl(option, arg2, arg3, 0, 0): keepcaps, capbset drop, ambient raise, no_new_privs, … */
  | { op: "prctl"; option: number; arg2: number; arg3: number }
  /** capset(v3) with 64-bit masks. */
  | { op: "capset"; effective: bigint; permitted: bigint; inheritable: bigint }
  | { op: "setgroups"; gids: number[] }
  | { op: "setresgid"; gid: number }
  | { op: "setresuid"; uid: number }
  | { op: "umask"; mask: number }
  | { op: "chdir"; path: string }
  /** runc's first chdir, before the identity changes: EACCES and EPERM are not fatal, they leave
   * the chdir to the retryChdir that follows the identity change. */
  | { op: "tryChdir"; path: string }
  /** chdir(path) if the tryChdir before it was denied; nothing if it succeeded. */
  | { op: "retryChdir"; path: string }
  | { op: "setsid" }
  /** Mark every fd >= from close-on-exec (close_range CLOSE_RANGE_CLOEXEC). */
  | { op: "cloexecFrom"; from: number }
  /** Clear close-on-exec on fds [from, to) (preserved fds); fds that are not open are skipped. The
   * init's own end of the sync socket is skipped too if it falls in the range (it must close at exec). */
  | { op: "inheritFds"; from: number; to: number }
  /** Open path with O_PATH|O_CLOEXEC and keep the fd in slot `slot` (0..7) for a later op. */
  | { op: "openPath"; path: string; slot: number }
  /** The start rendezvous: openat(dirFd, name, O_WRONLY|O_CLOEXEC) (blocks until `start` opens the
   * fifo for reading), write one byte "0", close. dirFd is a directory fd the runtime opened and the
   * init inherited (closed at exec). */
  | { op: "waitStart"; dirFd: number; name: string }
  /** Create the console: open ptmxPath, unlock, open its peer /dev/pts/N, send the master over the
   * unix socket `socketFd` with SCM_RIGHTS, make the peer fds 0-2 and the controlling terminal
   * (setsid + TIOCSCTTY). rows and cols (0..65535; 0 and 0: leave it) size the pty before the master is sent. */
  | { op: "console"; socketFd: number; ptmxPath: string; rows: number; cols: number }
  /** seccomp(SECCOMP_SET_MODE_FILTER, flags, program) with a classic-BPF program (8-byte insns). */
  | { op: "seccomp"; flags: number; program: Uint8Array }
  /** faccessat(X_OK) over the candidates: fails with the first candidate's errno if none is executable
   * (a directory counts as EACCES; no candidates at all: ENOENT).
   * Lets create report a missing binary before it returns, as runc does. */
  | { op: "checkExec"; candidates: string[] }
  /** execve each candidate in turn with argv/envp; returns only on failure. Must be the last op.
   * Fails with EACCES if any candidate gave EACCES, else with the first "not there" errno
   * (ENOENT, ENOTDIR, ...), and stops at once on any other error (like execvp); no candidates: ENOENT. */
  | { op: "exec"; candidates: string[]; argv: string[]; envp: string[] }
  /** dup3(from, to, 0): `to` is left without close-on-exec (from === to: just clear it). If `to` is
   * the init's end of the sync socket, that socket is first moved to another fd. */
  | { op: "dup2"; from: number; to: number }
  /** keyctl(JOIN_SESSION_KEYRING, name) then SETPERM(perm) on it; ENOSYS (no keyrings) tolerated. */
  | { op: "joinSessionKeyring"; name: string; perm: number };

export interface InitPlan {
  /** CLONE_NEW* flags for the first clone from this process (no CLONE_NEWTIME: use unshare+forkParent). */
  cloneFlags: number;
  /** Absolute host path of the rootfs; the root for every inRoot path. It is opened afresh for each
   * inRoot op, so a bind mount of the rootfs onto itself is seen by the ops that follow it. Plans
   * with no inRoot op (e.g. joining a running container) may pass "/". */
  rootfs: string;
  /** Run in order in the child. A plan without an exec op exits 0 after its last op. */
  ops: InitOp[];
  /** An open cgroup v2 directory to create the child in (clone3 CLONE_INTO_CGROUP): it is then in
   * its cgroup from its first instruction and nobody writes its pid into cgroup.procs, which spares
   * the kernel's attach wait (src/runtime/attach-primer.ts). Not part of the encoded plan. */
  intoCgroupFd?: number;
}

/** What the child tells the parent over the sync socket. */
export type InitMessage =
  | { kind: "sync"; tag: number }
  | { kind: "pid"; pid: number }
  /** op = index of the failed op in InitPlan.ops; errno from the failed system call. */
  | { kind: "error"; op: number; errno: number }
  /** The socket was closed by every child: the init exec'd (or died: check with wait). */
  | { kind: "eof" };

export interface SpawnedInit {
  pid: number;
  /** pidfd of the first child (CLONE_PIDFD). After a forkParent op the init is another pid. */
  pidfd: number;
  /** The parent's end of the sync socket (SOCK_SEQPACKET, close-on-exec). */
  sock: number;
  /** Born in plan.intoCgroupFd's cgroup. False without one, or on a kernel without clone3
   * CLONE_INTO_CGROUP (before 5.7): then the caller must put the child in its cgroup. */
  inCgroup: boolean;
}

export interface ExitStatus {
  /** Exit code, or null when killed by a signal. */
  code: number | null;
  signal: number | null;
}

/** What every function of `Native` throws for a failed system call. The message reads
 * `<syscall>: <strerror> (errno N)`. */
export interface NativeError extends Error {
  /** Linux errno name, e.g. "ENOENT". */
  code: string;
  /** Positive Linux errno (unlike Node's negative uv errnos). */
  errno: number;
  syscall: string;
}

/** The one door to the addon. `fake.ts` implements it for unit tests without root. */
export interface Native {
  /** Parse the plan, clone the init with cloneFlags, return at once (the child runs the ops). */
  spawnInit(plan: InitPlan): SpawnedInit;
  /** Block until the next message from the init. */
  recvMessage(sock: number): InitMessage;
  /** Answer a sync: 0 = continue, anything else = abort. */
  reply(sock: number, value: number): void;

  /** waitid(P_PIDFD, WEXITED) off the JS thread; resolves when the process exits. */
  waitPidfd(pidfd: number): Promise<ExitStatus>;
  /** waitid(P_PID, WEXITED|WNOHANG): null if still running, throws ECHILD if not our child. */
  tryWait(pid: number): ExitStatus | null;
  /** waitid(P_ALL, WEXITED|WNOHANG|WNOWAIT): a child that has exited, not reaped (0: none). */
  peekExited(): number;
  pidfdOpen(pid: number): number;
  pidfdSendSignal(pidfd: number, signal: number): void;

  /** A POSIX record lock (fcntl F_SETLK[W]) on the whole file; false if nonBlocking and already held.
   * Not flock: an init cloned while the lock is held must not keep holding it. */
  lockFile(fd: number, exclusive: boolean, nonBlocking: boolean): boolean;

  /** socketpair(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC) */
  socketpair(): [number, number];
  /** pipe2(O_CLOEXEC): [read end, write end] (the shim's stdio pipes). */
  pipe(): [number, number];
  /** fcntl(F_SETFL, O_NONBLOCK) on an fd of ours (the shim's end of a pipe, a pty master). */
  setNonblocking(fd: number): void;
  /** mount(2) in our own mount namespace (the shim mounts containerd's rootfs). */
  mount(source: string, target: string, fstype: string, flags: number, data: string): void;
  /** umount2(2) */
  umount(target: string, flags: number): void;
  /** connect a new AF_UNIX SOCK_STREAM (close-on-exec) socket to path. */
  connectUnix(path: string): number;
  /** recvmsg one SCM_RIGHTS fd (and its name payload). */
  recvFd(sock: number): { fd: number; name: string };
  /** ioctl TIOCSWINSZ / TIOCGWINSZ */
  setWinsize(fd: number, rows: number, cols: number): void;
  getWinsize(fd: number): { rows: number; cols: number };
  close(fd: number): void;
  /** poll(2) on one fd: the revents (POLLIN 1, POLLOUT 4, POLLERR 8, POLLHUP 16), 0 when timeoutMs
   * passed (or a signal interrupted the wait: the caller keeps the deadline). */
  poll(fd: number, events: number, timeoutMs: number): number;
  /** mknod(path, S_IFIFO | mode): the exec fifo (the umask applies, as with mkfifo(3)). */
  mkfifo(path: string, mode: number): void;
  /** prctl(PR_SET_CHILD_SUBREAPER, on) */
  setChildSubreaper(on: boolean): void;

  /** cgroup v2 device rules: BPF_PROG_LOAD a BPF_PROG_TYPE_CGROUP_DEVICE program (`insns`: struct
   * bpf_insn array, built by src/cgroups/devicefilter.ts) and BPF_PROG_ATTACH it to the cgroup
   * directory with BPF_F_ALLOW_MULTI, replacing (BPF_F_REPLACE) or then detaching the device programs
   * attached there before, as runc does. Returns how many were attached before. A verifier
   * rejection's log is on the error's `verifierLog`. */
  attachDeviceFilter(cgroupDir: string, insns: Uint8Array, license: string): number;
}
