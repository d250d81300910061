import { fail, type Failure } from '../vocab/errno.js';
import { defaultStructSizes, type StructSizes } from './structs.js';
import { atLeast, formatVersion, parseKernelVersion, type KernelVersion } from '../vocab/kernel-version.js';

/**
 * How BPF memory is accounted:
 * - `memcg`: charged to memory cgroups (5.11+);
 * - `memlock`: precharged to the creating user's `locked_vm` against RLIMIT_MEMLOCK (≤ 5.10);
 * - `none`: not accounted at all (`cgroup.memory=nobpf` on 6.3+, or `cgroup.memory=nokmem`).
 */
export type Regime = 'memcg' | 'memlock' | 'none';

/** The cgroup hierarchy version the memory controller is mounted on. */
export type CgroupVersion = 1 | 2;

/**
 * Kernel behaviours that changed between versions and change results. Each follows the
 * version; the regime is separate (a what-if such as "6.18 with the old memlock rule" keeps
 * the version's struct sizes).
 */
export interface Eras {
  /**
   * What fdinfo `memlock` reports: the pages precharged to `locked_vm` (≤ 5.10), the
   * `bpf_map_memory_footprint()` estimate (5.11–6.3), or `map->ops->map_mem_usage()` (6.4+).
   */
  readonly fdinfoMemlock: 'precharge' | 'footprint' | 'mem_usage';
  /**
   * How a map holds its cgroup: `memcg` pins the `mem_cgroup` (5.11–5.19; a removed cgroup
   * lives on as a dying memcg that keeps being charged), `objcg` holds an `obj_cgroup` that is
   * reparented when the cgroup is removed (6.0+, "bpf: reparent bpf maps on memcg offlining").
   */
  readonly mapCgroupRef: 'memcg' | 'objcg';
  /**
   * GFP of update-time element allocations: `atomic` (GFP_ATOMIC, force-charged past
   * `memory.max`, 5.11–5.19) or `nowait` (GFP_NOWAIT, fails with ENOMEM; commit ace2bee839e0
   * "bpf: Make non-preallocated allocation low priority", 6.0).
   */
  readonly updateGfp: 'atomic' | 'nowait';
  /**
   * Where no-prealloc hash elements come from: `kmalloc` per element through
   * `bpf_map_kmalloc_node()` (5.11–6.0) or the `bpf_mem_alloc` per-CPU caches (6.1+,
   * "bpf: Convert hash map to bpf_mem_alloc").
   */
  readonly noPreallocAllocator: 'kmalloc' | 'bpf_mem_alloc';
  /**
   * Whether allocations made through the map helpers (`bpf_map_alloc_percpu()`,
   * `bpf_map_kmalloc_node()`, …) inside `map_alloc()` are charged to the creator. On 5.11–5.19
   * `map->memcg` is still NULL there and `set_active_memcg(NULL)` changes nothing, so the
   * creator pays. On 6.0+ `bpf_map_get_memcg()` returns `root_mem_cgroup` for a NULL objcg and
   * the charge is skipped: measured on 6.1, 6.12 and 6.18 (kernel-facts.md §1.5).
   */
  readonly createTimeMapHelpersCharged: boolean;
  /** `MEMCG_CHARGE_BATCH` in pages: 32 before 6.1, 64 since. */
  readonly memcgChargeBatchPages: number;
  /**
   * `NR_MEMCG_STOCK`: how many memcgs one CPU's charge stock holds: 7 (6.18's BTF shows
   * `cached[7]`), 1 in older kernels; the multi-memcg stock is taken to start with 6.16 [U].
   */
  readonly memcgStockSlots: number;
  /** The default RLIMIT_MEMLOCK: 64 KiB before 5.16, 8 MiB since ("Increase default MLOCK_LIMIT to 8 MiB"). */
  readonly defaultMemlockRlimit: number;
}

/** Everything about a kernel that the model's results depend on. */
export interface KernelProfile {
  /** The release as given (`6.18`, `6.18.44-fc-v782`). */
  readonly release: string;
  readonly version: KernelVersion;
  /** `num_possible_cpus()`: per-CPU memory is allocated for every possible CPU. */
  readonly possibleCpus: number;
  readonly pageSize: number;
  readonly cgroupVersion: CgroupVersion;
  readonly regime: Regime;
  readonly eras: Eras;
  readonly structs: StructSizes;
}

/** What a profile may be built from; everything but the version has a default. */
export interface ProfileInput {
  readonly version: string;
  readonly cpus?: number;
  readonly pageSize?: number;
  readonly cgroup?: CgroupVersion;
  readonly regime?: Regime;
  readonly structs?: Partial<StructSizes>;
}

/** The kernel bpfmem was calibrated on (kernel-facts.md §0). */
export const DEFAULT_RELEASE = '6.18';

/**
 * The cgroup version when none is given: v1, as on the machine bpfmem was calibrated on. It
 * decides `memory.high` (v2 only), "no internal processes" (v2 only) and what lowering
 * `memory.max` below usage does (v1: EBUSY; v2: reclaim, then OOM).
 */
export const DEFAULT_CGROUP_VERSION: CgroupVersion = 1;

/** The eras of a version. */
export function erasFor(version: KernelVersion): Eras {
  const memcgEra = atLeast(version, 5, 11);
  return {
    fdinfoMemlock: !memcgEra ? 'precharge' : atLeast(version, 6, 4) ? 'mem_usage' : 'footprint',
    mapCgroupRef: atLeast(version, 6, 0) ? 'objcg' : 'memcg',
    updateGfp: atLeast(version, 6, 0) ? 'nowait' : 'atomic',
    noPreallocAllocator: atLeast(version, 6, 1) ? 'bpf_mem_alloc' : 'kmalloc',
    createTimeMapHelpersCharged: !atLeast(version, 6, 0),
    memcgChargeBatchPages: atLeast(version, 6, 1) ? 64 : 32,
    memcgStockSlots: atLeast(version, 6, 16) ? 7 : 1,
    defaultMemlockRlimit: atLeast(version, 5, 16) ? 8 * 1024 * 1024 : 64 * 1024,
  };
}

/** The regime a version has by default: memlock before 5.11, memcg since. */
export function defaultRegime(version: KernelVersion): Regime {
  return atLeast(version, 5, 11) ? 'memcg' : 'memlock';
}

/**
 * Builds a profile, or says which field is wrong. Regime `memcg` needs 5.11+ (older kernels do
 * not charge BPF to memory cgroups); `memlock` on a newer kernel is allowed as a what-if.
 */
export function makeProfile(input: ProfileInput): KernelProfile | Failure {
  const version = parseKernelVersion(input.version);
  if (!version) return fail('EINVAL', `kernel version "${input.version}" is not like 6.18 or 5.10.0-28`);
  const cpus = input.cpus ?? 2;
  if (!Number.isSafeInteger(cpus) || cpus < 1 || cpus > 8192) {
    return fail('EINVAL', `cpus ${cpus} is not a number of possible CPUs (1–8192)`);
  }
  const pageSize = input.pageSize ?? 4096;
  if (![4096, 16384, 65536].includes(pageSize)) {
    return fail('EINVAL', `page size ${pageSize} is not 4096, 16384 or 65536`);
  }
  const regime = input.regime ?? defaultRegime(version);
  if (regime !== 'memlock' && !atLeast(version, 5, 11)) {
    return fail(
      'EINVAL',
      `kernel ${formatVersion(version)} has no memcg accounting of BPF (added in 5.11); its regime is memlock`,
    );
  }
  return {
    release: input.version,
    version,
    possibleCpus: cpus,
    pageSize,
    cgroupVersion: input.cgroup ?? DEFAULT_CGROUP_VERSION,
    regime,
    eras: erasFor(version),
    structs: { ...defaultStructSizes(version), ...input.structs },
  };
}

/** Like {@link makeProfile} but throws on bad input; for code paths with known-good input. */
export function profileOf(input: ProfileInput): KernelProfile {
  const p = makeProfile(input);
  if ('ok' in p) throw new Error(p.reason);
  return p;
}
