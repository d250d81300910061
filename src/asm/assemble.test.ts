import { describe, expect, it } from 'vitest';
import { BpfmemError } from '../vocab/errors.js';
import { assemble, disassemble, INSN_SIZE } from './assemble.js';
import { call, exit, ja, jmpImm, label, ldMapFd, mov64Imm, R0, R1, type ProgramItem } from './insn.js';
import { decodeOpcode, encodeOpcode } from './opcode.js';

function offsets(bytes: Uint8Array): number[] {
  return disassemble(bytes).map((i) => (typeof i.off === 'number' ? i.off : NaN));
}

describe('assemble: labels', () => {
  it('resolves a forward jump to `target - (pc + 1)`', () => {
    const prog: ProgramItem[] = [jmpImm('jeq', R0, 0, 'out'), mov64Imm(R0, 1), mov64Imm(R0, 2), label('out'), exit()];
    expect(offsets(assemble(prog))).toEqual([2, 0, 0, 0]);
  });

  it('resolves a backward jump', () => {
    const prog: ProgramItem[] = [label('top'), mov64Imm(R0, 1), ja('top'), exit()];
    expect(offsets(assemble(prog))).toEqual([0, -2, 0]);
  });

  it('counts ld_imm64 as two slots', () => {
    const prog: ProgramItem[] = [jmpImm('jne', R1, 0, 'out'), ldMapFd(R1, 3), call('map_lookup_elem'), label('out'), exit()];
    const bytes = assemble(prog);
    expect(bytes.length).toBe(5 * INSN_SIZE);
    // The jump skips three slots: the two of ld_imm64 and the call.
    expect(offsets(bytes)[0]).toBe(3);
  });

  it('allows a label at the end and several labels on one slot', () => {
    const prog: ProgramItem[] = [jmpImm('jeq', R0, 0, 'b'), label('a'), label('b'), exit(), label('end')];
    expect(offsets(assemble(prog))).toEqual([0, 0]);
  });

  it.each([
    ['an unknown label', [jmpImm('jeq', R0, 0, 'nowhere'), exit()]],
    ['a label defined twice', [label('x'), exit(), label('x')]],
    ['a label on a non-jump', [{ ...mov64Imm(R0, 0), off: 'x' }, label('x'), exit()]],
    ['a pseudo source above 15', [{ ...mov64Imm(R0, 0), src: 16 }]],
  ] satisfies [string, ProgramItem[]][])('rejects %s', (_what, prog) => {
    expect(() => assemble(prog)).toThrow(BpfmemError);
  });

  it('rejects an empty label name', () => {
    expect(() => label('')).toThrow(BpfmemError);
  });
});

describe('disassemble', () => {
  it('round-trips a program with a map load, a call and jumps', () => {
    const prog: ProgramItem[] = [mov64Imm(R0, 0), ldMapFd(R1, 9), call('map_lookup_elem'), jmpImm('jeq', R0, 0, 'out'), mov64Imm(R0, -1), label('out'), exit()];
    const bytes = assemble(prog);
    expect(assemble(disassemble(bytes))).toEqual(bytes);
    expect(disassemble(bytes)[1]).toMatchObject({ src: 1, imm: 9, imm2: 0 });
  });

  it.each([
    ['a partial slot', new Uint8Array(7)],
    ['a truncated ld_imm64', Uint8Array.of(0x18, 0, 0, 0, 0, 0, 0, 0)],
    ['an unknown opcode', Uint8Array.of(0xff, 0, 0, 0, 0, 0, 0, 0)],
    ['dst_reg 11', Uint8Array.of(0xb7, 0x0b, 0, 0, 0, 0, 0, 0)],
  ])('rejects %s', (_what, bytes) => {
    expect(() => disassemble(bytes)).toThrow(BpfmemError);
  });
});

describe('opcode byte', () => {
  it('decodes and re-encodes every byte it accepts to itself', () => {
    let accepted = 0;
    for (let code = 0; code < 256; code++) {
      let decoded;
      try {
        decoded = decodeOpcode(code);
      } catch (error) {
        expect(error).toBeInstanceOf(BpfmemError);
        continue;
      }
      accepted++;
      expect(encodeOpcode(decoded)).toBe(code);
    }
    // 4 load/store classes × 4 sizes × 6 modes + 2 ALU classes × 14 ops × 2 sources
    // + 2 jump classes × 15 ops × 2 sources.
    expect(accepted).toBe(4 * 4 * 6 + 2 * 14 * 2 + 2 * 15 * 2);
  });
});
