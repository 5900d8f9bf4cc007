// The only file-system access of the cgroups library. A test passes its own CgroupFs (usually this
// one with mkdir wrapped to populate control files, as the kernel would) and a temporary root.

import * as fs from "node:fs";
import { join } from "node:path";
import { dirError, errnoCode, fileError } from "./errors.ts";

export interface CgroupFs {
  /** Whole file as text. Throws the node error (with .code). */
  read(path: string): string;
  /** One open(O_WRONLY|O_TRUNC) and one write(2) of `data`: a cgroup file takes a value per write.
   * Never creates the file. Throws the node error. */
  write(path: string, data: string): void;
  /** mkdir(path, 0755); true if made, false if it existed. */
  mkdir(path: string): boolean;
  /** rmdir(path). Throws the node error (ENOENT included). */
  rmdir(path: string): void;
  exists(path: string): boolean;
  /** Names of the sub-directories of `path` ([] if it is gone). */
  subdirs(path: string): string[];
  /** statfs(2) f_type, or undefined if it cannot be had. */
  statfsType(path: string): number | undefined;
}

export const CGROUP_SUPER_MAGIC = 0x27e0eb;
export const CGROUP2_SUPER_MAGIC = 0x63677270;
export const TMPFS_MAGIC = 0x01021994;

export const nodeCgroupFs: CgroupFs = {
  read(path) {
    return fs.readFileSync(path, "utf8");
  },
  write(path, data) {
    const fd = fs.openSync(path, fs.constants.O_WRONLY | fs.constants.O_TRUNC);
    try {
      for (;;) {
        try {
          fs.writeSync(fd, data);
          return;
        } catch (err) {
          if (errnoCode(err) !== "EINTR") throw err;
        }
      }
    } finally {
      fs.closeSync(fd);
    }
  },
  mkdir(path) {
    try {
      fs.mkdirSync(path, { mode: 0o755 });
      return true;
    } catch (err) {
      if (errnoCode(err) === "EEXIST") return false;
      throw err;
    }
  },
  rmdir(path) {
    fs.rmdirSync(path);
  },
  exists(path) {
    return fs.existsSync(path);
  },
  subdirs(path) {
    try {
      return fs
        .readdirSync(path, { withFileTypes: true })
        .filter((d) => d.isDirectory())
        .map((d) => d.name);
    } catch (err) {
      if (errnoCode(err) === "ENOENT") return [];
      throw err;
    }
  },
  statfsType(path) {
    try {
      return Number(fs.statfsSync(path).type);
    } catch {
      return undefined;
    }
  },
};

/** File helpers that turn node errors into CgroupErrors naming the file. */
export class CgroupFiles {
  constructor(readonly fs: CgroupFs) {}

  read(dir: string, file: string): string {
    const p = join(dir, file);
    try {
      return this.fs.read(p);
    } catch (err) {
      throw fileError("read", p, err);
    }
  }

  /** read() that gives undefined for a file that does not exist (an optional kernel feature). */
  readOptional(dir: string, file: string): string | undefined {
    try {
      return this.fs.read(join(dir, file));
    } catch (err) {
      const code = errnoCode(err);
      if (code === "ENOENT" || code === "ENODEV" || code === "EOPNOTSUPP" || code === "ENOTSUP") return undefined;
      throw fileError("read", join(dir, file), err);
    }
  }

  write(dir: string, file: string, value: string): void {
    const p = join(dir, file);
    try {
      this.fs.write(p, value);
    } catch (err) {
      throw fileError("write", p, err, value);
    }
  }

  exists(dir: string, file: string): boolean {
    return this.fs.exists(join(dir, file));
  }

  mkdir(dir: string): boolean {
    try {
      return this.fs.mkdir(dir);
    } catch (err) {
      throw dirError("mkdir", dir, err);
    }
  }
}
