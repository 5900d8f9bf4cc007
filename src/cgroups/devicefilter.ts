// cgroup v2 device rules as an eBPF program (BPF_PROG_TYPE_CGROUP_DEVICE), the program runc 1.1
// generates (libcontainer/cgroups/ebpf/devicefilter, after crun's): the rules go through the same
// emulator as cgroup v1 (so v1 and v2 agree, hole punching in a wildcard is refused alike), then each
// exception to the default becomes one block of checks:
//
//   r2 = ctx->access_type & 0xffff     (BPF_DEVCG_DEV_BLOCK 1 / _CHAR 2)
//   r3 = ctx->access_type >> 16        (BPF_DEVCG_ACC_MKNOD 1 | _READ 2 | _WRITE 4)
//   r4 = ctx->major; r5 = ctx->minor
//   block i: if r2 != type goto i+1; [if r3 & access != r3 goto i+1]; [if r4 != major goto i+1];
//            [if r5 != minor goto i+1]; return allow
//   last:    return default
//
// This module only builds the instructions (8-byte struct bpf_insn, little-endian); loading and
// attaching them is bpf(2) work for the native addon (V2DeviceFilter in src/runtime/devicefilter.ts).

import { DeviceEmulator } from "./devices.ts";
import { CgroupError } from "./errors.ts";
import type { DeviceRule } from "./types.ts";

export const BPF_DEVCG_DEV_BLOCK = 1;
export const BPF_DEVCG_DEV_CHAR = 2;
export const BPF_DEVCG_ACC_MKNOD = 1;
export const BPF_DEVCG_ACC_READ = 2;
export const BPF_DEVCG_ACC_WRITE = 4;

/** Opcodes used (linux/bpf.h, linux/bpf_common.h). */
export const OP = {
  /** BPF_LDX | BPF_MEM | BPF_W: dst = *(u32 *)(src + off) */
  LDX_W: 0x61,
  /** BPF_ALU | BPF_AND | BPF_K: dst32 &= imm */
  AND32_K: 0x54,
  /** BPF_ALU | BPF_RSH | BPF_K: dst32 >>= imm */
  RSH32_K: 0x74,
  /** BPF_ALU | BPF_MOV | BPF_K: dst32 = imm */
  MOV32_K: 0xb4,
  /** BPF_ALU | BPF_MOV | BPF_X: dst32 = src32 */
  MOV32_X: 0xbc,
  /** BPF_JMP | BPF_JNE | BPF_K: if dst != imm goto pc + 1 + off */
  JNE_K: 0x55,
  /** BPF_JMP | BPF_JNE | BPF_X: if dst != src goto pc + 1 + off */
  JNE_X: 0x5d,
  /** BPF_JMP | BPF_EXIT */
  EXIT: 0x95,
} as const;

export interface BpfInsn {
  code: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
}

export interface DeviceFilterProgram {
  insns: BpfInsn[];
  /** The instructions as the kernel takes them (insns.length * 8 bytes). */
  bytes: Uint8Array;
  /** Same string runc passes (the kernel only cares whether it is GPL-compatible). */
  license: string;
}

const insn = (code: number, dst: number, src: number, off: number, imm: number): BpfInsn => ({ code, dst, src, off, imm });

function accessBits(access: string): number {
  let bits = 0;
  for (const c of access) {
    if (c === "r") bits |= BPF_DEVCG_ACC_READ;
    else if (c === "w") bits |= BPF_DEVCG_ACC_WRITE;
    else if (c === "m") bits |= BPF_DEVCG_ACC_MKNOD;
    else throw new CgroupError(`unknown device access ${JSON.stringify(c)}`);
  }
  return bits;
}

/** The program enforcing `rules` (applied in order, as on cgroup v1). */
export function deviceFilterProgram(rules: DeviceRule[]): DeviceFilterProgram {
  const emu = DeviceEmulator.fromRules(rules);
  const insns: BpfInsn[] = [
    insn(OP.LDX_W, 2, 1, 0, 0),
    insn(OP.AND32_K, 2, 0, 0, 0xffff),
    insn(OP.LDX_W, 3, 1, 0, 0),
    insn(OP.RSH32_K, 3, 0, 0, 16),
    insn(OP.LDX_W, 4, 1, 4, 0),
    insn(OP.LDX_W, 5, 1, 8, 0),
  ];
  for (const rule of emu.exceptions()) {
    if (rule.type !== "c" && rule.type !== "b") throw new CgroupError(`invalid device type ${JSON.stringify(rule.type)} in the eBPF filter`);
    for (const [what, v] of [["major", rule.major], ["minor", rule.minor]] as const) {
      if (!Number.isInteger(v) || v > 0xffff_ffff) throw new CgroupError(`invalid device ${what} ${v}`);
    }
    const access = accessBits(rule.access);
    const block: BpfInsn[] = [];
    // Jumps to the next block get their offset once the block's length is known.
    const jumps: number[] = [];
    const jne = (i: BpfInsn) => {
      jumps.push(block.length);
      block.push(i);
    };
    jne(insn(OP.JNE_K, 2, 0, 0, rule.type === "c" ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK));
    if (access !== (BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD)) {
      // r1 is free once the context is read: r1 = r3 & access; if r1 != r3 (an access not allowed) skip.
      block.push(insn(OP.MOV32_X, 1, 3, 0, 0));
      block.push(insn(OP.AND32_K, 1, 0, 0, access));
      jne(insn(OP.JNE_X, 1, 3, 0, 0));
    }
    if (rule.major >= 0) jne(insn(OP.JNE_K, 4, 0, 0, rule.major | 0));
    if (rule.minor >= 0) jne(insn(OP.JNE_K, 5, 0, 0, rule.minor | 0));
    block.push(insn(OP.MOV32_K, 0, 0, 0, rule.allow ? 1 : 0));
    block.push(insn(OP.EXIT, 0, 0, 0, 0));
    for (const j of jumps) block[j]!.off = block.length - (j + 1);
    insns.push(...block);
  }
  insns.push(insn(OP.MOV32_K, 0, 0, 0, emu.defaultAllow ? 1 : 0));
  insns.push(insn(OP.EXIT, 0, 0, 0, 0));
  return { insns, bytes: encodeInsns(insns), license: "Apache" };
}

/** struct bpf_insn { u8 code; u8 dst_reg:4, src_reg:4; s16 off; s32 imm; }, little-endian. */
export function encodeInsns(insns: BpfInsn[]): Uint8Array {
  const buf = new Uint8Array(insns.length * 8);
  const view = new DataView(buf.buffer);
  insns.forEach((i, n) => {
    view.setUint8(n * 8, i.code);
    view.setUint8(n * 8 + 1, (i.dst & 0xf) | ((i.src & 0xf) << 4));
    view.setInt16(n * 8 + 2, i.off, true);
    view.setInt32(n * 8 + 4, i.imm, true);
  });
  return buf;
}
