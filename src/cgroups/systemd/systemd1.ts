// systemd's Manager API (org.freedesktop.systemd1), the calls runc's systemd driver makes: start a
// transient unit and stop a unit (each waiting for its job's JobRemoved signal), reset a failed
// unit, set unit properties, read the manager's version. Connects as go-systemd does: the system
// bus first, then, as root, systemd's private socket (a peer connection: no Hello, no bus daemon).

import { CgroupError } from "../errors.ts";
import { type BusStream, DbusConnection, DbusError, DbusTimeoutError, type Message, SIGNAL, Variant } from "./dbus.ts";
import type { UnitProperty } from "./properties.ts";

export interface SystemdBusOptions {
  /** Connects a stream to a unix socket (the runtime: the addon's connectUnix with poll). */
  openUnix(path: string): BusStream;
  /** Bound of one D-Bus call (default 25 s, D-Bus's usual). */
  callTimeoutMs?: number;
  /** Bound of waiting for a unit's job (default 30 s, as runc). */
  jobTimeoutMs?: number;
  /** Default $DBUS_SYSTEM_BUS_ADDRESS, else unix:path=/run/dbus/system_bus_socket. */
  systemBusAddress?: string;
  /** Default /run/systemd/private (used by root only, when the bus can't be had). */
  privateSocket?: string;
  /** Default the effective uid. */
  uid?: number;
}

const DEST = "org.freedesktop.systemd1";
const PATH = "/org/freedesktop/systemd1";
const MANAGER = "org.freedesktop.systemd1.Manager";
const DEFAULT_BUS = "unix:path=/run/dbus/system_bus_socket";

/** The unix socket paths of a D-Bus address list ("unix:path=/x;tcp:…"); other transports skipped. */
export function unixPaths(address: string): string[] {
  const out: string[] = [];
  for (const entry of address.split(";")) {
    const colon = entry.indexOf(":");
    if (colon < 0 || entry.slice(0, colon) !== "unix") continue;
    for (const kv of entry.slice(colon + 1).split(",")) {
      const eq = kv.indexOf("=");
      if (eq > 0 && kv.slice(0, eq) === "path") out.push(decodeURIComponent(kv.slice(eq + 1)));
    }
  }
  return out;
}

export class SystemdClient {
  private version?: number;

  private constructor(
    private readonly conn: DbusConnection,
    private readonly jobTimeoutMs: number,
    /** Where we are connected, for messages. */
    readonly via: string,
  ) {}

  static connect(o: SystemdBusOptions): SystemdClient {
    const timeoutMs = o.callTimeoutMs ?? 25_000;
    const uid = o.uid ?? process.geteuid?.() ?? 0;
    const errors: string[] = [];
    const attempt = (path: string, bus: boolean): SystemdClient | undefined => {
      let stream: BusStream;
      try {
        stream = o.openUnix(path);
      } catch (err) {
        errors.push(`${path}: ${(err as Error).message}`);
        return undefined;
      }
      let conn: DbusConnection | undefined;
      try {
        conn = DbusConnection.open(stream, { uid, bus, timeoutMs }); // closes the stream if it fails
        const client = new SystemdClient(conn, o.jobTimeoutMs ?? 30_000, path);
        client.subscribe(bus);
        return client;
      } catch (err) {
        errors.push(`${path}: ${(err as Error).message}`);
        conn?.close();
        return undefined;
      }
    };
    const address = o.systemBusAddress ?? process.env.DBUS_SYSTEM_BUS_ADDRESS ?? DEFAULT_BUS;
    for (const path of unixPaths(address)) {
      const c = attempt(path, true);
      if (c) return c;
    }
    if (uid === 0) {
      const c = attempt(o.privateSocket ?? "/run/systemd/private", false);
      if (c) return c;
    }
    throw new CgroupError(`failed to connect to dbus: ${errors.join("; ") || `no unix socket in bus address ${JSON.stringify(address)}`}`);
  }

  /** Job signals reach us: a match rule on a bus (the daemon routes by them), Subscribe for systemd. */
  private subscribe(bus: boolean): void {
    if (bus) {
      this.conn.call({
        destination: "org.freedesktop.DBus",
        path: "/org/freedesktop/DBus",
        interface: "org.freedesktop.DBus",
        member: "AddMatch",
        signature: "s",
        body: [`type='signal',sender='${DEST}',path='${PATH}',interface='${MANAGER}',member='JobRemoved'`],
      });
    }
    this.manager("Subscribe");
  }

  private manager(member: string, signature?: string, body?: unknown[]): Message {
    return this.conn.call({ destination: DEST, path: PATH, interface: MANAGER, member, signature, body });
  }

  /** Waits for the JobRemoved of `job`; its result ("done", "failed", "canceled", "timeout" …). */
  private waitJob(job: string, unit: string, what: string): string {
    const m = this.conn.nextSignal(
      (s) => s.type === SIGNAL && s.interface === MANAGER && s.member === "JobRemoved" && s.body?.[1] === job,
      this.jobTimeoutMs,
      `systemd to ${what} ${unit}`,
    );
    return String(m.body?.[3] ?? "");
  }

  /** StartTransientUnit(name, "replace", props, []) and wait for its job. A unit of that name
   * that exists already may be a failed leftover: reset it and try once more (runc). */
  startTransientUnit(name: string, props: UnitProperty[]): void {
    const body = [name, "replace", props.map((p) => [p.name, p.value]), []];
    let job: string;
    try {
      job = String(this.manager("StartTransientUnit", "ssa(sv)a(sa(sv))", body).body?.[0]);
    } catch (err) {
      if (!(err instanceof DbusError && err.errorName === "org.freedesktop.systemd1.UnitExists")) throw err;
      this.resetFailedUnit(name);
      job = String(this.manager("StartTransientUnit", "ssa(sv)a(sa(sv))", body).body?.[0]);
    }
    let result: string;
    try {
      result = this.waitJob(job, name, "create");
    } catch (err) {
      if (!(err instanceof DbusTimeoutError)) throw err;
      this.resetFailedUnit(name);
      throw new CgroupError(`Timeout waiting for systemd to create ${name}`, { cause: err });
    }
    if (result !== "done") {
      this.resetFailedUnit(name);
      throw new CgroupError(`error creating systemd unit \`${name}\`: got \`${result}\``);
    }
  }

  /** StopUnit(name, "replace") and wait for its job; a unit that is not there is fine. Returns a
   * warning when the job ended other than "done". Then ResetFailedUnit, so a failed unit goes. */
  stopUnit(name: string): string | undefined {
    let warning: string | undefined;
    let job: string | undefined;
    try {
      job = String(this.manager("StopUnit", "ss", [name, "replace"]).body?.[0]);
    } catch (err) {
      // NoSuchUnit and the like: nothing to stop (runc goes on the same way).
      if (!(err instanceof DbusError)) throw err;
    }
    if (job !== undefined) {
      let result: string;
      try {
        result = this.waitJob(job, name, "remove");
      } catch (err) {
        if (!(err instanceof DbusTimeoutError)) throw err;
        throw new CgroupError(`Timed out while waiting for systemd to remove ${name}`, { cause: err });
      }
      if (result !== "done") warning = `error removing unit \`${name}\`: got \`${result}\`. Continuing...`;
    }
    this.resetFailedUnit(name);
    return warning;
  }

  /** Best effort, as runc. */
  resetFailedUnit(name: string): void {
    try {
      this.manager("ResetFailedUnit", "s", [name]);
    } catch (err) {
      if (!(err instanceof DbusError)) throw err;
    }
  }

  setUnitProperties(name: string, props: UnitProperty[]): void {
    this.manager("SetUnitProperties", "sba(sv)", [name, true, props.map((p) => [p.name, p.value])]);
  }

  /** The leading number of Manager.Version ("252.38-1~deb12u1" → 252); -1 if it can't be read. */
  systemdVersion(): number {
    if (this.version !== undefined) return this.version;
    this.version = -1;
    try {
      const m = this.conn.call({
        destination: DEST,
        path: PATH,
        interface: "org.freedesktop.DBus.Properties",
        member: "Get",
        signature: "ss",
        body: [MANAGER, "Version"],
      });
      const v = m.body?.[0];
      const text = v instanceof Variant ? String(v.value) : "";
      const n = /v?(\d+)/.exec(text);
      if (n) this.version = Number(n[1]);
    } catch (err) {
      if (!(err instanceof DbusError)) throw err;
    }
    return this.version;
  }

  close(): void {
    this.conn.close();
  }
}
