import { fail, type Failure } from '../../vocab/errno.js';
import type { MapFlag } from '../../vocab/flags.js';
import type { KernelProfile } from '../../vocab/profile.js';
import { roundUpPow2 } from '../../vocab/units.js';
import type { Alloc, ElementModel, MapTypeModel } from './alloc.js';
import { alloc, checkFlags, einval, firstFailure, finishModel, ks8, mapStructAlloc, MAX_BPF_STACK, since } from './common.js';
import { U32_MAX } from '../../vocab/limits.js';
import type { MapSpec } from '../../vocab/map-spec.js';

/*
 * net/core/sock_map.c: sockmap (`struct bpf_stab`, an array of socket pointers) and sockhash
 * (`struct bpf_shtab`, buckets and per-insert `bpf_shtab_elem`s).
 */

/** `SOCK_CREATE_FLAG_MASK`. */
const SOCK_FLAGS: readonly MapFlag[] = ['numa_node', 'rdonly', 'wronly'];

/** Value sizes: a socket fd (u32), or a u64 socket cookie on lookup (5.10+ [U]). */
function valueSizes(profile: KernelProfile): number[] {
  return since(profile, 5, 10) ? [4, 8] : [4];
}

function checkValue(spec: MapSpec, profile: KernelProfile): Failure | undefined {
  const sizes = valueSizes(profile);
  return sizes.includes(spec.valueSize) ? undefined : einval(spec, `value_size must be ${sizes.join(' or ')} (a socket fd), not ${spec.valueSize}`);
}

/** sock_map.c: sock_map_alloc(). */
function sockmapCheck(spec: MapSpec, profile: KernelProfile): Failure | undefined {
  return firstFailure(
    () => (spec.maxEntries === 0 ? einval(spec, 'max_entries must be non-zero') : undefined),
    () => (spec.keySize !== 4 ? einval(spec, `key_size must be 4, not ${spec.keySize}`) : undefined),
    () => checkValue(spec, profile),
    () => checkFlags(spec, profile, SOCK_FLAGS),
  );
}

/** sock_map.c: sock_hash_alloc(). */
function sockhashCheck(spec: MapSpec, profile: KernelProfile): Failure | undefined {
  return firstFailure(
    () => (spec.maxEntries === 0 ? einval(spec, 'max_entries must be non-zero') : undefined),
    () => (spec.keySize === 0 ? einval(spec, 'key_size must be non-zero') : undefined),
    () => checkValue(spec, profile),
    () => checkFlags(spec, profile, SOCK_FLAGS),
    () =>
      spec.keySize > MAX_BPF_STACK
        ? fail('E2BIG', `${spec.type}: key_size ${spec.keySize} is over the ${MAX_BPF_STACK}-byte BPF stack`)
        : undefined,
    () =>
      roundUpPow2(spec.maxEntries) > Math.floor(U32_MAX / profile.structs.bpf_shtab_bucket) || spec.maxEntries > 2 ** 31
        ? einval(spec, `max_entries ${spec.maxEntries} makes the bucket array overflow 32 bits`)
        : undefined,
  );
}

/** `htab->elem_size` of sockhash: `sizeof(struct bpf_shtab_elem) + round_up(key_size, 8)`. */
function shtabElemSize(spec: MapSpec, profile: KernelProfile): number {
  return profile.structs.bpf_shtab_elem + ks8(spec);
}

function shtabBuckets(spec: MapSpec, profile: KernelProfile): number {
  return roundUpPow2(spec.maxEntries) * profile.structs.bpf_shtab_bucket;
}

/**
 * `BPF_MAP_TYPE_SOCKMAP`. Adding a socket stores a pointer and attaches an `sk_psock` (plus a
 * link) that belong to the socket, allocated without the map's memcg and not counted by
 * `sock_map_mem_usage()` (3 UDP sockets: +0 B on 6.18); the model allocates nothing per insert.
 */
export const sockmapModel: MapTypeModel = finishModel({
  check: sockmapCheck,
  normalize: (spec) => spec,
  // sock_map.c: sock_map_mem_usage().
  memUsage: (spec, _elements, profile) => profile.structs.bpf_stab + spec.maxEntries * profile.structs.pointer,
  // sock_map.c (5.x): sock_map_alloc(): `max_entries * sizeof(struct sock *)`.
  legacyCost: (spec, profile) => spec.maxEntries * profile.structs.pointer,
  createAllocs: (spec, profile): readonly Alloc[] => [
    mapStructAlloc(profile, 'bpf_stab', profile.structs.bpf_stab),
    alloc(profile, 'sks', 'area', 'current', spec.maxEntries * profile.structs.pointer),
  ],
  elements: (spec): ElementModel => ({
    capacity: spec.maxEntries,
    whenFull: { errno: 'E2BIG' },
    allocs: [],
    memAllocs: [],
    deletable: true, // sock_map_delete_elem() unlinks the socket
  }),
});

/**
 * `BPF_MAP_TYPE_SOCKHASH`. Each socket added: `sock_hash_alloc_elem()` →
 * `bpf_map_kmalloc_node(elem_size, GFP_ATOMIC | __GFP_NOWARN)` through the map's memcg (GFP_ATOMIC
 * even on 6.x, where hash maps moved to GFP_NOWAIT: force-charged past `memory.max`, as a
 * socket added to a full cgroup's sockhash is); measured +56 B memlock each (k=4) on 6.18.
 */
export const sockhashModel: MapTypeModel = finishModel({
  check: sockhashCheck,
  normalize: (spec) => spec,
  // sock_map.c: sock_hash_mem_usage().
  memUsage: (spec, elements, profile) =>
    profile.structs.bpf_shtab + shtabBuckets(spec, profile) + elements * shtabElemSize(spec, profile),
  // sock_map.c (5.x): sock_hash_alloc(): buckets + elem_size * max_entries.
  legacyCost: (spec, profile) => shtabBuckets(spec, profile) + shtabElemSize(spec, profile) * spec.maxEntries,
  createAllocs: (spec, profile): readonly Alloc[] => [
    mapStructAlloc(profile, 'bpf_shtab', profile.structs.bpf_shtab),
    alloc(profile, 'buckets', 'area', 'current', shtabBuckets(spec, profile)),
  ],
  elements: (spec, profile): ElementModel => ({
    capacity: spec.maxEntries,
    whenFull: { errno: 'E2BIG' },
    allocs: [{ ...alloc(profile, 'bpf_shtab_elem', 'kmalloc', 'map', shtabElemSize(spec, profile)), gfp: 'atomic' }],
    memAllocs: [],
    deletable: true,
  }),
});
