// Logging with runc's contract, which containerd's shim and podman parse:
// - without --log, entries go to stderr in logrus' text form (`time="…" level=error msg="…"`), or one
//   JSON object per line with --log-format json;
// - with --log FILE, entries are appended to FILE in that format and a fatal error's message is also
//   printed plainly on stderr.
import { appendFileSync } from "node:fs";

export type Level = "debug" | "info" | "warning" | "error";

export interface Logger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export interface LogOptions {
  file?: string;
  format: "text" | "json";
  debug: boolean;
}

function timestamp(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
}

export function formatEntry(level: Level, msg: string, format: "text" | "json", time = timestamp()): string {
  if (format === "json") return JSON.stringify({ level, msg, time }) + "\n";
  return `time="${time}" level=${level} msg=${JSON.stringify(msg)}\n`;
}

export class RuncLogger implements Logger {
  constructor(readonly opts: LogOptions) {}

  private write(level: Level, msg: string): void {
    if (level === "debug" && !this.opts.debug) return;
    const line = formatEntry(level, msg, this.opts.format);
    if (this.opts.file && this.opts.file !== "/dev/stderr") {
      try {
        appendFileSync(this.opts.file, line, { mode: 0o600 });
        return;
      } catch {
        // An unwritable log file must not hide the message: fall back to stderr.
      }
    }
    process.stderr.write(line);
  }

  debug(msg: string): void {
    this.write("debug", msg);
  }
  info(msg: string): void {
    this.write("info", msg);
  }
  warn(msg: string): void {
    this.write("warning", msg);
  }
  error(msg: string): void {
    this.write("error", msg);
  }

  /** A command's fatal error: logged, and echoed plainly on stderr when the log goes elsewhere. */
  fatal(msg: string): void {
    this.error(msg);
    if (this.opts.file && this.opts.file !== "/dev/stderr") process.stderr.write(msg + "\n");
  }
}

/** A logger that drops everything: the default for library callers that pass none. */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
