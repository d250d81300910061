import { fail, type Failure } from '../../vocab/errno.js';
import { hasFlag, type MapFlag } from '../../vocab/flags.js';
import { FD_MAP_TYPES } from '../../vocab/maptypes.js';
import type { KernelProfile } from '../../vocab/profile.js';
import { roundUp } from '../../vocab/units.js';
import type { Alloc, ElementModel, MapTypeModel } from './alloc.js';
import {
  ACCESS_FLAGS,
  alloc,
  checkAccessFlags,
  checkFlags,
  einval,
  firstFailure,
  finishModel,
  kmallocMaxSize,
  PCPU_MIN_UNIT_SIZE,
  since,
  vs8,
} from './common.js';
import { hasPercpuValueSizeCheck } from './hash.js';
import type { MapSpec } from '../../vocab/map-spec.js';

/*
 * The array family: kernel/bpf/arraymap.c (`array_map_alloc_check()`, `array_map_alloc()`,
 * `fd_array_map_alloc_check()`, `array_map_mem_usage()`). One `struct bpf_array` followed by
 * the values (plain arrays), by per-CPU value pointers (percpu_array) or by object pointers
 * (fd arrays: prog, perf_event, cgroup, array_of_maps).
 */

/** `ARRAY_CREATE_FLAG_MASK`. */
const ARRAY_FLAGS: readonly MapFlag[] = ['numa_node', 'mmapable', ...ACCESS_FLAGS, 'preserve_elems', 'inner_map'];

const isPercpu = (spec: MapSpec): boolean => spec.type === 'percpu_array';
const isMmapable = (spec: MapSpec): boolean => spec.type === 'array' && hasFlag(spec.flags, 'mmapable');

/** `array->elem_size`: `round_up(value_size, 8)`; 8 for fd arrays (value_size 4, a pointer slot). */
function elemSize(spec: MapSpec): number {
  return vs8(spec);
}

/** `array_map_alloc_check()` (and `fd_array_map_alloc_check()` first for fd arrays). */
function check(spec: MapSpec, profile: KernelProfile): Failure | undefined {
  const t = spec.type;
  return firstFailure(
    () => (FD_MAP_TYPES.has(t) && spec.valueSize !== 4 ? einval(spec, `value_size must be 4 (a file descriptor), not ${spec.valueSize}`) : undefined),
    () => (spec.maxEntries === 0 ? einval(spec, 'max_entries must be non-zero') : undefined),
    () => (spec.keySize !== 4 ? einval(spec, `key_size must be 4 (a u32 index), not ${spec.keySize}`) : undefined),
    () => (spec.valueSize === 0 ? einval(spec, 'value_size must be non-zero') : undefined),
    () => checkFlags(spec, profile, ARRAY_FLAGS) ?? checkAccessFlags(spec),
    () =>
      isPercpu(spec) && hasFlag(spec.flags, 'numa_node') ? einval(spec, 'numa_node cannot be used with per-CPU values') : undefined,
    () =>
      t !== 'array' && (hasFlag(spec.flags, 'mmapable') || hasFlag(spec.flags, 'inner_map'))
        ? einval(spec, 'mmapable and inner_map are for plain arrays only')
        : undefined,
    () =>
      t !== 'perf_event_array' && hasFlag(spec.flags, 'preserve_elems')
        ? einval(spec, 'preserve_elems is for perf_event_array only')
        : undefined,
    () => {
      // "avoid overflow on round_up(map->value_size)": INT_MAX in 6.x; KMALLOC_MAX_SIZE in 5.x [U: version].
      const limit = since(profile, 6, 0) ? 2 ** 31 - 1 : kmallocMaxSize(profile);
      return spec.valueSize > limit ? fail('E2BIG', `${t}: value_size ${spec.valueSize} is over ${limit}`) : undefined;
    },
    () =>
      isPercpu(spec) && hasPercpuValueSizeCheck(profile) && vs8(spec) > PCPU_MIN_UNIT_SIZE
        ? fail('E2BIG', `${t}: value_size ${spec.valueSize} rounds to ${vs8(spec)} bytes per CPU, over the per-CPU limit of ${PCPU_MIN_UNIT_SIZE}`)
        : undefined,
  );
}

/**
 * kernel/bpf/arraymap.c: array_map_mem_usage(). Uses `map->max_entries`, so for unprivileged
 * creators (whose arrays get `roundup_pow_of_two(max_entries)` slots) it under-reports.
 */
function memUsage(spec: MapSpec, _elements: number, profile: KernelProfile): number {
  const s = profile.structs;
  const entries = spec.maxEntries;
  const elem = elemSize(spec);
  if (isPercpu(spec)) return s.bpf_array + entries * s.pointer + entries * elem * profile.possibleCpus;
  if (isMmapable(spec)) return roundUp(s.bpf_array, profile.pageSize) + roundUp(entries * elem, profile.pageSize);
  return s.bpf_array + entries * elem;
}

/** kernel/bpf/arraymap.c (5.10): array_map_alloc() → `bpf_map_charge_init(cost)`. */
function legacyCost(spec: MapSpec, profile: KernelProfile): number {
  return memUsage(spec, 0, profile);
}

/** kernel/bpf/arraymap.c: array_map_alloc() (a privileged creator: no power-of-two rounding). */
function arrayAllocs(spec: MapSpec, profile: KernelProfile): Alloc[] {
  const s = profile.structs;
  const entries = spec.maxEntries;
  if (isMmapable(spec)) {
    // bpf_map_area_mmapable_alloc(): always vmalloc; the values start on a page boundary.
    return [alloc(profile, 'bpf_array + values', 'area_mmapable', 'current', memUsage(spec, 0, profile))];
  }
  if (isPercpu(spec)) {
    return [
      alloc(profile, 'bpf_array + pptrs', 'area', 'current', s.bpf_array + entries * s.pointer),
      // bpf_array_alloc_percpu(): one bpf_map_alloc_percpu() per slot, inside map_alloc().
      alloc(profile, 'percpu values', 'percpu', 'map', elemSize(spec), entries),
    ];
  }
  return [alloc(profile, 'bpf_array + values', 'area', 'current', s.bpf_array + entries * elemSize(spec))];
}

/**
 * Arrays allocate nothing on update: every slot exists from creation. array_map_update_elem() /
 * fd_array_map_update_elem(): index >= max_entries → E2BIG. fd arrays store an object pointer
 * (perf_event_array also a small unaccounted bpf_event_entry, not modelled). Deleting:
 * array_map_delete_elem() is EINVAL; fd_array_map_delete_elem() clears a slot (frees nothing
 * of the map).
 */
function elements(spec: MapSpec): ElementModel {
  const deletable = spec.type !== 'array' && spec.type !== 'percpu_array';
  return { capacity: spec.maxEntries, whenFull: { errno: 'E2BIG' }, allocs: [], memAllocs: [], deletable };
}

function makeArrayModel(extraFirst?: (profile: KernelProfile) => Alloc): MapTypeModel {
  return finishModel({
    check,
    normalize: (spec) => spec,
    memUsage,
    legacyCost,
    createAllocs: (spec, profile) => (extraFirst ? [extraFirst(profile), ...arrayAllocs(spec, profile)] : arrayAllocs(spec, profile)),
    elements,
  });
}

/** `BPF_MAP_TYPE_ARRAY` (also `mmapable`). */
export const arrayModel: MapTypeModel = makeArrayModel();
/** `BPF_MAP_TYPE_PERCPU_ARRAY`. */
export const percpuArrayModel: MapTypeModel = makeArrayModel();
/** `BPF_MAP_TYPE_PROG_ARRAY`. */
export const progArrayModel: MapTypeModel = makeArrayModel();
/** `BPF_MAP_TYPE_PERF_EVENT_ARRAY`. */
export const perfEventArrayModel: MapTypeModel = makeArrayModel();
/** `BPF_MAP_TYPE_CGROUP_ARRAY`. */
export const cgroupArrayModel: MapTypeModel = makeArrayModel();
/**
 * `BPF_MAP_TYPE_ARRAY_OF_MAPS`. `array_of_map_alloc()` first copies the inner map's metadata
 * (kernel/bpf/map_in_map.c: bpf_map_meta_alloc(), `kzalloc(GFP_USER)`, not accounted; `struct
 * bpf_map` assumed since the spec does not name the inner type).
 */
export const arrayOfMapsModel: MapTypeModel = makeArrayModel((profile) =>
  alloc(profile, 'inner_map_meta', 'kmalloc', 'none', profile.structs.bpf_map),
);
