import { describe, expect, it } from 'vitest';
import { formatBytes, int32OrSelf, parseSize, roundUpPow2, UNLIMITED } from './units.js';

describe('parseSize', () => {
  it('gives undefined, not a TypeError, for what is neither text nor a number', () => {
    for (const v of [undefined, null, {}, true] as unknown[]) expect(parseSize(v as string)).toBeUndefined();
  });

  it.each([
    [4096, 4096],
    ['4096', 4096],
    ['64Ki', 65536],
    ['8Mi', 8 * 1024 * 1024],
    ['1G', 1024 ** 3],
    ['1.5Ki', 1536],
    ['256 MiB', 256 * 1024 * 1024],
    ['1MB', 1_000_000],
    ['1KB', 1000],
    ['1.5KB', 1500],
    ['1.25Ki', 1280],
    ['00.50Ki', 512],
    ['1.000000000000000000000000000000000000000000000000', 1],
    // 2^-40 TiB: forty decimals, one byte exactly.
    ['0.0000000000009094947017729282379150390625Ti', 1],
    ['9007199254740991', Number.MAX_SAFE_INTEGER],
    ['max', UNLIMITED],
    ['unlimited', UNLIMITED],
    ['infinity', UNLIMITED],
  ] as const)('%s is %d bytes', (input, expected) => {
    expect(parseSize(input)).toBe(expected);
  });

  it.each([[-1], ['-5'], ['12Qi'], ['0.3'], [''], ['1e3'], [1.5], ['Mi'], ['.5Ki'], ['1.5.1']])('%s is not a size', (input) => {
    expect(parseSize(input)).toBeUndefined();
  });

  // A size must come to a whole number of bytes exactly, not within a rounding error.
  it.each([['4.0000001'], ['0.0000001'], ['1.1Ki'], ['1.0001Ki'], ['0.1'], ['0.5'], ['0.00000000000090949470177292823791503906251Ti'], ['9007199254740992'], ['8192Ti'], ['1'.repeat(100_000)]])(
    '%s is not a whole number of bytes below 2^53',
    (input) => {
      expect(parseSize(input)).toBeUndefined();
    },
  );
});

describe('formatBytes', () => {
  it.each([
    [0, '0 B'],
    [1023, '1023 B'],
    [1024, '1.0 KiB'],
    // Just under a unit rounds up into it, never to 1024.0 of the one below.
    [1_048_575, '1.0 MiB'],
    [1024 * 1024 * 1024 - 1, '1.0 GiB'],
    [1023.95 * 1024, '1.0 MiB'],
    [1023.9 * 1024, '1023.9 KiB'],
    [255.8 * 1024 * 1024, '255.8 MiB'],
    [UNLIMITED, 'max'],
    [-2048, '-2.0 KiB'],
  ])('%d is %s', (n, text) => {
    expect(formatBytes(n)).toBe(text);
  });
});

describe('roundUpPow2', () => {
  it.each([
    [0, 1],
    [1, 1],
    [2, 2],
    [3, 4],
    [1000, 1024],
    [65536, 65536],
    [2 ** 31 + 1, 2 ** 32],
  ])('%d → %d', (x, y) => {
    expect(roundUpPow2(x)).toBe(y);
  });
});

describe('int32OrSelf', () => {
  it('keeps every number equal to itself, whole 32-bit ones as int32', () => {
    for (const x of [0, 1, -1, 4096, Math.ceil(8191 / 4096) * 4096, 0x7fff_ffff, -0x8000_0000, 0x8000_0000, 2 ** 40, 1.5, NaN, Infinity, -Infinity]) {
      const y = int32OrSelf(x);
      expect(Object.is(y, x) || (x === 0 && y === 0)).toBe(true);
    }
    expect(int32OrSelf(-0)).toBe(0);
    expect(Object.is(int32OrSelf(-0), 0)).toBe(true);
  });
});
