import { fail, type Failure } from '../../vocab/errno.js';
import { hasFlag, MAP_FLAGS, type MapFlag } from '../../vocab/flags.js';
import type { KernelProfile } from '../../vocab/profile.js';
import { roundUp } from '../../vocab/units.js';
import { atLeast } from '../../vocab/kernel-version.js';
import type { Alloc, AllocShape, MapTypeModel, Payer } from './alloc.js';
import type { MapSpec } from '../../vocab/map-spec.js';
import { U32_MAX } from '../../vocab/limits.js';

/*
 * Helpers shared by the per-family map models: kernel constants that are not struct sizes,
 * flag masks, version gates, and the few checks every type goes through.
 */


/** `MAX_BPF_STACK` (include/linux/filter.h): 512 bytes. */
export const MAX_BPF_STACK = 512;

/**
 * `PCPU_MIN_UNIT_SIZE` (include/linux/percpu.h): 32 KiB, the largest object `pcpu_alloc()` hands
 * out. A per-CPU value larger than this cannot be allocated.
 */
export const PCPU_MIN_UNIT_SIZE = 32 * 1024;

/**
 * `KMALLOC_MAX_SIZE` with SLUB: `1 << (MAX_PAGE_ORDER + PAGE_SHIFT)`, 4 MiB on x86_64 with
 * 4 KiB pages (MAX_PAGE_ORDER = 10). [I] For 16/64 KiB pages MAX_PAGE_ORDER differs per arch;
 * `pageSize << 10` is assumed.
 */
export function kmallocMaxSize(profile: KernelProfile): number {
  return profile.pageSize * 1024;
}

/**
 * The size of the vmalloc area on x86_64 with 4-level paging (32 TiB). An area larger than
 * this cannot be vmalloc'ed on any machine, whatever its RAM: `bpf_map_area_alloc()` returns
 * NULL and map creation fails with ENOMEM. [I] (the kernel also refuses anything larger than
 * total RAM, which the model does not know).
 */
export const VMALLOC_SIZE = 32 * 2 ** 40;

/** `round_up(value_size, 8)`: the value slot of hash elements, array slots, per-CPU values. */
export function vs8(spec: MapSpec): number {
  return roundUp(spec.valueSize, 8);
}

/** `round_up(key_size, 8)`. */
export function ks8(spec: MapSpec): number {
  return roundUp(spec.keySize, 8);
}

/** Whether the profile's version is `major.minor` or newer. */
export function since(profile: KernelProfile, major: number, minor: number): boolean {
  return atLeast(profile.version, major, minor);
}

/**
 * Whether a fix that went into mainline `fixMajor.fixMinor` and was backported to stable lines is in
 * the profile's kernel: `stable` maps `major.minor` of a stable line to its first fixed patch
 * level.
 */
export function hasFix(profile: KernelProfile, [fixMajor, fixMinor]: readonly [number, number], stable: Readonly<Record<string, number>>): boolean {
  if (atLeast(profile.version, fixMajor, fixMinor)) return true;
  const { major, minor, patch } = profile.version;
  const first = stable[`${major}.${minor}`];
  return first !== undefined && patch >= first;
}

/**
 * Who pays for an allocation in this kernel. Before 5.11 no BPF allocation carried
 * `__GFP_ACCOUNT` (docs/kernel-facts.md §4.1: 5.10 `__bpf_map_area_alloc()` has no `__GFP_ACCOUNT`),
 * so every allocation is charged to no memcg; from 5.11 on the allocation path decides.
 */
export function payer(profile: KernelProfile, p: Payer): Payer {
  return since(profile, 5, 11) ? p : 'none';
}

/** Builds an {@link Alloc}, applying {@link payer}; `count` is left out when it is 1. */
export function alloc(
  profile: KernelProfile,
  what: string,
  shape: AllocShape,
  p: Payer,
  size: number,
  count = 1,
): Alloc {
  const base = { what, shape, payer: payer(profile, p), size };
  return count === 1 ? base : { ...base, count };
}

/**
 * The allocation of a map's own struct where it moved from `kzalloc(GFP_USER | __GFP_ACCOUNT)`
 * to `bpf_map_area_alloc()` ("bpf: Use bpf_map_area_alloc consistently on bpf map creation",
 * Yafang Shao, 2022; 6.0 assumed [I]). Either way the creating task pays.
 */
export function mapStructAlloc(profile: KernelProfile, what: string, size: number): Alloc {
  return alloc(profile, what, since(profile, 6, 0) ? 'area' : 'kmalloc', 'current', size);
}

/**
 * The per-CPU `struct bpf_mem_cache` array of a `bpf_mem_alloc` (kernel/bpf/memalloc.c:
 * `bpf_mem_alloc_init()` → `__alloc_percpu_gfp(sizeof(*pc), 8, GFP_KERNEL)`, not accounted).
 * Its objects (prefill and refills) are described by {@link MemAllocUnit}s of the element model.
 */
export function memAllocCaches(profile: KernelProfile, what: string): Alloc {
  return alloc(profile, what, 'percpu', 'none', profile.structs.bpf_mem_cache);
}

/** The access flags of `BPF_F_ACCESS_MASK`. */
export const ACCESS_FLAGS: readonly MapFlag[] = ['rdonly', 'rdonly_prog', 'wronly', 'wronly_prog'];

/**
 * The release that introduced each map flag (include/uapi/linux/bpf.h history). A flag a kernel
 * does not know falls outside every type's mask there and is refused with EINVAL. [U] for
 * zero_seed (5.0), clone (5.2), link (6.4 for struct_ops), vtype_btf_obj_fd / segv_on_fault /
 * no_user_conv / token_fd (6.9).
 */
const FLAG_SINCE: Readonly<Record<MapFlag, readonly [number, number]>> = {
  no_prealloc: [4, 6],
  no_common_lru: [4, 10],
  numa_node: [4, 14],
  rdonly: [4, 15],
  wronly: [4, 15],
  stack_build_id: [4, 18],
  zero_seed: [5, 0],
  rdonly_prog: [5, 2],
  wronly_prog: [5, 2],
  clone: [5, 2],
  mmapable: [5, 5],
  preserve_elems: [5, 10],
  inner_map: [5, 10],
  link: [6, 4],
  path_fd: [6, 5],
  vtype_btf_obj_fd: [6, 9],
  token_fd: [6, 9],
  segv_on_fault: [6, 9],
  no_user_conv: [6, 9],
};

/** The flag names set in `flags`, in bit order. */
export function flagNames(flags: number): MapFlag[] {
  return (Object.keys(MAP_FLAGS) as MapFlag[]).filter((f) => hasFlag(flags, f));
}

/**
 * The kernel's `flags & ~MASK → -EINVAL` check of one map type: refuses any bit outside
 * `allowed`, and any allowed flag that this kernel version does not know yet.
 */
export function checkFlags(
  spec: MapSpec,
  profile: KernelProfile,
  allowed: readonly MapFlag[],
): Failure | undefined {
  let mask = 0;
  for (const f of allowed) {
    const [major, minor] = FLAG_SINCE[f];
    if (atLeast(profile.version, major, minor)) mask |= MAP_FLAGS[f];
  }
  const extra = (spec.flags & ~mask) >>> 0;
  if (extra === 0) return undefined;
  const names = flagNames(extra);
  const unknownBits = (extra & ~names.reduce((m, f) => m | MAP_FLAGS[f], 0)) >>> 0;
  const shown = [...names, ...(unknownBits ? [`0x${unknownBits.toString(16)}`] : [])].join('+');
  const known = allowed.filter((f) => (mask & MAP_FLAGS[f]) !== 0);
  return fail(
    'EINVAL',
    `${spec.type} does not take flag ${shown} on ${profile.release}; it accepts ${known.length ? known.join(', ') : 'no flags'}`,
  );
}

/**
 * `bpf_map_flags_access_ok()` (include/linux/bpf.h): a map cannot be both read-only and
 * write-only for programs.
 */
export function checkAccessFlags(spec: MapSpec): Failure | undefined {
  if (hasFlag(spec.flags, 'rdonly_prog') && hasFlag(spec.flags, 'wronly_prog')) {
    return fail('EINVAL', `${spec.type}: rdonly_prog and wronly_prog together make no sense; pick one`);
  }
  return undefined;
}

/** `fail('EINVAL', …)` with the type name in front. */
export function einval(spec: MapSpec, why: string): Failure {
  return fail('EINVAL', `${spec.type}: ${why}`);
}

/** The first failure of a list of lazily evaluated checks. */
export function firstFailure(...checks: readonly (() => Failure | undefined)[]): Failure | undefined {
  for (const c of checks) {
    const f = c();
    if (f) return f;
  }
  return undefined;
}

/**
 * Bytes an allocation list takes in memory: per-CPU allocations count once per possible CPU,
 * `pages` allocations in whole pages. This is the size the kernel asked for, not what memcg is
 * charged (slab classes, vmalloc page rounding and percpu metadata are the charger's business).
 */
export function allocBytes(allocs: readonly Alloc[], profile: KernelProfile): number {
  let total = 0;
  for (const a of allocs) {
    const n = a.count ?? 1;
    const per = a.shape === 'percpu' ? a.size * profile.possibleCpus : a.size;
    total += per * n;
  }
  return total;
}

/**
 * Refusals that come from the allocators rather than from the type's own checks: a per-CPU
 * object above {@link PCPU_MIN_UNIT_SIZE} (`pcpu_alloc()` returns NULL → ENOMEM), a kmalloc
 * above `KMALLOC_MAX_SIZE`, an area larger than the vmalloc space (ENOMEM on any machine).
 */
export function checkAllocatable(spec: MapSpec, allocs: readonly Alloc[], profile: KernelProfile): Failure | undefined {
  for (const a of allocs) {
    if (a.shape === 'percpu' && a.size > PCPU_MIN_UNIT_SIZE) {
      return fail(
        'ENOMEM',
        `${spec.type}: ${a.what} needs ${a.size} bytes per CPU, more than the per-CPU allocator's ${PCPU_MIN_UNIT_SIZE}-byte limit; use a value of at most ${PCPU_MIN_UNIT_SIZE} bytes`,
      );
    }
    if (a.shape === 'kmalloc' && a.size > kmallocMaxSize(profile)) {
      return fail('ENOMEM', `${spec.type}: ${a.what} of ${a.size} bytes is larger than kmalloc can give`);
    }
    if (a.size * (a.shape === 'pages' ? (a.count ?? 1) : 1) > VMALLOC_SIZE) {
      return fail('ENOMEM', `${spec.type}: ${a.what} of ${a.size} bytes is larger than any vmalloc area; make the map smaller`);
    }
  }
  return undefined;
}

/**
 * The legacy precharge refusal of `bpf_map_charge_init()` (5.3–5.10): a cost of
 * `U32_MAX - PAGE_SIZE` or more gives E2BIG before anything is charged.
 */
export function checkLegacyCost(spec: MapSpec, cost: number, profile: KernelProfile): Failure | undefined {
  if (profile.eras.fdinfoMemlock !== 'precharge') return undefined;
  if (cost >= U32_MAX - profile.pageSize) {
    return fail(
      'E2BIG',
      `${spec.type}: the memlock precharge of ${cost} bytes does not fit the kernel's 32-bit page count; make the map smaller`,
    );
  }
  return undefined;
}

/**
 * The model of a map type whose specs need no normalizing and whose `legacyCost`, the precharge
 * before 5.11, is its memory use when empty: types that came after the rlimit era (bloom filter,
 * insn_array, rhash), where that cost is only a what-if, and those whose old precharge was the
 * same sum (local storage). Completed by {@link finishModel}.
 */
export function memUsageAsLegacyCost(m: Omit<MapTypeModel, 'normalize' | 'legacyCost'>): MapTypeModel {
  return finishModel({ ...m, normalize: (spec) => spec, legacyCost: (spec, profile) => m.memUsage(spec, 0, profile) });
}

/**
 * Completes a model: its `check` is followed by the refusals every map goes through after the
 * type's own checks (the legacy precharge limit, then the allocators' limits).
 */
export function finishModel(m: MapTypeModel): MapTypeModel {
  return {
    ...m,
    check(spec, profile) {
      const own = m.check(spec, profile);
      if (own) return own;
      const n = m.normalize(spec, profile);
      return checkLegacyCost(n, m.legacyCost(n, profile), profile) ?? checkAllocatable(n, m.createAllocs(n, profile), profile);
    },
  };
}
