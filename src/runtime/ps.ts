// `ps`: the container's processes, from its cgroup (runc's Container.Processes), and runc's way of
// showing them: ps(1)'s own table, keeping the header and the lines of those pids.
import type { Runtime } from "./container.ts";
import { loadCgroupManager, newCgroupManager } from "../cgroups/index.ts";
import type { ContainerState } from "./state.ts";

/** Every pid in the container's cgroup and below it. A stopped container whose cgroup is gone has
 * none. */
export function containerPids(rt: Runtime, id: string): number[] {
  const state = rt.store.load(id);
  if (!state) throw new Error("container does not exist");
  const stopped = rt.statusOfState(id, state) === "stopped";
  if (!state.cgroup) {
    // Rootless without a cgroup: runc lists the pids of the cgroup it could not create, and fails.
    if (stopped) return [];
    throw new Error(`unable to get all container pids: lstat ${missingCgroupDir(state)}: no such file or directory`);
  }
  const cg = loadCgroupManager(state.cgroup);
  if (stopped && !cg.exists()) return [];
  return cg.pids();
}

/** The directory runc walks for the pids of a container whose cgroup it could not create: on v2 the
 * container's would-be directory; on v1 none, as it forgets the paths it could not create and
 * walks the devices hierarchy's, "". */
function missingCgroupDir(state: ContainerState): string {
  try {
    const cg = newCgroupManager({ containerId: state.id, cgroupsPath: state.config.linux?.cgroupsPath, systemd: state.systemdCgroup });
    return cg.kind === "v2" ? (cg.paths[""] ?? "") : "";
  } catch {
    return "";
  }
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
