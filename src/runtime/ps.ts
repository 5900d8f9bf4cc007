// `ps`: the container's processes, from its cgroup (runc's Container.Processes), and runc's way of
// showing them: ps(1)'s own table, keeping the header and the lines of those pids.
import type { Runtime } from "./container.ts";
import { loadCgroupManager } from "../cgroups/index.ts";

/** Every pid in the container's cgroup and below it. A stopped container whose cgroup is gone has
 * none. */
export function containerPids(rt: Runtime, id: string): number[] {
  const state = rt.store.load(id);
  if (!state) throw new Error("container does not exist");
  if (!state.cgroup) throw new Error("the container has no cgroup of its own (rootless): its processes can't be listed");
  const cg = loadCgroupManager(state.cgroup);
  if (rt.statusOfState(id, state) === "stopped" && !cg.exists()) return [];
  return cg.pids();
}

/** The lines of ps(1) output whose PID column is one of `pids`, with the header. */
export function filterPsOutput(output: string, pids: readonly number[]): string {
  const lines = output.split("\n");
  const header = lines[0] ?? "";
  const col = header.trim().split(/\s+/).indexOf("PID");
  if (col < 0) throw new Error("couldn't find PID field in ps output");
  const want = new Set(pids);
  const out = [header];
  for (const line of lines.slice(1)) {
    if (line === "") continue;
    const field = line.trim().split(/\s+/)[col];
    const pid = Number(field);
    if (field === undefined || !/^\d+$/.test(field)) throw new Error(`unable to parse pid: ${JSON.stringify(field ?? "")}`);
    if (want.has(pid)) out.push(line);
  }
  return out.join("\n") + "\n";
}
