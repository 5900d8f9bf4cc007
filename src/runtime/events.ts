// `events`: a container's cgroup statistics and OOM notifications, as runc 1.1 prints them: one JSON
// object per line, {"type":"stats","id":…,"data":{…}} every interval and {"type":"oom","id":…} when
// the kernel's OOM killer acts in the container's memory cgroup (or, on cgroup v1 with the OOM killer
// disabled, when the cgroup goes under OOM). OOMs are noticed by polling the cgroup's counters a few
// times a second. The stream ends as runc's does: on v1 when the cgroup is removed (the container is
// deleted), on v2 when no process is left in it.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type CgroupManager, type CgroupStats, loadCgroupManager, stringifyJSON } from "../cgroups/index.ts";
import type { Runtime } from "./container.ts";

export type ContainerEvent = { type: "stats"; id: string; data: CgroupStats } | { type: "oom"; id: string };

/** The event as runc's JSON encoder writes it, newline included. */
export function eventLine(e: ContainerEvent): string {
  const head = `{"type":${JSON.stringify(e.type)},"id":${JSON.stringify(e.id)}`;
  return e.type === "stats" ? `${head},"data":${stringifyJSON(e.data)}}\n` : `${head}}\n`;
}

/** The cgroup of a container that is not stopped (runc's error otherwise). */
function liveCgroup(rt: Runtime, id: string): CgroupManager {
  const state = rt.store.load(id);
  if (rt.statusOfState(id, state) === "stopped") throw new Error(`container with id ${id} is not running`);
  if (!state!.cgroup) throw new Error(`container with id ${id} has no cgroup`);
  return loadCgroupManager(state!.cgroup);
}

/** `events --stats`: the statistics once. */
export function containerStats(rt: Runtime, id: string): CgroupStats {
  return liveCgroup(rt, id).stats();
}

export interface WatchOptions {
  /** Between two stats events (the first comes after one interval, as with runc). */
  intervalMs: number;
  /** How often OOM counters are read (default 100 ms). */
  pollMs?: number;
  onEvent: (e: ContainerEvent) => void;
  /** A stats read that failed (runc logs it and goes on). */
  onError?: (err: Error) => void;
  /** Stops the watch early. */
  signal?: AbortSignal;
}

function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

/** "key value" file → value of key (undefined if the file or key is missing). */
function keyValue(path: string, key: string): number | undefined {
  const text = readOptional(path);
  const m = text === undefined ? null : new RegExp(`^${key} (\\d+)$`, "m").exec(text);
  return m ? Number(m[1]) : undefined;
}

/** Streams events until the container's cgroup is gone (v1) or empty (v2), or `signal` aborts. */
export async function watchEvents(rt: Runtime, id: string, o: WatchOptions): Promise<void> {
  const cg = liveCgroup(rt, id);
  const pollMs = Math.max(1, Math.min(o.pollMs ?? 100, o.intervalMs));
  const memDir = cg.kind === "v1" ? cg.paths.memory : undefined;
  const underOom = () => (memDir ? keyValue(join(memDir, "memory.oom_control"), "under_oom") === 1 : false);
  const ended = () => {
    if (!cg.exists()) return true;
    if (cg.kind !== "v2") return false;
    return keyValue(join(cg.paths[""]!, "cgroup.events"), "populated") === 0;
  };

  let kills = cg.oomKillCount();
  let wasUnderOom = underOom();
  let nextStats = Date.now() + o.intervalMs;
  while (!o.signal?.aborted) {
    await new Promise((r) => setTimeout(r, Math.max(0, Math.min(pollMs, nextStats - Date.now()))));
    if (o.signal?.aborted) return;
    const now = cg.oomKillCount();
    const under = underOom();
    if (now > kills || (under && !wasUnderOom)) o.onEvent({ type: "oom", id });
    kills = Math.max(kills, now);
    wasUnderOom = under;
    if (ended()) return;
    if (Date.now() >= nextStats) {
      nextStats += o.intervalMs;
      if (nextStats < Date.now()) nextStats = Date.now() + o.intervalMs;
      try {
        o.onEvent({ type: "stats", id, data: cg.stats() });
      } catch (err) {
        o.onError?.(err as Error);
      }
    }
  }
}

const UNIT_NS: Record<string, number> = { ns: 1, us: 1e3, "µs": 1e3, "μs": 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** Go's time.ParseDuration ("5s", "1m30s", "250ms", "1.5h", "0"), in milliseconds; undefined if
 * the text is not a duration. */
export function parseGoDuration(text: string): number | undefined {
  let s = text;
  let sign = 1;
  if (s.startsWith("-") || s.startsWith("+")) {
    if (s[0] === "-") sign = -1;
    s = s.slice(1);
  }
  if (s === "0") return 0;
  if (s === "") return undefined;
  let ns = 0;
  const re = /^(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;
  while (s !== "") {
    const m = re.exec(s);
    if (!m) return undefined;
    ns += Number(m[1]) * UNIT_NS[m[2]!]!;
    s = s.slice(m[0].length);
  }
  return (sign * ns) / 1e6;
}
