import { describe, expect, it } from 'vitest';
import { readV2Fixture } from '../../../test/fixtures/cgroup-v2/index.js';
import { readProcFixture } from '../../../test/fixtures/proc/index.js';
import { parseLimits, parseMeminfo, parseStatus, readCmdline, readLimits, readMeminfo, readProcCgroup, readStatus } from './procfs.js';
import { parseCmdline } from './cmdline.js';
import { parseProcCgroup } from './pid-cgroup.js';
import type { Result } from '../../vocab/result.js';

function ok<T>(r: Result<T>): T {
  if (!r.ok) throw new Error(r.error);
  return r.value;
}

describe('parseProcCgroup', () => {
  it('reads the v1 lines captured on 6.18, memory among them', () => {
    const entries = ok(parseProcCgroup(readProcFixture('self-cgroup.txt')));
    expect(entries).toHaveLength(10);
    expect(entries.find((e) => e.controllers.includes('memory'))).toEqual({
      hierarchyId: 4,
      controllers: ['memory'],
      path: '/process_api/3b9dd90c240ebcc92b685a5857d728da',
      deleted: false,
    });
    expect(entries.find((e) => e.hierarchyId === 9)?.controllers).toEqual(['name=systemd']);
    expect(entries.find((e) => e.hierarchyId === 0)).toEqual({ hierarchyId: 0, controllers: [], path: '/', deleted: false });
  });

  it('reads a v2-only machine', () => {
    expect(ok(parseProcCgroup(readV2Fixture(undefined, 'proc-self-cgroup.txt') ?? ''))).toEqual([
      { hierarchyId: 0, controllers: [], path: '/kubepods.slice/kubepods-burstable.slice/cri-containerd-0a1b.scope', deleted: false },
    ]);
  });

  it.each([
    ['2:cpu,cpuacct:/a:b\n', { hierarchyId: 2, controllers: ['cpu', 'cpuacct'], path: '/a:b', deleted: false }],
    ['0::/test-cgroup/nested (deleted)\n', { hierarchyId: 0, controllers: [], path: '/test-cgroup/nested', deleted: true }],
    ['0::/a b\n', { hierarchyId: 0, controllers: [], path: '/a b', deleted: false }],
  ])('%j', (text, entry) => {
    expect(ok(parseProcCgroup(text))).toEqual([entry]);
  });

  it.each([[''], ['memory:/a\n'], ['4:memory:a\n'], ['x:memory:/a\n'], ['4:memory:/a\n\n']])('refuses %j', (text) => {
    expect(parseProcCgroup(text).ok).toBe(false);
  });
});

describe('parseStatus', () => {
  it('reads the status captured on 6.18', () => {
    const s = ok(parseStatus(readProcFixture('self-status.txt')));
    expect(s).toMatchObject({
      name: 'node',
      state: 'R (running)',
      uid: { real: 0, effective: 0, saved: 0, fs: 0 },
      gid: { real: 0, effective: 0, saved: 0, fs: 0 },
      threads: 7,
      vmLck: 0,
      vmRss: 46128 * 1024,
      capEff: 0x1fffeffffffn,
    });
    expect(s.pid).toBe(s.tgid);
    expect(s.ppid).toBeGreaterThan(0);
    expect(s.memory['VmPTE']).toBe(420 * 1024);
    expect(s.fields['Cpus_allowed_list']).toBe('0-1');
  });

  it('reads a kernel thread (no Vm lines) and a name with spaces', () => {
    const s = ok(parseStatus('Name:\tkworker/0:1 x\nState:\tI (idle)\nPid:\t12\nPPid:\t2\nThreads:\t1\n'));
    expect(s).toMatchObject({ name: 'kworker/0:1 x', pid: 12, ppid: 2, vmRss: undefined, uid: undefined, capEff: undefined });
  });

  it.each([
    ['Pid:\t1\n', /no Name/],
    ['Name:\tx\n', /Pid: is "\(missing\)"/],
    ['Name:\tx\nPid:\t1\nUid:\t0\t0\n', /Uid: is "0\\t0", not four ids/],
    ['Name:\tx\nPid:\t1\nThreads:\tmany\n', /Threads: is "many"/],
    ['Name:\tx\nPid:\t1\nCapEff:\tzz\n', /CapEff/],
    ['Name:\tx\nName:\ty\nPid:\t1\n', /repeats "Name"/],
    ['garbage\n', /line 1/],
  ])('refuses %j', (text, reason) => {
    const r = parseStatus(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(reason);
  });
});

describe('parseMeminfo', () => {
  it('reads /proc/meminfo captured on 6.18 in bytes', () => {
    const m = ok(parseMeminfo(readProcFixture('meminfo.txt')));
    expect(m['MemTotal']).toBe(24684092 * 1024);
    expect(m['Percpu']).toBe(688 * 1024);
    expect(m['HugePages_Total']).toBe(0);
    expect(Object.keys(m)).toHaveLength(54);
  });
  it.each([['MemFree: 1 kB\n', /no MemTotal/], ['MemTotal: lots\n', /not "N kB" or N/], ['MemTotal 1 kB\n', /line 1/]])(
    'refuses %j',
    (text, reason) => {
      const r = parseMeminfo(text);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error).toMatch(reason);
    },
  );
});

describe('parseLimits', () => {
  it('reads RLIMIT_MEMLOCK and every row captured on 6.18', () => {
    const l = ok(parseLimits(readProcFixture('self-limits.txt')));
    expect(l.memlock).toEqual({ soft: 8388608, hard: 8388608 });
    expect(Object.keys(l.rows)).toHaveLength(16);
    expect(l.rows['Max cpu time']).toEqual({ soft: Infinity, hard: Infinity, units: 'seconds' });
    expect(l.rows['Max stack size']).toEqual({ soft: 8388608, hard: Infinity, units: 'bytes' });
    expect(l.rows['Max nice priority']).toEqual({ soft: 0, hard: 0, units: '' });
  });

  it.each([
    ['the 64 KiB default before 5.16', 'Max locked memory         65536                65536                bytes     \n', { soft: 65536, hard: 65536 }],
    ['what libbpf sets', 'Max locked memory         unlimited            unlimited            bytes     \n', { soft: Infinity, hard: Infinity }],
  ])('%s', (_, text, memlock) => {
    expect(ok(parseLimits(text)).memlock).toEqual(memlock);
  });

  it('has no memlock when the row is missing', () => {
    expect(ok(parseLimits('Max open files            1024                 4096                 files     \n')).memlock).toBeUndefined();
  });

  it.each([[''], ['Limit                     Soft Limit\n'], ['Max locked memory         lots                 8                    bytes\n']])(
    'refuses %j',
    (text) => {
      expect(parseLimits(text).ok).toBe(false);
    },
  );
});

describe('parseCmdline', () => {
  it('reads the command line captured on 6.18: no cgroup options, init arguments after --', () => {
    const c = parseCmdline(readProcFixture('cmdline.txt'));
    expect(c.memory).toEqual({ nobpf: false, nokmem: false, nosocket: false, options: [] });
    expect(c.params.find((p) => p.key === 'console')).toEqual({ key: 'console', value: 'ttyS0' });
    expect(c.params.find((p) => p.key === 'quiet')).toEqual({ key: 'quiet', value: undefined });
    expect(c.params.some((p) => p.key.startsWith('--'))).toBe(false);
  });

  it.each([
    ['cgroup.memory=nokmem', { nobpf: false, nokmem: true, nosocket: false, options: ['nokmem'] }],
    ['cgroup.memory=nosocket,nobpf', { nobpf: true, nokmem: false, nosocket: true, options: ['nosocket', 'nobpf'] }],
    ['cgroup.memory=nosocket ro cgroup.memory=nokmem', { nobpf: false, nokmem: true, nosocket: true, options: ['nosocket', 'nokmem'] }],
    ['"cgroup.memory=nobpf"', { nobpf: true, nokmem: false, nosocket: false, options: ['nobpf'] }],
    ['quiet -- cgroup.memory=nobpf', { nobpf: false, nokmem: false, nosocket: false, options: [] }],
  ])('%j', (text, memory) => {
    expect(parseCmdline(`${text}\n`).memory).toEqual(memory);
  });

  it('stops at a bare -- only, as kernel/params.c does: --= and --=x are parameters', () => {
    expect(parseCmdline('a --= b --=x c -- cgroup.memory=nobpf\n').params).toEqual([
      { key: 'a', value: undefined },
      { key: '--', value: '' },
      { key: 'b', value: undefined },
      { key: '--', value: 'x' },
      { key: 'c', value: undefined },
    ]);
    expect(parseCmdline('"--" cgroup.memory=nobpf').params).toEqual([]);
  });

  it('reads cgroup_disable and cgroup_no_v1, and quoted values with spaces', () => {
    const c = parseCmdline('root=/dev/vda cgroup_disable=memory cgroup_no_v1=all dyndbg="file x.c +p"\n');
    expect(c.cgroupDisable).toEqual(['memory']);
    expect(c.cgroupNoV1).toEqual(['all']);
    expect(c.params.at(-1)).toEqual({ key: 'dyndbg', value: 'file x.c +p' });
  });
});

describe('readers on this machine', () => {
  it('read this process', async () => {
    const [cgroup, status, limits] = await Promise.all([readProcCgroup(), readStatus(), readLimits()]);
    expect(cgroup?.length).toBeGreaterThan(0);
    expect(status?.pid).toBe(process.pid);
    expect(limits?.memlock?.soft).toBeGreaterThanOrEqual(0);
  });
  it('read the machine', async () => {
    expect((await readMeminfo())['MemTotal']).toBeGreaterThan(0);
    expect((await readCmdline()).params.length).toBeGreaterThan(0);
  });
  it('are undefined for a process that does not exist', async () => {
    expect(await readStatus(2147483646)).toBeUndefined();
    expect(await readProcCgroup(2147483646)).toBeUndefined();
    expect(await readLimits(2147483646)).toBeUndefined();
  });
});
