// A small classic-BPF interpreter for seccomp filters, for tests: runs a program (struct sock_filter
// array, little-endian) over a synthetic struct seccomp_data and returns the filter's verdict.
// It implements the instructions the kernel accepts in a seccomp filter (seccomp_check_filter) and
// checks what the kernel checks at load time: forward jumps in range, a RET at the end.

export interface SeccompData {
  nr: number;
  arch: number;
  instructionPointer?: bigint;
  /** Six 64-bit arguments (missing ones are 0). */
  args?: (bigint | number)[];
}

export interface Insn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

export function decode(program: Uint8Array): Insn[] {
  if (program.length % 8 !== 0) throw new Error("program length is not a multiple of 8");
  const dv = new DataView(program.buffer, program.byteOffset, program.byteLength);
  const out: Insn[] = [];
  for (let i = 0; i < program.length; i += 8)
    out.push({ code: dv.getUint16(i, true), jt: dv.getUint8(i + 2), jf: dv.getUint8(i + 3), k: dv.getUint32(i + 4, true) });
  return out;
}

/** The 64-byte struct seccomp_data: nr, arch, instruction_pointer, args[6]. */
function dataWords(d: SeccompData): Uint32Array {
  const buf = new ArrayBuffer(64);
  const dv = new DataView(buf);
  dv.setInt32(0, d.nr | 0, true);
  dv.setUint32(4, d.arch >>> 0, true);
  dv.setBigUint64(8, BigInt.asUintN(64, d.instructionPointer ?? 0n), true);
  for (let i = 0; i < 6; i++) dv.setBigUint64(16 + 8 * i, BigInt.asUintN(64, BigInt(d.args?.[i] ?? 0)), true);
  return new Uint32Array(buf);
}

/** Check the program as the kernel does when it is loaded (sk_chk_filter + seccomp_check_filter). */
export function check(insns: Insn[]): void {
  if (insns.length === 0 || insns.length > 4096) throw new Error(`bad program length ${insns.length}`);
  insns.forEach((ins, pc) => {
    const cls = ins.code & 0x07;
    if (cls === 0x05) {
      // JMP
      const op = ins.code & 0xf0;
      if (op === 0x00) {
        if (pc + 1 + ins.k >= insns.length) throw new Error(`ja out of range at ${pc}`);
      } else if (pc + 1 + ins.jt >= insns.length || pc + 1 + ins.jf >= insns.length) throw new Error(`jump out of range at ${pc}`);
    } else if (cls === 0x00 && (ins.code & 0xe0) === 0x20) {
      // LD ABS: only aligned 32-bit loads inside seccomp_data
      if ((ins.code & 0x18) !== 0x00 || ins.k % 4 !== 0 || ins.k >= 64) throw new Error(`bad load at ${pc}`);
    }
  });
  const last = insns[insns.length - 1]!;
  if ((last.code & 0x07) !== 0x06) throw new Error("program does not end with a return");
}

/** Run the filter; returns the 32-bit SECCOMP_RET_* value. Also returns how many instructions ran. */
export function run(program: Uint8Array | Insn[], d: SeccompData): { ret: number; steps: number } {
  const insns = program instanceof Uint8Array ? decode(program) : program;
  check(insns);
  const data = dataWords(d);
  const mem = new Uint32Array(16);
  let A = 0;
  let X = 0;
  let pc = 0;
  let steps = 0;
  for (;;) {
    if (pc >= insns.length) throw new Error("fell off the end of the program");
    const { code, jt, jf, k } = insns[pc++]!;
    steps++;
    const cls = code & 0x07;
    switch (cls) {
      case 0x00: // LD
        switch (code & 0xe0) {
          case 0x20: A = data[k / 4]!; break; // ABS W
          case 0x80: A = 64; break; // LEN
          case 0x00: A = k >>> 0; break; // IMM
          case 0x60: A = mem[k]!; break; // MEM
          default: throw new Error(`unsupported ld ${code.toString(16)}`);
        }
        break;
      case 0x01: // LDX
        switch (code & 0xe0) {
          case 0x80: X = 64; break;
          case 0x00: X = k >>> 0; break;
          case 0x60: X = mem[k]!; break;
          default: throw new Error(`unsupported ldx ${code.toString(16)}`);
        }
        break;
      case 0x02: mem[k] = A; break; // ST
      case 0x03: mem[k] = X; break; // STX
      case 0x04: { // ALU
        const src = code & 0x08 ? X : k >>> 0;
        switch (code & 0xf0) {
          case 0x00: A = (A + src) >>> 0; break;
          case 0x10: A = (A - src) >>> 0; break;
          case 0x20: A = Math.imul(A, src) >>> 0; break;
          case 0x30: if (src === 0) return { ret: 0, steps }; A = Math.floor(A / src) >>> 0; break;
          case 0x40: A = (A | src) >>> 0; break;
          case 0x50: A = (A & src) >>> 0; break;
          case 0x60: A = src >= 32 ? 0 : (A << src) >>> 0; break;
          case 0x70: A = src >= 32 ? 0 : A >>> src; break;
          case 0x80: A = -A >>> 0; break;
          case 0xa0: A = (A ^ src) >>> 0; break;
          default: throw new Error(`unsupported alu ${code.toString(16)}`);
        }
        break;
      }
      case 0x05: { // JMP
        const src = code & 0x08 ? X : k >>> 0;
        let cond: boolean;
        switch (code & 0xf0) {
          case 0x00: pc += k; continue; // JA
          case 0x10: cond = A === src; break;
          case 0x20: cond = A > src; break;
          case 0x30: cond = A >= src; break;
          case 0x40: cond = (A & src) !== 0; break;
          default: throw new Error(`unsupported jmp ${code.toString(16)}`);
        }
        pc += cond ? jt : jf;
        break;
      }
      case 0x06: // RET
        return { ret: (code & 0x18) === 0x10 ? A : k >>> 0, steps };
      case 0x07: // MISC
        if ((code & 0xf8) === 0x00) X = A; // TAX
        else A = X; // TXA
        break;
    }
  }
}
