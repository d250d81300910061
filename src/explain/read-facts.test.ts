import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { v1FixtureDir } from '../../test/fixtures/cgroup-v1/index.js';
import { v2FixtureDir } from '../../test/fixtures/cgroup-v2/index.js';
import { readProcFixture } from '../../test/fixtures/proc/index.js';
import type { MachineDescription } from '../live/machine.js';
import type { MemoryHierarchy } from '../sys/cgroup/mount.js';
import { BpfmemError } from '../vocab/errors.js';
import { readCgroupChain, readExplainFacts, readTaskFacts } from './read-facts.js';

const MiB = 1024 * 1024;
const INF = Number.POSITIVE_INFINITY;
const tmp = mkdtempSync(join(tmpdir(), 'bpfmem-facts-test-'));
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});


describe('the facts explain reads', () => {
  it('reads a v1 chain (captured files): limit, usage, failcnt and page cache at every level', async () => {
    const mnt = join(tmp, 'v1');
    cpSync(v1FixtureDir('empty'), mnt, { recursive: true });
    cpSync(v1FixtureDir('limit-hit'), join(mnt, 'pods'), { recursive: true });
    cpSync(v1FixtureDir('array-8mib'), join(mnt, 'pods', 'agent'), { recursive: true });
    const h: MemoryHierarchy = { version: 1, mountPoint: mnt, ownPath: '/', ownDir: mnt };
    const chain = await readCgroupChain(h, '/pods/agent');
    expect(chain.map((c) => c.path)).toEqual(['/pods/agent', '/pods', '/']);
    expect(chain[0]).toMatchObject({ usage: 8908800, max: 64 * MiB, high: undefined, failcnt: 0, reclaimable: 81920 });
    expect(chain[1]).toMatchObject({ usage: 1056768, max: 32 * MiB, failcnt: 19, maxEvents: undefined });
    await expect(readCgroupChain(h, '/pods/nothing')).rejects.toThrow(/^memory cgroup \/pods\/nothing: no such cgroup/);
  });

  it('reads a v2 chain: memory.max, memory.high, events.local max, and a root without counters', async () => {
    const mnt = v2FixtureDir('6.18/pods').replace(/\/pods$/, '');
    const h: MemoryHierarchy = { version: 2, mountPoint: mnt, ownPath: '/', ownDir: mnt };
    const chain = await readCgroupChain(h, '/pods/agent');
    expect(chain[0]).toMatchObject({ path: '/pods/agent', usage: 51175424, max: 64 * MiB, high: 48 * MiB, maxEvents: 3, reclaimable: 2097152, failcnt: undefined });
    expect(chain[1]).toMatchObject({ path: '/pods', usage: 55402496, max: INF, high: INF });
    expect(chain[2]).toEqual({ path: '/', usage: undefined, max: INF, high: INF, reclaimable: undefined, failcnt: undefined, maxEvents: undefined });
  });

  it('reads a task from /proc/PID/status and limits (captured), and says when it is gone', async () => {
    const proc = join(tmp, 'proc');
    mkdirSync(join(proc, '4242'), { recursive: true });
    writeFileSync(join(proc, '4242', 'status'), readProcFixture('self-status.txt'));
    writeFileSync(join(proc, '4242', 'limits'), readProcFixture('self-limits.txt'));
    // No fd directory (another user's process without root): RLIMIT_NOFILE, but no count of open fds.
    expect(await readTaskFacts(4242, proc)).toEqual({ pid: 4242, comm: 'node', uid: 0, memlock: { soft: 8 * MiB, hard: 8 * MiB }, capEff: 0x1fffeffffffn, nofile: { soft: 20000, hard: 20000 } });
    mkdirSync(join(proc, '4242', 'fd'));
    for (const fd of ['0', '1', '2', '7']) writeFileSync(join(proc, '4242', 'fd', fd), '');
    expect(await readTaskFacts(4242, proc)).toMatchObject({ nofile: { soft: 20000, hard: 20000 }, openFds: 4 });
    const gone = readTaskFacts(4243, proc);
    await expect(gone).rejects.toBeInstanceOf(BpfmemError);
    await expect(gone).rejects.toThrow('--pid 4243: no such process');
    // A zombie's /proc/PID/cgroup names the root: it is refused, not explained as the root's.
    mkdirSync(join(proc, '4244'));
    writeFileSync(join(proc, '4244', 'status'), readProcFixture('self-status.txt').replace(/^State:.*$/m, 'State:\tZ (zombie)'));
    writeFileSync(join(proc, '4244', 'limits'), readProcFixture('self-limits.txt'));
    await expect(readTaskFacts(4244, proc)).rejects.toThrow('--pid 4244: process 4244 (node) has exited (Z (zombie)) and creates nothing; give a live process, or --cgroup');
  });

  it('builds the facts of a named cgroup with no task', async () => {
    const mnt = v2FixtureDir('6.18/pods').replace(/\/pods$/, '');
    const machine: MachineDescription = {
      release: '6.18.44',
      version: { major: 6, minor: 18, patch: 44 },
      possibleCpus: 2,
      pageSize: 4096,
      arch: 'x86_64',
      kmallocMinSize: 8,
      cmdline: undefined,
      memory: { ok: true, hierarchy: { version: 2, mountPoint: mnt, ownPath: '/', ownDir: mnt } },
      cgroupVersion: 2,
      memlock: undefined,
      unprivilegedBpfDisabled: 2,
      bpfJitEnable: 1,
      bpfJitLimit: 528482304,
      regime: 'memcg',
      regimeReason: 'kernel 6.18.44 charges BPF maps and programs to the creator\'s memory cgroup',
    };
    const f = await readExplainFacts({ cgroup: '/pods/agent' }, machine);
    expect(f.task).toBeUndefined();
    expect(f.profile).toMatchObject({ possibleCpus: 2, cgroupVersion: 2, regime: 'memcg' });
    expect(f.chain.map((c) => c.path)).toEqual(['/pods/agent', '/pods', '/']);
    const none = await readExplainFacts({ cgroup: '/pods' }, { ...machine, memory: { ok: false, reason: 'cgroup2 at /sys/fs/cgroup has no memory controller' } });
    expect(none).toMatchObject({ chain: [], chainMissing: 'cgroup2 at /sys/fs/cgroup has no memory controller' });
  });
});
