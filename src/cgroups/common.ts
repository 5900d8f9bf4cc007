// What the v1 and v2 managers share: creating directories while remembering which ones were made,
// removing exactly those, walking pids, signalling them.

import { join, posix } from "node:path";
import { CgroupError, dirError, errnoCode, fileError } from "./errors.ts";
import { CgroupFiles, type CgroupFs, nodeCgroupFs } from "./fsops.ts";
import type { CgroupMode, CgroupState } from "./types.ts";

const sleepCell = new Int32Array(new SharedArrayBuffer(4));
/** Blocks for `ms` (the waits here are short and bounded; runc blocks the same way). */
export function sleep(ms: number): void {
  Atomics.wait(sleepCell, 0, 0, ms);
}

export interface ManagerIo {
  fs?: CgroupFs;
  /** The cgroup was made earlier (a manager loaded from state): apply() just joins. */
  existing?: boolean;
  /** Where the kernel lists huge page sizes (default /sys/kernel/mm/hugepages). */
  hugePagesDir?: string;
}

function depth(p: string): number {
  return p.split("/").filter(Boolean).length;
}

export abstract class BaseManager {
  abstract readonly kind: "v1" | "v2";
  protected readonly files: CgroupFiles;
  protected readonly fs: CgroupFs;
  protected readonly hugePagesDir: string;
  /** Directories made by this manager, in creation order. */
  protected created: string[];
  protected readonly pathMap: Record<string, string>;
  protected readonly mountpoints: Record<string, string>;
  protected isCreated: boolean;

  constructor(
    readonly mode: CgroupMode,
    readonly root: string,
    paths: Record<string, string>,
    mountpoints: Record<string, string>,
    created: string[],
    io: ManagerIo,
  ) {
    this.pathMap = { ...paths };
    this.mountpoints = { ...mountpoints };
    this.fs = io.fs ?? nodeCgroupFs;
    this.files = new CgroupFiles(this.fs);
    this.hugePagesDir = io.hugePagesDir ?? "/sys/kernel/mm/hugepages";
    this.created = [...created];
    this.isCreated = io.existing ?? false;
  }

  get paths(): Readonly<Record<string, string>> {
    return { ...this.pathMap };
  }

  toState(): CgroupState {
    return {
      version: 1,
      driver: "cgroupfs",
      kind: this.kind,
      mode: this.mode,
      root: this.root,
      paths: { ...this.pathMap },
      mountpoints: Object.fromEntries(Object.keys(this.pathMap).map((k) => [k, this.mountpoints[k]!])),
      created: [...this.created],
    };
  }

  /** mkdir -p `dir` below `top` (which must exist), recording each directory made; `each` runs
   * after each level is there. Returns the directories from the first one below `top` down to
   * `dir`, each with whether it was made now. */
  protected mkdirAll(top: string, dir: string, each?: (dir: string) => void): { dir: string; made: boolean }[] {
    const rel = posix.relative(top, dir);
    if (rel.startsWith("..") || posix.isAbsolute(rel)) {
      throw new CgroupError(`${dir} is not inside the cgroup hierarchy at ${top}`, { path: dir });
    }
    // Another runtime may remove an empty parent while we descend: start over from the top then.
    for (let attempt = 0; ; attempt++) {
      const out: { dir: string; made: boolean }[] = [];
      let cur = top;
      try {
        for (const part of rel.split("/").filter(Boolean)) {
          cur = join(cur, part);
          const made = this.files.mkdir(cur);
          if (made && !this.created.includes(cur)) this.created.push(cur);
          out.push({ dir: cur, made });
          each?.(cur);
        }
        return out;
      } catch (err) {
        if (!(err instanceof CgroupError && err.code === "ENOENT" && err.path === cur && attempt < 3)) throw err;
      }
    }
  }

  /** Writes a pid to cgroup.procs, retrying EINVAL (a process still being set up) as runc does. */
  protected writeProcs(dir: string, pid: number): void {
    for (let i = 0; ; i++) {
      try {
        this.fs.write(join(dir, "cgroup.procs"), String(pid));
        return;
      } catch (err) {
        if (errnoCode(err) === "EINVAL" && i < 4) {
          sleep(30);
          continue;
        }
        const e = fileError("write", join(dir, "cgroup.procs"), err, String(pid));
        throw new CgroupError(`${e.message} (joining ${dir})`, { code: e.code, path: e.path, cause: err });
      }
    }
  }

  /** pids in `dir` and every cgroup below it. */
  protected pidsUnder(dir: string): number[] {
    const out: number[] = [];
    const walk = (d: string) => {
      const text = this.files.readOptional(d, "cgroup.procs");
      if (text === undefined) return;
      for (const l of text.split("\n")) if (l.trim()) out.push(Number(l));
      for (const sub of this.fs.subdirs(d)) walk(join(d, sub));
    };
    walk(dir);
    return out;
  }

  protected signalPids(pids: number[], signal: NodeJS.Signals | number): void {
    for (const pid of pids) {
      try {
        process.kill(pid, signal);
      } catch (err) {
        if (errnoCode(err) !== "ESRCH") throw new CgroupError(`kill ${pid}: ${(err as Error).message}`, { cause: err });
      }
    }
  }

  abstract freeze(): void;
  abstract thaw(): void;
  abstract pids(): number[];

  /** Signal every pid, frozen meanwhile (when the freezer can be used) so that nothing forks past
   * us; a freezer that fails does not stop the signals. */
  protected signalAllFrozen(signal: NodeJS.Signals | number, canFreeze: boolean): void {
    let frozen = false;
    if (canFreeze) {
      try {
        this.freeze();
        frozen = true;
      } catch {
        /* signal anyway */
      }
    }
    try {
      this.signalPids(this.pids(), signal);
    } finally {
      if (frozen) this.thaw();
    }
  }

  /** Directories holding the container (the leaves): their sub-cgroups are the container's too. */
  protected abstract leafDirs(): string[];

  destroy(): void {
    const leaves = new Set(this.leafDirs());
    // A cgroup whose last process just exited can stay busy for a moment: retry the whole pass
    // (about 0.6 s in all, as runc's RemovePaths), leaf first each time.
    let delay = 10;
    for (let attempt = 0; ; attempt++) {
      const order = [...new Set(this.created)].sort((a, b) => depth(b) - depth(a));
      let failure: CgroupError | undefined;
      for (const dir of order) {
        let gone = false;
        try {
          gone = leaves.has(dir) ? this.removeTree(dir) : this.removeParent(dir);
        } catch (err) {
          failure ??= err instanceof CgroupError ? err : dirError("rmdir", dir, err);
        }
        if (gone) this.created = this.created.filter((d) => d !== dir);
      }
      if (!failure) return;
      if (failure.code !== "EBUSY" || attempt >= 5) throw failure;
      sleep(delay);
      delay *= 2;
    }
  }

  // rmdir comes first: the common case (an empty cgroup) then costs one system call. A cgroup with
  // sub-cgroups or processes in it is EBUSY; only then are its sub-cgroups looked at.

  /** rmdir a leaf, after its sub-cgroups (made inside the container), deepest first. */
  private removeTree(dir: string): boolean {
    if (rmdirIfIdle(this.fs, dir)) return true;
    for (const sub of this.fs.subdirs(dir)) this.removeTree(join(dir, sub));
    rmdirQuiet(this.fs, dir);
    return true;
  }

  /** rmdir a parent we made, unless it now holds someone else's cgroup: then it stays (and stays on
   * our list). */
  private removeParent(dir: string): boolean {
    if (rmdirIfIdle(this.fs, dir)) return true;
    if (this.fs.subdirs(dir).length > 0) return false;
    rmdirQuiet(this.fs, dir);
    return true;
  }
}

/** rmdir; false when the cgroup is busy (sub-cgroups or processes), true when removed or gone. */
function rmdirIfIdle(fs: CgroupFs, dir: string): boolean {
  try {
    fs.rmdir(dir);
    return true;
  } catch (err) {
    const code = errnoCode(err);
    if (code === "ENOENT") return true;
    if (code === "EBUSY" || code === "ENOTEMPTY") return false;
    throw dirError("rmdir", dir, err);
  }
}

/** rmdir that takes a directory already gone as success. */
function rmdirQuiet(fs: CgroupFs, dir: string): void {
  try {
    fs.rmdir(dir);
  } catch (err) {
    if (errnoCode(err) !== "ENOENT") throw dirError("rmdir", dir, err);
  }
}
