import { describe, expect, it } from 'vitest';
import { formatBytes, parseSize, roundUpPow2, UNLIMITED } from './units.js';

describe('parseSize', () => {
  it.each([
    [4096, 4096],
    ['4096', 4096],
    ['64Ki', 65536],
    ['8Mi', 8 * 1024 * 1024],
    ['1G', 1024 ** 3],
    ['1.5Ki', 1536],
    ['256 MiB', 256 * 1024 * 1024],
    ['1MB', 1_000_000],
    ['max', UNLIMITED],
  ] as const)('%s is %d bytes', (input, expected) => {
    expect(parseSize(input)).toBe(expected);
  });

  it.each([[-1], ['-5'], ['12Qi'], ['0.3'], [''], ['1e3'], [1.5], ['Mi']])('%s is not a size', (input) => {
    expect(parseSize(input)).toBeUndefined();
  });
});

describe('formatBytes', () => {
  it.each([
    [0, '0 B'],
    [1023, '1023 B'],
    [1024, '1.0 KiB'],
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
