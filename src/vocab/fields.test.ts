import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { closest, editDistance } from './fields.js';

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
