import { describe, expect, it } from 'vitest';
import { MAP_FLAGS } from '../../vocab/flags.js';
import { must, type KnownSnapshot } from '../../vocab/backend.js';
import { mapSpec, type MapSpec } from '../../vocab/map-spec.js';
import type { MapType } from '../../vocab/maptypes.js';
import { ModelKernel } from '../kernel.js';
import { profileOf, type ProfileInput } from '../profile.js';
import type { Alloc, ElementModel } from './alloc.js';
import { cgrpStorageModel, inodeStorageModel, localStorageElemSize, skStorageModel, taskStorageModel } from './local_storage.js';

const k = (version: string, input: Partial<ProfileInput> = {}) => profileOf({ version, cpus: 2, ...input });
const spec = (type: MapType, valueSize = 8): MapSpec => mapSpec({ type, keySize: 4, valueSize, maxEntries: 0, flags: MAP_FLAGS.no_prealloc });
const describeAllocs = (allocs: readonly Alloc[]) => allocs.map((a) => `${a.what} ${a.shape} ${a.payer} ${a.size}×${a.count ?? 1}`);
const MODELS = { sk_storage: skStorageModel, inode_storage: inodeStorageModel, task_storage: taskStorageModel, cgrp_storage: cgrpStorageModel } as const;

function elementModel(type: keyof typeof MODELS, version: string, valueSize = 8): ElementModel {
  const e = MODELS[type].elements(spec(type, valueSize), k(version));
  if ('ok' in e) throw new Error(e.reason);
  return e;
}

describe('smap->elem_size', () => {
  it.each<[string, number]>([
    // 5.10.223 and 6.1 before .100: sizeof(struct bpf_local_storage_elem) + value_size.
    ['5.10.223', 128 + 8],
    ['6.1', 128 + 8],
    ['6.1.99', 128 + 8],
    ['6.2', 128 + 8],
    // "bpf: Reduce smap->elem_size": 6.3, and 6.1.100 on: offsetof(selem, sdata.data[value_size]).
    ['6.1.100', 72 + 8],
    ['6.3', 72 + 8],
    ['6.12', 72 + 8],
    ['6.18', 72 + 8],
    ['7.2', 72 + 8],
  ])('%s: %i bytes for an 8-byte value', (version, bytes) => {
    expect(localStorageElemSize(spec('sk_storage'), k(version))).toBe(bytes);
  });

  it('derives offsetof(sdata.data) from the struct size: one cache line plus the smap pointer', () => {
    // ppc64: 128-byte cache lines, sizeof(struct bpf_local_storage_elem) = 256, sdata at 128.
    expect(localStorageElemSize(spec('task_storage', 100), k('6.18', { structs: { bpf_local_storage_elem: 256 } }))).toBe(128 + 8 + 100);
  });
});

describe('local storage allocations by type and version', () => {
  it.each(['sk_storage', 'inode_storage'] as const)('%s: kmalloc selem and storage through the map memcg, in every version', (type) => {
    // sizeof(struct bpf_local_storage) of the struct-size tables: 6.1's for 6.3 and 6.4.
    const storage: Record<string, number> = { '6.3': 168, '6.4': 168, '6.12': 176, '6.18': 176, '7.2': 184 };
    for (const [v, bytes] of Object.entries(storage)) {
      expect(describeAllocs(elementModel(type, v).allocs)).toEqual(['bpf_local_storage_elem kmalloc map 80×1', `bpf_local_storage kmalloc map ${bytes}×1`]);
      expect(elementModel(type, v).memAllocs).toEqual([]);
    }
    expect(describeAllocs(MODELS[type].createAllocs(spec(type), k('6.18')))).toEqual(['bpf_local_storage_map area current 448×1', 'buckets kvmalloc map 32×1']);
  });

  it.each(['task_storage', 'cgrp_storage'] as const)('%s 6.4–6.18: selem_ma and storage_ma bpf_mem_allocs', (type) => {
    for (const v of ['6.4', '6.12', '6.18']) {
      const e = elementModel(type, v);
      expect(e.allocs).toEqual([]);
      expect(e.memAllocs).toEqual([
        { what: 'selem_ma', size: 80, percpu: false },
        { what: 'storage_ma', size: v === '6.4' ? 168 : 176, percpu: false },
      ]);
    }
    expect(describeAllocs(MODELS[type].createAllocs(spec(type), k('6.18')))).toEqual([
      'bpf_local_storage_map area current 448×1',
      'buckets kvmalloc map 32×1',
      'selem_ma caches percpu none 208×1',
      'storage_ma caches percpu none 208×1',
    ]);
  });

  it.each(['task_storage', 'cgrp_storage'] as const)('%s before 6.4 and from 6.19 (kmalloc_nolock): kmalloc objects, no caches', (type) => {
    for (const v of ['6.3', '6.19', '7.2']) {
      expect(elementModel(type, v).memAllocs).toEqual([]);
      expect(describeAllocs(elementModel(type, v).allocs)[0]).toBe('bpf_local_storage_elem kmalloc map 80×1');
      expect(MODELS[type].createAllocs(spec(type), k(v)).map((a) => a.what)).toEqual(['bpf_local_storage_map', 'buckets']);
    }
  });

  it('5.10: the selem of sizeof + value and the storage, allocated unaccounted', () => {
    expect(describeAllocs(elementModel('sk_storage', '5.10').allocs)).toEqual(['bpf_local_storage_elem kmalloc none 136×1', 'bpf_local_storage kmalloc none 168×1']);
  });
});

/*
 * What the model charges against what the 6.18.44 host (2 possible CPUs, memcg v1, value 8,
 * creator pinned to CPU 0) measured in `memory.kmem.usage_in_bytes` of a test cgroup:
 * sk/inode storage 303.1 B per new owner (500 sockets / 500 files); task/cgrp storage creation
 * 3,351 B against 894 B for sk/inode/array (55 maps each: the 2,458 B difference is the two
 * prefills); the first task/cgrp insert for a new owner 4 pages (one refill of 48 selems and
 * 48 storages), 200 task inserts 17 pages in steps at inserts 1, 21, 69, 117 and 165.
 */
describe('charges on 6.18, 2 CPUs', () => {
  const cgOf = (s: KnownSnapshot) => s.maps.find((m) => m.name === 'm')?.charged ?? -1;
  function charged(type: MapType, inserts: number): number {
    const kern = new ModelKernel(k('6.18', { cgroup: 1 }));
    must(kern.createCgroup('/a', { max: Number.POSITIVE_INFINITY, high: Number.POSITIVE_INFINITY }));
    must(kern.startTask('t', { cgroup: '/a', uid: 0 }));
    must(kern.createMap('t', 'm', spec(type)));
    if (inserts > 0) must(kern.updateMap('m', inserts, { task: 't' }, 0));
    return cgOf(kern.snapshot());
  }

  it('sk and inode storage: 920 B at creation, 304 B per new owner (kmalloc-96 selem + kmalloc-192 storage, with objcg pointers)', () => {
    for (const type of ['sk_storage', 'inode_storage'] as const) {
      expect(charged(type, 0)).toBe(920);
      expect(charged(type, 500) - charged(type, 0)).toBe(500 * (96 + 8 + 192 + 8));
    }
  });

  it('task and cgrp storage: the two prefills at creation, refills of 48 objects each on insert', () => {
    const selem = 96 + 8; // unit 80 + 8 (llist_node) = 88: kmalloc-96
    const storage = 192 + 8; // unit 176 + 8 = 184: kmalloc-192
    for (const type of ['task_storage', 'cgrp_storage'] as const) {
      // 4 objects per possible CPU in each cache.
      expect(charged(type, 0)).toBe(920 + 2 * 4 * (selem + storage));
      // The first insert leaves 3 < low watermark 32 on CPU 0: one batch of 48 more of each.
      expect(charged(type, 1) - charged(type, 0)).toBe(48 * (selem + storage));
      // Refills at inserts 1, 21, 69, 117, 165.
      expect(charged(type, 200) - charged(type, 0)).toBe(5 * 48 * (selem + storage));
    }
  });
});
