// Mount options as runc reads them: flags to set or clear, propagation, recursive attributes
// (mount_setattr), and the rest passed to the filesystem as data.
import * as L from "./linux.ts";

export interface ParsedMountOptions {
  /** MS_* flags for mount(2). */
  flags: number;
  /** Propagation changes applied after the mount, in order (MS_SHARED|MS_REC, …). */
  propagation: number[];
  /** mount_setattr(AT_RECURSIVE) attributes from rro, rnosuid, … */
  recAttrSet: number;
  recAttrClr: number;
  /** Filesystem-specific options, comma-joined. */
  data: string;
  idmap: boolean;
}

const SET: Record<string, number> = {
  bind: L.MS_BIND,
  dirsync: L.MS_DIRSYNC,
  iversion: L.MS_I_VERSION,
  lazytime: L.MS_LAZYTIME,
  mand: L.MS_MANDLOCK,
  noatime: L.MS_NOATIME,
  nodev: L.MS_NODEV,
  nodiratime: L.MS_NODIRATIME,
  noexec: L.MS_NOEXEC,
  nosuid: L.MS_NOSUID,
  nosymfollow: L.MS_NOSYMFOLLOW,
  rbind: L.MS_BIND | L.MS_REC,
  relatime: L.MS_RELATIME,
  remount: L.MS_REMOUNT,
  ro: L.MS_RDONLY,
  silent: L.MS_SILENT,
  strictatime: L.MS_STRICTATIME,
  sync: L.MS_SYNCHRONOUS,
};

const CLEAR: Record<string, number> = {
  async: L.MS_SYNCHRONOUS,
  atime: L.MS_NOATIME,
  defaults: 0,
  dev: L.MS_NODEV,
  diratime: L.MS_NODIRATIME,
  exec: L.MS_NOEXEC,
  loud: L.MS_SILENT,
  noiversion: L.MS_I_VERSION,
  nolazytime: L.MS_LAZYTIME,
  nomand: L.MS_MANDLOCK,
  norelatime: L.MS_RELATIME,
  nostrictatime: L.MS_STRICTATIME,
  rw: L.MS_RDONLY,
  suid: L.MS_NOSUID,
  symfollow: L.MS_NOSYMFOLLOW,
};

const PROPAGATION: Record<string, number> = {
  private: L.MS_PRIVATE,
  rprivate: L.MS_PRIVATE | L.MS_REC,
  shared: L.MS_SHARED,
  rshared: L.MS_SHARED | L.MS_REC,
  slave: L.MS_SLAVE,
  rslave: L.MS_SLAVE | L.MS_REC,
  unbindable: L.MS_UNBINDABLE,
  runbindable: L.MS_UNBINDABLE | L.MS_REC,
};

/** Recursive mount attributes (runtime-spec "rro" etc.): [set, clear]. */
const REC_ATTR: Record<string, [number, number]> = {
  rro: [L.MOUNT_ATTR_RDONLY, 0],
  rrw: [0, L.MOUNT_ATTR_RDONLY],
  rnosuid: [L.MOUNT_ATTR_NOSUID, 0],
  rsuid: [0, L.MOUNT_ATTR_NOSUID],
  rnodev: [L.MOUNT_ATTR_NODEV, 0],
  rdev: [0, L.MOUNT_ATTR_NODEV],
  rnoexec: [L.MOUNT_ATTR_NOEXEC, 0],
  rexec: [0, L.MOUNT_ATTR_NOEXEC],
  rnodiratime: [L.MOUNT_ATTR_NODIRATIME, 0],
  rdiratime: [0, L.MOUNT_ATTR_NODIRATIME],
  rrelatime: [L.MOUNT_ATTR_RELATIME, L.MOUNT_ATTR__ATIME],
  rnorelatime: [0, L.MOUNT_ATTR__ATIME],
  rnoatime: [L.MOUNT_ATTR_NOATIME, L.MOUNT_ATTR__ATIME],
  ratime: [0, L.MOUNT_ATTR_NOATIME],
  rstrictatime: [L.MOUNT_ATTR_STRICTATIME, L.MOUNT_ATTR__ATIME],
  rnostrictatime: [0, L.MOUNT_ATTR_STRICTATIME],
  rnosymfollow: [L.MOUNT_ATTR_NOSYMFOLLOW, 0],
  rsymfollow: [0, L.MOUNT_ATTR_NOSYMFOLLOW],
};

export function parseMountOptions(options: string[] | undefined): ParsedMountOptions {
  const out: ParsedMountOptions = { flags: 0, propagation: [], recAttrSet: 0, recAttrClr: 0, data: "", idmap: false };
  const data: string[] = [];
  for (const opt of options ?? []) {
    const set = SET[opt];
    const clear = CLEAR[opt];
    const prop = PROPAGATION[opt];
    const rec = REC_ATTR[opt];
    if (set !== undefined) out.flags |= set;
    else if (clear !== undefined) out.flags &= ~clear;
    else if (prop !== undefined) out.propagation.push(prop);
    else if (rec !== undefined) {
      out.recAttrSet = (out.recAttrSet & ~rec[1]) | rec[0];
      out.recAttrClr |= rec[1];
    } else if (opt === "idmap" || opt === "ridmap") out.idmap = true;
    // crun's extension; runc passes unknown options to the filesystem, but this one is never one.
    else if (opt === "tmpcopyup") continue;
    else data.push(opt);
  }
  out.data = data.join(",");
  return out;
}

/** MS_* flags that mount_setattr can apply to an existing (bind) mount: [attr set, attr clear]. */
export function flagsToAttrs(flags: number): { set: number; clr: number } {
  let set = 0;
  let clr = 0;
  if (flags & L.MS_RDONLY) set |= L.MOUNT_ATTR_RDONLY;
  if (flags & L.MS_NOSUID) set |= L.MOUNT_ATTR_NOSUID;
  if (flags & L.MS_NODEV) set |= L.MOUNT_ATTR_NODEV;
  if (flags & L.MS_NOEXEC) set |= L.MOUNT_ATTR_NOEXEC;
  if (flags & L.MS_NODIRATIME) set |= L.MOUNT_ATTR_NODIRATIME;
  if (flags & L.MS_NOSYMFOLLOW) set |= L.MOUNT_ATTR_NOSYMFOLLOW;
  if (flags & (L.MS_NOATIME | L.MS_STRICTATIME | L.MS_RELATIME)) {
    clr |= L.MOUNT_ATTR__ATIME;
    if (flags & L.MS_NOATIME) set |= L.MOUNT_ATTR_NOATIME;
    else if (flags & L.MS_STRICTATIME) set |= L.MOUNT_ATTR_STRICTATIME;
  }
  return { set, clr };
}

/** Every option name the parser knows, for `features`. */
export const MOUNT_OPTION_NAMES = [
  ...Object.keys(SET),
  ...Object.keys(CLEAR),
  ...Object.keys(PROPAGATION),
  ...Object.keys(REC_ATTR),
  "tmpcopyup",
];
