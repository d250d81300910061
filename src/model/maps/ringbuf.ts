import { fail, type Failure } from '../../vocab/errno.js';
import type { MapFlag } from '../../vocab/flags.js';
import type { KernelProfile } from '../../vocab/profile.js';
import type { Alloc, ElementModel, MapTypeModel } from './alloc.js';
import { alloc, checkFlags, einval, firstFailure, finishModel, mapStructAlloc } from './common.js';
import type { MapSpec } from '../../vocab/map-spec.js';

/*
 * kernel/bpf/ringbuf.c: a `struct bpf_ringbuf_map` pointing at a `struct bpf_ringbuf` built from
 * individually allocated pages, vmap'ed with the data pages mapped twice.
 */

/** `RINGBUF_CREATE_FLAG_MASK`. */
const RINGBUF_FLAGS: readonly MapFlag[] = ['numa_node'];

/** `RINGBUF_POS_PAGES`: the consumer and producer position pages. */
const RINGBUF_POS_PAGES = 2;

/** `RINGBUF_NR_META_PAGES = RINGBUF_PGOFF + RINGBUF_POS_PAGES`. */
function nrMetaPages(profile: KernelProfile): number {
  return profile.structs.bpf_ringbuf_meta_pages + RINGBUF_POS_PAGES;
}

/** `max_entries >> PAGE_SHIFT`. */
function nrDataPages(spec: MapSpec, profile: KernelProfile): number {
  return Math.floor(spec.maxEntries / profile.pageSize);
}

const isPow2 = (x: number): boolean => x > 0 && Number.isInteger(Math.log2(x));

/** ringbuf.c: ringbuf_map_alloc()'s checks (there is no map_alloc_check). */
function check(spec: MapSpec, profile: KernelProfile): Failure | undefined {
  return firstFailure(
    () => checkFlags(spec, profile, RINGBUF_FLAGS),
    () =>
      spec.keySize !== 0 || spec.valueSize !== 0
        ? einval(spec, `key_size and value_size must be 0 (the size goes in max_entries), not ${spec.keySize}/${spec.valueSize}`)
        : undefined,
    () =>
      !isPow2(spec.maxEntries) || spec.maxEntries % profile.pageSize !== 0
        ? einval(spec, `the size (max_entries) must be a power-of-2 multiple of the ${profile.pageSize}-byte page, not ${spec.maxEntries}`)
        : undefined,
  );
}

/** ringbuf.c: ringbuf_map_mem_usage(): the map, every page once, and the page pointer array. */
function memUsage(spec: MapSpec, _elements: number, profile: KernelProfile): number {
  const meta = nrMetaPages(profile);
  const data = nrDataPages(spec, profile);
  const s = profile.structs;
  return s.bpf_ringbuf_map + (meta + data) * profile.pageSize + (meta + 2 * data) * s.pointer;
}

/**
 * ringbuf.c (5.8–5.10): `sizeof(struct bpf_ringbuf_map) + sizeof(struct bpf_ringbuf) +
 * max_entries`, with `sizeof(struct bpf_ringbuf)` = the meta pages. [U] recalled, not read.
 */
function legacyCost(spec: MapSpec, profile: KernelProfile): number {
  return profile.structs.bpf_ringbuf_map + nrMetaPages(profile) * profile.pageSize + spec.maxEntries;
}

/** ringbuf.c: ringbuf_map_alloc() → bpf_ringbuf_alloc() → bpf_ringbuf_area_alloc(). */
function createAllocs(spec: MapSpec, profile: KernelProfile): readonly Alloc[] {
  const meta = nrMetaPages(profile);
  const data = nrDataPages(spec, profile);
  return [
    mapStructAlloc(profile, 'bpf_ringbuf_map', profile.structs.bpf_ringbuf_map),
    alloc(profile, 'page pointers', 'area', 'current', (meta + 2 * data) * profile.structs.pointer),
    // alloc_pages_node(GFP_KERNEL_ACCOUNT | __GFP_RETRY_MAYFAIL | ...) one page at a time, then vmap().
    alloc(profile, 'ring pages', 'pages', 'current', profile.pageSize, meta + data),
  ];
}

function elements(spec: MapSpec): ElementModel | Failure {
  return fail(
    'ENOTSUPP',
    `${spec.type} takes no inserts: records are written by programs (bpf_ringbuf_reserve/output) or user space into the pages allocated at creation and reserve no new memory`,
  );
}

function makeModel(): MapTypeModel {
  return finishModel({ check, normalize: (spec) => spec, memUsage, legacyCost, createAllocs, elements });
}

/** `BPF_MAP_TYPE_RINGBUF`. */
export const ringbufModel: MapTypeModel = makeModel();
/** `BPF_MAP_TYPE_USER_RINGBUF` (same layout; user space produces). */
export const userRingbufModel: MapTypeModel = makeModel();
