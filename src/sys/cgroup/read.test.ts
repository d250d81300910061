import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { freshenMemoryStats, readCgroupFile, readCgroupFileSync } from './read.js';
import { statsFlushOnlyByThreshold } from './cgroupfs.js';

/** A fresh directory per test, standing for a cgroup's. */
let dir = '';
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'bpfmem-cgread-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('freshenMemoryStats: how fresh an inventory read of memory.stat is', () => {
  it('v1 counts kernel memory in a page counter: exact, nothing read', async () => {
    expect(await freshenMemoryStats(1, join(dir, 'absent'), true)).toBeUndefined();
  });

  it("v2 before 6.16: reads the root's cpu.stat (a whole-tree flush), then exact", async () => {
    writeFileSync(join(dir, 'cpu.stat'), 'usage_usec 1\n');
    expect(await freshenMemoryStats(2, dir, false)).toBeUndefined();
    // A root without cpu.stat (a hierarchy without it) does not fail the inventory.
    expect(await freshenMemoryStats(2, join(dir, 'absent'), false)).toBeUndefined();
  });

  it('v2 on 6.16+: says memory.stat is as of the last flush, at most 2 s old', async () => {
    expect(await freshenMemoryStats(2, dir, true)).toMatch(/at most 2 s old/);
  });

  it('6.16 is where memory statistics stopped flushing with cpu.stat', () => {
    expect(statsFlushOnlyByThreshold('6.15.9')).toBe(false);
    expect(statsFlushOnlyByThreshold('6.16.12+deb13-cloud-amd64')).toBe(true);
    expect(statsFlushOnlyByThreshold('7.2.13+deb14-cloud-amd64')).toBe(true);
  });
});

describe('readCgroupFile: a cgroup file read in place, bounded', () => {
  it('gives the text, undefined for a file that is not there, and reads past one chunk', async () => {
    writeFileSync(join(dir, 'memory.max'), '4194304\n');
    expect(await readCgroupFile(dir, 'memory.max')).toBe('4194304\n');
    expect(readCgroupFileSync(dir, 'memory.peak')).toBeUndefined();
    const stat = 'anon 0\n'.repeat(5000); // 35 KB: three reads
    writeFileSync(join(dir, 'memory.stat'), stat);
    expect(readCgroupFileSync(dir, 'memory.stat')).toBe(stat);
  });

  it('reads a file of exactly the cap', () => {
    writeFileSync(join(dir, 'memory.stat'), Buffer.alloc(1 << 20, 0x30));
    expect(readCgroupFileSync(dir, 'memory.stat')).toHaveLength(1 << 20);
  });

  it('refuses a file larger than a cgroup file can be, naming it', () => {
    writeFileSync(join(dir, 'memory.stat'), Buffer.alloc((1 << 20) + 1, 0x30));
    expect(() => readCgroupFileSync(dir, 'memory.stat')).toThrow(`cgroup file ${dir}/memory.stat: 1,048,577 bytes is more than the 1,048,576 (1.0 MiB) bpfmem reads of a cgroup file`);
  });

  it('does not wait on a FIFO put in its place: refused at once, named', () => {
    execFileSync('mkfifo', [join(dir, 'memory.current')]);
    expect(() => readCgroupFileSync(dir, 'memory.current')).toThrow(`cgroup file ${dir}/memory.current: is a FIFO, not a regular file`);
  });

  it('names a directory where a file should be', () => {
    expect(() => readCgroupFileSync(dir, '.')).toThrow(`cgroup file ${dir}/.: is a directory, not a regular file`);
  });
});
