import { describe, expect, it } from 'vitest';
import { MAP_FLAGS } from '../../vocab/flags.js';
import { MAP_TYPE_NAMES } from '../../vocab/maptypes.js';
import { profileOf } from '../profile.js';
import type { Alloc, ElementModel } from './alloc.js';
import { allocBytes } from './common.js';
import { mapTypeModel } from './index.js';
import { mapSpec, type MapSpec } from '../../vocab/map-spec.js';

const k = (version: string) => profileOf({ version, cpus: 2 });
const K618 = k('6.18');
const F = MAP_FLAGS;

const describeAllocs = (allocs: readonly Alloc[]) => allocs.map((a) => `${a.what} ${a.shape} ${a.payer} ${a.size}×${a.count ?? 1}`);

function elementModel(spec: MapSpec, version = '6.18'): ElementModel {
  const e = mapTypeModel(spec.type).elements(spec, k(version));
  if ('ok' in e) throw new Error(e.reason);
  return e;
}

describe('createAllocs sum to memlock where memlock counts exactly what is allocated', () => {
  it.each<[string, MapSpec]>([
    ['array v4 max 65536', mapSpec({ type: 'array', keySize: 4, valueSize: 4, maxEntries: 65536 })],
    ['array mmapable v13 max 1000', mapSpec({ type: 'array', keySize: 4, valueSize: 13, maxEntries: 1000, flags: F.mmapable })],
    ['percpu_array v64 max 100', mapSpec({ type: 'percpu_array', keySize: 4, valueSize: 64, maxEntries: 100 })],
    ['queue v13 max 1000', mapSpec({ type: 'queue', valueSize: 13, maxEntries: 1000 })],
    ['ringbuf 64 KiB', mapSpec({ type: 'ringbuf', maxEntries: 65536 })],
    ['user_ringbuf 1 MiB', mapSpec({ type: 'user_ringbuf', maxEntries: 1 << 20 })],
    ['bloom_filter v8 max 65536', mapSpec({ type: 'bloom_filter', valueSize: 8, maxEntries: 65536 })],
    ['devmap max 1000', mapSpec({ type: 'devmap', keySize: 4, valueSize: 4, maxEntries: 1000 })],
    ['devmap_hash max 1000', mapSpec({ type: 'devmap_hash', keySize: 4, valueSize: 4, maxEntries: 1000 })],
    ['cpumap max 2', mapSpec({ type: 'cpumap', keySize: 4, valueSize: 4, maxEntries: 2 })],
    ['xskmap max 64', mapSpec({ type: 'xskmap', keySize: 4, valueSize: 4, maxEntries: 64 })],
    ['sockmap max 64', mapSpec({ type: 'sockmap', keySize: 4, valueSize: 4, maxEntries: 64 })],
    ['sockhash k4 max 1000', mapSpec({ type: 'sockhash', keySize: 4, valueSize: 4, maxEntries: 1000 })],
    ['reuseport_sockarray max 64', mapSpec({ type: 'reuseport_sockarray', keySize: 4, valueSize: 4, maxEntries: 64 })],
    ['cgroup_storage', mapSpec({ type: 'cgroup_storage', keySize: 16, valueSize: 64 })],
    ['sk_storage', mapSpec({ type: 'sk_storage', keySize: 4, valueSize: 64, flags: F.no_prealloc })],
  ])('%s', (_what, spec) => {
    const m = mapTypeModel(spec.type);
    expect(allocBytes(m.createAllocs(spec, K618), K618)).toBe(m.memUsage(spec, 0, K618));
  });

  it('stack_trace: memlock plus the (uncounted) per-CPU free list heads', () => {
    const spec = mapSpec({ type: 'stack_trace', keySize: 4, valueSize: 1016, maxEntries: 64 });
    const m = mapTypeModel('stack_trace');
    expect(allocBytes(m.createAllocs(spec, K618), K618)).toBe(m.memUsage(spec, 0, K618) + 16 * 2);
  });
});

describe('createAllocs shapes and payers', () => {
  it('percpu_array: values through bpf_map_alloc_percpu (the map pays, i.e. nobody on 6.0+)', () => {
    const spec = mapSpec({ type: 'percpu_array', keySize: 4, valueSize: 64, maxEntries: 100 });
    expect(describeAllocs(mapTypeModel('percpu_array').createAllocs(spec, K618))).toEqual([
      'bpf_array + pptrs area current 1112×1',
      'percpu values percpu map 64×100',
    ]);
  });

  it('ringbuf: map and page array from bpf_map_area_alloc, then accounted pages for the creator', () => {
    const spec = mapSpec({ type: 'ringbuf', maxEntries: 4096 });
    expect(describeAllocs(mapTypeModel('ringbuf').createAllocs(spec, K618))).toEqual([
      'bpf_ringbuf_map area current 304×1',
      'page pointers area current 40×1',
      'ring pages pages current 4096×4',
    ]);
  });

  it('array_of_maps: unaccounted inner map metadata, then the pointer array', () => {
    const spec = mapSpec({ type: 'array_of_maps', keySize: 4, valueSize: 4, maxEntries: 100 });
    expect(describeAllocs(mapTypeModel('array_of_maps').createAllocs(spec, K618))).toEqual([
      'inner_map_meta kmalloc none 296×1',
      'bpf_array + values area current 1112×1',
    ]);
  });

  it('lpm_trie: a bpf_mem_alloc from 6.13, none before', () => {
    const spec = mapSpec({ type: 'lpm_trie', keySize: 8, valueSize: 4, maxEntries: 100, flags: F.no_prealloc });
    expect(describeAllocs(mapTypeModel('lpm_trie').createAllocs(spec, K618))).toEqual([
      'lpm_trie area current 400×1',
      'ma caches percpu none 208×1',
    ]);
    // 6.12's own struct lpm_trie is 288 bytes (Debian's 6.12.117 BTF, src/model/structs.ts).
    expect(describeAllocs(mapTypeModel('lpm_trie').createAllocs(spec, k('6.12')))).toEqual(['lpm_trie area current 288×1']);
  });

  it('local storage buckets: bpf_map_kvcalloc (map) on 6.x, the creator before 6.0', () => {
    const spec = mapSpec({ type: 'task_storage', keySize: 4, valueSize: 64, flags: F.no_prealloc });
    expect(describeAllocs(mapTypeModel('task_storage').createAllocs(spec, K618))[1]).toBe('buckets kvmalloc map 32×1');
    expect(describeAllocs(mapTypeModel('task_storage').createAllocs(spec, k('5.15')))[1]).toBe('buckets kvmalloc current 32×1');
  });

  it('struct_ops tcp_congestion_ops: map + kernel value, user value, links, ksyms; the image only before 6.9', () => {
    const spec = mapSpec({ type: 'struct_ops', keySize: 4, valueSize: 256, maxEntries: 1, structOpsFuncs: 13 });
    // 6.18 allocates the trampoline pages on update (bpf_struct_ops_prepare_trampoline()), none here.
    expect(describeAllocs(mapTypeModel('struct_ops').createAllocs(spec, K618))).toEqual([
      'bpf_struct_ops_map + kvalue area current 704×1',
      'uvalue area current 256×1',
      'links area current 104×1',
      'ksyms area current 104×1',
    ]);
    expect(describeAllocs(mapTypeModel('struct_ops').createAllocs(spec, k('6.8')))).toContain('trampoline image pages none 4096×1');
  });

  it('every type on 6.18 allocates something at creation and names each allocation', () => {
    for (const type of MAP_TYPE_NAMES) {
      const allocs = mapTypeModel(type).createAllocs(mapSpec({ type, keySize: 4, valueSize: 8, maxEntries: 64 }), K618);
      expect(allocs.length, type).toBeGreaterThan(0);
      for (const a of allocs) expect(a.what, type).not.toBe('');
    }
  });
});

describe('elements', () => {
  it('devmap: one bpf_dtab_netdev per entry through the map (measured +64 B each)', () => {
    const spec = mapSpec({ type: 'devmap_hash', keySize: 4, valueSize: 4, maxEntries: 64 });
    const e = elementModel(spec);
    expect(describeAllocs(e.allocs)).toEqual(['bpf_dtab_netdev kmalloc map 64×1']);
    expect(e.whenFull).toEqual({ errno: 'E2BIG' });
  });

  it('sockhash: one elem of 48 + round_up(key, 8) per socket; sockmap: nothing', () => {
    expect(describeAllocs(elementModel(mapSpec({ type: 'sockhash', keySize: 4, valueSize: 4, maxEntries: 64 })).allocs)).toEqual([
      'bpf_shtab_elem kmalloc map 56×1',
    ]);
    expect(elementModel(mapSpec({ type: 'sockmap', keySize: 4, valueSize: 4, maxEntries: 64 })).allocs).toEqual([]);
  });

  it('xskmap: one xsk_map_node per socket', () => {
    expect(describeAllocs(elementModel(mapSpec({ type: 'xskmap', keySize: 4, valueSize: 4, maxEntries: 64 })).allocs)).toEqual([
      'xsk_map_node kmalloc map 32×1',
    ]);
  });

  it('lpm_trie: a leaf from the bpf_mem_alloc on 6.13+, a bpf_map_kmalloc_node before; ENOSPC when full', () => {
    const spec = mapSpec({ type: 'lpm_trie', keySize: 8, valueSize: 13, maxEntries: 100, flags: F.no_prealloc });
    const e = elementModel(spec);
    expect(e.memAllocs).toEqual([{ what: 'ma', size: 41, percpu: false }]);
    expect(e.whenFull).toEqual({ errno: 'ENOSPC' });
    // 6.12's struct lpm_trie_node is 40 bytes (24 on 6.18): 40 + 4 bytes of key data + 13 of value.
    expect(describeAllocs(elementModel(spec, '6.12').allocs)).toEqual(['lpm_trie_node kmalloc map 57×1']);
  });

  it('arena: a page per insert, charged to the map, invisible in memlock', () => {
    const spec = mapSpec({ type: 'arena', maxEntries: 16, flags: F.mmapable });
    expect(describeAllocs(elementModel(spec).allocs)).toEqual(['arena page pages map 4096×1']);
    expect(mapTypeModel('arena').memUsage(spec, 16, K618)).toBe(0);
  });

  it('cgroup storages: storage + value per attached cgroup, per-CPU value for the per-CPU type', () => {
    expect(describeAllocs(elementModel(mapSpec({ type: 'cgroup_storage', keySize: 16, valueSize: 64 })).allocs)).toEqual([
      'bpf_cgroup_storage kmalloc map 104×1',
      'buf kmalloc map 80×1',
    ]);
    expect(describeAllocs(elementModel(mapSpec({ type: 'percpu_cgroup_storage', keySize: 16, valueSize: 64 })).allocs)).toEqual([
      'bpf_cgroup_storage kmalloc map 104×1',
      'percpu_buf percpu map 64×1',
    ]);
  });

  it.each(['ringbuf', 'user_ringbuf', 'struct_ops'] as const)('%s takes no inserts and says why', (type) => {
    const e = mapTypeModel(type).elements(mapSpec({ type, keySize: 4, valueSize: 256, maxEntries: 4096, structOpsFuncs: 1 }), K618);
    expect('ok' in e && e.reason).toMatch(/takes no inserts/);
  });

  it.each([
    ['array', false],
    ['percpu_array', false],
    ['prog_array', true],
    ['array_of_maps', true],
    ['queue', false],
    ['bloom_filter', false],
    ['arena', false],
    ['cgroup_storage', false],
    ['hash', true],
    ['lru_hash', true],
    ['stack_trace', true],
    ['sockmap', true],
    ['sk_storage', true],
  ] as const)('%s: BPF_MAP_DELETE_ELEM works: %s', (type, deletable) => {
    const e = mapTypeModel(type).elements(mapSpec({ type, keySize: 4, valueSize: 8, maxEntries: 8 }), K618);
    expect('ok' in e ? undefined : e.deletable).toBe(deletable);
  });

  it('arrays and queues allocate nothing per element', () => {
    for (const spec of [
      mapSpec({ type: 'array', keySize: 4, valueSize: 4, maxEntries: 8 }),
      mapSpec({ type: 'queue', valueSize: 4, maxEntries: 8 }),
      mapSpec({ type: 'stack_trace', keySize: 4, valueSize: 8, maxEntries: 8 }),
    ]) {
      const e = elementModel(spec);
      expect(e.allocs).toEqual([]);
      expect(e.memAllocs).toEqual([]);
      expect(e.capacity).toBe(8);
    }
  });
});
