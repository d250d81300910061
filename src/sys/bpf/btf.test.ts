import { describe, expect, it } from 'vitest';
import { encodeBtf, parseBtf } from '../../btf/index.js';
import { BpfmemError } from '../../vocab/errors.js';
import { BTF_KINDS, findBtfMemberOffset, findBtfTypeId } from './btf.js';

/** Builds a BTF blob (uapi/btf.h layout) from types given as u32 words and a string table. */
function blob(types: number[][], strings: string[]): Uint8Array {
  const strBytes = new TextEncoder().encode('\0' + strings.map((s) => s + '\0').join(''));
  const typeWords = types.flat();
  const hdrLen = 24;
  const out = new Uint8Array(hdrLen + typeWords.length * 4 + strBytes.length);
  const v = new DataView(out.buffer);
  v.setUint16(0, 0xeb9f, true);
  v.setUint8(2, 1);
  v.setUint32(4, hdrLen, true);
  v.setUint32(8, 0, true);
  v.setUint32(12, typeWords.length * 4, true);
  v.setUint32(16, typeWords.length * 4, true);
  v.setUint32(20, strBytes.length, true);
  for (const [i, w] of typeWords.entries()) v.setUint32(hdrLen + i * 4, w, true);
  out.set(strBytes, hdrLen + typeWords.length * 4);
  return out;
}

/** The string offset of `name` in the table built from `strings`. */
function off(strings: string[], name: string): number {
  let at = 1;
  for (const s of strings) {
    if (s === name) return at;
    at += s.length + 1;
  }
  throw new Error(name);
}

const info = (kind: number, vlen: number, kflag = false): number => ((kflag ? 1 : 0) << 31) | (kind << 24) | vlen;

const STRINGS = ['int', 'bpf_map', 'ops', 'id', 'bits', 'bpf_iter_bpf_map', 'ctx', 'E', 'A'];
const s = (name: string): number => off(STRINGS, name);
/** Types 1–7: int, enum (2 values), struct bpf_map {ops; id; bits:3}, ptr, func_proto (1 param), func, a kind-flag struct. */
const TYPES = [
  [s('int'), info(BTF_KINDS.int, 0), 4, 0x01000020],
  [s('E'), info(BTF_KINDS.enum, 2), 4, s('A'), 0, s('A'), 1],
  [s('bpf_map'), info(BTF_KINDS.struct, 3, true), 16, s('ops'), 4, 0, s('id'), 1, 64, s('bits'), 1, (3 << 24) | 96],
  [0, info(BTF_KINDS.ptr, 0), 3],
  [0, info(BTF_KINDS.func_proto, 1), 1, s('ctx'), 4],
  [s('bpf_iter_bpf_map'), info(BTF_KINDS.func, 0), 5],
];
const BTF = blob(TYPES, STRINGS);

describe('findBtfTypeId', () => {
  it.each([
    ['int', 'int', 1],
    ['E', 'enum', 2],
    ['bpf_map', 'struct', 3],
    ['bpf_iter_bpf_map', 'func', 6],
  ] as const)('finds %s (%s) as type %d', (name, kind, id) => {
    expect(findBtfTypeId(BTF, name, kind)).toBe(id);
  });

  it('needs the kind to match as well as the name', () => {
    expect(findBtfTypeId(BTF, 'bpf_map', 'func')).toBeUndefined();
  });

  it('does not match a prefix of a longer name', () => {
    expect(findBtfTypeId(BTF, 'bpf_iter', 'func')).toBeUndefined();
  });

  it('rejects bytes that are not BTF', () => {
    expect(() => findBtfTypeId(new Uint8Array(32), 'int', 'int')).toThrow(BpfmemError);
  });

  it('rejects a kind it cannot skip', () => {
    const bad = blob([[0, info(31, 0), 0], ...TYPES], STRINGS);
    expect(() => findBtfTypeId(bad, 'bpf_iter_bpf_map', 'func')).toThrow(/unknown kind 31/);
  });
});

describe('findBtfMemberOffset', () => {
  it('gives offsetof in bytes', () => {
    expect(findBtfMemberOffset(BTF, 'bpf_map', 'ops')).toBe(0);
    expect(findBtfMemberOffset(BTF, 'bpf_map', 'id')).toBe(8);
  });

  it('refuses a bit field', () => {
    expect(findBtfMemberOffset(BTF, 'bpf_map', 'bits')).toBeUndefined();
  });

  it('is undefined for an unknown struct or member', () => {
    expect(findBtfMemberOffset(BTF, 'bpf_prog', 'id')).toBeUndefined();
    expect(findBtfMemberOffset(BTF, 'bpf_map', 'name')).toBeUndefined();
  });
});

describe('the lookups over src/btf', () => {
  const withAnonymous = encodeBtf([
    { kind: 'int', name: 'int', size: 4, signed: true, char: false, bool: false, bitOffset: 0, bits: 32 },
    {
      kind: 'struct',
      name: 'outer',
      size: 16,
      kindFlag: false,
      members: [
        { name: 'a', type: 1, bitOffset: 0, bitfieldSize: 0 },
        { name: '', type: 3, bitOffset: 64, bitfieldSize: 0 },
      ],
    },
    { kind: 'union', name: '', size: 8, kindFlag: false, members: [{ name: 'hidden', type: 1, bitOffset: 32, bitfieldSize: 0 }] },
  ]);

  it('find members of anonymous unions and take dot paths', () => {
    expect(findBtfMemberOffset(withAnonymous, 'outer', 'hidden')).toBe(12);
  });

  it('take a parsed Btf as well as bytes', () => {
    const r = parseBtf(withAnonymous);
    if (!r.ok) throw new Error(r.error);
    expect(findBtfTypeId(r.value, 'outer', 'struct')).toBe(2);
    expect(findBtfMemberOffset(r.value, 'outer', 'a')).toBe(0);
  });
});
