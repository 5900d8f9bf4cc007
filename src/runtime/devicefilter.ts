// The cgroup v2 device filter the runtime hands to the cgroups library: the eBPF program built in
// TypeScript (src/cgroups/devicefilter.ts), loaded and attached by the native addon.
import { CgroupError, type DeviceRule, type V2DeviceFilter, deviceFilterProgram } from "../cgroups/index.ts";
import type { Native } from "../native/types.ts";

export function nativeDeviceFilter(native: () => Native): V2DeviceFilter {
  return {
    apply(cgroupDir: string, rules: DeviceRule[]): void {
      const program = deviceFilterProgram(rules);
      try {
        native().attachDeviceFilter(cgroupDir, program.bytes, program.license);
      } catch (err) {
        const e = err as Error & { code?: string; verifierLog?: string };
        const log = e.verifierLog ? `: ${e.verifierLog}` : "";
        throw new CgroupError(`loading the device filter (eBPF) into ${cgroupDir}: ${e.message}${log}`, {
          code: e.code,
          path: cgroupDir,
          controller: "devices",
          cause: err,
        });
      }
    },
  };
}
