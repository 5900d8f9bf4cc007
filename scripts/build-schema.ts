// Compiles schemas/*.json (tsrunc's own config.json schema) into a standalone ESM validator module,
// src/spec/generated/config-validator.js, so the runtime never compiles a schema at start-up.
//
//   bun scripts/build-schema.ts            # regenerate only if a schema (or this script) is newer
//   bun scripts/build-schema.ts --force    # regenerate regardless
//   bun scripts/build-schema.ts --check    # exit 1 if the output is missing or stale (no writing)
//
// The module exports:
//   validateConfig    the schema as written (unknown properties are allowed, as the spec demands)
//   knownProperties   the property names the schema declares, as a small tree, so that validate.ts can
//                     warn about unknown (often misspelt) properties without a second validator.
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import Ajv from "ajv";
import standaloneCode from "ajv/dist/standalone";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const schemaDir = join(root, "schemas");
const outDir = join(root, "src/spec/generated");
const outJs = join(outDir, "config-validator.js");
const outDts = join(outDir, "config-validator.d.ts");

const BASE = "https://tsrunc.invalid/schemas/";
const MAIN = "config.schema.json";

const args = new Set(process.argv.slice(2));

function mtime(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return -1;
  }
}

const schemaFiles = readdirSync(schemaDir)
  .filter((f) => f.endsWith(".json"))
  .sort();
const inputs = [...schemaFiles.map((f) => join(schemaDir, f)), fileURLToPath(import.meta.url), join(root, "node_modules/ajv/package.json")];
const newestInput = Math.max(...inputs.map(mtime));
const oldestOutput = Math.min(mtime(outJs), mtime(outDts));
const upToDate = oldestOutput >= 0 && oldestOutput >= newestInput;

if (args.has("--check")) {
  if (!upToDate) {
    console.error("build-schema: src/spec/generated/config-validator.js is missing or older than schemas/");
    process.exit(1);
  }
  process.exit(0);
}
if (upToDate && !args.has("--force")) {
  console.log("build-schema: config validator is up to date");
  process.exit(0);
}

type Schema = Record<string, unknown>;
const isObj = (v: unknown): v is Schema => typeof v === "object" && v !== null && !Array.isArray(v);

const schemas: Schema[] = [];
for (const file of schemaFiles) {
  const schema = JSON.parse(readFileSync(join(schemaDir, file), "utf8")) as Schema;
  if (schema.$id !== BASE + file) {
    throw new Error(`schemas/${file}: $id must be ${BASE + file} (got ${String(schema.$id)})`);
  }
  schemas.push(schema);
}

/** Follows a "$ref" (relative to the schema file `base`) to [its schema, the file it lives in]. */
function deref(ref: string, base: string): [Schema, string] {
  const url = new URL(ref, base);
  const file = url.href.split("#")[0]!;
  const doc = schemas.find((s) => s.$id === file);
  if (!doc) throw new Error(`unresolvable $ref ${ref} from ${base}`);
  let node: unknown = doc;
  for (const part of url.hash.replace(/^#\/?/, "").split("/").filter(Boolean)) {
    node = (node as Schema)[decodeURIComponent(part).replace(/~1/g, "/").replace(/~0/g, "~")];
  }
  if (!isObj(node)) throw new Error(`$ref ${ref} from ${base} points at nothing`);
  return [node, file];
}

/** The property names the schema knows, as a tree that mirrors a config document:
 *  { p: {name: subtree} } an object with known properties (others are unknown),
 *  { m: subtree }         a map (any key) of values shaped like subtree,
 *  { i: subtree }         an array of subtree,
 *  0                      nothing to look into.
 * validate.ts walks it to warn about unknown properties (the spec says to ignore them, not fail). */
type Shape = 0 | { p?: Record<string, Shape>; m?: Shape; i?: Shape };
function shapeOf(s: Schema, base: string, depth = 0): Shape {
  if (depth > 32) throw new Error("schema nests too deep (a recursive $ref?)");
  if (typeof s.$ref === "string") {
    const [target, file] = deref(s.$ref, base);
    return shapeOf(target, file, depth + 1);
  }
  const out: { p?: Record<string, Shape>; m?: Shape; i?: Shape } = {};
  if (isObj(s.properties)) {
    out.p = {};
    for (const [k, v] of Object.entries(s.properties)) out.p[k] = shapeOf(v as Schema, base, depth + 1);
  }
  if (isObj(s.additionalProperties)) out.m = shapeOf(s.additionalProperties, base, depth + 1);
  if (isObj(s.items)) out.i = shapeOf(s.items, base, depth + 1);
  return out.p || out.m !== undefined || out.i !== undefined ? out : 0;
}
const knownProperties = shapeOf(schemas.find((s) => s.$id === BASE + MAIN)!, BASE + MAIN);

const ajv = new Ajv({
  schemas,
  allErrors: true,
  strict: true,
  // `required` inside if/then/else names properties declared by the enclosing schema.
  strictRequired: false,
  messages: false,
  inlineRefs: false,
  code: { source: true, esm: true, lines: false },
});

const validateMain = ajv.getSchema(BASE + MAIN);
if (!validateMain) throw new Error(`no schema with $id ${BASE + MAIN}`);

let code = standaloneCode(ajv, { validateConfig: BASE + MAIN });

// The module must load under node (vitest), under bun, and inside a `bun build --compile` binary, as
// plain ESM, but ajv's standalone output pulls its runtime helpers in with require() even in ESM mode,
// which node's ESM loader does not provide. The one helper this schema needs (minLength counts code
// points) is replaced by a local function; any other helper (object enums, uniqueItems, formats...)
// fails the build so that the schema gets changed instead.
const INLINE_HELPERS: Record<string, string> = {
  ucs2length: "function __ucs2length(s) { let n = 0; for (const _ of s) n++; return n; }",
};
const inlined = new Set<string>();
code = code.replace(/require\("ajv\/dist\/runtime\/([a-z0-9_]+)"\)\.default/gi, (whole, name: string) => {
  if (!(name in INLINE_HELPERS)) return whole;
  inlined.add(name);
  return "__" + name;
});
const helpers = [...inlined].map((n) => INLINE_HELPERS[n]).join("\n");
const requires = code.match(/require\([^)]*\)/g);
if (requires) {
  throw new Error(`generated validator needs runtime helpers ${[...new Set(requires)].join(", ")}; ` +
    "change the schema (or inline the helper here) so the module stays plain ESM");
}

// ajv emits every compiled schema as a `const schemaN = {...}` literal, but only the ones whose enums
// appear in error params are read; dropping the others makes the module about a third smaller.
function dropUnusedSchemaConstants(src: string): string {
  const decl = /const (schema\d+) = \{/g;
  const cuts: Array<[number, number]> = [];
  for (let m = decl.exec(src); m; m = decl.exec(src)) {
    const name = m[1]!;
    if ((src.match(new RegExp(`\\b${name}\\b`, "g")) ?? []).length > 1) continue;
    // The literal is JSON: scan to its matching brace, minding strings.
    let i = m.index + m[0].length;
    let depth = 1;
    while (depth > 0) {
      const c = src[i++];
      if (c === undefined) throw new Error(`unterminated ${name}`);
      if (c === '"') {
        while (src[i] !== '"') i += src[i] === "\\" ? 2 : 1;
        i++;
      } else if (c === "{") depth++;
      else if (c === "}") depth--;
    }
    if (src[i] !== ";") throw new Error(`unexpected text after ${name}`);
    cuts.push([m.index, i + 1]);
  }
  for (const [a, b] of cuts.reverse()) src = src.slice(0, a) + src.slice(b);
  return src;
}
code = dropUnusedSchemaConstants(code);

const header =
  "// GENERATED by scripts/build-schema.ts from schemas/*.json (ajv standalone). Do not edit; do not commit.\n" +
  "/* eslint-disable */\n";
code = header + code + "\n" + helpers +
  "\n/** The properties the schema knows (see scripts/build-schema.ts, shapeOf). */\n" +
  "export const knownProperties = " + JSON.stringify(knownProperties) + ";\n";

const dts = `// GENERATED by scripts/build-schema.ts. Do not edit.
export interface SchemaError {
  instancePath: string;
  schemaPath: string;
  keyword: string;
  params: Record<string, any>;
  propertyName?: string;
  message?: string;
}
export interface GeneratedValidator {
  (data: unknown): boolean;
  errors?: SchemaError[] | null;
}
/** config.json as the runtime-spec defines it (unknown properties allowed). */
export declare const validateConfig: GeneratedValidator;
/** The property names the schema knows: {p: props} object, {m: values} map, {i: items} array, 0 leaf. */
export type KnownProperties = 0 | { p?: Record<string, KnownProperties>; m?: KnownProperties; i?: KnownProperties };
export declare const knownProperties: KnownProperties;
`;

mkdirSync(outDir, { recursive: true });
// Write-then-rename so a concurrent reader never sees half a module.
writeFileSync(outJs + ".tmp", code);
writeFileSync(outDts + ".tmp", dts);
renameSync(outDts + ".tmp", outDts);
renameSync(outJs + ".tmp", outJs);
console.log(`build-schema: wrote ${outJs.slice(root.length + 1)} (${(code.length / 1024).toFixed(0)} KiB) from ${schemaFiles.join(", ")}`);
