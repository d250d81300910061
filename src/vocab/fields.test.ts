import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { closest, editDistance, parseBytes, parseCount, parseLimit, parseU32Size, SIZE_MAX } from './fields.js';

/** The whole table: the optimal string alignment distance, for comparison. */
function fullDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  const at = (i: number, j: number): number => d[i]?.[j] ?? 0;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      let v = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, at(i - 2, j - 2) + 1);
      (d[i] as number[])[j] = v;
    }
  }
  return at(a.length, b.length);
}

describe('editDistance', () => {
  it('is the full table\'s distance when at most max, else max + 1', () => {
    const word = fc.string({ unit: fc.constantFrom('a', 'b', 'c'), maxLength: 9 });
    fc.assert(
      fc.property(word, word, fc.integer({ min: 0, max: 4 }), (a, b, max) => {
        expect(editDistance(a, b, max)).toBe(Math.min(fullDistance(a, b), max + 1));
      }),
      { numRuns: 3000 },
    );
  });

  it.each([
    ['hsh', 'hash', 1],
    ['kernal', 'kernel', 1],
    ['no_prealoc', 'no_prealloc', 1],
    ['cpsu', 'cpus', 1],
    ['abc', 'xyz', 3],
  ])('%s → %s: %d', (a, b, d) => {
    expect(editDistance(a, b, 2)).toBe(Math.min(d, 3));
  });
});

describe('closest', () => {
  it('finds typos, not words that share little', () => {
    expect(closest('hsh', ['hash', 'array'])).toBe('hash');
    expect(closest('/pod', ['/', '/pods', '/pods/agent'])).toBe('/pods');
    expect(closest('/a', ['/'])).toBeUndefined();
    expect(closest('m', ['n'])).toBeUndefined();
  });

  it('compares only candidates of a length within reach: 10,000 paths of 4,000 characters take no time', () => {
    const long = Array.from({ length: 10_000 }, (_, i) => `/${String(i).padStart(5, '0')}${'x'.repeat(4000)}`);
    const start = performance.now();
    expect(closest(`/${'x'.repeat(63)}`, [...long, `/${'x'.repeat(62)}y`])).toBe(`/${'x'.repeat(62)}y`);
    // The full table for each was 64 × 4,007 cells: seconds.
    expect(performance.now() - start).toBeLessThan(500);
  });
});

describe('size fields', () => {
  it('take sizes up to 2^50 bytes, so that no sum of 10,000 steps passes 2^53; u32 fields up to their u32', () => {
    expect(parseBytes(SIZE_MAX)).toEqual({ ok: true, value: 2 ** 50 });
    expect(parseBytes('1024Ti')).toEqual({ ok: true, value: 2 ** 50 });
    expect(parseBytes(SIZE_MAX + 1)).toEqual({ ok: false, error: 'expected a size up to 2^50 (1 PiB), got 1125899906842625' });
    expect(parseBytes(Number.MAX_SAFE_INTEGER)).toEqual({ ok: false, error: 'expected a size up to 2^50 (1 PiB), got 9007199254740991' });
    expect(parseLimit('1025Ti')).toEqual({ ok: false, error: 'expected a size up to 2^50 (1 PiB) or max, got "1025Ti"' });
    expect(parseLimit('infinity')).toEqual({ ok: true, value: Infinity });
    expect(parseU32Size('4Gi')).toEqual({ ok: false, error: 'expected a size up to 4294967295 (a u32 in the kernel), got "4Gi"' });
  });

  it('take fractions that come to whole bytes exactly, and no other', () => {
    expect(parseBytes('1.5Ki')).toEqual({ ok: true, value: 1536 });
    expect(parseBytes('0.0000001')).toEqual({ ok: false, error: 'expected a size (bytes or 64Ki/8Mi), got "0.0000001"' });
    expect(parseU32Size('4.0000001')).toEqual({ ok: false, error: 'expected a size (bytes or 64Ki/8Mi), got "4.0000001"' });
    expect(parseCount('1.5Ki')).toEqual({ ok: true, value: 1536 });
    expect(parseCount('1.1Ki')).toEqual({ ok: false, error: 'expected a count (a whole number up to 100000000), got "1.1Ki"' });
  });
});
