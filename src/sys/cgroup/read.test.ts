import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { freshenMemoryStats } from './read.js';
import { statsFlushOnlyByThreshold } from './cgroupfs.js';

describe('freshenMemoryStats: how fresh an inventory read of memory.stat is', () => {
  let dir = '';
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'bpfmem-stats-'));
  });
  afterEach(() => { rmSync(dir, { recursive: true, force: true }); });

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
