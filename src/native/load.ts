// Finds and dlopens the native addon.
//
// From source (vitest under node, `bun src/...`): native/tsrunc.node in the repository.
//
// In a compiled binary (`bun build --compile`): the addon is embedded as a file asset (see
// embedded.ts) and readable at a /$bunfs/... path, but it cannot be dlopen'd from there. Bun's own
// answer for a statically imported `.node` is to write it to $TMPDIR/.bun-<uid>-<hash>.node and
// reuse that file on later runs; /tmp is world-writable, so a root runtime must not. Instead the
// addon is copied into a directory only the current user can write, named by a content hash
// computed at build time (scripts/build-native.sh writes generated/addon-hash.ts), through a temp
// file + rename, and both directory and file are checked (lstat: no symlink, owned by the euid, no
// group/other write bits; ancestors owned by root or the euid and not group/other writable unless
// sticky) before dlopen. Anything else is refused with a clear error.
//
// Start-up cost (bench/README.md): when the file is already installed, loading is the safety checks
// (a few lstat/stat calls), no hashing and no copy, and the dlopen. The embedded asset's module is
// only loaded when the file has to be written (its chunk alone costs ~0.3 ms).

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { ADDON_HASH, ADDON_SIZE } from "./generated/addon-hash.ts";
import { honorXdgRuntimeDir, inUserNamespace } from "../runtime/userns.ts";

export class UnsafeAddonPathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UnsafeAddonPathError";
  }
}

const S_ISVTX = 0o1000;

function euidNow(): number {
  return typeof process.geteuid === "function" ? process.geteuid() : 0;
}

/** Where a compiled binary installs its addon: root → /run/tsrunc-native; others, and root in a
 * user namespace as runc decides for its state (rootless podman) → $XDG_RUNTIME_DIR/tsrunc-native
 * or ~/.cache/tsrunc-native. */
export function addonCacheDir(euid: number = euidNow(), env: NodeJS.ProcessEnv = process.env): string {
  if (euid === 0 && !honorXdgRuntimeDir(env, euid)) return "/run/tsrunc-native";
  const xdg = env.XDG_RUNTIME_DIR;
  if (xdg && path.isAbsolute(xdg)) return path.join(xdg, "tsrunc-native");
  return path.join(os.homedir(), ".cache", "tsrunc-native");
}

function describeMode(mode: number): string {
  return "0" + (mode & 0o7777).toString(8);
}

/** In a user namespace (rootless podman runs the runtime as its root), the uid that files owned
 * outside its map show: /, /run/user and /home belong to the real root there. */
export function unmappedOwner(): number | undefined {
  if (!inUserNamespace()) return undefined;
  try {
    return Number(fs.readFileSync("/proc/sys/kernel/overflowuid", "utf8").trim());
  } catch {
    return 65534;
  }
}

/** Throws UnsafeAddonPathError unless `dir` is a real directory (not a symlink) owned by `euid`
 * with no group/other write bits, and every ancestor (after resolving symlinks) is owned by root,
 * `euid` or `outsideOwner` (unmappedOwner) and is not group/other-writable unless it has the sticky
 * bit (like /tmp). */
export function checkSafeDir(dir: string, euid: number = euidNow(), outsideOwner: number | undefined = unmappedOwner()): void {
  if (!path.isAbsolute(dir)) throw new UnsafeAddonPathError(`addon directory ${dir} is not an absolute path`);
  let st: fs.Stats;
  try {
    st = fs.lstatSync(dir);
  } catch (e) {
    throw new UnsafeAddonPathError(`addon directory ${dir}: ${(e as Error).message}`);
  }
  if (st.isSymbolicLink()) throw new UnsafeAddonPathError(`addon directory ${dir} is a symlink; refusing to use it`);
  if (!st.isDirectory()) throw new UnsafeAddonPathError(`addon directory ${dir} is not a directory`);
  if (st.uid !== euid) {
    throw new UnsafeAddonPathError(`addon directory ${dir} is owned by uid ${st.uid}, not ${euid}; refusing to use it`);
  }
  if (st.mode & 0o022) {
    throw new UnsafeAddonPathError(
      `addon directory ${dir} is writable by group or others (mode ${describeMode(st.mode)}); refusing to use it`,
    );
  }
  // Ancestors: whoever can rename entries in them could swap our directory for theirs.
  let parent = fs.realpathSync(path.dirname(dir));
  for (;;) {
    const p = fs.statSync(parent);
    if (p.uid !== 0 && p.uid !== euid && p.uid !== outsideOwner) {
      throw new UnsafeAddonPathError(`${parent} (an ancestor of ${dir}) is owned by uid ${p.uid}; refusing to use it`);
    }
    if (p.mode & 0o022 && !(p.mode & S_ISVTX)) {
      throw new UnsafeAddonPathError(
        `${parent} (an ancestor of ${dir}) is writable by group or others without the sticky bit (mode ${describeMode(p.mode)})`,
      );
    }
    const up = path.dirname(parent);
    if (up === parent) break;
    parent = up;
  }
}

/** Throws UnsafeAddonPathError unless `file` is a regular file (not a symlink) owned by `euid`
 * with no group/other write bits. */
export function checkSafeFile(file: string, euid: number = euidNow()): fs.Stats {
  const st = fs.lstatSync(file);
  if (st.isSymbolicLink()) throw new UnsafeAddonPathError(`addon ${file} is a symlink; refusing to load it`);
  if (!st.isFile()) throw new UnsafeAddonPathError(`addon ${file} is not a regular file`);
  if (st.uid !== euid) throw new UnsafeAddonPathError(`addon ${file} is owned by uid ${st.uid}, not ${euid}`);
  if (st.mode & 0o022) {
    throw new UnsafeAddonPathError(`addon ${file} is writable by group or others (mode ${describeMode(st.mode)})`);
  }
  return st;
}

/** Create `dir` (mode 0700; missing parents 0700 too) if it does not exist, then checkSafeDir. */
export function ensureSafeDir(dir: string, euid: number = euidNow()): void {
  try {
    fs.lstatSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  }
  checkSafeDir(dir, euid);
}

/** Install the addon bytes as <dir>/tsrunc-<hash>.node (temp file + rename) unless a file of that
 * name and size is already there; returns its path after checking dir and file. */
export function installAddon(
  readBytes: () => Uint8Array,
  dir: string,
  hash: string,
  size: number,
  euid: number = euidNow(),
): string {
  if (!/^[0-9a-f]{8,64}$/.test(hash)) throw new Error(`bad addon hash ${JSON.stringify(hash)}`);
  ensureSafeDir(dir, euid);
  const file = path.join(dir, `tsrunc-${hash}.node`);
  let existing: fs.Stats | undefined;
  try {
    existing = checkSafeFile(file, euid);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  if (existing && existing.size === size) return file;

  const bytes = readBytes();
  if (bytes.length !== size) {
    throw new Error(`embedded addon is ${bytes.length} bytes, expected ${size}: stale generated/addon-hash.ts?`);
  }
  const tmp = path.join(dir, `.tsrunc-${hash}.${process.pid}.${Date.now()}.tmp`);
  const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o500);
  try {
    fs.writeSync(fd, bytes);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  checkSafeFile(file, euid);
  pruneOtherAddons(dir, file);
  return file;
}

/** A new build installs its copy beside those of older builds: remove those (best effort), so the
 * directory holds one addon, not one per build ever run. A process using an old copy keeps its
 * mapping; an old binary started later installs its copy again. */
function pruneOtherAddons(dir: string, keep: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (!/^tsrunc-[0-9a-f]{8,64}\.node$/.test(name) || path.join(dir, name) === keep) continue;
    try {
      fs.unlinkSync(path.join(dir, name));
    } catch {}
  }
}

/** dlopen an N-API addon and return its exports. */
export function dlopenAddon(file: string): unknown {
  const mod = { exports: {} as unknown };
  process.dlopen(mod as { exports: unknown } as NodeJS.Module, file);
  return mod.exports;
}

/** True inside a `bun build --compile` binary: its modules live under /$bunfs/. */
export function isCompiledBinary(): boolean {
  const p = (import.meta as { path?: string }).path;
  return typeof (globalThis as { Bun?: unknown }).Bun !== "undefined" && typeof p === "string" && p.startsWith("/$bunfs/");
}

/** native/tsrunc.node in the source tree (built by scripts/build-native.sh). */
export function sourceAddonPath(): string {
  return fileURLToPath(new URL("../../native/tsrunc.node", import.meta.url));
}

interface Embedded {
  ADDON_FILE: string;
}

declare const require: (id: string) => unknown;

/** Load the addon for this process (see the header comment). */
export function loadAddon(): unknown {
  if (!isCompiledBinary()) {
    const file = sourceAddonPath();
    if (!fs.existsSync(file)) {
      throw new Error(`native addon ${file} is missing: run scripts/build-native.sh`);
    }
    return dlopenAddon(file);
  }
  // A literal require() so that `bun build --compile` bundles embedded.ts and its file asset; it is
  // only reached inside a compiled binary (never under node), and only when the file is not installed.
  const readEmbedded = () => fs.readFileSync((require("./embedded.ts") as Embedded).ADDON_FILE);
  // Another build's first run may prune our copy between install and dlopen: install again.
  for (let attempt = 0; ; attempt++) {
    const file = installAddon(readEmbedded, addonCacheDir(), ADDON_HASH, ADDON_SIZE);
    try {
      return dlopenAddon(file);
    } catch (e) {
      if (attempt >= 2 || fs.existsSync(file)) throw e;
    }
  }
}
