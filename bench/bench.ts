// The benchmark of issue #6: tsrunc against runc (and crun, inside cg2vm) in one run, runs
// alternating, the same bundle, the same machine. `npm run bench` (scripts/bench.sh) is the way in;
// bench/README.md says what is measured and how to read it.
//
//   bun bench/bench.ts [--runs N] [--only a,b,…] [--out FILE] [--no-vm] [--profile N]
//   bun bench/bench.ts --vm --json FILE      (what the cg2vm guest runs: adds crun, ratios only)
//   bun bench/bench.ts --vm-results FILE     (use that guest run instead of starting cg2vm)
//
// Times come from bench/timeit.c (fork + execvp + wait4, like hyperfine -N), compiled into a
// temporary directory; this process only orchestrates. Everything it makes (bundles, state
// directories, containers, the cgroups under /tsrunc-bench/<run>, the `shim` key's private
// containerd and its temp dir) is removed at the end, also on failure or Ctrl-C.
import { spawn, spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  realpathSync,
  rmSync,
  rmdirSync,
  writeFileSync,
} from "node:fs";
import { tmpdir, cpus } from "node:os";
import { dirname, join, resolve } from "node:path";
import { pidsWith, startDaemon, writeContainerdConfig } from "../test/e2e/containerd.ts";

// ------------------------------------------------------------------ options

const repo = resolve(dirname(new URL(import.meta.url).pathname), "..");
const argv = process.argv.slice(2);
function opt(name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}
const inVm = argv.includes("--vm");
const runsArg = opt("--runs");
const RUNS = runsArg ? Number(runsArg) : inVm ? 5 : 30;
const only = opt("--only")?.split(",");
const outFile = opt("--out");
const jsonOut = opt("--json");
const noVm = argv.includes("--no-vm") || inVm;
const profileRuns = Number(opt("--profile") ?? (inVm ? 0 : 30));
const WARMUP = 2;

const TSRUNC = join(repo, "dist/tsrunc");
const ROOTFS = realpathSync(join(repo, "bundles/busybox/rootfs"));
const runtimes: { name: string; bin: string }[] = [
  { name: "tsrunc", bin: TSRUNC },
  { name: "runc", bin: "runc" },
];
if (inVm) runtimes.push({ name: "crun", bin: "crun" });
// --runtime NAME=BINARY (repeatable): another runtime beside them, e.g. an older tsrunc for an A/B.
argv.forEach((a, i) => {
  if (a !== "--runtime") return;
  const [name, bin] = (argv[i + 1] ?? "").split("=");
  if (!name || !bin) throw new Error("--runtime takes NAME=BINARY");
  runtimes.push({ name, bin: resolve(bin) });
});

const want = (b: string) => !only || only.includes(b);

if (process.geteuid?.() !== 0) {
  console.error("bench: needs root (it creates containers)");
  process.exit(1);
}

// ------------------------------------------------------------------ scratch space and cleanup

const runId = `${Date.now().toString(36)}-${process.pid}`;
const loadAtStart = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
const work = mkdtempSync(join(tmpdir(), "tsrunc-bench."));
const cgroupParent = `/tsrunc-bench/${runId}`;
const stateRoot = (rt: string) => join(work, "state", rt);
const errFile = join(work, "stderr.log");

function sh(cmd: string[], opts: { allowFail?: boolean; input?: string; timeoutMs?: number } = {}): { code: number; out: string; err: string } {
  const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: "utf8", input: opts.input ?? "", timeout: opts.timeoutMs });
  const res = { code: r.status ?? 128 + 9, out: r.stdout ?? "", err: r.stderr ?? (r.error ? String(r.error) : "") };
  if (res.code !== 0 && !opts.allowFail) throw new Error(`${cmd.join(" ")}: exit ${res.code}: ${res.err.trim()}`);
  return res;
}

/** Every cgroup mount point (v1 hierarchies and the unified one). */
function cgroupMounts(): string[] {
  const out: string[] = [];
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const [pre, post] = line.split(" - ");
    if (!pre || !post) continue;
    const fstype = post.split(" ")[0];
    if (fstype === "cgroup" || fstype === "cgroup2") out.push(pre.split(" ")[4]!);
  }
  return out;
}

/** Remove a test-only cgroup tree, killing whatever a failed run left in it (only our containers). */
function rmdirTree(dir: string): void {
  let entries: string[];
  try {
    entries = readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch {
    return;
  }
  for (const e of entries) rmdirTree(join(dir, e));
  for (let i = 0; i < 100; i++) {
    try {
      rmdirSync(dir);
      return;
    } catch {}
    try {
      for (const pid of readFileSync(join(dir, "cgroup.procs"), "utf8").split("\n").filter(Boolean)) process.kill(Number(pid), 9);
    } catch {}
    Bun.sleepSync(10);
  }
}

/** The private containerd of the `shim` key, while it runs (declared here: cleanup() may run early). */
let containerd: { dir: string; sock: string; pid: number } | undefined;

let cleaned = false;
function cleanup(): void {
  if (cleaned) return;
  cleaned = true;
  stopContainerd();
  for (const rt of runtimes) {
    const root = stateRoot(rt.name);
    if (!existsSync(root)) continue;
    for (const id of readdirSync(root)) {
      sh([rt.bin, "--root", root, "delete", "--force", id], { allowFail: true });
    }
  }
  for (const m of cgroupMounts()) {
    rmdirTree(join(m, cgroupParent));
    try {
      rmdirSync(join(m, "tsrunc-bench")); // only if no other run is using it
    } catch {}
  }
  rmSync(work, { recursive: true, force: true });
}
process.on("exit", cleanup);
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(sig, () => {
    cleanup();
    process.exit(130);
  });
}

// In the guest, / is the host's over 9p: a 110 MB tsrunc would page in over emulated virtio (and
// again whenever the host rebuilds it). Every runtime runs from a copy in the guest's tmpfs.
if (inVm) {
  mkdirSync(join(work, "bin"));
  for (const rt of runtimes) {
    const src = rt.bin.includes("/") ? rt.bin : sh(["sh", "-c", `command -v ${rt.bin}`]).out.trim();
    const copy = join(work, "bin", rt.name);
    sh(["cp", src, copy]);
    rt.bin = copy;
  }
}

// ------------------------------------------------------------------ timeit and the bundles

const timeit = join(work, "timeit");
sh(["cc", "-O2", "-o", timeit, join(repo, "bench/timeit.c")]);

interface Sample {
  total: number; // ms
  cmds: { ms: number; rssKb: number; status: number; cpuMs: number }[];
}

function time(mode: "seq" | "par", cmds: string[][], trace = false): Sample {
  const args = ["-e", errFile, ...(trace ? ["-T"] : []), mode];
  for (const c of cmds) args.push("--", ...c);
  const r = sh([timeit, ...args]);
  const [total, ...rest] = r.out.trim().split(" ");
  return {
    total: Number(total) / 1e6,
    cmds: rest.map((x) => {
      const [ns, rss, st, cpu] = x.split(":").map(Number);
      return { ms: ns! / 1e6, rssKb: rss!, status: st!, cpuMs: cpu! / 1e3 };
    }),
  };
}

function lastErrors(): string {
  try {
    return readFileSync(errFile, "utf8").trim().split("\n").slice(-5).join("\n");
  } catch {
    return "";
  }
}

function check(s: Sample, what: string): Sample {
  const bad = s.cmds.find((c) => c.status !== 0);
  if (bad) throw new Error(`${what}: a command exited ${bad.status}\n${lastErrors()}`);
  return s;
}

// config.json from `dist/tsrunc spec`, terminal off, the busybox rootfs by absolute path.
const specDir = join(work, "spec-source");
mkdirSync(specDir);
sh([TSRUNC, "spec", "--bundle", specDir]);
const baseConfig = JSON.parse(readFileSync(join(specDir, "config.json"), "utf8"));
rmSync(specDir, { recursive: true });

/** A bundle whose container id is `id`: its own cgroupsPath under this run's test-only parent. */
function bundle(id: string, args: string[] = ["/bin/true"]): string {
  const dir = join(work, "bundles", id);
  mkdirSync(dir, { recursive: true });
  const c = structuredClone(baseConfig);
  c.process.terminal = false;
  c.process.args = args;
  c.root.path = ROOTFS;
  c.linux.cgroupsPath = `${cgroupParent}/${id}`;
  // crun 1.8 refuses runtime-spec versions it does not know ("unknown version specified"): beside
  // it, every runtime gets the same config declared as 1.1.0 (nothing in it is newer).
  if (runtimes.some((r) => r.name === "crun")) c.ociVersion = "1.1.0";
  writeFileSync(join(dir, "config.json"), JSON.stringify(c, null, 2));
  return dir;
}

// ------------------------------------------------------------------ statistics

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}
const median = (xs: number[]) => quantile(xs, 0.5);

interface Result {
  key: string;
  label: string;
  unit: "ms" | "MiB";
  goal?: number; // max ratio tsrunc/runc
  /** runtime name → samples */
  samples: Record<string, number[]>;
  note?: string;
}
const results: Result[] = [];

/** Alternate runtimes run by run (the order flips every round) so that drift hits all alike. */
function alternate(runs: number, fn: (rt: { name: string; bin: string }, i: number) => number | null): Record<string, number[]> {
  const samples: Record<string, number[]> = Object.fromEntries(runtimes.map((r) => [r.name, []]));
  for (let i = -WARMUP; i < runs; i++) {
    const order = i % 2 === 0 ? runtimes : [...runtimes].reverse();
    for (const rt of order) {
      const v = fn(rt, i);
      if (i >= 0 && v !== null) samples[rt.name]!.push(v);
    }
  }
  return samples;
}

function progress(msg: string): void {
  process.stderr.write(`bench: ${msg}\n`);
}

const rootArgs = (rt: { name: string; bin: string }) => [rt.bin, "--root", stateRoot(rt.name)];

// ------------------------------------------------------------------ the benchmarks

if (want("version")) {
  progress(`--version (${RUNS * 2} runs each)`);
  results.push({
    key: "version",
    label: "`--version`",
    unit: "ms",
    goal: 2,
    samples: alternate(RUNS * 2, (rt) => check(time("seq", [[rt.bin, "--version"]]), "--version").total),
  });
}

if (want("spec")) {
  progress(`spec (${RUNS * 2} runs each)`);
  const dir = join(work, "spec-out");
  mkdirSync(dir);
  results.push({
    key: "spec",
    label: "`spec`",
    unit: "ms",
    goal: 2,
    samples: alternate(RUNS * 2, (rt) => {
      rmSync(join(dir, "config.json"), { force: true });
      return check(time("seq", [[rt.bin, "spec", "--bundle", dir]]), "spec").total;
    }),
  });
}

const rssSamples: Record<string, number[]> = Object.fromEntries(runtimes.map((r) => [r.name, []]));
const cpuSamples: Record<string, number[]> = Object.fromEntries(runtimes.map((r) => [r.name, []]));
if (want("run")) {
  progress(`run /bin/true (${RUNS} runs each)`);
  const b: Record<string, string> = {};
  for (const rt of runtimes) b[rt.name] = bundle(`${rt.name}-run`);
  const samples = alternate(RUNS, (rt, i) => {
    const s = check(time("seq", [[...rootArgs(rt), "run", "--bundle", b[rt.name]!, `${rt.name}-run`]]), `${rt.name} run`);
    if (i >= 0) {
      rssSamples[rt.name]!.push(s.cmds[0]!.rssKb / 1024);
      cpuSamples[rt.name]!.push(s.cmds[0]!.cpuMs);
    }
    return s.total;
  });
  results.push({ key: "run", label: "`run` /bin/true (foreground)", unit: "ms", goal: 0.5, samples });
  results.push({
    key: "run-cpu",
    label: "  CPU time (user + system) of one `run`",
    unit: "ms",
    samples: cpuSamples,
    note: "the runtime and the children it reaped (wait4)",
  });
  results.push({
    key: "rss",
    label: "peak RSS of the runtime process during `run` (wait4)",
    unit: "MiB",
    goal: 1.5,
    samples: rssSamples,
    note: "ru_maxrss of the runtime, which includes its children before they exec",
  });
}

if (want("lifecycle")) {
  progress(`create + start + delete (${RUNS} runs each)`);
  const b: Record<string, string> = {};
  for (const rt of runtimes) b[rt.name] = bundle(`${rt.name}-csd`);
  const parts: Record<string, number[][]> = Object.fromEntries(runtimes.map((r) => [r.name, []]));
  const samples = alternate(RUNS, (rt, i) => {
    const id = `${rt.name}-csd`;
    const cs = check(
      time("seq", [
        [...rootArgs(rt), "create", "--bundle", b[rt.name]!, id],
        [...rootArgs(rt), "start", id],
      ]),
      `${rt.name} create/start`,
    );
    // Untimed: wait until /bin/true has exited, so that `delete` never races a live process.
    waitStopped(rt, id);
    const d = check(time("seq", [[...rootArgs(rt), "delete", id]]), `${rt.name} delete`);
    const ms = [...cs.cmds.map((c) => c.ms), d.cmds[0]!.ms];
    if (i >= 0) parts[rt.name]!.push(ms);
    return cs.total + d.total;
  });
  results.push({ key: "lifecycle", label: "`create` + `start` + `delete` of /bin/true", unit: "ms", goal: 0.5, samples });
  for (const [k, label] of [
    [0, "create"],
    [1, "start"],
    [2, "delete"],
  ] as const) {
    results.push({
      key: `lifecycle-${label.split(" ")[0]}`,
      label: `  of which \`${label}\``,
      unit: "ms",
      samples: Object.fromEntries(runtimes.map((r) => [r.name, parts[r.name]!.map((p) => p[k]!)])),
    });
  }
}

function waitStopped(rt: { name: string; bin: string }, id: string): void {
  for (let i = 0; i < 400; i++) {
    const r = sh([...rootArgs(rt), "state", id], { allowFail: true });
    if (r.code !== 0 || /"status":\s*"stopped"/.test(r.out)) return;
    Bun.sleepSync(5);
  }
  throw new Error(`${rt.name}: container ${id} did not stop`);
}

function execSupported(): boolean {
  const r = sh([TSRUNC, "--root", stateRoot("tsrunc"), "exec", "tsrunc-no-such-container", "/bin/true"], { allowFail: true });
  return !/not supported/i.test(r.err);
}

if (want("exec")) {
  if (!execSupported()) {
    progress("exec: skipped (`tsrunc exec` reports it is not supported yet)");
    results.push({
      key: "exec",
      label: "`exec` /bin/true into a running container",
      unit: "ms",
      goal: 0.5,
      samples: {},
      note: "skipped: `tsrunc exec` reports it is not supported yet; this row fills in once it is",
    });
  } else {
    progress(`exec /bin/true (${RUNS} runs each)`);
    const ids: Record<string, string> = {};
    for (const rt of runtimes) {
      const id = `${rt.name}-exec`;
      ids[rt.name] = id;
      const b = bundle(id, ["/bin/sleep", "1000000"]);
      check(time("seq", [[...rootArgs(rt), "create", "--bundle", b, id], [...rootArgs(rt), "start", id]]), `${rt.name} create for exec`);
    }
    const samples = alternate(RUNS, (rt) => check(time("seq", [[...rootArgs(rt), "exec", ids[rt.name]!, "/bin/true"]]), `${rt.name} exec`).total);
    for (const rt of runtimes) sh([...rootArgs(rt), "delete", "--force", ids[rt.name]!], { allowFail: true });
    results.push({ key: "exec", label: "`exec` /bin/true into a running container", unit: "ms", goal: 0.5, samples });
  }
}

/** v1: memory.max_usage_in_bytes; v2: memory.peak (what was ever charged to the container). */
function memoryPeak(id: string): number | null {
  for (const m of cgroupMounts()) {
    const dir = join(m, cgroupParent, id);
    for (const f of ["memory.max_usage_in_bytes", "memory.peak"]) {
      try {
        return Number(readFileSync(join(dir, f), "utf8").trim());
      } catch {}
    }
  }
  return null;
}

if (want("cgmem")) {
  const n = Math.max(5, Math.floor(RUNS / 3));
  progress(`memory charged to the container's cgroup (${n} runs each)`);
  const b: Record<string, string> = {};
  for (const rt of runtimes) b[rt.name] = bundle(`${rt.name}-mem`, ["/bin/sleep", "1000000"]);
  const samples = alternate(n, (rt) => {
    const id = `${rt.name}-mem`;
    check(time("seq", [[...rootArgs(rt), "create", "--bundle", b[rt.name]!, id], [...rootArgs(rt), "start", id]]), `${rt.name} create+start`);
    const peak = memoryPeak(id);
    sh([...rootArgs(rt), "delete", "--force", id], { allowFail: true });
    return peak === null ? null : peak / 1048576;
  });
  results.push({
    key: "cgmem",
    label: "memory charged to the container's cgroup right after `start` (peak)",
    unit: "MiB",
    goal: undefined,
    samples,
    note: "memory.max_usage_in_bytes (v1) or memory.peak (v2) of a container whose process sleeps",
  });
}

// ------------------------------------------------------------------ containerd shims (host only)

// The shim key compares containerd's shim v2 for tsrunc (in-process task service) with runc's shim
// (which execs /usr/sbin/runc per request) under one private containerd 1.6, driven by ctr.
const HOST_ONLY = ["shim"]; // keys the cg2vm guest does not run
const SHIMS: Record<string, string> = { tsrunc: "io.containerd.tsrunc.v2", runc: "io.containerd.runc.v2" };
const SHIM_IMAGE = "localhost/tsrunc-busybox:latest";
let containerdVersion = "";

/** Running and not a zombie (containerd is our child, reaped only when the event loop runs). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

function waitUntil(cond: () => boolean, ms: number): boolean {
  for (const end = Date.now() + ms; Date.now() < end; Bun.sleepSync(10)) if (cond()) return true;
  return cond();
}

function ctr(args: string[], allowFail = false) {
  return sh(["ctr", "--address", containerd!.sock, ...args], { allowFail, timeoutMs: 120_000 });
}
const ctrArgv = (args: string[]) => ["ctr", "--address", containerd!.sock, ...args];
const fifoArgs = () => ["--fifo-dir", join(containerd!.dir, "fifo")];

/** The shim processes of our containerd (their command lines name its socket). */
const shimPids = () => pidsWith(containerd!.sock).filter((p) => p !== containerd!.pid && /containerd-shim/.test(readFileSync(`/proc/${p}/cmdline`, "utf8")));

/** A private containerd: root, state, sockets and logs in its own temp dir; in a mount namespace of
 * its own with /run a private tmpfs, since containerd 1.6's shims put sockets under /run/containerd
 * whatever the config says. Its PATH has dist/ (containerd-shim-tsrunc-v2) and /usr/sbin (runc). */
function startContainerd(): void {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), "tsrunc-bench-containerd.")));
  const sock = join(dir, "containerd.sock");
  mkdirSync(join(dir, "fifo"));
  const env = { ...process.env, PATH: `${dirname(TSRUNC)}:/usr/sbin:/usr/bin:/sbin:/bin` };
  const child = startDaemon(dir, "containerd", ["containerd", "--config", writeContainerdConfig(dir, sock)], env);
  // Recorded before anything can fail, so that cleanup() stops it.
  containerd = { dir, sock, pid: child.pid ?? 0 };
  if (!waitUntil(() => existsSync(sock) && ctr(["version"], true).code === 0, 20_000))
    throw new Error(`containerd did not start: ${readFileSync(join(dir, "containerd.log"), "utf8").slice(-2000)}`);
  const tar = join(dir, "busybox.tar");
  sh(["bash", join(repo, "bundles/build-oci-image.sh"), tar, SHIM_IMAGE]);
  ctr(["image", "import", tar]);
}

/** Containers deleted (each shim exits with its last), containerd stopped by its pid, whatever still
 * names its temp dir killed (its mount namespace, and the mounts in it, die with the last of them),
 * the temp dir removed. The containers' cgroups go with the run's (cleanup()). */
function stopContainerd(): void {
  const c = containerd;
  if (!c) return;
  containerd = undefined;
  const ctrc = (args: string[]) => sh(["ctr", "--address", c.sock, ...args], { allowFail: true, timeoutMs: 30_000 });
  if (c.pid && alive(c.pid)) {
    for (const id of ctrc(["containers", "ls", "-q"]).out.split("\n").filter(Boolean)) {
      ctrc(["task", "delete", "--force", id]);
      ctrc(["containers", "delete", id]);
    }
    waitUntil(() => pidsWith(c.sock).every((p) => p === c.pid), 10_000);
  }
  const stop = (pids: number[], sig: NodeJS.Signals) => {
    for (const p of pids)
      try {
        process.kill(p, sig);
      } catch {}
  };
  const ours = () => [...new Set([...(c.pid && alive(c.pid) ? [c.pid] : []), ...pidsWith(c.dir).filter(alive)])];
  stop(ours(), "SIGTERM");
  if (!waitUntil(() => ours().length === 0, 10_000)) stop(ours(), "SIGKILL");
  waitUntil(() => ours().length === 0, 5000);
  rmSync(c.dir, { recursive: true, force: true });
}

function taskPid(id: string): number {
  const line = ctr(["task", "ls"]).out.split("\n").find((l) => l.startsWith(id + " "));
  const pid = Number(/^\S+\s+(\d+)/.exec(line ?? "")?.[1]);
  if (!pid) throw new Error(`ctr task ls: no task ${id}`);
  return pid;
}

/** Start a container of `sleep` detached, in its test-only cgroup. */
function ctrDetached(rtName: string, id: string): void {
  ctr(["run", "-d", "--runtime", SHIMS[rtName]!, ...fifoArgs(), "--cgroup", `${cgroupParent}/${id}`, SHIM_IMAGE, id, "/bin/sleep", "1000000"]);
}

function ctrRemove(id: string): void {
  ctr(["task", "delete", "--force", id], true);
  ctr(["containers", "delete", id], true);
}

/** Untimed, between rounds: the previous shim has exited, so that it costs the next one nothing. */
function waitShimsGone(): void {
  if (!waitUntil(() => shimPids().length === 0, 10_000)) throw new Error(`a shim did not exit: ${shimPids().join(", ")}`);
}

/** Memory of a shim serving a container whose init is `init`: the shim (the init's parent) and any
 * helper children of its own, the container's processes left out. VmRSS, and Pss (smaps_rollup). */
function shimMemory(init: number): { rssKb: number; pssKb: number | null; anonKb: number } {
  const ppid = (p: number) => Number(readFileSync(`/proc/${p}/stat`, "utf8").replace(/^.*\) /, "").split(" ")[1]);
  const shim = ppid(init);
  if (!/containerd-shim/.test(readFileSync(`/proc/${shim}/cmdline`, "utf8"))) throw new Error(`the parent ${shim} of ${init} is not a shim`);
  const tree = [shim];
  for (let i = 0; i < tree.length; i++) {
    for (const t of readdirSync(`/proc/${tree[i]}/task`)) {
      for (const ch of readFileSync(`/proc/${tree[i]}/task/${t}/children`, "utf8").split(" ").filter(Boolean)) {
        if (Number(ch) !== init) tree.push(Number(ch));
      }
    }
  }
  let rssKb = 0;
  let anonKb = 0;
  let pssKb: number | null = 0;
  for (const p of tree) {
    const status = readFileSync(`/proc/${p}/status`, "utf8");
    rssKb += Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
    anonKb += Number(/^RssAnon:\s+(\d+)/m.exec(status)?.[1] ?? 0);
    try {
      pssKb = pssKb === null ? null : pssKb + Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${p}/smaps_rollup`, "utf8"))![1]);
    } catch {
      pssKb = null;
    }
  }
  return { rssKb, pssKb, anonKb };
}

if (want("shim") && !inVm) {
  const labels = {
    run: "shim v2: `ctr run --rm` /bin/true (containerd 1.6, tsrunc's shim vs runc's)",
    exec: "shim v2: `ctr task exec` /bin/true into a running container",
    rss: "shim v2: RSS of the shim serving one idle container",
  };
  const absent = ["containerd", "ctr", "containerd-shim-runc-v2", "unshare"].filter((c) => sh(["sh", "-c", `command -v ${c}`], { allowFail: true }).code !== 0);
  if (!existsSync("/usr/sbin/runc")) absent.push("/usr/sbin/runc");
  if (!existsSync(join(dirname(TSRUNC), "containerd-shim-tsrunc-v2"))) absent.push("dist/containerd-shim-tsrunc-v2 (scripts/build.sh)");
  if (absent.length) {
    const note = `skipped: not installed: ${absent.join(", ")}`;
    progress(`shim: ${note}`);
    results.push({ key: "shim", label: "shim v2 (containerd): `ctr run --rm`, `ctr task exec`, the shim's memory", unit: "ms", samples: {}, note });
  } else {
    progress("shim: a private containerd, the busybox image imported");
    startContainerd();
    containerdVersion = sh(["containerd", "--version"]).out.split(" ")[2] ?? "";
    const onlyShims = (rt: { name: string }) => rt.name in SHIMS;

    progress(`shim: ctr run --rm /bin/true (${RUNS} runs each)`);
    const runSamples = alternate(RUNS, (rt) => {
      if (!onlyShims(rt)) return null;
      const id = `${rt.name}-shim-run`;
      const argv = ctrArgv(["run", "--rm", "--runtime", SHIMS[rt.name]!, ...fifoArgs(), "--cgroup", `${cgroupParent}/${id}`, SHIM_IMAGE, id, "/bin/true"]);
      const s = check(time("seq", [argv]), `${rt.name} shim: ctr run --rm`);
      waitShimsGone();
      return s.total;
    });
    results.push({ key: "shim-run", label: labels.run, unit: "ms", samples: runSamples, note: "the whole client round trip: shim start, create, start, wait, delete, shim exit; ctr's own cost included" });

    progress(`shim: ctr task exec /bin/true (${RUNS} runs each)`);
    for (const name of Object.keys(SHIMS)) ctrDetached(name, `${name}-shim-exec`);
    let execN = 0;
    const execSamples = alternate(RUNS, (rt) => {
      if (!onlyShims(rt)) return null;
      const argv = ctrArgv(["task", "exec", ...fifoArgs(), "--exec-id", `e${execN++}`, `${rt.name}-shim-exec`, "/bin/true"]);
      return check(time("seq", [argv]), `${rt.name} shim: ctr task exec`).total;
    });
    for (const name of Object.keys(SHIMS)) ctrRemove(`${name}-shim-exec`);
    waitShimsGone();
    results.push({ key: "shim-exec", label: labels.exec, unit: "ms", samples: execSamples });

    // A fresh container per round; read once the shim has been idle for a moment.
    const n = Math.max(5, Math.floor(RUNS / 3));
    progress(`shim: memory of the shim serving one idle container (${n} runs each)`);
    const pss: Record<string, number[]> = Object.fromEntries(runtimes.map((r) => [r.name, []]));
    const anon: Record<string, number[]> = Object.fromEntries(runtimes.map((r) => [r.name, []]));
    const rssSamplesShim = alternate(n, (rt, i) => {
      if (!onlyShims(rt)) return null;
      const id = `${rt.name}-shim-mem`;
      ctrDetached(rt.name, id);
      Bun.sleepSync(500);
      const m = shimMemory(taskPid(id));
      ctrRemove(id);
      waitShimsGone();
      if (i >= 0 && m.pssKb !== null) pss[rt.name]!.push(m.pssKb / 1024);
      if (i >= 0) anon[rt.name]!.push(m.anonKb / 1024);
      return m.rssKb / 1024;
    });
    results.push({
      key: "shim-rss",
      label: labels.rss,
      unit: "MiB",
      samples: rssSamplesShim,
      note: "VmRSS of the shim (and any helper processes of its own), 0.5 s after `ctr run -d` of a sleeping container",
    });
    if (Object.values(pss).some((xs) => xs.length)) {
      results.push({ key: "shim-pss", label: "  PSS of the same (smaps_rollup)", unit: "MiB", samples: pss, note: "shared pages divided among the processes mapping them" });
    }
    // The binary's pages are shared by every shim of a node; its anonymous memory is what each more costs.
    results.push({ key: "shim-anon", label: "  of which anonymous (RssAnon: what each further shim adds)", unit: "MiB", samples: anon });
    stopContainerd();
  }
}

interface ConcRow {
  n: number;
  perContainer: Record<string, number>;
  wall: Record<string, number>;
}
const concurrency: ConcRow[] = [];
if (want("concurrency")) {
  // In the emulated guest every run is ~8× slower (and user-space work more so): fewer points there.
  const levels = inVm ? [1, 10, 25] : [1, 5, 10, 25, 50];
  const reps = inVm ? 2 : 5;
  progress(`concurrent runs: ${levels.join(", ")} containers at once (${reps} rounds each)`);
  for (const n of levels) {
    const b: Record<string, string[]> = {};
    for (const rt of runtimes) b[rt.name] = Array.from({ length: n }, (_, k) => bundle(`${rt.name}-c${n}-${k}`));
    const samples = alternate(reps, (rt) =>
      check(
        time(
          "par",
          b[rt.name]!.map((dir, k) => [...rootArgs(rt), "run", "--bundle", dir, `${rt.name}-c${n}-${k}`]),
        ),
        `${rt.name} ${n} concurrent runs`,
      ).total,
    );
    concurrency.push({
      n,
      wall: Object.fromEntries(runtimes.map((r) => [r.name, median(samples[r.name]!)])),
      perContainer: Object.fromEntries(runtimes.map((r) => [r.name, median(samples[r.name]!) / n])),
    });
  }
}

// ------------------------------------------------------------------ the profile (TSRUNC_TRACE_TIMING)

interface Phase {
  name: string;
  ms: number;
}
let profile: Phase[] = [];
const selfRss: number[] = [];
if (profileRuns > 0 && want("profile")) {
  progress(`profile of \`tsrunc run\` (${profileRuns} traced runs)`);
  const b = bundle("tsrunc-prof");
  const perPhase = new Map<string, number[]>();
  for (let i = -WARMUP; i < profileRuns; i++) {
    rmSync(errFile, { force: true });
    const s = check(time("seq", [[...rootArgs({ name: "tsrunc", bin: TSRUNC }), "run", "--bundle", b, "tsrunc-prof"]], true), "traced run");
    if (i < 0) continue;
    const lines = readFileSync(errFile, "utf8").split("\n").filter((l) => l.startsWith("tsrunc-timing "));
    if (lines.length === 0) {
      progress("profile: skipped (this dist/tsrunc prints no TSRUNC_TRACE_TIMING phases)");
      perPhase.clear();
      break;
    }
    let accounted = 0;
    for (const l of lines) {
      const [, name, ms] = l.split(" ");
      if (name === "peak_rss_kb") selfRss.push(Number(ms) / 1024);
      if (name === "total" || name === "peak_rss_kb") continue;
      accounted += Number(ms);
      if (!perPhase.has(name!)) perPhase.set(name!, []);
      perPhase.get(name!)!.push(Number(ms));
    }
    if (!perPhase.has("exit")) perPhase.set("exit", []);
    perPhase.get("exit")!.push(s.total - accounted);
  }
  profile = [...perPhase.entries()].map(([name, xs]) => ({ name, ms: median(xs) }));
}

// ------------------------------------------------------------------ cgroupfs costs (in this process)

interface CgroupCosts {
  hierarchies: number;
  mkdirMs: number; // one level in every hierarchy
  rmdirMs: number;
  attachIdleMs: number; // first cgroup.procs write after ≥ 300 ms without one
  attachWarmMs: number; // a write right after another
  attachZombieMs: number; // moving a zombie (a no-op), after idle
  afterZombieMs: number; // a real attach right after the zombie's
}
let cgroupCosts: CgroupCosts | undefined;
if (want("cgroupfs")) {
  progress("cgroupfs: mkdir/rmdir in every hierarchy, attach latency (15 rounds)");
  const mounts = cgroupMounts();
  const mk: number[] = [];
  const rm: number[] = [];
  const idle: number[] = [];
  const warm: number[] = [];
  const zombie: number[] = [];
  const afterZombie: number[] = [];
  const base = (m: string) => join(m, cgroupParent, "micro");
  for (const m of mounts) mkdirSync(join(m, cgroupParent), { recursive: true });
  const sleepMs = (ms: number) => Bun.sleepSync(ms);
  const procs = (m: string) => join(base(m), "cgroup.procs");
  // A v1 cpuset cgroup takes no task until cpus and mems are set: use the pids (or unified) one.
  const attachMount = mounts.find((m) => m.endsWith("/pids")) ?? mounts.find((m) => existsSync(join(m, "cgroup.subtree_control")))!;
  const timeWrite = (file: string, v: string) => {
    const t = performance.now();
    try {
      writeFileSync(file, v);
    } catch {}
    return performance.now() - t;
  };
  for (let i = 0; i < 15; i++) {
    let t = performance.now();
    for (const m of mounts) mkdirSync(base(m));
    mk.push(performance.now() - t);
    const child = Bun.spawn(["sleep", "10"], { stdio: ["ignore", "ignore", "ignore"] });
    sleepMs(300);
    idle.push(timeWrite(procs(attachMount), String(child.pid)));
    warm.push(timeWrite(join(attachMount, cgroupParent, "cgroup.procs"), String(child.pid)));
    // A zombie: Bun reaps its children only when its event loop runs, never during sleepSync.
    child.kill(9);
    await child.exited;
    const real = Bun.spawn(["sleep", "10"], { stdio: ["ignore", "ignore", "ignore"] });
    const zz = Bun.spawn(["true"], { stdio: ["ignore", "ignore", "ignore"] });
    sleepMs(300);
    zombie.push(timeWrite(procs(attachMount), String(zz.pid)));
    afterZombie.push(timeWrite(procs(attachMount), String(real.pid)));
    real.kill(9);
    await Promise.all([real.exited, zz.exited]);
    sleepMs(20);
    t = performance.now();
    for (const m of mounts) {
      try {
        rmdirSync(base(m));
      } catch {}
    }
    rm.push(performance.now() - t);
  }
  cgroupCosts = {
    hierarchies: mounts.length,
    mkdirMs: median(mk),
    rmdirMs: median(rm),
    attachIdleMs: median(idle),
    attachWarmMs: median(warm),
    attachZombieMs: median(zombie),
    afterZombieMs: median(afterZombie),
  };
}

// ------------------------------------------------------------------ report

const fmt = (x: number, unit: string) => (Number.isFinite(x) ? (unit === "MiB" ? x.toFixed(1) : x < 10 ? x.toFixed(2) : x.toFixed(1)) : "–");
const ratio = (a: number, b: number) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? a / b : NaN);
const fmtRatio = (r: number) => (Number.isFinite(r) ? `${r.toFixed(2)}×` : "–");

function versions(): string {
  const first = (cmd: string[]) => sh(cmd, { allowFail: true }).out.split("\n").slice(0, 2).map((l) => l.trim());
  const [tv, tc] = first([TSRUNC, "--version"]);
  const parts = [`kernel ${sh(["uname", "-r"]).out.trim()}`, `${cpus().length} CPUs`, `${tv} (${tc})`, first(["runc", "--version"])[0]!];
  if (inVm) parts.push(first(["crun", "--version"])[0]!);
  if (containerdVersion) parts.push(`containerd ${containerdVersion}`);
  // Other work on the machine skews every number: say how busy it was before we started.
  parts.push(`load average ${loadAtStart} before the run`);
  return parts.join(", ").replaceAll(" version ", " ");
}

interface Json {
  env: string;
  results: Result[];
  concurrency: ConcRow[];
  profile: Phase[];
  selfRssMiB?: number;
  cgroupCosts?: CgroupCosts;
}
const data: Json = {
  env: versions(),
  results,
  concurrency,
  profile,
  selfRssMiB: selfRss.length ? median(selfRss) : undefined,
  cgroupCosts,
};

if (jsonOut) {
  writeFileSync(jsonOut, JSON.stringify(data));
}

function hostTable(d: Json): string {
  const names = runtimeNames(d);
  const others = names.filter((n) => n !== "runc");
  let md = `| benchmark | ${names.join(" | ")} | ${others.map((n) => `${n} / runc`).join(" | ")} | goal (tsrunc / runc) |\n`;
  md += `| --- | ${names.map(() => "---:").join(" | ")} | ${others.map(() => "---:").join(" | ")} | --- |\n`;
  for (const r of d.results) {
    const m = Object.fromEntries(names.map((n) => [n, median(r.samples[n] ?? [])]));
    const q = ratio(m.tsrunc!, m.runc!);
    const goal = r.goal === undefined ? "" : `≤ ${r.goal}× ${Number.isFinite(q) ? (q <= r.goal ? "✅" : "❌") : ""}`;
    const unit = r.unit === "ms" ? " ms" : " MiB";
    if (!r.samples.tsrunc) {
      md += `| ${r.label} | ${names.map(() => "–").join(" | ")} | ${others.map(() => "–").join(" | ")} | ${goal} — ${r.note} |\n`;
      continue;
    }
    md += `| ${r.label} | ${names.map((n) => fmt(m[n]!, r.unit) + unit).join(" | ")} | ${others.map((n) => fmtRatio(ratio(m[n]!, m.runc!))).join(" | ")} | ${goal} |\n`;
  }
  return md;
}

function runtimeNames(d: Json): string[] {
  const seen = new Set<string>();
  for (const r of d.results) for (const k of Object.keys(r.samples)) seen.add(k);
  for (const c of d.concurrency) for (const k of Object.keys(c.wall)) seen.add(k);
  // Only skipped rows (e.g. `--only shim` without containerd): the columns are still the runtimes.
  return seen.size ? [...seen] : runtimes.map((r) => r.name);
}

function concTable(d: Json, ratiosOnly: boolean): string {
  if (!d.concurrency.length) return "";
  if (ratiosOnly) {
    let md = "| containers at once | tsrunc / runc | crun / runc | tsrunc / crun |\n| ---: | ---: | ---: | ---: |\n";
    for (const c of d.concurrency) {
      const p = c.perContainer;
      md += `| ${c.n} | ${fmtRatio(ratio(p.tsrunc!, p.runc!))} | ${fmtRatio(ratio(p.crun!, p.runc!))} | ${fmtRatio(ratio(p.tsrunc!, p.crun!))} |\n`;
    }
    return md;
  }
  const names = runtimeNames(d);
  const others = names.filter((n) => n !== "runc");
  let md = `| containers at once | ${names.map((n) => `${n}: wall, per container`).join(" | ")} | ${others.map((n) => `${n} / runc`).join(" | ")} |\n`;
  md += `| ---: | ${names.map(() => "---:").join(" | ")} | ${others.map(() => "---:").join(" | ")} |\n`;
  for (const c of d.concurrency) {
    md += `| ${c.n} | ${names.map((n) => `${fmt(c.wall[n]!, "ms")} ms, ${fmt(c.perContainer[n]!, "ms")} ms`).join(" | ")} | ${others.map((n) => fmtRatio(ratio(c.perContainer[n]!, c.perContainer.runc!))).join(" | ")} |\n`;
  }
  return md;
}

function vmTable(d: Json): string {
  let md = "| benchmark | tsrunc / runc | crun / runc | tsrunc / crun |\n| --- | ---: | ---: | ---: |\n";
  for (const r of d.results) {
    const [t, u, c] = ["tsrunc", "runc", "crun"].map((n) => median(r.samples[n] ?? []));
    if (!r.samples.tsrunc) {
      md += `| ${r.label} | – | – | – |\n`;
      continue;
    }
    md += `| ${r.label} | ${fmtRatio(ratio(t!, u!))} | ${fmtRatio(ratio(c!, u!))} | ${fmtRatio(ratio(t!, c!))} |\n`;
  }
  return md;
}

function profileTable(d: Json): string {
  if (!d.profile.length) return "";
  const total = d.profile.reduce((a, p) => a + p.ms, 0);
  let md = "| phase | median ms |\n| --- | ---: |\n";
  for (const p of d.profile) md += `| ${p.name.replaceAll("_", " ")} | ${p.ms.toFixed(2)} |\n`;
  md += `| (sum of medians) | ${total.toFixed(1)} |\n`;
  if (d.selfRssMiB !== undefined) md += `\nPeak RSS of the tsrunc process itself (VmHWM, children excluded): ${d.selfRssMiB.toFixed(1)} MiB.\n`;
  return md;
}

function cgroupTable(d: Json): string {
  const c = d.cgroupCosts;
  if (!c) return "";
  return (
    `| cgroupfs operation (${c.hierarchies} hierarchies) | median ms |\n| --- | ---: |\n` +
    `| mkdir of one level in every hierarchy | ${c.mkdirMs.toFixed(2)} |\n` +
    `| rmdir of one level in every hierarchy | ${c.rmdirMs.toFixed(2)} |\n` +
    `| attach (cgroup.procs write) after 300 ms without one | ${c.attachIdleMs.toFixed(2)} |\n` +
    `| attach right after another attach | ${c.attachWarmMs.toFixed(2)} |\n` +
    `| attach of a zombie (moves nothing) after 300 ms without one | ${c.attachZombieMs.toFixed(2)} |\n` +
    `| attach right after the zombie's | ${c.afterZombieMs.toFixed(2)} |\n`
  );
}

function printConsole(d: Json, vm: boolean): void {
  console.log(`\n${vm ? "cg2vm guest (cgroup v2, emulated: ratios only)" : "host"}: ${d.env}\n`);
  console.log(vm ? vmTable(d) : hostTable(d));
  const ct = concTable(d, vm);
  if (ct) console.log(ct);
  const pt = profileTable(d);
  if (pt) console.log(pt);
  const cg = cgroupTable(d);
  if (cg) console.log(cg);
}

printConsole(data, inVm);

// The cg2vm part: the same benchmark inside an emulated pure cgroup v2 guest, with crun.
let vmData: Json | undefined;
const cg2vm = process.env.CG2VM ?? resolve(repo, "../shared/tools/cg2vm");
const vmResults = opt("--vm-results"); // the JSON of an earlier guest run (`--vm --json FILE` in cg2vm)
if (vmResults) {
  vmData = JSON.parse(readFileSync(vmResults, "utf8"));
} else if (!noVm && only?.every((k) => HOST_ONLY.includes(k))) {
  progress(`cg2vm part skipped: ${only.join(", ")} run on the host only`);
} else if (!noVm) {
  if (!existsSync(cg2vm)) {
    progress(`cg2vm part skipped: ${cg2vm} is missing`);
  } else {
    const vmJson = join(repo, "bench", `.vm-results.${process.pid}.json`);
    progress("cg2vm: the same benchmark with crun inside a cgroup v2 guest (slow: emulated)");
    const vmRuns = Math.max(3, Math.round(RUNS / 6));
    const onlyArg = only ? ` --only ${only.join(",")}` : "";
    const r = spawnSync(cg2vm, [`node_modules/.bin/bun bench/bench.ts --vm --runs ${vmRuns}${onlyArg} --json ${vmJson}`], {
      cwd: repo,
      stdio: ["ignore", "inherit", "inherit"],
      env: { ...process.env, CG2VM_TIMEOUT: process.env.CG2VM_TIMEOUT ?? "3600" },
    });
    try {
      if (r.status === 0) vmData = JSON.parse(readFileSync(vmJson, "utf8"));
      else progress(`cg2vm part failed (exit ${r.status})`);
    } finally {
      rmSync(vmJson, { force: true });
    }
  }
}

if (outFile) {
  let md = `# tsrunc benchmark results\n\nWritten by \`npm run bench\` (bench/bench.ts); bench/README.md explains the method and the\nprofile. Medians of ${RUNS} alternating runs per runtime (\`--version\` and \`spec\`: ${RUNS * 2}), same\nbundle (bundles/busybox, config from \`tsrunc spec\`, terminal off), same machine.\n\n`;
  md += `## This machine (hybrid cgroups: v1 controllers)\n\n${data.env}\n\n${hostTable(data)}\n`;
  if (data.results.some((r) => r.key === "shim-run" && r.samples.tsrunc))
    md += `The "shim v2" rows compare the shims, not the runtime binaries: tsrunc's containerd shim (the task\nservice in process) against runc's shim running /usr/sbin/runc, under one private containerd, timed\naround ctr (whose own cost is in both). Shim memory: ${Math.max(5, Math.floor(RUNS / 3))} fresh containers per shim.\n\n`;
  if (data.concurrency.length) md += `### Containers started concurrently (\`run\` /bin/true)\n\n${concTable(data, false)}\n`;
  if (data.profile.length) md += `### Where one \`tsrunc run\` spends its time (TSRUNC_TRACE_TIMING, medians)\n\n${profileTable(data)}\n`;
  if (data.cgroupCosts) md += `### cgroupfs costs on this machine\n\n${cgroupTable(data)}\n`;
  if (vmData) {
    md += `## cg2vm guest (pure cgroup v2, emulated ~8× slower: ratios only)\n\n${vmData.env}\n\n`;
    md += `Emulation slows user-space work more than kernel work, and the runtimes run from copies in the\nguest's tmpfs while shared libraries (crun's) still come from the host over 9p: read these as\n"does the v2 path work, is anything pathological", not as speeds.\n\n${vmTable(vmData)}\n`;
    if (vmData.concurrency.length) md += `### Containers started concurrently, per-container cost\n\n${concTable(vmData, true)}\n`;
  }
  md += `\nReproduce: \`npm run bench\` as root; options after \`--\`: \`--runs N\`, \`--only run,lifecycle\`, \`--no-vm\`,\n\`--vm-results FILE\`, \`--runtime NAME=BINARY\` (bench/README.md).\n`;
  writeFileSync(outFile, md);
  progress(`wrote ${outFile}`);
}
