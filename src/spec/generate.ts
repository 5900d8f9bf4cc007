// `tsrunc spec`: the same example config runc 1.1 writes (field for field), at runtime-spec 1.3.0,
// and its rootless variant, transformed the way runc's specconv.ToRootless does it.
import { SPEC_VERSION } from "../cli/version.ts";

type Json = Record<string, any>;

const caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];

export function defaultSpec(): Json {
  return {
    ociVersion: SPEC_VERSION,
    process: {
      terminal: true,
      user: { uid: 0, gid: 0 },
      args: ["sh"],
      env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
      cwd: "/",
      capabilities: { bounding: [...caps], effective: [...caps], permitted: [...caps], ambient: [...caps] },
      rlimits: [{ type: "RLIMIT_NOFILE", hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: "rootfs", readonly: true },
    hostname: "tsrunc",
    mounts: [
      { destination: "/proc", type: "proc", source: "proc" },
      { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"] },
      {
        destination: "/dev/pts",
        type: "devpts",
        source: "devpts",
        options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
      },
      { destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
      { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
      { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
      { destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: ["nosuid", "noexec", "nodev", "relatime", "ro"] },
    ],
    linux: {
      resources: { devices: [{ allow: false, access: "rwm" }] },
      namespaces: [{ type: "pid" }, { type: "network" }, { type: "ipc" }, { type: "uts" }, { type: "mount" }],
      maskedPaths: [
        "/proc/acpi",
        "/proc/asound",
        "/proc/kcore",
        "/proc/keys",
        "/proc/latency_stats",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/proc/sched_debug",
        "/sys/firmware",
        "/proc/scsi",
      ],
      readonlyPaths: ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
    },
  };
}

/** runc's ToRootless: no network namespace (no privilege to set one up), a user namespace mapping
 * the caller to root, /sys bind-mounted (sysfs can't be mounted without a netns), no devpts gid=5
 * (group 5 is unmapped), and no device cgroup rules (no cgroup privileges). */
export function rootlessSpec(uid: number, gid: number): Json {
  const spec = defaultSpec();
  const linux = spec.linux;
  linux.namespaces = linux.namespaces.filter((n: Json) => n.type !== "network" && n.type !== "user");
  linux.namespaces.push({ type: "user" });
  linux.uidMappings = [{ containerID: 0, hostID: uid, size: 1 }];
  linux.gidMappings = [{ containerID: 0, hostID: gid, size: 1 }];
  delete linux.resources;
  spec.mounts = spec.mounts.map((m: Json) => {
    if (m.destination === "/sys")
      return { destination: "/sys", type: "none", source: "/sys", options: ["rbind", "nosuid", "noexec", "nodev", "ro"] };
    if (m.options) return { ...m, options: m.options.filter((o: string) => !o.startsWith("gid=")) };
    return m;
  });
  // Keep runc's key order: uidMappings, gidMappings, then the rest.
  spec.linux = { uidMappings: linux.uidMappings, gidMappings: linux.gidMappings, namespaces: linux.namespaces, maskedPaths: linux.maskedPaths, readonlyPaths: linux.readonlyPaths };
  return spec;
}

/** runc writes the spec with tab indentation. */
export function renderSpec(spec: Json): string {
  return JSON.stringify(spec, null, "\t");
}
