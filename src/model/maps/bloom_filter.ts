import { fail, type Failure } from '../../vocab/errno.js';
import type { MapFlag } from '../../vocab/flags.js';
import type { KernelProfile } from '../../vocab/profile.js';
import { roundUp, roundUpPow2, UNLIMITED } from '../../vocab/units.js';
import type { Alloc, ElementModel, MapTypeModel } from './alloc.js';
import { ACCESS_FLAGS, alloc, checkAccessFlags, checkFlags, einval, firstFailure, memUsageAsLegacyCost, kmallocMaxSize } from './common.js';
import { U32_MAX } from '../../vocab/limits.js';
import type { MapSpec } from '../../vocab/map-spec.js';

/*
 * kernel/bpf/bloom_filter.c: one `struct bpf_bloom_filter` followed by a bit array sized from
 * `max_entries` and the number of hash functions.
 */

/** `BLOOM_CREATE_FLAG_MASK`. */
const BLOOM_FLAGS: readonly MapFlag[] = ['numa_node', 'zero_seed', ...ACCESS_FLAGS];

/** `BITS_PER_LONG`. */
const BITS_PER_LONG = 64;

/** The number of hash functions: the low 4 bits of `map_extra`, 5 when 0. */
export function bloomHashFuncs(spec: MapSpec): number {
  return spec.mapExtra % 16 || 5;
}

/**
 * bloom_filter.c: bloom_map_alloc(): `nr_bits = max_entries * k / 5 * 7` (≈ n·k/ln 2), at least
 * 64 and rounded up to a power of two; any u32 overflow or more than 2^31 bits gives the
 * largest array, 2^32 bits. Returns `round_up(bitset_bytes, sizeof(long))`.
 */
export function bloomBitsetBytes(spec: MapSpec): number {
  const k = bloomHashFuncs(spec);
  let nrBits = spec.maxEntries * k;
  let bytes: number;
  if (nrBits > U32_MAX || Math.floor(nrBits / 5) * 7 > U32_MAX || Math.floor(nrBits / 5) * 7 > 2 ** 31) {
    bytes = Math.ceil(U32_MAX / 8); // BITS_TO_BYTES(U32_MAX)
  } else {
    nrBits = Math.floor(nrBits / 5) * 7;
    nrBits = nrBits <= BITS_PER_LONG ? BITS_PER_LONG : roundUpPow2(nrBits);
    bytes = Math.ceil(nrBits / 8);
  }
  return roundUp(bytes, 8);
}

/** bloom_filter.c: bloom_map_alloc_check() (E2BIG first), then bloom_map_alloc()'s EINVAL checks. */
function check(spec: MapSpec, profile: KernelProfile): Failure | undefined {
  return firstFailure(
    () =>
      spec.valueSize > kmallocMaxSize(profile)
        ? fail('E2BIG', `${spec.type}: value_size ${spec.valueSize} is over ${kmallocMaxSize(profile)}`)
        : undefined,
    () => (spec.keySize !== 0 ? einval(spec, `key_size must be 0 (a bloom filter is keyless), not ${spec.keySize}`) : undefined),
    () => (spec.valueSize === 0 ? einval(spec, 'value_size must be non-zero') : undefined),
    () => (spec.maxEntries === 0 ? einval(spec, 'max_entries must be non-zero') : undefined),
    () => checkFlags(spec, profile, BLOOM_FLAGS) ?? checkAccessFlags(spec),
    () =>
      spec.mapExtra >= 16 || spec.mapExtra < 0
        ? einval(spec, `only the low 4 bits of map_extra (the number of hash functions, 1–15) may be set, not 0x${spec.mapExtra.toString(16)}`)
        : undefined,
  );
}

/** bloom_filter.c: bloom_map_mem_usage(). */
function memUsage(spec: MapSpec, _elements: number, profile: KernelProfile): number {
  return profile.structs.bpf_bloom_filter + bloomBitsetBytes(spec);
}

function createAllocs(spec: MapSpec, profile: KernelProfile): readonly Alloc[] {
  return [alloc(profile, 'bpf_bloom_filter + bitset', 'area', 'current', memUsage(spec, 0, profile))];
}

/** Pushes set bits in the preallocated array: no limit, no allocation; delete is EOPNOTSUPP. */
function elements(): ElementModel {
  return { capacity: UNLIMITED, whenFull: { errno: 'E2BIG' }, allocs: [], memAllocs: [], deletable: false };
}

/**
 * `BPF_MAP_TYPE_BLOOM_FILTER` (5.16+: after the rlimit era, so `legacyCost` is only a what-if:
 * the size of the one allocation).
 */
export const bloomFilterModel: MapTypeModel = memUsageAsLegacyCost({ check, memUsage, createAllocs, elements });
