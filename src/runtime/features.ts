// `tsrunc features`: what this build really supports (runtime-spec features.md), nothing more.
import { SPEC_VERSION, VERSION } from "../cli/version.ts";
import { CAPABILITIES } from "../security/capabilities.ts";
import { HOOK_NAMES } from "./hooks.ts";
import { MOUNT_OPTION_NAMES } from "./mounts.ts";

export function features(): Record<string, unknown> {
  return {
    ociVersionMin: "1.0.0",
    ociVersionMax: SPEC_VERSION,
    hooks: [...HOOK_NAMES],
    mountOptions: [...MOUNT_OPTION_NAMES].sort(),
    linux: {
      namespaces: ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
      capabilities: [...CAPABILITIES],
      cgroup: { v1: true, v2: true, systemd: false, systemdUser: false },
      seccomp: { enabled: false },
      apparmor: { enabled: false },
      selinux: { enabled: false },
      mountExtensions: { idmap: { enabled: false } },
    },
    annotations: { "org.opencontainers.tsrunc.version": VERSION },
  };
}
