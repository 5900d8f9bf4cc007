// What the runtime and a native init agree on besides the plan's encoding: the sync points the init
// stops at, and the order it joins namespaces in. Apart from plan.ts so that the processes that only
// drive an init (exec, hooks, start) need not load the plan builder.
import { NAMESPACE_FLAGS } from "./linux.ts";

/** Sync points the init stops at; the parent acts, then answers. */
export const SYNC_SETUP = 1; // namespaces exist: write id maps and time offsets, join cgroups
export const SYNC_READY = 2; // the rootfs is ready, before the identity switch
export const SYNC_DONE = 3; // everything checked; next: wait for `start`, then exec
export const SYNC_HOOKS = 4; // mounts done, before pivot_root: prestart, createRuntime, createContainer hooks

/** Join order: the user namespace first (it grants the rights for the rest), the mount namespace last
 * (after it, paths are the container's). */
export function rank(type: string): number {
  return type === "user" ? 0 : type === "mount" ? 2 : 1;
}

/** The namespace types a process joining the container enters: those of its config (the others
 * it shares with the host), the user namespace first and the mount namespace last, as runc. */
export function joinedNamespaces(spec: Record<string, any>): string[] {
  const types: string[] = [];
  for (const ns of (spec.linux?.namespaces ?? []) as Record<string, any>[]) {
    if (NAMESPACE_FLAGS[ns.type] === undefined) throw new Error(`linux.namespaces: unknown namespace type "${ns.type}"`);
    if (!types.includes(ns.type)) types.push(ns.type);
  }
  return types.sort((a, b) => rank(a) - rank(b));
}
