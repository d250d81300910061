import { fail, type Failure } from '../../vocab/errno.js';
import { hasFlag, type MapFlag } from '../../vocab/flags.js';
import type { KernelProfile } from '../../vocab/profile.js';
import type { Alloc, ElementModel, MapTypeModel } from './alloc.js';
import { alloc, checkFlags, einval, firstFailure, finishModel } from './common.js';
import type { MapSpec } from '../../vocab/map-spec.js';

/*
 * kernel/bpf/arena.c: a `struct bpf_arena` reserving a 4 GiB (+ guard) kernel address range;
 * pages are allocated on demand by bpf_arena_alloc_pages() or a user page fault.
 */

/** arena_map_alloc() accepts mmapable (required), segv_on_fault and no_user_conv. */
const ARENA_FLAGS: readonly MapFlag[] = ['mmapable', 'segv_on_fault', 'no_user_conv'];

/** `SZ_4G`: the largest arena. */
const SZ_4G = 2 ** 32;

/**
 * arena.c: arena_map_alloc()'s checks. Not modelled: `bpf_jit_supports_arena()` (EOPNOTSUPP on
 * JITs without arena support; x86_64 and arm64 have it) and a `map_extra` user address range
 * crossing a 4 GiB boundary (ERANGE, which bpfmem's Errno does not have).
 */
function check(spec: MapSpec, profile: KernelProfile): Failure | undefined {
  return firstFailure(
    () =>
      spec.keySize !== 0 || spec.valueSize !== 0 ? einval(spec, 'key_size and value_size must be 0 (max_entries is the page count)') : undefined,
    () => (spec.maxEntries === 0 ? einval(spec, 'max_entries (the number of pages) must be non-zero') : undefined),
    () => (!hasFlag(spec.flags, 'mmapable') ? einval(spec, 'the flag mmapable is required') : undefined),
    () => checkFlags(spec, profile, ARENA_FLAGS),
    () =>
      spec.mapExtra % profile.pageSize !== 0
        ? einval(spec, `map_extra (the user address of the arena) must be page-aligned, not 0x${spec.mapExtra.toString(16)}`)
        : undefined,
    () =>
      spec.maxEntries * profile.pageSize > SZ_4G
        ? fail('E2BIG', `${spec.type}: ${spec.maxEntries} pages are more than 4 GiB`)
        : undefined,
  );
}

/**
 * arena.c: arena_map_alloc(): `get_vm_area()` reserves address space only (no memory);
 * `bpf_map_area_alloc(sizeof(*arena))`; the range tree's nodes are tiny and not modelled.
 */
function createAllocs(_spec: MapSpec, profile: KernelProfile): readonly Alloc[] {
  return [alloc(profile, 'bpf_arena', 'area', 'current', profile.structs.bpf_arena)];
}

/**
 * One insert is one page: `bpf_arena_alloc_pages()` / a user fault → `bpf_map_alloc_pages()`,
 * charged to the map's memcg after creation. Invisible in fdinfo (`arena_map_mem_usage()` = 0).
 * With no free page left in the range the kfunc returns NULL (ENOMEM in the model). Pages go
 * back with the bpf_arena_free_pages() kfunc; BPF_MAP_DELETE_ELEM itself is EOPNOTSUPP.
 */
function elements(spec: MapSpec, profile: KernelProfile): ElementModel {
  return {
    capacity: spec.maxEntries,
    whenFull: { errno: 'ENOMEM' },
    allocs: [alloc(profile, 'arena page', 'pages', 'map', profile.pageSize)],
    memAllocs: [],
    deletable: false,
  };
}

/** `BPF_MAP_TYPE_ARENA` (6.9+; `legacyCost` is a what-if: the arena struct). */
export const arenaModel: MapTypeModel = finishModel({
  check,
  normalize: (spec) => spec,
  // arena.c: arena_map_mem_usage() returns 0.
  memUsage: () => 0,
  legacyCost: (_spec, profile) => profile.structs.bpf_arena,
  createAllocs,
  elements,
});
