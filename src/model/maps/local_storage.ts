import { fail, type Failure } from '../../vocab/errno.js';
import { hasFlag, type MapFlag } from '../../vocab/flags.js';
import type { KernelProfile } from '../../vocab/profile.js';
import { ilog2, roundUpPow2, UNLIMITED } from '../../vocab/units.js';
import type { Alloc, ElementModel, MapTypeModel } from './alloc.js';
import { alloc, checkFlags, einval, firstFailure, finishModel, kmallocMaxSize, mapStructAlloc, MAX_BPF_STACK, since } from './common.js';
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
    () => (spec.valueSize > max ? fail('E2BIG', `${spec.type}: value_size ${spec.valueSize} is over ${max} (E2BIG)`) : undefined),
  );
}

/** bpf_local_storage.c: bpf_local_storage_map_mem_usage(): selems and storages are not counted. */
function memUsage(_spec: MapSpec, _elements: number, profile: KernelProfile): number {
  return profile.structs.bpf_local_storage_map + bucketBytes(profile);
}

/** bpf_local_storage.c: bpf_local_storage_map_alloc(). */
function createAllocs(_spec: MapSpec, profile: KernelProfile): readonly Alloc[] {
  return [
    mapStructAlloc(profile, 'bpf_local_storage_map', profile.structs.bpf_local_storage_map),
    // bpf_map_kvcalloc() on 6.0+ (inside map_alloc, so no memcg); kvcalloc(__GFP_ACCOUNT) before. [I]
    alloc(profile, 'buckets', 'kvmalloc', since(profile, 6, 0) ? 'map' : 'current', bucketBytes(profile)),
  ];
}

/**
 * A value for a new owner: one `bpf_local_storage_elem` with the value
 * (`offsetof(selem, sdata.data[value_size])`), and the owner's `struct bpf_local_storage` if it
 * had none (shared by all local storage maps of that owner; counted here as if each insert is a
 * new owner). Both through the map's memcg; sk_storage is also charged to the socket's optmem.
 * Which allocator (kmalloc, bpf_mem_alloc for task/cgrp storage in some 6.x, kmalloc_nolock
 * later) varies by version and is not modelled. [U]
 */
function elements(spec: MapSpec, profile: KernelProfile): ElementModel {
  const s = profile.structs;
  return {
    capacity: UNLIMITED,
    whenFull: { errno: 'ENOMEM' },
    allocs: [
      alloc(profile, 'bpf_local_storage_elem', 'kmalloc', 'map', s.bpf_local_storage_elem + spec.valueSize),
      alloc(profile, 'bpf_local_storage', 'kmalloc', 'map', s.bpf_local_storage),
    ],
    memAllocs: [],
    deletable: true,
  };
}

function makeModel(): MapTypeModel {
  return finishModel({
    check,
    normalize: (spec) => spec,
    memUsage,
    // bpf_sk_storage.c / bpf_local_storage.c (5.x): `sizeof(*smap) + nbuckets * sizeof(bucket)`.
    legacyCost: (spec, profile) => memUsage(spec, 0, profile),
    createAllocs,
    elements,
  });
}

/** `BPF_MAP_TYPE_SK_STORAGE`. */
export const skStorageModel: MapTypeModel = makeModel();
/** `BPF_MAP_TYPE_INODE_STORAGE`. */
export const inodeStorageModel: MapTypeModel = makeModel();
/** `BPF_MAP_TYPE_TASK_STORAGE`. */
export const taskStorageModel: MapTypeModel = makeModel();
/** `BPF_MAP_TYPE_CGRP_STORAGE`. */
export const cgrpStorageModel: MapTypeModel = makeModel();
