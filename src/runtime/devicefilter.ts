// The cgroup v2 device filter the runtime hands to the cgroups library: the eBPF program built in
// TypeScript (src/cgroups/devicefilter.ts), loaded and attached by the native addon.
import { CgroupError, type DeviceRule, type V2DeviceFilter, deviceFilterProgram } from "../cgroups/index.ts";
import type { Native } from "../native/types.ts";
import { inUserNamespace } from "./userns.ts";

export { inUserNamespace };

/** runc's canSkipEBPFError: a failure to load the filter is ignored in a user namespace (where
 * bpf(2) is not allowed and devices can't be made anyway), or when every rule only allows rwm, so
 * the filter would restrict nothing... as far as runc's check goes. Otherwise it is an error. */
export function canSkipFilterError(rules: DeviceRule[], userns = inUserNamespace()): boolean {
  if (userns) return true;
  return rules.every((r) => r.allow && r.access === "rwm");
}

export function nativeDeviceFilter(native: () => Native, warn: (msg: string) => void = () => {}): V2DeviceFilter {
  return {
    apply(cgroupDir: string, rules: DeviceRule[]): void {
      const program = deviceFilterProgram(rules);
      try {
        native().attachDeviceFilter(cgroupDir, program.bytes, program.license);
      } catch (err) {
        const e = err as Error & { code?: string; verifierLog?: string };
        const log = e.verifierLog ? `: ${e.verifierLog}` : "";
        const error = new CgroupError(`loading the device filter (eBPF) into ${cgroupDir}: ${e.message}${log}`, {
          code: e.code,
          path: cgroupDir,
          controller: "devices",
          cause: err,
        });
        if (!canSkipFilterError(rules)) throw error;
        warn(`${error.message} (ignored: device rules are not enforced)`);
      }
    },
  };
}
