import type { Failure } from '../../vocab/errno.js';
import type { MapFlag } from '../../vocab/flags.js';
import type { KernelProfile } from '../../vocab/profile.js';
import type { Alloc, ElementModel, MapTypeModel } from './alloc.js';
import { alloc, checkFlags, einval, firstFailure, finishModel, since } from './common.js';
import type { MapSpec } from '../../vocab/map-spec.js';

/*
 * net/xdp/xskmap.c: a `struct xsk_map` with a flexible array of socket pointers; each socket
 * put in the map gets an `xsk_map_node` linking it back to the map.
 */

/** xskmap.c: xsk_map_alloc() accepts numa_node, rdonly, wronly. */
const XSK_FLAGS: readonly MapFlag[] = ['numa_node', 'rdonly', 'wronly'];

/** `sizeof(struct list_head)`: the per-CPU flush list of 5.3–5.5 xskmaps. */
const LIST_HEAD_SIZE = 16;

/** `struct_size(m, xsk_map, max_entries)`. */
function mapBytes(spec: MapSpec, profile: KernelProfile): number {
  return profile.structs.xsk_map + spec.maxEntries * profile.structs.pointer;
}

/** xskmap.c: xsk_map_alloc()'s checks (all EINVAL). */
function check(spec: MapSpec, profile: KernelProfile): Failure | undefined {
  return firstFailure(
    () => (spec.maxEntries === 0 ? einval(spec, 'max_entries must be non-zero') : undefined),
    () => (spec.keySize !== 4 ? einval(spec, `key_size must be 4, not ${spec.keySize}`) : undefined),
    () => (spec.valueSize !== 4 ? einval(spec, `value_size must be 4 (an AF_XDP socket fd), not ${spec.valueSize}`) : undefined),
    () => checkFlags(spec, profile, XSK_FLAGS),
  );
}

/** xskmap.c: xsk_map_mem_usage(): the map plus one `xsk_map_node` per socket in it. */
function memUsage(spec: MapSpec, elements: number, profile: KernelProfile): number {
  return mapBytes(spec, profile) + elements * profile.structs.xsk_map_node;
}

/**
 * xskmap.c (5.x): 5.3–5.5 charged `max_entries * 8 + sizeof(struct list_head) * NP`; 5.6–5.10
 * `struct_size(m, xsk_map, max_entries)`. [U] boundaries.
 */
function legacyCost(spec: MapSpec, profile: KernelProfile): number {
  if (!since(profile, 5, 6)) return spec.maxEntries * profile.structs.pointer + LIST_HEAD_SIZE * profile.possibleCpus;
  return mapBytes(spec, profile);
}

function createAllocs(spec: MapSpec, profile: KernelProfile): readonly Alloc[] {
  // xsk_map_alloc(): bpf_map_area_alloc(struct_size(m, xsk_map, max_entries)).
  return [alloc(profile, 'xsk_map', 'area', 'current', mapBytes(spec, profile))];
}

/**
 * Each AF_XDP socket added (needs a real socket): `xsk_map_node_alloc()` →
 * `bpf_map_kzalloc(sizeof(struct xsk_map_node), GFP_ATOMIC | __GFP_NOWARN)` in every era
 * (force-charged past `memory.max`). [S/U: not measured] Index ≥
 * max_entries → E2BIG.
 */
function elements(spec: MapSpec, profile: KernelProfile): ElementModel {
  return {
    capacity: spec.maxEntries,
    whenFull: { errno: 'E2BIG' },
    allocs: [{ ...alloc(profile, 'xsk_map_node', 'kmalloc', 'map', profile.structs.xsk_map_node), gfp: 'atomic' }],
    memAllocs: [],
    deletable: true,
  };
}

/** `BPF_MAP_TYPE_XSKMAP`. */
export const xskmapModel: MapTypeModel = finishModel({
  check,
  normalize: (spec) => spec,
  memUsage,
  legacyCost,
  createAllocs,
  elements,
});
