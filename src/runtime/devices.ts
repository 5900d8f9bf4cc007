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

/** runc's AllowedDevices, after the default nodes: mknod of anything, the console and ptys. */
const ALLOWED_EXTRA: Rule[] = [
  { allow: true, type: "c", access: "m" },
  { allow: true, type: "b", access: "m" },
  ...DEFAULT_DEVICES.map((d) => ({ allow: true, type: "c", major: d.major, minor: d.minor, access: "rwm" })),
  { allow: true, type: "c", major: 5, minor: 1, access: "rwm" }, // /dev/console
  { allow: true, type: "c", major: 136, access: "rwm" }, // /dev/pts/*
  { allow: true, type: "c", major: 5, minor: 2, access: "rwm" }, // /dev/ptmx
];

/** linux.resources as the cgroup manager should apply it: the spec's device rules, then an allow
 * rule for each linux.devices node, then runc's allowed defaults. */
export function effectiveResources(spec: Spec): Spec | undefined {
  const resources = spec.linux?.resources;
  const devices: Spec[] = spec.linux?.devices ?? [];
  if (!resources && devices.length === 0) return resources;
  const rules: Rule[] = [...(resources?.devices ?? [])];
  for (const d of devices)
    if (d.type === "c" || d.type === "b" || d.type === "u")
      rules.push({ allow: true, type: d.type === "u" ? "c" : d.type, major: d.major, minor: d.minor, access: "rwm" });
  rules.push(...ALLOWED_EXTRA);
  return { ...(resources ?? {}), devices: rules };
}
