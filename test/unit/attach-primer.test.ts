// The attach primer must only ever write this process's pid into the cgroup it already is in:
// anywhere else the write would move tsrunc itself.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { primeCgroupAttach } from "../../src/runtime/attach-primer.ts";
import type { CgroupHost } from "../../src/cgroups/index.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "tsrunc-primer-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const procs = (rel: string) => join(dir, rel, "cgroup.procs");
function cgroupDir(rel: string): void {
  mkdirSync(join(dir, rel), { recursive: true });
  writeFileSync(procs(rel), "");
}

describe("primeCgroupAttach", () => {
  it("writes our own pid into our own cgroup2 directory", async () => {
    cgroupDir("a/b");
    const host: CgroupHost = { mode: "unified", root: dir, v1: [], unified: { mountpoint: dir, mountRoot: "/", cgroup: "/a/b" } };
    await primeCgroupAttach(host);
    expect(readFileSync(procs("a/b"), "utf8")).toBe(String(process.pid));
  });

  it("maps the cgroup below a mount of a sub-tree (a cgroup namespace, a nested container)", async () => {
    cgroupDir("b");
    const host: CgroupHost = { mode: "unified", root: dir, v1: [], unified: { mountpoint: dir, mountRoot: "/a", cgroup: "/a/b" } };
    await primeCgroupAttach(host);
    expect(readFileSync(procs("b"), "utf8")).toBe(String(process.pid));
  });

  it("writes nothing when its cgroup is outside what the mount shows", async () => {
    cgroupDir("");
    const host: CgroupHost = { mode: "unified", root: dir, v1: [], unified: { mountpoint: dir, mountRoot: "/x", cgroup: "/a" } };
    await primeCgroupAttach(host);
    expect(readFileSync(procs(""), "utf8")).toBe("");
  });

  it("prefers the pids hierarchy on v1 and never creates a cgroup.procs file", async () => {
    mkdirSync(join(dir, "pids/p"), { recursive: true });
    cgroupDir("cpu/c");
    const host: CgroupHost = {
      mode: "legacy",
      root: dir,
      v1: [
        { controllers: ["cpu"], mountpoint: join(dir, "cpu"), mountRoot: "/", cgroup: "/c" },
        { controllers: ["pids"], mountpoint: join(dir, "pids"), mountRoot: "/", cgroup: "/p" },
      ],
    };
    await primeCgroupAttach(host);
    expect(existsSync(join(dir, "pids/p/cgroup.procs"))).toBe(false);
    expect(readFileSync(procs("cpu/c"), "utf8")).toBe("");
  });
});
