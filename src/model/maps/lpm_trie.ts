import type { Failure } from '../../vocab/errno.js';
import { hasFlag, type MapFlag } from '../../vocab/flags.js';
import type { KernelProfile } from '../../vocab/profile.js';
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
  mapStructAlloc,
  memAllocCaches,
  since,
} from './common.js';
import type { MapSpec } from '../../vocab/map-spec.js';

/*
 * kernel/bpf/lpm_trie.c: a `struct lpm_trie` with nodes allocated per insert. Keys are
 * `struct bpf_lpm_trie_key_u8` (a u32 prefix length, then `data_size` bytes).
 */

/** `offsetof(struct bpf_lpm_trie_key_u8, data)`: the u32 prefix length. */
const LPM_KEY_PREFIX = 4;
/** `LPM_DATA_SIZE_MIN` / `LPM_DATA_SIZE_MAX`. */
const LPM_DATA_SIZE_MIN = 1;
const LPM_DATA_SIZE_MAX = 256;

/** `LPM_CREATE_FLAG_MASK`. */
const LPM_FLAGS: readonly MapFlag[] = ['no_prealloc', 'numa_node', ...ACCESS_FLAGS];

/** `trie->data_size`. */
function dataSize(spec: MapSpec): number {
  return spec.keySize - LPM_KEY_PREFIX;
}

/** The size of a leaf node: `sizeof(struct lpm_trie_node) + data_size + value_size` (not rounded). */
function leafSize(spec: MapSpec, profile: KernelProfile): number {
  return profile.structs.lpm_trie_node + dataSize(spec) + spec.valueSize;
}

/**
 * Whether nodes come from a `bpf_mem_alloc`: "bpf: Switch to bpf mem allocator for LPM trie"
 * (Hou Tao, commit 3d8dc43eb2a3, in 6.13-rc2). Before, each node was a
 * `bpf_map_kmalloc_node(GFP_NOWAIT)` (GFP_ATOMIC before 6.0). [I] Stable backports to 6.1.y
 * were proposed in 2025; not assumed.
 */
function usesMemAlloc(profile: KernelProfile): boolean {
  return since(profile, 6, 13);
}

/** lpm_trie.c: trie_alloc()'s sanity checks, all EINVAL (the type has no map_alloc_check). */
function check(spec: MapSpec, profile: KernelProfile): Failure | undefined {
  const valMax = kmallocMaxSize(profile) - LPM_DATA_SIZE_MAX - profile.structs.lpm_trie_node;
  return firstFailure(
    () => (spec.maxEntries === 0 ? einval(spec, 'max_entries must be non-zero') : undefined),
    () =>
      !hasFlag(spec.flags, 'no_prealloc')
        ? einval(spec, 'the flag no_prealloc is required: LPM trie nodes are always allocated on insert')
        : undefined,
    () => checkFlags(spec, profile, LPM_FLAGS) ?? checkAccessFlags(spec),
    () =>
      spec.keySize < LPM_KEY_PREFIX + LPM_DATA_SIZE_MIN || spec.keySize > LPM_KEY_PREFIX + LPM_DATA_SIZE_MAX
        ? einval(
            spec,
            `key_size must be ${LPM_KEY_PREFIX + LPM_DATA_SIZE_MIN}–${LPM_KEY_PREFIX + LPM_DATA_SIZE_MAX} (a u32 prefix length and 1–256 data bytes), not ${spec.keySize}`,
          )
        : undefined,
    () =>
      spec.valueSize < 1 || spec.valueSize > valMax ? einval(spec, `value_size must be 1–${valMax}, not ${spec.valueSize}`) : undefined,
  );
}

/**
 * lpm_trie.c: trie_mem_usage(): leaves only; `struct lpm_trie` and intermediate nodes are not
 * counted, so an empty trie reports 0.
 */
function memUsage(spec: MapSpec, elements: number, profile: KernelProfile): number {
  return leafSize(spec, profile) * elements;
}

/** lpm_trie.c (5.10): trie_alloc(): `sizeof(*trie) + max_entries * (node + value + data)`. */
function legacyCost(spec: MapSpec, profile: KernelProfile): number {
  return profile.structs.lpm_trie + spec.maxEntries * leafSize(spec, profile);
}

function createAllocs(_spec: MapSpec, profile: KernelProfile): readonly Alloc[] {
  const out = [mapStructAlloc(profile, 'lpm_trie', profile.structs.lpm_trie)];
  // bpf_mem_alloc_init(&trie->ma, leaf_size, false): intermediate and leaf nodes share it.
  if (usesMemAlloc(profile)) out.push(memAllocCaches(profile, 'ma caches'));
  return out;
}

/**
 * An insert allocates one leaf node; with the model's keys (distinct full-length prefixes) every
 * insert after the first also splits a branch and allocates an intermediate node: from the same
 * bpf_mem_alloc as leaves on 6.13+ (one unit size for all nodes), `sizeof(lpm_trie_node) +
 * data_size` by kmalloc before (lpm_trie.c `trie_update_elem()`). Measured on 6.18: 1000 inserts
 * of 8-byte keys charge twice the leaves' bytes. A full trie refuses new prefixes with ENOSPC.
 */
function elements(spec: MapSpec, profile: KernelProfile): ElementModel {
  const base = { capacity: spec.maxEntries, whenFull: { errno: 'ENOSPC' as const }, deletable: true };
  if (usesMemAlloc(profile)) {
    const ma = { what: 'ma', size: leafSize(spec, profile), percpu: false };
    return { ...base, allocs: [], memAllocs: [ma], afterFirst: { allocs: [], memAllocs: [ma] } };
  }
  const intermediate = alloc(profile, 'intermediate lpm_trie_node', 'kmalloc', 'map', profile.structs.lpm_trie_node + dataSize(spec));
  return {
    ...base,
    allocs: [alloc(profile, 'lpm_trie_node', 'kmalloc', 'map', leafSize(spec, profile))],
    memAllocs: [],
    afterFirst: { allocs: [intermediate], memAllocs: [] },
  };
}

/** `BPF_MAP_TYPE_LPM_TRIE`. */
export const lpmTrieModel: MapTypeModel = finishModel({
  check,
  normalize: (spec) => spec,
  memUsage,
  legacyCost,
  createAllocs,
  elements,
});
