import { describe, expect, it } from 'vitest';
import { MAP_FLAGS } from '../../vocab/flags.js';
import { profileOf } from '../profile.js';
import type { Alloc, ElementModel } from './alloc.js';
import { allocBytes } from './common.js';
import { hashModel, hashOfMapsModel, lruHashModel, percpuHashModel } from './hash.js';
import { mapSpec } from '../../vocab/map-spec.js';

const k = (version: string) => profileOf({ version, cpus: 2 });
const K618 = k('6.18');
const F = MAP_FLAGS;

/** `what shape payer size×count` per allocation, for compact expectations. */
const describeAllocs = (allocs: readonly Alloc[]) => allocs.map((a) => `${a.what} ${a.shape} ${a.payer} ${a.size}×${a.count ?? 1}`);

const asModel = (e: unknown): ElementModel => {
  if (typeof e === 'object' && e !== null && 'ok' in e) throw new Error('expected an element model');
  return e as ElementModel;
};

describe('hash createAllocs', () => {
  const spec = mapSpec({ type: 'hash', keySize: 4, valueSize: 4, maxEntries: 1 });

  it('6.18 prealloc: htab, elem_count, buckets, elems with NP spares, freelist, extra_elems', () => {
    expect(describeAllocs(hashModel.createAllocs(spec, K618))).toEqual([
      'bpf_htab area current 832×1',
      'elem_count percpu map 8×1',
      'buckets area current 16×1',
      'elems area current 192×1', // 64-byte elements × (1 + 2 spare)
      'pcpu_freelist percpu none 16×1',
      'extra_elems percpu map 8×1',
    ]);
  });

  it('6.18 prealloc: the allocations sum to memlock minus the stale map_locked term, plus the uncounted per-CPU heads', () => {
    const allocs = hashModel.createAllocs(spec, K618);
    // memlock 1120 = 832 + 16 + 64 (map_locked, gone since 6.15) + 192 + 16; the allocations add
    // elem_count (8·2) and the freelist heads (16·2), which memlock does not count.
    expect(allocBytes(allocs, K618)).toBe(1120 - 64 + 16 + 32);
  });

  it('6.12: a larger bpf_htab and 8 per-CPU map_locked ints', () => {
    const names = describeAllocs(hashModel.createAllocs(spec, k('6.12')));
    expect(names).toContain('bpf_htab area current 896×1');
    expect(names).toContain('map_locked percpu map 4×8');
  });

  it('5.10: kzalloc for the htab, no map_locked, no elem_count, and nothing accounted', () => {
    expect(describeAllocs(hashModel.createAllocs(spec, k('5.10')))).toEqual([
      'bpf_htab kmalloc none 640×1',
      'buckets area none 16×1',
      'elems area none 192×1',
      'pcpu_freelist percpu none 16×1',
      'extra_elems percpu none 8×1',
    ]);
  });

  it('5.15: the creator pays for the struct (kzalloc with __GFP_ACCOUNT)', () => {
    // 5.15 takes the sizes of Debian's 5.10 build, the nearest kernel below whose BTF was read.
    expect(hashModel.createAllocs(spec, k('5.15'))[0]).toEqual({ what: 'bpf_htab', shape: 'kmalloc', payer: 'current', size: 640 });
  });

  it('percpu_hash prealloc: one per-CPU value per element, no spares', () => {
    const allocs = percpuHashModel.createAllocs(mapSpec({ type: 'percpu_hash', keySize: 4, valueSize: 100, maxEntries: 1000 }), K618);
    expect(describeAllocs(allocs)).toContain('elems area current 64000×1'); // (48 + 8 + 8) × 1000
    expect(describeAllocs(allocs)).toContain('percpu values percpu map 104×1000');
    expect(allocs.some((a) => a.what === 'extra_elems')).toBe(false);
  });

  it('lru_hash: per-CPU local lists, no freelist, no spares', () => {
    const names = describeAllocs(lruHashModel.createAllocs(mapSpec({ type: 'lru_hash', keySize: 4, valueSize: 4, maxEntries: 10 }), K618));
    expect(names).toContain('lru local lists percpu none 40×1');
    expect(names.some((n) => n.startsWith('pcpu_freelist') || n.startsWith('extra_elems'))).toBe(false);
  });

  it('no-prealloc hash on 6.18: bpf_mem_alloc caches instead of elements; a percpu_counter for big maps', () => {
    const names = describeAllocs(hashModel.createAllocs(mapSpec({ type: 'hash', keySize: 4, valueSize: 4, maxEntries: 1000, flags: F.no_prealloc }), K618));
    expect(names).toContain('ma caches percpu none 208×1');
    expect(names).toContain('pcount percpu none 4×1'); // 1000 / 2 > 2 CPUs × 32
    expect(names.some((n) => n.startsWith('elems'))).toBe(false);
  });

  it('hash_of_maps: inner map metadata first; no spare elements from 6.15 but they exist before', () => {
    const spec = mapSpec({ type: 'hash_of_maps', keySize: 4, valueSize: 4, maxEntries: 1 });
    const on618 = describeAllocs(hashOfMapsModel.createAllocs(spec, K618));
    expect(on618[0]).toBe('inner_map_meta kmalloc none 296×1');
    expect(on618).toContain('elems area current 64×1');
    expect(describeAllocs(hashOfMapsModel.createAllocs(spec, k('6.12')))).toContain('elems area current 192×1');
  });
});

describe('hash memUsage across versions', () => {
  it('hash_of_maps on 6.12 still has NP spare elements', () => {
    const spec = mapSpec({ type: 'hash_of_maps', keySize: 4, valueSize: 4, maxEntries: 1 });
    // 896 + 16 + 64 + 64 × (1 + 2) + 8 × 2
    expect(hashOfMapsModel.memUsage(spec, 0, k('6.12'))).toBe(896 + 16 + 64 + 192 + 16);
  });
});

describe('hash elements', () => {
  it('prealloc: nothing allocated or freed, E2BIG when full, delete works (back to the free list)', () => {
    expect(asModel(hashModel.elements(mapSpec({ type: 'hash', keySize: 4, valueSize: 4, maxEntries: 10 }), K618))).toEqual({
      capacity: 10,
      whenFull: { errno: 'E2BIG' },
      allocs: [],
      memAllocs: [],
      deletable: true,
    });
  });

  it('lru: evicts, capacity after no_common_lru rounding', () => {
    const e = asModel(lruHashModel.elements(mapSpec({ type: 'lru_hash', keySize: 4, valueSize: 8, maxEntries: 7, flags: F.no_common_lru }), K618));
    expect(e.whenFull).toBe('evict');
    expect(e.capacity).toBe(8);
  });

  it('no-prealloc on 6.1+: one object from each bpf_mem_alloc', () => {
    const spec = mapSpec({ type: 'percpu_hash', keySize: 16, valueSize: 24, maxEntries: 1024, flags: F.no_prealloc });
    expect(asModel(percpuHashModel.elements(spec, K618)).memAllocs).toEqual([
      { what: 'ma', size: 72, percpu: false }, // 48 + 16 + 8 (pointer to the per-CPU value)
      { what: 'pcpu_ma', size: 24, percpu: true },
    ]);
  });

  it('no-prealloc before 6.1: kmalloc and alloc_percpu through the map (5.11–6.0), unaccounted (≤ 5.10)', () => {
    const spec = mapSpec({ type: 'percpu_hash', keySize: 4, valueSize: 4, maxEntries: 1000, flags: F.no_prealloc });
    expect(describeAllocs(asModel(percpuHashModel.elements(spec, k('6.0'))).allocs)).toEqual([
      'htab_elem kmalloc map 64×1',
      'percpu value percpu map 8×1',
    ]);
    expect(describeAllocs(asModel(percpuHashModel.elements(spec, k('5.10'))).allocs)).toEqual([
      'htab_elem kmalloc none 64×1',
      'percpu value percpu none 8×1',
    ]);
  });
});
