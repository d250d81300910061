import { fail, type Failure } from '../../vocab/errno.js';
import { hasFlag, type MapFlag } from '../../vocab/flags.js';
import type { KernelProfile } from '../../vocab/profile.js';
import { roundUpPow2 } from '../../vocab/units.js';
import type { Alloc, ElementModel, MapTypeModel } from './alloc.js';
import { ACCESS_FLAGS, alloc, checkAccessFlags, checkFlags, einval, firstFailure, memUsageAsLegacyCost, kmallocMaxSize, ks8, mapStructAlloc, memAllocCaches, vs8 } from './common.js';
import { U32_MAX } from '../../vocab/limits.js';
import type { MapSpec } from '../../vocab/map-spec.js';

/*
 * BPF_MAP_TYPE_RHASH (7.2+): the resizable hash of kernel/bpf/hashtab.c (`rhtab_map_ops`, read
 * in Debian's linux-source-7.2, 7.2.13) on lib/rhashtable.c. One `struct bpf_rhtab` (the map,
 * a `struct rhashtable`, a `struct bpf_mem_alloc`, `elem_size`), a bucket table that the
 * rhashtable grows and shrinks itself, and one `bpf_mem_alloc` object per element. Always
 * no-prealloc. What memcg is charged for, and when:
 *
 * - creation, the creator: `struct bpf_rhtab` (`bpf_map_area_alloc()`, path 1), and the
 *   `bpf_mem_alloc` prefill (`bpf_mem_alloc_init()` takes the creator's objcg; path 3);
 * - each insert, the creator's objcg captured by that `bpf_mem_alloc` (GFP_NOWAIT refills);
 * - never: the bucket tables. lib/rhashtable.c bucket_table_alloc() is `kvmalloc_node_align(…,
 *   gfp | __GFP_ZERO)` with `GFP_KERNEL` (rhashtable_init(), and the resizes of
 *   rht_deferred_worker() on system_wq) or `GFP_ATOMIC | __GFP_NOWARN` (rhashtable_insert_rehash()
 *   when an insert finds the table over 100% or a chain too long): no `__GFP_ACCOUNT` on any
 *   path, and none of them runs under `set_active_memcg()`. They are in the model as
 *   uncharged memory only ({@link rhashBucketTableBytes}).
 */

/** `HTAB_CREATE_FLAG_MASK` (kernel/bpf/hashtab.c), which htab_map_alloc_check() applies to rhash too. */
const RHASH_FLAGS: readonly MapFlag[] = ['no_prealloc', 'no_common_lru', 'numa_node', ...ACCESS_FLAGS, 'zero_seed'];

/** `U16_MAX`: the largest key_size and `map_extra` size hint rhtab_map_alloc_check() takes. */
const U16_MAX = 0xffff;

/** lib/rhashtable.c `HASH_DEFAULT_SIZE` and `HASH_MIN_SIZE`: buckets without a hint, and the floor. */
const HASH_DEFAULT_SIZE = 64;
const HASH_MIN_SIZE = 4;

/**
 * `offsetof(struct bucket_table, buckets)`: `buckets[]` is `____cacheline_aligned_in_smp`, 64 on
 * x86_64 (7.2's BTF: `struct bucket_table` size 64). Only uncharged memory depends on it, so it is
 * not in `StructSizes` (as the allocator heads of hash.ts).
 */
const BUCKET_TABLE_HEAD = 64;

/** `rhtab->elem_size` (rhtab_map_alloc()): `sizeof(struct rhtab_elem) + round_up(key, 8) + round_up(value, 8)`. */
export function rhtabElemSize(spec: MapSpec, profile: KernelProfile): number {
  return profile.structs.rhtab_elem + ks8(spec) + vs8(spec);
}

/** `(u32)attr->map_extra`: the `nelem_hint` rhtab_map_alloc() gives rhashtable_init(). */
const nelemHint = (spec: MapSpec): number => spec.mapExtra % 2 ** 32;

/**
 * The first bucket table's size: lib/rhashtable.c rounded_hashtable_size() with rhtab's params
 * (`nelem_hint = (u32)map_extra`, no `min_size`, so `HASH_MIN_SIZE`): with a hint
 * `max(roundup_pow_of_two(hint * 4 / 3), 4)`, else 64.
 */
export function rhashInitialBuckets(spec: MapSpec): number {
  const hint = nelemHint(spec);
  return hint ? Math.max(roundUpPow2(Math.floor((hint * 4) / 3)), HASH_MIN_SIZE) : HASH_DEFAULT_SIZE;
}

/**
 * Buckets once the table has settled after `elements` inserts (and no deletes). An insert that
 * leaves `nelems > size / 4 * 3` (include/linux/rhashtable.h rht_grow_above_75(); rhtab sets no
 * `max_size`) queues rht_deferred_worker() (irq_work, then system_wq), which doubles the table
 * (rhashtable_rehash_alloc(size * 2)); inserts that find it over 100% first attach a doubled
 * table themselves (rhashtable_insert_rehash(), GFP_ATOMIC). When the worker runs depends on
 * timing: a burst of inserts can outrun it, and for a while two tables exist (the old one is freed
 * by RCU after the rehash). The model gives the settled state: the smallest doubling of the first
 * table with `elements ≤ size / 4 * 3`. Deletes shrink it (automatic_shrinking: below 30% to
 * `roundup_pow_of_two(nelems * 3 / 2)`, not below 4): not modelled.
 */
export function rhashSettledBuckets(spec: MapSpec, elements: number): number {
  let size = rhashInitialBuckets(spec);
  while (elements > Math.floor(size / 4) * 3) size *= 2;
  return size;
}

/**
 * Bytes of the bucket table with `elements` inserted (settled, {@link rhashSettledBuckets}):
 * `struct_size(tbl, buckets, nbuckets)` of bucket_table_alloc(), one pointer per bucket. Charged
 * to no memcg, and not in memlock: rhtab_map_mem_usage() says it "Excludes rhashtable bucket
 * overhead".
 */
export function rhashBucketTableBytes(spec: MapSpec, elements: number, profile: KernelProfile): number {
  return BUCKET_TABLE_HEAD + profile.structs.pointer * rhashSettledBuckets(spec, elements);
}

/**
 * kernel/bpf/hashtab.c (7.2): rhtab_map_alloc_check(), then htab_map_alloc_check() (rhash is
 * neither per-CPU nor LRU), then the check at the top of rhtab_map_alloc(), in that order.
 */
function check(spec: MapSpec, profile: KernelProfile): Failure | undefined {
  const kmax = kmallocMaxSize(profile);
  return firstFailure(
    () => (!hasFlag(spec.flags, 'no_prealloc') ? einval(spec, 'needs no_prealloc: elements are always allocated on insert') : undefined),
    () => (hasFlag(spec.flags, 'zero_seed') ? einval(spec, 'zero_seed is not taken (rhashtable seeds its own hash)') : undefined),
    () => (spec.keySize > U16_MAX ? fail('E2BIG', `${spec.type}: key_size ${spec.keySize} is over ${U16_MAX}`) : undefined),
    () => (spec.mapExtra > U32_MAX ? einval(spec, 'the upper 32 bits of map_extra are reserved and must be zero') : undefined),
    () =>
      nelemHint(spec) > U16_MAX
        ? fail('E2BIG', `${spec.type}: map_extra (the table size hint) ${nelemHint(spec)} is over ${U16_MAX}`)
        : undefined,
    () =>
      nelemHint(spec) > spec.maxEntries
        ? einval(spec, `map_extra (the table size hint) ${nelemHint(spec)} is over max_entries ${spec.maxEntries}`)
        : undefined,
    // htab_map_alloc_check(): flags, then (not LRU) no_common_lru, then the sizes.
    () => checkFlags(spec, profile, RHASH_FLAGS) ?? checkAccessFlags(spec),
    () => (hasFlag(spec.flags, 'no_common_lru') ? einval(spec, 'no_common_lru is for LRU maps only') : undefined),
    () =>
      spec.maxEntries === 0 || spec.keySize === 0 || spec.valueSize === 0
        ? einval(spec, 'max_entries, key_size and value_size must all be non-zero')
        : undefined,
    () =>
      spec.keySize + spec.valueSize >= kmax - profile.structs.htab_elem
        ? fail('E2BIG', `${spec.type}: key_size + value_size must be below ${kmax - profile.structs.htab_elem} bytes`)
        : undefined,
    // rhtab_map_alloc(): after its struct is allocated (and freed again).
    () => (spec.maxEntries > 2 ** 31 ? fail('E2BIG', `${spec.type}: max_entries ${spec.maxEntries} is over 2^31`) : undefined),
  );
}

/**
 * kernel/bpf/hashtab.c (7.2): rhtab_map_mem_usage() = `sizeof(struct bpf_rhtab) +
 * rhtab->elem_size * atomic_read(&ht.nelems)`: neither the bucket table nor the 8-byte
 * `llist_node` each bpf_mem_alloc object carries, nor the objects cached in its free lists.
 */
function memUsage(spec: MapSpec, elements: number, profile: KernelProfile): number {
  return profile.structs.bpf_rhtab + rhtabElemSize(spec, profile) * elements;
}

/**
 * kernel/bpf/hashtab.c (7.2): rhtab_map_alloc(), in order: the struct (`bpf_map_area_alloc()`,
 * the creator), rhashtable_init()'s first bucket table (lib/rhashtable.c bucket_table_alloc(),
 * GFP_KERNEL, not accounted), then bpf_mem_alloc_init(&rhtab->ma, elem_size, false): its per-CPU
 * caches (not accounted) and the prefill, which the element model's `ma` unit describes.
 */
function createAllocs(spec: MapSpec, profile: KernelProfile): readonly Alloc[] {
  return [
    mapStructAlloc(profile, 'bpf_rhtab', profile.structs.bpf_rhtab),
    alloc(profile, 'bucket_table', 'kvmalloc', 'none', rhashBucketTableBytes(spec, 0, profile)),
    memAllocCaches(profile, 'ma caches'),
  ];
}

/**
 * kernel/bpf/hashtab.c (7.2): rhtab_map_update_elem(): `nelems >= max_entries` → E2BIG, then
 * `bpf_mem_cache_alloc(&rhtab->ma)` (an `elem_size + 8` object of the kmalloc size class, from
 * the per-CPU free list refilled by irq_work with GFP_NOWAIT), then the rhashtable insert, whose
 * table growth is charged to nobody (above). Deletes give the object back with
 * bpf_mem_cache_free_rcu() (kernel/bpf/memalloc.c unit_free_rcu()): it waits for an RCU and an
 * RCU-tasks-trace grace period (a refill may take it back meanwhile, alloc_bulk()) and then goes
 * back to slab, not to the free list as a no-prealloc hash element does (bpf_mem_cache_free()).
 * The model's delete returns it to the free list (src/model/memalloc.ts), so after deletes the
 * model may stay up to a high watermark of objects per CPU above the kernel once that settles.
 */
function elements(spec: MapSpec, profile: KernelProfile): ElementModel {
  return {
    capacity: spec.maxEntries,
    whenFull: { errno: 'E2BIG' },
    allocs: [],
    memAllocs: [{ what: 'ma', size: rhtabElemSize(spec, profile), percpu: false }],
    deletable: true,
  };
}

/** `BPF_MAP_TYPE_RHASH` (7.2+, after the rlimit era: `legacyCost` is only a what-if, its struct). */
export const rhashModel: MapTypeModel = memUsageAsLegacyCost({ check, memUsage, createAllocs, elements });
