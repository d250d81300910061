import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { v1FixtureDir } from '../../test/fixtures/cgroup-v1/index.js';
import { v2FixtureDir } from '../../test/fixtures/cgroup-v2/index.js';
import { readProcFixture } from '../../test/fixtures/proc/index.js';
import { BpfmemError } from '../vocab/errors.js';
import type { MemoryHierarchy } from '../sys/cgroup/mount.js';
import type { MachineDescription } from './machine.js';
import {
  ancestors,
  classifyCharge,
  dirOfPath,
  measuredRegimeOf,
  memoryLine,
  mountRootOf,
  pathInMount,
  readCgroupChain,
  readExplainFacts,
  readTaskFacts,
  type ChargeProbe,
  type PrechargeProbe,
} from './probe.js';
import { parseProcCgroup } from '../sys/proc/procfs.js';

const MiB = 1024 * 1024;
const INF = Number.POSITIVE_INFINITY;
const tmp = mkdtempSync(join(tmpdir(), 'bpfmem-probe-test-'));
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

const whole: MemoryHierarchy = {
  version: 1,
  mountPoint: '/sys/fs/cgroup/memory',
  ownPath: '/process_api/c19',
  ownDir: '/sys/fs/cgroup/memory/process_api/c19',
};
/** A container that sees only its own subtree, mounted at /sys/fs/cgroup. */
const container: MemoryHierarchy = { version: 2, mountPoint: '/sys/fs/cgroup', ownPath: '/kubepods/pod1/c1', ownDir: '/sys/fs/cgroup' };
/** The subtree /kubepods mounted, the process below it. */
const partial: MemoryHierarchy = { version: 1, mountPoint: '/mnt/mem', ownPath: '/kubepods/pod1', ownDir: '/mnt/mem/pod1' };

describe('paths in the memory hierarchy', () => {
  it.each([
    [whole, '', '/process_api/c19', '/process_api/c19'],
    [whole, '', '/', '/'],
    [container, '/kubepods/pod1/c1', '/kubepods/pod1/c1', '/'],
    [container, '/kubepods/pod1/c1', '/kubepods/pod1/c1/sidecar', '/sidecar'],
    [container, '/kubepods/pod1/c1', '/kubepods/pod2', undefined],
    [partial, '/kubepods', '/kubepods/pod1/x', '/pod1/x'],
    [partial, '/kubepods', '/kubepodsX', undefined],
  ])('%#: mount root %j, %j is %j in the mount', (h, root, proc, rel) => {
    expect(mountRootOf(h)).toBe(root);
    expect(pathInMount(h, proc)).toBe(rel);
  });

  it('maps paths to directories', () => {
    expect(dirOfPath(whole, '/')).toBe('/sys/fs/cgroup/memory');
    expect(dirOfPath(whole, '/a/b')).toBe('/sys/fs/cgroup/memory/a/b');
    expect(dirOfPath({ ...whole, mountPoint: '/' }, '/a')).toBe('/a');
  });

  it('walks ancestors up to the root, itself first', () => {
    expect(ancestors('/a/b/c')).toEqual(['/a/b/c', '/a/b', '/a', '/']);
    expect(ancestors('/')).toEqual(['/']);
  });

  it('never loops and always ends at / for any path, and never throws mapping one', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (s) => {
        const path = `/${s}`;
        const chain = ancestors(path);
        expect(chain[chain.length - 1]).toBe('/');
        expect(chain.length).toBeLessThanOrEqual(path.length + 1);
        for (const h of [whole, container, partial]) {
          const rel = pathInMount(h, path);
          if (rel !== undefined) expect(rel.startsWith('/')).toBe(true);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('finds the memory line of /proc/PID/cgroup per version', () => {
    const v1 = parseProcCgroup(readProcFixture('self-cgroup.txt'));
    if (!v1.ok) throw new Error(v1.error);
    expect(memoryLine(v1.value, 1)?.path).toMatch(/^\/process_api\//);
    expect(memoryLine(v1.value, 2)?.path).toBe('/');
  });
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
    expect(await readTaskFacts(4242, proc)).toEqual({ pid: 4242, comm: 'node', uid: 0, memlock: { soft: 8 * MiB, hard: 8 * MiB }, capEff: 0x1fffeffffffn });
    const gone = readTaskFacts(4243, proc);
    await expect(gone).rejects.toBeInstanceOf(BpfmemError);
    await expect(gone).rejects.toThrow('--pid 4243: no such process');
  });

  it('builds the facts of a named cgroup with no task', async () => {
    const mnt = v2FixtureDir('6.18/pods').replace(/\/pods$/, '');
    const machine: MachineDescription = {
      release: '6.18.44',
      version: { major: 6, minor: 18, patch: 44 },
      possibleCpus: 2,
      pageSize: 4096,
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

describe('the kernel\'s way, decided from what the probes saw', () => {
  it.each([
    [528384, true],
    [532480, true],
    [4096, false],
    [0, false],
    [-8192, false],
    [100_000, undefined],
  ])('a kernel-memory delta of %i for a 129-page map: charged %s', (delta, charged) => {
    expect(classifyCharge(delta, 528384)).toBe(charged);
  });

  const charge = (charged: boolean | undefined): ChargeProbe => ({ ok: true, charged, counter: 'memory.kmem.usage_in_bytes', delta: 528384, expected: 528384, cgroup: '/a/bpfmem-probe-1-00000000/kernel', private: true });
  const pre = (precharged: boolean): PrechargeProbe => ({ ok: true, precharged, limit: 65536, detail: 'x' });
  const failed: PrechargeProbe = { ok: false, reason: 'BPF_MAP_CREATE: EPERM', errno: 'EPERM' };
  const noCgroup: ChargeProbe = { ok: false, reason: 'no memory cgroup' };

  it.each([
    [charge(true), pre(false), 'memcg'],
    [charge(false), pre(false), 'none'],
    [charge(false), pre(true), 'memlock'],
    [charge(undefined), pre(false), undefined],
    [charge(false), failed, undefined],
    [noCgroup, pre(false), undefined],
  ])('%#: regime %s', (c, p, regime) => {
    expect(measuredRegimeOf(c, p).regime).toBe(regime);
  });
});
