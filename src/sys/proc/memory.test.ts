import { describe, expect, it } from 'vitest';
import { releaseMemory } from './memory.js';

describe('releaseMemory', () => {
  it('runs a full collection and trims malloc, and does so again', () => {
    const first = releaseMemory();
    // Node's V8 takes --expose-gc at run time; glibc has malloc_trim (this is Linux x64 or arm64 with glibc).
    expect(first).toEqual({ collected: true, trimmed: true });
    expect(releaseMemory()).toEqual(first);
  });

  it('frees what nothing holds any more', () => {
    releaseMemory();
    const before = process.memoryUsage().heapUsed;
    // 2,000 arrays of 1,000 numbers, unreachable once this returns.
    const held = ((): number => {
      const garbage = Array.from({ length: 2000 }, (_, i) => new Array<number>(1000).fill(i));
      return garbage.length > 0 ? process.memoryUsage().heapUsed : 0;
    })();
    expect(held - before).toBeGreaterThan(8 * 1024 * 1024);
    releaseMemory();
    expect(process.memoryUsage().heapUsed).toBeLessThan(held - 8 * 1024 * 1024);
  });
});
