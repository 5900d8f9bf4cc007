// Validation of an OCI bundle's config.json (runtime-spec v1.3.0, Linux).
//
// Two layers, and every problem found is reported (never only the first):
//  1. the schema (schemas/*.json), precompiled at build time by scripts/build-schema.ts into
//     ./generated/config-validator.js: types, enums, required fields, integer ranges, patterns;
//  2. semantic checks that span fields or need the filesystem, modelled on runc's
//     libcontainer/configs/validate and specconv (runc 1.1, plus the later checks for fields 1.1 did
//     not know). A semantic check runs only on parts of the document the schema accepted.
// Problems that runc only logs (relative mount destinations, unknown capabilities, ...) and unknown
// properties (which the spec says to ignore) are warnings, not errors.
//
// Start-up cost: node:fs, node:path and the generated module; no schema is compiled at run time.
import { Buffer } from "node:buffer";
import { readFileSync, realpathSync, statSync } from "node:fs";
import { isAbsolute, join, normalize, resolve } from "node:path";
import { knownProperties, validateConfig as schemaValidate } from "./generated/config-validator.js";
import type { KnownProperties, SchemaError } from "./generated/config-validator.js";
import type { LinuxIDMapping, Spec } from "./types.ts";
import { CAPABILITY_NAMES, OCI_SPEC_VERSION } from "./types.ts";

/** One problem: a JSON pointer into config.json ("" for the whole document) and what is wrong. */
export interface ValidationError {
  path: string;
  message: string;
}

export interface ValidateOptions {
  /** The bundle directory: root.path is resolved against it and must be a directory. */
  bundle: string;
  /** `create`/`run` need a process (runc: "process property must not be empty"). Default false:
   * the spec makes process optional in the document itself. */
  requireProcess?: boolean;
  /** The runtime runs without root (runc's rootlessEUID checks: a user namespace with mappings,
   * no uid=/gid= mount options for unmapped ids, no id-mapped mounts, no netDevices). */
  rootless?: boolean;
  /** The systemd cgroup driver is in use: cgroupsPath must be "slice:prefix:name". */
  systemdCgroup?: boolean;
  /** --no-pivot: a private rootfsPropagation is then refused, as runc does. */
  noPivotRoot?: boolean;
  /** Properties the schema does not know: the spec says to ignore them. Default "warn". */
  unknownProperties?: "ignore" | "warn" | "error";
  /** Receives warnings from validateConfig() (checkConfig() returns them instead). */
  onWarning?: (warning: ValidationError) => void;
}

export interface ValidationResult {
  errors: ValidationError[];
  warnings: ValidationError[];
}

export type LoadResult =
  | { ok: true; config: Spec; errors: []; warnings: ValidationError[] }
  | { ok: false; config?: unknown; errors: ValidationError[]; warnings: ValidationError[] };

/** Thrown by loadAndValidate(); its message is formatErrors(errors), one line per error. */
export class ConfigError extends Error {
  constructor(
    readonly errors: ValidationError[],
    readonly warnings: ValidationError[] = [],
  ) {
    super(formatErrors(errors));
    this.name = "ConfigError";
  }
}

// ---------------------------------------------------------------------------------------------
// Public entry points

/** Schema + semantic validation of a parsed config.json. Returns all errors ([] = valid); warnings
 * go to opts.onWarning. */
export function validateConfig(config: unknown, opts: ValidateOptions): ValidationError[] {
  const { errors, warnings } = checkConfig(config, opts);
  if (opts.onWarning) for (const w of warnings) opts.onWarning(w);
  return errors;
}

/** Like validateConfig(), returning the warnings too. */
export function checkConfig(config: unknown, opts: ValidateOptions): ValidationResult {
  const ctx = new Context();
  if (!schemaValidate(config)) {
    for (const e of convertSchemaErrors(schemaValidate.errors ?? [], config)) ctx.schemaError(e);
  }
  const mode = opts.unknownProperties ?? "warn";
  if (mode !== "ignore") {
    const report = mode === "error" ? ctx.err.bind(ctx) : ctx.warn.bind(ctx);
    findUnknownProperties(config, knownProperties, "", report);
  }
  if (isObj(config)) semanticChecks(config, ctx, opts);
  return { errors: dedupe(ctx.errors), warnings: dedupe(ctx.warnings) };
}

/** Reads <bundleDir>/config.json and validates it; returns the config, or throws a ConfigError whose
 * message lists every error (formatErrors). Warnings go to opts.onWarning. */
export function loadAndValidate(bundleDir: string, opts: Omit<ValidateOptions, "bundle"> = {}): Spec {
  const r = loadConfig(bundleDir, opts);
  if (!r.ok) throw new ConfigError(r.errors, r.warnings);
  return r.config;
}

/** loadAndValidate() without the exception: all errors and warnings in a result. Unreadable files
 * and JSON syntax errors (with line and column) are errors at path "". Warnings are also passed to
 * opts.onWarning. */
export function loadConfig(bundleDir: string, opts: Omit<ValidateOptions, "bundle"> = {}): LoadResult {
  const file = join(bundleDir, "config.json");
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    return { ok: false, errors: [{ path: "", message: readErrorMessage(e, file, bundleDir) }], warnings: [] };
  }
  const parsed = parseConfigJson(text);
  if (!parsed.ok) return { ok: false, errors: [parsed.error], warnings: [] };
  const { errors, warnings } = checkConfig(parsed.value, { ...opts, bundle: bundleDir });
  if (opts.onWarning) for (const w of warnings) opts.onWarning(w);
  if (errors.length > 0) return { ok: false, config: parsed.value, errors, warnings };
  return { ok: true, config: parsed.value as Spec, errors: [], warnings };
}

/** JSON.parse with a precise complaint: "invalid JSON at line L, column C: <what>". */
export function parseConfigJson(text: string): { ok: true; value: unknown } | { ok: false; error: ValidationError } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (e) {
    const found = locateJsonError(text);
    if (found) {
      const { line, column } = lineColumn(text, found.offset);
      return { ok: false, error: { path: "", message: `invalid JSON at line ${line}, column ${column}: ${found.message}` } };
    }
    return { ok: false, error: { path: "", message: `invalid JSON: ${(e as Error).message}` } };
  }
}

/** One line per error: `config.json: /linux/resources/memory/limit: must be integer (got "64m")`. */
export function formatErrors(errors: readonly ValidationError[], file = "config.json"): string {
  return errors.map((e) => (e.path ? `${file}: ${e.path}: ${e.message}` : `${file}: ${e.message}`)).join("\n");
}

// ---------------------------------------------------------------------------------------------
// Bookkeeping

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const isStr = (v: unknown): v is string => typeof v === "string";
const isNum = (v: unknown): v is number => typeof v === "number";
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** A JSON pointer built from segments (escaping "~" and "/"). */
function ptr(...segs: Array<string | number>): string {
  return segs.map((s) => "/" + String(s).replace(/~/g, "~0").replace(/\//g, "~1")).join("");
}

function valueAt(doc: unknown, pointer: string): unknown {
  if (pointer === "") return doc;
  let v: unknown = doc;
  for (const raw of pointer.slice(1).split("/")) {
    const key = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (Array.isArray(v)) v = v[Number(key)];
    else if (isObj(v)) v = v[key];
    else return undefined;
  }
  return v;
}

class Context {
  errors: ValidationError[] = [];
  warnings: ValidationError[] = [];
  private tainted: string[] = [];

  schemaError(e: ValidationError): void {
    this.errors.push(e);
    this.tainted.push(e.path);
  }
  err(path: string, message: string): void {
    this.errors.push({ path, message });
  }
  warn(path: string, message: string): void {
    this.warnings.push({ path, message });
  }
  /** True when the schema found nothing wrong at, above or below any of these paths. */
  ok(...paths: string[]): boolean {
    for (const p of paths) {
      for (const t of this.tainted) {
        if (t === p || t === "" || p.startsWith(t + "/") || t.startsWith(p + "/")) return false;
      }
    }
    return true;
  }
}

function dedupe(list: ValidationError[]): ValidationError[] {
  const seen = new Set<string>();
  return list.filter((e) => {
    const k = e.path + "\0" + e.message;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

// ---------------------------------------------------------------------------------------------
// Schema errors -> readable errors

/** Friendlier words for the schema's patterns. */
const PATTERN_HINTS: Record<string, string> = {
  "^(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)(-(0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)(\\.(0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*))*)?(\\+[0-9A-Za-z-]+(\\.[0-9A-Za-z-]+)*)?$":
    "must be a SemVer 2.0.0 version such as 1.0.2",
  "^[0-9,:/ -]*$": "must be a list of numbers and ranges such as 0-3,7",
  "^[1-9][0-9]*[KMG]B$": "must be a size such as 64KB, 2MB or 1GB",
  "^[rwm]*$": 'must be made of the letters "r", "w" and "m"',
  "^MB:[^\\n]*$": 'must start with "MB:" and be a single line',
};

function describe(v: unknown): string {
  if (v === undefined) return "nothing";
  if (v === null) return "null";
  if (typeof v === "string") return JSON.stringify(v.length > 60 ? v.slice(0, 57) + "..." : v);
  if (Array.isArray(v)) return "an array";
  if (typeof v === "object") return "an object";
  return String(v);
}

function keywordMessage(e: SchemaError, value: unknown): string {
  const p = e.params;
  switch (e.keyword) {
    case "type":
      return `must be ${String(p.type).split(",").join(" or ")} (got ${describe(value)})`;
    case "enum":
      return `must be one of ${(p.allowedValues as unknown[]).map((a) => JSON.stringify(a)).join(", ")} (got ${describe(value)})`;
    case "const":
      return `must be ${JSON.stringify(p.allowedValue)} (got ${describe(value)})`;
    case "minimum":
    case "maximum":
    case "exclusiveMinimum":
    case "exclusiveMaximum":
      return `must be ${p.comparison} ${p.limit} (got ${describe(value)})`;
    case "pattern":
      return `${PATTERN_HINTS[p.pattern] ?? `must match ${p.pattern}`} (got ${describe(value)})`;
    case "minLength":
      return p.limit === 1 ? "must not be empty" : `must be at least ${p.limit} characters long`;
    case "maxLength":
      return `must be at most ${p.limit} characters long`;
    case "minItems":
      return `must have at least ${p.limit} ${p.limit === 1 ? "entry" : "entries"}`;
    case "maxItems":
      return `must have at most ${p.limit} ${p.limit === 1 ? "entry" : "entries"}`;
    case "required":
      return "required property is missing";
    case "additionalProperties":
      return "unknown property";
    default:
      return `must satisfy "${e.keyword}"`;
  }
}

/** Turns ajv's errors into one readable error per problem: required/additionalProperties point at
 * the property concerned, the branches of anyOf/oneOf and the if/then/else wrapper are folded. */
export function convertSchemaErrors(raw: readonly SchemaError[], doc: unknown): ValidationError[] {
  const folded = new Set<SchemaError>();
  const branches = new Map<SchemaError, SchemaError[]>();
  const under = (x: SchemaError, e: SchemaError) =>
    x.instancePath === e.instancePath || x.instancePath.startsWith(e.instancePath + "/");
  for (const e of raw) {
    if (e.keyword === "anyOf" || e.keyword === "oneOf") {
      const prefix = e.schemaPath + "/";
      const kids = raw.filter((x) => x !== e && x.schemaPath.startsWith(prefix) && under(x, e));
      for (const k of kids) folded.add(k);
      branches.set(e, kids);
    }
    // The then/else errors say what is wrong; the "if" error only says that they failed.
    if (e.keyword === "if") folded.add(e);
    // An invalid key: the inner error (with propertyName) says why; the wrapper says nothing more.
    if (e.keyword === "propertyNames") folded.add(e);
  }

  // With the wrong type, what enum/pattern/range would add is noise.
  const wrongType = new Set(raw.filter((e) => e.keyword === "type" && e.propertyName === undefined).map((e) => e.instancePath));

  const out: ValidationError[] = [];
  for (const e of raw) {
    if (folded.has(e)) continue;
    if (e.keyword !== "type" && wrongType.has(e.instancePath) && e.propertyName === undefined && !branches.has(e)) continue;
    const kids = branches.get(e);
    if (kids) {
      const missing = kids.filter((k) => k.keyword === "required").map((k) => String(k.params.missingProperty));
      if (missing.length === kids.length && missing.length > 0) {
        out.push({ path: e.instancePath, message: `must have at least one of ${missing.map((m) => `"${m}"`).join(", ")}` });
      } else {
        const alts = [...new Set(kids.map((k) => keywordMessage(k, valueAt(doc, k.instancePath))))];
        out.push({ path: e.instancePath, message: `matches none of the allowed forms (${alts.join("; or ")})` });
      }
      continue;
    }
    if (e.propertyName !== undefined) {
      const msg = e.keyword === "minLength" && e.params.limit === 1 ? "must not be empty" : keywordMessage(e, e.propertyName);
      out.push({ path: e.instancePath + ptr(e.propertyName), message: `invalid key: ${msg}` });
      continue;
    }
    if (e.keyword === "required") {
      out.push({ path: e.instancePath + ptr(String(e.params.missingProperty)), message: keywordMessage(e, undefined) });
      continue;
    }
    if (e.keyword === "additionalProperties") {
      out.push({ path: e.instancePath + ptr(String(e.params.additionalProperty)), message: "unknown property" });
      continue;
    }
    out.push({ path: e.instancePath, message: keywordMessage(e, valueAt(doc, e.instancePath)) });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Unknown properties

function findUnknownProperties(
  v: unknown,
  shape: KnownProperties,
  path: string,
  report: (path: string, message: string) => void,
): void {
  if (shape === 0) return;
  if (Array.isArray(v)) {
    if (shape.i !== undefined) v.forEach((item, i) => findUnknownProperties(item, shape.i!, path + "/" + i, report));
    return;
  }
  if (!isObj(v)) return;
  for (const [key, value] of Object.entries(v)) {
    if (shape.p) {
      const sub = shape.p[key];
      if (sub === undefined) {
        const near = closest(key, Object.keys(shape.p));
        report(path + ptr(key), `unknown property "${key}" (ignored)${near ? `; did you mean "${near}"?` : ""}`);
      } else findUnknownProperties(value, sub, path + ptr(key), report);
    } else if (shape.m !== undefined) {
      findUnknownProperties(value, shape.m, path + ptr(key), report);
    }
  }
}

/** The known name a misspelt one most likely meant: same letters ignoring case, or at most two
 * edits away (for names of 4+ characters). */
function closest(name: string, known: string[]): string | undefined {
  const lower = name.toLowerCase();
  const same = known.find((k) => k.toLowerCase() === lower);
  if (same || name.length < 4) return same;
  let best: string | undefined;
  let bestDistance = 3;
  for (const k of known) {
    const d = editDistance(lower, k.toLowerCase(), bestDistance);
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return best;
}

/** Levenshtein distance, giving up (returning `cap`) once it reaches cap. */
function editDistance(a: string, b: string, cap: number): number {
  if (Math.abs(a.length - b.length) >= cap) return cap;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const v = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      cur.push(v);
      rowMin = Math.min(rowMin, v);
    }
    if (rowMin >= cap) return cap;
    prev = cur;
  }
  return Math.min(prev[b.length]!, cap);
}

// ---------------------------------------------------------------------------------------------
// Semantic checks

/** Capability names of capabilities(7) up to Linux 6.x; others are ignored with a warning (as runc). */
const KNOWN_CAPABILITIES = new Set<string>(CAPABILITY_NAMES);

/** IPC sysctls that live in the IPC namespace (runc's list); fs.mqueue.* too. */
const IPC_SYSCTLS = new Set([
  "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
  "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced",
]);

const NS_HINT = (t: string) => `add {"type": "${t}"} to /linux/namespaces`;
const hasNul = (s: unknown) => isStr(s) && s.includes("\0");
/** Kernel limit on the entries of a uid_map/gid_map (since Linux 4.15). */
const MAX_ID_MAPPINGS = 340;

interface NsEntry {
  index: number;
  path?: string;
}

function semanticChecks(c: Obj, ctx: Context, opts: ValidateOptions): void {
  const linux = isObj(c.linux) ? c.linux : {};
  const process = isObj(c.process) ? c.process : undefined;

  // --- namespaces first: many other rules depend on them.
  const ns = new Map<string, NsEntry>();
  const nsOk = ctx.ok("/linux/namespaces");
  arr(linux.namespaces).forEach((n, i) => {
    if (!isObj(n) || !isStr(n.type) || !ctx.ok(ptr("linux", "namespaces", i))) return;
    const first = ns.get(n.type);
    if (first) {
      ctx.err(ptr("linux", "namespaces", i, "type"), `duplicate namespace "${n.type}" (already at /linux/namespaces/${first.index})`);
      return;
    }
    ns.set(n.type, { index: i, path: isStr(n.path) && n.path !== "" ? n.path : undefined });
    if (isStr(n.path) && n.path !== "") {
      if (!isAbsolute(n.path)) ctx.err(ptr("linux", "namespaces", i, "path"), `must be an absolute path (got ${describe(n.path)})`);
      else if (hasNul(n.path)) ctx.err(ptr("linux", "namespaces", i, "path"), "must not contain a NUL byte");
    }
  });
  const has = (t: string) => ns.has(t);

  checkVersion(c, ctx);
  checkRoot(c, ctx, opts);
  checkProcess(c, process, ctx, opts);
  if (nsOk) checkUts(c, ctx, has);
  checkMounts(c, linux, ctx, opts, nsOk, has);
  checkHooks(c, ctx);
  if (nsOk) checkUserNamespace(linux, process, ctx, opts, ns);
  if (nsOk) checkTimeNamespace(linux, ctx, ns);
  if (nsOk) checkSysctl(linux, ctx, ns);
  checkPathLists(linux, ctx, nsOk, has);
  checkDevices(linux, ctx);
  checkNetDevices(linux, ctx, opts, nsOk, has);
  checkResources(linux, ctx);
  checkIntelRdt(linux, ctx);
  checkSeccomp(linux, ctx);
  checkMisc(c, linux, ctx, opts);
}

function checkVersion(c: Obj, ctx: Context): void {
  if (!ctx.ok("/ociVersion") || !isStr(c.ociVersion)) return;
  if (!c.ociVersion.startsWith("1.")) {
    ctx.warn("/ociVersion", `${c.ociVersion} is not a 1.x runtime-spec version; tsrunc implements ${OCI_SPEC_VERSION}`);
  }
}

function checkRoot(c: Obj, ctx: Context, opts: ValidateOptions): void {
  if (!ctx.ok("/root/path") || !isObj(c.root) || !isStr(c.root.path)) return;
  const given = c.root.path;
  if (hasNul(given)) return ctx.err("/root/path", "must not contain a NUL byte");
  const abs = isAbsolute(given) ? given : resolve(opts.bundle, given);
  let st;
  try {
    st = statSync(abs);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "does not exist" : code === "ENOTDIR" ? "is not reachable (a parent is not a directory)" : `cannot be examined (${code ?? (e as Error).message})`;
    return ctx.err("/root/path", `root filesystem ${abs} ${why}`);
  }
  if (!st.isDirectory()) return ctx.err("/root/path", `root filesystem ${abs} is not a directory`);
  // runc refuses a rootfs that is, or passes through, a symlink ("not an absolute path, or a
  // symlink"). The bundle's own location may contain symlinks; what root.path adds may not.
  try {
    const real = realpathSync(abs);
    const expected = stripSlash(isAbsolute(given) ? normalize(given) : join(realpathSync(opts.bundle), given));
    if (real !== expected) {
      ctx.err("/root/path", `root filesystem ${abs} is or goes through a symlink (it resolves to ${real}); use the real path`);
    }
  } catch {
    /* raced with a removal: the stat above has spoken */
  }
}

const stripSlash = (p: string) => (p.length > 1 && p.endsWith("/") ? p.slice(0, -1) : p);

/** Checks a cpu/node list ("0-3,7", kernel list syntax incl. "0-9:2/5"); returns a complaint or null. */
function listProblem(s: string): string | null {
  if (s.trim() === "") return null;
  for (const part of s.split(",")) {
    const t = part.trim();
    const m = /^(\d+)(?:-(\d+)(?::(\d+)\/(\d+))?)?$/.exec(t);
    if (!m) return `"${t}" is not a number or a range such as 0-3`;
    if (m[2] !== undefined && Number(m[2]) < Number(m[1])) return `range "${t}" ends before it starts`;
  }
  return null;
}

function checkEnv(list: unknown, path: string, ctx: Context): void {
  arr(list).forEach((entry, i) => {
    if (!isStr(entry) || !ctx.ok(path + "/" + i)) return;
    const eq = entry.indexOf("=");
    if (eq < 0) ctx.err(`${path}/${i}`, `must be KEY=value (no "=" in ${describe(entry)})`);
    else if (eq === 0) ctx.err(`${path}/${i}`, `variable name must not be empty (got ${describe(entry)})`);
    else if (entry.includes("\0")) ctx.err(`${path}/${i}`, "must not contain a NUL byte");
  });
}

function checkProcess(c: Obj, process: Obj | undefined, ctx: Context, opts: ValidateOptions): void {
  if (!process) {
    if (opts.requireProcess && ctx.ok("/process")) ctx.err("/process", "is required to create or run a container");
    return;
  }
  if (ctx.ok("/process/args")) {
    const args = process.args;
    if (!Array.isArray(args) || args.length === 0) {
      ctx.err("/process/args", "must contain at least one entry (the program to run)");
    } else if (args[0] === "") {
      ctx.err("/process/args/0", "must not be empty (it is the program to run)");
    }
  }
  if (ctx.ok("/process/cwd") && isStr(process.cwd)) {
    if (!isAbsolute(process.cwd)) ctx.err("/process/cwd", `must be an absolute path (got ${describe(process.cwd)})`);
    else if (hasNul(process.cwd)) ctx.err("/process/cwd", "must not contain a NUL byte");
  }
  checkEnv(process.env, "/process/env", ctx);

  // rlimits: one entry per type (spec MUST), and soft <= hard (setrlimit(2) refuses otherwise).
  const seen = new Map<string, number>();
  arr(process.rlimits).forEach((r, i) => {
    const p = ptr("process", "rlimits", i);
    if (!isObj(r) || !ctx.ok(p)) return;
    const t = String(r.type);
    const first = seen.get(t);
    if (first !== undefined) ctx.err(p + "/type", `duplicate rlimit ${t} (already at /process/rlimits/${first})`);
    else seen.set(t, i);
    if (isNum(r.soft) && isNum(r.hard) && r.soft > r.hard) {
      ctx.err(p + "/soft", `soft limit ${r.soft} is above the hard limit ${r.hard}`);
    }
  });

  if (isObj(process.capabilities) && ctx.ok("/process/capabilities")) {
    for (const [set, list] of Object.entries(process.capabilities)) {
      arr(list).forEach((cap, i) => {
        if (isStr(cap) && !KNOWN_CAPABILITIES.has(cap)) {
          ctx.warn(ptr("process", "capabilities", set, i), `unknown capability ${describe(cap)} (ignored, as runc does)`);
        }
      });
    }
  }

  // scheduler: sched_setattr(2)'s rules, as runc checks them (plus the real-time priority range).
  const s = process.scheduler;
  if (isObj(s) && ctx.ok("/process/scheduler")) {
    const policy = String(s.policy);
    const nice = isNum(s.nice) ? s.nice : 0;
    const prio = isNum(s.priority) ? s.priority : 0;
    if ((policy === "SCHED_OTHER" || policy === "SCHED_BATCH") && (nice < -20 || nice > 19)) {
      ctx.err("/process/scheduler/nice", `must be between -20 and 19 for ${policy} (got ${nice})`);
    }
    const realtime = policy === "SCHED_FIFO" || policy === "SCHED_RR";
    if (realtime && (prio < 1 || prio > 99)) {
      ctx.err("/process/scheduler/priority", `must be between 1 and 99 for ${policy} (got ${prio})`);
    } else if (!realtime && prio !== 0) {
      ctx.err("/process/scheduler/priority", `can only be set for SCHED_FIFO or SCHED_RR (policy is ${policy})`);
    }
    if (policy !== "SCHED_DEADLINE") {
      for (const f of ["runtime", "deadline", "period"]) {
        if (isNum(s[f]) && s[f] !== 0) ctx.err(`/process/scheduler/${f}`, `can only be set for SCHED_DEADLINE (policy is ${policy})`);
      }
    } else {
      const rt = isNum(s.runtime) ? s.runtime : 0;
      const dl = isNum(s.deadline) ? s.deadline : 0;
      const pd = isNum(s.period) ? s.period : 0;
      if (rt > dl) ctx.err("/process/scheduler/runtime", `must not exceed deadline (${rt} > ${dl})`);
      if (pd !== 0 && dl > pd) ctx.err("/process/scheduler/deadline", `must not exceed period (${dl} > ${pd})`);
    }
  }

  if (isObj(process.execCPUAffinity) && ctx.ok("/process/execCPUAffinity")) {
    for (const k of ["initial", "final"]) {
      const v = process.execCPUAffinity[k];
      const problem = isStr(v) ? listProblem(v) : null;
      if (problem) ctx.err(`/process/execCPUAffinity/${k}`, problem);
    }
  }
}

function checkUts(c: Obj, ctx: Context, has: (t: string) => boolean): void {
  for (const field of ["hostname", "domainname"] as const) {
    const v = c[field];
    if (!isStr(v) || v === "" || !ctx.ok("/" + field)) continue;
    if (!has("uts")) ctx.err("/" + field, `setting the ${field} needs a UTS namespace (${NS_HINT("uts")})`);
    // __NEW_UTS_LEN: sethostname(2)/setdomainname(2) refuse longer names.
    if (Buffer.byteLength(v) > 64) ctx.err("/" + field, `must be at most 64 bytes long (got ${Buffer.byteLength(v)})`);
  }
}

/** size >= 1, no 32-bit overflow, no overlapping ranges (the kernel refuses such maps). Returns
 * false if anything is wrong (or was already wrong for the schema), so that the callers do not go
 * on to complain about ids the broken mapping was meant to map. */
function checkMappings(list: unknown, path: string, ctx: Context): boolean {
  const maps = arr(list).filter(isObj) as unknown as LinuxIDMapping[];
  if (!ctx.ok(path) || maps.length !== arr(list).length) return false;
  const before = ctx.errors.length;
  if (maps.length > MAX_ID_MAPPINGS) ctx.err(path, `has ${maps.length} entries; the kernel takes at most ${MAX_ID_MAPPINGS}`);
  const LIMIT = 2 ** 32;
  maps.forEach((m, i) => {
    if (m.size < 1) return ctx.err(`${path}/${i}/size`, "must be at least 1");
    if (m.containerID + m.size > LIMIT) ctx.err(`${path}/${i}`, "containerID + size goes beyond 2^32");
    if (m.hostID + m.size > LIMIT) ctx.err(`${path}/${i}`, "hostID + size goes beyond 2^32");
    for (let j = 0; j < i; j++) {
      const o = maps[j]!;
      if (o.size < 1) continue;
      if (m.containerID < o.containerID + o.size && o.containerID < m.containerID + m.size) {
        ctx.err(`${path}/${i}`, `container ids overlap those of ${path}/${j}`);
      }
      if (m.hostID < o.hostID + o.size && o.hostID < m.hostID + m.size) {
        ctx.err(`${path}/${i}`, `host ids overlap those of ${path}/${j}`);
      }
    }
  });
  return ctx.errors.length === before;
}

const mapped = (maps: unknown, id: number) =>
  arr(maps).some((m) => isObj(m) && isNum(m.containerID) && isNum(m.size) && id >= m.containerID && id < m.containerID + m.size);

function checkMounts(
  c: Obj,
  linux: Obj,
  ctx: Context,
  opts: ValidateOptions,
  nsOk: boolean,
  has: (t: string) => boolean,
): void {
  arr(c.mounts).forEach((m, i) => {
    const p = ptr("mounts", i);
    if (!isObj(m) || !ctx.ok(p)) return;
    const dest = m.destination as string;
    if (dest === "") ctx.err(p + "/destination", "must not be empty");
    else if (!isAbsolute(dest)) {
      // runc 1.1 only warns; the spec allows it for old configs (deprecated), relative to "/".
      ctx.warn(p + "/destination", `${describe(dest)} is relative; taken as relative to "/" (deprecated)`);
    }
    for (const f of ["destination", "source", "type"]) if (hasNul(m[f])) ctx.err(`${p}/${f}`, "must not contain a NUL byte");
    const options = arr(m.options).filter(isStr);
    const isBind = options.includes("bind") || options.includes("rbind");
    const idmapOption = options.includes("idmap") || options.includes("ridmap");
    const hasUid = m.uidMappings !== undefined;
    const hasGid = m.gidMappings !== undefined;
    if (hasUid !== hasGid) {
      ctx.err(p + (hasUid ? "/gidMappings" : "/uidMappings"), `must be given together with ${hasUid ? "uidMappings" : "gidMappings"}`);
    }
    if (hasUid || hasGid) {
      if (!isBind) ctx.err(p + "/options", 'an id-mapped mount must be a bind mount (add "bind" or "rbind")');
      if (!idmapOption) ctx.warn(p + "/options", 'uidMappings/gidMappings without an "idmap" or "ridmap" option; treated as "idmap"');
      if (hasUid) checkMappings(m.uidMappings, p + "/uidMappings", ctx);
      if (hasGid) checkMappings(m.gidMappings, p + "/gidMappings", ctx);
      if (opts.rootless) ctx.err(p, "id-mapped mounts are not supported for rootless containers");
    } else if (idmapOption && nsOk && !has("user")) {
      ctx.err(p + "/options", `"idmap"/"ridmap" without uidMappings and gidMappings takes the container's mappings, which needs a user namespace (${NS_HINT("user")})`);
    }
    if (opts.rootless && ctx.ok("/linux/uidMappings", "/linux/gidMappings")) {
      // runc's rootlessEUIDMount: uid=/gid= options must name ids mapped in the container.
      options.forEach((o, j) => {
        const mm = /^(uid|gid)=(\d+)$/.exec(o);
        if (!mm) return;
        const maps = mm[1] === "uid" ? linux.uidMappings : linux.gidMappings;
        if (!mapped(maps, Number(mm[2]))) ctx.err(`${p}/options/${j}`, `${o}: ${mm[1]} ${mm[2]} is not mapped in the container (rootless)`);
      });
    }
  });
}

function checkHooks(c: Obj, ctx: Context): void {
  if (!isObj(c.hooks)) return;
  for (const [name, list] of Object.entries(c.hooks)) {
    arr(list).forEach((h, i) => {
      const p = ptr("hooks", name, i, "path");
      if (!isObj(h) || !isStr(h.path) || !ctx.ok(p)) return;
      if (!isAbsolute(h.path)) ctx.err(p, `must be an absolute path (got ${describe(h.path)})`);
    });
  }
}

function checkUserNamespace(linux: Obj, process: Obj | undefined, ctx: Context, opts: ValidateOptions, ns: Map<string, NsEntry>): void {
  const uid = arr(linux.uidMappings);
  const gid = arr(linux.gidMappings);
  const user = ns.get("user");
  if (!ctx.ok("/linux/uidMappings", "/linux/gidMappings")) return;
  if (opts.rootless && !user) ctx.err("/linux/namespaces", `a rootless container needs a user namespace (${NS_HINT("user")})`);
  if (!user) {
    if (uid.length > 0) ctx.err("/linux/uidMappings", `user namespace mappings need a user namespace (${NS_HINT("user")})`);
    if (gid.length > 0) ctx.err("/linux/gidMappings", `user namespace mappings need a user namespace (${NS_HINT("user")})`);
    return;
  }
  // runc 1.1 needs both mappings whenever there is a user namespace, even one joined by path (it
  // computes the host ids of container root from them); callers such as containerd pass both.
  const why = user.path !== undefined ? "runc needs them even when joining a user namespace by path" : "a new user namespace needs them";
  if (uid.length === 0) ctx.err("/linux/uidMappings", `must not be empty: ${why}`);
  if (gid.length === 0) ctx.err("/linux/gidMappings", `must not be empty: ${why}`);
  // Coverage is only judged for mappings that are sound and not empty.
  const uidOk = uid.length > 0 && checkMappings(linux.uidMappings, "/linux/uidMappings", ctx);
  const gidOk = gid.length > 0 && checkMappings(linux.gidMappings, "/linux/gidMappings", ctx);
  if (uidOk && !mapped(uid, 0)) ctx.err("/linux/uidMappings", "has no mapping for uid 0 of the container (runc needs one)");
  if (gidOk && !mapped(gid, 0)) ctx.err("/linux/gidMappings", "has no mapping for gid 0 of the container (runc needs one)");
  // The process must run as mapped ids: setuid/setgid/setgroups fail otherwise.
  const u = process && isObj(process.user) ? process.user : undefined;
  if (u && ctx.ok("/process/user")) {
    if (uidOk && isNum(u.uid) && !mapped(uid, u.uid)) ctx.err("/process/user/uid", `uid ${u.uid} is not mapped by /linux/uidMappings`);
    if (gidOk && isNum(u.gid) && !mapped(gid, u.gid)) ctx.err("/process/user/gid", `gid ${u.gid} is not mapped by /linux/gidMappings`);
    if (gidOk) {
      arr(u.additionalGids).forEach((g, i) => {
        if (isNum(g) && !mapped(gid, g)) ctx.err(`/process/user/additionalGids/${i}`, `gid ${g} is not mapped by /linux/gidMappings`);
      });
    }
  }
}

function checkTimeNamespace(linux: Obj, ctx: Context, ns: Map<string, NsEntry>): void {
  if (!isObj(linux.timeOffsets) || Object.keys(linux.timeOffsets).length === 0 || !ctx.ok("/linux/timeOffsets")) return;
  const time = ns.get("time");
  if (!time) ctx.err("/linux/timeOffsets", `time offsets need a time namespace (${NS_HINT("time")})`);
  else if (time.path !== undefined) {
    ctx.err("/linux/timeOffsets", `cannot be applied to a time namespace joined by path (/linux/namespaces/${time.index}/path)`);
  }
}

/** runc's convertSysctlVariableToDotsSeparator: "net/ipv4/conf/eno2.100/rp_filter" -> dots. */
function sysctlDots(key: string): string {
  const first = key.search(/[./]/);
  if (first < 0 || key[first] === ".") return key;
  return key.replace(/[./]/g, (ch) => (ch === "." ? "/" : "."));
}

function sameFile(a: string, b: string): boolean {
  const sa = statSync(a);
  const sb = statSync(b);
  return sa.dev === sb.dev && sa.ino === sb.ino;
}

/** /proc/sys is only partly namespaced: runc's rules for which sysctls a container may set. */
function checkSysctl(linux: Obj, ctx: Context, ns: Map<string, NsEntry>): void {
  if (!isObj(linux.sysctl) || !ctx.ok("/linux/sysctl")) return;
  let hostNet: boolean | string | undefined; // string = why the netns could not be examined
  for (const key of Object.keys(linux.sysctl)) {
    const p = ptr("linux", "sysctl", key);
    const s = sysctlDots(key);
    // Written to /proc/sys/<components>; in the dotted form a "/" stands for a "." inside a
    // component (eno2.100), so that is what the component really is. None may be empty, "." or "..".
    const components = s.split(".").map((part) => part.replace(/\//g, "."));
    if (components.some((part) => part === "" || part === "." || part === "..") || s.includes("\0")) {
      ctx.err(p, `${describe(key)} is not a valid sysctl name`);
      continue;
    }
    if (IPC_SYSCTLS.has(s) || s.startsWith("fs.mqueue.")) {
      if (!ns.has("ipc")) ctx.err(p, `sysctl ${s} belongs to the IPC namespace, which the container shares with the host (${NS_HINT("ipc")})`);
      continue;
    }
    if (s.startsWith("net.")) {
      if (hostNet === undefined) {
        const net = ns.get("network");
        if (!net) hostNet = true;
        else if (net.path === undefined) hostNet = false;
        else {
          try {
            hostNet = sameFile("/proc/self/ns/net", net.path);
          } catch (e) {
            hostNet = `cannot examine network namespace ${net.path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
          }
        }
      }
      if (hostNet === true) ctx.err(p, `sysctl ${s} cannot be set in the host's network namespace (${NS_HINT("network")})`);
      else if (isStr(hostNet)) ctx.err(p, hostNet);
      continue;
    }
    if (ns.has("uts")) {
      if (s === "kernel.domainname") continue;
      if (s === "kernel.hostname") {
        ctx.err(p, 'sysctl kernel.hostname is not allowed: set "hostname" instead');
        continue;
      }
    }
    if (s.startsWith("user.")) {
      if (!ns.has("user")) ctx.err(p, `sysctl ${s} (user namespace limits) needs a user namespace (${NS_HINT("user")})`);
      continue;
    }
    ctx.err(p, `sysctl ${s} is not in a namespace the container can own; it would change the host`);
  }
}

function checkPathLists(linux: Obj, ctx: Context, nsOk: boolean, has: (t: string) => boolean): void {
  for (const field of ["maskedPaths", "readonlyPaths"]) {
    const list = arr(linux[field]);
    const base = ptr("linux", field);
    if (!ctx.ok(base)) continue;
    list.forEach((v, i) => {
      if (isStr(v) && !isAbsolute(v)) ctx.err(`${base}/${i}`, `must be an absolute path (got ${describe(v)})`);
    });
    if (list.length > 0 && nsOk && !has("mount")) {
      ctx.err(base, `needs a mount namespace (${NS_HINT("mount")})`);
    }
  }
}

function checkDevices(linux: Obj, ctx: Context): void {
  const byPath = new Map<string, number>();
  const byNumber = new Map<string, number>();
  arr(linux.devices).forEach((d, i) => {
    const p = ptr("linux", "devices", i);
    if (!isObj(d) || !ctx.ok(p)) return;
    const path = d.path as string;
    if (hasNul(path)) ctx.err(p + "/path", "must not contain a NUL byte");
    else if (!isAbsolute(path)) ctx.warn(p + "/path", `${describe(path)} is relative; taken as relative to the container's "/"`);
    const key = normalize("/" + path);
    const other = byPath.get(key);
    if (other !== undefined) ctx.warn(p + "/path", `same path as /linux/devices/${other}; the first one wins`);
    else byPath.set(key, i);
    if (d.type !== "p") {
      const num = `${d.type} ${d.major}:${d.minor}`;
      const twin = byNumber.get(num);
      if (twin !== undefined) ctx.warn(p, `same type and major:minor (${num}) as /linux/devices/${twin}`);
      else byNumber.set(num, i);
    }
  });
}

/** The kernel's dev_valid_name(): 1..15 bytes, not "." or "..", no "/", ":" or whitespace. */
function netdevNameProblem(name: string): string | null {
  if (name === "" || Buffer.byteLength(name) > 15) return "must be 1 to 15 bytes long";
  if (name === "." || name === "..") return `cannot be "${name}"`;
  if (/[/:\s]/.test(name)) return 'must not contain "/", ":" or whitespace';
  return null;
}

function checkNetDevices(linux: Obj, ctx: Context, opts: ValidateOptions, nsOk: boolean, has: (t: string) => boolean): void {
  if (!isObj(linux.netDevices) || !ctx.ok("/linux/netDevices")) return;
  const entries = Object.entries(linux.netDevices);
  if (entries.length === 0) return;
  if (opts.rootless) ctx.err("/linux/netDevices", "network devices cannot be moved into a rootless container");
  if (nsOk && !has("network")) {
    // runc refuses this; the spec's own examples do not, so the runtime decides when it gets there.
    ctx.warn("/linux/netDevices", `network devices are moved into the container's network namespace, but it has none (${NS_HINT("network")})`);
  }
  const targets = new Map<string, string>();
  for (const [host, dev] of entries) {
    const p = ptr("linux", "netDevices", host);
    const hp = netdevNameProblem(host);
    if (hp) ctx.err(p, `invalid network device name ${describe(host)}: ${hp}`);
    const inner = isObj(dev) && isStr(dev.name) && dev.name !== "" ? dev.name : host;
    if (isObj(dev) && isStr(dev.name) && dev.name !== "") {
      const np = netdevNameProblem(dev.name);
      if (np) ctx.err(p + "/name", `invalid network device name ${describe(dev.name)}: ${np}`);
    }
    if (!inner.includes("%d")) {
      const other = targets.get(inner);
      if (other !== undefined) ctx.err(p, `would be named "${inner}" in the container, like ${ptr("linux", "netDevices", other)}`);
      else targets.set(inner, host);
    }
  }
}

function checkResources(linux: Obj, ctx: Context): void {
  const r = linux.resources;
  if (!isObj(r)) return;
  arr(r.devices).forEach((d, i) => {
    const p = ptr("linux", "resources", "devices", i);
    if (!isObj(d) || !ctx.ok(p)) return;
    // Optional in the spec, but runc refuses a rule without it ("device access ... cannot be empty").
    if (!isStr(d.access) || d.access === "") ctx.err(p + "/access", 'must be set (runc refuses a device rule without it; "rwm" means all)');
  });

  const mem = r.memory;
  if (isObj(mem) && ctx.ok("/linux/resources/memory")) {
    const limit = isNum(mem.limit) ? mem.limit : 0;
    const swap = isNum(mem.swap) ? mem.swap : 0;
    // runc's ConvertMemorySwapToCgroupV2Value; cgroup v1 refuses the same (memsw < mem).
    if (swap !== 0 && swap !== -1) {
      if (limit === 0 || limit === -1) ctx.err("/linux/resources/memory/swap", "cannot limit memory+swap without a memory limit");
      else if (swap < limit) ctx.err("/linux/resources/memory/swap", `memory+swap limit ${swap} is below the memory limit ${limit}`);
    }
    for (const k of ["kernel", "kernelTCP"]) {
      if (mem[k] !== undefined) ctx.warn(`/linux/resources/memory/${k}`, "kernel memory limits are deprecated and ignored (as runc does)");
    }
  }

  const cpu = r.cpu;
  if (isObj(cpu) && ctx.ok("/linux/resources/cpu")) {
    if (isNum(cpu.quota) && cpu.quota > 0 && isNum(cpu.burst) && cpu.burst > cpu.quota) {
      ctx.err("/linux/resources/cpu/burst", `must not exceed quota (${cpu.burst} > ${cpu.quota})`);
    }
    if (isNum(cpu.idle) && cpu.idle !== 0 && cpu.idle !== 1) ctx.err("/linux/resources/cpu/idle", `must be 0 or 1 (got ${cpu.idle})`);
    for (const k of ["cpus", "mems"]) {
      const problem = isStr(cpu[k]) ? listProblem(cpu[k] as string) : null;
      if (problem) ctx.err(`/linux/resources/cpu/${k}`, problem);
    }
  }

  const sizes = new Map<string, number>();
  arr(r.hugepageLimits).forEach((h, i) => {
    if (!isObj(h) || !isStr(h.pageSize) || !ctx.ok(ptr("linux", "resources", "hugepageLimits", i))) return;
    const first = sizes.get(h.pageSize);
    if (first !== undefined) ctx.warn(ptr("linux", "resources", "hugepageLimits", i, "pageSize"), `${h.pageSize} is limited twice (also /linux/resources/hugepageLimits/${first}); the last one wins`);
    else sizes.set(h.pageSize, i);
  });

  if (isObj(r.unified) && ctx.ok("/linux/resources/unified")) {
    for (const key of Object.keys(r.unified)) {
      // runc: "must be a file name (no slashes)" and "must be in the form CONTROLLER.PARAMETER".
      if (key.includes("/") || key.includes("\0")) ctx.err(ptr("linux", "resources", "unified", key), "must be a cgroup file name (no slashes)");
      else if (!/^[^.]+\.[^.]/.test(key)) ctx.err(ptr("linux", "resources", "unified", key), "must be of the form controller.parameter");
    }
  }
}

function checkIntelRdt(linux: Obj, ctx: Context): void {
  const rdt = linux.intelRdt;
  if (!isObj(rdt) || !ctx.ok("/linux/intelRdt")) return;
  if (isStr(rdt.closID)) {
    const clos = rdt.closID;
    // "/" alone is the default CLOS (spec 1.3); otherwise it names one directory of resctrl.
    if (clos === "." || clos === ".." || (clos !== "/" && clos.includes("/")) || clos.includes("\n")) {
      ctx.err("/linux/intelRdt/closID", `${describe(clos)} is not a valid CLOS name`);
    }
  }
  if (isStr(rdt.l3CacheSchema) && rdt.l3CacheSchema !== "") {
    if (!rdt.l3CacheSchema.startsWith("L3:")) ctx.warn("/linux/intelRdt/l3CacheSchema", 'should start with "L3:"');
    if (rdt.l3CacheSchema.includes("\n")) ctx.warn("/linux/intelRdt/l3CacheSchema", "should be a single line");
  }
  arr(rdt.schemata).forEach((line, i) => {
    if (isStr(line) && line.includes("\n")) ctx.err(`/linux/intelRdt/schemata/${i}`, "must not contain a newline");
  });
}

const ERRNO_ACTIONS = new Set(["SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"]);

function checkSeccomp(linux: Obj, ctx: Context): void {
  const sc = linux.seccomp;
  if (!isObj(sc) || !ctx.ok("/linux/seccomp")) return;
  const listener = isStr(sc.listenerPath) && sc.listenerPath !== "";
  if (isStr(sc.listenerMetadata) && sc.listenerMetadata !== "" && !listener) {
    ctx.err("/linux/seccomp/listenerMetadata", "must not be set without listenerPath");
  }
  if (sc.defaultAction === "SCMP_ACT_NOTIFY") ctx.err("/linux/seccomp/defaultAction", "SCMP_ACT_NOTIFY cannot be the default action");
  if (sc.defaultErrnoRet !== undefined && !ERRNO_ACTIONS.has(String(sc.defaultAction))) {
    ctx.err("/linux/seccomp/defaultErrnoRet", `only applies to SCMP_ACT_ERRNO or SCMP_ACT_TRACE (defaultAction is ${String(sc.defaultAction)})`);
  }
  let notify = false;
  arr(sc.syscalls).forEach((rule, i) => {
    const p = ptr("linux", "seccomp", "syscalls", i);
    if (!isObj(rule)) return;
    if (rule.errnoRet !== undefined && !ERRNO_ACTIONS.has(String(rule.action))) {
      ctx.err(p + "/errnoRet", `only applies to SCMP_ACT_ERRNO or SCMP_ACT_TRACE (action is ${String(rule.action)})`);
    }
    if (rule.action === "SCMP_ACT_NOTIFY") {
      notify = true;
      arr(rule.names).forEach((n, j) => {
        // The runtime itself writes to the seccomp agent's socket: trapping write(2) would deadlock.
        if (n === "write") ctx.err(`${p}/names/${j}`, "SCMP_ACT_NOTIFY cannot be used for write");
      });
    }
  });
  if (notify && !listener) ctx.err("/linux/seccomp/listenerPath", "is required when a rule uses SCMP_ACT_NOTIFY");
}

function checkMisc(c: Obj, linux: Obj, ctx: Context, opts: ValidateOptions): void {
  const prop = linux.rootfsPropagation;
  if (opts.noPivotRoot && (prop === "private" || prop === "rprivate") && ctx.ok("/linux/rootfsPropagation")) {
    ctx.err("/linux/rootfsPropagation", `${prop} is not safe without pivot_root (--no-pivot)`);
  }

  if (opts.systemdCgroup && isStr(linux.cgroupsPath) && linux.cgroupsPath !== "" && ctx.ok("/linux/cgroupsPath")) {
    if (linux.cgroupsPath.split(":").length !== 3) {
      ctx.err("/linux/cgroupsPath", `must be "slice:prefix:name" with the systemd cgroup driver (got ${describe(linux.cgroupsPath)})`);
    }
  }

  if (isObj(linux.personality) && arr(linux.personality.flags).length > 0 && ctx.ok("/linux/personality")) {
    ctx.warn("/linux/personality/flags", "no personality flags are supported; ignored (as runc does)");
  }

  const mp = linux.memoryPolicy;
  if (isObj(mp) && ctx.ok("/linux/memoryPolicy")) {
    const nodes = isStr(mp.nodes) ? mp.nodes : "";
    const problem = listProblem(nodes);
    if (problem) ctx.err("/linux/memoryPolicy/nodes", problem);
    const empty = nodes.trim() === "";
    const mode = String(mp.mode);
    if ((mode === "MPOL_DEFAULT" || mode === "MPOL_LOCAL") && !empty) {
      ctx.err("/linux/memoryPolicy/nodes", `must be empty for ${mode}`);
    }
    if (["MPOL_BIND", "MPOL_INTERLEAVE", "MPOL_WEIGHTED_INTERLEAVE", "MPOL_PREFERRED_MANY"].includes(mode) && empty) {
      ctx.err("/linux/memoryPolicy/nodes", `must name at least one node for ${mode}`);
    }
    const flags = arr(mp.flags);
    if (flags.includes("MPOL_F_RELATIVE_NODES") && flags.includes("MPOL_F_STATIC_NODES")) {
      ctx.err("/linux/memoryPolicy/flags", "MPOL_F_RELATIVE_NODES and MPOL_F_STATIC_NODES cannot be combined");
    }
  }

  for (const other of ["solaris", "windows", "vm", "zos", "freebsd"]) {
    if (c[other] !== undefined) ctx.warn("/" + other, `${other} settings are ignored on Linux`);
  }
}

// ---------------------------------------------------------------------------------------------
// File reading and JSON syntax errors

function readErrorMessage(e: unknown, file: string, bundle: string): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === "ENOENT") return `cannot read ${file}: no such file (is ${bundle} an OCI bundle?)`;
  if (code === "EISDIR") return `cannot read ${file}: it is a directory`;
  if (code === "EACCES") return `cannot read ${file}: permission denied`;
  return `cannot read ${file}: ${code ?? (e as Error).message}`;
}

function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

/** Finds where JSON.parse gave up, with a plain-words reason (JSON.parse's messages differ between
 * node and bun, and bun's carry no position). Returns null if the text is in fact valid. */
export function locateJsonError(t: string): { offset: number; message: string } | null {
  let i = 0;
  class Fail {
    constructor(readonly message: string) {}
  }
  const show = () => (i >= t.length ? "the end of the file" : JSON.stringify(t[i]));
  const fail = (message: string): never => {
    throw new Fail(message);
  };
  const ws = () => {
    while (i < t.length && (t[i] === " " || t[i] === "\t" || t[i] === "\n" || t[i] === "\r")) i++;
  };
  const str = () => {
    i++; // opening quote
    for (;;) {
      const ch = t[i];
      if (ch === undefined) fail("unterminated string");
      if (ch === '"') {
        i++;
        return;
      }
      if (ch === "\\") {
        const esc = t[i + 1];
        if (esc !== undefined && '"\\/bfnrt'.includes(esc)) i += 2;
        else if (esc === "u" && /^[0-9a-fA-F]{4}$/.test(t.slice(i + 2, i + 6))) i += 6;
        else fail("invalid escape sequence in a string");
      } else if (ch! < " ") fail("control character in a string (write a newline as \\n)");
      else i++;
    }
  };
  const NUM = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
  const value = (): void => {
    ws();
    const ch = t[i];
    if (ch === "{") {
      i++;
      ws();
      if (t[i] === "}") {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (t[i] !== '"') fail(t[i] === "}" ? 'trailing comma before "}"' : `expected a property name in double quotes, found ${show()}`);
        str();
        ws();
        if (t[i] !== ":") fail(`expected ":" after a property name, found ${show()}`);
        i++;
        value();
        ws();
        if (t[i] === ",") {
          i++;
          continue;
        }
        if (t[i] === "}") {
          i++;
          return;
        }
        fail(`expected "," or "}" after a property value, found ${show()}`);
      }
    }
    if (ch === "[") {
      i++;
      ws();
      if (t[i] === "]") {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (t[i] === "]") fail('trailing comma before "]"');
        value();
        ws();
        if (t[i] === ",") {
          i++;
          continue;
        }
        if (t[i] === "]") {
          i++;
          return;
        }
        fail(`expected "," or "]" after an array element, found ${show()}`);
      }
    }
    if (ch === '"') return str();
    if (ch === "-" || (ch !== undefined && ch >= "0" && ch <= "9")) {
      NUM.lastIndex = i;
      const m = NUM.exec(t);
      if (!m) fail("invalid number");
      i += m![0].length;
      return;
    }
    for (const lit of ["true", "false", "null"]) {
      if (t.startsWith(lit, i)) {
        i += lit.length;
        return;
      }
    }
    if (i >= t.length) fail("unexpected end of the file");
    fail(`unexpected ${show()}`);
  };
  try {
    if (t.charCodeAt(0) === 0xfeff) fail("the file starts with a byte-order mark (BOM)");
    value();
    ws();
    if (i < t.length) fail(`unexpected ${show()} after the end of the JSON document`);
    return null;
  } catch (e) {
    if (e instanceof Fail) return { offset: i, message: e.message };
    return null; // e.g. nesting too deep for this scanner: let JSON.parse's message stand
  }
}
