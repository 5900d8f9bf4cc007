// `update`: new resource limits for a live container, as runc 1.1 does it. The request (what
// `update --resources` reads, or what the flags make) is checked first, merged into the stored config
// (state.json's config.linux.resources) and the whole merged set applied with the cgroup manager's
// set(); if the kernel refuses part of it, the old set is applied again and state.json is left as it
// was. Device rules are never touched by update (runc skips them too).
import { boolean, custom, looseObject, nullable, optional, record, refine, string, type ZodMiniType } from "zod/mini";
import { loadCgroupManager, type Int, type LinuxCPU, type LinuxMemory, type LinuxResources } from "../cgroups/index.ts";
import type { Runtime } from "./container.ts";

const INT64_MAX = (1n << 63n) - 1n;
const INT64_MIN = -(1n << 63n);
const UINT64_MAX = (1n << 64n) - 1n;


const isInt = (v: unknown): v is Int => (typeof v === "number" && Number.isInteger(v)) || typeof v === "bigint";

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "object") return "an object";
  if (typeof v === "string") return `the string ${JSON.stringify(v)}`;
  return `${typeof v} ${String(v)}`;
}

/** An integer in [min, max]; `hint` says what is allowed when it is out of range. */
const integer = (min: bigint, max: bigint, hint: string) =>
  custom<Int>(isInt, { error: (iss) => `expected an integer, got ${describe(iss.input)}` })
    .check(refine((v) => BigInt(v) >= min && BigInt(v) <= max, { error: (iss) => `${String(iss.input)} is out of range: ${hint}` }));

/** A limit: -1 for none, 0 for "leave as it is", or a positive value. */
const limit = integer(-1n, INT64_MAX, "must be -1 (no limit) or a non-negative number");
const unsigned = integer(0n, UINT64_MAX, "must not be negative");
const opt = <T extends ZodMiniType>(t: T) => optional(nullable(t));

/** The part of linux.resources `update` reads (runc's update.go), with types checked as runc's JSON
 * decoding checks them and negative limits (other than -1) refused. Other fields are accepted and
 * ignored with a warning. */
export const ResourcesUpdate = looseObject({
  memory: opt(
    looseObject({
      limit: opt(limit),
      reservation: opt(limit),
      swap: opt(limit),
      kernel: opt(integer(INT64_MIN, INT64_MAX, "")),
      kernelTCP: opt(integer(INT64_MIN, INT64_MAX, "")),
      checkBeforeUpdate: opt(boolean()),
    }),
  ),
  cpu: opt(
    looseObject({
      shares: opt(unsigned),
      quota: opt(limit),
      burst: opt(unsigned),
      period: opt(unsigned),
      realtimeRuntime: opt(limit),
      realtimePeriod: opt(unsigned),
      cpus: opt(string()),
      mems: opt(string()),
      idle: opt(integer(INT64_MIN, INT64_MAX, "")),
    }),
  ),
  blockIO: opt(looseObject({ weight: opt(integer(0n, 65535n, "must be between 0 and 65535")) })),
  pids: opt(looseObject({ limit: opt(limit) })),
  unified: opt(record(string(), string())),
});

/** What an update asks for: absent (or null) fields are left as they are. */
export interface ResourcesPatch {
  memory?: Pick<LinuxMemory, "limit" | "reservation" | "swap" | "kernel" | "kernelTCP" | "checkBeforeUpdate">;
  cpu?: LinuxCPU;
  blockIO?: { weight?: Int };
  pids?: { limit?: Int };
  unified?: Record<string, string>;
}

/** Fields of linux.resources that update leaves alone (as runc does), for the warning. */
const NOT_UPDATED: Record<string, string[] | true> = {
  devices: true,
  hugepageLimits: true,
  network: true,
  rdma: true,
  blockIO: ["leafWeight", "weightDevice", "throttleReadBpsDevice", "throttleWriteBpsDevice", "throttleReadIOPSDevice", "throttleWriteIOPSDevice"],
  memory: ["swappiness", "disableOOMKiller", "useHierarchy"],
};

function stripNulls(v: unknown): unknown {
  if (v === null || typeof v !== "object" || Array.isArray(v)) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) if (x !== null && x !== undefined) out[k] = stripNulls(x);
  return out;
}

/** Checks a decoded `--resources` document. Throws an Error naming the first bad field
 * (`memory.limit: -5 is out of range: …`). `warn` hears about fields update ignores. */
export function parseResourcesUpdate(value: unknown, warn: (msg: string) => void = () => {}): ResourcesPatch {
  if (value === null) return {}; // runc: `null` decodes to no change
  if (typeof value !== "object" || Array.isArray(value)) throw new Error(`invalid resources: expected an object, got ${describe(value)}`);
  const r = ResourcesUpdate.safeParse(value);
  if (!r.success) {
    const iss = r.error.issues[0]!;
    const path = iss.path.map(String).join(".");
    let msg = iss.message;
    if (iss.code === "invalid_type") {
      let at: unknown = value;
      for (const p of iss.path) at = (at as Record<PropertyKey, unknown>)?.[p];
      msg = `expected ${iss.expected === "record" ? "an object" : iss.expected}, got ${describe(at)}`;
    }
    throw new Error(`invalid resources: ${path ? `${path}: ` : ""}${msg}`);
  }
  const doc = value as Record<string, unknown>;
  for (const [k, which] of Object.entries(NOT_UPDATED)) {
    const v = doc[k];
    if (v === undefined || v === null) continue;
    const fields = which === true ? [k] : which.filter((f) => (v as Record<string, unknown>)[f] != null).map((f) => `${k}.${f}`);
    for (const f of fields) warn(`linux.resources.${f} cannot be changed by update: ignored (as runc does)`);
  }
  return stripNulls(r.data) as ResourcesPatch;
}

/** JSON.parse that keeps integers past 2^53 exact (as bigint) where the engine gives the source
 * text (Bun does). */
export function parseJsonExact(text: string): unknown {
  return JSON.parse(text, function (this: unknown, _k: string, v: unknown, ctx?: { source?: string }) {
    if (typeof v === "number" && !Number.isSafeInteger(v) && ctx?.source && /^-?\d+$/.test(ctx.source)) return BigInt(ctx.source);
    return v;
  } as (k: string, v: unknown) => unknown);
}

const big = (v: Int | undefined | null) => (v === undefined || v === null ? undefined : BigInt(v));

/** The stored resources with the patch applied, as runc's update merges them: given fields replace
 * stored ones; a memory limit of -1 without a swap setting makes swap unlimited too; zero pids or
 * weight and empty cpus/mems mean "unchanged". */
export function mergeResources(old: LinuxResources | undefined, patch: ResourcesPatch): LinuxResources {
  const out: LinuxResources = structuredClone(old ?? {});
  const m = patch.memory;
  if (m) {
    const mem = (out.memory ??= {});
    if (m.limit !== undefined) mem.limit = m.limit;
    if (m.reservation !== undefined) mem.reservation = m.reservation;
    if (m.swap !== undefined) mem.swap = m.swap;
    else if (big(m.limit) === -1n) mem.swap = -1;
    if (m.checkBeforeUpdate !== undefined) mem.checkBeforeUpdate = m.checkBeforeUpdate;
  }
  const c = patch.cpu;
  if (c) {
    const cpu = (out.cpu ??= {});
    for (const k of ["shares", "quota", "burst", "period", "realtimeRuntime", "realtimePeriod", "idle"] as const) {
      if (c[k] !== undefined) cpu[k] = c[k];
    }
    if (c.cpus) cpu.cpus = c.cpus;
    if (c.mems) cpu.mems = c.mems;
  }
  if (patch.blockIO?.weight !== undefined && big(patch.blockIO.weight) !== 0n) {
    (out.blockIO ??= {}).weight = Number(patch.blockIO.weight);
  }
  if (patch.pids?.limit !== undefined && big(patch.pids.limit) !== 0n) out.pids = { limit: patch.pids.limit };
  if (patch.unified && Object.keys(patch.unified).length) out.unified = { ...(out.unified ?? {}), ...patch.unified };
  return out;
}

/** For state.json: JSON has no bigint (JSON.parse of the config loses the same precision). */
function jsonSafe<T>(v: T): T {
  return JSON.parse(JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? Number(x) : x)));
}

function withoutDevices(r: LinuxResources): LinuxResources {
  const { devices: _, ...rest } = r;
  return rest;
}

/** Applies `patch` to a created, running or paused container. */
export function updateContainer(rt: Runtime, id: string, patch: ResourcesPatch): void {
  if (patch.memory && (patch.memory.kernel !== undefined || patch.memory.kernelTCP !== undefined)) {
    rt.log.warn("Kernel memory settings are ignored and will be removed");
  }
  rt.store.withLock(id, () => {
    const state = rt.store.load(id);
    if (rt.statusOfState(id, state) === "stopped") throw new Error("container not running");
    if (!state!.cgroup) throw new Error("container has no cgroup to update");
    const cg = loadCgroupManager(state!.cgroup, rt.cgroupOptions);
    const config = state!.config as { linux?: { resources?: LinuxResources } };
    const old = config.linux?.resources;
    const merged = mergeResources(old, patch);
    try {
      cg.set(withoutDevices(merged));
    } catch (err) {
      // Put back what was there: the container is left as it was, and so is state.json.
      try {
        cg.set(withoutDevices(old ?? {}));
      } catch (e2) {
        rt.log.warn(`Setting back cgroup configs failed due to error: ${(e2 as Error).message}, your state.json and actual configs might be inconsistent.`);
      }
      throw err;
    }
    state!.config = { ...state!.config, linux: { ...config.linux, resources: jsonSafe(merged) } };
    rt.store.save(state!);
  });
}
