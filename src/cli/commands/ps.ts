// `tsrunc ps [--format table|json] ID [ps options]`: `ps -ef` (or `ps ARGS`) filtered to the
// container's pids, or those pids as a JSON array (containerd parses it).
import { spawnSync } from "node:child_process";
import type { CommandContext } from "../context.ts";
import { runtimeFor } from "./runtime.ts";
import { containerPids, filterPsOutput } from "../../runtime/ps.ts";
import { writeOut } from "../out.ts";

export function run(ctx: CommandContext): number {
  const [id, ...psArgs] = ctx.args as [string, ...string[]];
  const rt = runtimeFor(ctx);
  if (rt.rootless) ctx.log.warn("tsrunc ps may fail if you don't have the full access to cgroups");
  const pids = containerPids(rt, id);
  const format = ctx.flags.format;
  if (format === "json") {
    // runc encodes Go's nil slice: no processes is "null", not [].
    writeOut((pids.length ? JSON.stringify(pids) : "null") + "\n");
    return 0;
  }
  if (format !== "table") throw new Error("invalid format option");
  const r = spawnSync("ps", psArgs.length ? psArgs : ["-ef"], { encoding: "utf8", maxBuffer: 256 << 20 });
  if (r.error) throw new Error(`exec: "ps": ${r.error.message}`);
  const output = (r.stdout ?? "") + (r.stderr ?? "");
  if (r.status !== 0) throw new Error(`exit status ${r.status}: ${output}`);
  writeOut(filterPsOutput(r.stdout, pids));
  return 0;
}
