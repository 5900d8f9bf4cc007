// linux.seccomp in real containers of the busybox bundle, runc 1.1 side by side: the same profile
// must deny, kill, allow and fail the same way under both. A small static probe (built here from
// test/fixtures/seccomp-probe.c) makes raw syscalls with any ABI and arguments. Root only.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type Bundle, bundleFactory, errors, haveBinary, isRoot, runc, tsrunc } from "./helpers.ts";
import { dockerLike } from "../fixtures/seccomp-profiles.ts";
import * as T from "../../src/security/generated/syscalls.ts";
import { compileSeccomp } from "../../src/security/seccomp.ts";
import { run } from "../unit/bpf-interp.ts";

const bundle = bundleFactory();
const X86_64 = new Map(T.X86_64);
const X86 = new Map(T.X86);
const X32 = new Map(T.X32);
const nr = (t: Map<string, number>, name: string) => t.get(name)!;

const SIGSYS_EXIT = 128 + 31;

/** What busybox sh, its applets and the init need, for deny-by-default profiles. tsrunc's init
 * reports to the runtime with sendto/recvfrom after the filter; runc's Go runtime needs futex,
 * sched_yield, nanosleep, fstatfs (and so on) after it. */
const SHELL = [
  "arch_prctl", "brk", "clone", "close", "execve", "exit", "exit_group", "getdents64", "getpid", "getppid",
  "getrandom", "getuid", "ioctl", "mprotect", "newfstatat", "fstat", "openat", "prctl", "prlimit64",
  "readlink", "rseq", "rt_sigaction", "rt_sigreturn", "rt_sigprocmask", "set_robust_list",
  "set_tid_address", "uname", "wait4", "write", "read", "lseek", "pipe2", "dup2", "dup3", "fcntl",
  "sendto", "recvfrom",
  "futex", "nanosleep", "sched_yield", "mmap", "munmap", "madvise", "sigaltstack", "gettid", "tgkill",
  "fstatfs", "statfs",
];

/** What both inits do after the filter when it is loaded before the identity switch (no no_new_privs). */
const IDENTITY = [
  "setgroups", "setgid", "setuid", "setresgid", "setresuid", "capget", "capset", "chdir", "getcwd", "close_range",
  "epoll_create1", "epoll_ctl", "epoll_pwait", "getdents64", "pread64", "write", "prctl", "newfstatat", "statx", "fchdir",
];

function sh(script: string, seccomp: any, mutate: (c: any) => void = () => {}): Bundle {
  return bundle((c) => {
    c.process.args = ["sh", "-c", script];
    c.linux.seccomp = seccomp;
    c.mounts.push({ destination: "/tmp", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev"] });
    mutate(c);
  });
}

interface Outcome {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Run the bundle with both runtimes. */
function both(b: Bundle): { ours: Outcome; theirs: Outcome } {
  const o = tsrunc(b, ["run", b.id]);
  const t = runc(b, ["run", b.id]);
  return { ours: { status: o.status, stdout: o.stdout, stderr: o.stderr }, theirs: { status: t.status, stdout: t.stdout, stderr: t.stderr } };
}

/** Both runtimes ran the container to the same end, with the same output. */
function agree(b: Bundle): Outcome {
  const { ours, theirs } = both(b);
  expect(ours).toEqual(theirs);
  return ours;
}

// The probe, built once for the file.
const probeDir = mkdtempSync(join(tmpdir(), "tsrunc-seccomp-probe-"));
const haveCc =
  spawnSync("cc", ["-static", "-O1", "-o", join(probeDir, "probe"), resolve("test/fixtures/seccomp-probe.c")]).status === 0 &&
  spawnSync("cc", ["-O1", "-o", join(probeDir, "dump"), resolve("test/fixtures/seccomp-dump.c")]).status === 0;
afterAll(() => rmSync(probeDir, { recursive: true, force: true }));

/** A container that runs the probe once per line of `calls` ("<abi> <nr> [args]"), printing each
 * result, or how the probe died. */
function probe(seccomp: any, calls: string[]): Bundle {
  const script = calls.map((c) => `/tmp/p/probe ${c}; s=$?; [ $s -ne 0 ] && echo "died $s"`).join("\n");
  return sh(script, seccomp, (c) => c.mounts.push({ destination: "/tmp/p", type: "bind", source: probeDir, options: ["rbind", "ro"] }));
}

describe.skipIf(!isRoot || !haveBinary)("seccomp", () => {
  it("makes mkdir fail with EPERM, or with a custom errnoRet", () => {
    const b = sh("mkdir /tmp/a; echo mkdir=$?; rmdir /tmp; echo rmdir=$?; touch /tmp/f && echo touched", {
      defaultAction: "SCMP_ACT_ALLOW",
      syscalls: [
        { names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO" },
        { names: ["rmdir"], action: "SCMP_ACT_ERRNO", errnoRet: 28 },
      ],
    });
    const r = agree(b);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe("mkdir=1\nrmdir=1\ntouched\n");
    expect(r.stderr).toBe("mkdir: can't create directory '/tmp/a': Operation not permitted\nrmdir: '/tmp': No space left on device\n");
  });

  it("kills on a denied syscall: the container exits 128+SIGSYS", () => {
    for (const action of ["SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP"]) {
      const b = bundle((c) => {
        c.process.args = ["mkdir", "/a"];
        c.linux.seccomp = { defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["mkdir", "mkdirat"], action }] };
      });
      const r = agree(b);
      expect(r.status, action).toBe(SIGSYS_EXIT);
    }
  });

  it("filters on arguments: personality(2) allowed only with arg0 == 0", () => {
    const b = sh("linux64 true; echo linux64=$?; linux32 true; echo linux32=$?", {
      defaultAction: "SCMP_ACT_ALLOW",
      syscalls: [
        { names: ["personality"], action: "SCMP_ACT_ERRNO", errnoRet: 13, args: [{ index: 0, value: 0, op: "SCMP_CMP_NE" }] },
      ],
    });
    const r = agree(b);
    expect(r.stdout).toBe("linux64=0\nlinux32=1\n");
    expect(r.stderr).toContain("Permission denied");
  });

  it("runs busybox sh under a deny-by-default profile with an allow list", () => {
    const profile = {
      defaultAction: "SCMP_ACT_ERRNO",
      architectures: ["SCMP_ARCH_X86_64"],
      syscalls: [{ names: [...SHELL, "mkdir", "rmdir"], action: "SCMP_ACT_ALLOW" }],
    };
    const b = sh("echo hello; ls /proc/self >/dev/null && echo listed; mkdir /tmp/d && rmdir /tmp/d && echo dirs; touch /tmp/f; echo touch=$?; grep Seccomp: /proc/self/status", profile);
    const r = agree(b);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe("hello\nlisted\ndirs\ntouch=1\nSeccomp:\t2\n");
    expect(r.stderr).toBe("touch: /tmp/f: Operation not permitted\n");
  });

  it("execs under an allow list that names syscalls newer than faccessat2 but not faccessat2 itself", () => {
    // faccessat2 (439) then gets the default EPERM, not the stub's ENOSYS (landlock is 444..446):
    // the init must fall back to faccessat, as Go's Faccessat does for runc (runtime-tools'
    // default profile is such a list).
    const profile = {
      defaultAction: "SCMP_ACT_ERRNO",
      architectures: ["SCMP_ARCH_X86_64"],
      syscalls: [{ names: [...SHELL, ...IDENTITY, "faccessat", "access", "landlock_create_ruleset"], action: "SCMP_ACT_ALLOW" }],
    };
    // without no_new_privs the filter is loaded before the init looks for the executable
    const r = agree(sh("echo ran", profile, (c) => (c.process.noNewPrivileges = false)));
    expect(r.status).toBe(0);
    expect(r.stdout).toBe("ran\n");
  });

  it("runs a Docker-like profile as runc does", () => {
    const script = [
      "echo start",
      "ls / | wc -l",
      "mkdir -p /tmp/x/y && echo mkdir-ok",
      "(echo subshell)", // clone(2) without namespace flags
      "busybox unshare -u true; echo unshare=$?", // denied
      "mount -t tmpfs none /tmp/x; echo mount=$?", // denied
      "linux32 true; echo linux32=$?", // PER_LINUX32 (8) is allowed
      "grep -E 'Seccomp|NoNewPrivs' /proc/self/status",
    ].join("\n");
    const b = sh(script, dockerLike());
    const r = agree(b);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("start\n");
    expect(r.stdout).toContain("mkdir-ok\nsubshell\nunshare=1\nmount=1\nlinux32=0\nNoNewPrivs:\t1\nSeccomp:\t2\nSeccomp_filters:\t1\n");
  });

  it("applies the filter to processes exec'd into the container", () => {
    const seccomp = { defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 5 }] };
    const b = bundle((c) => {
      c.process.args = ["sleep", "1000"];
      c.linux.seccomp = seccomp;
      c.mounts.push({ destination: "/tmp", type: "tmpfs", source: "tmpfs" });
    });
    const results = [tsrunc, runc].map((rt) => {
      expect(rt(b, ["run", "-d", b.id]).status).toBe(0);
      const r = rt(b, ["exec", b.id, "sh", "-c", "mkdir /tmp/e; echo $?; grep Seccomp_filters /proc/self/status"]);
      rt(b, ["delete", "-f", b.id]);
      return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    });
    expect(results[0]).toEqual(results[1]);
    expect(results[0]!.stdout).toBe("1\nSeccomp_filters:\t1\n");
    expect(results[0]!.stderr).toContain("Input/output error");
  });

  it("loads the filter before the identity switch without no_new_privs, after it with", () => {
    // chdir is in the init's own steps: denied by the filter only if the filter comes first
    const seccomp = { defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["chdir"], action: "SCMP_ACT_ERRNO" }] };
    const late = agree(sh("cd /tmp; echo cd=$?", seccomp, (c) => (c.process.noNewPrivileges = true)));
    expect(late.stdout).toBe("cd=2\n");
    const b = sh("true", seccomp, (c) => (c.process.noNewPrivileges = false));
    const { ours, theirs } = both(b);
    expect(ours.status).toBe(1);
    expect(theirs.status).toBe(1);
    expect(errors(ours).replace("tsrunc run failed: ", "")).toBe(errors(theirs).replace("runc run failed: ", ""));
    expect(errors(ours)).toContain('chdir to cwd ("/") set in config.json failed: operation not permitted');
  });

  it("lets the first of two unconditional rules for a syscall decide, as runc does", () => {
    for (const [first, second, message] of [[5, 6, "Input/output error"], [6, 5, "No such device or address"]] as const) {
      const r = agree(
        sh("linux32 true; echo $?", {
          defaultAction: "SCMP_ACT_ALLOW",
          syscalls: [
            { names: ["personality"], action: "SCMP_ACT_ERRNO", errnoRet: first },
            { names: ["personality"], action: "SCMP_ACT_ERRNO", errnoRet: second },
          ],
        }),
      );
      expect(r.stdout).toBe("1\n");
      expect(r.stderr).toContain(message);
    }
  });

  it("refuses what it cannot honour, naming the JSON path, and creates nothing", () => {
    const b = sh("true", {
      defaultAction: "SCMP_ACT_ALLOW",
      listenerPath: "/run/seccomp-agent.sock",
      syscalls: [{ names: ["read"], action: "SCMP_ACT_ALLOW" }, { names: ["mkdir"], action: "SCMP_ACT_NOTIFY" }],
    });
    const r = tsrunc(b, ["run", b.id]);
    expect(r.status).toBe(1);
    expect(errors(r)).toContain("config.json: /linux/seccomp/syscalls/1/action: SCMP_ACT_NOTIFY is not supported yet");
    expect(tsrunc(b, ["state", b.id]).status).not.toBe(0);

    const s = sh("true", { defaultAction: "SCMP_ACT_ERRNO", syscalls: [{ names: SHELL.filter((n) => n !== "sendto"), action: "SCMP_ACT_ALLOW" }] });
    const e = tsrunc(s, ["run", s.id]);
    expect(e.status).toBe(1);
    expect(errors(e)).toContain("config.json: /linux/seccomp: the profile must allow sendto");
  });

  describe.skipIf(!haveCc)("the filter loaded, read back from the kernel", () => {
    /** Create the container with a runtime and read its init's filter back (it is loaded before
     * the init waits for `start`). */
    function loaded(b: Bundle, rt: typeof tsrunc): Uint8Array {
      expect(rt(b, ["create", b.id]).status).toBe(0);
      try {
        const pid = JSON.parse(rt(b, ["state", b.id]).stdout).pid;
        const d = spawnSync(join(probeDir, "dump"), [String(pid)]);
        expect(d.stderr.toString()).toBe("");
        return new Uint8Array(d.stdout);
      } finally {
        rt(b, ["delete", "-f", b.id]);
      }
    }

    const profiles: [string, any][] = [
      ["Docker-like", dockerLike()],
      ["deny by default, every ABI", { defaultAction: "SCMP_ACT_KILL_PROCESS", architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"], syscalls: [{ names: SHELL, action: "SCMP_ACT_ALLOW" }, { names: ["mkdir"], action: "SCMP_ACT_ERRNO", errnoRet: 17 }] }],
      ["allow by default, argument rules", {
        defaultAction: "SCMP_ACT_ALLOW",
        syscalls: [
          { names: ["personality"], action: "SCMP_ACT_ERRNO", args: [{ index: 0, value: 0, op: "SCMP_CMP_NE" }, { index: 0, value: 8, op: "SCMP_CMP_NE" }] },
          { names: ["mmap"], action: "SCMP_ACT_TRAP", args: [{ index: 2, value: 4, valueTwo: 4, op: "SCMP_CMP_MASKED_EQ" }, { index: 3, value: 0x20, valueTwo: 0x20, op: "SCMP_CMP_MASKED_EQ" }] },
          { names: ["getpriority"], action: "SCMP_ACT_LOG", args: [{ index: 1, value: 0x100000000, op: "SCMP_CMP_GE" }] },
          { names: ["kill"], action: "SCMP_ACT_ERRNO", errnoRet: 3, args: [{ index: 1, value: 9, op: "SCMP_CMP_EQ" }] },
        ],
      }],
      ["x86 listed, x86_64 not", { defaultAction: "SCMP_ACT_ERRNO", defaultErrnoRet: 95, architectures: ["SCMP_ARCH_X86"], syscalls: [{ names: SHELL, action: "SCMP_ACT_ALLOW" }] }],
    ];
    for (const [what, seccomp] of profiles) {
      it(`decides as runc's for every syscall: ${what}`, () => {
        const b = bundle((c) => {
          c.process.args = ["true"];
          c.linux.seccomp = seccomp;
        });
        const ours = loaded(b, tsrunc);
        const theirs = loaded(b, runc);
        expect(ours).toEqual(compileSeccomp(seccomp)!.program);
        const values = [0n, 1n, 8n, 9n, 17n, 0x20n, 0x24n, 0x10000011n, 0xffffffffn, 0x100000000n, 0x7e020000n];
        let checked = 0;
        for (const arch of [0xc000003e, 0x40000003, 0xc00000b7])
          for (const base of [0, 0x40000000])
            for (let i = 0; i < 560; i++)
              for (const a of values) {
                const d = { nr: base + i, arch, args: [a, a, a, a] };
                const want = run(theirs, d).ret;
                const got = run(ours, d).ret;
                checked++;
                if (got !== want) expect({ arch, nr: d.nr, a: String(a), got }).toEqual({ arch, nr: d.nr, a: String(a), got: want });
              }
        expect(checked).toBeGreaterThan(30000);
      });
    }
  });

  describe.skipIf(!haveCc)("architectures (with the probe)", () => {
    const mkdir64 = nr(X86_64, "mkdir");
    const mkdir32 = nr(X86, "mkdir");
    const mkdirX32 = nr(X32, "mkdir") & ~0x40000000;
    const profile = (architectures?: string[]) => ({
      defaultAction: "SCMP_ACT_ALLOW",
      architectures,
      syscalls: [{ names: ["mkdir"], action: "SCMP_ACT_ERRNO" }],
    });
    // mkdir(NULL): -14 (EFAULT) when the filter lets it through, -1 (EPERM) when it denies it

    it("kills i386 and x32 syscalls when the profile lists only x86_64", () => {
      const r = agree(probe(profile(["SCMP_ARCH_X86_64"]), [`64 ${mkdir64}`, `32 ${mkdir32}`, `x32 ${mkdirX32}`]));
      expect(r.stdout).toBe(`-1\ndied ${SIGSYS_EXIT}\ndied ${SIGSYS_EXIT}\n`);
    });

    it("filters i386 syscalls by their own numbers when x86 is listed", () => {
      const r = agree(probe(profile(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]), [`32 ${mkdir32}`, `32 ${mkdir64}`, `64 ${mkdir64}`]));
      // i386's #83 is symlink(2): EFAULT on NULL
      expect(r.stdout).toBe("-1\n-14\n-1\n");
    });

    it("filters x32 syscalls when x32 is listed (the kernel has no x32 ABI here: ENOSYS past the filter)", () => {
      const r = agree(probe(profile(["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"]), [`x32 ${mkdirX32}`, `x32 ${nr(X32, "getpid") & ~0x40000000}`, `32 ${mkdir32}`]));
      expect(r.stdout).toBe(`-1\n-38\ndied ${SIGSYS_EXIT}\n`);
    });

    it("compares 64-bit arguments on x86_64 and the low word on i386", () => {
      const seccomp = {
        defaultAction: "SCMP_ACT_ALLOW",
        architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
        syscalls: [
          { names: ["personality"], action: "SCMP_ACT_ERRNO", errnoRet: 22, args: [{ index: 0, value: 0x100000008, op: "SCMP_CMP_EQ" }] },
          { names: ["getpriority"], action: "SCMP_ACT_ERRNO", errnoRet: 33, args: [{ index: 1, value: 0x100000000, op: "SCMP_CMP_GE" }] },
        ],
      };
      const pers64 = nr(X86_64, "personality");
      const pers32 = nr(X86, "personality");
      const prio64 = nr(X86_64, "getpriority");
      const r = agree(
        probe(seccomp, [
          `64 ${pers64} 0x100000008`,
          `64 ${pers64} 0xffffffff`,
          `32 ${pers32} 0x8`,
          `64 ${prio64} 0 0x100000000`,
          `64 ${prio64} 0 0xffffffff`,
        ]),
      );
      const out = r.stdout.split("\n");
      expect(out[0]).toBe("-22");
      expect(out[1]).not.toBe("-22");
      expect(out[2]).toBe("-22");
      expect(out[3]).toBe("-33");
      expect(out[4]).not.toBe("-33");
    });

    it("decides a Docker-like profile's conditional rules as runc, call by call", () => {
      const r = agree(
        probe(dockerLike(), [
          `64 ${nr(X86_64, "clone3")} 0 0`, // ENOSYS: libc falls back to clone
          `64 ${nr(X86_64, "clone")} 0x10000011`, // CLONE_NEWUSER|SIGCHLD: EPERM
          `64 ${nr(X86_64, "personality")} 0x10`, // a persona not on the list: EPERM
          `64 ${nr(X86_64, "personality")} 0xffffffff`, // the query: allowed
          `64 ${nr(X86_64, "socket")} 40 1 0`, // AF_VSOCK: EPERM
          `32 ${nr(X86, "socket")} 40 1 0`,
          `32 ${nr(X86, "socketcall")} 1 0`, // i386's multiplexer: allowed (EFAULT on NULL)
          `32 ${nr(X86, "mount")} 0 0 0`, // not on the list: EPERM
          `x32 ${nr(X32, "mount") & ~0x40000000} 0 0 0`,
        ]),
      );
      const out = r.stdout.split("\n");
      expect(out.slice(0, 3)).toEqual(["-38", "-1", "-1"]);
      expect(Number(out[3])).toBeGreaterThanOrEqual(0);
      expect(out.slice(4)).toEqual(["-1", "-1", "-14", "-1", "-1", ""]);
    });

    it("returns ENOSYS for syscalls above the profile's largest, as runc's stub", () => {
      const seccomp = {
        defaultAction: "SCMP_ACT_ERRNO",
        architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
        syscalls: [{ names: [...SHELL, "mkdir"], action: "SCMP_ACT_ALLOW" }],
      };
      // faccessat2 is above the largest syscall of the list on both ABIs: ENOSYS from the filter,
      // where the kernel would say EFAULT and the default action EPERM
      const fa2 = nr(X86_64, "faccessat2");
      expect(Math.max(...SHELL.map((n) => X86_64.get(n) ?? 0))).toBeLessThan(fa2);
      expect(Math.max(...SHELL.map((n) => X86.get(n) ?? 0))).toBeLessThan(nr(X86, "faccessat2"));
      const r = agree(probe(seccomp, [`64 ${fa2} 0 0`, `64 ${nr(X86_64, "rmdir")}`, `32 ${mkdir32}`, `32 ${nr(X86, "rmdir")}`, `32 ${nr(X86, "faccessat2")} 0 0`]));
      expect(r.stdout).toBe("-38\n-1\n-14\n-1\n-38\n");
    });
  });
});
