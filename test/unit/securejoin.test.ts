import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { resolveInRoot } from "../../src/runtime/securejoin.ts";

const root = mkdtempSync(join(tmpdir(), "securejoin-"));
mkdirSync(join(root, "etc/real"), { recursive: true });
symlinkSync("../../../../../../etc", join(root, "up"));
symlinkSync("/etc/real", join(root, "abs"));
symlinkSync("real", join(root, "etc/rel"));
symlinkSync("loop2", join(root, "loop1"));
symlinkSync("loop1", join(root, "loop2"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("resolveInRoot", () => {
  it("keeps .. at the root of the rootfs", () => {
    expect(resolveInRoot(root, "/../../etc/passwd")).toBe("/etc/passwd");
    expect(resolveInRoot(root, "/up/shadow")).toBe("/etc/shadow");
  });
  it("follows absolute links from the rootfs, not the host", () => {
    expect(resolveInRoot(root, "/abs/x")).toBe("/etc/real/x");
  });
  it("follows relative links from their directory", () => {
    expect(resolveInRoot(root, "/etc/rel/y")).toBe("/etc/real/y");
  });
  it("keeps missing components as given", () => {
    expect(resolveInRoot(root, "/nope/a/../b")).toBe("/nope/b");
  });
  it("refuses symlink loops", () => {
    expect(() => resolveInRoot(root, "/loop1/x")).toThrow(/too many levels/);
  });
});
