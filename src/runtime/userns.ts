// Where the runtime stands: the initial user namespace or another one (rootless podman runs the
// runtime as root in a user namespace of its own), and what runc decides from it.
import { readFileSync } from "node:fs";

/** Whether this process runs in a user namespace other than the initial one. */
export function inUserNamespace(uidMap = "/proc/self/uid_map"): boolean {
  try {
    return !/^\s*0\s+0\s+4294967295\s*$/.test(readFileSync(uidMap, "utf8"));
  } catch {
    return false;
  }
}

/** runc's shouldHonorXDGRuntimeDir: state (and here the addon) go under $XDG_RUNTIME_DIR for an
 * unprivileged user, and for root in a user namespace unless $USER says root; the real root keeps
 * /run whatever $XDG_RUNTIME_DIR is (/run/user/0). */
export function honorXdgRuntimeDir(env: NodeJS.ProcessEnv = process.env, euid = process.geteuid?.() ?? 0, userns = inUserNamespace): boolean {
  if (!env.XDG_RUNTIME_DIR) return false;
  if (euid !== 0) return true;
  if (!userns()) return false;
  return env.USER !== "root";
}

/** runc's default --root: /run/<name>, or $XDG_RUNTIME_DIR/<name> (honorXdgRuntimeDir). */
export function defaultStateRoot(name: string, env: NodeJS.ProcessEnv = process.env, euid = process.geteuid?.() ?? 0, userns = inUserNamespace): string {
  return honorXdgRuntimeDir(env, euid, userns) ? `${env.XDG_RUNTIME_DIR}/${name}` : `/run/${name}`;
}

/** /proc/<pid>/setgroups says "deny": setgroups(2) is refused in that user namespace (rootless
 * podman's, without newgidmap), and runc's init then leaves the groups alone. */
export function setgroupsDenied(pid: number | "self" = "self"): boolean {
  try {
    return readFileSync(`/proc/${pid}/setgroups`, "utf8").trim() === "deny";
  } catch {
    return false;
  }
}
