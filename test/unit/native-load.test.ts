import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  UnsafeAddonPathError,
  addonCacheDir,
  checkSafeDir,
  checkSafeFile,
  installAddon,
  isCompiledBinary,
} from "../../src/native/load.ts";
import { inUserNamespace } from "../../src/runtime/userns.ts";

const euid = process.geteuid!();
const isRoot = euid === 0;

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tsrunc-load-"));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function dir(name: string, mode = 0o700): string {
  const d = path.join(tmp, name);
  fs.mkdirSync(d);
  fs.chmodSync(d, mode); // not subject to the umask
  return d;
}

describe("checkSafeDir", () => {
  it("accepts a private directory owned by the euid", () => {
    expect(() => checkSafeDir(dir("ok"), euid)).not.toThrow();
    expect(() => checkSafeDir(dir("ok755", 0o755), euid)).not.toThrow();
  });

  it("refuses a world-writable directory", () => {
    const d = dir("ww", 0o777);
    expect(() => checkSafeDir(d, euid)).toThrow(UnsafeAddonPathError);
    expect(() => checkSafeDir(d, euid)).toThrow(/writable by group or others \(mode 0777\)/);
  });

  it("refuses a group-writable directory", () => {
    expect(() => checkSafeDir(dir("gw", 0o770), euid)).toThrow(/writable by group or others/);
  });

  it("refuses a directory owned by someone else", () => {
    const d = dir("foreign");
    // Simulated: the same directory seen by another user ...
    expect(() => checkSafeDir(d, euid + 1)).toThrow(/owned by uid \d+, not \d+/);
    // ... and, as root, really owned by nobody.
    if (isRoot) {
      fs.chownSync(d, 65534, 65534);
      expect(() => checkSafeDir(d, 0)).toThrow(/owned by uid 65534, not 0/);
    }
  });

  it("refuses a symlink, even to a safe directory", () => {
    const real = dir("real");
    const link = path.join(tmp, "link");
    fs.symlinkSync(real, link);
    expect(() => checkSafeDir(link, euid)).toThrow(/is a symlink/);
  });

  it("refuses a directory under a world-writable parent without the sticky bit", () => {
    const parent = dir("open", 0o777);
    const d = path.join(parent, "addon");
    fs.mkdirSync(d, { mode: 0o700 });
    expect(() => checkSafeDir(d, euid)).toThrow(/ancestor .* writable by group or others without the sticky bit/);
    // With the sticky bit (like /tmp) others cannot rename our entry away.
    fs.chmodSync(parent, 0o1777);
    expect(() => checkSafeDir(d, euid)).not.toThrow();
  });

  it("takes an ancestor owned by the uid that stands, in a user namespace, for owners outside it", () => {
    if (!isRoot) return; // needs chown
    const parent = dir("outside", 0o755);
    fs.chownSync(parent, 65534, 65534);
    const d = path.join(parent, "addon");
    fs.mkdirSync(d, { mode: 0o700 });
    expect(() => checkSafeDir(d, euid, undefined)).toThrow(/ancestor of .* is owned by uid 65534/);
    // Rootless podman: the real root's /run/user shows as the overflow uid.
    expect(() => checkSafeDir(d, euid, 65534)).not.toThrow();
  });

  it("refuses a missing or relative directory", () => {
    expect(() => checkSafeDir(path.join(tmp, "missing"), euid)).toThrow(UnsafeAddonPathError);
    expect(() => checkSafeDir("relative/dir", euid)).toThrow(/not an absolute path/);
  });
});

describe("checkSafeFile", () => {
  it("refuses symlinks, foreign owners and writable files", () => {
    const f = path.join(tmp, "a.node");
    fs.writeFileSync(f, "x", { mode: 0o500 });
    expect(() => checkSafeFile(f, euid)).not.toThrow();
    expect(() => checkSafeFile(f, euid + 1)).toThrow(/owned by uid/);
    const l = path.join(tmp, "l.node");
    fs.symlinkSync(f, l);
    expect(() => checkSafeFile(l, euid)).toThrow(/is a symlink/);
    fs.chmodSync(f, 0o666);
    expect(() => checkSafeFile(f, euid)).toThrow(/writable by group or others/);
  });
});

describe("installAddon", () => {
  const bytes = new TextEncoder().encode("not really an ELF file");
  const hash = "0123456789abcdef0123456789abcdef";

  it("creates a private directory and installs the file once", () => {
    const d = path.join(tmp, "cache", "tsrunc-native");
    let reads = 0;
    const read = () => (reads++, bytes);
    const f = installAddon(read, d, hash, bytes.length, euid);
    expect(f).toBe(path.join(d, `tsrunc-${hash}.node`));
    expect(fs.readFileSync(f)).toEqual(Buffer.from(bytes));
    expect(fs.statSync(d).mode & 0o777).toBe(0o700);
    expect(fs.statSync(f).mode & 0o022).toBe(0);
    expect(fs.readdirSync(d)).toEqual([`tsrunc-${hash}.node`]); // no temp file left
    // Second run: already there, the embedded bytes are not even read.
    expect(installAddon(read, d, hash, bytes.length, euid)).toBe(f);
    expect(reads).toBe(1);
  });

  it("removes the copies older builds installed, and nothing else", () => {
    const d = dir("p");
    const old = `tsrunc-${"f".repeat(32)}.node`;
    fs.writeFileSync(path.join(d, old), "old build", { mode: 0o500 });
    fs.writeFileSync(path.join(d, "notes.txt"), "not an addon");
    const f = installAddon(() => bytes, d, hash, bytes.length, euid);
    expect(fs.readdirSync(d).sort()).toEqual([path.basename(f), "notes.txt"].sort());
  });

  it("replaces a file of the wrong size", () => {
    const d = dir("c");
    fs.writeFileSync(path.join(d, `tsrunc-${hash}.node`), "short", { mode: 0o500 });
    const f = installAddon(() => bytes, d, hash, bytes.length, euid);
    expect(fs.readFileSync(f)).toEqual(Buffer.from(bytes));
  });

  it("refuses an unsafe directory or a planted symlink", () => {
    const ww = dir("ww", 0o777);
    expect(() => installAddon(() => bytes, ww, hash, bytes.length, euid)).toThrow(UnsafeAddonPathError);
    expect(fs.readdirSync(ww)).toEqual([]);
    const d = dir("planted");
    const target = path.join(tmp, "evil.node");
    fs.writeFileSync(target, bytes);
    fs.symlinkSync(target, path.join(d, `tsrunc-${hash}.node`));
    expect(() => installAddon(() => bytes, d, hash, bytes.length, euid)).toThrow(/is a symlink/);
  });

  it("checks the embedded size and the hash format", () => {
    expect(() => installAddon(() => bytes, dir("s"), hash, bytes.length + 1, euid)).toThrow(/expected/);
    expect(() => installAddon(() => bytes, dir("h"), "../../x", bytes.length, euid)).toThrow(/bad addon hash/);
  });
});

describe("addonCacheDir", () => {
  it("uses /run for root and a per-user directory otherwise", () => {
    expect(addonCacheDir(0, {})).toBe("/run/tsrunc-native");
    // The real root keeps /run whatever $XDG_RUNTIME_DIR says (/run/user/0), as runc's state.
    if (!inUserNamespace()) expect(addonCacheDir(0, { XDG_RUNTIME_DIR: "/run/user/0" })).toBe("/run/tsrunc-native");
    expect(addonCacheDir(1000, { XDG_RUNTIME_DIR: "/run/user/1000" })).toBe("/run/user/1000/tsrunc-native");
    expect(addonCacheDir(1000, { XDG_RUNTIME_DIR: "relative" })).toBe(path.join(os.homedir(), ".cache", "tsrunc-native"));
    expect(addonCacheDir(1000, {})).toBe(path.join(os.homedir(), ".cache", "tsrunc-native"));
  });

  it("knows it is not a compiled binary under vitest", () => {
    expect(isCompiledBinary()).toBe(false);
  });
});
