import { userInfo } from "node:os";
import { statSync } from "node:fs";
import type { CommandContext } from "../context.ts";
import { runtimeFor } from "./runtime.ts";

/** Go's tabwriter as runc sets it up: min width 12, padding 3. */
function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(12, ...rows.map((r) => r[c]!.length + 3)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join("")).join("\n") + "\n";
}

function ownerOf(dir: string): string {
  try {
    const uid = statSync(dir).uid;
    if (uid === process.geteuid?.()) return userInfo().username;
    return `#${uid}`;
  } catch {
    return "";
  }
}

export function run(ctx: CommandContext): number {
  const rt = runtimeFor(ctx);
  const states = rt.list();
  if (ctx.flags.quiet) {
    for (const s of states) process.stdout.write(s.id + "\n");
    return 0;
  }
  const format = ctx.flags.format as string;
  if (format === "json") {
    const out = states.map((s) => ({ ...s, owner: ownerOf(rt.store.dir(s.id)) }));
    process.stdout.write(out.length ? JSON.stringify(out) + "\n" : "null\n");
    return 0;
  }
  if (format !== "table") throw new Error(`invalid format option`);
  const rows = [["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]];
  for (const s of states) rows.push([s.id, String(s.pid), s.status, s.bundle, s.created, ownerOf(rt.store.dir(s.id))]);
  process.stdout.write(table(rows));
  return 0;
}
