// A private containerd 1.6 for tests and benchmarks: its root, state, sockets and log under a temp
// dir, in a mount namespace of its own with /run a private tmpfs. No vitest here: bench/ uses it too.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { closeSync, existsSync, openSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** A daemon in a mount namespace of its own whose /run is a private tmpfs: containerd 1.6's shims
 * put their sockets under /run/containerd whatever the config says, and no system containerd's
 * files may be touched. Its mounts (snapshots, rootfs) die with the namespace. */
export function startDaemon(dir: string, name: string, argv: string[], env?: NodeJS.ProcessEnv): ChildProcess {
  const log = openSync(join(dir, `${name}.log`), "w");
  const script = `mount -t tmpfs -o mode=755 tsrunc-private-run /run && exec "$@"`;
  const child = spawn("unshare", ["--mount", "--propagation", "private", "sh", "-c", script, "sh", ...argv], {
    cwd: dir,
    detached: true,
    stdio: ["ignore", log, log],
    env: env ?? process.env,
  });
  closeSync(log);
  child.unref();
  return child;
}


/** A private containerd 1.6's config: everything under dir; no CRI (it wants CNI), no snapshotters
 * this host lacks. */
export function writeContainerdConfig(dir: string, sock: string): string {
  const path = join(dir, "config.toml");
  writeFileSync(
    path,
    `version = 2
root = "${dir}/root"
state = "${dir}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "${sock}"
[ttrpc]
  address = "${sock}.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "${dir}/opt"
`,
  );
  return path;
}

/** containerd started on sock (config and log in dir), once `ctr version` answers. env: its PATH
 * says where it finds shims (containerd-shim-tsrunc-v2 in dist/). */
export function startContainerd(dir: string, sock: string, env?: NodeJS.ProcessEnv): ChildProcess {
  const daemon = startDaemon(dir, "containerd", ["containerd", "--config", writeContainerdConfig(dir, sock)], env);
  const end = Date.now() + 20_000;
  const up = () => existsSync(sock) && spawnSync("ctr", ["--address", sock, "version"], { timeout: 5000 }).status === 0;
  while (!up()) {
    if (Date.now() > end) throw new Error(`containerd did not start: ${readFileSync(join(dir, "containerd.log"), "utf8").slice(-2000)}`);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
  }
  return daemon;
}

/** Pids of live processes whose command line contains `needle` (what a private instance started). */
export function pidsWith(needle: string): number[] {
  const out: number[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${e}/cmdline`, "utf8").includes(needle)) out.push(Number(e));
    } catch {}
  }
  return out;
}
