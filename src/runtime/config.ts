// Reading a bundle's config.json: schema and semantic validation first, then the checks only the
// runtime can make (features this build does not have are refused plainly, never ignored).
import { seccompUnsupported } from "../security/seccomp.ts";
import { loadAndValidate, type ValidateOptions } from "../spec/validate.ts";
import type { Logger } from "./log.ts";

export type Spec = Record<string, any>;

export function loadBundleConfig(bundle: string, opts: Omit<ValidateOptions, "bundle"> & { log?: Logger } = {}): Spec {
  const { log, ...rest } = opts;
  const spec = loadAndValidate(bundle, { ...rest, onWarning: (w) => log?.warn(`config.json: ${w.path || "/"}: ${w.message}`) }) as Spec;
  const unsupported: string[] = [];
  unsupported.push(...seccompUnsupported(spec.linux?.seccomp));
  if (spec.linux?.intelRdt) unsupported.push("/linux/intelRdt: Intel RDT is not supported by tsrunc");
  if (unsupported.length) throw new Error(unsupported.map((u) => `config.json: ${u}`).join("\n"));
  return spec;
}
