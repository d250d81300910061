import { fail, type Failure } from '../../vocab/errno.js';
import type { MapFlag } from '../../vocab/flags.js';
import type { KernelProfile } from '../../vocab/profile.js';
import { UNLIMITED } from '../../vocab/units.js';
import type { Alloc, ElementModel, MapTypeModel } from './alloc.js';
import {
  ACCESS_FLAGS,
  alloc,
  checkAccessFlags,
  checkFlags,
  einval,
  firstFailure,
  finishModel,
  mapStructAlloc,
  PCPU_MIN_UNIT_SIZE,
  since,
} from './common.js';
import { localStorageMaxValueSize } from './local_storage.js';
import type { MapSpec } from '../../vocab/map-spec.js';

/*
 * kernel/bpf/local_storage.c: the (per-CPU) cgroup storage map is only a
 * `struct bpf_cgroup_storage_map`; one storage per (cgroup, attach type) is allocated when a
 * program using the map is attached.
 */

/** `LOCAL_STORAGE_CREATE_FLAG_MASK`. */
const CGROUP_STORAGE_FLAGS: readonly MapFlag[] = ['numa_node', ...ACCESS_FLAGS];

/** `sizeof(struct bpf_cgroup_storage_key)`: cgroup inode id (u64) + attach type (u32), padded. */
const CGROUP_STORAGE_KEY_SIZE = 16;

/** `sizeof(struct bpf_storage_buffer)`: an `rcu_head` before the value. [I] */
const BPF_STORAGE_BUFFER_SIZE = 16;

const isPercpu = (spec: MapSpec): boolean => spec.type === 'percpu_cgroup_storage';

/** The largest value: the local storage bound (5.9+ [U]; one page before), 32 KiB for per-CPU. */
function maxValueSize(spec: MapSpec, profile: KernelProfile): number {
  const max = since(profile, 5, 9) ? localStorageMaxValueSize(profile) : profile.pageSize;
  return isPercpu(spec) ? Math.min(max, PCPU_MIN_UNIT_SIZE) : max;
}

/** local_storage.c: cgroup_storage_map_alloc(). */
function check(spec: MapSpec, profile: KernelProfile): Failure | undefined {
  // A bare u64 cgroup id key came with "bpf: Make cgroup storages shared between programs on
  // the same cgroup" (5.9 [U]).
  const keys = since(profile, 5, 9) ? [CGROUP_STORAGE_KEY_SIZE, 8] : [CGROUP_STORAGE_KEY_SIZE];
  const max = maxValueSize(spec, profile);
  return firstFailure(
    () =>
      !keys.includes(spec.keySize)
        ? einval(spec, `key_size must be ${keys.join(' or ')} (struct bpf_cgroup_storage_key or a cgroup id), not ${spec.keySize}`)
        : undefined,
    () => (spec.valueSize === 0 ? einval(spec, 'value_size must be non-zero') : undefined),
    () => (spec.valueSize > max ? fail('E2BIG', `${spec.type}: value_size ${spec.valueSize} is over ${max}`) : undefined),
    () => checkFlags(spec, profile, CGROUP_STORAGE_FLAGS) ?? checkAccessFlags(spec),
    () =>
      spec.maxEntries !== 0
        ? einval(spec, `max_entries must be 0 (storages are created per attached cgroup), not ${spec.maxEntries}`)
        : undefined,
  );
}

/**
 * One storage per (cgroup, attach type), at program attach: local_storage.c:
 * bpf_cgroup_storage_alloc() → `bpf_map_kmalloc_node(sizeof(struct bpf_cgroup_storage))`, then
 * the value: `bpf_map_kmalloc_node(sizeof(struct bpf_storage_buffer) + value_size)` (shared) or
 * `bpf_map_alloc_percpu(value_size)` (per-CPU). Not counted in memlock from 5.11; before, each
 * storage is precharged to the map's user and counted in its memlock (`legacyPages`). [S] They
 * are freed when the program is detached; BPF_MAP_DELETE_ELEM is EINVAL
 * (cgroup_storage_delete_elem()).
 */
function elements(spec: MapSpec, profile: KernelProfile): ElementModel {
  const storage = alloc(profile, 'bpf_cgroup_storage', 'kmalloc', 'map', profile.structs.bpf_cgroup_storage);
  const value = isPercpu(spec)
    ? alloc(profile, 'percpu_buf', 'percpu', 'map', spec.valueSize)
    : alloc(profile, 'buf', 'kmalloc', 'map', BPF_STORAGE_BUFFER_SIZE + spec.valueSize);
  // 5.10 bpf_cgroup_storage_calculate_size(): what bpf_map_charge_memlock() precharges per storage.
  const bytes = isPercpu(spec)
    ? Math.ceil(spec.valueSize / 8) * 8 * profile.possibleCpus
    : profile.structs.bpf_cgroup_storage + BPF_STORAGE_BUFFER_SIZE + spec.valueSize;
  const legacyPages = Math.ceil(bytes / profile.pageSize);
  return { capacity: UNLIMITED, whenFull: { errno: 'ENOMEM' }, allocs: [storage, value], memAllocs: [], deletable: false, legacyPages };
}

function makeModel(): MapTypeModel {
  return finishModel({
    check,
    normalize: (spec) => spec,
    // local_storage.c: cgroup_storage_map_usage(): the map struct only.
    memUsage: (_spec, _elements, profile) => profile.structs.bpf_cgroup_storage_map,
    // local_storage.c (5.x): bpf_map_charge_init(sizeof(struct bpf_cgroup_storage_map)); each
    // storage is charged at attach with bpf_map_charge_memlock() (`legacyPages` of elements()).
    legacyCost: (_spec, profile) => profile.structs.bpf_cgroup_storage_map,
    createAllocs: (_spec, profile): readonly Alloc[] => [
      mapStructAlloc(profile, 'bpf_cgroup_storage_map', profile.structs.bpf_cgroup_storage_map),
    ],
    elements,
  });
}

/** `BPF_MAP_TYPE_CGROUP_STORAGE`. */
export const cgroupStorageModel: MapTypeModel = makeModel();
/** `BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE`. */
export const percpuCgroupStorageModel: MapTypeModel = makeModel();
