import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCpuList, parseKernelPageSize, readKmallocMinSize, readPageSize, readPossibleCpus } from './host.js';

describe('parseCpuList', () => {
  it.each([
    ['0-1\n', 2],
    ['0', 1],
    ['0-3,8-11', 8],
    ['0-191', 192],
    ['0,2,4', 3],
  ])('%j names %d CPUs', (text, n) => {
    expect(parseCpuList(text)).toBe(n);
  });
  it.each([[''], ['a-b'], ['3-1'], ['0-'], ['1,,2']])('%j is not a CPU list', (text) => {
    expect(parseCpuList(text)).toBeUndefined();
  });
});

describe('parseKernelPageSize', () => {
  it('reads the first KernelPageSize line', () => {
    const smaps = '55d0-55d1 r--p 00000000 fe:00 1 /usr/bin/node\nSize:                  4 kB\nKernelPageSize:        4 kB\nMMUPageSize:           4 kB\n';
    expect(parseKernelPageSize(smaps)).toBe(4096);
  });
  it('is undefined without one', () => {
    expect(parseKernelPageSize('Size: 4 kB\n')).toBeUndefined();
  });
});

describe('readKmallocMinSize', () => {
  it("is the smallest kmalloc-N cache of a slab directory, or undefined where there is none", () => {
    const dir = mkdtempSync(join(tmpdir(), 'bpfmem-slab-'));
    try {
      // arm64 before 6.5: no kmalloc-8 to -96; kmalloc-cg-* and other caches do not count.
      for (const name of ['kmalloc-cg-8', 'kmalloc-rcl-64', 'dentry', 'kmalloc-128', 'kmalloc-256', 'kmalloc-1k']) mkdirSync(join(dir, name));
      expect(readKmallocMinSize(dir)).toBe(128);
      mkdirSync(join(dir, 'kmalloc-64'));
      expect(readKmallocMinSize(dir)).toBe(64);
      expect(readKmallocMinSize(join(dir, 'absent'))).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('this machine', () => {
  it('has possible CPUs and a page size to read', () => {
    const cpus = readPossibleCpus();
    const page = readPageSize();
    expect(cpus).toBeGreaterThanOrEqual(1);
    expect([4096, 16384, 65536]).toContain(page);
  });
  it.runIf(process.arch === 'x64')('has 8-byte kmalloc, as every x86-64 kernel', () => {
    expect(readKmallocMinSize()).toBe(8);
  });
});
