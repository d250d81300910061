import { describe, expect, it } from 'vitest';
import { readV1Fixture, v1FixtureFiles, type V1FixtureDir } from '../../../test/fixtures/cgroup-v1/index.js';
import { readV2Fixture, type V2FixtureDir } from '../../../test/fixtures/cgroup-v2/index.js';
import {
  countersFromFiles,
  parseCgroupStat,
  parseCounter,
  parseEvents,
  parseLimit,
  parseMemoryStat,
  parseOomControl,
  type CgroupCounters,
} from './parse.js';
import type { Result } from '../../vocab/result.js';

function ok<T>(r: Result<T>): T {
  if (!r.ok) throw new Error(r.error);
  return r.value;
}

const v1 = (dir: V1FixtureDir): CgroupCounters => ok(countersFromFiles(1, (name) => readV1Fixture(dir, name)));
const v2 = (dir: V2FixtureDir): CgroupCounters => ok(countersFromFiles(2, (name) => readV2Fixture(dir, name)));

describe('parseLimit', () => {
  it.each([
    ['67108864\n', 67108864],
    ['9223372036854771712\n', Infinity], // v1, 4 KiB pages: PAGE_COUNTER_MAX * PAGE_SIZE
    ['9223372036854710272\n', Infinity], // v1, 64 KiB pages
    ['max\n', Infinity], // v2
    ['0\n', 0],
    ['9007199254740991\n', 9007199254740991],
  ])('%j is %d', (text, bytes) => {
    expect(ok(parseLimit(text))).toBe(bytes);
  });
  it.each([[''], ['-1\n'], ['64M\n'], ['max max\n'], ['18446744073709551616999\n']])('refuses %j', (text) => {
    expect(parseLimit(text).ok).toBe(false);
  });
});

describe('parseCounter', () => {
  it('reads one number', () => {
    expect(ok(parseCounter('8650752\n'))).toBe(8650752);
  });
  it.each([['max\n'], [''], ['1 2\n']])('refuses %j', (text) => {
    expect(parseCounter(text).ok).toBe(false);
  });
});

describe('parseMemoryStat', () => {
  it.each([
    ['array-8mib', 42],
    ['own', 42],
  ] as const)('reads every line of the v1 %s capture', (dir, lines) => {
    expect(Object.keys(ok(parseMemoryStat(readV1Fixture(dir, 'memory.stat') ?? '')))).toHaveLength(lines);
  });
  it('reads v1 keys, with the "no limit" 9223372036854771712 as Infinity', () => {
    const s = ok(parseMemoryStat(readV1Fixture('own', 'memory.stat') ?? ''));
    expect(s['total_rss']).toBe(12541952);
    expect(s['hierarchical_memory_limit']).toBe(Infinity);
    expect(s['hierarchical_memsw_limit']).toBe(Infinity);
  });
  it.each([['rss\n'], ['rss 1 2\n'], ['rss -1\n'], ['rss 1\nrss 2\n'], ['rss 123456789012345678901\n']])('refuses %j', (text) => {
    expect(parseMemoryStat(text).ok).toBe(false);
  });
});

describe('parseEvents, parseOomControl, parseCgroupStat', () => {
  it('reads v2 memory.events with the 6.x keys', () => {
    expect(ok(parseEvents(readV2Fixture('6.18/pods/agent', 'memory.events') ?? ''))).toEqual({
      low: 0,
      high: 37,
      max: 3,
      oom: 1,
      oom_kill: 0,
      oom_group_kill: 0,
    });
  });
  it('leaves keys an older kernel lacks undefined', () => {
    expect(ok(parseEvents(readV2Fixture('5.15/agent', 'memory.events') ?? '')).oom_group_kill).toBeUndefined();
  });
  it('reads v1 memory.oom_control captured on 6.18', () => {
    expect(ok(parseOomControl(readV1Fixture('limit-hit', 'memory.oom_control') ?? ''))).toEqual({
      oomKillDisable: false,
      underOom: false,
      oomKill: 0,
    });
  });
  it('reads 6.18 cgroup.stat with its nr_subsys lines', () => {
    expect(ok(parseCgroupStat(readV2Fixture('6.18/pods', 'cgroup.stat') ?? ''))).toMatchObject({
      nrDescendants: 1,
      nrDyingDescendants: 1,
      subsys: { memory: 2, cpu: 1 },
      dyingSubsys: { memory: 1 },
    });
  });
  it('reads a 5.15 cgroup.stat without them', () => {
    expect(ok(parseCgroupStat(readV2Fixture('5.15/agent', 'cgroup.stat') ?? ''))).toEqual({
      nrDescendants: 0,
      nrDyingDescendants: 0,
      subsys: {},
      dyingSubsys: {},
    });
  });
  it.each([
    [parseOomControl, 'oom_kill 0\n'],
    [parseCgroupStat, 'nr_descendants 0\n'],
  ])('refuses a file without its required keys', (parse, text) => {
    expect(parse(text).ok).toBe(false);
  });
});

describe('countersFromFiles on cgroup v1 captured on 6.18', () => {
  it('reads every file the captures have', () => {
    for (const dir of ['empty', 'array-8mib', 'limit-hit'] as const) {
      expect(v1FixtureFiles(dir)).toEqual(expect.arrayContaining(['memory.usage_in_bytes', 'memory.kmem.usage_in_bytes', 'memory.oom_control']));
    }
  });

  it.each([
    ['empty', { usage: 0, max: 67108864, peak: 0, failcnt: 0, kernel: 0, kernelPeak: 0, kernelFailcnt: 0 }],
    // An 8 MiB BPF array alive: memlock 8388920, charged to kmem (vmalloc pages) and so to usage.
    ['array-8mib', { usage: 8908800, max: 67108864, peak: 8650752, failcnt: 0, kernel: 8433664, kernelPeak: 8421376, kernelFailcnt: 0 }],
    // A 64 MiB array refused under 32 MiB: ENOMEM, failcnt 19, the peaks pinned at the limit.
    ['limit-hit', { usage: 1056768, max: 33554432, peak: 33554432, failcnt: 19, kernel: 40960, kernelPeak: 33554432, kernelFailcnt: 0 }],
  ] as const)('%s', (dir, expected) => {
    const c = v1(dir);
    expect(c).toMatchObject({ version: 1, ...expected });
    expect(c.high).toBeUndefined();
    expect(c.eventsLocal).toBeUndefined();
    expect(c.events).toEqual({ low: undefined, high: undefined, max: undefined, oom: undefined, oom_kill: 0, oom_group_kill: undefined });
    expect(c.underOom).toBe(false);
    expect(c.descendants).toBeUndefined();
    expect(c.dyingDescendants).toBeUndefined();
  });

  it('maps hierarchical v1 stat lines and leaves the lines v1 lacks undefined', () => {
    const c = v1('array-8mib');
    expect(c.stat).toEqual({
      anon: 204800,
      file: 81920,
      shmem: 0,
      slab: undefined,
      slabReclaimable: undefined,
      slabUnreclaimable: undefined,
      percpu: undefined,
      vmalloc: undefined,
      kernelStack: undefined,
      pagetables: undefined,
      sock: undefined,
    });
    expect(c.rawStat['total_rss']).toBe(204800);
  });

  it('shows that files are read one by one: usage newer than peak in the capture', () => {
    const c = v1('array-8mib');
    expect(c.usage).toBeGreaterThan(c.peak ?? 0);
  });
});

describe('countersFromFiles on hand-made cgroup v2 trees', () => {
  it('reads a 6.18 leaf heavy with BPF maps', () => {
    const c = v2('6.18/pods/agent');
    expect(c).toMatchObject({
      version: 2,
      usage: 51175424,
      max: 67108864,
      high: 50331648,
      peak: 67108864,
      failcnt: undefined,
      kernel: 40165376,
      kernelPeak: undefined,
      underOom: undefined,
      events: { high: 37, max: 3, oom: 1, oom_kill: 0 },
      eventsLocal: { high: 37, max: 3, oom: 1, oom_kill: 0 },
      descendants: 0,
      dyingDescendants: 0,
      stat: { anon: 8650752, file: 2097152, slab: 5097856, percpu: 1049600, vmalloc: 33558528, kernelStack: 65536, sock: 0 },
    });
  });

  it('reads the parent: no limits, hierarchical events, a dying child', () => {
    const c = v2('6.18/pods');
    expect(c).toMatchObject({ max: Infinity, high: Infinity, events: { high: 37 }, eventsLocal: { high: 0 }, descendants: 1, dyingDescendants: 1 });
  });

  it('keeps the hand-made numbers consistent the way the kernel does', () => {
    for (const dir of ['6.18/pods', '6.18/pods/agent'] as const) {
      const c = v2(dir);
      const s = c.stat;
      const parts = [s.slab, s.percpu, s.vmalloc, s.kernelStack, s.pagetables].reduce((a: number, b) => a + (b ?? 0), 0);
      expect(c.kernel).toBeGreaterThanOrEqual(parts); // `kernel` covers them and more
      expect(c.usage).toBeGreaterThanOrEqual((s.anon ?? 0) + (s.file ?? 0) + (c.kernel ?? 0));
      expect(s.slab).toBe((s.slabReclaimable ?? 0) + (s.slabUnreclaimable ?? 0));
      expect(c.usage % 4096).toBe(0);
    }
    // The parent holds its child's usage and a removed child's reparented charges.
    expect(v2('6.18/pods').usage).toBeGreaterThan(v2('6.18/pods/agent').usage);
  });

  it('leaves what a 5.15 kernel does not print undefined, not 0', () => {
    const c = v2('5.15/agent');
    expect(c.peak).toBeUndefined();
    expect(c.kernel).toBeUndefined();
    expect(c.stat.vmalloc).toBeUndefined();
    expect(c.stat.percpu).toBe(525312);
    expect(c.events.oom_group_kill).toBeUndefined();
    expect(c.high).toBe(Infinity);
  });
});

describe('countersFromFiles refusals', () => {
  const files = (entries: Record<string, string>) => (name: string) => entries[name];
  it.each([
    [1, {}, /not a v1 memory cgroup: no memory.usage_in_bytes or memory.limit_in_bytes/],
    [2, { 'memory.current': '1\n' }, /not a v2 memory cgroup/],
    [2, { 'memory.current': 'x\n', 'memory.max': 'max\n' }, /memory.current: counter "x"/],
    [2, { 'memory.current': '1\n', 'memory.max': 'max\n', 'memory.events': 'high\n' }, /memory.events:/],
    [1, { 'memory.usage_in_bytes': '1\n', 'memory.limit_in_bytes': '2\n', 'memory.oom_control': 'under_oom 0\n' }, /memory.oom_control:/],
  ] as const)('v%d %j', (version, entries, reason) => {
    const r = countersFromFiles(version, files(entries));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(reason);
  });

  it('needs nothing but the usage and limit files', () => {
    const c = ok(countersFromFiles(2, files({ 'memory.current': '4096\n', 'memory.max': 'max\n' })));
    expect(c).toMatchObject({ usage: 4096, max: Infinity, high: undefined, peak: undefined, kernel: undefined, eventsLocal: undefined });
    expect(c.events.high).toBeUndefined();
  });
});
