// `update` input (runc's flags, --resources documents), the merge into the stored config, and the
// `events` helpers (Go durations, runc's JSON lines). No root, no kernel.
import { describe, expect, it } from "vitest";
import { patchFromFlags, ramInBytes } from "../../src/cli/commands/update.ts";
import { eventLine, parseGoDuration } from "../../src/runtime/events.ts";
import { mergeResources, parseJsonExact, parseResourcesUpdate } from "../../src/runtime/update.ts";
import { emptyStats, finalizeStats } from "../../src/cgroups/stats.ts";

describe("ramInBytes (docker/go-units v0.4.0, as runc 1.1.5 parses --memory)", () => {
  it("takes binary units, case-insensitive, with optional i/b and one space", () => {
    expect(ramInBytes("64m")).toBe(64n << 20n);
    expect(ramInBytes("64MiB")).toBe(64n << 20n);
    expect(ramInBytes("64mb")).toBe(64n << 20n);
    expect(ramInBytes("64 k")).toBe(64n << 10n);
    expect(ramInBytes("0.5g")).toBe(1n << 29n);
    expect(ramInBytes("1024")).toBe(1024n);
    expect(ramInBytes("2ib")).toBe(2n);
    expect(ramInBytes("8p")).toBe(8n << 50n);
  });
  it("refuses what runc refuses, with its words", () => {
    expect(() => ramInBytes("-5")).toThrow("invalid size: '-5'");
    expect(() => ramInBytes("abc")).toThrow("invalid size: 'abc'");
    expect(() => ramInBytes("64x")).toThrow("invalid size: '64x'");
    expect(() => ramInBytes(" 64")).toThrow("invalid size: ' 64'");
    expect(() => ramInBytes("1e3")).toThrow("invalid size: '1e3'");
    expect(() => ramInBytes(".5m")).toThrow("invalid size: '.5m'");
    expect(() => ramInBytes("1.5.5m")).toThrow('strconv.ParseFloat: parsing "1.5.5": invalid syntax');
    expect(() => ramInBytes("99999999999p")).toThrow(/invalid size/);
  });
});

describe("patchFromFlags", () => {
  const none = () => {};
  it("turns runc's flags into a patch", () => {
    const p = patchFromFlags(
      { memory: "64m", "memory-swap": "-1", "memory-reservation": "1k", "cpu-share": "512", "cpu-quota": "-1", "cpu-period": "100000", "cpuset-cpus": "0", "pids-limit": 20, "blkio-weight": 300 },
      none,
    );
    expect(p).toEqual({
      memory: { limit: 64n << 20n, swap: -1n, reservation: 1024n },
      cpu: { shares: 512n, quota: -1n, period: 100000n, cpus: "0" },
      blockIO: { weight: 300 },
      pids: { limit: 20n },
    });
  });
  it("names the flag of a bad value, in runc's words", () => {
    expect(() => patchFromFlags({ memory: "abc" }, none)).toThrow("invalid value for memory: invalid size: 'abc'");
    expect(() => patchFromFlags({ "memory-swap": "-2" }, none)).toThrow("invalid value for memory-swap: invalid size: '-2'");
    expect(() => patchFromFlags({ "cpu-share": "-3" }, none)).toThrow('invalid value for cpu-share: strconv.ParseUint: parsing "-3": invalid syntax');
    expect(() => patchFromFlags({ "cpu-period": "99999999999999999999" }, none)).toThrow("value out of range");
    expect(() => patchFromFlags({ "cpu-quota": "x" }, none)).toThrow('invalid value for cpu-quota: strconv.ParseInt: parsing "x": invalid syntax');
  });
  it("refuses negative limits other than -1 (runc would hand them to the kernel)", () => {
    expect(() => patchFromFlags({ "pids-limit": -5 }, none)).toThrow("invalid value for pids-limit: -5");
    expect(() => patchFromFlags({ "cpu-quota": "-5" }, none)).toThrow("invalid value for cpu-quota: -5");
    expect(() => patchFromFlags({ "cpu-rt-runtime": "-2" }, none)).toThrow("invalid value for cpu-rt-runtime: -2");
    expect(patchFromFlags({ "pids-limit": -1 }, none).pids).toEqual({ limit: -1n });
  });
  it("warns once about kernel memory flags and ignores them", () => {
    const warnings: string[] = [];
    const p = patchFromFlags({ "kernel-memory": "10m", "kernel-memory-tcp": "1m" }, (m) => warnings.push(m));
    expect(warnings).toEqual(["Kernel memory settings are ignored and will be removed"]);
    expect(p.memory).toEqual({});
  });
});

describe("parseResourcesUpdate", () => {
  it("takes the fields runc's update reads; null means unchanged", () => {
    expect(parseResourcesUpdate({ memory: { limit: 1024, swap: null }, cpu: { cpus: "0-1", idle: 1 }, pids: { limit: -1 }, unified: { "memory.high": "1G" } })).toEqual({
      memory: { limit: 1024 },
      cpu: { cpus: "0-1", idle: 1 },
      pids: { limit: -1 },
      unified: { "memory.high": "1G" },
    });
    expect(parseResourcesUpdate(null)).toEqual({});
  });
  it("names the field of a wrong type or a negative limit", () => {
    expect(() => parseResourcesUpdate({ memory: { limit: "64m" } })).toThrow('invalid resources: memory.limit: expected an integer, got the string "64m"');
    expect(() => parseResourcesUpdate({ memory: { limit: 1.5 } })).toThrow("invalid resources: memory.limit: expected an integer, got number 1.5");
    expect(() => parseResourcesUpdate({ memory: { limit: -5 } })).toThrow("invalid resources: memory.limit: -5 is out of range: must be -1 (no limit) or a non-negative number");
    expect(() => parseResourcesUpdate({ pids: { limit: -7 } })).toThrow("invalid resources: pids.limit: -7 is out of range");
    expect(() => parseResourcesUpdate({ cpu: { shares: -3 } })).toThrow("invalid resources: cpu.shares: -3 is out of range: must not be negative");
    expect(() => parseResourcesUpdate({ cpu: { cpus: 5 } })).toThrow("invalid resources: cpu.cpus: expected string, got number 5");
    expect(() => parseResourcesUpdate({ memory: 5 })).toThrow("invalid resources: memory: expected object, got number 5");
    expect(() => parseResourcesUpdate({ unified: { a: 1 } })).toThrow("invalid resources: unified.a: expected string, got number 1");
    expect(() => parseResourcesUpdate([])).toThrow("invalid resources: expected an object, got an array");
    expect(() => parseResourcesUpdate({ memory: { limit: 2n ** 63n } })).toThrow("out of range");
  });
  it("warns about fields update does not change (runc ignores them silently)", () => {
    const w: string[] = [];
    parseResourcesUpdate({ devices: [], hugepageLimits: [], memory: { swappiness: 10 }, blockIO: { weight: 100, throttleReadBpsDevice: [] } }, (m) => w.push(m));
    expect(w).toEqual([
      "linux.resources.devices cannot be changed by update: ignored (as runc does)",
      "linux.resources.hugepageLimits cannot be changed by update: ignored (as runc does)",
      "linux.resources.blockIO.throttleReadBpsDevice cannot be changed by update: ignored (as runc does)",
      "linux.resources.memory.swappiness cannot be changed by update: ignored (as runc does)",
    ]);
  });
  it("keeps integers past 2^53 exact where the engine allows", () => {
    const doc = parseJsonExact('{"memory":{"limit":9223372036854775807}}') as any;
    // Bun gives JSON.parse the source text; node 20 does not (the value is then a rounded number).
    if (typeof doc.memory.limit === "bigint") expect(doc.memory.limit).toBe(2n ** 63n - 1n);
    else expect(doc.memory.limit).toBe(9223372036854775807);
  });
});

describe("mergeResources", () => {
  const old = { memory: { limit: 64 << 20, swap: 128 << 20 }, cpu: { shares: 1024, cpus: "0-1" }, pids: { limit: 100 }, devices: [{ allow: false, access: "rwm" }] };
  it("replaces given fields and keeps the rest (devices included)", () => {
    expect(mergeResources(old, { memory: { limit: 32n << 20n }, cpu: { quota: 50000n } })).toEqual({
      memory: { limit: 32n << 20n, swap: 128 << 20 },
      cpu: { shares: 1024, cpus: "0-1", quota: 50000n },
      pids: { limit: 100 },
      devices: [{ allow: false, access: "rwm" }],
    });
  });
  it("makes swap unlimited with an unlimited memory limit and no swap given (runc)", () => {
    expect(mergeResources(old, { memory: { limit: -1n } }).memory).toEqual({ limit: -1n, swap: -1 });
  });
  it("takes 0 pids, 0 weight and empty cpus/mems as unchanged", () => {
    const m = mergeResources(old, { pids: { limit: 0 }, cpu: { cpus: "", mems: "" }, blockIO: { weight: 0 } });
    expect(m.pids).toEqual({ limit: 100 });
    expect(m.cpu).toEqual({ shares: 1024, cpus: "0-1" });
    expect(m.blockIO).toBeUndefined();
  });
  it("does not change the stored object", () => {
    const copy = structuredClone(old);
    mergeResources(old, { memory: { limit: 1n }, unified: { "pids.max": "5" } });
    expect(old).toEqual(copy);
  });
});

describe("events helpers", () => {
  it("parses Go durations", () => {
    expect(parseGoDuration("5s")).toBe(5000);
    expect(parseGoDuration("250ms")).toBe(250);
    expect(parseGoDuration("1m30s")).toBe(90_000);
    expect(parseGoDuration("1.5h")).toBe(5_400_000);
    expect(parseGoDuration("1.s")).toBe(1000);
    expect(parseGoDuration("100us")).toBe(0.1);
    expect(parseGoDuration("0")).toBe(0);
    expect(parseGoDuration("-1s")).toBe(-1000);
    for (const bad of ["1", "abc", "", "s", "1.5.5s", "5 s", "1d"]) expect(parseGoDuration(bad)).toBeUndefined();
  });
  it("writes runc's event lines", () => {
    expect(eventLine({ type: "oom", id: "c1" })).toBe('{"type":"oom","id":"c1"}\n');
    const line = eventLine({ type: "stats", id: "c1", data: finalizeStats(emptyStats()) });
    expect(line.startsWith('{"type":"stats","id":"c1","data":{"cpu":{"usage":{"kernel":0,"user":0},"throttling":{}},"cpuset":')).toBe(true);
    expect(Object.keys(JSON.parse(line).data)).toEqual(["cpu", "cpuset", "memory", "pids", "blkio", "hugetlb", "intel_rdt", "network_interfaces"]);
  });
});
