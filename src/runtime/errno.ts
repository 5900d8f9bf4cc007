// errno numbers → the messages Go (and so runc) prints for them, e.g. "no such file or directory".
import { getSystemErrorMap } from "node:util";

let map: Map<number, [string, string]> | undefined;

export function errnoName(errno: number): string {
  map ??= getSystemErrorMap();
  return map.get(-errno)?.[0] ?? `errno ${errno}`;
}

/** For an errno number, or an error thrown by node:fs / the addon. */
export function errnoMessage(e: unknown): string {
  if (typeof e === "number") {
    map ??= getSystemErrorMap();
    return map.get(-e)?.[1] ?? `errno ${e}`;
  }
  const err = e as NodeJS.ErrnoException;
  if (typeof err?.errno === "number") return errnoMessage(Math.abs(err.errno));
  return err instanceof Error ? err.message : String(e);
}
