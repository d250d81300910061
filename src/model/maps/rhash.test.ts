import { describe, expect, it } from 'vitest';
import type { Errno } from '../../vocab/errno.js';
import { MAP_FLAGS } from '../../vocab/flags.js';
import { mapSpec, type MapSpec } from '../../vocab/map-spec.js';
import { ModelKernel } from '../kernel.js';
import { profileOf } from '../profile.js';
import type { ElementModel } from './alloc.js';
import { checkMapCreate } from './index.js';
import { rhashBucketTableBytes, rhashInitialBuckets, rhashModel, rhashSettledBuckets, rhtabElemSize } from './rhash.js';

/** BPF_MAP_TYPE_RHASH against kernel/bpf/hashtab.c and lib/rhashtable.c of Debian's 7.2.13. */

const K72 = profileOf({ version: '7.2.13', cpus: 2 });
const NP = MAP_FLAGS.no_prealloc;
const rhash = (fields: Partial<MapSpec> = {}): MapSpec => mapSpec({ type: 'rhash', keySize: 8, valueSize: 64, maxEntries: 65536, flags: NP, ...fields });

const asModel = (e: unknown): ElementModel => {
  if (typeof e === 'object' && e !== null && 'ok' in e) throw new Error('expected an element model');
  return e as ElementModel;
};

describe('rhash sizes (7.2 BTF: bpf_rhtab 536, rhtab_elem 8)', () => {
  it('elem_size is the rhash_head and the 8-rounded key and value', () => {
    expect(rhtabElemSize(rhash(), K72)).toBe(8 + 8 + 64);
    expect(rhtabElemSize(rhash({ keySize: 4, valueSize: 4 }), K72)).toBe(8 + 8 + 8);
  });

  it('memlock is the struct plus elem_size per element: no buckets, no llist_node, no cache', () => {
    expect(rhashModel.memUsage(rhash(), 0, K72)).toBe(536);
    expect(rhashModel.memUsage(rhash(), 10_000, K72)).toBe(536 + 80 * 10_000);
  });
});

describe('rhash bucket table (lib/rhashtable.c)', () => {
  it('starts at 64 buckets, or at the hint × 4/3 rounded up to a power of two, at least 4', () => {
    expect(rhashInitialBuckets(rhash())).toBe(64);
    expect(rhashInitialBuckets(rhash({ mapExtra: 1 }))).toBe(4);
    expect(rhashInitialBuckets(rhash({ mapExtra: 100 }))).toBe(256); // 133 → 256
    expect(rhashInitialBuckets(rhash({ mapExtra: 96 }))).toBe(128);
    expect(rhashInitialBuckets(rhash({ mapExtra: 65535 }))).toBe(131072);
  });

  it('settles at the smallest doubling that keeps nelems at or under 75%', () => {
    expect(rhashSettledBuckets(rhash(), 48)).toBe(64);
    expect(rhashSettledBuckets(rhash(), 49)).toBe(128);
    expect(rhashSettledBuckets(rhash(), 10_000)).toBe(16384);
    expect(rhashSettledBuckets(rhash({ mapExtra: 65535 }), 10_000)).toBe(131072);
  });

  it('is a 64-byte head and a pointer per bucket, charged to nobody', () => {
    expect(rhashBucketTableBytes(rhash(), 0, K72)).toBe(64 + 8 * 64);
    const table = rhashModel.createAllocs(rhash(), K72).find((a) => a.what === 'bucket_table');
    expect(table).toEqual({ what: 'bucket_table', shape: 'kvmalloc', payer: 'none', size: 576 });
  });
});

describe('rhash creation and inserts', () => {
  it('creates the struct (creator), the first table and the bpf_mem_alloc caches (nobody)', () => {
    expect(rhashModel.createAllocs(rhash(), K72).map((a) => `${a.what} ${a.shape} ${a.payer} ${a.size}`)).toEqual([
      'bpf_rhtab area current 536',
      'bucket_table kvmalloc none 576',
      'ma caches percpu none 224',
    ]);
  });

  it('takes one bpf_mem_alloc object of elem_size per insert, E2BIG when full, deletable', () => {
    const e = asModel(rhashModel.elements(rhash(), K72));
    expect(e).toEqual({ capacity: 65536, whenFull: { errno: 'E2BIG' }, allocs: [], memAllocs: [{ what: 'ma', size: 80, percpu: false }], deletable: true });
  });

  it('charges the creator a kmalloc-1k struct and the prefill, then one kmalloc-96 object per insert', () => {
    const k = new ModelKernel(K72);
    k.createCgroup('/c', { max: Number.POSITIVE_INFINITY, high: Number.POSITIVE_INFINITY });
    k.startTask('t', { cgroup: '/c', uid: 0 });
    expect(k.createMap('t', 'm', rhash()).ok).toBe(true);
    const made = k.snapshot();
    expect(made.maps.find((m) => m.name === 'm')?.memlock).toBe(536);
    expect(k.updateMap('m', 10_000, { task: 't' }, 0).ok).toBe(true);
    const filled = k.snapshot();
    expect(filled.maps.find((m) => m.name === 'm')?.memlock).toBe(536 + 80 * 10_000);
  });
});

describe('checkMapCreate: rhash', () => {
  it.each<[string, MapSpec, string, Errno, RegExp]>([
    ['on 7.1', rhash(), '7.1', 'EINVAL', /needs Linux 7\.2/],
    ['on 6.18 with a hint: map_extra is refused before the type', rhash({ mapExtra: 10 }), '6.18', 'EINVAL', /map_extra is refused before the type/],
    ['without no_prealloc', rhash({ flags: 0 }), '7.2', 'EINVAL', /needs no_prealloc/],
    ['zero_seed', rhash({ flags: NP | MAP_FLAGS.zero_seed }), '7.2', 'EINVAL', /zero_seed/],
    ['key_size over U16_MAX', rhash({ keySize: 65536 }), '7.2', 'E2BIG', /key_size 65536/],
    ['map_extra upper 32 bits', rhash({ mapExtra: 2 ** 32 }), '7.2', 'EINVAL', /upper 32 bits/],
    ['hint over U16_MAX', rhash({ mapExtra: 65536, maxEntries: 100_000 }), '7.2', 'E2BIG', /table size hint\) 65536/],
    ['hint over max_entries', rhash({ mapExtra: 100, maxEntries: 10 }), '7.2', 'EINVAL', /over max_entries/],
    ['no_common_lru', rhash({ flags: NP | MAP_FLAGS.no_common_lru }), '7.2', 'EINVAL', /LRU maps only/],
    ['mmapable', rhash({ flags: NP | MAP_FLAGS.mmapable }), '7.2', 'EINVAL', /mmapable/],
    ['value_size 0', rhash({ valueSize: 0 }), '7.2', 'EINVAL', /non-zero/],
    ['key + value near KMALLOC_MAX_SIZE', rhash({ keySize: 8, valueSize: 4 * 1024 * 1024 }), '7.2', 'E2BIG', /key_size \+ value_size/],
    ['max_entries over 2^31', rhash({ maxEntries: 2 ** 31 + 1 }), '7.2', 'E2BIG', /2\^31/],
  ])('%s → %s', (_what, spec, version, errno, reason) => {
    const f = checkMapCreate(spec, profileOf({ version, cpus: 2 }));
    expect(f?.errno).toBe(errno);
    expect(f?.reason).toMatch(reason);
  });

  it.each<[string, MapSpec]>([
    ['the default table', rhash()],
    ['a hint of max_entries', rhash({ maxEntries: 1000, mapExtra: 1000 })],
    ['a hint of U16_MAX', rhash({ maxEntries: 100_000, mapExtra: 65535 })],
    ['max_entries 2^31 (no bucket array to overflow)', rhash({ maxEntries: 2 ** 31 })],
    ['numa_node', rhash({ flags: NP | MAP_FLAGS.numa_node })],
  ])('accepts %s on 7.2', (_what, spec) => {
    expect(checkMapCreate(spec, K72)).toBeUndefined();
  });
});
