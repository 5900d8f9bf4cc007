// The runtime options containerd passes a runc-like shim (containerd.runc.v1.Options, from the
// runtime's config), kept in the bundle so that `delete` after a dead shim finds the same root.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** containerd.runc.v1.Options: the fields tsrunc's shim uses. */
export interface RuntimeOptions {
  root?: string;
  systemd_cgroup?: boolean;
  no_pivot_root?: boolean;
  no_new_keyring?: boolean;
}

/** The runtime's state root: the options' root, else /run/containerd/tsrunc/<namespace> (runc's
 * shim uses /run/containerd/runc/<namespace>). */
export function runtimeRoot(namespace: string, opts: RuntimeOptions): string {
  return opts.root ? join(opts.root, namespace) : join("/run/containerd/tsrunc", namespace);
}

export function saveOptions(bundle: string, opts: RuntimeOptions): void {
  writeFileSync(join(bundle, "options.json"), JSON.stringify(opts), { mode: 0o600 });
}

export function savedOptions(bundle: string): RuntimeOptions {
  try {
    const v = JSON.parse(readFileSync(join(bundle, "options.json"), "utf8")) as RuntimeOptions;
    return typeof v === "object" && v !== null ? v : {};
  } catch {
    return {};
  }
}
