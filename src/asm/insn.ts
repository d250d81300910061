import { BpfmemError } from '../vocab/errors.js';
import { HELPERS, type HelperName } from './helpers.js';
import type { AluOp, JmpOp, Opcode, Size } from './opcode.js';

/**
 * eBPF instructions as values: `struct bpf_insn` of include/uapi/linux/bpf.h
 * (`code`, `dst_reg:4`, `src_reg:4`, `off` s16, `imm` s32), with jump offsets that may name a
 * {@link Label} instead of a number. {@link assemble} (assemble.ts) turns a program into bytes.
 * Nothing here makes a system call: this module runs anywhere, like the model.
 */

/** A register number: R0–R9 general purpose, R10 the read-only frame pointer (`BPF_REG_0`…`BPF_REG_10`). */
export type Register = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10;

/** R0: return value of helpers and of the program. */
export const R0 = 0;
/** R1: first helper argument; the context pointer on program entry. */
export const R1 = 1;
/** R2: second helper argument. */
export const R2 = 2;
/** R3: third helper argument. */
export const R3 = 3;
/** R4: fourth helper argument. */
export const R4 = 4;
/** R5: fifth helper argument. */
export const R5 = 5;
/** R6: callee-saved. */
export const R6 = 6;
/** R7: callee-saved. */
export const R7 = 7;
/** R8: callee-saved. */
export const R8 = 8;
/** R9: callee-saved. */
export const R9 = 9;
/** R10: the frame pointer (read-only; the stack is the 512 bytes below it). */
export const R10 = 10;

/** `src_reg` of a `BPF_LD | BPF_DW | BPF_IMM` whose imm is a map fd (`BPF_PSEUDO_MAP_FD`, uapi/bpf.h). */
export const BPF_PSEUDO_MAP_FD = 1;
/** `src_reg` of a `BPF_LD | BPF_DW | BPF_IMM` whose imm is a map fd and off an offset into its value (`BPF_PSEUDO_MAP_VALUE`). */
export const BPF_PSEUDO_MAP_VALUE = 2;

/** Atomic operations (`imm` of `BPF_STX | BPF_ATOMIC`): `BPF_ADD` with or without `BPF_FETCH` (0x01). */
const BPF_ATOMIC_ADD = 0x00;
const BPF_FETCH = 0x01;
/** `BPF_CMPXCHG` (`0xf0 | BPF_FETCH`): compare R0 with the memory, store src if equal; R0 gets the old value. */
const BPF_CMPXCHG = 0xf0 | BPF_FETCH;

/**
 * A jump target: a label's name (resolved by {@link assemble}) or a signed offset in
 * instruction slots relative to the next slot (`pc + off + 1`).
 */
export type JumpTarget = number | string;

/** One instruction. `ldImm64` (two slots) carries the upper half of its constant in `imm2`. */
export interface Insn {
  readonly opcode: Opcode;
  readonly dst: Register;
  /**
   * `src_reg`: a register, or a pseudo source of `ld_imm64` (`BPF_PSEUDO_MAP_FD` …) or `call`
   * (`BPF_PSEUDO_CALL`, `BPF_PSEUDO_KFUNC_CALL`); always 0–15.
   */
  readonly src: number;
  /** `off`: a signed 16-bit number, or a label to be resolved by {@link assemble} for jumps. */
  readonly off: JumpTarget;
  /** `imm`: a signed 32-bit number. */
  readonly imm: number;
  /** The second slot's `imm` (bits 32–63 of the constant) of a 16-byte `ld_imm64`. */
  readonly imm2?: number;
}

/** A position in a program that jumps may name. */
export interface Label {
  readonly label: string;
}

/** An element of a program: an instruction or a label marking the next instruction. */
export type ProgramItem = Insn | Label;

/** Whether a program item is a {@link Label}. */
export function isLabel(item: ProgramItem): item is Label {
  return 'label' in item;
}

/** A label named `name`, marking the instruction that follows it. */
export function label(name: string): Label {
  if (name === '') throw new BpfmemError('input', 'a label needs a name');
  return { label: name };
}

/** Throws unless `n` fits a signed 32-bit imm; accepts unsigned 32-bit values and wraps them (as llvm-mc does for `r9 = 0xffffffff`). */
function imm32(n: number, what: string): number {
  if (!Number.isInteger(n) || n < -(2 ** 31) || n > 2 ** 32 - 1) {
    throw new BpfmemError('input', `${what}: ${n} does not fit a 32-bit immediate`);
  }
  return n | 0;
}

/** Throws unless `n` fits the signed 16-bit `off` field. */
function off16(n: JumpTarget, what: string): JumpTarget {
  if (typeof n === 'string') return n;
  if (!Number.isInteger(n) || n < -(2 ** 15) || n > 2 ** 15 - 1) {
    throw new BpfmemError('input', `${what}: offset ${n} does not fit 16 bits`);
  }
  return n;
}

function reg(r: number, what: string): Register {
  if (!Number.isInteger(r) || r < 0 || r > 10) throw new BpfmemError('input', `${what}: r${r} is not a register (r0–r10)`);
  return r as Register;
}

/** `dst = imm` (64-bit, imm sign-extended): `BPF_ALU64 | BPF_MOV | BPF_K`. */
export function mov64Imm(dst: Register, imm: number): Insn {
  return alu64Imm('mov', dst, imm);
}

/** `dst = src` (64-bit): `BPF_ALU64 | BPF_MOV | BPF_X`. */
export function mov64Reg(dst: Register, src: Register): Insn {
  return alu64Reg('mov', dst, src);
}

/** `w(dst) = imm` (32-bit, upper half zeroed): `BPF_ALU | BPF_MOV | BPF_K`. */
export function mov32Imm(dst: Register, imm: number): Insn {
  return alu32Imm('mov', dst, imm);
}

/** `w(dst) = w(src)` (32-bit, upper half zeroed): `BPF_ALU | BPF_MOV | BPF_X`. */
export function mov32Reg(dst: Register, src: Register): Insn {
  return alu32Reg('mov', dst, src);
}

/** An ALU operation other than byte swap (see {@link endian}). */
export type AluOpNoEnd = Exclude<AluOp, 'end'>;

/** `dst op= imm` on 64 bits: `BPF_ALU64 | op | BPF_K` (`neg` ignores imm). */
export function alu64Imm(op: AluOpNoEnd, dst: Register, imm: number): Insn {
  return { opcode: { class: 'alu64', op, source: 'k' }, dst: reg(dst, op), src: 0, off: 0, imm: imm32(imm, op) };
}

/** `dst op= src` on 64 bits: `BPF_ALU64 | op | BPF_X`. */
export function alu64Reg(op: AluOpNoEnd, dst: Register, src: Register): Insn {
  return { opcode: { class: 'alu64', op, source: 'x' }, dst: reg(dst, op), src: reg(src, op), off: 0, imm: 0 };
}

/** `w(dst) op= imm` on 32 bits: `BPF_ALU | op | BPF_K`. */
export function alu32Imm(op: AluOpNoEnd, dst: Register, imm: number): Insn {
  return { opcode: { class: 'alu', op, source: 'k' }, dst: reg(dst, op), src: 0, off: 0, imm: imm32(imm, op) };
}

/** `w(dst) op= w(src)` on 32 bits: `BPF_ALU | op | BPF_X`. */
export function alu32Reg(op: AluOpNoEnd, dst: Register, src: Register): Insn {
  return { opcode: { class: 'alu', op, source: 'x' }, dst: reg(dst, op), src: reg(src, op), off: 0, imm: 0 };
}

/** `dst = be16/be32/be64 dst` or the `le` forms: `BPF_ALU | BPF_END | BPF_TO_BE/BPF_TO_LE`, imm = width. */
export function endian(order: 'le' | 'be', dst: Register, bits: 16 | 32 | 64): Insn {
  return { opcode: { class: 'alu', op: 'end', source: order === 'be' ? 'x' : 'k' }, dst: reg(dst, 'end'), src: 0, off: 0, imm: bits };
}

/**
 * `dst = value` for any 64-bit constant: `BPF_LD | BPF_DW | BPF_IMM`, the only instruction that
 * takes two slots (imm holds bits 0–31, the second slot's imm bits 32–63).
 */
export function ldImm64(dst: Register, value: bigint | number): Insn {
  if (typeof value === 'number' && !Number.isSafeInteger(value)) {
    throw new BpfmemError('input', `ld_imm64: ${value} is not a safe integer (pass a bigint)`);
  }
  const big = BigInt(value);
  if (big < -(2n ** 63n) || big > 2n ** 64n - 1n) throw new BpfmemError('input', `ld_imm64: ${big} does not fit 64 bits`);
  const v = BigInt.asUintN(64, big);
  return {
    opcode: { class: 'ld', size: 'dw', mode: 'imm' },
    dst: reg(dst, 'ld_imm64'),
    src: 0,
    off: 0,
    imm: Number(BigInt.asIntN(32, v)),
    imm2: Number(BigInt.asIntN(32, v >> 32n)),
  };
}

/**
 * `dst = map` for the map behind file descriptor `fd`: an `ld_imm64` with
 * `src_reg = BPF_PSEUDO_MAP_FD` and imm = fd, which the verifier replaces with the map's address.
 */
export function ldMapFd(dst: Register, fd: number): Insn {
  return { opcode: { class: 'ld', size: 'dw', mode: 'imm' }, dst: reg(dst, 'ld_map_fd'), src: BPF_PSEUDO_MAP_FD, off: 0, imm: imm32(fd, 'ld_map_fd'), imm2: 0 };
}

/** `dst = *(size *)(src + off)`: `BPF_LDX | size | BPF_MEM`. */
export function ldxMem(size: Size, dst: Register, src: Register, off: number): Insn {
  return { opcode: { class: 'ldx', size, mode: 'mem' }, dst: reg(dst, 'ldx'), src: reg(src, 'ldx'), off: off16(off, 'ldx'), imm: 0 };
}

/** `*(size *)(dst + off) = src`: `BPF_STX | size | BPF_MEM`. */
export function stxMem(size: Size, dst: Register, src: Register, off: number): Insn {
  return { opcode: { class: 'stx', size, mode: 'mem' }, dst: reg(dst, 'stx'), src: reg(src, 'stx'), off: off16(off, 'stx'), imm: 0 };
}

/** `*(size *)(dst + off) = imm`: `BPF_ST | size | BPF_MEM`. */
export function stMem(size: Size, dst: Register, off: number, imm: number): Insn {
  return { opcode: { class: 'st', size, mode: 'mem' }, dst: reg(dst, 'st'), src: 0, off: off16(off, 'st'), imm: imm32(imm, 'st') };
}

/**
 * `lock *(size *)(dst + off) += src`: `BPF_STX | size | BPF_ATOMIC`, imm = `BPF_ADD`. With
 * `fetch`, imm = `BPF_ADD | BPF_FETCH` and `src` receives the old value (kernel 5.12+). Only
 * `w` and `dw` sizes exist.
 */
export function atomicAdd(size: 'w' | 'dw', dst: Register, src: Register, off: number, options: { fetch?: boolean } = {}): Insn {
  return {
    opcode: { class: 'stx', size, mode: 'atomic' },
    dst: reg(dst, 'atomic_add'),
    src: reg(src, 'atomic_add'),
    off: off16(off, 'atomic_add'),
    imm: options.fetch === true ? BPF_ATOMIC_ADD | BPF_FETCH : BPF_ATOMIC_ADD,
  };
}

/**
 * `r0 = atomic_cmpxchg((size *)(dst + off), r0, src)`: `BPF_STX | size | BPF_ATOMIC`, imm =
 * `BPF_CMPXCHG`. Stores `src` where the memory equals R0 and always leaves the old value in R0
 * (zero-extended for `w`). Kernel 5.12+ (kernel/bpf/verifier.c `check_atomic`); older verifiers
 * refuse it with EINVAL.
 */
export function atomicCmpxchg(size: 'w' | 'dw', dst: Register, src: Register, off: number): Insn {
  return {
    opcode: { class: 'stx', size, mode: 'atomic' },
    dst: reg(dst, 'atomic_cmpxchg'),
    src: reg(src, 'atomic_cmpxchg'),
    off: off16(off, 'atomic_cmpxchg'),
    imm: BPF_CMPXCHG,
  };
}

/** A conditional jump operation. */
export type CondJmpOp = Exclude<JmpOp, 'ja' | 'call' | 'exit' | 'jcond'>;

/** `if dst op imm goto target` (64-bit compare): `BPF_JMP | op | BPF_K`. */
export function jmpImm(op: CondJmpOp, dst: Register, imm: number, target: JumpTarget): Insn {
  return { opcode: { class: 'jmp', op, source: 'k' }, dst: reg(dst, op), src: 0, off: off16(target, op), imm: imm32(imm, op) };
}

/** `if dst op src goto target` (64-bit compare): `BPF_JMP | op | BPF_X`. */
export function jmpReg(op: CondJmpOp, dst: Register, src: Register, target: JumpTarget): Insn {
  return { opcode: { class: 'jmp', op, source: 'x' }, dst: reg(dst, op), src: reg(src, op), off: off16(target, op), imm: 0 };
}

/** `if w(dst) op imm goto target` (32-bit compare): `BPF_JMP32 | op | BPF_K`. */
export function jmp32Imm(op: CondJmpOp, dst: Register, imm: number, target: JumpTarget): Insn {
  return { opcode: { class: 'jmp32', op, source: 'k' }, dst: reg(dst, op), src: 0, off: off16(target, op), imm: imm32(imm, op) };
}

/** `if w(dst) op w(src) goto target` (32-bit compare): `BPF_JMP32 | op | BPF_X`. */
export function jmp32Reg(op: CondJmpOp, dst: Register, src: Register, target: JumpTarget): Insn {
  return { opcode: { class: 'jmp32', op, source: 'x' }, dst: reg(dst, op), src: reg(src, op), off: off16(target, op), imm: 0 };
}

/** `goto target`: `BPF_JMP | BPF_JA`. */
export function ja(target: JumpTarget): Insn {
  return { opcode: { class: 'jmp', op: 'ja', source: 'k' }, dst: 0, src: 0, off: off16(target, 'ja'), imm: 0 };
}

/** `call helper`: `BPF_JMP | BPF_CALL`, imm = the helper id (`enum bpf_func_id`). */
export function call(helper: HelperName | number): Insn {
  const id = typeof helper === 'number' ? helper : HELPERS[helper];
  return { opcode: { class: 'jmp', op: 'call', source: 'k' }, dst: 0, src: 0, off: 0, imm: imm32(id, 'call') };
}

/** `exit`: return R0. `BPF_JMP | BPF_EXIT`. */
export function exit(): Insn {
  return { opcode: { class: 'jmp', op: 'exit', source: 'k' }, dst: 0, src: 0, off: 0, imm: 0 };
}

/** Whether an instruction takes two slots (`ld_imm64`). */
export function isWide(insn: Insn): boolean {
  const { opcode } = insn;
  return opcode.class === 'ld' && opcode.mode === 'imm' && opcode.size === 'dw';
}
