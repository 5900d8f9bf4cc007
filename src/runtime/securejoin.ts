// Resolve a path inside the rootfs the way the container would see it: symlinks are followed, but
// ".." and absolute links never leave the rootfs (like runc's securejoin). The plan uses the result
// to create mount targets; the init then resolves it again with openat2(RESOLVE_IN_ROOT), so a
// rootfs changed in between can still not lead a mount outside.
import { lstatSync, readlinkSync } from "node:fs";

const MAX_LINKS = 255;

/** The resolved absolute path, relative to the rootfs ("/a/b"). Missing components are kept. */
export function resolveInRoot(rootfs: string, path: string): string {
  const done: string[] = [];
  let todo = path.split("/").filter((c) => c !== "" && c !== ".");
  let links = 0;
  while (todo.length) {
    const comp = todo.shift()!;
    if (comp === "..") {
      done.pop();
      continue;
    }
    const host = rootfs + "/" + [...done, comp].join("/");
    let isLink = false;
    try {
      isLink = lstatSync(host).isSymbolicLink();
    } catch {
      // missing: the rest is created as given
      done.push(comp, ...todo.filter((c) => c !== "" && c !== "."));
      return normalize(done);
    }
    if (!isLink) {
      done.push(comp);
      continue;
    }
    if (++links > MAX_LINKS) throw new Error(`${path}: too many levels of symbolic links`);
    const target = readlinkSync(host);
    if (target.startsWith("/")) done.length = 0;
    todo = [...target.split("/").filter((c) => c !== "" && c !== "."), ...todo];
  }
  return normalize(done);
}

function normalize(parts: string[]): string {
  const out: string[] = [];
  for (const p of parts) {
    if (p === "..") out.pop();
    else if (p !== "" && p !== ".") out.push(p);
  }
  return "/" + out.join("/");
}
