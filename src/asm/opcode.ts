import { BpfmemError } from '../vocab/errors.js';

/**
 * The opcode byte of an eBPF instruction, as named fields.
 *
 * Encodings from include/uapi/linux/bpf_common.h (`BPF_CLASS`, `BPF_SIZE`, `BPF_MODE`, `BPF_OP`,
 * `BPF_SRC`) and include/uapi/linux/bpf.h (the eBPF additions: `BPF_ALU64`, `BPF_JMP32`,
 * `BPF_DW`, `BPF_MEMSX`, `BPF_ATOMIC`, `BPF_MOV`, `BPF_ARSH`, `BPF_END`, `BPF_JNE` … `BPF_JCOND`),
 * and Documentation/bpf/standardization/instruction-set.rst.
 */

/** Instruction classes (`BPF_CLASS(code)`, the low three bits). */
export const CLASSES = { ld: 0x00, ldx: 0x01, st: 0x02, stx: 0x03, alu: 0x04, jmp: 0x05, jmp32: 0x06, alu64: 0x07 } as const;
/** An instruction class by its kernel name without `BPF_`. */
export type InsnClass = keyof typeof CLASSES;

/** Access sizes of load and store classes (`BPF_SIZE(code)`): `w` u32, `h` u16, `b` u8, `dw` u64. */
export const SIZES = { w: 0x00, h: 0x08, b: 0x10, dw: 0x18 } as const;
/** An access size by its kernel name (`BPF_W`, `BPF_H`, `BPF_B`, `BPF_DW`). */
export type Size = keyof typeof SIZES;

/** Modes of load and store classes (`BPF_MODE(code)`). */
export const MODES = { imm: 0x00, abs: 0x20, ind: 0x40, mem: 0x60, memsx: 0x80, atomic: 0xc0 } as const;
/** A load/store mode by its kernel name. */
export type Mode = keyof typeof MODES;

/** Operations of the ALU classes (`BPF_OP(code)`). */
export const ALU_OPS = {
  add: 0x00,
  sub: 0x10,
  mul: 0x20,
  div: 0x30,
  or: 0x40,
  and: 0x50,
  lsh: 0x60,
  rsh: 0x70,
  neg: 0x80,
  mod: 0x90,
  xor: 0xa0,
  mov: 0xb0,
  arsh: 0xc0,
  end: 0xd0,
} as const;
/** An ALU operation by its kernel name. */
export type AluOp = keyof typeof ALU_OPS;

/** Operations of the jump classes (`BPF_OP(code)`). */
export const JMP_OPS = {
  ja: 0x00,
  jeq: 0x10,
  jgt: 0x20,
  jge: 0x30,
  jset: 0x40,
  jne: 0x50,
  jsgt: 0x60,
  jsge: 0x70,
  call: 0x80,
  exit: 0x90,
  jlt: 0xa0,
  jle: 0xb0,
  jslt: 0xc0,
  jsle: 0xd0,
  jcond: 0xe0,
} as const;
/** A jump operation by its kernel name. */
export type JmpOp = keyof typeof JMP_OPS;

/** Operand source of ALU and jump classes (`BPF_SRC(code)`): `k` the immediate, `x` the src register. */
export const SOURCES = { k: 0x00, x: 0x08 } as const;
/** An operand source. For `end` (byte swap), `k` is `BPF_TO_LE` and `x` is `BPF_TO_BE`. */
export type Source = keyof typeof SOURCES;

/** The opcode byte as fields: which fields exist depends on the class. */
export type Opcode =
  | { readonly class: 'alu' | 'alu64'; readonly op: AluOp; readonly source: Source }
  | { readonly class: 'jmp' | 'jmp32'; readonly op: JmpOp; readonly source: Source }
  | { readonly class: 'ld' | 'ldx' | 'st' | 'stx'; readonly size: Size; readonly mode: Mode };

/** The opcode byte of `opcode`. */
export function encodeOpcode(opcode: Opcode): number {
  switch (opcode.class) {
    case 'alu':
    case 'alu64':
      return CLASSES[opcode.class] | ALU_OPS[opcode.op] | SOURCES[opcode.source];
    case 'jmp':
    case 'jmp32':
      return CLASSES[opcode.class] | JMP_OPS[opcode.op] | SOURCES[opcode.source];
    case 'ld':
    case 'ldx':
    case 'st':
    case 'stx':
      return CLASSES[opcode.class] | SIZES[opcode.size] | MODES[opcode.mode];
  }
}

function keyOf<T extends Record<string, number>>(table: T, value: number): keyof T | undefined {
  for (const key of Object.keys(table)) {
    if (table[key] === value) return key;
  }
  return undefined;
}

/**
 * The fields of an opcode byte. Throws a {@link BpfmemError} (`input`) for a byte that no eBPF
 * instruction uses (an unknown operation or mode).
 */
export function decodeOpcode(code: number): Opcode {
  if (!Number.isInteger(code) || code < 0 || code > 0xff) {
    throw new BpfmemError('input', `opcode ${code} is not a byte`);
  }
  const cls = keyOf(CLASSES, code & 0x07);
  const hex = `0x${code.toString(16).padStart(2, '0')}`;
  switch (cls) {
    case 'alu':
    case 'alu64': {
      const op = keyOf(ALU_OPS, code & 0xf0);
      if (op === undefined) throw new BpfmemError('input', `opcode ${hex}: unknown ALU operation`);
      return { class: cls, op, source: (code & 0x08) === 0 ? 'k' : 'x' };
    }
    case 'jmp':
    case 'jmp32': {
      const op = keyOf(JMP_OPS, code & 0xf0);
      if (op === undefined) throw new BpfmemError('input', `opcode ${hex}: unknown jump operation`);
      return { class: cls, op, source: (code & 0x08) === 0 ? 'k' : 'x' };
    }
    case 'ld':
    case 'ldx':
    case 'st':
    case 'stx': {
      const mode = keyOf(MODES, code & 0xe0);
      if (mode === undefined) throw new BpfmemError('input', `opcode ${hex}: unknown load/store mode`);
      const size = keyOf(SIZES, code & 0x18);
      // Every two-bit size value is named, so `size` is never undefined here.
      if (size === undefined) throw new BpfmemError('input', `opcode ${hex}: unknown size`);
      return { class: cls, size, mode };
    }
    case undefined:
      // Every three-bit class value is named; unreachable for a byte.
      throw new BpfmemError('input', `opcode ${hex}: unknown class`);
  }
}
