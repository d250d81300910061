import { fail, type Failure } from '../../vocab/errno.js';
import type { MapFlag } from '../../vocab/flags.js';
import type { KernelProfile } from '../../vocab/profile.js';
import type { Alloc, ElementModel, MapTypeModel } from './alloc.js';
import { ACCESS_FLAGS, alloc, checkAccessFlags, checkFlags, einval, firstFailure, finishModel, kmallocMaxSize } from './common.js';
import type { MapSpec } from '../../vocab/map-spec.js';

/*
 * kernel/bpf/queue_stack_maps.c: one `struct bpf_queue_stack` followed by a ring of
 * `max_entries + 1` values (one slot stays free to tell full from empty).
 */

/** `QUEUE_STACK_CREATE_FLAG_MASK`. */
const QUEUE_STACK_FLAGS: readonly MapFlag[] = ['numa_node', ...ACCESS_FLAGS];

/** queue_stack_maps.c: queue_stack_map_alloc_check(). */
function check(spec: MapSpec, profile: KernelProfile): Failure | undefined {
  return firstFailure(
    () => (spec.maxEntries === 0 ? einval(spec, 'max_entries must be non-zero') : undefined),
    () => (spec.keySize !== 0 ? einval(spec, `key_size must be 0 (queues and stacks have no keys), not ${spec.keySize}`) : undefined),
    () => (spec.valueSize === 0 ? einval(spec, 'value_size must be non-zero') : undefined),
    () => checkFlags(spec, profile, QUEUE_STACK_FLAGS) ?? checkAccessFlags(spec),
    () =>
      spec.valueSize > kmallocMaxSize(profile)
        ? fail('E2BIG', `${spec.type}: value_size ${spec.valueSize} is over ${kmallocMaxSize(profile)}`)
        : undefined,
  );
}

/** queue_stack_maps.c: queue_stack_map_mem_usage(); also the 5.x precharge and the allocation. */
function queueSize(spec: MapSpec, profile: KernelProfile): number {
  return profile.structs.bpf_queue_stack + (spec.maxEntries + 1) * spec.valueSize;
}

function createAllocs(spec: MapSpec, profile: KernelProfile): readonly Alloc[] {
  // queue_stack_map_alloc(): bpf_map_area_alloc(queue_size).
  return [alloc(profile, 'bpf_queue_stack + elements', 'area', 'current', queueSize(spec, profile))];
}

/**
 * Pushes copy into the preallocated ring; a full ring refuses with E2BIG (unless BPF_EXIST).
 * queue_stack_map_delete_elem() is EINVAL (pops are lookups-and-deletes of the ring, no memory).
 */
function elements(spec: MapSpec): ElementModel {
  return { capacity: spec.maxEntries, whenFull: { errno: 'E2BIG' }, allocs: [], memAllocs: [], deletable: false };
}

function makeModel(): MapTypeModel {
  return finishModel({
    check,
    normalize: (spec) => spec,
    memUsage: (spec, _elements, profile) => queueSize(spec, profile),
    legacyCost: queueSize,
    createAllocs,
    elements,
  });
}

/** `BPF_MAP_TYPE_QUEUE`. */
export const queueModel: MapTypeModel = makeModel();
/** `BPF_MAP_TYPE_STACK`. */
export const stackModel: MapTypeModel = makeModel();
