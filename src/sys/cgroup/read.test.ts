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

  it('refuses a file larger than a cgroup file can be, naming it', () => {
    writeFileSync(join(dir, 'memory.stat'), Buffer.alloc((1 << 20) + 1, 0x30));
    expect(() => readCgroupFileSync(dir, 'memory.stat')).toThrow(`reading ${dir}/memory.stat: more than 1048576 bytes, not a cgroup file`);
  });

  it('does not wait on a FIFO put in its place (no writer: read as empty)', () => {
    const fifo = join(dir, 'memory.current');
    execFileSync('mkfifo', [fifo]);
    expect(readCgroupFileSync(dir, 'memory.current')).toBe('');
  });

  it('names the file when it cannot be read', () => {
    expect(() => readCgroupFileSync(dir, '.')).toThrow(`reading ${dir}/.: EISDIR`);
  });
});
