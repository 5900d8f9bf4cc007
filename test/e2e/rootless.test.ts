// Rootless: `tsrunc spec --rootless` and running as an unprivileged user (nobody), without cgroup
// access. Needs root to set the scene (a user to switch to).
import { spawnSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { errors, haveBinary, isRoot, ROOTFS, TSRUNC } from "./helpers.ts";

const NOBODY = 65534;
const base = mkdtempSync(join(tmpdir(), "tsrunc-rootless-"));
afterAll(() => rmSync(base, { recursive: true, force: true }));

function asNobody(args: string[], cwd: string): { status: number | null; stdout: string; stderr: string } {
  const xdg = join(base, "xdg");
  const r = spawnSync("setpriv", ["--reuid", String(NOBODY), "--regid", String(NOBODY), "--clear-groups", TSRUNC, ...args], {
    cwd,
    encoding: "utf8",
    env: { PATH: process.env.PATH, XDG_RUNTIME_DIR: xdg, HOME: base },
    timeout: 20_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe.skipIf(!isRoot || !haveBinary)("rootless", () => {
  it("runs a container as an unprivileged user from a --rootless spec", () => {
    // A world-writable, sticky parent (like /tmp), then directories the user owns.
    chmodSync(base, 0o1777);
    for (const d of ["xdg", "bundle", "state"]) {
      mkdirSync(join(base, d), { mode: 0o700 });
      chownSync(join(base, d), NOBODY, NOBODY);
    }
    const bundle = join(base, "bundle");
    let r = asNobody(["spec", "--rootless"], bundle);
    expect(r.status).toBe(0);
    const config = JSON.parse(readFileSync(join(bundle, "config.json"), "utf8"));
    expect(config.linux.uidMappings).toEqual([{ containerID: 0, hostID: NOBODY, size: 1 }]);
    config.root.path = ROOTFS;
    config.process.terminal = false;
    config.process.args = ["sh", "-c", "id -u; cat /proc/self/uid_map | tr -s ' '; touch /tmp/x 2>&1 | grep -c Read-only"];
    writeFileSync(join(bundle, "config.json"), JSON.stringify(config));
    r = asNobody(["--root", join(base, "state"), "run", "rl1"], bundle);
    expect(errors(r)).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`0\n 0 ${NOBODY} 1\n1\n`);
    // the addon was loaded from the user's own directory, and nothing of the container is left
    expect(existsSync(join(base, "xdg", "tsrunc-native"))).toBe(true);
    expect(existsSync(join(base, "state", "rl1"))).toBe(false);
  });
});
