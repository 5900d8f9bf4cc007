import { describe, expect, it } from "vitest";
import { checkStateFile } from "../../src/runtime/state.ts";

const good = {
  id: "c1",
  bundle: "/b",
  rootfs: "/b/rootfs",
  pid: 42,
  pidStartTime: 1234,
  created: "2024-01-01T00:00:00.000000000Z",
  owner: "",
  annotations: { a: "b" },
  config: { ociVersion: "1.3.0" },
  cgroup: { version: 1 },
  rootless: false,
  systemdCgroup: false,
};

describe("checkStateFile", () => {
  it("accepts what create writes, optional fields or not", () => {
    expect(checkStateFile(good)).toEqual({ ok: true, state: good });
    const { annotations: _a, cgroup: _c, ...minimal } = good;
    expect(checkStateFile(minimal).ok).toBe(true);
    expect(checkStateFile({ ...good, noNewKeyring: true }).ok).toBe(true);
  });

  it("names every missing or mistyped field", () => {
    const { id: _id, ...noId } = good;
    const r = checkStateFile({ ...noId, pid: "42", annotations: { a: 1 }, config: [], rootless: "no" });
    expect(r).toEqual({
      ok: false,
      problems: ["id: missing", "pid: expected a number", "annotations: expected an object of strings", "config: expected an object", "rootless: expected a boolean"],
    });
    expect(checkStateFile(null)).toEqual({ ok: false, problems: ["not an object"] });
    expect(checkStateFile([good]).ok).toBe(false);
  });
});
