// `events`: runc's event stream on stdout (see src/runtime/events.ts); --stats prints one stats event.
import { containerStats, eventLine, parseGoDuration, watchEvents } from "../../runtime/events.ts";
import type { CommandContext } from "../context.ts";
import { runtimeFor } from "./runtime.ts";

export async function run(ctx: CommandContext): Promise<number> {
  const rt = runtimeFor(ctx);
  const id = ctx.args[0]!;
  const raw = String(ctx.flags.interval ?? "5s");
  const intervalMs = parseGoDuration(raw);
  if (intervalMs === undefined) throw new Error(`invalid value ${JSON.stringify(raw)} for flag --interval: parse error`);
  rt.store.load(id); // "container does not exist" first, as runc
  if (intervalMs <= 0) throw new Error("duration interval must be greater than 0");
  if (ctx.flags.stats === true) {
    process.stdout.write(eventLine({ type: "stats", id, data: containerStats(rt, id) }));
    return 0;
  }
  await watchEvents(rt, id, {
    intervalMs,
    onEvent: (e) => process.stdout.write(eventLine(e)),
    onError: (err) => ctx.log.error(err.message),
  });
  return 0;
}
