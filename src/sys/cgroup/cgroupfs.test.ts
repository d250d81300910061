import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BpfmemError } from '../../vocab/errors.js';
import { CgroupFs, isProcessAlive } from './cgroupfs.js';

/**
 * `CgroupFs` without a kernel: a temporary directory plays the own memory cgroup. Plain
 * directories are no memory cgroups, so what is tested here is what happens before and around
 * the kernel: refusals, clean-up after a failed setup, and the stale-root sweep. The live test
 * (test/live/cgroupfs.test.ts) does the rest on real cgroups.
 */

const DEAD_PID = 2147483646; // above any pid_max: kill(pid, 0) says ESRCH

let own: string;
beforeEach(() => {
  own = mkdtempSync(join(tmpdir(), 'bpfmem-cgroupfs-test-'));
});
afterEach(() => {
  rmSync(own, { recursive: true, force: true });
});

const fs = (version: 1 | 2): CgroupFs => new CgroupFs({ version, mountPoint: '/', ownPath: '/test', ownDir: own });

describe('without an owned root', () => {
  it.each([
    ['readCounters', (c: CgroupFs) => c.readCounters('/pods')],
    ['create', (c: CgroupFs) => c.create('/pods')],
    ['remove', (c: CgroupFs) => c.remove('/pods')],
    ['setMax', (c: CgroupFs) => c.setMax('/pods', 1 << 20)],
    ['setHigh', (c: CgroupFs) => c.setHigh('/pods', 1 << 20)],
    ['moveTask', (c: CgroupFs) => c.moveTask('/pods', process.pid)],
    ['listTasks', (c: CgroupFs) => c.listTasks('/pods')],
  ])('%s refuses, naming the path', async (_, call) => {
    await expect(call(fs(1))).rejects.toThrow(/"\/pods": no owned root/);
  });

  it('removeOwnedRoot does nothing', async () => {
    await fs(1).removeOwnedRoot();
    expect(readdirSync(own)).toEqual([]);
  });
});

describe('createOwnedRoot', () => {
  it('refuses a bad prefix before touching anything', async () => {
    const error = await fs(1).createOwnedRoot('Bad-Prefix').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BpfmemError);
    expect((error as BpfmemError).code).toBe('usage');
    expect(readdirSync(own)).toEqual([]);
  });

  it('removes what it made when the directory is no v1 memory cgroup', async () => {
    const c = fs(1);
    await expect(c.createOwnedRoot('unit')).rejects.toThrow(/has no memory.limit_in_bytes/);
    expect(readdirSync(own)).toEqual([]);
    expect(c.ownedRoot).toBeUndefined();
  });

  it('explains a v2 own cgroup that does not delegate memory, and removes what it made', async () => {
    const c = fs(2);
    await expect(c.createOwnedRoot('unit')).rejects.toThrow(/does not delegate the memory controller.*no internal processes/);
    expect(readdirSync(own)).toEqual([]);
  });

  it('refuses a missing own cgroup with a system error', async () => {
    const c = new CgroupFs({ version: 1, mountPoint: '/', ownPath: '/x', ownDir: join(own, 'missing') });
    await expect(c.createOwnedRoot('unit')).rejects.toThrow(BpfmemError);
  });
});

describe('cleanStale', () => {
  it('removes the roots of dead processes of its prefix, subtrees and all, and nothing else', async () => {
    const stale = `bpfmem-unit-${DEAD_PID}-0badc0de`;
    const live = `bpfmem-unit-${process.pid}-0badc0de`;
    const otherPrefix = `bpfmem-other-${DEAD_PID}-0badc0de`;
    const notOurs = 'pods';
    for (const d of [`${stale}/pods/agent`, `${stale}/x`, live, otherPrefix, notOurs]) mkdirSync(join(own, d), { recursive: true });
    writeFileSync(join(own, 'memory.stat'), 'cache 0\n');
    expect(await fs(1).cleanStale('unit')).toEqual([stale]);
    expect(readdirSync(own).sort()).toEqual([live, otherPrefix, 'memory.stat', notOurs].sort());
  });

  it('finds nothing to do in a clean cgroup', async () => {
    expect(await fs(1).cleanStale('unit')).toEqual([]);
  });

  it('refuses a bad prefix', async () => {
    await expect(fs(1).cleanStale('a-b')).rejects.toThrow(/prefix/);
  });

  it('leaves a directory it cannot remove and says which', async () => {
    const stale = `bpfmem-unit-${DEAD_PID}-0badc0de`;
    mkdirSync(join(own, stale));
    writeFileSync(join(own, stale, 'a-file'), 'rmdir fails with ENOTEMPTY');
    await expect(fs(1).cleanStale('unit')).rejects.toThrow(new RegExp(`could not remove .*${stale}`));
    expect(existsSync(join(own, stale))).toBe(true);
  }, 10_000);
});

describe('isProcessAlive', () => {
  it.each([
    [process.pid, true],
    [1, true],
    [DEAD_PID, false],
  ])('%d → %s', (pid, alive) => {
    expect(isProcessAlive(pid)).toBe(alive);
  });
});
