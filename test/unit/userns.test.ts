import { describe, expect, it } from "vitest";
import { defaultStateRoot, honorXdgRuntimeDir } from "../../src/runtime/userns.ts";

const inNs = () => true;
const notInNs = () => false;

describe("runc's choice of the state root", () => {
  it("is /run/<name> for the real root, even with $XDG_RUNTIME_DIR set", () => {
    expect(defaultStateRoot("tsrunc", {}, 0, notInNs)).toBe("/run/tsrunc");
    expect(defaultStateRoot("tsrunc", { XDG_RUNTIME_DIR: "/run/user/0" }, 0, notInNs)).toBe("/run/tsrunc");
  });

  it("is $XDG_RUNTIME_DIR/<name> for an unprivileged user, /run/<name> without it", () => {
    expect(defaultStateRoot("tsrunc", { XDG_RUNTIME_DIR: "/run/user/1000" }, 1000, notInNs)).toBe("/run/user/1000/tsrunc");
    expect(defaultStateRoot("tsrunc", {}, 1000, notInNs)).toBe("/run/tsrunc");
  });

  it("is $XDG_RUNTIME_DIR/<name> for root in a user namespace (rootless podman) unless $USER is root", () => {
    expect(defaultStateRoot("tsrunc", { XDG_RUNTIME_DIR: "/run/user/1000" }, 0, inNs)).toBe("/run/user/1000/tsrunc");
    expect(defaultStateRoot("tsrunc", { XDG_RUNTIME_DIR: "/run/user/1000", USER: "alice" }, 0, inNs)).toBe("/run/user/1000/tsrunc");
    expect(honorXdgRuntimeDir({ XDG_RUNTIME_DIR: "/run/user/0", USER: "root" }, 0, inNs)).toBe(false);
  });
});
