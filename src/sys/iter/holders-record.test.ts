import { describe, expect, it } from 'vitest';
import { BpfmemError } from '../../vocab/errors.js';
import {
  CALIBRATION_RECORD_SIZE,
  decodeCString,
  encodeHolderRecord,
  HOLDER_RECORD_SIZE,
  parseCalibrationRecords,
  parseHolderRecords,
  type HolderRecord,
} from './holders-record.js';

const concat = (parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
};

describe('parseHolderRecords', () => {
  it('decodes what the holder program writes, in order', () => {
    const records: HolderRecord[] = [
      { tgid: 1234, fd: 3, kind: 'map', id: 17, comm: 'cilium-agent' },
      { tgid: 1234, fd: 9, kind: 'prog', id: 401, comm: 'cilium-agent' },
      { tgid: 4_000_000, fd: 65_535, kind: 'map', id: 0xffff_fffe, comm: '' },
    ];
    expect(parseHolderRecords(concat(records.map(encodeHolderRecord)))).toEqual(records);
  });

  it('reads nothing from no bytes', () => {
    expect(parseHolderRecords(new Uint8Array(0))).toEqual([]);
  });

  it('reads a record at an offset of a larger buffer (a subarray)', () => {
    const whole = concat([new Uint8Array(8), encodeHolderRecord({ tgid: 5, fd: 6, kind: 'prog', id: 7, comm: 'x' })]);
    expect(parseHolderRecords(whole.subarray(8))).toEqual([{ tgid: 5, fd: 6, kind: 'prog', id: 7, comm: 'x' }]);
  });

  it.each([1, 31, 33, 63])('refuses %d bytes: not whole records', (n) => {
    expect(() => parseHolderRecords(new Uint8Array(n))).toThrow(new BpfmemError('system', `holder iterator output: ${n} bytes is not a whole number of ${HOLDER_RECORD_SIZE}-byte records`));
  });

  it('refuses an unknown kind word (program and parser disagree)', () => {
    const bad = encodeHolderRecord({ tgid: 1, fd: 1, kind: 3, id: 1, comm: 'x' });
    expect(() => parseHolderRecords(concat([encodeHolderRecord({ tgid: 1, fd: 1, kind: 'map', id: 1, comm: 'x' }), bad]))).toThrow(/record 1: unknown kind 3/);
  });
});

describe('decodeCString (task comm)', () => {
  it.each([
    [[0x6e, 0x6f, 0x64, 0x65, 0, 0x41, 0x41], 'node'],
    [[0], ''],
    // 15 bytes and the NUL, the longest comm (TASK_COMM_LEN 16).
    [[...new TextEncoder().encode('kworker/u8:2-ev'), 0], 'kworker/u8:2-ev'],
    // No NUL at all: everything.
    [Array.from(new TextEncoder().encode('abcdefghijklmnop')), 'abcdefghijklmnop'],
    // A comm cut inside a UTF-8 sequence (the kernel cuts bytes): a replacement character.
    [[0x63, 0xc3, 0], 'c\ufffd'],
  ])('%j → %j', (bytes, text) => {
    expect(decodeCString(new Uint8Array(bytes))).toBe(text);
  });
});

describe('parseCalibrationRecords', () => {
  it('decodes fd and f_op (a kernel address above 2^63)', () => {
    const bytes = new Uint8Array(2 * CALIBRATION_RECORD_SIZE);
    const view = new DataView(bytes.buffer);
    view.setUint32(0, 7, true);
    view.setBigUint64(8, 0xffff_ffff_8245_6780n, true);
    view.setUint32(16, 8, true);
    view.setBigUint64(24, 0xffff_ffff_8245_6a00n, true);
    expect(parseCalibrationRecords(bytes)).toEqual([
      { fd: 7, fop: 0xffff_ffff_8245_6780n },
      { fd: 8, fop: 0xffff_ffff_8245_6a00n },
    ]);
  });

  it('refuses a partial record', () => {
    expect(() => parseCalibrationRecords(new Uint8Array(24))).toThrow(/24 bytes is not a whole number of 16-byte records/);
  });
});
