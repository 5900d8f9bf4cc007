// config.json validation: the schema (schemas/*.json, precompiled by scripts/build-schema.ts) and
// the semantic checks of src/spec/validate.ts. No root needed: bundles are temporary directories.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const BUN = join(ROOT, "node_modules/.bin/bun");
const FIXTURES = join(ROOT, "test/fixtures/bad-configs");
const UPSTREAM = "/work/shared/runtime-spec-v1.3.0/test/config";
const GENERATED = join(ROOT, "src/spec/generated/config-validator.js");

type Validate = typeof import("../../src/spec/validate.ts");
let v: Validate;
const TMP = mkdtempSync(join(tmpdir(), "tsrunc-validate-"));

beforeAll(async () => {
  // validate.ts imports the generated module, so it must exist before the import (a no-op when it
  // is up to date).
  execFileSync(BUN, ["scripts/build-schema.ts"], { cwd: ROOT, stdio: "pipe" });
  v = await import("../../src/spec/validate.ts");
});
afterAll(() => rmSync(TMP, { recursive: true, force: true }));

let bundles = 0;
/** A bundle directory with rootfs/, a rootfs-link symlink to it and a plain file not-a-dir. */
function makeBundle(config?: unknown): string {
  const dir = join(TMP, `bundle-${bundles++}`);
  mkdirSync(join(dir, "rootfs"), { recursive: true });
  symlinkSync("rootfs", join(dir, "rootfs-link"));
  writeFileSync(join(dir, "not-a-dir"), "");
  if (config !== undefined) {
    writeFileSync(join(dir, "config.json"), typeof config === "string" ? config : JSON.stringify(config, null, 2));
  }
  return dir;
}

const readJson = (path: string) => JSON.parse(readFileSync(path, "utf8"));
const base = (name: string) => readJson(join(FIXTURES, `_base-${name}.json`));

interface PatchOp {
  op: "add" | "replace" | "remove";
  path: string;
  value?: unknown;
}

/** The JSON Patch (RFC 6902) subset the fixtures use: add (incl. "-" to append), replace, remove. */
function applyPatch(doc: unknown, ops: PatchOp[]): unknown {
  const out = structuredClone(doc);
  for (const op of ops) {
    const parts = op.path.split("/").slice(1).map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
    const last = parts.pop()!;
    let parent: any = out;
    for (const p of parts) {
      parent = parent?.[Array.isArray(parent) ? Number(p) : p];
      if (parent === undefined) throw new Error(`patch ${op.op} ${op.path}: no parent`);
    }
    if (Array.isArray(parent)) {
      const i = last === "-" ? parent.length : Number(last);
      if (op.op === "add") parent.splice(i, 0, op.value);
      else if (i >= parent.length) throw new Error(`patch ${op.op} ${op.path}: no such element`);
      else if (op.op === "remove") parent.splice(i, 1);
      else parent[i] = op.value;
    } else {
      if (op.op !== "add" && !(last in parent)) throw new Error(`patch ${op.op} ${op.path}: no such property`);
      if (op.op === "remove") delete parent[last];
      else parent[last] = op.value;
    }
  }
  return out;
}

describe("the runtime's own default configs", () => {
  it("the fixture bases (runc 1.1 `runc spec` and `runc spec --rootless`) are valid", () => {
    for (const [name, opts] of [["runc", {}], ["rootless", {}], ["rootless", { rootless: true }]] as const) {
      const r = v.loadConfig(makeBundle(base(name)), opts);
      expect({ name, errors: r.errors, warnings: r.warnings }).toEqual({ name, errors: [], warnings: [] });
    }
  });

  it("`tsrunc spec` output (src/spec/generate.ts) validates clean, rootless too", async () => {
    const { defaultSpec, rootlessSpec } = await import("../../src/spec/generate.ts");
    expect(v.checkConfig(defaultSpec(), { bundle: makeBundle(), requireProcess: true })).toEqual({ errors: [], warnings: [] });
    expect(v.checkConfig(rootlessSpec(1000, 1000), { bundle: makeBundle(), rootless: true })).toEqual({ errors: [], warnings: [] });
  });

  const hasRunc = spawnSync("runc", ["--version"]).status === 0;
  for (const variant of [[], ["--rootless"]]) {
    it.skipIf(!hasRunc)(`\`runc spec ${variant.join(" ")}\` output validates clean`, () => {
      const dir = makeBundle();
      execFileSync("runc", ["spec", ...variant], { cwd: dir, stdio: "pipe" });
      const r = v.loadConfig(dir, { requireProcess: true, rootless: variant.length > 0 });
      expect(r.errors).toEqual([]);
      expect(r.warnings).toEqual([]);
      expect(r.ok).toBe(true);
    });
  }
});

describe("upstream runtime-spec v1.3.0 test documents", () => {
  const OTHER_PLATFORMS = ["freebsd", "zos", "windows", "solaris", "vm"];
  /** "linux" for documents a Linux runtime should judge; otherwise the platform they are about. */
  function platformOf(file: string, text: string): string {
    const prefix = file.split("-")[0]!;
    if (OTHER_PLATFORMS.includes(prefix)) return prefix;
    try {
      const doc = JSON.parse(text);
      const other = OTHER_PLATFORMS.find((p) => doc && typeof doc === "object" && p in doc);
      if (other && !("linux" in doc)) return other;
    } catch {
      /* invalid JSON: judged like any config.json */
    }
    return "linux";
  }
  const SKIP_REASON =
    "is a document for another platform: its platform section (jail, z/OS settings) means nothing to a Linux " +
    "runtime, which ignores it, and its other fields are not meant for Linux (e.g. a hostname without Linux " +
    "namespaces), so neither accepting nor rejecting it would test anything";

  for (const kind of ["good", "bad"] as const) {
    const dir = join(UPSTREAM, kind);
    const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".json")).sort() : [];
    it.skipIf(!existsSync(dir))(`${kind}/ has Linux documents`, () => {
      expect(files.filter((f) => platformOf(f, readFileSync(join(dir, f), "utf8")) === "linux").length).toBeGreaterThan(0);
    });
    for (const file of files) {
      const text = readFileSync(join(dir, file), "utf8");
      const platform = platformOf(file, text);
      if (platform !== "linux") {
        it.skip(`${kind}/${file} ${SKIP_REASON} (${platform})`, () => {});
        continue;
      }
      it(`${kind}/${file} is ${kind === "good" ? "accepted" : "rejected"}`, () => {
        const r = v.loadConfig(makeBundle(text));
        if (kind === "good") expect(r.errors).toEqual([]);
        else {
          expect(r.ok).toBe(false);
          expect(r.errors.length).toBeGreaterThan(0);
        }
      });
    }
  }

  it.skipIf(!existsSync(UPSTREAM))("the bad documents are rejected for the right reason", () => {
    const pathsOf = (file: string) => v.loadConfig(makeBundle(readFileSync(join(UPSTREAM, "bad", file), "utf8"))).errors;
    expect(pathsOf("linux-hugepage.json")).toEqual([
      { path: "/linux/resources/hugepageLimits/0/pageSize", message: 'must be a size such as 64KB, 2MB or 1GB (got "64kB")' },
    ]);
    expect(pathsOf("linux-netdevice.json")).toEqual([{ path: "/linux/netDevices/eth0/name", message: "must be string (got 23)" }]);
    expect(pathsOf("linux-rdma.json")).toEqual([
      { path: "/linux/resources/rdma/mlx5_1/hcaHandles", message: 'must be integer (got "not a uint32")' },
    ]);
    expect(pathsOf("invalid-json.json")).toEqual([
      { path: "", message: 'invalid JSON at line 1, column 2: expected a property name in double quotes, found "]"' },
    ]);
  });
});

describe("bad-config corpus (test/fixtures/bad-configs)", () => {
  const files = readdirSync(FIXTURES).filter((f) => f.endsWith(".json") && !f.startsWith("_")).sort();

  it("has at least 50 cases", () => {
    expect(files.length).toBeGreaterThanOrEqual(50);
  });

  for (const file of files) {
    const fx = readJson(join(FIXTURES, file)) as {
      description: string;
      base?: string;
      patch?: PatchOp[];
      document?: unknown;
      text?: string;
      options?: Record<string, unknown>;
      expect: string[];
      message?: string;
    };
    it(`${file}: ${fx.description}`, () => {
      const config = fx.text ?? fx.document ?? applyPatch(base(fx.base ?? "runc"), fx.patch ?? []);
      const r = v.loadConfig(makeBundle(config), fx.options ?? {});
      expect(r.ok).toBe(false);
      // Exactly the expected paths: each problem once, no noise around it.
      const paths = [...new Set(r.errors.map((e) => e.path))].sort();
      expect(paths, v.formatErrors(r.errors)).toEqual([...fx.expect].sort());
      if (fx.message) {
        const messages = r.errors.filter((e) => e.path === fx.expect[0]).map((e) => e.message);
        expect(messages.join("\n")).toContain(fx.message);
      }
    });
  }
});

describe("error reports", () => {
  const runc = () => base("runc");

  it("formats one line per error, with the JSON path", () => {
    const cfg = runc();
    cfg.linux.resources.memory = { limit: "64m" };
    const errors = v.validateConfig(cfg, { bundle: makeBundle() });
    expect(v.formatErrors(errors)).toBe('config.json: /linux/resources/memory/limit: must be integer (got "64m")');
    expect(v.formatErrors([{ path: "", message: "x" }, { path: "/a", message: "y" }], "b/config.json")).toBe(
      "b/config.json: x\nb/config.json: /a: y",
    );
  });

  it("reports every error, schema and semantic, in one pass", () => {
    const cfg = runc();
    cfg.ociVersion = 1;
    cfg.process.cwd = "tmp";
    cfg.process.user.uid = "root";
    cfg.process.rlimits.push({ type: "RLIMIT_NOFILE", soft: 1, hard: 1 });
    cfg.mounts[0].destination = "";
    cfg.linux.resources.memory = { limit: "1g", swappiness: 200 };
    cfg.linux.sysctl = { "vm.overcommit_memory": "1" };
    cfg.hooks = { prestart: [{ path: "hook" }], poststop: [{ path: "/ok", timeout: -1 }] };
    const errors = v.validateConfig(cfg, { bundle: makeBundle() });
    expect(errors.map((e) => e.path)).toEqual([
      "/ociVersion",
      "/process/user/uid",
      "/hooks/poststop/0/timeout",
      "/linux/resources/memory/limit",
      "/linux/resources/memory/swappiness",
      "/process/cwd",
      "/process/rlimits/1/type",
      "/mounts/0/destination",
      "/hooks/prestart/0/path",
      "/linux/sysctl/vm.overcommit_memory",
    ]);
  });

  it("names the missing property's full path, lists enum values, folds anyOf noise", () => {
    const cfg = runc();
    delete cfg.process.cwd;
    cfg.linux.namespaces[0].type = "pidns";
    cfg.linux.resources.blockIO = { weightDevice: [{ major: 8, minor: 0 }] };
    const errors = v.validateConfig(cfg, { bundle: makeBundle() });
    expect(errors).toEqual([
      { path: "/process/cwd", message: "required property is missing" },
      {
        path: "/linux/namespaces/0/type",
        message: 'must be one of "pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time" (got "pidns")',
      },
      { path: "/linux/resources/blockIO/weightDevice/0", message: 'must have at least one of "weight", "leafWeight"' },
    ]);
  });

  it("converts additionalProperties errors to the unknown property's path", () => {
    const errors = v.convertSchemaErrors(
      [{ instancePath: "/linux", schemaPath: "#/additionalProperties", keyword: "additionalProperties", params: { additionalProperty: "a/b" } }],
      {},
    );
    expect(errors).toEqual([{ path: "/linux/a~1b", message: "unknown property" }]);
  });

  it("runs no semantic check on a part the schema rejected", () => {
    const cfg = runc();
    cfg.linux.namespaces = [{ type: "pid" }, { type: 7 }]; // the uts namespace is gone, but so is trust in the list
    const errors = v.validateConfig(cfg, { bundle: makeBundle() });
    expect(errors).toEqual([{ path: "/linux/namespaces/1/type", message: "must be string (got 7)" }]);
    cfg.linux.namespaces = [{ type: "pid" }, { type: "mount" }];
    expect(v.validateConfig(cfg, { bundle: makeBundle() }).map((e) => e.path)).toEqual(["/hostname"]);
  });
});

describe("warnings (runc logs these, the spec says to ignore unknown properties)", () => {
  const runc = () => base("runc");

  it("unknown properties warn by default, with a guess at the intended name", () => {
    const cfg = runc();
    cfg.linux.namespace = [];
    cfg.process.capabilites = {};
    cfg.linux.resources.memory = { limit: 1 << 30, oomScoreAdj: 5 };
    cfg["org.example/extension"] = { any: "thing" };
    const { errors, warnings } = v.checkConfig(cfg, { bundle: makeBundle() });
    expect(errors).toEqual([]);
    expect(warnings).toEqual([
      { path: "/process/capabilites", message: 'unknown property "capabilites" (ignored); did you mean "capabilities"?' },
      { path: "/linux/resources/memory/oomScoreAdj", message: 'unknown property "oomScoreAdj" (ignored)' },
      { path: "/linux/namespace", message: 'unknown property "namespace" (ignored); did you mean "namespaces"?' },
      { path: "/org.example~1extension", message: 'unknown property "org.example/extension" (ignored)' },
    ]);
    expect(v.checkConfig(cfg, { bundle: makeBundle(), unknownProperties: "ignore" }).warnings).toEqual([]);
    expect(v.checkConfig(cfg, { bundle: makeBundle(), unknownProperties: "error" }).errors).toHaveLength(4);
  });

  it("keys of maps (annotations, sysctl, unified, rdma, netDevices) are not properties", () => {
    const cfg = runc();
    cfg.annotations = { "com.example.key": "v" };
    cfg.linux.resources.unified = { "memory.high": "1G" };
    cfg.linux.resources.rdma = { mlx5_1: { hcaHandles: 1 } };
    cfg.linux.sysctl = { "net.ipv4.ip_forward": "1" };
    expect(v.checkConfig(cfg, { bundle: makeBundle() })).toEqual({ errors: [], warnings: [] });
  });

  it("runc-compatible leniency: relative mount destinations, unknown capabilities, kernel memory", () => {
    const cfg = runc();
    cfg.mounts[3].destination = "dev/shm";
    cfg.process.capabilities.bounding.push("CAP_TELEPORT");
    cfg.linux.resources.memory = { kernel: -1 };
    cfg.linux.personality = { domain: "LINUX", flags: ["ADDR_NO_RANDOMIZE"] };
    const seen: string[] = [];
    const errors = v.validateConfig(cfg, { bundle: makeBundle(), onWarning: (w) => seen.push(w.path) });
    expect(errors).toEqual([]);
    expect(seen).toEqual([
      "/process/capabilities/bounding/3",
      "/mounts/3/destination",
      "/linux/resources/memory/kernel",
      "/linux/personality/flags",
    ]);
  });

  it("netDevices without a network namespace warn (runc refuses, the spec's examples do not)", () => {
    const cfg = base("rootless");
    cfg.linux.netDevices = { eth0: { name: "ctr0" } };
    const { errors, warnings } = v.checkConfig(cfg, { bundle: makeBundle() });
    expect(errors).toEqual([]);
    expect(warnings.map((w) => w.path)).toEqual(["/linux/netDevices"]);
  });
});

describe("namespaces joined by path", () => {
  it("a user namespace joined by path with mappings is fine", () => {
    const cfg = base("rootless");
    cfg.linux.namespaces[4] = { type: "user", path: "/proc/1/ns/user" };
    expect(v.validateConfig(cfg, { bundle: makeBundle() })).toEqual([]);
  });

  it("net.* sysctls are refused in the host's network namespace, even when joined by path", () => {
    const cfg = base("runc");
    cfg.linux.sysctl = { "net.ipv4.ip_forward": "1" };
    expect(v.validateConfig(cfg, { bundle: makeBundle() })).toEqual([]);
    cfg.linux.namespaces[1] = { type: "network", path: "/proc/self/ns/net" };
    expect(v.validateConfig(cfg, { bundle: makeBundle() }).map((e) => e.message)).toEqual([
      'sysctl net.ipv4.ip_forward cannot be set in the host\'s network namespace (add {"type": "network"} to /linux/namespaces)',
    ]);
    cfg.linux.namespaces[1] = { type: "network", path: join(TMP, "no-such-netns") };
    expect(v.validateConfig(cfg, { bundle: makeBundle() })[0]!.message).toMatch(/cannot examine network namespace .*ENOENT/);
  });
});

describe("loading config.json", () => {
  it("explains a missing or unreadable config.json", () => {
    const dir = makeBundle();
    expect(v.loadConfig(dir).errors).toEqual([
      { path: "", message: `cannot read ${join(dir, "config.json")}: no such file (is ${dir} an OCI bundle?)` },
    ]);
    mkdirSync(join(dir, "config.json"));
    expect(v.loadConfig(dir).errors[0]!.message).toContain("it is a directory");
  });

  it("points at JSON syntax errors by line and column", () => {
    const r = v.loadConfig(makeBundle('{\n  "ociVersion": "1.0.2",\n  "root": {"path": "rootfs"}\n  "process": {}\n}'));
    expect(v.formatErrors(r.errors)).toBe(
      'config.json: invalid JSON at line 4, column 3: expected "," or "}" after a property value, found "\\""',
    );
    expect(v.locateJsonError('{"a": [1, 2]}')).toBeNull();
    expect(v.locateJsonError("")).toEqual({ offset: 0, message: "unexpected end of the file" });
    expect(v.locateJsonError("\uFEFF{}")!.message).toContain("byte-order mark");
    expect(v.locateJsonError('{"a": "tab\there"}')!.message).toContain("control character");
  });

  it("loadAndValidate returns the config or throws a ConfigError carrying every error", () => {
    const warned: string[] = [];
    const good = v.loadAndValidate(makeBundle({ ...base("runc"), extra: 1 }), { onWarning: (w) => warned.push(w.path) });
    expect(good.process?.args).toEqual(["sh"]);
    expect(warned).toEqual(["/extra"]);
    const cfg = base("runc");
    cfg.process.cwd = "x";
    cfg.hostname = 5;
    try {
      v.loadAndValidate(makeBundle(cfg));
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(v.ConfigError);
      expect((e as InstanceType<Validate["ConfigError"]>).errors).toHaveLength(2);
      expect((e as Error).message).toBe(
        'config.json: /hostname: must be string (got 5)\nconfig.json: /process/cwd: must be an absolute path (got "x")',
      );
    }
  });

  it("resolves root.path against the bundle, and accepts an absolute one", () => {
    const dir = makeBundle();
    const cfg = base("runc");
    cfg.root.path = join(dir, "rootfs");
    expect(v.validateConfig(cfg, { bundle: join(TMP, "elsewhere") })).toEqual([]);
    cfg.root.path = "rootfs/";
    expect(v.validateConfig(cfg, { bundle: dir })).toEqual([]);
  });
});

describe("types.ts and the build step", () => {
  it("types.ts declares every property the schema knows", async () => {
    const { knownProperties } = await import("../../src/spec/generated/config-validator.js");
    const src = readFileSync(join(ROOT, "src/spec/types.ts"), "utf8");
    const names = new Set<string>();
    const walk = (s: any) => {
      if (!s) return;
      for (const [k, sub] of Object.entries(s.p ?? {})) {
        names.add(k);
        walk(sub);
      }
      walk(s.m);
      walk(s.i);
    };
    walk(knownProperties);
    expect(names.size).toBeGreaterThan(100);
    const missing = [...names].filter((n) => !new RegExp(`\\b${n}\\??:|"${n}"`).test(src));
    expect(missing).toEqual([]);
  });

  it("build-schema is idempotent and --check reports freshness", () => {
    const before = statSync(GENERATED).mtimeMs;
    const out = execFileSync(BUN, ["scripts/build-schema.ts"], { cwd: ROOT, encoding: "utf8" });
    expect(out).toContain("up to date");
    expect(statSync(GENERATED).mtimeMs).toBe(before);
    expect(spawnSync(BUN, ["scripts/build-schema.ts", "--check"], { cwd: ROOT }).status).toBe(0);
    const code = readFileSync(GENERATED, "utf8");
    expect(code).not.toMatch(/require\(/);
  });

  it("the generated validator works inside a `bun build --compile` binary", () => {
    const dir = join(TMP, "compiled");
    mkdirSync(dir, { recursive: true });
    const entry = join(dir, "entry.ts");
    writeFileSync(
      entry,
      `import { loadConfig } from ${JSON.stringify(join(ROOT, "src/spec/validate.ts"))};\n` +
        `const r = loadConfig(process.argv[2]!);\nconsole.log(JSON.stringify(r.errors));\n`,
    );
    execFileSync(BUN, ["build", "--compile", "--outfile", join(dir, "check"), entry], { cwd: ROOT, stdio: "pipe" });
    const cfg = base("runc");
    cfg.linux.resources.memory = { limit: "64m" };
    const out = execFileSync(join(dir, "check"), [makeBundle(cfg)], { encoding: "utf8" });
    expect(JSON.parse(out)).toEqual([{ path: "/linux/resources/memory/limit", message: 'must be integer (got "64m")' }]);
  }, 120_000);
});
