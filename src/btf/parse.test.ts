import { describe, expect, it } from 'vitest';
import { parseBtf } from './btf.js';
import { encodeBtf } from './encode.js';
import { BTF_KINDS, trailerSize } from './kinds.js';
import { SAMPLE_TYPES } from './sample.js';
import type { BtfTypeSpec } from './types.js';

/** The checks parseBtf makes before anything reads the blob, and the encoder's round trip. */

const SAMPLE = encodeBtf(SAMPLE_TYPES);
const HDR = 24;

/** A copy of the sample with `edit` applied through a DataView. */
function edited(edit: (view: DataView, bytes: Uint8Array) => void, bytes: Uint8Array = SAMPLE): Uint8Array {
  const copy = bytes.slice();
  edit(new DataView(copy.buffer), copy);
  return copy;
}

const typeLen = new DataView(SAMPLE.buffer).getUint32(12, true);
const strLen = new DataView(SAMPLE.buffer).getUint32(20, true);
/** Byte offset of type `id`'s btf_type in the sample (ids from 1): 12 bytes and its trailer per type before it. */
function typeAt(id: number): number {
  let at = HDR;
  for (const t of SAMPLE_TYPES.slice(0, id - 1)) {
    const vlen = 'members' in t ? t.members.length : 'values' in t ? t.values.length : 'params' in t ? t.params.length : 'vars' in t ? t.vars.length : 0;
    at += 12 + trailerSize(BTF_KINDS[t.kind], vlen)!;
  }
  return at;
}
const info = (kind: number, vlen: number, kflag = false): number => (((kflag ? 1 : 0) << 31) | (kind << 24) | vlen) >>> 0;

describe('parseBtf refuses what is not well-formed BTF', () => {
  const cases: readonly [string, Uint8Array, RegExp][] = [
    ['a blob shorter than the header', SAMPLE.subarray(0, 23), /shorter than the 24-byte header/],
    ['a wrong magic', edited((v) => { v.setUint16(0, 0x1234, true); }), /not BTF: magic 0x1234/],
    ['big-endian BTF', edited((v) => { v.setUint16(0, 0x9feb, true); }), /big-endian/],
    ['version 2', edited((v) => { v.setUint8(2, 2); }), /version 2/],
    ['header flags', edited((v) => { v.setUint8(3, 1); }), /flags 0x1/],
    ['hdr_len below 24', edited((v) => { v.setUint32(4, 8, true); }), /hdr_len 8 is shorter/],
    ['hdr_len beyond the end', edited((v) => { v.setUint32(4, 0xffffffff, true); }), /hdr_len 4294967295 is beyond the end/],
    ['a type section past the end', edited((v) => { v.setUint32(12, typeLen + strLen + 4, true); }), /type section .* runs past the end/],
    ['a type offset past the end', edited((v) => { v.setUint32(8, 0xfffffff0, true); }), /type section .* runs past the end/],
    ['a string section past the end', edited((v) => { v.setUint32(20, strLen + 1, true); }), /string section .* runs past the end/],
    ['a string offset past the end', edited((v) => { v.setUint32(16, 0xffffffff, true); }), /string section .* runs past the end/],
    ['an unaligned type section', edited((v) => { v.setUint32(8, 2, true); v.setUint32(12, typeLen - 4, true); }), /type_off 2 is not 4-byte aligned/],
    ['a type length not a multiple of 4', edited((v) => { v.setUint32(12, typeLen - 2, true); }), /type_len .* not a multiple of 4/],
    ['overlapping sections', edited((v) => { v.setUint32(16, 0, true); }), /overlap/],
    ['an empty string section', edited((v) => { v.setUint32(20, 0, true); }), /string section is empty/],
    ['a string section without its empty string', edited((_, b) => { b[HDR + typeLen] = 0x41; }), /does not start with the empty string/],
    ['a last string without its NUL', edited((_, b) => { b[b.length - 1] = 0x41; }), /does not end with a NUL/],
    ['an unknown kind', edited((v) => { v.setUint32(typeAt(3) + 4, info(25, 0), true); }), /^BTF type 3: unknown kind 25$/],
    ['kind 20, one past ENUM64', edited((v) => { v.setUint32(typeAt(5) + 4, info(20, 0), true); }), /^BTF type 5: unknown kind 20$/],
    ['kind 0 in the type section', edited((v) => { v.setUint32(typeAt(1) + 4, 0, true); }), /^BTF type 1: unknown kind 0$/],
    ['reserved info bits', edited((v) => { v.setUint32(typeAt(5) + 4, info(2, 0) | 0x00010000, true); }), /BTF type 5 \(ptr\): reserved bits/],
    ['kind_flag on a pointer', edited((v) => { v.setUint32(typeAt(5) + 4, info(2, 0, true), true); }), /BTF type 5 \(ptr\): kind_flag/],
    ['a vlen on a pointer', edited((v) => { v.setUint32(typeAt(5) + 4, info(2, 3), true); }), /BTF type 5 \(ptr\): vlen 3 where it must be 0/],
    ['a huge vlen', edited((v) => { v.setUint32(typeAt(12) + 4, info(4, 0xffff), true); }), /BTF type 12 \(struct, vlen 65535\): its 786420 trailing bytes run past/],
    ['a name offset beyond the strings', edited((v) => { v.setUint32(typeAt(1), strLen, true); }), /BTF type 1 \(int\): name offset \d+ is beyond/],
    ['a member name beyond the strings', edited((v) => { v.setUint32(typeAt(12) + 12, 0xffffffff, true); }), /BTF type 12 \(struct\): member 0 has a name offset beyond/],
    ['a reference beyond the last type', edited((v) => { v.setUint32(typeAt(5) + 8, 999, true); }), /BTF type 5 refers to type 999, but the last type is 37/],
    ['a member of a type that does not exist', edited((v) => { v.setUint32(typeAt(12) + 12 + 4, 1000, true); }), /BTF type 12 refers to type 1000/],
    ['an int of 3 bytes', edited((v) => { v.setUint32(typeAt(1) + 8, 3, true); }), /BTF type 1 \(int\): size 3/],
    ['an int wider than its size', edited((v) => { v.setUint32(typeAt(1) + 12, 33, true); }), /33 bits from bit 0 do not fit its 4 bytes/],
    ['an unknown int encoding', edited((v) => { v.setUint32(typeAt(1) + 12, 0x08000020, true); }), /unknown int encoding 0x8/],
    ['a func linkage of 3', edited((v) => { v.setUint32(typeAt(25) + 4, info(12, 3), true); }), /linkage 3/],
    ['a type cut by the end of its section', edited((v) => { v.setUint32(12, typeLen - 4, true); v.setUint32(16, typeLen - 4, true); }), /run past the end of the type section|cut by the end/],
  ];
  it.each(cases)('%s', (_, bytes, error) => {
    const r = parseBtf(bytes);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(error);
  });
});

describe('parseBtf accepts', () => {
  it('the sample', () => {
    expect(parseBtf(SAMPLE).ok).toBe(true);
  });

  it('a longer header of a newer kernel, its extra fields ignored', () => {
    const extra = 8;
    const longer = new Uint8Array(SAMPLE.length + extra);
    longer.set(SAMPLE.subarray(0, HDR));
    longer.set(SAMPLE.subarray(HDR), HDR + extra);
    new DataView(longer.buffer).setUint32(4, HDR + extra, true);
    longer.fill(0xaa, HDR, HDR + extra);
    const r = parseBtf(longer);
    expect(r.ok && r.value.findByName('bpf_map')?.id).toBe(12);
  });

  it('BTF with no types at all', () => {
    const r = parseBtf(encodeBtf([]));
    expect(r.ok && r.value.count).toBe(1);
  });

  it('a blob that is a view into a larger buffer', () => {
    const big = new Uint8Array(SAMPLE.length + 100);
    big.set(SAMPLE, 37);
    const r = parseBtf(big.subarray(37, 37 + SAMPLE.length));
    expect(r.ok && r.value.memberOffset('bpf_map', 'objcg')).toEqual({ ok: true, value: { bitfield: false, offset: 32, type: 15 } });
  });

  it('non-ASCII names', () => {
    const r = parseBtf(encodeBtf([{ kind: 'fwd', name: 'größe', union: true }]));
    expect(r.ok && r.value.findByName('größe', 'fwd')).toEqual({ kind: 'fwd', id: 1, name: 'größe', union: true });
  });
});

describe('encodeBtf', () => {
  it('round-trips every kind through parseBtf', () => {
    const r = parseBtf(SAMPLE);
    if (!r.ok) throw new Error(r.error);
    const back: BtfTypeSpec[] = [...r.value.types()].slice(1).map(({ id: _id, ...rest }) => rest as BtfTypeSpec);
    expect(back).toEqual(SAMPLE_TYPES);
  });

  it('stores each distinct string once', () => {
    const twice = encodeBtf([{ kind: 'fwd', name: 'same', union: false }, { kind: 'fwd', name: 'same', union: true }]);
    expect(new DataView(twice.buffer).getUint32(20, true)).toBe(1 + 'same'.length + 1);
  });
});
