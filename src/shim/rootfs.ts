// The rootfs containerd describes as mounts (a snapshot: overlay, or a bind of a directory): the
// shim mounts them on <bundle>/rootfs before create and unmounts them after delete, as runc's does.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Native } from "../native/types.ts";
import { parseMountOptions } from "../runtime/mounts.ts";
import * as L from "../runtime/linux.ts";

export interface RootfsMount {
  type: string;
  source: string;
  target: string;
  options: string[];
}

const MNT_DETACH = 2;

export function mountRootfs(native: Native, bundle: string, mounts: readonly RootfsMount[]): string {
  const rootfs = join(bundle, "rootfs");
  if (mounts.length === 0) return rootfs;
  mkdirSync(rootfs, { recursive: true, mode: 0o711 });
  const done: string[] = [];
  try {
    for (const m of mounts) {
      const target = m.target ? join(rootfs, m.target) : rootfs;
      const o = parseMountOptions(m.options);
      const type = m.type === "bind" || m.type === "rbind" ? "none" : m.type;
      const bind = (o.flags & L.MS_BIND) !== 0;
      native.mount(m.source, target, type, bind ? o.flags & ~L.MS_RDONLY : o.flags, o.data);
      done.push(target);
      // A read-only bind is a bind first, then a remount (the kernel ignores ro on the bind itself).
      if (bind && o.flags & L.MS_RDONLY) native.mount("", target, "", o.flags | L.MS_REMOUNT, "");
      for (const p of o.propagation) native.mount("", target, "", p, "");
    }
  } catch (e) {
    for (const t of done.reverse()) unmountAll(native, t);
    throw new Error(`failed to mount rootfs component: ${(e as Error).message}`);
  }
  return rootfs;
}

/** Unmount everything on path (stacked mounts too), lazily when busy; a path that is no mount
 * point is fine. */
export function unmountAll(native: Native, path: string): void {
  for (let i = 0; i < 64; i++) {
    try {
      native.umount(path, 0);
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === "EINVAL" || code === "ENOENT") return; // not (or no longer) a mount point
      if (code === "EBUSY") {
        native.umount(path, MNT_DETACH);
        continue;
      }
      throw e;
    }
  }
}
