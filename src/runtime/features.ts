// `tsrunc features`: what this build really supports (runtime-spec features.md), nothing more.
import { SPEC_VERSION, VERSION } from "../cli/version.ts";
import { CAPABILITIES } from "../security/capabilities.ts";
import { SECCOMP_ACTIONS, SECCOMP_ARCHS, SECCOMP_KNOWN_FLAGS, SECCOMP_OPERATORS, SECCOMP_SUPPORTED_FLAGS } from "../security/seccomp.ts";
import { HOOK_NAMES } from "./hook-config.ts";
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
      cgroup: { v1: true, v2: true, systemd: true, systemdUser: false },
      seccomp: {
        enabled: true,
        actions: [...SECCOMP_ACTIONS],
        operators: [...SECCOMP_OPERATORS],
        archs: [...SECCOMP_ARCHS],
        knownFlags: [...SECCOMP_KNOWN_FLAGS],
        supportedFlags: [...SECCOMP_SUPPORTED_FLAGS],
      },
      apparmor: { enabled: false },
      selinux: { enabled: false },
      mountExtensions: { idmap: { enabled: false } },
    },
    annotations: { "org.opencontainers.tsrunc.version": VERSION },
  };
}
