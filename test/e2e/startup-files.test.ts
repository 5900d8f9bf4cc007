// A compiled Bun binary, by default, reads bunfig.toml and .env from its current directory at
// start-up: a bunfig.toml `preload` would run its code inside tsrunc (as root), a .env would set its
// environment. scripts/build.sh turns both off; this checks the built binary ignores them.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { haveBinary, TSRUNC } from "./helpers.ts";

const dir = mkdtempSync(join(tmpdir(), "tsrunc-startup-files-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!haveBinary)("files in the current directory", () => {
  it("runs no bunfig.toml preload and loads no .env", () => {
    const marker = join(dir, "preloaded");
    writeFileSync(join(dir, "preload.js"), `require("fs").writeFileSync(${JSON.stringify(marker)}, "ran");\n`);
    writeFileSync(join(dir, "bunfig.toml"), 'preload = ["./preload.js"]\n');
    writeFileSync(join(dir, ".env"), "TSRUNC_TRACE_TIMING=1\n");
    const r = spawnSync(TSRUNC, ["--root", join(dir, "state"), "list"], { cwd: dir, encoding: "utf8" });
    expect(r.status).toBe(0);
    expect(existsSync(marker)).toBe(false);
    expect(r.stderr).not.toContain("tsrunc-timing");
  });
});
