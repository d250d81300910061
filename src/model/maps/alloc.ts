import type { Errno, Failure } from '../../vocab/errno.js';
import type { KernelProfile } from '../../vocab/profile.js';
import type { MapSpec } from '../../vocab/map-spec.js';

/**
 * How a piece of memory is obtained. The shape decides what memcg is charged for it (slab size
 * class, whole pages, page-rounded vmalloc, per-CPU copies):
 * - `kmalloc`: `kmalloc_node()`: a slab object of the next size class up to 8 KiB
 *   (KMALLOC_MAX_CACHE_SIZE), whole pages of order `get_order(size)` above.
 * - `area`: `bpf_map_area_alloc()` (kernel/bpf/syscall.c `__bpf_map_area_alloc`): kmalloc with
 *   `__GFP_NORETRY` when `size ≤ PAGE_SIZE << PAGE_ALLOC_COSTLY_ORDER` (32 KiB), falling back to
 *   vmalloc (`__GFP_RETRY_MAYFAIL`) when that fails or the size is larger.
 * - `area_mmapable`: `bpf_map_area_mmapable_alloc()`: always vmalloc, page-aligned.
 * - `kvmalloc`: `kvmalloc()`/`kvcalloc()`: kmalloc, vmalloc when that fails or is too large.
 * - `vmalloc`: `__vmalloc()`: whole pages.
 * - `percpu`: `__alloc_percpu_gfp()`: `size` on every possible CPU.
 * - `pages`: `alloc_pages()`: `size` bytes of whole pages.
 */
export type AllocShape = 'kmalloc' | 'area' | 'area_mmapable' | 'kvmalloc' | 'vmalloc' | 'percpu' | 'pages';

/**
 * Who is charged (docs/kernel-facts.md §1.5, the three charging paths):
 * - `current`: the task that runs the allocation (path 1: `bpf_map_area_alloc()`, and
 *   `GFP_KERNEL_ACCOUNT` allocations such as ringbuf pages and programs);
 * - `map`: the map's saved cgroup through `set_active_memcg()` (path 2: `bpf_map_kmalloc_node()`,
 *   `bpf_map_kzalloc()`, `bpf_map_kvcalloc()`, `bpf_map_alloc_percpu()`, `bpf_map_alloc_pages()`).
 *   Inside `map_alloc()` the map has no cgroup yet: on 5.11–5.19 that leaves the creator charged,
 *   on 6.0+ the root memcg, i.e. nobody (`Eras.createTimeMapHelpersCharged`);
 * - `none`: allocated without `__GFP_ACCOUNT` (plain `alloc_percpu()`, LRU lists), charged to
 *   no memcg in any era.
 */
export type Payer = 'current' | 'map' | 'none';

/** One allocation (or `count` equal ones) a map makes. */
export interface Alloc {
  /** What it is, in the kernel's words: `bpf_htab`, `buckets`, `elems`, `percpu values`. */
  readonly what: string;
  readonly shape: AllocShape;
  readonly payer: Payer;
  /** Bytes requested per object (per CPU for `percpu`). */
  readonly size: number;
  /** How many such objects (default 1). */
  readonly count?: number;
  /**
   * An element allocation made with GFP_ATOMIC in every era, where the era's own flags
   * (`Eras.updateGfp`: GFP_NOWAIT from 6.0) do not apply: `__GFP_HIGH` makes its charge pass
   * `memory.max` instead of failing (mm/memcontrol.c try_charge_memcg(), `nomem:`).
   */
  readonly gfp?: 'atomic';
}

/**
 * A `bpf_mem_alloc` (kernel/bpf/memalloc.c) a map owns: per-CPU caches of `unitSize` objects,
 * prefilled at creation and refilled from irq_work, charged to the creator's objcg captured by
 * `bpf_mem_alloc_init()`. `size` is what the owner asks for; non-per-CPU objects get 8 more
 * bytes for the `llist_node` (`LLIST_NODE_SZ`); per-CPU objects are a 16-byte kmalloc holder
 * plus `size` bytes of per-CPU memory.
 */
export interface MemAllocUnit {
  /** Which allocator: `ma` (elements), `pcpu_ma` (per-CPU values). */
  readonly what: string;
  readonly size: number;
  readonly percpu: boolean;
}

/** What inserting elements into a map allocates, and when it stops. */
export interface ElementModel {
  /** How many elements fit (the kernel's `max_entries` after rounding). */
  readonly capacity: number;
  /**
   * What an insert past `capacity` does: fail with the errno (`E2BIG` for hash and array,
   * `ENOSPC` for LPM trie, …) or evict the least recently used element (LRU hash).
   */
  readonly whenFull: { readonly errno: Errno } | 'evict';
  /** Allocations made for each inserted element, freed when it is deleted. */
  readonly allocs: readonly Alloc[];
  /** bpf_mem_alloc allocators each insert takes one object from (6.1+ no-prealloc hash). */
  readonly memAllocs: readonly MemAllocUnit[];
  /**
   * What every insert but the first also allocates, and every delete but the last frees, with
   * the keys the model inserts (distinct full-length keys counting up): an LPM trie splits a
   * branch on each such insert and adds one intermediate node (kernel/bpf/lpm_trie.c
   * `trie_update_elem()`; `trie_delete_elem()` frees it again when a branch loses a child).
   * A `memAllocs` entry names an allocator of {@link memAllocs} by `what`.
   */
  readonly afterFirst?: { readonly allocs: readonly Alloc[]; readonly memAllocs: readonly MemAllocUnit[] };
  /**
   * Whether BPF_MAP_DELETE_ELEM works on this type: false where the kernel refuses it (arrays
   * return EINVAL). Preallocated hash maps are deletable (the element goes back to the free list
   * and frees no memory: their `allocs` and `memAllocs` are empty).
   */
  readonly deletable: boolean;
  /**
   * Pages each new element precharges to the map's user's `locked_vm` before 5.11, against the
   * RLIMIT_MEMLOCK of the task that makes it, and adds to the map's memlock: cgroup storages
   * made at program attach (5.10 kernel/bpf/local_storage.c bpf_cgroup_storage_alloc() →
   * bpf_map_charge_memlock(): EPERM over the limit). Other maps precharge only at creation.
   */
  readonly legacyPages?: number;
}

/**
 * The memory layout and the kernel's rules for one map type: what BPF_MAP_CREATE checks and
 * allocates, what fdinfo `memlock` reports, what an insert allocates, and what the legacy
 * RLIMIT_MEMLOCK precharge was. Every function is pure.
 */
export interface MapTypeModel {
  /**
   * The kernel's own refusal of this spec (`map_alloc_check()` and the checks at the top of
   * `map_alloc()`), with the errno it returns; `undefined` when the kernel accepts it.
   * Generic checks of `map_create()` (map name, `map_extra` on the wrong type, the type's
   * existence on this version) are done once by the caller.
   */
  check(spec: MapSpec, profile: KernelProfile): Failure | undefined;
  /** The spec as the kernel keeps it, e.g. `max_entries` rounded up to a multiple of possible CPUs for `no_common_lru`. */
  normalize(spec: MapSpec, profile: KernelProfile): MapSpec;
  /** `map->ops->map_mem_usage()` (fdinfo `memlock` on 6.4+) with `elements` live elements. */
  memUsage(spec: MapSpec, elements: number, profile: KernelProfile): number;
  /** Bytes passed to `bpf_map_charge_init()` on 5.3–5.10: the legacy precharge before page rounding. */
  legacyCost(spec: MapSpec, profile: KernelProfile): number;
  /**
   * The errno `map_alloc()` returns when that precharge does not fit RLIMIT_MEMLOCK, where it is
   * not `bpf_map_charge_init()`'s own EPERM (devmap: EINVAL).
   */
  readonly legacyChargeErrno?: 'EINVAL';
  /** What `map_alloc()` allocates, in the order the kernel does it. */
  createAllocs(spec: MapSpec, profile: KernelProfile): readonly Alloc[];
  /** What inserts allocate, or why this map type takes no inserts in the model. */
  elements(spec: MapSpec, profile: KernelProfile): ElementModel | Failure;
}
