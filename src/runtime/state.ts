// Container state under --root: one directory per container holding state.json (written atomically)
// and exec.fifo (present while the container waits for `start`, as in runc). Commands that change a
// container hold an exclusive lock on its "lock" file, so two racing commands never interleave. The
// lock is a POSIX record lock, which a cloned init does not inherit (a flock it would keep holding).
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync, constants as fsc } from "node:fs";
import { join } from "node:path";
// Named imports: `import * as z` keeps all of zod (locales included) in the binary, ~2.5 ms of start-up.
import { any, boolean, type infer as Infer, number, object, optional, record, string } from "zod/mini";
import type { Native } from "../native/types.ts";

const ID_RE = /^[\w+\-.]+$/;

export function validateId(id: string): void {
  if (!ID_RE.test(id) || id === "." || id === "..") throw new Error("invalid container ID format");
}

/** What tsrunc keeps about a container. The runtime-spec state (`state` output) derives from it. */
export const StateFile = object({
  id: string(),
  bundle: string(),
  rootfs: string(),
  /** Host pid of the init; 0 until it exists. */
  pid: number(),
  /** Field 22 of /proc/<pid>/stat when created: tells a reused pid from ours. */
  pidStartTime: number(),
  created: string(),
  owner: string(),
  annotations: optional(record(string(), string())),
  /** The validated config.json, kept for exec, hooks and delete. */
  config: record(string(), any()),
  /** Serialised cgroup manager state (what tsrunc created, to remove exactly that). */
  cgroup: optional(any()),
  /** The init's namespaces, for exec and hooks. */
  rootless: boolean(),
  systemdCgroup: boolean(),
  /** Created with --no-new-keyring: processes exec'd later keep the caller's session keyring too. */
  noNewKeyring: optional(boolean()),
});
export type ContainerState = Infer<typeof StateFile>;

export type Status = "creating" | "created" | "running" | "paused" | "stopped";

export class StateStore {
  constructor(
    readonly root: string,
    private readonly native: () => Native,
  ) {}

  dir(id: string): string {
    return join(this.root, id);
  }
  fifo(id: string): string {
    return join(this.root, id, "exec.fifo");
  }

  /** Reserve the id: mkdir is atomic, so of two racing creates exactly one wins. */
  reserve(id: string): void {
    validateId(id);
    mkdirSync(this.root, { recursive: true, mode: 0o700 });
    try {
      mkdirSync(this.dir(id), { mode: 0o711 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EEXIST") throw new Error("container with given ID already exists");
      throw e;
    }
  }

  exists(id: string): boolean {
    return existsSync(this.dir(id));
  }

  /** Run fn holding the container's exclusive lock. The directory may vanish while we wait (a racing
   * delete): then the container does not exist. */
  withLock<T>(id: string, fn: () => T): T {
    const fd = this.lock(id);
    try {
      return fn();
    } finally {
      closeSync(fd);
    }
  }

  async withLockAsync<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const fd = this.lock(id);
    try {
      return await fn();
    } finally {
      closeSync(fd);
    }
  }

  private lock(id: string): number {
    validateIdForLookup(id);
    let fd: number;
    try {
      fd = openSync(join(this.dir(id), "lock"), fsc.O_RDWR | fsc.O_CREAT, 0o600);
    } catch {
      throw new Error("container does not exist");
    }
    try {
      this.native().lockFile(fd, true, false);
      if (!existsSync(this.dir(id))) throw new Error("container does not exist");
    } catch (e) {
      closeSync(fd);
      throw e;
    }
    return fd;
  }

  /** null: the directory exists but state.json was never written (a create that crashed early). */
  load(id: string): ContainerState | null {
    validateIdForLookup(id);
    let text: string;
    try {
      text = readFileSync(join(this.dir(id), "state.json"), "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") {
        if (this.exists(id)) return null;
        throw new Error("container does not exist");
      }
      throw e;
    }
    const parsed = StateFile.safeParse(JSON.parse(text));
    if (!parsed.success) throw new Error(`${join(this.dir(id), "state.json")}: invalid state file: ${parsed.error.message}`);
    return parsed.data;
  }

  save(state: ContainerState): void {
    const path = join(this.dir(state.id), "state.json");
    const tmp = path + ".tmp";
    writeFileSync(tmp, JSON.stringify(state), { mode: 0o600 });
    renameSync(tmp, path);
  }

  remove(id: string): void {
    rmSync(this.dir(id), { recursive: true, force: true });
  }

  list(): string[] {
    try {
      return readdirSync(this.root).filter((n) => {
        try {
          return ID_RE.test(n) && statSync(join(this.root, n)).isDirectory();
        } catch {
          return false;
        }
      });
    } catch {
      return [];
    }
  }
}

function validateIdForLookup(id: string): void {
  // An id that could never have been created cannot exist (and must not escape --root).
  if (!ID_RE.test(id) || id === "." || id === "..") throw new Error("container does not exist");
}

/** Start time (clock ticks since boot) of a live process, or null if it is gone or a zombie. */
export function processStartTime(pid: number): number | null {
  if (pid <= 0) return null;
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return null;
  }
  // The command name may hold spaces and parentheses: fields start after the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const state = fields[0];
  if (state === "Z" || state === "X" || state === "x") return null;
  return Number(fields[19]);
}

/** runc's status rules: a dead (or reused, or zombie) pid is stopped; a frozen cgroup is paused;
 * an init still waiting at exec.fifo is created; otherwise running. */
export function statusOf(state: ContainerState | null, fifoExists: boolean, frozen: () => boolean): Status {
  if (!state || state.pid === 0) return "stopped";
  const start = processStartTime(state.pid);
  if (start === null || start !== state.pidStartTime) return "stopped";
  if (frozen()) return "paused";
  return fifoExists ? "created" : "running";
}

export function nowRfc3339Nano(): string {
  // runc prints nanoseconds; JS has milliseconds, padded so parsers expecting 9 digits are happy.
  const d = new Date();
  const ns = String(process.hrtime.bigint() % 1_000_000n).padStart(6, "0");
  return d.toISOString().replace(/\.(\d{3})Z$/, (_m, ms) => `.${ms}${ns}Z`);
}
