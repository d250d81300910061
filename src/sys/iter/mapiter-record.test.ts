import { describe, expect, it } from 'vitest';
import { ELEMENTS_UNREAD, MAP_RECORD, parseMapRecords } from './mapiter-record.js';

/** The map iterator's binary records, parsed. */

interface Fields {
  id: number;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  cgroupId: bigint;
  name: string | Uint8Array;
  mapExtra?: bigint;
  /** Default: all ones, "not read". */
  elements?: bigint;
}

/** Records as the program writes them (little-endian, the name NUL-padded). */
function records(...rs: Fields[]): Uint8Array {
  const out = new Uint8Array(rs.length * MAP_RECORD.size);
  const view = new DataView(out.buffer);
  for (const [i, r] of rs.entries()) {
    const at = i * MAP_RECORD.size;
    for (const key of ['id', 'type', 'keySize', 'valueSize', 'maxEntries', 'flags'] as const) view.setUint32(at + MAP_RECORD[key], r[key], true);
    view.setBigUint64(at + MAP_RECORD.cgroupId, r.cgroupId, true);
    out.set(typeof r.name === 'string' ? new TextEncoder().encode(r.name) : r.name, at + MAP_RECORD.name);
    view.setBigUint64(at + MAP_RECORD.mapExtra, r.mapExtra ?? 0n, true);
    view.setBigUint64(at + MAP_RECORD.elements, r.elements ?? ELEMENTS_UNREAD, true);
  }
  return out;
}

const HASH: Fields = { id: 7, type: 1, keySize: 8, valueSize: 32, maxEntries: 1024, flags: 1, cgroupId: 91709n, name: 'conntrack' };

describe('parseMapRecords', () => {
  it('is 64 bytes a map', () => {
    expect(MAP_RECORD.size).toBe(64);
  });

  it('parses every field of every record', () => {
    const r = parseMapRecords(records(HASH, { ...HASH, id: 8, type: 2, flags: 0x400, cgroupId: 0n, name: 'arr' }));
    expect(r).toEqual({
      ok: true,
      value: [
        { id: 7, type: 1, keySize: 8, valueSize: 32, maxEntries: 1024, flags: 1, name: 'conntrack', cgroupId: 91709n, mapExtra: 0, elements: undefined },
        { id: 8, type: 2, keySize: 8, valueSize: 32, maxEntries: 1024, flags: 0x400, name: 'arr', cgroupId: 0n, mapExtra: 0, elements: undefined },
      ],
    });
  });

  it('reads u32 fields unsigned and kernfs ids as full u64', () => {
    const r = parseMapRecords(records({ ...HASH, id: 0xffffffff, flags: 0x80000000, cgroupId: 0xffff_ffff_ffff_fffen }));
    expect(r.ok && r.value[0]).toMatchObject({ id: 0xffffffff, flags: 0x80000000, cgroupId: 0xffff_ffff_ffff_fffen });
  });

  it('takes a name of all 16 bytes (no NUL) whole, and stops at the first NUL', () => {
    expect(parseMapRecords(records({ ...HASH, name: 'abcdefghijklmnop' })).ok && parseMapRecords(records({ ...HASH, name: 'abcdefghijklmnop' }))).toMatchObject({
      value: [{ name: 'abcdefghijklmnop' }],
    });
    expect(parseMapRecords(records({ ...HASH, name: Uint8Array.from([0x61, 0, 0x62]) }))).toMatchObject({ value: [{ name: 'a' }] });
  });

  it('reads element counts, and says "not read" for all ones and for what no count can be', () => {
    const r = parseMapRecords(records({ ...HASH, elements: 0n }, { ...HASH, elements: 123_456n }, { ...HASH, elements: 2n ** 53n }, { ...HASH, elements: -1n & 0xffff_ffff_ffff_ffffn }));
    expect(r.ok && r.value.map((m) => m.elements)).toEqual([0, 123_456, undefined, undefined]);
  });

  it('keeps the low 53 bits of map_extra (a bloom filter hash count, an arena address)', () => {
    const r = parseMapRecords(records({ ...HASH, mapExtra: 5n }, { ...HASH, mapExtra: 0x1_0000_0000_0000n + 7n }, { ...HASH, mapExtra: 0xffe0_0000_0000_0001n }));
    expect(r.ok && r.value.map((m) => m.mapExtra)).toEqual([5, 0x1_0000_0000_0007, 1]);
  });

  it('gives null cgroup ids where the kernel keeps no charge pointer', () => {
    expect(parseMapRecords(records(HASH), false)).toMatchObject({ value: [{ cgroupId: null }] });
  });

  it('accepts no maps at all', () => {
    expect(parseMapRecords(new Uint8Array(0))).toEqual({ ok: true, value: [] });
  });

  it.each([1, 63, 65, 127])('refuses %d bytes (not whole records)', (n) => {
    expect(parseMapRecords(new Uint8Array(n))).toEqual({ ok: false, error: `map iterator output of ${n} bytes is not a whole number of 64-byte records` });
  });

  it('reads records from a view into a larger buffer', () => {
    const whole = new Uint8Array(5 + MAP_RECORD.size);
    whole.set(records(HASH), 5);
    expect(parseMapRecords(whole.subarray(5))).toMatchObject({ ok: true, value: [{ id: 7, name: 'conntrack' }] });
  });
});
