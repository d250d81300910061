import { describe, expect, it } from 'vitest';
import { decodeRlimit, encodeRlimit } from './rlimit.js';

describe('struct rlimit', () => {
  it.each([
    ['8 MiB soft and hard', { soft: 8 * 2 ** 20, hard: 8 * 2 ** 20 }],
    ['unlimited (RLIM_INFINITY)', { soft: Infinity, hard: Infinity }],
    ['zero soft, unlimited hard', { soft: 0, hard: Infinity }],
  ])('round-trips %s', (_what, limit) => {
    expect(decodeRlimit(encodeRlimit(limit))).toEqual(limit);
  });

  it('writes RLIM_INFINITY as all ones', () => {
    expect(Array.from(encodeRlimit({ soft: Infinity, hard: 0 }))).toEqual([...new Array<number>(8).fill(0xff), ...new Array<number>(8).fill(0)]);
  });

  it.each([-1, 1.5, 2 ** 53])('rejects %d', (n) => {
    expect(() => encodeRlimit({ soft: n, hard: Infinity })).toThrow(RangeError);
  });
});
