import type { KernelProfile } from '../vocab/profile.js';
import { roundUp } from '../vocab/units.js';

/**
 * What the allocators hand out for a request, which is what memcg is charged for
 * (docs/kernel-facts.md §1.6: "memcg is charged for what the allocator really hands out").
 */

/** `PAGE_ALLOC_COSTLY_ORDER`: bpf_map_area_alloc() tries kmalloc up to `PAGE_SIZE << 3`. */
export const PAGE_ALLOC_COSTLY_ORDER = 3;

/** `PCPU_MIN_ALLOC_SIZE` (mm/percpu-internal.h): per-CPU sizes are aligned to 4 bytes. */
export const PCPU_MIN_ALLOC_SIZE = 4;

/**
 * The kmalloc size classes of SLUB (include/linux/slab.h `kmalloc_index()`): `KMALLOC_MIN_SIZE`
 * (8 on x86-64), then 16, 32, 64, 96, 128, 192 and powers of two up to `KMALLOC_MAX_CACHE_SIZE`
 * = 2 pages. Larger requests go to the page allocator. mm/slab_common.c
 * `setup_kmalloc_cache_index_table()` sends 72–96 bytes to 128 when `KMALLOC_MIN_SIZE` is 64 or
 * more, and 136–192 bytes to 256 when it is 128 or more (arm64 before 6.5); since 6.5
 * `new_kmalloc_cache()` does the same for a minimum alignment known only at boot.
 */
export function kmallocClasses(pageSize: number, minSize = 8): readonly number[] {
  const classes: number[] = [];
  for (let size = minSize; size <= 2 * pageSize; size *= 2) {
    if (size === 128 && minSize <= 32) classes.push(96);
    if (size === 256 && minSize <= 64) classes.push(192);
    classes.push(size);
  }
  return classes;
}

/** The slab object size a kmalloc of `size` bytes gets, or `undefined` above `KMALLOC_MAX_CACHE_SIZE`. */
export function kmallocClass(size: number, pageSize: number, minSize = 8): number | undefined {
  if (size <= minSize) return minSize;
  if (size > 2 * pageSize) return undefined;
  if (size <= 96 && size > 64 && minSize <= 32) return 96;
  if (size <= 192 && size > 128 && minSize <= 64) return 192;
  return 2 ** Math.ceil(Math.log2(size));
}

/** `get_order(size)`: the power-of-two number of pages that holds `size` bytes, as an order. */
export function getOrder(size: number, pageSize: number): number {
  const pages = Math.ceil(size / pageSize);
  return pages <= 1 ? 0 : Math.ceil(Math.log2(pages));
}

/**
 * How memcg is charged for one allocation:
 * - `obj`: bytes through an objcg (slab objects and per-CPU memory are charged by the byte,
 *   mm/memcontrol.c `obj_cgroup_charge()`); memcg sees them rounded to pages per objcg.
 * - `pages`: whole pages (vmalloc, large kmalloc, `alloc_pages()`).
 * `stat` is the `memory.stat` line the bytes appear under; every kind but `anon` is kernel
 * memory (v1 `memory.kmem.*`, v2 `kernel`).
 */
export interface Charge {
  readonly unit: 'obj' | 'pages';
  /** Bytes for `obj`, pages for `pages`. */
  readonly amount: number;
  readonly stat: ChargeStat;
  /**
   * Bytes of `amount` that exist only because the memory is accounted: the objcg pointer of a
   * slab object, the `obj_exts` of per-CPU memory. Unaccounted memory comes from plain caches
   * and chunks without them.
   */
  readonly overhead?: number;
}

/** The `memory.stat` kind a charge counts under; `anon` is the workload's own memory. */
export type ChargeStat = 'slab' | 'percpu' | 'vmalloc' | 'kernel' | 'anon';

/**
 * A slab object: its size class plus the objcg pointer kept beside it in the slab's
 * `obj_exts` vector (mm/memcontrol.c `obj_full_size()`); above `KMALLOC_MAX_CACHE_SIZE`, whole
 * pages of order `get_order(size)` from the page allocator, counted as slab
 * (`__kmalloc_large_node()` adds them to NR_SLAB_UNRECLAIMABLE_B).
 */
export function kmallocCharge(size: number, profile: KernelProfile): Charge {
  const cls = kmallocClass(size, profile.pageSize, profile.kmallocMinSize);
  if (cls === undefined) {
    return { unit: 'pages', amount: 2 ** getOrder(size, profile.pageSize), stat: 'slab' };
  }
  return { unit: 'obj', amount: cls + profile.structs.pointer, stat: 'slab', overhead: profile.structs.pointer };
}

/** vmalloc: every page of the area is charged; the guard page and page array are not. */
export function vmallocCharge(size: number, profile: KernelProfile): Charge {
  return { unit: 'pages', amount: Math.ceil(size / profile.pageSize), stat: 'vmalloc' };
}

/** `alloc_pages()` of `size` bytes in order-0 pages (ringbuf data, arena pages). */
export function pagesCharge(size: number, profile: KernelProfile): Charge {
  return { unit: 'pages', amount: Math.ceil(size / profile.pageSize), stat: 'kernel' };
}

/**
 * Per-CPU memory: `size` on every possible CPU plus one objcg pointer per
 * `PCPU_MIN_ALLOC_SIZE` bytes of the unit for the chunk's `obj_exts` (mm/percpu.c
 * `pcpu_obj_full_size()`); measured ≈ 2× the data for 2 CPUs (docs/kernel-facts.md §3.4).
 */
export function percpuCharge(size: number, profile: KernelProfile): Charge {
  const unit = roundUp(size, PCPU_MIN_ALLOC_SIZE);
  const extra = (unit / PCPU_MIN_ALLOC_SIZE) * profile.structs.pointer;
  return { unit: 'obj', amount: unit * profile.possibleCpus + extra, stat: 'percpu', overhead: extra };
}

/** Whether `bpf_map_area_alloc()` tries kmalloc first for this size. */
export function areaTriesKmalloc(size: number, profile: KernelProfile): boolean {
  return size <= profile.pageSize << PAGE_ALLOC_COSTLY_ORDER;
}
