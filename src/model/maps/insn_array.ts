import type { Failure } from '../../vocab/errno.js';
import type { KernelProfile } from '../../vocab/profile.js';
import type { Alloc, ElementModel, MapTypeModel } from './alloc.js';
import { alloc, checkFlags, einval, firstFailure, memUsageAsLegacyCost } from './common.js';
import type { MapSpec } from '../../vocab/map-spec.js';

/*
 * BPF_MAP_TYPE_INSN_ARRAY (6.19+): kernel/bpf/bpf_insn_array.c (read in Debian's
 * linux-source-7.2). One `struct bpf_insn_array` (the map, an `atomic_t used`, the `long *ips`
 * pointer) followed by `max_entries` values (`struct bpf_insn_array_value`) and then
 * `max_entries` longs (`ips`, the jitted addresses the program jumps through), all in one
 * `bpf_map_area_alloc()`. libbpf creates one per `.jumptables` table with plain BPF_MAP_CREATE
 * (tools/lib/bpf/libbpf.c, 7.2), fills it with BPF_MAP_UPDATE_ELEM and freezes it before
 * BPF_PROG_LOAD: `bpf_insn_array_init()` refuses an unfrozen map (EINVAL) and a second program
 * (EBUSY). None of that allocates: the program only writes `xlated_off`, `jitted_off` and `ips`.
 */

/**
 * `sizeof(struct bpf_insn_array_value)` (include/uapi/linux/bpf.h, 6.19+: `orig_off`,
 * `xlated_off`, `jitted_off` and a 32-bit pad, all `__u32`): the only value_size the map takes.
 */
export const INSN_ARRAY_VALUE_SIZE = 16;

/**
 * bpf_insn_array.c: insn_array_alloc_check(), one test, EINVAL: `max_entries == 0 ||
 * key_size != 4 || value_size != sizeof(struct bpf_insn_array_value) || map_flags != 0`. No
 * flag at all is taken (`BPF_F_TOKEN_FD` is cleared by map_create() before); the map gets
 * `BPF_F_RDONLY_PROG` itself in insn_array_alloc(). map_create() asks CAP_BPF (EPERM; the
 * model's creator has it).
 */
function check(spec: MapSpec, profile: KernelProfile): Failure | undefined {
  return firstFailure(
    () => (spec.maxEntries === 0 ? einval(spec, 'max_entries must be non-zero') : undefined),
    () => (spec.keySize !== 4 ? einval(spec, `key_size must be 4 (a u32 index), not ${spec.keySize}`) : undefined),
    () =>
      spec.valueSize !== INSN_ARRAY_VALUE_SIZE
        ? einval(spec, `value_size must be ${INSN_ARRAY_VALUE_SIZE} (struct bpf_insn_array_value), not ${spec.valueSize}`)
        : undefined,
    () => checkFlags(spec, profile, []),
  );
}

/**
 * bpf_insn_array.c: insn_array_mem_usage() = insn_array_alloc_size(max_entries) =
 * `sizeof(struct bpf_insn_array) + max_entries * (sizeof(struct bpf_insn_array_value) +
 * sizeof(long))` (u64; no overflow check, none needed). Independent of the contents.
 */
function memUsage(spec: MapSpec, _elements: number, profile: KernelProfile): number {
  return profile.structs.bpf_insn_array + spec.maxEntries * (INSN_ARRAY_VALUE_SIZE + profile.structs.pointer);
}

/**
 * bpf_insn_array.c: insn_array_alloc(): `bpf_map_area_alloc(insn_array_alloc_size(max_entries),
 * NUMA_NO_NODE)`, the creator pays (path 1); nothing else.
 */
function createAllocs(spec: MapSpec, profile: KernelProfile): readonly Alloc[] {
  return [alloc(profile, 'bpf_insn_array + values + ips', 'area', 'current', memUsage(spec, 0, profile))];
}

/**
 * Every slot exists from creation. insn_array_update_elem(): `index >= max_entries` → E2BIG,
 * BPF_NOEXIST → EEXIST, a value with `xlated_off` or `jitted_off` set → EINVAL; it writes
 * `orig_off` in place and allocates nothing (updates of a frozen map fail in map_update_elem()
 * with EPERM, not modelled). insn_array_delete_elem() is EINVAL.
 */
function elements(spec: MapSpec): ElementModel {
  return { capacity: spec.maxEntries, whenFull: { errno: 'E2BIG' }, allocs: [], memAllocs: [], deletable: false };
}

/**
 * `BPF_MAP_TYPE_INSN_ARRAY` (6.19+, after the rlimit era: `legacyCost` is only a what-if, the
 * size of the one allocation).
 */
export const insnArrayModel: MapTypeModel = memUsageAsLegacyCost({ check, memUsage, createAllocs, elements });
