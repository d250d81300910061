import { FD_MAP_TYPES, PERCPU_MAP_TYPES, type MapType } from '../../vocab/maptypes.js';
import type { KernelProfile } from '../../vocab/profile.js';
import { roundUp } from '../../vocab/units.js';
import { mapTypeModel } from './index.js';
import type { MapSpec } from '../../vocab/map-spec.js';

/** The spec as the kernel keeps it (`max_entries` rounding and the like): the type's `normalize()`. */
export function normalizedSpec(spec: MapSpec, profile: KernelProfile): MapSpec {
  return mapTypeModel(spec.type).normalize(spec, profile);
}

/**
 * `bpf_map_value_size()` (kernel/bpf/syscall.c): what one value takes in syscall buffers, per-CPU
 * values once per possible CPU, fd maps a u32.
 */
export function bpfMapValueSize(spec: MapSpec, profile: KernelProfile): number {
  if (PERCPU_MAP_TYPES.has(spec.type)) return roundUp(spec.valueSize, 8) * profile.possibleCpus;
  if (FD_MAP_TYPES.has(spec.type)) return 4;
  return spec.valueSize;
}

/**
 * `bpf_map_memory_footprint()` (5.11–6.3): `round_up(max_entries * round_up(key_size +
 * bpf_map_value_size(map), 8), PAGE_SIZE)`, a capacity estimate kept for fdinfo compatibility.
 */
export function memoryFootprint(spec: MapSpec, profile: KernelProfile): number {
  const n = normalizedSpec(spec, profile);
  const size = roundUp(n.keySize + bpfMapValueSize(n, profile), 8);
  return roundUp(n.maxEntries * size, profile.pageSize);
}

/**
 * What `/proc/PID/fdinfo/FD` shows as `memlock:` for a map with `elements` live elements, by the
 * kernel's era (`profile.eras.fdinfoMemlock`):
 * - `precharge` (≤ 5.10): the pages precharged to `locked_vm`, `round_up(cost, PAGE_SIZE)`;
 * - `footprint` (5.11–6.3): {@link memoryFootprint};
 * - `mem_usage` (6.4+): the type's `map_mem_usage()`.
 * The spec is assumed to be one the kernel accepts (see `checkMapCreate`).
 */
export function fdinfoMemlock(spec: MapSpec, elements: number, profile: KernelProfile): number {
  const model = mapTypeModel(spec.type);
  const n = model.normalize(spec, profile);
  switch (profile.eras.fdinfoMemlock) {
    case 'precharge':
      return roundUp(model.legacyCost(n, profile), profile.pageSize);
    case 'footprint':
      return memoryFootprint(n, profile);
    case 'mem_usage':
      return model.memUsage(n, elements, profile);
  }
}

/** Map types whose fdinfo memlock depends on the contents (elements, devices, sockets). */
export function memlockDependsOnContents(type: MapType, flags: number): boolean {
  if (CONTENT_DEPENDENT.has(type)) return true;
  return PREALLOC_OPTIONAL.has(type) && (flags & 1) !== 0; // BPF_F_NO_PREALLOC
}

/** Types whose memory follows their contents: elements, devices, sockets. */
const CONTENT_DEPENDENT: ReadonlySet<MapType> = new Set<MapType>(['lpm_trie', 'devmap', 'devmap_hash', 'sockhash', 'xskmap']);
/** Hash types that preallocate unless told not to. */
const PREALLOC_OPTIONAL: ReadonlySet<MapType> = new Set<MapType>(['hash', 'percpu_hash', 'hash_of_maps']);

/** Types whose layout needs `map_extra` (bloom hash count, arena address), which not every source gives. */
export const NEEDS_MAP_EXTRA: ReadonlySet<MapType> = new Set<MapType>(['bloom_filter', 'arena']);

/** Whether the model gives a map's fdinfo memlock from its layout alone (no contents, no map_extra). */
export function modelKnowsMemlock(type: MapType | undefined, flags: number): type is MapType {
  return type !== undefined && !memlockDependsOnContents(type, flags) && !NEEDS_MAP_EXTRA.has(type);
}

/**
 * The elements a content-dependent map holds, from its fdinfo memlock: map_mem_usage() is
 * linear in them (docs/kernel-facts.md §1.3). 0 where it does not tell.
 */
export function elementsFromMemlock(spec: MapSpec, memlock: number, profile: KernelProfile): number {
  const model = mapTypeModel(spec.type);
  const empty = model.memUsage(spec, 0, profile);
  const perElement = model.memUsage(spec, 1, profile) - empty;
  if (perElement <= 0) return 0;
  return Math.max(0, Math.min(spec.maxEntries || Number.MAX_SAFE_INTEGER, Math.round((memlock - empty) / perElement)));
}
