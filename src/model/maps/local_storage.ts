import { fail, type Failure } from '../../vocab/errno.js';
import { hasFlag, type MapFlag } from '../../vocab/flags.js';
import type { KernelProfile } from '../../vocab/profile.js';
import { ilog2, roundUpPow2, UNLIMITED } from '../../vocab/units.js';
import type { Alloc, ElementModel, MapTypeModel, MemAllocUnit } from './alloc.js';
import { alloc, checkFlags, einval, firstFailure, memUsageAsLegacyCost, hasFix, kmallocMaxSize, mapStructAlloc, MAX_BPF_STACK, memAllocCaches, since } from './common.js';
import type { MapSpec } from '../../vocab/map-spec.js';

/*
 * kernel/bpf/bpf_local_storage.c: sk/inode/task/cgrp storage maps are a
 * `struct bpf_local_storage_map` and a small bucket array; the storage lives with its owner
 * (socket, inode, task, cgroup) and is allocated on first update for that owner.
 */

/** `BPF_LOCAL_STORAGE_CREATE_FLAG_MASK`. */
const LOCAL_STORAGE_FLAGS: readonly MapFlag[] = ['no_prealloc', 'clone'];

/** `U16_MAX`: selem sizes are kept in 16 bits. */
const U16_MAX = 0xffff;

/**
 * `BPF_LOCAL_STORAGE_MAX_VALUE_SIZE` (include/linux/bpf_local_storage.h):
 * `min(KMALLOC_MAX_SIZE - MAX_BPF_STACK - sizeof(selem), U16_MAX - sizeof(selem))`.
 */
export function localStorageMaxValueSize(profile: KernelProfile): number {
  const selem = profile.structs.bpf_local_storage_elem;
  return Math.min(kmallocMaxSize(profile) - MAX_BPF_STACK - selem, U16_MAX - selem);
}

/**
 * Whether `smap->elem_size` leaves out the tail padding of `struct bpf_local_storage_elem`:
 * "bpf: Reduce smap->elem_size" (Martin KaFai Lau, commit 552d42a356eb, bpf-next pull of
 * 2023-01-04, so mainline 6.3), backported to 6.1.100 (Debian's linux-source-6.1 changelog:
 * ChangeLog-6.1.100 lists it with "bpf: use bpf_map_kvcalloc in bpf_local_storage"; not in
 * 5.10: Debian's 5.10.223 lacks it; 5.15 not checked [U]). Read: 5.10.223
 * kernel/bpf/bpf_local_storage.c bpf_local_storage_map_alloc() still has
 * `sizeof(struct bpf_local_storage_elem) + attr->value_size`; 6.1.176, 6.12.117, 7.2.13 and
 * 7.3.4 have `offsetof(struct bpf_local_storage_elem, sdata.data[attr->value_size])`.
 */
function elemSizeIsOffsetof(profile: KernelProfile): boolean {
  return hasFix(profile, [6, 3], { '6.1': 100 });
}

/**
 * `smap->elem_size`, what one selem allocation asks for (kernel/bpf/bpf_local_storage.c
 * bpf_local_storage_map_alloc(); bpf_selem_alloc() allocates exactly this).
 *
 * 6.3+ (and 6.1.100+): `offsetof(struct bpf_local_storage_elem, sdata.data[value_size])`. The
 * profile has the struct's size, not that offset, so it is derived from the layout
 * (include/linux/bpf_local_storage.h, the same in 5.10, 6.1, 6.12, 7.2, 7.3): `sdata` is
 * `____cacheline_aligned` and the fields before it (two `hlist_node`, a pointer and an
 * `rcu_head`: 56 bytes on 64-bit; 7.2 adds an `atomic_t state`, 60) fit in one cache line, so
 * `offsetof(sdata)` is one cache line and `sizeof(selem)` = `round_up(L1 + sizeof(sdata), L1)`
 * = two cache lines (`sdata` is one pointer and a flexible `data[]`). So `offsetof(sdata)` =
 * sizeof / 2 and `data` follows the `smap` pointer: x86-64 and arm64 (64-byte lines)
 * 128 / 2 + 8 = 72 (the 6.18.44 host's BTF: `sdata` at bit 512 of a 128-byte struct), 136 with
 * ppc64's 128-byte lines. Before: `sizeof(struct bpf_local_storage_elem) + value_size`,
 * 56 bytes more on x86-64.
 */
export function localStorageElemSize(spec: MapSpec, profile: KernelProfile): number {
  const s = profile.structs;
  return elemSizeIsOffsetof(profile) ? s.bpf_local_storage_elem / 2 + s.pointer + spec.valueSize : s.bpf_local_storage_elem + spec.valueSize;
}

/**
 * Whether this map allocates selems and `struct bpf_local_storage` from its own two
 * `bpf_mem_alloc`s, `smap->selem_ma` (unit `elem_size`) and `smap->storage_ma` (unit
 * `sizeof(struct bpf_local_storage)`), both initialised by bpf_local_storage_map_alloc() with
 * `bpf_mem_alloc_init(..., false)`: task and cgroup storage pass `bpf_ma = true`
 * (kernel/bpf/bpf_task_storage.c task_storage_map_alloc(), kernel/bpf/bpf_cgrp_storage.c
 * cgroup_storage_map_alloc(), 6.12.117), sk and inode storage `false`.
 * - From 6.4: "bpf: Use bpf_mem_cache_alloc/free in bpf_local_storage_elem" (08a7ce384e33) and
 *   "... for bpf_local_storage" (6ae9d5e99e1d), Martin KaFai Lau, March 2023, in the bpf-next
 *   pull of 2023-04-13 (the 6.4 merge window). 6.1.176 has neither (no `bpf_ma` argument).
 * - Until 6.18: "bpf: Replace bpf memory allocator with kmalloc_nolock() in local storage"
 *   (Amery Hung, f484f4a3e058) went into bpf-next on 2025-11-19, so 6.19 (a riscv64 report
 *   bisects its breakage to it on 6.19). Task and cgroup storage then allocate with
 *   bpf_map_kmalloc_nolock() (kmalloc size classes through the map's memcg; mm/slub.c
 *   kmalloc_nolock() returns NULL above KMALLOC_MAX_CACHE_SIZE, 8 KiB with 4 KiB pages, so
 *   larger selems fail every insert with ENOMEM there: not modelled);
 *   7.2.13 and 7.3.4 have no bpf_mem_alloc in local storage at all (every type
 *   bpf_map_kmalloc_nolock()).
 * CONFIG_PREEMPT_RT forces `bpf_ma` for every type (6.12.117); the model assumes a non-RT kernel.
 */
function usesMemAlloc(spec: MapSpec, profile: KernelProfile): boolean {
  return (spec.type === 'task_storage' || spec.type === 'cgrp_storage') && since(profile, 6, 4) && !since(profile, 6, 19);
}

/** `nbuckets = max(2, roundup_pow_of_two(num_possible_cpus()))`; the memory is `sizeof(bucket) << bucket_log`. */
function bucketBytes(profile: KernelProfile): number {
  const nbuckets = Math.max(2, roundUpPow2(profile.possibleCpus));
  return profile.structs.bpf_local_storage_map_bucket * 2 ** ilog2(nbuckets);
}

/**
 * bpf_local_storage.c: bpf_local_storage_map_alloc_check(). The kernel also requires BTF for
 * key and value (EINVAL without); a spec has no BTF, so the model assumes it is given.
 */
function check(spec: MapSpec, profile: KernelProfile): Failure | undefined {
  const max = localStorageMaxValueSize(profile);
  return firstFailure(
    () => checkFlags(spec, profile, LOCAL_STORAGE_FLAGS),
    () =>
      !hasFlag(spec.flags, 'no_prealloc')
        ? einval(spec, 'the flag no_prealloc is required: storage is allocated per owner on first update')
        : undefined,
    () => (spec.maxEntries !== 0 ? einval(spec, `max_entries must be 0 (one value per owner), not ${spec.maxEntries}`) : undefined),
    () => (spec.keySize !== 4 ? einval(spec, `key_size must be 4 (an fd of the owner), not ${spec.keySize}`) : undefined),
    () => (spec.valueSize === 0 ? einval(spec, 'value_size must be non-zero') : undefined),
    () => (spec.valueSize > max ? fail('E2BIG', `${spec.type}: value_size ${spec.valueSize} is over ${max}`) : undefined),
  );
}

/** bpf_local_storage.c: bpf_local_storage_map_mem_usage(): selems and storages are not counted. */
function memUsage(_spec: MapSpec, _elements: number, profile: KernelProfile): number {
  return profile.structs.bpf_local_storage_map + bucketBytes(profile);
}

/**
 * bpf_local_storage.c: bpf_local_storage_map_alloc(), in order. Task and cgroup storage on
 * 6.4–6.18 then init their two bpf_mem_allocs: an unaccounted per-CPU `struct bpf_mem_cache`
 * each, and the prefill (4 objects per possible CPU of up to 256 bytes, else 1) charged to
 * the creator, which the {@link MemAllocUnit}s of {@link elements} describe.
 */
function createAllocs(spec: MapSpec, profile: KernelProfile): readonly Alloc[] {
  const out = [
    mapStructAlloc(profile, 'bpf_local_storage_map', profile.structs.bpf_local_storage_map),
    // bpf_map_kvcalloc() on 6.0+ (inside map_alloc, so no memcg); kvcalloc(__GFP_ACCOUNT) before. [I]
    alloc(profile, 'buckets', 'kvmalloc', since(profile, 6, 0) ? 'map' : 'current', bucketBytes(profile)),
  ];
  if (usesMemAlloc(spec, profile)) out.push(memAllocCaches(profile, 'selem_ma caches'), memAllocCaches(profile, 'storage_ma caches'));
  return out;
}

/**
 * A value for a new owner: one selem of {@link localStorageElemSize} bytes, and the owner's
 * `struct bpf_local_storage` if it had none (shared by all local storage maps of that owner;
 * counted here as if each insert is a new owner). sk_storage is also charged to the socket's
 * optmem (not memcg). bpf_local_storage.c bpf_selem_alloc() / bpf_local_storage_alloc():
 * - task and cgroup storage on 6.4–6.18 ({@link usesMemAlloc}): bpf_mem_cache_alloc_flags()
 *   from `selem_ma` and `storage_ma`, charged to the creator's objcg when the caches fill;
 * - otherwise kzalloc() (5.10, not accounted), bpf_map_kzalloc() (5.11+), or
 *   bpf_map_kmalloc_nolock() (task and cgroup storage from 6.19, every type by 7.2): a kmalloc
 *   object through the map's memcg either way.
 * Measured on the 6.18.44 host (2 CPUs, value 8, memcg v1 kmem): sk and inode storage 303 B per
 * new owner (96 + 192 slab objects and their objcg pointers); task storage grows in steps of
 * 48 selems + 48 storages, at the 1st insert and every 48th from the 21st.
 */
function elements(spec: MapSpec, profile: KernelProfile): ElementModel {
  const s = profile.structs;
  const elemSize = localStorageElemSize(spec, profile);
  const base = { capacity: UNLIMITED, whenFull: { errno: 'ENOMEM' as const }, deletable: true };
  if (usesMemAlloc(spec, profile)) {
    const memAllocs: MemAllocUnit[] = [
      { what: 'selem_ma', size: elemSize, percpu: false },
      { what: 'storage_ma', size: s.bpf_local_storage, percpu: false },
    ];
    return { ...base, allocs: [], memAllocs };
  }
  return {
    ...base,
    allocs: [
      alloc(profile, 'bpf_local_storage_elem', 'kmalloc', 'map', elemSize),
      alloc(profile, 'bpf_local_storage', 'kmalloc', 'map', s.bpf_local_storage),
    ],
    memAllocs: [],
  };
}

function makeModel(): MapTypeModel {
  // bpf_sk_storage.c / bpf_local_storage.c (5.x) precharged `sizeof(*smap) + nbuckets * sizeof(bucket)`.
  return memUsageAsLegacyCost({ check, memUsage, createAllocs, elements });
}

/** `BPF_MAP_TYPE_SK_STORAGE`. */
export const skStorageModel: MapTypeModel = makeModel();
/** `BPF_MAP_TYPE_INODE_STORAGE`. */
export const inodeStorageModel: MapTypeModel = makeModel();
/** `BPF_MAP_TYPE_TASK_STORAGE`. */
export const taskStorageModel: MapTypeModel = makeModel();
/** `BPF_MAP_TYPE_CGRP_STORAGE`. */
export const cgrpStorageModel: MapTypeModel = makeModel();
