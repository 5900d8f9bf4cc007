import { readFileSync, statSync } from "node:fs";
import type { CommandContext } from "../context.ts";
import { runtimeFor } from "./runtime.ts";
import { writeOut } from "../out.ts";

/** Go's tabwriter as runc sets it up: min width 12, padding 3. */
function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(12, ...rows.map((r) => r[c]!.length + 3)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join("")).join("\n") + "\n";
}

/** The user owning the state directory, by name as runc shows it (#uid when it has none). */
function ownerOf(dir: string): string {
  let uid: number;
  try {
    uid = statSync(dir).uid;
  } catch {
    return "";
  }
  try {
    for (const line of readFileSync("/etc/passwd", "utf8").split("\n")) {
      const f = line.split(":");
      if (f[2] === String(uid)) return f[0]!;
    }
  } catch {}
  return `#${uid}`;
}

export function run(ctx: CommandContext): number {
  const rt = runtimeFor(ctx);
  const states = rt.list();
  if (ctx.flags.quiet) {
    for (const s of states) writeOut(s.id + "\n");
    return 0;
  }
  const format = ctx.flags.format as string;
  if (format === "json") {
    const out = states.map((s) => ({ ...s, owner: ownerOf(rt.store.dir(s.id)) }));
    writeOut(out.length ? JSON.stringify(out) + "\n" : "null\n");
    return 0;
  }
  if (format !== "table") throw new Error(`invalid format option`);
  const rows = [["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]];
  for (const s of states) rows.push([s.id, String(s.pid), s.status, s.bundle, s.created, ownerOf(rt.store.dir(s.id))]);
  writeOut(table(rows));
  return 0;
}
