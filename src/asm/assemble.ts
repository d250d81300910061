import { BpfmemError } from '../vocab/errors.js';
import { decodeOpcode, encodeOpcode } from './opcode.js';
import { isLabel, isWide, type Insn, type ProgramItem, type Register } from './insn.js';

/** Bytes of one instruction slot (`sizeof(struct bpf_insn)`). */
export const INSN_SIZE = 8;

/**
 * Where each label points and how many slots the program takes. Throws for a label defined twice.
 */
function layout(program: readonly ProgramItem[]): { labels: Map<string, number>; slots: number } {
  const labels = new Map<string, number>();
  let slot = 0;
  for (const item of program) {
    if (isLabel(item)) {
      if (labels.has(item.label)) throw new BpfmemError('input', `label "${item.label}" is defined twice`);
      labels.set(item.label, slot);
    } else {
      slot += isWide(item) ? 2 : 1;
    }
  }
  return { labels, slots: slot };
}

/** Whether `off` of this instruction is a jump offset (so that it may name a label). */
function isJump(insn: Insn): boolean {
  const { opcode } = insn;
  return (opcode.class === 'jmp' || opcode.class === 'jmp32') && opcode.op !== 'call' && opcode.op !== 'exit';
}

/**
 * Encodes a program as the kernel takes it in `BPF_PROG_LOAD`'s `insns`: 8 little-endian bytes
 * per slot (`struct bpf_insn`: code, `src_reg << 4 | dst_reg` on little-endian hosts, off s16,
 * imm s32), `ld_imm64` in two slots. Jumps that name a label get `off = target - (pc + 1)`.
 * Throws a {@link BpfmemError} (`input`) for an unknown or duplicate label, a label on a
 * non-jump, or an offset out of range.
 */
export function assemble(program: readonly ProgramItem[]): Uint8Array {
  const { labels, slots } = layout(program);
  const out = new Uint8Array(slots * INSN_SIZE);
  const view = new DataView(out.buffer);
  let pc = 0;
  for (const item of program) {
    if (isLabel(item)) continue;
    let off: number;
    if (typeof item.off === 'string') {
      if (!isJump(item)) throw new BpfmemError('input', `instruction ${pc}: only jumps may name a label ("${item.off}")`);
      const target = labels.get(item.off);
      if (target === undefined) throw new BpfmemError('input', `instruction ${pc}: jump to unknown label "${item.off}"`);
      off = target - (pc + 1);
      if (off < -(2 ** 15) || off > 2 ** 15 - 1) throw new BpfmemError('input', `instruction ${pc}: jump to "${item.off}" is too far (${off})`);
    } else {
      off = item.off;
    }
    writeSlot(view, pc, encodeOpcode(item.opcode), item.dst, item.src, off, item.imm);
    if (isWide(item)) {
      // The second slot of ld_imm64: all zero but imm (uapi/bpf.h, "BPF_LD | BPF_DW | BPF_IMM").
      writeSlot(view, pc + 1, 0, 0, 0, 0, item.imm2 ?? 0);
      pc += 2;
    } else {
      pc += 1;
    }
  }
  return out;
}

function writeSlot(view: DataView, slot: number, code: number, dst: number, src: number, off: number, imm: number): void {
  if (src < 0 || src > 15) throw new BpfmemError('input', `instruction ${slot}: src_reg ${src} does not fit 4 bits`);
  const at = slot * INSN_SIZE;
  view.setUint8(at, code);
  view.setUint8(at + 1, ((src & 0x0f) << 4) | (dst & 0x0f));
  view.setInt16(at + 2, off, true);
  view.setInt32(at + 4, imm, true);
}

/**
 * Decodes bytes in the layout {@link assemble} writes back into instructions (offsets stay
 * numbers). Throws a {@link BpfmemError} (`input`) for a length that is not a whole number of
 * slots, an unknown opcode, a dst_reg above 10, or a truncated `ld_imm64`.
 */
export function disassemble(bytes: Uint8Array): Insn[] {
  if (bytes.length % INSN_SIZE !== 0) throw new BpfmemError('input', `${bytes.length} bytes is not a whole number of instructions`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const insns: Insn[] = [];
  const n = bytes.length / INSN_SIZE;
  for (let slot = 0; slot < n; slot++) {
    const at = slot * INSN_SIZE;
    const opcode = decodeOpcode(view.getUint8(at));
    const regs = view.getUint8(at + 1);
    const dst = regs & 0x0f;
    if (dst > 10) throw new BpfmemError('input', `instruction ${slot}: dst_reg ${dst} is not a register`);
    const insn: Insn = { opcode, dst: dst as Register, src: regs >> 4, off: view.getInt16(at + 2, true), imm: view.getInt32(at + 4, true) };
    if (isWide(insn)) {
      if (slot + 1 >= n) throw new BpfmemError('input', `instruction ${slot}: ld_imm64 without its second slot`);
      insns.push({ ...insn, imm2: view.getInt32(at + INSN_SIZE + 4, true) });
      slot++;
    } else {
      insns.push(insn);
    }
  }
  return insns;
}
