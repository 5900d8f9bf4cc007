// The systemd cgroup driver without systemd: the D-Bus marshalling (round trips, and bytes a real
// dbus-daemon sent), the unit properties runc derives, and the driver against a fake systemd that
// speaks the wire protocol (in memory, and over a pair of real FIFOs).
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  type BusStream,
  type CgroupManager,
  type CgroupManagerOptions,
  detectCgroupHost,
  fdStream,
  loadCgroupManager,
  newCgroupManager,
} from "../../src/cgroups/index.ts";
import {
  DbusConnection,
  DbusProtocolError,
  DbusTimeoutError,
  ERROR,
  type Message,
  METHOD_CALL,
  METHOD_RETURN,
  SIGNAL,
  Variant,
  decodeMessage,
  encodeMessage,
  marshal,
  messageLength,
  splitSignature,
  unmarshal,
} from "../../src/cgroups/systemd/dbus.ts";
import { annotationProperties, parseGVariant, rangeToBits, resourceProperties, startProperties, type UnitProperty } from "../../src/cgroups/systemd/properties.ts";
import { unixPaths } from "../../src/cgroups/systemd/systemd1.ts";
import { FakeKernel, HYBRID_LIKE_THIS_HOST } from "./cgroups-fake.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const bytes = (h: string) => new Uint8Array(Buffer.from(h.replace(/\s+/g, ""), "hex"));

// ---- marshalling ---------------------------------------------------------------------------------

describe("D-Bus marshalling", () => {
  it("writes basic types little-endian, each aligned to its size", () => {
    expect(hex(marshal("s", ["abc"]))).toBe("03000000" + "61626300");
    expect(hex(marshal("yu", [1, 2]))).toBe("01000000" + "02000000");
    expect(hex(marshal("yt", [255, 1n]))).toBe("ff00000000000000" + "0100000000000000");
    expect(hex(marshal("bn", [true, -2]))).toBe("01000000" + "feff");
    expect(hex(marshal("g", ["a(sv)"]))).toBe("05" + "612873762900");
    expect(hex(marshal("o", ["/a/b"]))).toBe("04000000" + "2f612f6200");
    expect(hex(marshal("d", [1.5]))).toBe("000000000000f83f");
    expect(hex(marshal("x", [-1n]))).toBe("ffffffffffffffff");
  });

  it("writes a(sv) with the struct padding and the array length that excludes it", () => {
    const b = marshal("a(sv)", [[["Delegate", new Variant("b", true)]]]);
    // length 20 | pad to 8 | "Delegate" | variant "b" | true
    expect(hex(b)).toBe("14000000" + "00000000" + "08000000" + hex(Buffer.from("Delegate\0")) + "016200" + "01000000");
    expect(unmarshal("a(sv)", b)).toEqual([[["Delegate", new Variant("b", true)]]]);
  });

  it("writes an empty array of 8-aligned elements with its padding (and length 0)", () => {
    expect(hex(marshal("ya(ss)", [7, []]))).toBe("07000000" + "00000000");
  });

  it("round-trips every type it knows", () => {
    const sig = "ybnqiuxtdsogva{sv}(iay)aay";
    const values = [
      200,
      false,
      -300,
      65000,
      -70000,
      4000000000,
      -(1n << 62n),
      (1n << 64n) - 1n,
      -0.25,
      "ünïcode ✓",
      "/org/freedesktop/systemd1/unit/init_2escope",
      "a(sv)",
      new Variant("as", ["x", "y"]),
      [
        ["a", new Variant("t", 5n)],
        ["b", new Variant("v", new Variant("s", "nested"))],
      ],
      [42, new Uint8Array([1, 2, 3])],
      [new Uint8Array([]), new Uint8Array([0xff])],
    ];
    const out = unmarshal(sig, marshal(sig, values));
    expect(out).toEqual(values);
  });

  it("reads big-endian values when a message says so", () => {
    expect(unmarshal("qut", bytes("0102 0000 01020304 0000000000000005"), false)).toEqual([0x0102, 0x01020304, 5n]);
  });

  it("refuses values that don't fit the signature", () => {
    expect(() => marshal("y", [256])).toThrow(/cannot marshal 256 as D-Bus type y/);
    expect(() => marshal("u", [-1])).toThrow(DbusProtocolError);
    expect(() => marshal("t", [-1n])).toThrow(/as D-Bus type t/);
    expect(() => marshal("s", [5])).toThrow(/as D-Bus type s/);
    expect(() => marshal("s", ["a\0b"])).toThrow(/as D-Bus type s/);
    expect(() => marshal("o", ["not/a/path"])).toThrow(/invalid object path/);
    expect(() => marshal("(su)", [["a"]])).toThrow(/as D-Bus type \(su\)/);
    expect(() => marshal("v", ["plain"])).toThrow(/as D-Bus type v/);
    expect(() => marshal("ss", ["only one"])).toThrow(/2 types but 1 values/);
  });

  it("splits signatures into complete types and refuses broken ones", () => {
    expect(splitSignature("ssa(sv)a(sa(sv))")).toEqual(["s", "s", "a(sv)", "a(sa(sv))"]);
    expect(splitSignature("a{sv}ay")).toEqual(["a{sv}", "ay"]);
    for (const bad of ["a", "(s", "()", "a{vs}", "a{s}", "z", "{sv}"]) expect(() => splitSignature(bad)).toThrow(DbusProtocolError);
  });

  it("refuses truncated or malformed input", () => {
    expect(() => unmarshal("u", bytes("0100"))).toThrow(/ends inside a value/);
    expect(() => unmarshal("s", bytes("02000000 6161 01"))).toThrow(/nul byte/);
    expect(() => unmarshal("b", bytes("02000000"))).toThrow(/boolean with value 2/);
    expect(() => unmarshal("yu", bytes("01 ff0000 02000000"))).toThrow(/non-zero alignment padding/);
    expect(() => unmarshal("y", bytes("0102"))).toThrow(/1 bytes left/);
  });
});

describe("D-Bus messages", () => {
  // What dbus-daemon 1.14 sent back for Hello (serial 1): the reply ":1.0", then NameAcquired.
  const helloReply =
    "6c02010109000000010000003d00000006017300040000003a312e30000000000501750001000000080167000173000007017300140000006f72672e667265656465736b746f702e4442757300000000040000003a312e3000";
  const nameAcquired =
    "6c04010109000000020000008d00000001016f00150000002f6f72672f667265656465736b746f702f4442757300000002017300140000006f72672e667265656465736b746f702e4442757300000000030173000c0000004e616d6541637175697265640000000006017300040000003a312e3000000000080167000173000007017300140000006f72672e667265656465736b746f702e4442757300000000040000003a312e3000";

  it("reads what a real dbus-daemon sent", () => {
    const stream = bytes(helloReply + nameAcquired);
    const n = messageLength(stream)!;
    expect(n).toBe(helloReply.length / 2);
    expect(decodeMessage(stream.subarray(0, n))).toEqual({
      type: METHOD_RETURN,
      flags: 1,
      serial: 1,
      replySerial: 1,
      destination: ":1.0",
      sender: "org.freedesktop.DBus",
      signature: "s",
      body: [":1.0"],
    });
    const sig = decodeMessage(stream.subarray(n));
    expect(sig).toMatchObject({ type: SIGNAL, path: "/org/freedesktop/DBus", interface: "org.freedesktop.DBus", member: "NameAcquired", body: [":1.0"] });
  });

  it("writes Hello byte for byte as dbus-daemon accepted it", () => {
    const hello = encodeMessage({
      type: METHOD_CALL,
      serial: 1,
      path: "/org/freedesktop/DBus",
      interface: "org.freedesktop.DBus",
      member: "Hello",
      destination: "org.freedesktop.DBus",
    });
    expect(hex(hello)).toBe(
      "6c01000100000000010000006d00000001016f00150000002f6f72672f667265656465736b746f702f4442757300000002017300140000006f72672e667265656465736b746f702e4442757300000000030173000500000048656c6c6f00000006017300140000006f72672e667265656465736b746f702e4442757300000000",
    );
  });

  it("round-trips a call with a body", () => {
    const m: Message = {
      type: METHOD_CALL,
      flags: 0,
      serial: 7,
      path: "/org/freedesktop/systemd1",
      interface: "org.freedesktop.systemd1.Manager",
      member: "StartTransientUnit",
      destination: "org.freedesktop.systemd1",
      signature: "ssa(sv)a(sa(sv))",
      body: ["runc-x.scope", "replace", [["PIDs", new Variant("au", [1234])]], []],
    };
    const wire = encodeMessage(m);
    expect(wire.length % 8).toBe(messageLength(wire)! % 8);
    expect(decodeMessage(wire)).toEqual(m);
  });
});

// ---- unit properties -----------------------------------------------------------------------------

const names = (ps: UnitProperty[]) => ps.map((p) => p.name);
const asObj = (ps: UnitProperty[]) => ps.map((p) => [p.name, p.value.signature, p.value.value]);
const U64_MAX = (1n << 64n) - 1n;

describe("unit properties (runc 1.1's)", () => {
  it("starts a scope in its slice, delegated, with the pid and accounting on", () => {
    const ps = startProperties({ containerId: "c1", unitName: "runc-c1.scope", slice: "system.slice", pid: 42, kind: "v2", extra: [] });
    expect(asObj(ps)).toEqual([
      ["Description", "s", "libcontainer container c1"],
      ["Slice", "s", "system.slice"],
      ["Delegate", "b", true],
      ["PIDs", "au", [42]],
      ["MemoryAccounting", "b", true],
      ["CPUAccounting", "b", true],
      ["IOAccounting", "b", true],
      ["TasksAccounting", "b", true],
      ["DefaultDependencies", "b", false],
    ]);
  });

  it("starts a slice with Wants=, and v1 accounts block IO; annotation properties come last", () => {
    const extra = annotationProperties({ "org.systemd.property.CollectMode": "'inactive-or-failed'" });
    const ps = startProperties({ containerId: "c1", unitName: "pod.slice", slice: "kube.slice", pid: 42, kind: "v1", extra });
    expect(asObj(ps).slice(0, 2)).toEqual([
      ["Description", "s", "libcontainer container c1"],
      ["Wants", "as", ["kube.slice"]],
    ]);
    expect(names(ps)).not.toContain("Delegate");
    expect(names(ps)).toContain("BlockIOAccounting");
    expect(names(ps)).not.toContain("IOAccounting");
    expect(asObj(ps).at(-1)).toEqual(["CollectMode", "s", "inactive-or-failed"]);
  });

  const fsWith = (procDevices = "Character devices:\n  1 mem\n  5 /dev/tty\n\nBlock devices:\n  8 sd\n253 device-mapper\n") => {
    const k = new FakeKernel({ unified: "root" });
    return { k, fs: { ...nodeFsOf(k), read: (p: string) => (p === "/proc/devices" ? procDevices : k.read(p)) } };
  };
  let kernels: FakeKernel[] = [];
  afterEach(() => {
    for (const k of kernels) k.cleanup();
    kernels = [];
  });
  const ctx = (systemdVersion = 252) => {
    const { k, fs } = fsWith();
    kernels.push(k);
    return { systemdVersion, fs };
  };

  it("maps v2 resources as genV2ResourcesProperties does", () => {
    const r = {
      memory: { limit: 100 * 2 ** 20, reservation: 50 * 2 ** 20, swap: 300 * 2 ** 20 },
      cpu: { shares: 1024, quota: 12345, period: 100000, cpus: "0-2,7", mems: "1" },
      pids: { limit: -1 },
    };
    expect(asObj(resourceProperties(r, "v2", ctx()))).toEqual([
      ["MemoryMax", "t", 104857600n],
      ["MemoryLow", "t", 52428800n],
      ["MemorySwapMax", "t", 209715200n],
      ["CPUWeight", "t", 39n],
      ["CPUQuotaPeriodUSec", "t", 100000n],
      ["CPUQuotaPerSecUSec", "t", 130000n], // 123450 rounded up to whole percents
      ["TasksMax", "t", U64_MAX],
      ["AllowedCPUs", "ay", new Uint8Array([0x87])],
      ["AllowedMemoryNodes", "ay", new Uint8Array([0x02])],
    ]);
  });

  it("leaves out what older systemd lacks, and unlimited is 2^64-1", () => {
    const r = { memory: { limit: -1 }, cpu: { quota: -1, period: 50000, cpus: "1" } };
    expect(asObj(resourceProperties(r, "v2", ctx(241)))).toEqual([
      ["MemoryMax", "t", U64_MAX],
      ["MemorySwapMax", "t", U64_MAX],
      ["CPUQuotaPerSecUSec", "t", U64_MAX],
    ]);
    expect(asObj(resourceProperties({ cpu: { quota: 50000 } }, "v2", ctx()))).toEqual([["CPUQuotaPerSecUSec", "t", 500000n]]);
  });

  it("maps v1 resources as genV1ResourcesProperties does", () => {
    const r = { memory: { limit: 1000000 }, cpu: { shares: 512 }, blockIO: { weight: 300 }, pids: { limit: 10 } };
    expect(asObj(resourceProperties(r, "v1", ctx()))).toEqual([
      ["MemoryLimit", "t", 1000000n],
      ["CPUShares", "t", 512n],
      ["BlockIOWeight", "t", 300n],
      ["TasksMax", "t", 10n],
    ]);
  });

  it("maps unified entries systemd knows, and ignores the rest", () => {
    const r = { unified: { "memory.high": "max", "memory.min": " 4096 ", "cpu.max": "max 50000", "pids.max": "10", "cpu.weight": "7", "io.weight": "50" } };
    expect(asObj(resourceProperties(r, "v2", ctx()))).toEqual([
      ["MemoryHigh", "t", U64_MAX],
      ["MemoryMin", "t", 4096n],
      ["CPUQuotaPeriodUSec", "t", 50000n],
      ["CPUQuotaPerSecUSec", "t", U64_MAX],
      ["TasksMax", "t", 10n],
      ["CPUWeight", "t", 7n],
    ]);
    expect(() => resourceProperties({ unified: { "memory.max": "lots" } }, "v2", ctx())).toThrow(/unified resource "memory.max" value conversion error/);
  });

  it("turns device rules into a strict allow-list systemd can express", () => {
    const warnings: string[] = [];
    const devices = [
      { allow: false, access: "rwm" },
      { allow: true, type: "c", major: 1, minor: 3, access: "rwm" },
      { allow: true, type: "c", access: "m" },
      { allow: true, type: "b", major: 8, access: "r" },
      { allow: true, type: "b", major: 99, access: "r" }, // no such group
      { allow: true, type: "c", minor: 5, access: "w" }, // *:5 can't be said
    ];
    const ps = resourceProperties({ devices }, "v2", { ...ctx(), warn: (m) => warnings.push(m) });
    expect(asObj(ps)).toEqual([
      ["DevicePolicy", "s", "strict"],
      ["DeviceAllow", "a(ss)", []],
      [
        "DeviceAllow",
        "a(ss)",
        [
          ["char-*", "m"],
          ["/dev/char/1:3", "rwm"],
          ["block-sd", "r"],
        ],
      ],
    ]);
    expect(warnings).toHaveLength(2);
    expect(warnings.join("\n")).toContain("could not find device group for 'b/99'");
    expect(warnings.join("\n")).toContain("systemd doesn't support '*:n' device rules");
    expect(asObj(resourceProperties({ devices: [{ allow: true, access: "rwm" }] }, "v2", ctx()))).toEqual([
      ["DevicePolicy", "s", "auto"],
      ["DeviceAllow", "a(ss)", []],
    ]);
    // A deny-list: systemd can't, so deny everything meanwhile (the cgroup writes do it exactly).
    const deny = resourceProperties({ devices: [{ allow: true, access: "rwm" }, { allow: false, type: "c", major: 1, minor: 3, access: "w" }] }, "v2", { ...ctx(), warn: (m) => warnings.push(m) });
    expect(names(deny)).toEqual(["DevicePolicy", "DeviceAllow"]);
    expect(resourceProperties({ devices }, "v2", { ...ctx(), skipDevices: true })).toEqual([]);
  });

  it("converts cpu lists to systemd's bitmask bytes (runc's RangeToBits)", () => {
    expect([...rangeToBits("0")]).toEqual([1]);
    expect([...rangeToBits("9")]).toEqual([0, 2]);
    expect([...rangeToBits(" 0-3 , 8,,")]).toEqual([0x0f, 0x01]);
    expect(() => rangeToBits("3-1")).toThrow(/invalid range: 3-1/);
    expect(() => rangeToBits("")).toThrow(/empty value/);
    expect(() => rangeToBits("x")).toThrow(/invalid number/);
  });

  it("reads org.systemd.property.* annotations in the GVariant text format, Sec as USec", () => {
    const ps = annotationProperties({
      "org.systemd.property.TimeoutStopSec": "17",
      "org.systemd.property.RuntimeMaxSec": "1.5",
      "org.systemd.property.TimeoutStartUSec": "uint64 123456789",
      "org.systemd.property.CollectMode": "'inactive-or-failed'",
      "org.systemd.property.Wants": "@as []",
      "org.systemd.property.IOSchedulingClass": "int32 2",
      "other.annotation": "ignored",
    });
    expect(asObj(ps)).toEqual([
      ["TimeoutStopUSec", "t", 17000000n],
      ["RuntimeMaxUSec", "t", 1500000n],
      ["TimeoutStartUSec", "t", 123456789n],
      ["CollectMode", "s", "inactive-or-failed"],
      ["Wants", "as", []],
      ["IOSchedulingClass", "i", 2],
    ]);
    expect(() => annotationProperties({ "org.systemd.property.Ab": "1" })).toThrow(/name incorrect: too short/);
    expect(() => annotationProperties({ "org.systemd.property.Bad-Name": "1" })).toThrow(/name incorrect: contains non-alphabetic character/);
    expect(() => annotationProperties({ "org.systemd.property.Foo": "nope" })).toThrow(/Foo=nope value parse error/);
    expect(() => annotationProperties({ "org.systemd.property.FooSec": "'x'" })).toThrow(/value parse error: not a number/);
  });

  it("parses GVariant text: booleans, typed numbers, strings, arrays, tuples, variants", () => {
    const p = (t: string) => {
      const v = parseGVariant(t);
      return [v.signature, v.value];
    };
    expect(p("true")).toEqual(["b", true]);
    expect(p("int64 -5")).toEqual(["x", -5n]);
    expect(p("@t 7")).toEqual(["t", 7n]);
    expect(p('"a\\"b"')).toEqual(["s", 'a"b']);
    expect(p("[1, 2]")).toEqual(["ai", [1, 2]]);
    expect(p("['a', 'b']")).toEqual(["as", ["a", "b"]]);
    expect(p("('x', uint32 3)")).toEqual(["(su)", ["x", 3]]);
    expect(p("<'v'>")).toEqual(["v", new Variant("s", "v")]);
    expect(p("@a(ss) []")).toEqual(["a(ss)", []]);
    expect(() => parseGVariant("[]")).toThrow(/type of an empty array/);
    expect(() => parseGVariant("[1, 'a']")).toThrow(/expected a value of type i/);
    expect(() => parseGVariant("byte 300")).toThrow(/out of range/);
    expect(() => parseGVariant("1 2")).toThrow(/after the value/);
  });
});

/** FakeKernel's CgroupFs methods as a plain object (to override one). */
function nodeFsOf(k: FakeKernel) {
  return {
    read: (p: string) => k.read(p),
    write: (p: string, d: string) => k.write(p, d),
    mkdir: (p: string) => k.mkdir(p),
    rmdir: (p: string) => k.rmdir(p),
    exists: (p: string) => k.exists(p),
    subdirs: (p: string) => k.subdirs(p),
    statfsType: () => k.statfsType(),
  };
}

// ---- a fake systemd --------------------------------------------------------------------------------

const JOB = "/org/freedesktop/systemd1/job/";

/** systemd's Manager over D-Bus, in memory: answers what it is written synchronously, queues the
 * bytes for read(). read() returning null stands for a silent peer (the client's wait timed out). */
class FakeSystemd implements BusStream {
  /** On a bus: expects Hello and AddMatch. */
  bus = false;
  version = "252.38-1~deb12u1";
  /** Result of start jobs; null: never send JobRemoved. */
  startResult: string | null = "done";
  stopResult = "done";
  /** StartTransientUnit answers UnitExists this many times. */
  unitExists = 0;
  /** Refuse authentication. */
  reject = false;
  readonly calls: Message[] = [];
  readonly units = new Set<string>();
  authLine = "";
  closed = false;
  onStart?: (name: string, props: [string, Variant][]) => void;
  onStop?: (name: string) => void;
  private inbuf = new Uint8Array(0);
  private out: Uint8Array[] = [];
  private authed = false;
  private serial = 100;
  private jobs = 0;

  /** A new connection to the same systemd. */
  connect(): this {
    this.inbuf = new Uint8Array(0);
    this.out = [];
    this.authed = false;
    this.closed = false;
    return this;
  }

  write(data: Uint8Array): void {
    const next = new Uint8Array(this.inbuf.length + data.length);
    next.set(this.inbuf);
    next.set(data, this.inbuf.length);
    this.inbuf = next;
    this.process();
  }

  read(): Uint8Array | null {
    if (this.out.length === 0) return this.closed ? new Uint8Array(0) : null;
    const all = Buffer.concat(this.out);
    this.out = [];
    return new Uint8Array(all);
  }

  close(): void {
    this.closed = true;
  }

  /** Bytes waiting for the client. */
  pending(): boolean {
    return this.out.length > 0;
  }

  private process(): void {
    while (!this.authed) {
      const i = this.inbuf.indexOf(0x0a);
      if (i < 0) return;
      const line = Buffer.from(this.inbuf.subarray(0, i + 1)).toString("latin1");
      this.inbuf = this.inbuf.slice(i + 1);
      if (line.startsWith("\0AUTH ")) {
        this.authLine = line;
        this.send(Buffer.from(this.reject ? "REJECTED EXTERNAL\r\n" : "OK 0123456789abcdef0123456789abcdef\r\n"));
      } else if (line === "BEGIN\r\n") this.authed = true;
      else throw new Error(`fake systemd: unexpected auth line ${JSON.stringify(line)}`);
    }
    for (;;) {
      const n = messageLength(this.inbuf);
      if (n === undefined || this.inbuf.length < n) return;
      const m = decodeMessage(this.inbuf.subarray(0, n));
      this.inbuf = this.inbuf.slice(n);
      this.calls.push(m);
      this.handle(m);
    }
  }

  private send(b: Uint8Array): void {
    this.out.push(b);
  }

  private reply(call: Message, signature = "", body: unknown[] = []): void {
    this.send(encodeMessage({ type: METHOD_RETURN, serial: ++this.serial, replySerial: call.serial, sender: "org.freedesktop.systemd1", signature, body: body as never }));
  }

  private error(call: Message, name: string, text: string): void {
    this.send(encodeMessage({ type: ERROR, serial: ++this.serial, replySerial: call.serial, errorName: name, signature: "s", body: [text] }));
  }

  private signal(member: string, signature: string, body: unknown[]): void {
    this.send(
      encodeMessage({
        type: SIGNAL,
        serial: ++this.serial,
        path: "/org/freedesktop/systemd1",
        interface: "org.freedesktop.systemd1.Manager",
        member,
        signature,
        body: body as never,
      }),
    );
  }

  /** A job: its path now; JobRemoved after other traffic (another job's end first). */
  private job(call: Message, unit: string, result: string | null): void {
    const id = ++this.jobs;
    this.reply(call, "o", [`${JOB}${id}`]);
    this.signal("JobNew", "uos", [id, `${JOB}${id}`, unit]);
    this.signal("JobRemoved", "uoss", [999, `${JOB}999`, "other.service", "failed"]);
    if (result !== null) this.signal("JobRemoved", "uoss", [id, `${JOB}${id}`, unit, result]);
  }

  private handle(m: Message): void {
    const b = m.body ?? [];
    switch (m.member) {
      case "Hello":
        this.reply(m, "s", [":1.42"]);
        return;
      case "AddMatch":
      case "Subscribe":
      case "SetUnitProperties":
        this.reply(m);
        return;
      case "Get":
        this.reply(m, "v", [new Variant("s", this.version)]);
        return;
      case "StartTransientUnit": {
        const name = b[0] as string;
        if (this.unitExists > 0) {
          this.unitExists--;
          this.error(m, "org.freedesktop.systemd1.UnitExists", `Unit ${name} was already loaded or has a fragment file.`);
          return;
        }
        this.units.add(name);
        this.onStart?.(name, b[2] as [string, Variant][]);
        this.job(m, name, this.startResult);
        return;
      }
      case "StopUnit": {
        const name = b[0] as string;
        if (!this.units.has(name)) {
          this.error(m, "org.freedesktop.systemd1.NoSuchUnit", `Unit ${name} not loaded.`);
          return;
        }
        this.units.delete(name);
        this.onStop?.(name);
        this.job(m, name, this.stopResult);
        return;
      }
      case "ResetFailedUnit":
        if (this.units.has(b[0] as string)) this.reply(m);
        else this.error(m, "org.freedesktop.systemd1.NoSuchUnit", `Unit ${b[0]} not loaded.`);
        return;
      default:
        this.error(m, "org.freedesktop.DBus.Error.UnknownMethod", `Unknown method ${m.member}`);
    }
  }
}

const members = (f: FakeSystemd) => f.calls.map((c) => c.member);

describe("D-Bus connection", () => {
  it("authenticates with EXTERNAL and the uid in hex, says Hello on a bus, and reads signals that came with replies", () => {
    const f = new FakeSystemd();
    const c = DbusConnection.open(f, { uid: 1000, bus: true, timeoutMs: 100 });
    expect(f.authLine).toBe("\0AUTH EXTERNAL 31303030\r\n");
    expect(c.uniqueName).toBe(":1.42");
    expect(c.guid).toBe("0123456789abcdef0123456789abcdef");
    expect(members(f)).toEqual(["Hello"]);
  });

  it("gives up on a silent peer after its timeout, and on a refusal", () => {
    const f = new FakeSystemd();
    const c = DbusConnection.open(f, { uid: 0, bus: false, timeoutMs: 100 });
    f.startResult = null;
    c.call({ destination: "org.freedesktop.systemd1", path: "/org/freedesktop/systemd1", interface: "org.freedesktop.systemd1.Manager", member: "StartTransientUnit", signature: "ssa(sv)a(sa(sv))", body: ["u.scope", "replace", [], []] });
    expect(() => c.nextSignal((m) => m.member === "JobRemoved" && m.body?.[1] === `${JOB}1`, 50, "the job")).toThrow(DbusTimeoutError);
    const r = new FakeSystemd();
    r.reject = true;
    expect(() => DbusConnection.open(r, { uid: 0, bus: false, timeoutMs: 100 })).toThrow(/authentication refused: "REJECTED EXTERNAL"/);
    expect(r.closed).toBe(true);
  });

  it("parses bus addresses for their unix paths", () => {
    expect(unixPaths("unix:path=/run/dbus/system_bus_socket")).toEqual(["/run/dbus/system_bus_socket"]);
    expect(unixPaths("tcp:host=x,port=1;unix:guid=ab,path=/tmp/a%20b;unix:abstract=zz")).toEqual(["/tmp/a b"]);
  });
});

// ---- the driver against the fake ---------------------------------------------------------------

describe("systemd cgroup driver with a fake systemd", () => {
  let k: FakeKernel;
  afterEach(() => k?.cleanup());

  /** A v2 host with systemd "running" (its run dir made), the fake reachable at `reach` paths. */
  function setup(opts: { reach?: string[]; fake?: FakeSystemd; euid?: number; kernel?: FakeKernel; pid1?: string } & Partial<CgroupManagerOptions> = {}) {
    k = opts.kernel ?? new FakeKernel({ unified: "root" });
    fs.mkdirSync(join(k.root, "run/systemd/system"), { recursive: true });
    const f = opts.fake ?? new FakeSystemd();
    const opened: string[] = [];
    const reach = opts.reach ?? ["/run/systemd/private"];
    const kfs = { ...nodeFsOf(k), read: (p: string) => (p === "/proc/1/cgroup" ? (opts.pid1 ?? "0::/init.scope\n") : k.read(p)) };
    const unified = (rel: string) => join(k.root, rel);
    // As systemd does: the unit's cgroup (and its slice's) appear when it starts, go when it stops.
    f.onStart = (name) => {
      const dirs = opts.kernel ? ["memory", "cpu", "pids", "devices", "freezer", "systemd"].map((h) => join(k.root, h, "system.slice")) : [unified("system.slice")];
      // systemd enables what the unit needs on the way down (here memory and pids).
      if (!opts.kernel) k.write(join(k.root, "cgroup.subtree_control"), "+memory +pids");
      for (const d of dirs) {
        k.mkdir(d);
        if (!opts.kernel) k.write(join(d, "cgroup.subtree_control"), "+memory +pids");
        k.mkdir(join(d, name));
      }
    };
    f.onStop = (name) => {
      const d = unified(`system.slice/${name}`);
      if (!fs.existsSync(d)) return;
      fs.writeFileSync(join(d, "cgroup.procs"), ""); // the unit's processes are gone
      if (k.subdirs(d).length === 0) k.rmdir(d);
    };
    const bus = {
      openUnix: (p: string) => {
        opened.push(p);
        if (!reach.includes(p)) throw Object.assign(new Error(`connect: no such file or directory (errno 2)`), { code: "ENOENT" });
        f.bus = p !== "/run/systemd/private";
        return f.connect();
      },
      systemBusAddress: "unix:path=/run/dbus/system_bus_socket",
      uid: opts.euid ?? 0,
      callTimeoutMs: 100,
      jobTimeoutMs: 100,
    };
    const host = detectCgroupHost({ root: k.root, mountinfo: k.mountinfo(), procCgroup: "0::/\n", fs: kfs });
    const cg = newCgroupManager({
      containerId: "c1",
      systemd: true,
      host,
      fs: kfs,
      hugePagesDir: k.hugePagesDir,
      systemdRunDir: join(k.root, "run/systemd/system"),
      systemdBus: bus,
      euid: opts.euid ?? 0,
      ...opts,
    });
    return { cg, f, opened, bus, kfs, dir: unified("system.slice/runc-c1.scope") };
  }

  it("refuses with runc's error when systemd is not running", () => {
    k = new FakeKernel({ unified: "root" });
    const host = detectCgroupHost({ root: k.root, mountinfo: k.mountinfo(), procCgroup: "0::/\n", fs: k });
    expect(() => newCgroupManager({ containerId: "c1", systemd: true, host, fs: k, systemdRunDir: join(k.root, "run/systemd/system") })).toThrow(
      "cgroup: systemd cgroup driver requested but systemd is not running",
    );
  });

  it("refuses rootless containers clearly", () => {
    expect(() => setup({ euid: 1000 })).toThrow(/systemd cgroup driver is not supported for rootless containers/);
  });

  it("starts runc-<id>.scope in system.slice with the pid, then writes the files; the state loads back to stop it", () => {
    const { cg, f, opened, bus, kfs, dir } = setup();
    cg.create();
    expect(fs.existsSync(dir)).toBe(false); // nothing before the unit starts
    expect(f.calls).toEqual([]);
    cg.apply(4321);
    // No bus here: the private socket, no Hello, Subscribe before the start.
    expect(opened).toEqual(["/run/dbus/system_bus_socket", "/run/systemd/private"]);
    expect(members(f)).toEqual(["Subscribe", "StartTransientUnit"]);
    const start = f.calls[1]!;
    expect(start.body!.slice(0, 2)).toEqual(["runc-c1.scope", "replace"]);
    expect((start.body![2] as [string, Variant][]).map(([n, v]) => [n, v.signature, v.value])).toEqual(
      asObj(startProperties({ containerId: "c1", unitName: "runc-c1.scope", slice: "system.slice", pid: 4321, kind: "v2", extra: [] })),
    );
    expect(start.body![3]).toEqual([]);
    expect(f.closed).toBe(false); // kept for the set() that follows
    expect(cg.paths).toEqual({ "": dir });
    expect(k.file(join(dir, "cgroup.procs"))).toContain("4321");
    // Controllers enabled down to the unit's parent, as runc's CreateCgroupPath does.
    expect(k.writes.some(([p, v]) => p === join(k.root, "system.slice/cgroup.subtree_control") && v.includes("+cpuset"))).toBe(true);

    cg.set({ memory: { limit: 1 << 24 }, pids: { limit: 9 } });
    expect(members(f).slice(2)).toEqual(["Get", "SetUnitProperties"]);
    const set = f.calls.at(-1)!;
    expect(set.body![0]).toBe("runc-c1.scope");
    expect(set.body![1]).toBe(true);
    expect((set.body![2] as [string, Variant][]).map(([n, v]) => [n, v.value])).toEqual([
      ["MemoryMax", 16777216n],
      ["TasksMax", 9n],
    ]);
    expect(k.file(join(dir, "memory.max"))).toBe("16777216");
    expect(k.file(join(dir, "pids.max"))).toBe("9");
    expect(f.closed).toBe(true); // no connection left behind for a runtime that stays

    const state = JSON.parse(JSON.stringify(cg.toState()));
    expect(state).toMatchObject({ version: 1, driver: "systemd", unit: "runc-c1.scope", kind: "v2", paths: { "": dir } });
    // The container made a cgroup of its own inside (delegated): systemd leaves it, we remove it.
    k.mkdir(join(dir, "inner"));
    f.calls.length = 0;
    const loaded = loadCgroupManager(state, { fs: kfs, systemdBus: bus });
    expect(loaded.kind).toBe("v2");
    loaded.destroy();
    expect(members(f)).toEqual(["Subscribe", "StopUnit", "ResetFailedUnit"]);
    expect(f.closed).toBe(true);
    expect(f.units.size).toBe(0);
    expect(fs.existsSync(dir)).toBe(false);
  });

  it("uses the system bus when there is one: Hello, a match rule for JobRemoved, Subscribe", () => {
    const { cg, f, opened } = setup({ reach: ["/run/dbus/system_bus_socket", "/run/systemd/private"] });
    cg.apply(1);
    expect(opened).toEqual(["/run/dbus/system_bus_socket"]);
    expect(members(f)).toEqual(["Hello", "AddMatch", "Subscribe", "StartTransientUnit"]);
    expect(f.calls[1]!.body).toEqual(["type='signal',sender='org.freedesktop.systemd1',path='/org/freedesktop/systemd1',interface='org.freedesktop.systemd1.Manager',member='JobRemoved'"]);
  });

  it("as non-root only the bus is tried", () => {
    const { bus } = setup();
    expect(() => {
      const cg = loadCgroupManager({ version: 1, driver: "systemd", unit: "runc-c1.scope", kind: "v2", mode: "unified", root: k.root, paths: { "": join(k.root, "system.slice/runc-c1.scope") }, mountpoints: { "": k.root }, created: [] }, {
        fs: k,
        systemdBus: { ...bus, uid: 1000 },
      });
      cg.destroy();
    }).toThrow(/failed to connect to dbus: \/run\/dbus\/system_bus_socket: connect: no such file or directory/);
  });

  it("passes annotation properties and a cgroupsPath slice and prefix", () => {
    const { cg, f } = setup({ cgroupsPath: "machine.slice:pfx:ctr", annotations: { "org.systemd.property.TimeoutStopSec": "3" } });
    expect(cg.paths[""]).toBe(join(k.root, "machine.slice/pfx-ctr.scope"));
    f.onStart = (name) => {
      k.mkdir(join(k.root, "machine.slice"));
      k.mkdir(join(k.root, "machine.slice", name));
    };
    cg.apply(1);
    const props = f.calls.find((c) => c.member === "StartTransientUnit")!.body![2] as [string, Variant][];
    expect(props.find(([n]) => n === "Slice")![1].value).toBe("machine.slice");
    expect(props.at(-1)).toEqual(["TimeoutStopUSec", new Variant("t", 3000000n)]);
    expect(props.find(([n]) => n === "Description")![1].value).toBe("libcontainer container ctr");
  });

  it("reports a failed job (and resets the unit), as runc", () => {
    const { cg, f } = setup();
    f.startResult = "failed";
    expect(() => cg.apply(1)).toThrow('cgroup: unable to start unit "runc-c1.scope": error creating systemd unit `runc-c1.scope`: got `failed`');
    expect(members(f)).toEqual(["Subscribe", "StartTransientUnit", "ResetFailedUnit"]);
  });

  it("times out waiting for the job (a silent systemd can't hang us)", () => {
    const { cg, f } = setup();
    f.startResult = null;
    const t0 = Date.now();
    expect(() => cg.apply(1)).toThrow('cgroup: unable to start unit "runc-c1.scope": Timeout waiting for systemd to create runc-c1.scope');
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(members(f).at(-1)).toBe("ResetFailedUnit");
  });

  it("a unit that exists already is reset and started again once; twice is an error", () => {
    const a = setup();
    a.f.unitExists = 1;
    a.cg.apply(1);
    expect(members(a.f)).toEqual(["Subscribe", "StartTransientUnit", "ResetFailedUnit", "StartTransientUnit"]);
    k.cleanup();
    const b = setup();
    b.f.unitExists = 2;
    expect(() => b.cg.apply(1)).toThrow(/unable to start unit "runc-c1.scope": org.freedesktop.systemd1.UnitExists: Unit runc-c1.scope was already loaded/);
    // Not started by us: destroy must not stop someone else's unit of that name.
    b.cg.destroy();
    expect(members(b.f)).not.toContain("StopUnit");
  });

  it("stopping a unit that is gone already is fine; a failed stop job is a warning", () => {
    const { cg, f } = setup({});
    const warnings: string[] = [];
    cg.apply(1);
    f.units.clear();
    fs.writeFileSync(join(cg.paths[""]!, "cgroup.procs"), "");
    cg.destroy();
    expect(members(f).slice(-2)).toEqual(["StopUnit", "ResetFailedUnit"]);
    const s = loadCgroupManager(cg.toState(), { fs: k, systemdBus: setupBus(f), warn: (m) => warnings.push(m) });
    f.units.add("runc-c1.scope");
    f.stopResult = "canceled";
    s.destroy();
    expect(warnings).toEqual(["error removing unit `runc-c1.scope`: got `canceled`. Continuing..."]);
  });

  it("without a way to systemd, a loaded manager still reads its cgroup but can't stop the unit", () => {
    const { cg } = setup();
    cg.apply(1);
    const loaded = loadCgroupManager(cg.toState(), { fs: k });
    expect(loaded.pids()).toEqual([1]);
    expect(loaded.state()).toBe("thawed");
    expect(() => loaded.destroy()).toThrow(/no way to reach systemd was given/);
    expect(() => loadCgroupManager({ ...cg.toState(), unit: "../x" }, { fs: k })).toThrow(/invalid systemd unit/);
  });

  it("v1: directories of the unit in every hierarchy, below systemd's own cgroup; devices set frozen", () => {
    const kernel = new FakeKernel({ v1: HYBRID_LIKE_THIS_HOST.filter((h) => h.dir !== "cpuacct" && h.dir !== "cpuset" && h.dir !== "blkio") });
    const { cg, f } = setup({ kernel, pid1: "4:memory:/init.scope\n3:pids:/\n1:name=systemd:/init.scope\n" });
    expect(cg.kind).toBe("v1");
    expect(cg.paths).toEqual({
      devices: join(k.root, "devices/system.slice/runc-c1.scope"),
      memory: join(k.root, "memory/system.slice/runc-c1.scope"),
      cpu: join(k.root, "cpu/system.slice/runc-c1.scope"),
      pids: join(k.root, "pids/system.slice/runc-c1.scope"),
      freezer: join(k.root, "freezer/system.slice/runc-c1.scope"),
      "name=systemd": join(k.root, "systemd/system.slice/runc-c1.scope"),
    });
    cg.apply(77);
    const props = f.calls.find((c) => c.member === "StartTransientUnit")!.body![2] as [string, Variant][];
    expect(props.map(([n]) => n)).toContain("BlockIOAccounting");
    k.writes.length = 0;
    cg.set({ devices: [{ allow: false, access: "rwm" }, { allow: true, type: "c", major: 1, minor: 3, access: "rwm" }], memory: { limit: 1 << 20 } });
    const freezer = k.writes.filter(([p]) => p.endsWith("freezer.state")).map(([, v]) => v);
    expect(freezer).toEqual(["FROZEN", "THAWED"]);
    const set = f.calls.find((c) => c.member === "SetUnitProperties")!.body![2] as [string, Variant][];
    expect(set.map(([n]) => n)).toEqual(["DevicePolicy", "DeviceAllow", "DeviceAllow", "MemoryLimit"]);
    expect(k.file(join(k.root, "memory/system.slice/runc-c1.scope/memory.limit_in_bytes"))).toBe("1048576");
  });
});

/** A bus option set that hands out `f` on the private socket. */
function setupBus(f: FakeSystemd) {
  return { openUnix: () => f.connect(), systemBusAddress: "", uid: 0, callTimeoutMs: 100, jobTimeoutMs: 100 };
}

// ---- over real file descriptors ------------------------------------------------------------------

describe("fdStream over a pair of FIFOs", () => {
  let dir = "";
  afterEach(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("carries the whole conversation with the fake systemd through the kernel, and times out on silence", () => {
    dir = fs.mkdtempSync("/tmp/tsrunc-dbus-fifo-");
    const toBus = join(dir, "to-bus");
    const fromBus = join(dir, "from-bus");
    execFileSync("mkfifo", [toBus, fromBus]);
    // O_RDWR: opening a FIFO that way never waits for the other end (Linux).
    const flags = fs.constants.O_RDWR | fs.constants.O_NONBLOCK;
    const clientW = fs.openSync(toBus, flags);
    const busR = fs.openSync(toBus, flags);
    const busW = fs.openSync(fromBus, flags);
    const clientR = fs.openSync(fromBus, flags);
    const f = new FakeSystemd();
    // The fake's side, run whenever the client waits: what the client wrote goes in, answers go out.
    const pump = () => {
      const buf = Buffer.alloc(65536);
      for (;;) {
        let n = 0;
        try {
          n = fs.readSync(busR, buf);
        } catch (e) {
          if ((e as { code?: string }).code !== "EAGAIN") throw e;
        }
        if (n <= 0) break;
        f.write(new Uint8Array(buf.subarray(0, n)));
      }
      const out = f.read();
      if (out) fs.writeSync(busW, out);
    };
    let polls = 0;
    const poll = (_fd: number, events: number) => {
      polls++;
      pump();
      return events; // "maybe ready": a non-blocking read tells
    };
    // The client writes into one FIFO and reads from the other: a stream with two fds.
    const r = fdStream(clientR, poll);
    const w = fdStream(clientW, poll);
    const stream: BusStream = { write: (d) => w.write(d), read: (ms) => r.read(ms), close: () => (r.close(), w.close()) };
    const c = DbusConnection.open(stream, { uid: 0, bus: true, timeoutMs: 200 });
    expect(c.uniqueName).toBe(":1.42");
    const m = c.call({ destination: "org.freedesktop.systemd1", path: "/org/freedesktop/systemd1", interface: "org.freedesktop.DBus.Properties", member: "Get", signature: "ss", body: ["org.freedesktop.systemd1.Manager", "Version"] });
    expect(m.body).toEqual([new Variant("s", "252.38-1~deb12u1")]);
    expect(polls).toBeGreaterThan(0);
    // Nothing will come: the read ends at its deadline with null.
    const t0 = Date.now();
    expect(r.read(60)).toBeNull();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(55);
    stream.close();
    fs.closeSync(busR);
    fs.closeSync(busW);
  });
});
