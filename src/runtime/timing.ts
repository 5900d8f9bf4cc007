// TSRUNC_TRACE_TIMING: phase timings of one tsrunc process on stderr, to profile the start path
// (bench/README.md). Off, a mark is one boolean test: nothing is recorded or allocated.
//
//   TSRUNC_TRACE_TIMING=1                  times from Bun's time origin (set as its VM starts)
//   TSRUNC_TRACE_TIMING=$(date +%s%N)      the caller's wall clock at exec (ns since the epoch):
//                                          adds an "exec" phase (exec → Bun's time origin)
//
// One line per phase, `tsrunc-timing <phase> <ms in it> <ms since the origin>`, then `total` and
// `peak_rss_kb` (VmHWM). A phase is named by the mark that ends it; "runtime start" ends when this
// module is evaluated, which src/cli/main.ts makes the first JS to run. What follows the last mark
// (Bun's exit) cannot be seen from inside: `bun bench/bench.ts` derives it from the wall time.
import { readFileSync, writeSync } from "node:fs";

const env = process.env.TSRUNC_TRACE_TIMING;
export const timingOn = env !== undefined && env !== "" && env !== "0";

const names: string[] = [];
const times: number[] = [];
if (timingOn) {
  names.push("runtime start");
  times.push(performance.now());
}

/** The phase that ends now is `name`. */
export function mark(name: string): void {
  if (!timingOn) return;
  names.push(name);
  times.push(performance.now());
}

/** Print the phases (once; called just before the process exits). */
export function reportTiming(): void {
  if (!timingOn || names.length === 0) return;
  let out = "";
  const execNs = env!.length > 12 ? Number(env) : NaN;
  if (Number.isFinite(execNs)) {
    out += `tsrunc-timing exec ${(performance.timeOrigin - execNs / 1e6).toFixed(3)} 0.000\n`;
  }
  let prev = 0;
  for (let i = 0; i < names.length; i++) {
    out += `tsrunc-timing ${names[i]!.replaceAll(" ", "_")} ${(times[i]! - prev).toFixed(3)} ${times[i]!.toFixed(3)}\n`;
    prev = times[i]!;
  }
  out += `tsrunc-timing total ${prev.toFixed(3)} ${prev.toFixed(3)}\n`;
  try {
    const hwm = /VmHWM:\s*(\d+)/.exec(readFileSync("/proc/self/status", "utf8"))?.[1];
    if (hwm) out += `tsrunc-timing peak_rss_kb ${hwm} 0\n`;
  } catch {}
  names.length = 0;
  try {
    writeSync(2, out);
  } catch {}
}
