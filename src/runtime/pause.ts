// `pause` and `resume`: freeze and thaw every process of a container through its cgroup (v1 freezer,
// v2 cgroup.freeze), with runc 1.1's rules: a created or running container can be paused, only a
// paused one resumed. The status then reads "paused" because the cgroup reports itself frozen.
import { loadCgroupManager } from "../cgroups/index.ts";
import type { Runtime } from "./container.ts";

export function pauseContainer(rt: Runtime, id: string): void {
  rt.store.withLock(id, () => {
    const state = rt.store.load(id);
    const status = rt.statusOfState(id, state);
    if (status !== "running" && status !== "created") throw new Error("container not running");
    if (!state!.cgroup) throw new Error("cannot pause: the container has no cgroup");
    loadCgroupManager(state!.cgroup).freeze();
  });
}

export function resumeContainer(rt: Runtime, id: string): void {
  rt.store.withLock(id, () => {
    const state = rt.store.load(id);
    if (rt.statusOfState(id, state) !== "paused") throw new Error("container not paused");
    loadCgroupManager(state!.cgroup).thaw();
  });
}
