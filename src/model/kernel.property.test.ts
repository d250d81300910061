import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { KnownSnapshot as Snapshot } from '../vocab/backend.js';
import { MAP_FLAGS } from '../vocab/flags.js';
import { ModelKernel } from './kernel.js';
import { mapSpec, type MapSpec } from '../vocab/map-spec.js';
import { profileOf } from './profile.js';

/*
 * Invariants of the accounting model, over random sequences of operations, in every era:
 * - no counter ever goes negative;
 * - a parent's usage covers its children's (hierarchical page counters);
 * - removing a cgroup (reparenting) does not change its parent's usage: bytes are conserved;
 * - freeing everything returns every counter, and every user's locked_vm, to zero.
 */

const CGROUPS = ['/a', '/a/b', '/a/b/c', '/a/b/c/d', '/e'] as const;
const TASKS = ['t0', 't1', 't2'] as const;
const MiB = 1024 * 1024;

const SPECS: readonly MapSpec[] = [
  mapSpec({ type: 'hash', keySize: 8, valueSize: 64, maxEntries: 2000, flags: MAP_FLAGS.no_prealloc }),
  mapSpec({ type: 'percpu_hash', keySize: 4, valueSize: 256, maxEntries: 500, flags: MAP_FLAGS.no_prealloc }),
  mapSpec({ type: 'hash', keySize: 4, valueSize: 8, maxEntries: 5000 }),
  mapSpec({ type: 'lru_hash', keySize: 16, valueSize: 32, maxEntries: 3000 }),
  mapSpec({ type: 'array', keySize: 4, valueSize: 4096, maxEntries: 600 }),
  mapSpec({ type: 'percpu_array', keySize: 4, valueSize: 64, maxEntries: 2000 }),
  mapSpec({ type: 'ringbuf', maxEntries: 256 * 1024 }),
  mapSpec({ type: 'lpm_trie', keySize: 8, valueSize: 8, maxEntries: 1000, flags: MAP_FLAGS.no_prealloc }),
  mapSpec({ type: 'devmap_hash', keySize: 4, valueSize: 4, maxEntries: 1000 }),
];

type Op =
  | { op: 'create'; task: number; spec: number }
  | { op: 'update'; map: number; count: number; cpu: number; softirq: boolean }
  | { op: 'delete'; map: number; count: number; cpu: number }
  | { op: 'close'; map: number }
  | { op: 'prog'; task: number; insns: number }
  | { op: 'move'; task: number; cgroup: number }
  | { op: 'remove'; cgroup: number }
  | { op: 'limit'; cgroup: number; mib: number }
  | { op: 'alloc'; task: number; kib: number }
  | { op: 'lock'; task: number; kib: number; ioUring: boolean };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('create' as const), task: fc.nat(2), spec: fc.nat(SPECS.length - 1) }),
  fc.record({ op: fc.constant('update' as const), map: fc.nat(7), count: fc.integer({ min: 1, max: 400 }), cpu: fc.nat(1), softirq: fc.boolean() }),
  fc.record({ op: fc.constant('delete' as const), map: fc.nat(7), count: fc.integer({ min: 1, max: 400 }), cpu: fc.nat(1) }),
  fc.record({ op: fc.constant('close' as const), map: fc.nat(7) }),
  fc.record({ op: fc.constant('prog' as const), task: fc.nat(2), insns: fc.integer({ min: 1, max: 5000 }) }),
  fc.record({ op: fc.constant('move' as const), task: fc.nat(2), cgroup: fc.nat(CGROUPS.length) }),
  fc.record({ op: fc.constant('remove' as const), cgroup: fc.nat(CGROUPS.length - 1) }),
  fc.record({ op: fc.constant('limit' as const), cgroup: fc.nat(CGROUPS.length - 1), mib: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ op: fc.constant('alloc' as const), task: fc.nat(2), kib: fc.integer({ min: -2048, max: 2048 }) }),
  fc.record({ op: fc.constant('lock' as const), task: fc.nat(2), kib: fc.integer({ min: -256, max: 256 }), ioUring: fc.boolean() }),
);

function checkCounters(s: Snapshot): void {
  const byPath = new Map(s.cgroups.map((c) => [c.path, c]));
  for (const c of s.cgroups) {
    for (const [k, v] of Object.entries({ usage: c.usage, kernel: c.kernel, bpf: c.bpf, failcnt: c.failcnt, peak: c.peak, ...c.stat, ...c.events })) {
      expect(v, `${c.path} ${k}`).toBeGreaterThanOrEqual(0);
    }
    expect(c.peak, `${c.path} peak`).toBeGreaterThanOrEqual(c.usage);
    const children = s.cgroups.filter((x) => x.path !== c.path && parent(x.path) === c.path);
    const below = children.reduce((sum, x) => sum + x.usage, 0);
    expect(c.usage, `${c.path} covers its children`).toBeGreaterThanOrEqual(below);
    expect(c.usage, `${c.path} covers its kernel memory`).toBeGreaterThanOrEqual(c.kernel);
    expect(c.stock, `${c.path} stock`).toBeGreaterThanOrEqual(0);
    expect(c.usage - c.stock, `${c.path} usage without stock covers its kernel memory`).toBeGreaterThanOrEqual(c.kernel);
    if (c.path !== '/') expect(byPath.has(parent(c.path))).toBe(true);
  }
  for (const u of s.users) expect(u.lockedVm).toBeGreaterThanOrEqual(0);
  for (const m of s.maps) {
    expect(m.charged).toBeGreaterThanOrEqual(0);
    expect(m.uncharged).toBeGreaterThanOrEqual(0);
    expect(m.elements).toBeGreaterThanOrEqual(0);
    expect(m.elements).toBeLessThanOrEqual(m.maxEntries);
  }
}

function parent(path: string): string {
  const cut = path.lastIndexOf('/');
  return cut <= 0 ? '/' : path.slice(0, cut);
}

function run(version: string, cgroupVersion: 1 | 2, ops: readonly Op[]): void {
  const k = new ModelKernel(profileOf({ version, cpus: 2, cgroup: cgroupVersion }));
  for (const path of CGROUPS) k.createCgroup(path, { max: 48 * MiB, high: Number.POSITIVE_INFINITY });
  // Leaves, so that v2's "no internal processes" allows them.
  TASKS.forEach((t, i) => k.startTask(t, { cgroup: i === 2 ? '/e' : '/a/b/c/d', uid: i === 1 ? 1000 : 0, memlock: 64 * MiB }));
  const maps: string[] = [];
  let created = 0;
  let progs = 0;
  for (const op of ops) {
    switch (op.op) {
      case 'create': {
        const name = `m${created++}`;
        if (k.createMap(TASKS[op.task] ?? 't0', name, SPECS[op.spec] ?? SPECS[0]!).ok) maps.push(name);
        break;
      }
      case 'update':
        if (maps[op.map]) k.updateMap(maps[op.map]!, op.count, op.softirq ? 'softirq' : { task: 't1' }, op.cpu);
        break;
      case 'delete':
        if (maps[op.map]) k.deleteFromMap(maps[op.map]!, op.count, op.cpu);
        break;
      case 'close':
        if (maps[op.map]) {
          k.close('map', maps[op.map]!);
          maps.splice(op.map, 1);
        }
        break;
      case 'prog':
        k.loadProg(TASKS[op.task] ?? 't0', `p${progs++}`, op.insns);
        break;
      case 'move':
        k.moveTask(TASKS[op.task] ?? 't0', op.cgroup === CGROUPS.length ? '/' : (CGROUPS[op.cgroup] ?? '/'));
        break;
      case 'remove': {
        const path = CGROUPS[op.cgroup] ?? '/a';
        const before = k.snapshot().cgroups;
        const up = before.find((c) => c.path === parent(path));
        if (k.removeCgroup(path).ok && up) {
          // Reparenting conserves bytes: what the parent holds for real (usage without the
          // per-CPU stock the removal drained) and its kernel memory do not move.
          const now = k.snapshot().cgroups.find((c) => c.path === up.path);
          expect(now && now.usage - now.stock).toBe(up.usage - up.stock);
          expect(now?.kernel).toBe(up.kernel);
        }
        break;
      }
      case 'limit':
        k.setLimit(CGROUPS[op.cgroup] ?? '/a', { max: op.mib * MiB });
        break;
      case 'alloc':
        k.allocMemory(TASKS[op.task] ?? 't0', op.kib * 1024);
        break;
      case 'lock':
        k.lockMemory(TASKS[op.task] ?? 't0', op.kib * 1024, op.ioUring ? 'io_uring' : 'mlock');
        break;
    }
    checkCounters(k.snapshot());
  }
  // Free everything: every counter and every locked_vm returns to zero.
  for (const m of maps) expect(k.close('map', m).ok).toBe(true);
  for (let i = 0; i < progs; i++) k.close('prog', `p${i}`);
  for (const t of TASKS) {
    k.lockMemory(t, -(1024 ** 4), 'io_uring');
    k.lockMemory(t, -(1024 ** 4), 'mlock');
    k.allocMemory(t, -(1024 ** 4));
  }
  // The kernel returns stocked pages on pressure and on offline; here, explicitly.
  k.drainStocks();
  const end = k.snapshot();
  for (const c of end.cgroups) {
    expect(c, c.path).toMatchObject({ usage: 0, kernel: 0, bpf: 0, stat: { slab: 0, percpu: 0, vmalloc: 0, anon: 0 } });
  }
  expect(end.users.filter((u) => u.lockedVm !== 0)).toEqual([]);
}

describe('model invariants over random operation sequences', () => {
  it.each([
    ['6.18', 1],
    ['6.18', 2],
    ['6.1', 2],
    ['5.15', 1],
    ['5.10', 1],
  ] as const)('kernel %s, cgroup v%d', (version, cgroupVersion) => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
        run(version, cgroupVersion, ops);
      }),
      { numRuns: 150 },
    );
  });
});
