import { fail, type Failure } from '../../vocab/errno.js';
import { hasFlag, type MapFlag } from '../../vocab/flags.js';
import type { KernelProfile } from '../../vocab/profile.js';
import { roundUpPow2 } from '../../vocab/units.js';
import type { Alloc, ElementModel, MapTypeModel } from './alloc.js';
import { alloc, checkFlags, einval, firstFailure, finishModel } from './common.js';
import type { MapSpec } from '../../vocab/map-spec.js';

/*
 * kernel/bpf/stackmap.c: a `struct bpf_stack_map` with `roundup_pow_of_two(max_entries)` bucket
 * pointers, and `max_entries` preallocated `stack_map_bucket`s kept on a per-CPU free list.
 */

/** `STACK_CREATE_FLAG_MASK`. */
const STACK_FLAGS: readonly MapFlag[] = ['numa_node', 'rdonly', 'wronly', 'stack_build_id'];

/**
 * `sysctl_perf_event_max_stack` (kernel.perf_event_max_stack): 127 by default
 * (PERF_MAX_STACK_DEPTH); the model assumes the default.
 */
const PERF_MAX_STACK_DEPTH = 127;

/** `sizeof(struct bpf_stack_build_id)`: s32 status, 20-byte build id, u64 offset/ip. */
const BPF_STACK_BUILD_ID_SIZE = 32;

/** `struct pcpu_freelist_head` (16 B, uncharged; see hash.ts). */
const PCPU_FREELIST_HEAD_SIZE = 16;

function nBuckets(spec: MapSpec): number {
  return roundUpPow2(spec.maxEntries);
}

/** stackmap.c: stack_map_alloc()'s checks. */
function check(spec: MapSpec, profile: KernelProfile): Failure | undefined {
  const buildId = hasFlag(spec.flags, 'stack_build_id');
  return firstFailure(
    () => checkFlags(spec, profile, STACK_FLAGS),
    () => (spec.maxEntries === 0 ? einval(spec, 'max_entries must be non-zero') : undefined),
    () => (spec.keySize !== 4 ? einval(spec, `key_size must be 4 (a stack id), not ${spec.keySize}`) : undefined),
    () =>
      spec.valueSize < 8 || spec.valueSize % 8 !== 0
        ? einval(spec, `value_size must be a non-zero multiple of 8 (u64 addresses), not ${spec.valueSize}`)
        : undefined,
    () => {
      const unit = buildId ? BPF_STACK_BUILD_ID_SIZE : 8;
      if (buildId && spec.valueSize % unit !== 0) {
        return einval(spec, `with stack_build_id value_size must be a multiple of ${unit}, not ${spec.valueSize}`);
      }
      return spec.valueSize / unit > PERF_MAX_STACK_DEPTH
        ? einval(spec, `value_size ${spec.valueSize} holds more than kernel.perf_event_max_stack (${PERF_MAX_STACK_DEPTH} assumed) frames`)
        : undefined;
    },
    () => (spec.maxEntries > 2 ** 31 ? fail('E2BIG', `${spec.type}: max_entries ${spec.maxEntries} is over 2^31`) : undefined),
  );
}

/** stackmap.c: stack_map_mem_usage(). */
function memUsage(spec: MapSpec, _elements: number, profile: KernelProfile): number {
  const s = profile.structs;
  return s.bpf_stack_map + nBuckets(spec) * s.pointer + spec.maxEntries * (s.stack_map_bucket + spec.valueSize);
}

/**
 * stackmap.c (5.3–5.10): `bpf_map_charge_init(&mem, cost + attr->max_entries *
 * (sizeof(struct stack_map_bucket) + value_size))` with `cost = n_buckets * sizeof(bucket *) +
 * sizeof(*smap)`: the elements counted per entry, as they are allocated. That is the 5.10.y
 * stable backport of "bpf: Fix excessive memory allocation in stack_map_alloc()" (v5.18) and its
 * follow-up to the charge (Yuntao Wang, 2022), which every Debian 5.10 kernel carries; older
 * 5.x counted `n_buckets` elements. Measured in the kernel lab on 5.10.0-46: k4 v1016 max 1000
 * precharges 255 pages, one page under it is EPERM.
 */
function legacyCost(spec: MapSpec, profile: KernelProfile): number {
  const s = profile.structs;
  return s.bpf_stack_map + nBuckets(spec) * s.pointer + spec.maxEntries * (spec.valueSize + s.stack_map_bucket);
}

/**
 * stackmap.c: stack_map_alloc() (map + bucket pointers in one area), then
 * prealloc_elems_and_freelist(). `get_callchain_buffers()` takes a reference on the global
 * per-CPU callchain buffers shared by perf; they are not the map's and not modelled.
 */
function createAllocs(spec: MapSpec, profile: KernelProfile): readonly Alloc[] {
  const s = profile.structs;
  return [
    alloc(profile, 'bpf_stack_map + buckets', 'area', 'current', s.bpf_stack_map + nBuckets(spec) * s.pointer),
    alloc(profile, 'elems', 'area', 'current', (s.stack_map_bucket + spec.valueSize) * spec.maxEntries),
    alloc(profile, 'pcpu_freelist', 'percpu', 'none', PCPU_FREELIST_HEAD_SIZE),
  ];
}

/**
 * Stacks are stored by programs (`bpf_get_stackid()`) into preallocated buckets popped from
 * the free list: nothing is allocated; with the list empty the helper returns -ENOMEM.
 * stack_map_delete_elem() pushes the bucket back on the free list.
 */
function elements(spec: MapSpec): ElementModel {
  return { capacity: spec.maxEntries, whenFull: { errno: 'ENOMEM' }, allocs: [], memAllocs: [], deletable: true };
}

/** `BPF_MAP_TYPE_STACK_TRACE`. */
export const stackTraceModel: MapTypeModel = finishModel({
  check,
  normalize: (spec) => spec,
  memUsage,
  legacyCost,
  createAllocs,
  elements,
});
