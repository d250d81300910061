import { fail, type Failure } from '../../vocab/errno.js';
import { hasFlag, MAP_FLAGS } from '../../vocab/flags.js';
import { isMapType, MAP_TYPES, type MapType } from '../../vocab/maptypes.js';
import type { KernelProfile } from '../../vocab/profile.js';
import { atLeast, parseKernelVersion } from '../../vocab/kernel-version.js';
import type { MapTypeModel } from './alloc.js';
import { arenaModel } from './arena.js';
import { arrayModel, arrayOfMapsModel, cgroupArrayModel, perfEventArrayModel, percpuArrayModel, progArrayModel } from './array.js';
import { bloomFilterModel } from './bloom_filter.js';
import { cgroupStorageModel, percpuCgroupStorageModel } from './cgroup_storage.js';
import { cpumapModel } from './cpumap.js';
import { devmapHashModel, devmapModel } from './devmap.js';
import { hashModel, hashOfMapsModel, lruHashModel, lruPercpuHashModel, percpuHashModel } from './hash.js';
import { insnArrayModel } from './insn_array.js';
import { cgrpStorageModel, inodeStorageModel, skStorageModel, taskStorageModel } from './local_storage.js';
import { lpmTrieModel } from './lpm_trie.js';
import { queueModel, stackModel } from './queue_stack.js';
import { reuseportModel } from './reuseport.js';
import { rhashModel } from './rhash.js';
import { ringbufModel, userRingbufModel } from './ringbuf.js';
import { sockhashModel, sockmapModel } from './sockmap.js';
import type { MapSpec } from '../../vocab/map-spec.js';
import { stackTraceModel } from './stack_trace.js';
import { structOpsModel } from './struct_ops.js';
import { xskmapModel } from './xskmap.js';

export type { Alloc, AllocShape, ElementModel, MapTypeModel, MemAllocUnit, Payer } from './alloc.js';
export { allocBytes } from './common.js';

/** Every map type's model. A `Record` over `MapType`, so a type without a model does not compile. */
const MODELS: Readonly<Record<MapType, MapTypeModel>> = {
  hash: hashModel,
  array: arrayModel,
  prog_array: progArrayModel,
  perf_event_array: perfEventArrayModel,
  percpu_hash: percpuHashModel,
  percpu_array: percpuArrayModel,
  stack_trace: stackTraceModel,
  cgroup_array: cgroupArrayModel,
  lru_hash: lruHashModel,
  lru_percpu_hash: lruPercpuHashModel,
  lpm_trie: lpmTrieModel,
  array_of_maps: arrayOfMapsModel,
  hash_of_maps: hashOfMapsModel,
  devmap: devmapModel,
  sockmap: sockmapModel,
  cpumap: cpumapModel,
  xskmap: xskmapModel,
  sockhash: sockhashModel,
  cgroup_storage: cgroupStorageModel,
  reuseport_sockarray: reuseportModel,
  percpu_cgroup_storage: percpuCgroupStorageModel,
  queue: queueModel,
  stack: stackModel,
  sk_storage: skStorageModel,
  devmap_hash: devmapHashModel,
  struct_ops: structOpsModel,
  ringbuf: ringbufModel,
  inode_storage: inodeStorageModel,
  task_storage: taskStorageModel,
  bloom_filter: bloomFilterModel,
  user_ringbuf: userRingbufModel,
  cgrp_storage: cgrpStorageModel,
  arena: arenaModel,
  insn_array: insnArrayModel,
  rhash: rhashModel,
};

/** The memory model of a map type. */
export function mapTypeModel(type: MapType): MapTypeModel {
  return MODELS[type];
}

/** Whether this kernel has the map type (`MAP_TYPES[type].since`). */
export function mapTypeExists(type: MapType, profile: KernelProfile): boolean {
  const v = parseKernelVersion(MAP_TYPES[type].since);
  return v !== undefined && atLeast(profile.version, v.major, v.minor);
}

/**
 * Types that take `map_extra`: bloom_filter (5.16, the field's birth), arena (6.9) and rhash
 * (7.2: the table size hint; kernel/bpf/syscall.c map_create() lets `BPF_MAP_TYPE_RHASH` through).
 */
function takesMapExtra(type: MapType, profile: KernelProfile): boolean {
  return (type === 'bloom_filter' || type === 'arena' || type === 'rhash') && mapTypeExists(type, profile);
}

/**
 * Whether BPF_MAP_CREATE on this kernel would refuse the spec, and why: the generic checks of
 * `map_create()` (kernel/bpf/syscall.c) in the kernel's order, then the type's own checks
 * ({@link MapTypeModel.check}, which also covers the allocators' limits):
 * 1. `BPF_F_TOKEN_FD` is taken off the flags (6.9+; older kernels refuse the unknown bit in the
 *    type's flag mask). The token itself is not modelled.
 * 2. `map_extra` on a type that does not take it → EINVAL.
 * 3. `bpf_get_file_flag()`: `rdonly` with `wronly` → EINVAL.
 * 4. A type this kernel does not have (`bpf_map_types[type]` is NULL) → EINVAL.
 * Permission checks (EPERM without CAP_BPF / CAP_NET_ADMIN, `unprivileged_bpf_disabled`) and the
 * NUMA node check are not modelled: the model's creator is privileged.
 */
export function checkMapCreate(spec: MapSpec, profile: KernelProfile): Failure | undefined {
  const type: string = spec.type;
  if (!isMapType(type)) return fail('EINVAL', `"${type}" is not a BPF map type`);
  const exists = mapTypeExists(spec.type, profile);
  const missing = `${spec.type} needs Linux ${MAP_TYPES[spec.type].since}; ${profile.release} does not have it`;
  let s = spec;
  if (hasFlag(s.flags, 'token_fd') && atLeast(profile.version, 6, 9)) {
    s = { ...s, flags: (s.flags & ~MAP_FLAGS.token_fd) >>> 0 };
  }
  if (s.mapExtra !== 0 && !takesMapExtra(s.type, profile)) {
    return fail(
      'EINVAL',
      exists
        ? `${s.type} does not take map_extra: only bloom_filter (hash count), arena (address) and rhash (table size hint, 7.2+) do; set it to 0`
        : `map_extra is refused before the type is looked up; and ${missing}`,
    );
  }
  if (hasFlag(s.flags, 'rdonly') && hasFlag(s.flags, 'wronly')) {
    return fail('EINVAL', `${s.type}: rdonly and wronly together leave no access; pick one`);
  }
  if (!exists) return fail('EINVAL', missing);
  return MODELS[s.type].check(s, profile);
}
