import { describe, expect, it } from "vitest";
import {
  DeviceEmulator,
  type LinuxDeviceCgroup,
  deviceRuleString,
  deviceRulesFromSpec,
  stringifyJSON,
} from "../../src/cgroups/index.ts";

const rules = (r: LinuxDeviceCgroup[]) => deviceRulesFromSpec(r);
const strs = (l: ReturnType<DeviceEmulator["transition"]>) => l.map((r) => `${r.allow ? "allow" : "deny"} ${deviceRuleString(r)}`);

describe("deviceRulesFromSpec", () => {
  it("fills runc's defaults: type a, any major/minor; orders access as rwm", () => {
    expect(rules([{ allow: false, access: "mwr" }, { allow: true, type: "c", major: 1, minor: null, access: "rw" }])).toEqual([
      { type: "a", major: -1, minor: -1, access: "rwm", allow: false },
      { type: "c", major: 1, minor: -1, access: "rw", allow: true },
    ]);
  });
  it("rejects an empty access (as runc) and unknown types or modes", () => {
    expect(() => rules([{ allow: true, type: "c" }])).toThrow("device access at 0 field cannot be empty");
    expect(() => rules([{ allow: true, type: "p", access: "r" }])).toThrow('invalid cgroup device type "p"');
    expect(() => rules([{ allow: true, access: "rx" }])).toThrow(/invalid device access "rx"/);
  });
  it("prints rules the way devices.allow takes them", () => {
    expect(deviceRuleString({ type: "c", major: 136, minor: -1, access: "rwm", allow: true })).toBe("c 136:* rwm");
    expect(deviceRuleString({ type: "a", major: -1, minor: -1, access: "rwm", allow: false })).toBe("a *:* rwm");
  });
});

describe("DeviceEmulator", () => {
  it("reads devices.list (allow-all, or a list of exceptions)", () => {
    expect(DeviceEmulator.fromList("a *:* rwm\n").defaultAllow).toBe(true);
    const e = DeviceEmulator.fromList("c 1:3 rwm\nc 1:5 r\nb 8:* rw\n");
    expect(e.defaultAllow).toBe(false);
    expect([...e.rules]).toEqual([
      ["c 1 3", "rwm"],
      ["c 1 5", "r"],
      ["b 8 -1", "rw"],
    ]);
    expect(() => DeviceEmulator.fromList("x 1:3 rwm\n")).toThrow(/unknown device type/);
  });

  it("goes from allow-all to an allow-list by denying all first", () => {
    const from = DeviceEmulator.fromList("a *:* rwm\n");
    const to = DeviceEmulator.fromRules(rules([{ allow: false, access: "rwm" }, { allow: true, type: "c", major: 1, minor: 3, access: "rwm" }]));
    expect(strs(from.transition(to))).toEqual(["deny a *:* rwm", "allow c 1:3 rwm"]);
  });

  it("edits an allow-list in place: drops and gains only what differs", () => {
    const from = DeviceEmulator.fromList("c 1:3 rwm\nc 1:5 rwm\nc 5:0 rw\n");
    const to = DeviceEmulator.fromRules(
      rules([
        { allow: false, access: "rwm" },
        { allow: true, type: "c", major: 1, minor: 3, access: "rwm" },
        { allow: true, type: "c", major: 1, minor: 5, access: "r" },
        { allow: true, type: "c", major: 1, minor: 9, access: "rwm" },
      ]),
    );
    expect(strs(from.transition(to))).toEqual(["deny c 1:5 wm", "deny c 5:0 rw", "allow c 1:9 rwm"]);
    expect(from.transition(from)).toEqual([]);
  });

  it("models later rules overriding earlier ones", () => {
    const e = DeviceEmulator.fromRules(
      rules([
        { allow: false, access: "rwm" },
        { allow: true, type: "c", major: 1, minor: 3, access: "rwm" },
        { allow: false, type: "c", major: 1, minor: 3, access: "w" },
        { allow: true, access: "rwm" },
        { allow: false, type: "b", major: 8, minor: 0, access: "rwm" },
      ]),
    );
    expect(e.defaultAllow).toBe(true);
    expect([...e.rules]).toEqual([["b 8 0", "rwm"]]);
    // A deny-list can't be edited: the default is reset first.
    expect(strs(DeviceEmulator.fromList("a *:* rwm\n").transition(e))).toEqual(["allow a *:* rwm", "deny b 8:0 rwm"]);
  });

  it("refuses to punch a hole in a wildcard rule, as cgroup v1 can't", () => {
    expect(() =>
      DeviceEmulator.fromRules(
        rules([
          { allow: false, access: "rwm" },
          { allow: true, type: "c", major: 1, access: "rwm" },
          { allow: false, type: "c", major: 1, minor: 3, access: "r" },
        ]),
      ),
    ).toThrow(/cannot punch hole in existing wildcard rule \[c 1:\* rwm\]/);
  });
});

describe("stringifyJSON", () => {
  it("prints bigints exactly and leaves undefined members out", () => {
    expect(stringifyJSON({ a: 18446744073709551615n, b: undefined, c: [1n, "x", null], d: { e: true } })).toBe(
      '{"a":18446744073709551615,"c":[1,"x",null],"d":{"e":true}}',
    );
  });
});
