// Device rules: from the OCI config, and for cgroup v1 the smallest list of devices.allow/devices.deny
// writes that takes a cgroup from what its devices.list says to what the rules ask for (as runc's
// devices emulator does). Writing "deny everything, then allow these" instead would leave a running
// container (runc update) without /dev/null for a moment.

import { CgroupError } from "./errors.ts";
import type { DeviceRule, LinuxDeviceCgroup } from "./types.ts";

const PERMS = "rwm";

function normPerms(p: string): string {
  return [...PERMS].filter((c) => p.includes(c)).join("");
}
function union(a: string, b: string): string {
  return normPerms(a + b);
}
function difference(a: string, b: string): string {
  return [...a].filter((c) => !b.includes(c)).join("");
}
function intersection(a: string, b: string): string {
  return [...a].filter((c) => b.includes(c)).join("");
}

/** linux.resources.devices → rules, with runc's defaults (type "a", major/minor any) and checks. */
export function deviceRulesFromSpec(devices: LinuxDeviceCgroup[] | undefined): DeviceRule[] {
  return (devices ?? []).map((d, i) => {
    const type = d.type || "a";
    if (type !== "a" && type !== "b" && type !== "c") throw new CgroupError(`invalid cgroup device type ${JSON.stringify(type)}`);
    if (!d.access) throw new CgroupError(`device access at ${i} field cannot be empty`);
    if (!/^[rwm]+$/.test(d.access)) throw new CgroupError(`invalid device access ${JSON.stringify(d.access)} at ${i} field`);
    const num = (v: LinuxDeviceCgroup["major"]) => (v === undefined || v === null ? -1 : Number(v));
    return { type, major: num(d.major), minor: num(d.minor), access: normPerms(d.access), allow: d.allow };
  });
}

/** "c 1:3 rwm" as devices.allow/deny and devices.list write it. */
export function deviceRuleString(r: DeviceRule): string {
  const n = (v: number) => (v < 0 ? "*" : String(v));
  return `${r.type} ${n(r.major)}:${n(r.minor)} ${r.access}`;
}

interface Meta {
  type: "b" | "c";
  major: number;
  minor: number;
}
const key = (m: Meta) => `${m.type} ${m.major} ${m.minor}`;
function unkey(k: string): Meta {
  const [type, major, minor] = k.split(" ");
  return { type: type as "b" | "c", major: Number(major), minor: Number(minor) };
}

/** A model of a v1 devices cgroup: a default (allow or deny) and exceptions. */
export class DeviceEmulator {
  defaultAllow = false;
  rules = new Map<string, string>();

  /** The state a devices.list shows ("a *:* rwm" alone means allow-all). */
  static fromList(text: string): DeviceEmulator {
    const e = new DeviceEmulator();
    for (const line of text.split("\n")) {
      if (!line.trim()) continue;
      const f = line.trim().split(/[ :]/);
      if (f.length !== 4) throw new CgroupError(`malformed devices.list rule ${JSON.stringify(line)}`);
      const [type, major, minor, perms] = f as [string, string, string, string];
      if (type === "a") {
        e.apply({ type: "a", major: -1, minor: -1, access: "rwm", allow: true });
        continue;
      }
      if (type !== "b" && type !== "c") throw new CgroupError(`unknown device type ${JSON.stringify(type)} in devices.list`);
      const num = (s: string) => (s === "*" ? -1 : Number(s));
      if (!/^[rwm]+$/.test(perms)) throw new CgroupError(`malformed devices.list rule ${JSON.stringify(line)}`);
      e.apply({ type, major: num(major), minor: num(minor), access: perms, allow: true });
    }
    return e;
  }

  /** The state that writing `rules` in order to a fresh (deny-all) cgroup leads to. */
  static fromRules(rules: DeviceRule[]): DeviceEmulator {
    const e = new DeviceEmulator();
    for (const r of rules) e.apply(r);
    return e;
  }

  apply(rule: DeviceRule): void {
    if (rule.type === "a") {
      // Any "a" rule switches the default and drops every exception, as the kernel does.
      this.defaultAllow = rule.allow;
      this.rules = new Map();
      return;
    }
    const meta: Meta = { type: rule.type, major: rule.major, minor: rule.minor };
    // An allow on an allow-list (or a deny on a deny-list) adds an exception; otherwise removes one.
    if (rule.allow !== this.defaultAllow) this.addException(meta, rule.access);
    else this.removeException(meta, rule.access, rule.allow);
  }

  private addException(meta: Meta, perms: string): void {
    this.rules.set(key(meta), union(this.rules.get(key(meta)) ?? "", perms));
  }

  private removeException(meta: Meta, perms: string, allow: boolean): void {
    for (const partial of [
      { ...meta, major: -1 },
      { ...meta, minor: -1 },
      { ...meta, major: -1, minor: -1 },
    ]) {
      if (key(partial) === key(meta)) continue;
      const have = this.rules.get(key(partial)) ?? "";
      if (intersection(have, perms)) {
        const what = allow ? "remove 'deny' exception" : "remove 'allow' exception";
        throw new CgroupError(
          `unable to ${what}: requested rule [${deviceRuleString({ ...meta, access: perms, allow })}] not supported by devices cgroupv1 (cannot punch hole in existing wildcard rule [${deviceRuleString({ ...partial, access: have, allow: !allow })}])`,
        );
      }
    }
    const left = difference(this.rules.get(key(meta)) ?? "", perms);
    if (left) this.rules.set(key(meta), left);
    else this.rules.delete(key(meta));
  }

  /** The exceptions to the default, as rules (each with the opposite action of the default), ordered
   * by major, minor, type: what the v2 eBPF filter checks one by one. */
  exceptions(): DeviceRule[] {
    return this.ordered().map(([m, access]) => ({ ...m, access, allow: !this.defaultAllow }));
  }

  private ordered(): [Meta, string][] {
    return [...this.rules.entries()]
      .map(([k, p]) => [unkey(k), p] as [Meta, string])
      .sort(([a], [b]) => a.major - b.major || a.minor - b.minor || a.type.localeCompare(b.type));
  }

  equals(o: DeviceEmulator): boolean {
    if (this.defaultAllow !== o.defaultAllow || this.rules.size !== o.rules.size) return false;
    for (const [k, p] of this.rules) if (o.rules.get(k) !== p) return false;
    return true;
  }

  /** The writes (allow → devices.allow, deny → devices.deny) that turn this state into `target`. */
  transition(target: DeviceEmulator): DeviceRule[] {
    const out: DeviceRule[] = [];
    let old = this.rules;
    if (this.defaultAllow || this.defaultAllow !== target.defaultAllow) {
      // A deny-list can't be edited into an allow-list piecemeal: reset the default.
      out.push({ type: "a", major: -1, minor: -1, access: "rwm", allow: target.defaultAllow });
      old = new Map();
    }
    const source = new DeviceEmulator();
    source.rules = old;
    for (const [meta, oldPerms] of source.ordered()) {
      const dropped = difference(oldPerms, target.rules.get(key(meta)) ?? "");
      if (dropped) out.push({ ...meta, access: dropped, allow: target.defaultAllow });
    }
    for (const [meta, newPerms] of target.ordered()) {
      const gained = difference(newPerms, old.get(key(meta)) ?? "");
      if (gained) out.push({ ...meta, access: gained, allow: !target.defaultAllow });
    }
    return out;
  }
}
