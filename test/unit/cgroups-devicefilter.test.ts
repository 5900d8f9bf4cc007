// The cgroup v2 device filter program: its encoding, and its behaviour, run here by a small
// interpreter of the instructions it uses against what the v1 device cgroup (the emulator) allows.
import { describe, expect, it } from "vitest";
import {
  type BpfInsn,
  DeviceEmulator,
  type DeviceRule,
  type LinuxDeviceCgroup,
  deviceFilterProgram,
  deviceRulesFromSpec,
  encodeInsns,
} from "../../src/cgroups/index.ts";
import { OP } from "../../src/cgroups/devicefilter.ts";
import { canSkipFilterError, inUserNamespace, nativeDeviceFilter } from "../../src/runtime/devicefilter.ts";
import { effectiveResources } from "../../src/runtime/devices.ts";
import { FakeNative, nativeError } from "../../src/native/fake.ts";

const TYPE = { b: 1, c: 2 } as const;
const ACC = { m: 1, r: 2, w: 4 } as const;

/** Runs the program on a struct bpf_cgroup_dev_ctx; returns r0 (1 = allow). Only the opcodes the
 * generator emits are known; anything else fails the test. */
function run(insns: BpfInsn[], type: "b" | "c", access: number, major: number, minor: number): number {
  const ctx = [(access << 16) | TYPE[type], major >>> 0, minor >>> 0];
  const r = new Array<number>(11).fill(0);
  let steps = 0;
  for (let pc = 0; pc < insns.length; pc++) {
    if (++steps > 10_000) throw new Error("runaway program");
    const i = insns[pc]!;
    const u32 = (v: number) => v >>> 0;
    switch (i.code) {
      case OP.LDX_W:
        expect(i.src).toBe(1);
        r[i.dst] = ctx[i.off / 4]!;
        break;
      case OP.AND32_K:
        r[i.dst] = u32(r[i.dst]! & i.imm);
        break;
      case OP.RSH32_K:
        r[i.dst] = u32(r[i.dst]!) >>> i.imm;
        break;
      case OP.MOV32_K:
        r[i.dst] = u32(i.imm);
        break;
      case OP.MOV32_X:
        r[i.dst] = u32(r[i.src]!);
        break;
      case OP.JNE_K:
        if (u32(r[i.dst]!) !== u32(i.imm)) pc += i.off;
        break;
      case OP.JNE_X:
        if (u32(r[i.dst]!) !== u32(r[i.src]!)) pc += i.off;
        break;
      case OP.EXIT:
        return r[0]!;
      default:
        throw new Error(`unexpected opcode 0x${i.code.toString(16)} at ${pc}`);
    }
  }
  throw new Error("fell off the end of the program");
}

/** What the v1 device cgroup allows for one access, from the emulator's state. */
function v1Allows(emu: DeviceEmulator, type: "b" | "c", access: string, major: number, minor: number): boolean {
  for (const [k, perms] of emu.rules) {
    const [t, ma, mi] = k.split(" ");
    if (t !== type) continue;
    if (Number(ma) !== -1 && Number(ma) !== major) continue;
    if (Number(mi) !== -1 && Number(mi) !== minor) continue;
    if ([...access].every((a) => perms.includes(a))) return !emu.defaultAllow;
  }
  return emu.defaultAllow;
}

const ACCESSES = ["r", "w", "m", "rw", "rm", "wm", "rwm"];
const DEVICES: ["b" | "c", number, number][] = [
  ["c", 1, 3],
  ["c", 1, 5],
  ["c", 1, 11],
  ["c", 5, 1],
  ["c", 10, 200],
  ["c", 136, 0],
  ["c", 136, 7],
  ["b", 8, 0],
  ["b", 8, 1],
  ["b", 1, 3],
  ["c", 4294967295, 4294967295],
];

function checkAgainstV1(rules: DeviceRule[]): void {
  const prog = deviceFilterProgram(rules);
  const emu = DeviceEmulator.fromRules(rules);
  for (const [type, major, minor] of DEVICES) {
    for (const a of ACCESSES) {
      const bits = [...a].reduce((s, c) => s | ACC[c as keyof typeof ACC], 0);
      const got = run(prog.insns, type, bits, major, minor) === 1;
      expect({ dev: `${type} ${major}:${minor} ${a}`, allowed: got }).toEqual({ dev: `${type} ${major}:${minor} ${a}`, allowed: v1Allows(emu, type, a, major, minor) });
    }
  }
}

const spec = (r: LinuxDeviceCgroup[]) => deviceRulesFromSpec(r);

describe("deviceFilterProgram", () => {
  it("is runc's program: context loads, one block per allowed device, default deny last", () => {
    const p = deviceFilterProgram(spec([{ allow: false, access: "rwm" }, { allow: true, type: "c", major: 1, minor: 3, access: "rwm" }]));
    const text = p.insns.map((i) => `${i.code.toString(16)} ${i.dst} ${i.src} ${i.off} ${i.imm}`);
    expect(text).toEqual([
      "61 2 1 0 0", // r2 = *(u32 *)(r1 + 0)
      "54 2 0 0 65535", // r2 &= 0xffff
      "61 3 1 0 0", // r3 = *(u32 *)(r1 + 0)
      "74 3 0 0 16", // r3 >>= 16
      "61 4 1 4 0", // r4 = major
      "61 5 1 8 0", // r5 = minor
      "55 2 0 4 2", // if r2 != CHAR goto +4
      "55 4 0 3 1", // if r4 != 1 goto +3
      "55 5 0 2 3", // if r5 != 3 goto +2
      "b4 0 0 0 1", // r0 = 1
      "95 0 0 0 0", // exit
      "b4 0 0 0 0", // r0 = 0
      "95 0 0 0 0", // exit
    ]);
    expect(p.license).toBe("Apache");
    expect(p.bytes.length).toBe(13 * 8);
  });

  it("checks the access mask only when it is not rwm, and skips wildcard numbers", () => {
    const p = deviceFilterProgram(spec([{ allow: false, access: "rwm" }, { allow: true, type: "b", major: 8, access: "r" }]));
    const block = p.insns.slice(6).map((i) => i.code);
    expect(block).toEqual([OP.JNE_K, OP.MOV32_X, OP.AND32_K, OP.JNE_X, OP.JNE_K, OP.MOV32_K, OP.EXIT, OP.MOV32_K, OP.EXIT]);
  });

  it("encodes struct bpf_insn: code, dst | src << 4, s16 off, s32 imm, little-endian", () => {
    const bytes = encodeInsns([{ code: 0x5d, dst: 1, src: 3, off: -2, imm: -1 }]);
    expect([...bytes]).toEqual([0x5d, 0x31, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff]);
  });

  it("allows exactly what the v1 device cgroup allows: runc's defaults", () => {
    checkAgainstV1(deviceRulesFromSpec(effectiveResources({ linux: { resources: { devices: [{ allow: false, access: "rwm" }] } } }).devices));
  });

  it("allows exactly what the v1 device cgroup allows: partial access, wildcards, block devices", () => {
    checkAgainstV1(
      spec([
        { allow: false, access: "rwm" },
        { allow: true, type: "c", major: 1, minor: 11, access: "r" },
        { allow: true, type: "c", major: 136, access: "rw" },
        { allow: true, type: "b", major: 8, minor: 1, access: "wm" },
        { allow: true, type: "c", major: 4294967295, minor: 4294967295, access: "rwm" },
      ]),
    );
  });

  it("allows exactly what the v1 device cgroup allows: a deny-list (default allow)", () => {
    checkAgainstV1(
      spec([
        { allow: true, access: "rwm" },
        { allow: false, type: "c", major: 1, minor: 11, access: "rwm" },
        { allow: false, type: "b", major: 8, access: "w" },
      ]),
    );
  });

  it("denies everything with no rules (as a fresh v1 device cgroup after deny-all)", () => {
    const p = deviceFilterProgram([]);
    expect(run(p.insns, "c", ACC.r, 1, 3)).toBe(0);
  });

  it("refuses to punch a hole in a wildcard rule, like cgroup v1", () => {
    expect(() =>
      deviceFilterProgram(spec([{ allow: false, access: "rwm" }, { allow: true, type: "c", major: 1, access: "rwm" }, { allow: false, type: "c", major: 1, minor: 3, access: "rwm" }])),
    ).toThrow(/cannot punch hole/);
  });
});

describe("nativeDeviceFilter", () => {
  it("hands the program to the addon's attachDeviceFilter", () => {
    const fake = new FakeNative();
    nativeDeviceFilter(() => fake).apply("/sys/fs/cgroup/x", spec([{ allow: false, access: "rwm" }]));
    const f = fake.deviceFilters.get("/sys/fs/cgroup/x")!;
    expect(f.license).toBe("Apache");
    expect(f.insns.length).toBe(8 * 8);
  });

  it("turns a bpf(2) failure into a cgroup error naming the directory", () => {
    const fake = new FakeNative();
    fake.attachDeviceFilter = () => {
      throw nativeError("bpf(BPF_PROG_ATTACH)", "EPERM");
    };
    expect(() => nativeDeviceFilter(() => fake).apply("/sys/fs/cgroup/x", spec([{ allow: false, access: "rwm" }]))).toThrow(
      /cgroup: loading the device filter \(eBPF\) into \/sys\/fs\/cgroup\/x: bpf\(BPF_PROG_ATTACH\)/,
    );
  });

  it("ignores a failure as runc does: in a user namespace, or when every rule allows rwm", () => {
    const fake = new FakeNative();
    fake.attachDeviceFilter = () => {
      throw nativeError("bpf(BPF_PROG_LOAD)", "EPERM");
    };
    const allowAll = spec([{ allow: true, access: "rwm" }]);
    const warnings: string[] = [];
    if (!inUserNamespace()) {
      nativeDeviceFilter(() => fake, (m) => warnings.push(m)).apply("/x", allowAll);
      expect(warnings[0]).toMatch(/ignored: device rules are not enforced/);
    }
    expect(canSkipFilterError(allowAll, false)).toBe(true);
    expect(canSkipFilterError(spec([{ allow: true, type: "c", major: 1, minor: 3, access: "rw" }]), false)).toBe(false);
    expect(canSkipFilterError(spec([{ allow: false, access: "rwm" }]), false)).toBe(false);
    expect(canSkipFilterError(spec([{ allow: false, access: "rwm" }]), true)).toBe(true);
  });
});
