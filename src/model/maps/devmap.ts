import type { Failure } from '../../vocab/errno.js';
import type { MapFlag } from '../../vocab/flags.js';
import type { KernelProfile } from '../../vocab/profile.js';
import { roundUpPow2 } from '../../vocab/units.js';
import type { Alloc, ElementModel, MapTypeModel } from './alloc.js';
import { alloc, checkFlags, einval, firstFailure, finishModel, mapStructAlloc, since } from './common.js';
import type { MapSpec } from '../../vocab/map-spec.js';

/*
 * kernel/bpf/devmap.c: a `struct bpf_dtab` with an array of entry pointers (devmap) or a hash
 * of `hlist_head`s (devmap_hash); each entry is a `struct bpf_dtab_netdev` allocated on update.
 */

/** `DEV_CREATE_FLAG_MASK`. */
const DEV_FLAGS: readonly MapFlag[] = ['numa_node', 'rdonly', 'wronly'];

/** `sizeof(struct list_head)`: the per-CPU flush list of 5.4–5.5 dtabs. */
const LIST_HEAD_SIZE = 16;

const isHash = (spec: MapSpec): boolean => spec.type === 'devmap_hash';

/** The bucket array (devmap_hash) or the pointer array (devmap). */
function tableBytes(spec: MapSpec, profile: KernelProfile): number {
  // sizeof(struct hlist_head) and sizeof(struct bpf_dtab_netdev *) are both one pointer.
  return (isHash(spec) ? roundUpPow2(spec.maxEntries) : spec.maxEntries) * profile.structs.pointer;
}

/** devmap.c: dev_map_alloc_check(). */
function check(spec: MapSpec, profile: KernelProfile): Failure | undefined {
  // `struct bpf_devmap_val`: 4 bytes (ifindex), or 8 (ifindex + program fd, 5.8+).
  const sizes = since(profile, 5, 8) ? [4, 8] : [4];
  return firstFailure(
    () => (spec.maxEntries === 0 ? einval(spec, 'max_entries must be non-zero') : undefined),
    () => (spec.keySize !== 4 ? einval(spec, `key_size must be 4, not ${spec.keySize}`) : undefined),
    () =>
      !sizes.includes(spec.valueSize)
        ? einval(spec, `value_size must be ${sizes.join(' or ')} (struct bpf_devmap_val), not ${spec.valueSize}`)
        : undefined,
    () => checkFlags(spec, profile, DEV_FLAGS),
    () => (isHash(spec) && spec.maxEntries > 2 ** 31 ? einval(spec, 'max_entries must be at most 2^31') : undefined),
  );
}

/** devmap.c: dev_map_mem_usage(): the table plus one `bpf_dtab_netdev` per entry. */
function memUsage(spec: MapSpec, elements: number, profile: KernelProfile): number {
  const s = profile.structs;
  return s.bpf_dtab + tableBytes(spec, profile) + elements * s.bpf_dtab_netdev;
}

/**
 * devmap.c (5.x): dev_map_init_map() → `bpf_map_charge_init(cost)`: the table, plus before 5.6
 * the per-CPU flush lists (`sizeof(struct list_head) * NP`, 5.4–5.5; a flush bitmap in 5.3).
 * [U] for the version boundaries (docs/kernel-facts.md §4.2).
 */
function legacyCost(spec: MapSpec, profile: KernelProfile): number {
  // A precharge over RLIMIT_MEMLOCK is EINVAL here, not EPERM: dev_map_init_map() (5.4–5.10)
  // answers `if (err) return -EINVAL;` to bpf_map_charge_init()'s error. Measured in the kernel
  // lab on 5.10.0-46: devmap and devmap_hash one page under their precharge → EINVAL.
  const np = profile.possibleCpus;
  let cost = tableBytes(spec, profile);
  if (!since(profile, 5, 4)) cost += Math.ceil(spec.maxEntries / 64) * 8 * np;
  else if (!since(profile, 5, 6)) cost += LIST_HEAD_SIZE * np;
  return cost;
}

/** devmap.c: dev_map_alloc() → dev_map_init_map(). */
function createAllocs(spec: MapSpec, profile: KernelProfile): readonly Alloc[] {
  return [
    mapStructAlloc(profile, 'bpf_dtab', profile.structs.bpf_dtab),
    alloc(profile, isHash(spec) ? 'dev_index_head' : 'netdev_map', 'area', 'current', tableBytes(spec, profile)),
  ];
}

/**
 * Each entry (an ifindex, needs a real net device): `__dev_map_alloc_node()` →
 * `bpf_map_kmalloc_node(sizeof(struct bpf_dtab_netdev), GFP_NOWAIT)` through the map's memcg
 * (measured +64 B memlock each on 6.18). devmap refuses index ≥ max_entries, devmap_hash a
 * new key when full, both E2BIG.
 */
function elements(spec: MapSpec, profile: KernelProfile): ElementModel {
  return {
    capacity: spec.maxEntries,
    whenFull: { errno: 'E2BIG' },
    allocs: [alloc(profile, 'bpf_dtab_netdev', 'kmalloc', 'map', profile.structs.bpf_dtab_netdev)],
    memAllocs: [],
    deletable: true,
  };
}

function makeModel(): MapTypeModel {
  return finishModel({ check, normalize: (spec) => spec, memUsage, legacyCost, legacyChargeErrno: 'EINVAL', createAllocs, elements });
}

/** `BPF_MAP_TYPE_DEVMAP`. */
export const devmapModel: MapTypeModel = makeModel();
/** `BPF_MAP_TYPE_DEVMAP_HASH`. */
export const devmapHashModel: MapTypeModel = makeModel();
