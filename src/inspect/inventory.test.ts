import { describe, expect, it } from 'vitest';
import { measuredElementRows, measuredMapRows } from '../../test/fixtures/kernel-6.18/index.js';
import { estimateMaps } from '../estimate/maps.js';
import { fdinfoMemlock, memlockDependsOnContents, modelKnowsMemlock, elementsFromMemlock } from '../model/maps/memlock.js';
import { mapSpec } from '../vocab/map-spec.js';
import { MAP_TYPES } from '../vocab/maptypes.js';
import { profileOf } from '../model/profile.js';
import { buildInventory, rollUp, type MapEntry } from './inventory.js';
import { type InventoryInput, type RawMap } from '../vocab/inventory.js';
import { labelOf } from './labels.js';

/** The machine the fixtures were measured on: 6.18, 2 possible CPUs, 4 KiB pages. */
const P618 = profileOf({ version: '6.18', cpus: 2 });

const raw = (id: number, over: Partial<RawMap> = {}): RawMap => ({
  id,
  type: MAP_TYPES.hash.id,
  name: `m${id}`,
  keySize: 4,
  valueSize: 8,
  maxEntries: 1000,
  flags: 0,
  mapExtra: 0,
  ...over,
});

describe('elementsFromMemlock', () => {
  // Every measured row of a map whose memlock follows its contents gives back its element count.
  const rows = measuredMapRows().filter((r) => memlockDependsOnContents(r.spec.type, r.spec.flags));
  it('has content-dependent rows to check', () => {
    expect(rows.length).toBeGreaterThanOrEqual(10);
  });
  it.each(rows.map((r) => [r.label, r] as const))('%s', (_label, r) => {
    expect(elementsFromMemlock(r.spec, r.memlock, P618)).toBe(r.elements);
  });
  it.each(measuredElementRows().filter((r) => memlockDependsOnContents(r.spec.type, r.spec.flags)).map((r) => [r.line, r] as const))('%s', (_l, r) => {
    expect(elementsFromMemlock(r.spec, r.empty, P618)).toBe(0);
    expect(elementsFromMemlock(r.spec, r.after, P618)).toBe(r.inserted);
  });
});

describe('modelKnowsMemlock', () => {
  // Where the model claims to know memlock from the layout, the measured rows agree with it.
  const rows = measuredMapRows().filter((r) => modelKnowsMemlock(r.spec.type, r.spec.flags) && r.elements === 0);
  it.each(rows.map((r) => [r.label, r] as const))('%s', (_label, r) => {
    expect(fdinfoMemlock(r.spec, 0, P618)).toBe(r.memlock);
  });
  it('leaves out maps whose memlock follows contents or map_extra', () => {
    expect(modelKnowsMemlock('hash', 1)).toBe(false);
    expect(modelKnowsMemlock('hash', 0)).toBe(true);
    expect(modelKnowsMemlock('lpm_trie', 1)).toBe(false);
    expect(modelKnowsMemlock('bloom_filter', 0)).toBe(false);
    expect(modelKnowsMemlock(undefined, 0)).toBe(false);
  });
});

describe('buildInventory', () => {
  const input: InventoryInput = {
    profile: P618,
    maps: [
      raw(1), // memlock from the model
      raw(2, { flags: 1, memlock: 2000 }),
      raw(3, { type: MAP_TYPES.percpu_array.id, keySize: 4, valueSize: 64, maxEntries: 4096 }),
      raw(4, { type: 99, name: 'future' }),
      raw(5),
      raw(6),
    ],
    progs: [{ id: 7, type: 'xdp', name: 'fw', tag: '0123456789abcdef', memlock: 4096, insns: 12, uid: 0 }],
    charges: new Map<number, bigint | null>([
      [1, 11n],
      [2, 12n],
      [3, 11n],
      [4, 0n],
      [5, 99n],
    ]),
    cgroupPaths: new Map([
      [1n, '/'],
      [10n, '/pods'],
      [11n, '/pods/a'],
      [12n, '/pods/b'],
    ]),
    holders: { maps: new Map([[1, [{ pid: 10, comm: 'agent', cgroup: '/pods/b' }]]]), progs: new Map([[7, [{ pid: 10, comm: 'agent' }]]]) },
    pins: { maps: new Map([[2, ['/sys/fs/bpf/x']]]), progs: new Map() },
    cgroups: [
      { path: '/', usage: 1 << 30, max: Number.POSITIVE_INFINITY, kernel: undefined },
      { path: '/pods', usage: 100 << 20, max: 200 << 20, kernel: undefined },
      { path: '/pods/a', usage: 50 << 20, max: Number.POSITIVE_INFINITY, kernel: 10 << 20 },
      { path: '/pods/b', usage: 40 << 20, max: 45 << 20, kernel: undefined },
    ],
    errors: ['a note'],
  };
  const inv = buildInventory(input);
  const byId = (id: number): MapEntry => {
    const m = inv.maps.find((x) => x.id === id);
    if (!m) throw new Error(`no map ${id}`);
    return m;
  };

  it('computes memlock where fdinfo was not read, and says so', () => {
    expect(byId(1).memlock).toBe(81424); // measured: hash k=4 v=8 max=1000 prealloc
    expect(byId(1).memlockSource).toBe('model');
    expect(byId(2).memlockSource).toBe('fdinfo');
  });

  it('estimates the charge as `bpfmem estimate` does, per-CPU memory uncharged on 6.18', () => {
    const [est] = estimateMaps([{ name: 'x', spec: mapSpec({ type: 'percpu_array', keySize: 4, valueSize: 64, maxEntries: 4096 }), elements: 0 }], P618).maps;
    if (!est?.ok) throw new Error('the estimate failed');
    expect(byId(3).charge).toBe(est.charged);
    expect(byId(3).uncharged).toBeGreaterThan(500_000);
    expect(byId(3).uncharged).toBe(est.uncharged);
  });

  it('names where each map is charged: a cgroup, nobody, a removed cgroup, or unknown', () => {
    expect(byId(1).chargedTo).toEqual({ kind: 'cgroup', path: '/pods/a', id: '11', label: labelOf('/pods/a') });
    expect(byId(4).chargedTo).toEqual({ kind: 'nobody' });
    expect(byId(5).chargedTo).toEqual({ kind: 'removed', id: '99' });
    expect(byId(6).chargedTo).toEqual({ kind: 'unknown' });
    const { charges: _unused, ...withoutCharges } = input;
    expect(buildInventory(withoutCharges).maps.every((m) => m.chargedTo.kind === 'unknown')).toBe(true);
  });

  it('keeps a type it does not know, without estimates', () => {
    expect(byId(4).type).toBe('unknown(99)');
    expect(byId(4).charge).toBeUndefined();
    expect(byId(4).memlock).toBe(0);
  });

  it('attaches holders and pins; programs are charged to nobody known', () => {
    expect(byId(1).holders).toEqual([{ pid: 10, comm: 'agent', cgroup: '/pods/b' }]);
    expect(byId(2).pins).toEqual(['/sys/fs/bpf/x']);
    expect(inv.progs[0]).toMatchObject({ id: 7, holders: [{ pid: 10, comm: 'agent' }], chargedTo: { kind: 'unknown' } });
    expect(inv.errors).toEqual(['a note']);
  });

  it('rolls the charges up the tree, with headroom from the tightest ancestor', () => {
    const c = new Map(inv.cgroups.map((x) => [x.path, x]));
    const a = byId(1).charge ?? 0;
    const b = byId(2).charge ?? 0;
    const pc = byId(3).charge ?? 0;
    expect(c.get('/pods/a')).toMatchObject({ bpfOwn: a + pc, bpfSubtree: a + pc, objectsOwn: 2, objectsSubtree: 2, headroom: (200 << 20) - (100 << 20), kernel: 10 << 20 });
    expect(c.get('/pods/b')).toMatchObject({ bpfOwn: b, objectsOwn: 1, headroom: 5 << 20 });
    expect(c.get('/pods')).toMatchObject({ bpfOwn: 0, bpfSubtree: a + b + pc, objectsSubtree: 3 });
    expect(c.get('/')).toMatchObject({ bpfSubtree: a + b + pc, objectsSubtree: 3, headroom: Number.POSITIVE_INFINITY });
    expect(c.get('/pods/a')?.bpfShare).toBeCloseTo((a + pc) / (50 << 20));
  });
});

describe('rollUp', () => {
  it('counts a cgroup whose parent was not read under its nearest listed ancestor', () => {
    const maps = buildInventory({
      profile: P618,
      maps: [raw(1)],
      progs: [],
      charges: new Map([[1, 3n]]),
      cgroupPaths: new Map([[3n, '/x/y/z']]),
    }).maps;
    const out = rollUp(
      [
        { path: '/', usage: 10, max: Number.POSITIVE_INFINITY, kernel: undefined },
        { path: '/x/y/z', usage: 5, max: Number.POSITIVE_INFINITY, kernel: undefined },
      ],
      maps,
    );
    expect(out.find((c) => c.path === '/')?.objectsSubtree).toBe(1);
  });
});
