import { describe, expect, it } from 'vitest';
import { decodeObjName, MAP_INFO_SIZE, parseMapInfo, parseProgInfo, PROG_INFO_SIZE } from './info.js';

function fromHex(hex: string): Uint8Array {
  return Uint8Array.from(hex.match(/../g) ?? [], (b) => parseInt(b, 16));
}

/**
 * Captured on this machine (Linux 6.18, x86-64): the bytes BPF_OBJ_GET_INFO_BY_FD wrote (info_len
 * 104) for `lru_hash` key 8 value 16 max_entries 100 flags BPF_F_NO_COMMON_LRU named
 * `fixture_lru`, and what `bpftool -j map show id 1058` printed at the same moment.
 */
const MAP_FIXTURE = {
  bytes: fromHex(
    '090000002204000008000000100000006400000002000000666978747572655f6c7275000000000000000000000000000000000000000000' +
      '000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000',
  ),
  bpftool: { id: 1058, type: 'lru_hash', name: 'fixture_lru', flags: 2, bytes_key: 8, bytes_value: 16, max_entries: 100 },
};

/**
 * Captured with the map above: a 9-instruction socket filter named `fixture_prog` that looks up
 * the map (info_len 232), and `bpftool -j prog show id 118` at the same moment.
 */
const PROG_FIXTURE = {
  bytes: fromHex(
    '010000007600000003aa8176f90585a2550000007000000000000000000000000000000000000000308776a1e30200000000000001000000' +
      '0000000000000000666978747572655f70726f67000000000000000001000000000000000000000000000000000000000100000001000000' +
      '0000000000000000000000000000000000000000080000000000000000000000000000000000000000000000000000000000000000000000' +
      '0000000010000000080000000100000000000000000000000000000000000000000000000000000000000000000000000a00000000000000' +
      '0000000000000000',
  ),
  bpftool: { id: 118, type: 'socket_filter', name: 'fixture_prog', tag: '03aa8176f90585a2', gpl_compatible: true, uid: 0, bytes_xlated: 112, bytes_jited: 85 },
};

describe('parseMapInfo', () => {
  it('reads a captured bpf_map_info as bpftool did', () => {
    expect(MAP_FIXTURE.bytes.length).toBe(MAP_INFO_SIZE);
    const info = parseMapInfo(MAP_FIXTURE.bytes);
    const b = MAP_FIXTURE.bpftool;
    expect({ id: info.id, type: info.typeName, name: info.name, flags: info.mapFlags, bytes_key: info.keySize, bytes_value: info.valueSize, max_entries: info.maxEntries }).toEqual(b);
    expect(info.type).toBe(9);
    expect(info.mapExtra).toBe(0n);
  });

  it('places every field at its uapi offset', () => {
    const bytes = new Uint8Array(MAP_INFO_SIZE);
    const v = new DataView(bytes.buffer);
    // struct bpf_map_info of include/uapi/linux/bpf.h, distinct values per field.
    for (const [off, val] of [
      [0, 2],
      [4, 77],
      [8, 3],
      [12, 4],
      [16, 5],
      [20, 6],
      [40, 7],
      [44, 8],
      [64, 9],
      [68, 10],
      [72, 11],
      [76, 12],
    ] as const) {
      v.setUint32(off, val, true);
    }
    bytes.set(new TextEncoder().encode('m.name_15_chars'), 24);
    v.setBigUint64(48, 13n, true);
    v.setBigUint64(56, 14n, true);
    v.setBigUint64(80, 0xffff_ffff_ffff_fff0n, true);
    expect(parseMapInfo(bytes)).toEqual({
      type: 2,
      typeName: 'array',
      id: 77,
      keySize: 3,
      valueSize: 4,
      maxEntries: 5,
      mapFlags: 6,
      name: 'm.name_15_chars',
      ifindex: 7,
      btfVmlinuxValueTypeId: 8,
      netnsDev: 13n,
      netnsIno: 14n,
      btfId: 9,
      btfKeyTypeId: 10,
      btfValueTypeId: 11,
      btfVmlinuxId: 12,
      mapExtra: 0xffff_ffff_ffff_fff0n,
    });
  });

  it('reads fields beyond the kernel-reported length as zero (an older kernel’s shorter struct)', () => {
    const bytes = Uint8Array.from(MAP_FIXTURE.bytes);
    new DataView(bytes.buffer).setBigUint64(80, 99n, true);
    // 5.15 and older stop before map_extra (offset 80).
    expect(parseMapInfo(bytes, 80).mapExtra).toBe(0n);
    expect(parseMapInfo(bytes, 80).maxEntries).toBe(100);
  });

  it('names a map type bpfmem does not know as undefined', () => {
    const bytes = new Uint8Array(MAP_INFO_SIZE);
    new DataView(bytes.buffer).setUint32(0, 999, true);
    expect(parseMapInfo(bytes).typeName).toBeUndefined();
  });
});

describe('parseProgInfo', () => {
  it('reads a captured bpf_prog_info as bpftool did', () => {
    expect(PROG_FIXTURE.bytes.length).toBe(PROG_INFO_SIZE);
    const info = parseProgInfo(PROG_FIXTURE.bytes);
    expect({
      id: info.id,
      type: info.typeName,
      name: info.name,
      tag: info.tag,
      gpl_compatible: info.gplCompatible,
      uid: info.createdByUid,
      bytes_xlated: info.xlatedProgLen,
      bytes_jited: info.jitedProgLen,
    }).toEqual(PROG_FIXTURE.bpftool);
    expect(info).toMatchObject({ nrMapIds: 1, verifiedInsns: 10, nrJitedKsyms: 1, nrJitedFuncLens: 1, nrProgTags: 1, funcInfoRecSize: 8, lineInfoRecSize: 16, jitedLineInfoRecSize: 8 });
    expect(info.loadTime).toBe(0x2e3a1768730n);
  });

  it('places the later fields at their uapi offsets', () => {
    const bytes = new Uint8Array(PROG_INFO_SIZE);
    const v = new DataView(bytes.buffer);
    v.setUint32(0, 26, true);
    v.setUint32(84, 0xffff_fffe, true); // gpl_compatible is bit 0 only
    v.setUint32(128, 5, true);
    v.setBigUint64(192, 6n, true);
    v.setBigUint64(200, 7n, true);
    v.setBigUint64(208, 8n, true);
    v.setUint32(216, 9, true);
    v.setUint32(220, 10, true);
    v.setUint32(224, 11, true);
    expect(parseProgInfo(bytes)).toMatchObject({
      typeName: 'tracing',
      gplCompatible: false,
      btfId: 5,
      runTimeNs: 6n,
      runCnt: 7n,
      recursionMisses: 8n,
      verifiedInsns: 9,
      attachBtfObjId: 10,
      attachBtfId: 11,
    });
  });
});

describe('decodeObjName', () => {
  it.each([
    ['stops at the first NUL', Uint8Array.of(0x61, 0x62, 0, 0x63), 'ab'],
    ['takes all 16 bytes without a NUL', new Uint8Array(16).fill(0x7a), 'z'.repeat(16)],
    ['is empty for a leading NUL', new Uint8Array(16), ''],
  ])('%s', (_what, bytes, name) => {
    expect(decodeObjName(bytes)).toBe(name);
  });
});
