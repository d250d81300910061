import { fail, type Failure } from '../../vocab/errno.js';
import { hasFlag, type MapFlag } from '../../vocab/flags.js';
import type { MapType } from '../../vocab/maptypes.js';
import type { KernelProfile } from '../../vocab/profile.js';
import { roundUpPow2 } from '../../vocab/units.js';
import type { Alloc, ElementModel, MapTypeModel, MemAllocUnit } from './alloc.js';
import { ACCESS_FLAGS, alloc, checkAccessFlags, checkFlags, einval, firstFailure, finishModel, hasFix, kmallocMaxSize, ks8, MAX_BPF_STACK, mapStructAlloc, memAllocCaches, PCPU_MIN_UNIT_SIZE, since, vs8 } from './common.js';
import { U32_MAX } from '../../vocab/limits.js';
import type { MapSpec } from '../../vocab/map-spec.js';

/*
 * The hash family: kernel/bpf/hashtab.c (`htab_map_alloc_check()`, `htab_map_alloc()`,
 * `prealloc_init()`, `alloc_extra_elems()`, `htab_map_mem_usage()`), one `struct bpf_htab` with
 * bucket array and either preallocated elements or per-insert elements.
 */

type HtabType = 'hash' | 'percpu_hash' | 'lru_hash' | 'lru_percpu_hash' | 'hash_of_maps';

const isPercpu = (t: MapType): boolean => t === 'percpu_hash' || t === 'lru_percpu_hash';
const isLru = (t: MapType): boolean => t === 'lru_hash' || t === 'lru_percpu_hash';
const isFd = (t: MapType): boolean => t === 'hash_of_maps';
const isPrealloc = (spec: MapSpec): boolean => !hasFlag(spec.flags, 'no_prealloc');

/** `HTAB_CREATE_FLAG_MASK`. */
const HTAB_FLAGS: readonly MapFlag[] = ['no_prealloc', 'no_common_lru', 'numa_node', ...ACCESS_FLAGS, 'zero_seed'];

/**
 * `PERCPU_COUNTER_BATCH` of hashtab.c: with `max_entries / 2 > num_online_cpus() * 32` the
 * element count is a `percpu_counter` (6.1+, "bpf: Optimize element count in non-prealloc hash
 * map"). The model takes online = possible CPUs.
 */
const PERCPU_COUNTER_BATCH = 32;

/*
 * Sizes of allocator heads that are charged to no memcg and so change no result; they are not in
 * `StructSizes` (recommended there). x86_64 6.x layouts without lockdep [I]:
 * `struct pcpu_freelist_head` {first, lock} = 16, `struct bpf_lru_list` (cacheline-aligned lock)
 * = 128, `struct bpf_lru_locallist` {lists[2], next_steal, lock} = 40, the `s32` of a
 * `percpu_counter` = 4.
 */
const PCPU_FREELIST_HEAD_SIZE = 16;
const BPF_LRU_LIST_SIZE = 128;
const BPF_LRU_LOCALLIST_SIZE = 40;
const PERCPU_COUNTER_SIZE = 4;

/**
 * `htab_has_extra_elems()`: plain hash tables preallocate one spare element per possible CPU
 * for in-place updates. Percpu and LRU tables never had them; fd tables (hash_of_maps) lost
 * them with "bpf: Don't allocate per-cpu extra_elems for fd htab" (Hou Tao, bpf-next March
 * 2025 → 6.15 [I]).
 */
function hasExtraElems(spec: MapSpec, profile: KernelProfile): boolean {
  if (isPercpu(spec.type) || isLru(spec.type)) return false;
  return !(isFd(spec.type) && since(profile, 6, 15));
}

/** `htab->elem_size`: `htab_elem` + `round_up(key, 8)` + a per-CPU pointer or `round_up(value, 8)`. */
export function htabElemSize(spec: MapSpec, profile: KernelProfile): number {
  const s = profile.structs;
  return s.htab_elem + ks8(spec) + (isPercpu(spec.type) ? s.pointer : vs8(spec));
}

/** `htab->n_buckets`. */
function nBuckets(spec: MapSpec): number {
  return roundUpPow2(spec.maxEntries);
}

/** Elements preallocated by `prealloc_init()`. */
function preallocEntries(spec: MapSpec, profile: KernelProfile): number {
  return spec.maxEntries + (hasExtraElems(spec, profile) ? profile.possibleCpus : 0);
}

/**
 * Whether this hash table keeps a `percpu_counter` (`htab->use_percpu_counter`, 6.1+). The
 * kernel tests `attr->max_entries`, i.e. before `no_common_lru` rounding.
 */
function usesPercpuCounter(attrMaxEntries: number, profile: KernelProfile): boolean {
  return since(profile, 6, 1) && Math.floor(attrMaxEntries / 2) > profile.possibleCpus * PERCPU_COUNTER_BATCH;
}

/** The percpu value size limit check of "bpf: Check percpu map value size first" (commit 1d244784be6b). */
export function hasPercpuValueSizeCheck(profile: KernelProfile): boolean {
  // Mainline 6.12; backported to 6.11.3, 6.6.55, 6.1.113, 5.15.168, 5.10.227, 5.4.285 [I: the
  // stable review mails name bases 6.6.54, 6.1.112, 5.15.167, 5.4.284; 5.10 and 6.11 assumed].
  return hasFix(profile, [6, 12], { '6.11': 3, '6.6': 55, '6.1': 113, '5.15': 168, '5.10': 227, '5.4': 285 });
}

function check(spec: MapSpec, profile: KernelProfile): Failure | undefined {
  const t = spec.type;
  const lru = isLru(t);
  const percpu = isPercpu(t);
  const percpuLru = hasFlag(spec.flags, 'no_common_lru');
  return firstFailure(
    // hashtab.c: fd_htab_map_alloc_check(): only a map fd (u32) is stored
    () => (isFd(t) && spec.valueSize !== 4 ? einval(spec, `value_size must be 4 (an inner map fd), not ${spec.valueSize}`) : undefined),
    // htab_map_alloc_check(), in kernel order. zero_seed needs CAP_SYS_ADMIN and LRU needs
    // CAP_BPF (EPERM); the model assumes a privileged creator.
    () => checkFlags(spec, profile, HTAB_FLAGS) ?? checkAccessFlags(spec),
    () => (!lru && percpuLru ? einval(spec, 'no_common_lru is for LRU maps only') : undefined),
    () =>
      lru && !isPrealloc(spec)
        ? fail('ENOTSUPP', `${t} cannot be no_prealloc: LRU maps are always preallocated`)
        : undefined,
    () =>
      hasFlag(spec.flags, 'numa_node') && (percpu || percpuLru)
        ? einval(spec, 'numa_node cannot be used with per-CPU values or per-CPU LRU lists')
        : undefined,
    () =>
      spec.maxEntries === 0 || spec.keySize === 0 || spec.valueSize === 0
        ? einval(spec, 'max_entries, key_size and value_size must all be non-zero')
        : undefined,
    () => checkSizes(spec, profile),
    () =>
      percpu && hasPercpuValueSizeCheck(profile) && vs8(spec) > PCPU_MIN_UNIT_SIZE
        ? fail('E2BIG', `${t}: value_size ${spec.valueSize} rounds to ${vs8(spec)} bytes per CPU, over the per-CPU limit of ${PCPU_MIN_UNIT_SIZE}`)
        : undefined,
    // htab_map_alloc(): `max_entries > 1UL << 31` (6.x; an overflow of n_buckets to 0 before),
    // then `n_buckets > U32_MAX / sizeof(struct bucket)`, both E2BIG.
    () => {
      const n = normalize(spec, profile);
      if (n.maxEntries > 2 ** 31) return fail('E2BIG', `${t}: max_entries ${n.maxEntries} is over 2^31`);
      if (nBuckets(n) > Math.floor(U32_MAX / profile.structs.htab_bucket)) {
        return fail('E2BIG', `${t}: ${nBuckets(n)} buckets of ${profile.structs.htab_bucket} bytes overflow 32 bits; use fewer max_entries`);
      }
      return undefined;
    },
  );
}

/** The key/value size limits of `htab_map_alloc_check()`. */
function checkSizes(spec: MapSpec, profile: KernelProfile): Failure | undefined {
  const kmax = kmallocMaxSize(profile);
  if (since(profile, 5, 11)) {
    // "bpf: Lift hashtab key_size limit" (Florian Lehner, 5.11 [I]): key + value bounded together.
    if (spec.keySize + spec.valueSize >= kmax - profile.structs.htab_elem) {
      return fail('E2BIG', `${spec.type}: key_size + value_size must be below ${kmax - profile.structs.htab_elem} bytes`);
    }
    return undefined;
  }
  if (spec.keySize > MAX_BPF_STACK) {
    return fail('E2BIG', `${spec.type}: key_size ${spec.keySize} is over the ${MAX_BPF_STACK}-byte BPF stack on ${profile.release}`);
  }
  if (spec.valueSize >= kmax - MAX_BPF_STACK - profile.structs.htab_elem) {
    return fail('E2BIG', `${spec.type}: value_size ${spec.valueSize} is too large for kmalloc`);
  }
  return undefined;
}

/**
 * `htab_map_alloc()`: with `no_common_lru` each CPU gets its own LRU list, so `max_entries` is
 * rounded up to a multiple of the possible CPUs (down if that overflows u32).
 */
function normalize(spec: MapSpec, profile: KernelProfile): MapSpec {
  if (!(isLru(spec.type) && hasFlag(spec.flags, 'no_common_lru'))) return spec;
  const np = profile.possibleCpus;
  let max = Math.ceil(spec.maxEntries / np) * np;
  if (max > U32_MAX) max = Math.floor(spec.maxEntries / np) * np;
  return max === spec.maxEntries ? spec : { ...spec, maxEntries: max };
}

/**
 * Whether htab_map_mem_usage() still counts `sizeof(int) * num_possible_cpus() *
 * HASHTAB_MAP_LOCK_COUNT`, the `map_locked` per-CPU ints that "bpf: Convert hashtab.c to
 * rqspinlock" (6.15) stopped allocating: 6.16 and 6.18 still report it (measured: memlock exact
 * with it on the 6.18.44 host and on Debian's 6.16.12 in the kernel lab), Debian's 7.2.13 does not
 * (its linux-source-7.2 kernel/bpf/hashtab.c htab_map_mem_usage() starts at
 * `sizeof(struct bpf_htab) + sizeof(struct bucket) * htab->n_buckets`; measured there: every
 * hash-family map 64 bytes = 4 × 2 CPUs × 8 below a model that kept it). The release in between
 * that dropped it (6.19, 7.0 or 7.1) was not read: the model drops it from 7.0.
 */
export function memUsageCountsLocks(profile: KernelProfile): boolean {
  return !since(profile, 7, 0);
}

/** kernel/bpf/hashtab.c: htab_map_mem_usage(). */
function memUsage(spec: MapSpec, elements: number, profile: KernelProfile): number {
  const n = normalize(spec, profile);
  const s = profile.structs;
  const np = profile.possibleCpus;
  const percpu = isPercpu(n.type);
  const elemSize = htabElemSize(n, profile);
  let usage = s.bpf_htab + s.htab_bucket * nBuckets(n) + (memUsageCountsLocks(profile) ? 4 * np * s.htab_map_lock_count : 0);
  if (isPrealloc(n)) {
    const numEntries = preallocEntries(n, profile);
    usage += elemSize * numEntries;
    if (percpu) usage += vs8(n) * np * numEntries;
    else if (!isLru(n.type)) usage += s.pointer * np; // the extra_elems per-CPU pointer, kept for fd htabs
  } else {
    usage += (elemSize + s.llist_node) * elements;
    if (percpu) usage += (s.llist_node + s.pointer) * elements + vs8(n) * np * elements;
  }
  return usage;
}

/**
 * kernel/bpf/hashtab.c (5.10): htab_map_alloc() → bpf_map_charge_init(cost). No
 * `sizeof(struct bpf_htab)`; the same capacity cost for no-prealloc tables.
 */
function legacyCost(spec: MapSpec, profile: KernelProfile): number {
  const n = normalize(spec, profile);
  const elemSize = htabElemSize(n, profile);
  const np = profile.possibleCpus;
  const cost = nBuckets(n) * profile.structs.htab_bucket + elemSize * n.maxEntries;
  return cost + (isPercpu(n.type) ? vs8(n) * np * n.maxEntries : elemSize * np);
}

/** kernel/bpf/hashtab.c: htab_map_alloc() / prealloc_init() / alloc_extra_elems(), in order. */
function createAllocs(spec: MapSpec, profile: KernelProfile): readonly Alloc[] {
  const n = normalize(spec, profile);
  const s = profile.structs;
  const percpu = isPercpu(n.type);
  const lru = isLru(n.type);
  const out: Alloc[] = [mapStructAlloc(profile, 'bpf_htab', s.bpf_htab)];
  // bpf_map_init_elem_count(): per-CPU s64 element count (6.6+, "bpf: populate the per-cpu
  // insertions/deletions counters for hashmaps", Anton Protopopov [I: 6.6]).
  if (since(profile, 6, 6)) out.push(alloc(profile, 'elem_count', 'percpu', 'map', 8));
  out.push(alloc(profile, 'buckets', 'area', 'current', nBuckets(n) * s.htab_bucket));
  // map_locked[HASHTAB_MAP_LOCK_COUNT] per-CPU ints: 5.11 ("bpf: Avoid hashtab deadlock with
  // map_locked"; absent in 5.10.13) until "bpf: Convert hashtab.c to rqspinlock" (6.15).
  if (since(profile, 5, 11) && !since(profile, 6, 15)) {
    out.push(alloc(profile, 'map_locked', 'percpu', 'map', 4, s.htab_map_lock_count));
  }
  if (usesPercpuCounter(spec.maxEntries, profile)) {
    // percpu_counter_init(GFP_KERNEL): plain alloc_percpu, not accounted.
    out.push(alloc(profile, 'pcount', 'percpu', 'none', PERCPU_COUNTER_SIZE));
  }
  if (isPrealloc(n)) {
    const numEntries = preallocEntries(n, profile);
    out.push(alloc(profile, 'elems', 'area', 'current', htabElemSize(n, profile) * numEntries));
    // prealloc_init(): one bpf_map_alloc_percpu() per element (5.10: __alloc_percpu_gfp).
    if (percpu) out.push(alloc(profile, 'percpu values', 'percpu', 'map', vs8(n), numEntries));
    if (lru) {
      // bpf_lru_init(): per-CPU LRU lists (no_common_lru) or per-CPU local lists, alloc_percpu.
      out.push(
        hasFlag(n.flags, 'no_common_lru')
          ? alloc(profile, 'lru percpu lists', 'percpu', 'none', BPF_LRU_LIST_SIZE)
          : alloc(profile, 'lru local lists', 'percpu', 'none', BPF_LRU_LOCALLIST_SIZE),
      );
    } else {
      // pcpu_freelist_init(): alloc_percpu(struct pcpu_freelist_head).
      out.push(alloc(profile, 'pcpu_freelist', 'percpu', 'none', PCPU_FREELIST_HEAD_SIZE));
    }
    if (hasExtraElems(n, profile)) {
      // alloc_extra_elems(): a per-CPU pointer to a spare element.
      out.push(alloc(profile, 'extra_elems', 'percpu', 'map', s.pointer));
    }
  } else if (profile.eras.noPreallocAllocator === 'bpf_mem_alloc') {
    out.push(memAllocCaches(profile, 'ma caches'));
    if (percpu) out.push(memAllocCaches(profile, 'pcpu_ma caches'));
  }
  return out;
}

function elements(spec: MapSpec, profile: KernelProfile): ElementModel {
  const n = normalize(spec, profile);
  const whenFull = isLru(n.type) ? ('evict' as const) : { errno: 'E2BIG' as const };
  if (isPrealloc(n)) {
    // Preallocated: inserts pop a free element, deletes push it back; nothing is allocated or freed.
    return { capacity: n.maxEntries, whenFull, allocs: [], memAllocs: [], deletable: true };
  }
  const elemSize = htabElemSize(n, profile);
  const percpu = isPercpu(n.type);
  if (profile.eras.noPreallocAllocator === 'bpf_mem_alloc') {
    // alloc_htab_elem(): bpf_mem_cache_alloc(&htab->ma), and for per-CPU values
    // bpf_mem_cache_alloc(&htab->pcpu_ma) (6.1+, "bpf: Convert hash map to bpf_mem_alloc").
    const memAllocs: MemAllocUnit[] = [{ what: 'ma', size: elemSize, percpu: false }];
    if (percpu) memAllocs.push({ what: 'pcpu_ma', size: vs8(n), percpu: true });
    return { capacity: n.maxEntries, whenFull, allocs: [], memAllocs, deletable: true };
  }
  // 5.11–6.0: bpf_map_kmalloc_node(elem_size) and bpf_map_alloc_percpu(round_up(value, 8)), both
  // through the map's memcg (≤ 5.10: plain kmalloc_node / __alloc_percpu_gfp, not accounted).
  const allocs: Alloc[] = [alloc(profile, 'htab_elem', 'kmalloc', 'map', elemSize)];
  if (percpu) allocs.push(alloc(profile, 'percpu value', 'percpu', 'map', vs8(n)));
  return { capacity: n.maxEntries, whenFull, allocs, memAllocs: [], deletable: true };
}

function htabModel(): MapTypeModel {
  return finishModel({ check, normalize, memUsage, legacyCost, createAllocs, elements });
}

/** `BPF_MAP_TYPE_HASH`. */
export const hashModel: MapTypeModel = htabModel();
/** `BPF_MAP_TYPE_PERCPU_HASH`. */
export const percpuHashModel: MapTypeModel = htabModel();
/** `BPF_MAP_TYPE_LRU_HASH`. */
export const lruHashModel: MapTypeModel = htabModel();
/** `BPF_MAP_TYPE_LRU_PERCPU_HASH`. */
export const lruPercpuHashModel: MapTypeModel = htabModel();
/**
 * `BPF_MAP_TYPE_HASH_OF_MAPS`: an fd htab whose 8-byte value slot holds the inner map pointer.
 * `htab_of_map_alloc()` also copies the inner map's metadata (`bpf_map_meta_alloc()`:
 * `kzalloc(sizeof(struct bpf_map), GFP_USER)`, `sizeof(struct bpf_array)` for an array inner
 * map) without `__GFP_ACCOUNT`; the spec does not say the inner type, so `struct bpf_map` is
 * assumed.
 */
export const hashOfMapsModel: MapTypeModel = finishModel({
  check,
  normalize,
  memUsage,
  legacyCost,
  createAllocs(spec, profile) {
    // kernel/bpf/map_in_map.c: bpf_map_meta_alloc() runs before htab_map_alloc().
    return [alloc(profile, 'inner_map_meta', 'kmalloc', 'none', profile.structs.bpf_map), ...createAllocs(spec, profile)];
  },
  elements,
});

/** The hash family's models by type. */
export const HASH_MODELS: Readonly<Record<HtabType, MapTypeModel>> = {
  hash: hashModel,
  percpu_hash: percpuHashModel,
  lru_hash: lruHashModel,
  lru_percpu_hash: lruPercpuHashModel,
  hash_of_maps: hashOfMapsModel,
};
