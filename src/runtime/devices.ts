// Devices: the nodes every container's /dev gets, and the device cgroup rules that go with them.
// runc appends its allowed-device rules after the spec's own, so a spec that denies everything
// (as `tsrunc spec` writes) still gets a working /dev.

type Spec = Record<string, any>;

/** The nodes runc creates in every /dev it sets up. */
export const DEFAULT_DEVICES = [
  { path: "/dev/null", major: 1, minor: 3 },
  { path: "/dev/zero", major: 1, minor: 5 },
  { path: "/dev/full", major: 1, minor: 7 },
  { path: "/dev/tty", major: 5, minor: 0 },
  { path: "/dev/urandom", major: 1, minor: 9 },
  { path: "/dev/random", major: 1, minor: 8 },
];

interface Rule {
  allow: boolean;
  type: string;
  major?: number;
  minor?: number;
  access: string;
}

/** runc 1.1's AllowedDevices (libcontainer/specconv), in its order: mknod of anything, the default
 * nodes, ptys, and tun/tap (/dev/console is not among them: runc 1.1 leaves it out). */
const ALLOWED_DEVICES: Rule[] = [
  { allow: true, type: "c", access: "m" },
  { allow: true, type: "b", access: "m" },
  { allow: true, type: "c", major: 1, minor: 3, access: "rwm" }, // /dev/null
  { allow: true, type: "c", major: 1, minor: 8, access: "rwm" }, // /dev/random
  { allow: true, type: "c", major: 1, minor: 7, access: "rwm" }, // /dev/full
  { allow: true, type: "c", major: 5, minor: 0, access: "rwm" }, // /dev/tty
  { allow: true, type: "c", major: 1, minor: 5, access: "rwm" }, // /dev/zero
  { allow: true, type: "c", major: 1, minor: 9, access: "rwm" }, // /dev/urandom
  { allow: true, type: "c", major: 136, access: "rwm" }, // /dev/pts/*
  { allow: true, type: "c", major: 5, minor: 2, access: "rwm" }, // /dev/ptmx
  { allow: true, type: "c", major: 10, minor: 200, access: "rwm" }, // /dev/net/tun
];

/** linux.resources as the cgroup manager should apply it: the spec's device rules, then an allow
 * rule for each linux.devices node, then runc's allowed defaults. Always with device rules, even
 * when the spec has no linux.resources: like runc, a container never gets the host's devices by
 * default (the rules start from deny-all unless the spec's own rules say otherwise). */
export function effectiveResources(spec: Spec): Spec {
  const resources = spec.linux?.resources;
  const devices: Spec[] = spec.linux?.devices ?? [];
  const rules: Rule[] = [...(resources?.devices ?? [])];
  for (const d of devices)
    if (d.type === "c" || d.type === "b" || d.type === "u")
      rules.push({ allow: true, type: d.type === "u" ? "c" : d.type, major: d.major, minor: d.minor, access: "rwm" });
  rules.push(...ALLOWED_DEVICES);
  return { ...(resources ?? {}), devices: rules };
}
