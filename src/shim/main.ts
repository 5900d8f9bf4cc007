// containerd-shim-tsrunc-v2: containerd's shim v2 for tsrunc, a mode of the same binary (containerd
// finds it on PATH by the runtime name io.containerd.tsrunc.v2). Its command line is Go's flag
// package's, as containerd calls every shim:
//   -namespace NS -address A -publish-binary B -id ID [-debug] [-bundle P] [-socket S] [start|delete]
// `start` starts the long-lived shim for a container (or finds the one of its group) and prints its
// ttrpc address; `delete` cleans up after a shim that died; without an action the shim serves.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, existsSync, openSync, readFileSync, rmSync, writeFileSync, writeSync, constants as fsc } from "node:fs";
import { basename, dirname, join } from "node:path";
import { VERSION } from "../cli/version.ts";

export interface ShimFlags {
  namespace: string;
  address: string;
  publishBinary: string;
  id: string;
  bundle: string;
  socket: string;
  debug: boolean;
  version: boolean;
  action: string;
}

/** Go's flag package: -name value, -name=value, --name too; bools take no value; parsing stops at
 * the first non-flag (the action). */
export function parseShimFlags(argv: readonly string[]): ShimFlags {
  const f: ShimFlags = { namespace: "", address: "", publishBinary: "containerd", id: "", bundle: "", socket: "", debug: false, version: false, action: "" };
  const strings: Record<string, keyof ShimFlags> = {
    namespace: "namespace",
    address: "address",
    "publish-binary": "publishBinary",
    id: "id",
    bundle: "bundle",
    socket: "socket",
  };
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") {
      i++;
      break;
    }
    if (!a.startsWith("-") || a === "-") break;
    const body = a.replace(/^--?/, "");
    const eq = body.indexOf("=");
    const name = eq >= 0 ? body.slice(0, eq) : body;
    if (name === "debug" || name === "v") {
      const v = eq >= 0 ? body.slice(eq + 1) : "true";
      if (!/^(1|0|t|f|true|false|TRUE|FALSE|True|False)$/.test(v)) throw new Error(`invalid boolean value "${v}" for -${name}`);
      (f as unknown as Record<string, boolean>)[name === "v" ? "version" : "debug"] = /^(1|t|true)$/i.test(v);
      continue;
    }
    const key = strings[name];
    if (!key) throw new Error(`flag provided but not defined: -${name}`);
    let value: string;
    if (eq >= 0) value = body.slice(eq + 1);
    else {
      if (i + 1 >= argv.length) throw new Error(`flag needs an argument: -${name}`);
      value = argv[++i]!;
    }
    (f as unknown as Record<string, string>)[key] = value;
  }
  f.action = argv[i] ?? "";
  return f;
}

/** containerd's shim socket for (containerd address, namespace, group): /run/containerd/s/<sha256>. */
export function shimSocketPath(containerdAddress: string, namespace: string, group: string): string {
  const key = join(containerdAddress, namespace, group);
  return join("/run/containerd/s", createHash("sha256").update(key).digest("hex"));
}

/** Containers of one group (a Kubernetes pod) share a shim, as with runc's. */
const GROUP_LABELS = ["io.containerd.runc.v2.group", "io.kubernetes.cri.sandbox-id"];

function groupOf(bundle: string, id: string): string {
  try {
    const spec = JSON.parse(readFileSync(join(bundle, "config.json"), "utf8")) as { annotations?: Record<string, string> };
    for (const l of GROUP_LABELS) {
      const g = spec.annotations?.[l];
      if (g) return g;
    }
  } catch {}
  return id;
}

function writeStdout(data: string | Uint8Array): void {
  const buf = typeof data === "string" ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  let off = 0;
  while (off < buf.length) off += writeSync(1, buf, off);
}

async function canConnect(path: string): Promise<boolean> {
  const { native } = await import("../native/index.ts");
  try {
    native.close(native.connectUnix(path));
    return true;
  } catch {
    return false;
  }
}

/** `start`: print the address of the shim serving this container, starting one if needed. */
async function start(f: ShimFlags): Promise<number> {
  const bundle = f.bundle || process.cwd();
  const socket = shimSocketPath(f.address, f.namespace, groupOf(bundle, f.id));
  const address = `unix://${socket}`;
  if (existsSync(socket)) {
    if (await canConnect(socket)) {
      writeFileSync(join(bundle, "address"), address);
      writeStdout(address);
      return 0;
    }
    rmSync(socket, { force: true });
  }
  // containerd reads the shim's log from the "log" fifo it made in the bundle (and holds open).
  let logFd: number | "ignore" = "ignore";
  try {
    logFd = openSync(join(bundle, "log"), fsc.O_WRONLY | fsc.O_NONBLOCK);
  } catch {}
  const args = ["-namespace", f.namespace, "-id", f.id, "-address", f.address, "-socket", socket];
  if (f.bundle) args.push("-bundle", f.bundle);
  if (f.debug) args.push("-debug");
  // Its own session: the shim outlives this process and must not share containerd's signals. It
  // says it serves on fd 3 (READY_FD), a pipe that ends with this process.
  const child = spawn(process.execPath, args, {
    argv0: process.argv0,
    cwd: bundle,
    detached: true,
    stdio: ["ignore", "ignore", logFd, "pipe"],
    env: { ...process.env, [READY_FD_ENV]: "3" },
  });
  if (typeof logFd === "number") closeSync(logFd);
  const ready = child.stdio[3] as NodeJS.ReadableStream;
  const outcome = await new Promise<string>((resolve) => {
    const timer = setTimeout(() => resolve(`the shim did not serve ${socket} within 10s`), 10_000);
    const done = (why: string) => {
      clearTimeout(timer);
      resolve(why);
    };
    ready.once("data", () => done(""));
    // Its end of the pipe closed without a word: it died (its reason is in the log).
    ready.once("end", () => done(`the shim exited before serving ${socket}`));
    ready.once("error", () => done(`the shim exited before serving ${socket}`));
  });
  (ready as unknown as { destroy(): void }).destroy();
  child.unref();
  if (!outcome) {
    writeFileSync(join(bundle, "address"), address);
    writeStdout(address);
    return 0;
  }
  if (child.pid && child.exitCode === null) {
    try {
      process.kill(child.pid, "SIGKILL");
    } catch {}
  }
  rmSync(socket, { force: true });
  throw new Error(outcome);
}

/** The serving shim tells `start` it listens by writing to this fd, named in this variable. */
export const READY_FD_ENV = "TSRUNC_SHIM_READY_FD";

/** `delete`: clean up after a shim that is gone: the container, its rootfs mount; print the
 * DeleteResponse containerd expects (killed, now). */
async function cleanup(f: ShimFlags): Promise<number> {
  const bundle = join(dirname(f.bundle || process.cwd()), f.id);
  const { native } = await import("../native/index.ts");
  const { Runtime } = await import("../runtime/container.ts");
  const { unmountAll } = await import("./rootfs.ts");
  const { savedOptions, runtimeRoot } = await import("./options.ts");
  const { encodeDeleteResponse } = await import("./server.ts");
  const log = shimLogger(f.debug);
  const opts = savedOptions(bundle);
  const rt = new Runtime({ root: runtimeRoot(f.namespace, opts), log, systemdCgroup: opts.systemd_cgroup === true, native });
  try {
    await rt.delete(f.id, true);
  } catch (e) {
    log.warn(`failed to remove tsrunc container: ${(e as Error).message}`);
  }
  try {
    unmountAll(native, join(bundle, "rootfs"));
  } catch (e) {
    log.warn(`failed to cleanup rootfs mount: ${(e as Error).message}`);
  }
  let pid = 0;
  try {
    pid = Number.parseInt(readFileSync(join(bundle, "init.pid"), "utf8"), 10) || 0;
  } catch {}
  writeStdout(encodeDeleteResponse({ pid, exit_status: 128 + 9, exited_at: new Date() }));
  return 0;
}

/** logrus-like text lines on stderr (containerd copies them into its own log). */
export function shimLogger(debug: boolean) {
  const line = (level: string, msg: string) => {
    try {
      writeSync(2, `time="${new Date().toISOString()}" level=${level} msg=${JSON.stringify(msg)}\n`);
    } catch {
      // the log fifo is full or gone: the shim goes on
    }
  };
  return {
    debug: (m: string) => debug && line("debug", m),
    info: (m: string) => line("info", m),
    warn: (m: string) => line("warning", m),
    error: (m: string) => line("error", m),
  };
}

export async function shimMain(argv: readonly string[]): Promise<number> {
  const name = basename(process.argv0);
  let f: ShimFlags;
  try {
    f = parseShimFlags(argv);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 2;
  }
  if (f.version) {
    writeStdout(`${name}:\n  Version:  ${VERSION}\n\n`);
    return 0;
  }
  try {
    if (!f.namespace) throw new Error("shim namespace cannot be empty");
    switch (f.action) {
      case "start":
        return await start(f);
      case "delete":
        return await cleanup(f);
      case "":
        return await (await import("./server.ts")).serve(f, shimLogger(f.debug));
      default:
        throw new Error(`unknown action ${JSON.stringify(f.action)}: expected start, delete or none`);
    }
  } catch (e) {
    process.stderr.write(`${name}: ${(e as Error).message}\n`);
    return 1;
  }
}
