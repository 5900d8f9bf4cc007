import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { defaultSpec, rootlessSpec } from "../../src/spec/generate.ts";

/** Every JSON path of a document, array indices included. */
function paths(v: unknown, prefix = ""): string[] {
  if (v === null || typeof v !== "object") return [prefix];
  const out: string[] = [];
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) out.push(prefix + "/" + k, ...paths(x, prefix + "/" + k));
  return out;
}

function runcSpec(rootless: boolean): any {
  const dir = mkdtempSync(join(tmpdir(), "runc-spec-"));
  try {
    execFileSync("runc", ["spec", ...(rootless ? ["--rootless"] : [])], { cwd: dir });
    return JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("tsrunc spec", () => {
  it("writes every field runc 1.1 writes, with the same values but ociVersion and hostname", () => {
    const runc = runcSpec(false);
    const ours = defaultSpec();
    expect(paths(ours).sort()).toEqual(paths(runc).sort());
    expect({ ...ours, ociVersion: runc.ociVersion, hostname: runc.hostname }).toEqual(runc);
    expect(ours.ociVersion).toBe("1.3.0");
  });

  it("--rootless matches runc's rootless transformation", () => {
    const runc = runcSpec(true);
    const ours = rootlessSpec(process.geteuid!(), process.getegid!());
    expect(paths(ours).sort()).toEqual(paths(runc).sort());
    expect({ ...ours, ociVersion: runc.ociVersion, hostname: runc.hostname }).toEqual(runc);
  });

  it("--rootless maps the caller's ids to root", () => {
    const s = rootlessSpec(1000, 1001);
    expect(s.linux.uidMappings).toEqual([{ containerID: 0, hostID: 1000, size: 1 }]);
    expect(s.linux.gidMappings).toEqual([{ containerID: 0, hostID: 1001, size: 1 }]);
    expect(s.linux.namespaces.map((n: any) => n.type)).not.toContain("network");
    expect(s.linux.namespaces.map((n: any) => n.type)).toContain("user");
  });
});
