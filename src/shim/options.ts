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

/** runc's option names as containerd's TOML spells them, in a runtime config file. */
const FILE_KEYS = { Root: ["root", "string"], SystemdCgroup: ["systemd_cgroup", "boolean"], NoPivotRoot: ["no_pivot_root", "boolean"], NoNewKeyring: ["no_new_keyring", "boolean"] } as const;

/** A runtime config file (CRI's ConfigPath, `ctr run --runtime-config-path`): TOML with runc's
 * option names at the top level (Root, SystemdCgroup, NoPivotRoot, NoNewKeyring). */
export function optionsFromFile(path: string): RuntimeOptions {
  let parsed: unknown;
  try {
    parsed = Bun.TOML.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new Error(`runtime config ${path}: ${(e as Error).message}`);
  }
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(parsed as Record<string, unknown>)) {
    const known = FILE_KEYS[key as keyof typeof FILE_KEYS];
    if (!known) throw new Error(`runtime config ${path}: unknown option ${JSON.stringify(key)} (known: ${Object.keys(FILE_KEYS).join(", ")})`);
    if (typeof value !== known[1]) throw new Error(`runtime config ${path}: ${key} must be a ${known[1]}`);
    out[known[0]] = value;
  }
  return out as RuntimeOptions;
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
