// Errors of the cgroups library. Every message starts with "cgroup: " and names what failed: the file
// and value for a write ("cgroup: memory.limit_in_bytes: write 123: device or resource busy"), the
// controller when the host lacks one, the page size when the host has no such huge pages.

import { basename } from "node:path";

/** Linux strerror texts, lower-case as Go (and so runc) prints them. */
const STRERROR: Record<string, string> = {
  EPERM: "operation not permitted",
  ENOENT: "no such file or directory",
  ESRCH: "no such process",
  EINTR: "interrupted system call",
  EIO: "input/output error",
  ENXIO: "no such device or address",
  E2BIG: "argument list too long",
  EBADF: "bad file descriptor",
  EAGAIN: "resource temporarily unavailable",
  ENOMEM: "cannot allocate memory",
  EACCES: "permission denied",
  EBUSY: "device or resource busy",
  EEXIST: "file exists",
  EXDEV: "invalid cross-device link",
  ENODEV: "no such device",
  ENOTDIR: "not a directory",
  EISDIR: "is a directory",
  EINVAL: "invalid argument",
  EFBIG: "file too large",
  ENOSPC: "no space left on device",
  EROFS: "read-only file system",
  ERANGE: "numerical result out of range",
  ENOTEMPTY: "directory not empty",
  ENOSYS: "function not implemented",
  EOPNOTSUPP: "operation not supported",
  ENOTSUP: "operation not supported",
  ELOOP: "too many levels of symbolic links",
};

export function errnoCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

export function strerror(err: unknown): string {
  const code = errnoCode(err);
  if (code && STRERROR[code]) return STRERROR[code];
  if (code) return code;
  return err instanceof Error ? err.message : String(err);
}

export interface CgroupErrorDetails {
  /** errno name of the system call that failed (EBUSY, ENOENT …), when one did. */
  code?: string;
  /** The file or directory concerned. */
  path?: string;
  /** The controller concerned (memory, hugetlb …). */
  controller?: string;
  cause?: unknown;
}

export class CgroupError extends Error {
  readonly code?: string;
  readonly path?: string;
  readonly controller?: string;

  constructor(message: string, details: CgroupErrorDetails = {}) {
    super(message.startsWith("cgroup: ") ? message : `cgroup: ${message}`, { cause: details.cause });
    this.name = "CgroupError";
    this.code = details.code;
    this.path = details.path;
    this.controller = details.controller;
  }
}

/** `cgroup: <file>: <op> <value>: <strerror>`; <file> is the file name, the full path is err.path. */
export function fileError(op: "write" | "read", path: string, err: unknown, value?: string): CgroupError {
  if (err instanceof CgroupError) return err;
  const shown = value === undefined ? op : `${op} ${JSON.stringify(value).slice(1, -1)}`;
  return new CgroupError(`${basename(path)}: ${shown}: ${strerror(err)}`, {
    code: errnoCode(err),
    path,
    cause: err,
  });
}

/** `cgroup: <op> <dir>: <strerror>` for mkdir, rmdir and the like, where the whole path matters. */
export function dirError(op: string, path: string, err: unknown): CgroupError {
  if (err instanceof CgroupError) return err;
  return new CgroupError(`${op} ${path}: ${strerror(err)}`, { code: errnoCode(err), path, cause: err });
}

export function controllerMissing(controller: string, wantedFor: string, where?: string): CgroupError {
  const place = where ? ` in ${where}` : " on this host";
  return new CgroupError(`the ${controller} controller is not available${place} (needed for ${wantedFor})`, {
    controller,
    code: "ENOENT",
  });
}
