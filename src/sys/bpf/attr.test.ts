import { describe, expect, it } from 'vitest';
import { BpfmemError } from '../../vocab/errors.js';
import {
  encodeObjName,
  getFdByIdAttr,
  getNextIdAttr,
  ID_SIZE,
  ITER_CREATE_SIZE,
  iterCreateAttr,
  LINK_CREATE_SIZE,
  linkCreateAttr,
  MAP_CREATE_SIZE,
  MAP_ELEM_SIZE,
  mapCreateAttr,
  mapElemAttr,
  OBJ_INFO_SIZE,
  OBJ_PATH_SIZE,
  objInfoAttr,
  objPathAttr,
  PROG_LOAD_SIZE,
  progLoadAttr,
} from './attr.js';

/** The u32 and u64 words of an attribute, keyed by offset, skipping zeros. */
function words(bytes: Uint8Array, u64Offsets: readonly number[] = []): Record<number, number | bigint> {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Record<number, number | bigint> = {};
  for (let off = 0; off < bytes.length; off += 4) {
    if (u64Offsets.includes(off)) {
      const x = v.getBigUint64(off, true);
      if (x !== 0n) out[off] = x;
      off += 4;
      continue;
    }
    const x = v.getUint32(off, true);
    if (x !== 0) out[off] = x;
  }
  return out;
}

const text = (bytes: Uint8Array, off: number): string => new TextDecoder().decode(bytes.subarray(off, off + 16)).replace(/\0+$/, '');

/**
 * Layouts against include/uapi/linux/bpf.h `union bpf_attr` and cilium/ebpf internal/sys/types.go
 * (MapCreateAttr, MapUpdateElemAttr, ProgLoadAttr, MapGetNextIdAttr, ObjGetInfoByFdAttr,
 * ObjPinAttr, LinkCreateIterAttr, IterCreateAttr): each field gets a distinct value, and the test
 * reads back where it landed.
 */
describe('bpf_attr layouts', () => {
  it('BPF_MAP_CREATE', () => {
    const a = mapCreateAttr({
      mapType: 1,
      keySize: 2,
      valueSize: 3,
      maxEntries: 4,
      mapFlags: 5,
      innerMapFd: 6,
      numaNode: 7,
      name: 'ct4',
      mapIfindex: 8,
      btfFd: 9,
      btfKeyTypeId: 10,
      btfValueTypeId: 11,
      btfVmlinuxValueTypeId: 12,
      mapExtra: 0x1_0000_000dn,
    });
    expect(a.length).toBe(MAP_CREATE_SIZE);
    const { 28: _n0, 32: _n1, ...rest } = words(a, [64]);
    expect(rest).toEqual({ 0: 1, 4: 2, 8: 3, 12: 4, 16: 5, 20: 6, 24: 7, 44: 8, 48: 9, 52: 10, 56: 11, 60: 12, 64: 0x1_0000_000dn });
    expect(text(a, 28)).toBe('ct4');
  });

  it('BPF_MAP_*_ELEM', () => {
    const a = mapElemAttr({ mapFd: 3, key: 0x7fff_0000_1000n, value: 0x7fff_0000_2000n, flags: 2 });
    expect(a.length).toBe(MAP_ELEM_SIZE);
    expect(words(a, [8, 16, 24])).toEqual({ 0: 3, 8: 0x7fff_0000_1000n, 16: 0x7fff_0000_2000n, 24: 2n });
  });

  it('BPF_PROG_LOAD', () => {
    const a = progLoadAttr({
      progType: 26,
      insnCnt: 2,
      insns: 0x1000n,
      license: 0x2000n,
      logLevel: 1,
      logSize: 4096,
      logBuf: 0x3000n,
      kernVersion: 4,
      progFlags: 5,
      name: 'iter_maps',
      progIfindex: 6,
      expectedAttachType: 28,
      attachBtfId: 7,
      attachBtfObjFd: 8,
    });
    expect(a.length).toBe(PROG_LOAD_SIZE);
    const { 48: _n0, 52: _n1, 56: _n2, ...rest } = words(a, [8, 16, 32]);
    expect(rest).toEqual({ 0: 26, 4: 2, 8: 0x1000n, 16: 0x2000n, 24: 1, 28: 4096, 32: 0x3000n, 40: 4, 44: 5, 64: 6, 68: 28, 108: 7, 112: 8 });
    expect(text(a, 48)).toBe('iter_maps');
  });

  it('BPF_*_GET_NEXT_ID and BPF_*_GET_FD_BY_ID', () => {
    expect(getNextIdAttr(41).length).toBe(ID_SIZE);
    expect(words(getNextIdAttr(41))).toEqual({ 0: 41 });
    expect(words(getFdByIdAttr(42, 1 << 3))).toEqual({ 0: 42, 8: 8 });
  });

  it('BPF_OBJ_GET_INFO_BY_FD', () => {
    const a = objInfoAttr(5, 104, 0x4000n);
    expect(a.length).toBe(OBJ_INFO_SIZE);
    expect(words(a, [8])).toEqual({ 0: 5, 4: 104, 8: 0x4000n });
  });

  it('BPF_OBJ_PIN and BPF_OBJ_GET', () => {
    const a = objPathAttr(0x5000n, 6, 1 << 4);
    expect(a.length).toBe(OBJ_PATH_SIZE);
    expect(words(a, [0])).toEqual({ 0: 0x5000n, 8: 6, 12: 16 });
  });

  it('BPF_LINK_CREATE for an iterator', () => {
    const a = linkCreateAttr({ progFd: 7, targetFd: 0, attachType: 28, iterInfo: 0x6000n, iterInfoLen: 4 });
    expect(a.length).toBe(LINK_CREATE_SIZE);
    expect(words(a, [16])).toEqual({ 0: 7, 8: 28, 16: 0x6000n, 24: 4 });
    expect(words(linkCreateAttr({ progFd: 7, attachType: 24, targetBtfId: 99 }))).toEqual({ 0: 7, 8: 24, 16: 99 });
    expect(() => linkCreateAttr({ progFd: 7, attachType: 28, targetBtfId: 1, iterInfo: 1n })).toThrow(BpfmemError);
  });

  it('BPF_ITER_CREATE', () => {
    expect(iterCreateAttr(9).length).toBe(ITER_CREATE_SIZE);
    expect(words(iterCreateAttr(9))).toEqual({ 0: 9 });
  });

  it.each([
    ['a negative u32', () => mapCreateAttr({ mapType: 1, keySize: -1, valueSize: 4, maxEntries: 1 })],
    ['a u32 above 2^32-1', () => mapCreateAttr({ mapType: 1, keySize: 4, valueSize: 4, maxEntries: 2 ** 32 })],
    ['a fractional u32', () => mapCreateAttr({ mapType: 1, keySize: 4, valueSize: 4, maxEntries: 1.5 })],
    ['a u64 above 2^64-1', () => mapCreateAttr({ mapType: 1, keySize: 4, valueSize: 4, maxEntries: 1, mapExtra: 2n ** 64n })],
  ])('rejects %s', (_what, build) => {
    expect(build).toThrow(BpfmemError);
  });
});

describe('encodeObjName', () => {
  it('NUL-pads a name into 16 bytes', () => {
    expect(Array.from(encodeObjName('a.b_9'))).toEqual([0x61, 0x2e, 0x62, 0x5f, 0x39, ...new Array<number>(11).fill(0)]);
  });

  it('takes 15 characters, the most that leave room for the NUL', () => {
    expect(encodeObjName('x'.repeat(15))[15]).toBe(0);
  });

  it.each([
    ['16 characters', 'x'.repeat(16)],
    ['a dash', 'my-map'],
    ['a space', 'my map'],
    ['non-ASCII', 'carte_é'],
  ])('rejects %s (kernel/bpf/syscall.c: bpf_obj_name_cpy)', (_what, name) => {
    expect(() => encodeObjName(name)).toThrow(BpfmemError);
  });
});
