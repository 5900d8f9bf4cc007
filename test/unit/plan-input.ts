// The PlanInput the plan tests build on: runc's example spec (terminal off), a rootfs that does
// not exist (nothing is read from it), a fifo to wait at, cgroup v2.
import type { PlanInput } from "../../src/runtime/plan.ts";
import { defaultSpec } from "../../src/spec/generate.ts";

export function planInput(mutate: (spec: any) => void = () => {}, extra: Partial<PlanInput> = {}): PlanInput {
  const spec = defaultSpec();
  spec.process.terminal = false;
  mutate(spec);
  return {
    spec,
    rootfs: "/nonexistent-rootfs",
    containerId: "c1",
    execFifo: { dirFd: 9, name: "exec.fifo" },
    consoleSocketFd: null,
    noPivot: false,
    preserveFds: 0,
    rootless: false,
    inUserns: false,
    setgroupsDenied: false,
    cgroupLayout: { version: 2 },
    ...extra,
  };
}
