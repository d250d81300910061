import type { Failure } from '../../vocab/errno.js';
import { hasFlag, type MapFlag } from '../../vocab/flags.js';
import type { KernelProfile } from '../../vocab/profile.js';
import type { Alloc, ElementModel, MapTypeModel } from './alloc.js';
import { ACCESS_FLAGS, alloc, checkAccessFlags, checkFlags, einval, firstFailure, finishModel } from './common.js';
import type { MapSpec } from '../../vocab/map-spec.js';

/*
 * kernel/bpf/reuseport_array.c: `struct reuseport_array` with a flexible array of socket
 * pointers; nothing is allocated per socket.
 */

/** The flags `array_map_alloc_check()` lets through for a non-`array` type. */
const REUSEPORT_FLAGS: readonly MapFlag[] = ['numa_node', ...ACCESS_FLAGS];

/** `struct_size(array, ptrs, max_entries)`. */
function arrayBytes(spec: MapSpec, profile: KernelProfile): number {
  return profile.structs.reuseport_array + spec.maxEntries * profile.structs.pointer;
}

/** reuseport_array.c: reuseport_array_alloc_check(), then arraymap.c: array_map_alloc_check(). */
function check(spec: MapSpec, profile: KernelProfile): Failure | undefined {
  return firstFailure(
    () =>
      spec.valueSize !== 4 && spec.valueSize !== 8
        ? einval(spec, `value_size must be 4 or 8 (a socket fd or cookie), not ${spec.valueSize}`)
        : undefined,
    () => (spec.maxEntries === 0 ? einval(spec, 'max_entries must be non-zero') : undefined),
    () => (spec.keySize !== 4 ? einval(spec, `key_size must be 4, not ${spec.keySize}`) : undefined),
    () =>
      hasFlag(spec.flags, 'mmapable') || hasFlag(spec.flags, 'inner_map') || hasFlag(spec.flags, 'preserve_elems')
        ? einval(spec, 'mmapable, inner_map and preserve_elems are for other array types')
        : undefined,
    () => checkFlags(spec, profile, REUSEPORT_FLAGS) ?? checkAccessFlags(spec),
  );
}

/** `BPF_MAP_TYPE_REUSEPORT_SOCKARRAY`. */
export const reuseportModel: MapTypeModel = finishModel({
  check,
  normalize: (spec) => spec,
  // reuseport_array.c: reuseport_array_mem_usage().
  memUsage: (spec, _elements, profile) => arrayBytes(spec, profile),
  // reuseport_array.c (5.x): `sizeof(*array) + max_entries * sizeof(struct sock *)`.
  legacyCost: arrayBytes,
  // reuseport_array_alloc(): bpf_map_area_alloc(struct_size(...)).
  createAllocs: (spec, profile): readonly Alloc[] => [alloc(profile, 'reuseport_array', 'area', 'current', arrayBytes(spec, profile))],
  elements: (spec): ElementModel => ({
    capacity: spec.maxEntries,
    whenFull: { errno: 'E2BIG' },
    allocs: [],
    memAllocs: [],
    deletable: true, // reuseport_array_delete_elem() clears the slot
  }),
});
