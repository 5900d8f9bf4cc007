// The systemd cgroup driver (--systemd-cgroup), as runc 1.1's: the container's cgroup is a transient
// unit (a scope, or a slice when the name ends in ".slice") that systemd creates with the init's pid
// in it. Everything on the cgroup files themselves (resources, freezer, pids, stats, kill) goes
// through the cgroupfs manager of the same directories, as runc's systemd managers call fs2/fs too:
// set() first gives systemd the unit properties the resources map to (so systemd's own view agrees
// and a daemon-reload doesn't undo them), then writes the files.

import { CgroupError } from "../errors.ts";
import type { CgroupFs } from "../fsops.ts";
import type { CgroupManager, CgroupMountLayout, CgroupState, CgroupStats, FreezerState, LinuxResources } from "../types.ts";
import type { V1Manager } from "../v1.ts";
import type { V2Manager } from "../v2.ts";
import { type UnitProperty, resourceProperties, startProperties } from "./properties.ts";
import { type SystemdBusOptions, SystemdClient } from "./systemd1.ts";

export interface SystemdUnit {
  /** "runc-<id>.scope" or "<name>.slice". */
  name: string;
  containerId: string;
  /** The slice the unit goes in ("system.slice" unless cgroupsPath names one). */
  slice: string;
  /** From the org.systemd.property.* annotations. */
  extra: UnitProperty[];
}

export interface SystemdManagerOptions {
  /** How to reach systemd; without it anything that needs systemd fails (the rest works). */
  bus?: SystemdBusOptions;
  fs: CgroupFs;
  /** Loaded from state: the unit exists already and apply() only joins. */
  existing: boolean;
  skipDevices?: boolean;
  warn?: (msg: string) => void;
}

export class SystemdManager implements CgroupManager {
  private client?: SystemdClient;
  /** Whether the unit is ours to stop: started here, or loaded from our state. */
  private owned: boolean;

  constructor(
    private readonly fsm: V1Manager | V2Manager,
    readonly unit: SystemdUnit,
    private readonly opts: SystemdManagerOptions,
  ) {
    this.owned = opts.existing;
  }

  get kind(): "v1" | "v2" {
    return this.fsm.kind;
  }

  get mode() {
    return this.fsm.mode;
  }

  get paths(): Readonly<Record<string, string>> {
    return this.fsm.paths;
  }

  private systemd(): SystemdClient {
    if (!this.opts.bus) throw new CgroupError(`no way to reach systemd was given to manage unit ${this.unit.name}`);
    // apply() keeps it for the set() that follows in create; set() and destroy() close it, so a
    // runtime that stays (run in the foreground) doesn't sit on a subscription it never reads.
    this.client ??= SystemdClient.connect(this.opts.bus);
    return this.client;
  }

  private disconnect(): void {
    this.client?.close();
    this.client = undefined;
  }

  /** Nothing to make yet: systemd creates the cgroup when the unit starts, with the pid (apply). */
  create(): void {}

  apply(pid: number): void {
    if (!this.owned) {
      try {
        this.systemd().startTransientUnit(
          this.unit.name,
          startProperties({ containerId: this.unit.containerId, unitName: this.unit.name, slice: this.unit.slice, pid, kind: this.kind, extra: this.unit.extra }),
        );
      } catch (err) {
        this.disconnect();
        throw new CgroupError(`unable to start unit ${JSON.stringify(this.unit.name)}: ${(err as Error).message.replace(/^cgroup: /, "")}`, {
          cause: err,
        });
      }
      this.owned = true;
    }
    // v2: the directory (there now) with controllers enabled above it; v1: the hierarchies systemd
    // does not manage. The pid is in the unit already; writing it again changes nothing.
    this.fsm.apply(pid);
  }

  set(r: LinuxResources): void {
    try {
      this.setUnit(r);
    } finally {
      this.disconnect();
    }
    this.fsm.set(r);
  }

  /** The unit properties the resources map to. */
  private setUnit(r: LinuxResources): void {
    const props = resourceProperties(r, this.kind, {
      systemdVersion: this.systemd().systemdVersion(),
      fs: this.opts.fs,
      skipDevices: this.opts.skipDevices,
      warn: this.opts.warn,
    });
    if (props.length) {
      // v1: systemd rewrites the devices cgroup as deny-all then allows; frozen meanwhile, the
      // container never sees the gap (runc's freezeBeforeSet).
      const freeze = this.kind === "v1" && props.some((p) => p.name === "DeviceAllow") && this.state() === "thawed";
      let frozen = false;
      if (freeze) {
        try {
          this.freeze();
          frozen = true;
        } catch (err) {
          this.opts.warn?.(`freeze container before SetUnitProperties failed: ${(err as Error).message}`);
        }
      }
      try {
        this.systemd().setUnitProperties(this.unit.name, props);
      } catch (err) {
        throw new CgroupError(`unable to set unit properties: ${(err as Error).message}`, { cause: err });
      } finally {
        if (frozen) this.thaw();
      }
    }
  }

  freeze(): void {
    this.fsm.freeze();
  }

  thaw(): void {
    this.fsm.thaw();
  }

  state(): FreezerState {
    return this.fsm.state();
  }

  pids(): number[] {
    return this.fsm.pids();
  }

  stats(): CgroupStats {
    return this.fsm.stats();
  }

  oomKillCount(): number {
    return this.fsm.oomKillCount();
  }

  killAll(signal?: NodeJS.Signals | number): void {
    this.fsm.killAll(signal);
  }

  /** StopUnit and wait; then remove what systemd leaves (sub-cgroups the container made). A unit
   * that was never started here is not ours: it may be another container's of the same name. */
  destroy(): void {
    if (!this.owned) return;
    let warning: string | undefined;
    try {
      warning = this.systemd().stopUnit(this.unit.name);
    } finally {
      this.disconnect();
    }
    if (warning) this.opts.warn?.(warning);
    this.fsm.destroy();
  }

  exists(): boolean {
    return this.fsm.exists();
  }

  mountLayout(): CgroupMountLayout {
    return this.fsm.mountLayout();
  }

  toState(): CgroupState {
    return { ...this.fsm.toState(), driver: "systemd", unit: this.unit.name };
  }
}
