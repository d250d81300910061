import { err, ok, unwrap, type Result } from '../vocab/result.js';
import { BpfmemError } from '../vocab/errors.js';
import { describeValue, parseInteger } from '../vocab/fields.js';
import type { Arch, CgroupVersion, Eras, KernelProfile, Regime, StructSizes } from '../vocab/profile.js';
import { defaultStructSizes } from './structs.js';
import { atLeast, formatVersion, parseKernelVersion, type KernelVersion } from '../vocab/kernel-version.js';

/** What a profile may be built from; everything but the version has a default. */
export interface ProfileInput {
  readonly version: string;
  readonly cpus?: number;
  readonly pageSize?: number;
  /** Default: x86_64. */
  readonly arch?: Arch;
  /** `KMALLOC_MIN_SIZE` as read off a machine; default: the arch's for the version ({@link kmallocMinSizeFor}). */
  readonly kmallocMinSize?: number;
  readonly cgroup?: CgroupVersion;
  readonly regime?: Regime;
  readonly structs?: Partial<StructSizes>;
}

/** The kernel bpfmem was calibrated on (docs/kernel-facts.md §0). */
export const DEFAULT_RELEASE = '6.18';

/**
 * The cgroup version when none is given: v1, as on the machine bpfmem was calibrated on. It
 * decides `memory.high` (v2 only), "no internal processes" (v2 only) and what lowering
 * `memory.max` below usage does (v1: EBUSY; v2: reclaim, then OOM).
 */
export const DEFAULT_CGROUP_VERSION: CgroupVersion = 1;

/** The page sizes of the architectures bpfmem knows (x86-64 and arm64 4 KiB; arm64 16 and 64 KiB; ppc64 64 KiB). */
export const PAGE_SIZES: readonly number[] = [4096, 16384, 65536];

/** The architectures the model knows. */
export const ARCHES: readonly Arch[] = ['x86_64', 'arm64'];

/** The values `KMALLOC_MIN_SIZE` can take (include/linux/slab.h: a power of two, at most 256). */
export const KMALLOC_MIN_SIZES: readonly number[] = [8, 16, 32, 64, 128, 256];

/**
 * `KMALLOC_MIN_SIZE` of an architecture's kernel of `version`. x86-64 has no
 * `ARCH_DMA_MINALIGN`, so 8. arm64 defines `ARCH_DMA_MINALIGN` 128, which include/linux/slab.h
 * made `KMALLOC_MIN_SIZE` up to 6.4 (arch/arm64/include/asm/cache.h in 5.10 and 6.1). 6.5 ("mm,
 * dma, arm64: Reduce ARCH_KMALLOC_MINALIGN to 8") set `ARCH_KMALLOC_MINALIGN` 8 and has arm64
 * bounce unaligned DMA through swiotlb, which arch/arm64/mm/init.c then always sets up, so
 * `__kmalloc_minalign()` (mm/slab_common.c) is 8 (read in 6.12's source). A kernel booted with
 * `swiotlb=noforce` uses the cache line instead: the live profile reads the real size.
 */
export function kmallocMinSizeFor(arch: Arch, version: KernelVersion): number {
  return arch === 'arm64' && !atLeast(version, 6, 5) ? 128 : 8;
}

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
export function makeProfile(input: ProfileInput): Result<KernelProfile> {
  // Typed for callers; checked as what a JavaScript caller may pass.
  const raw = input as unknown as Partial<Record<keyof ProfileInput, unknown>> | null;
  if (typeof raw !== 'object' || raw === null) return err(`a profile needs { version }, not ${String(raw)}`);
  if (typeof raw.version !== 'string') return err(`kernel version ${String(raw.version)} is not text like "6.18"`);
  const version = parseKernelVersion(input.version);
  if (!version) return err(`kernel version "${input.version}" is not like 6.18 or 5.10.0-28`);
  const cpus = input.cpus ?? 2;
  if (!Number.isSafeInteger(cpus) || cpus < 1 || cpus > 8192) {
    return err(`cpus ${cpus} is not a number of possible CPUs (1–8192)`);
  }
  const pageSize = input.pageSize ?? 4096;
  if (!PAGE_SIZES.includes(pageSize)) {
    return err(`page size ${pageSize} is not 4096, 16384 or 65536`);
  }
  const arch = raw.arch ?? 'x86_64';
  if (!ARCHES.includes(arch as Arch)) return err(`arch ${JSON.stringify(arch)} is not ${ARCHES.join(' or ')}`);
  const kmallocMinSize = raw.kmallocMinSize ?? kmallocMinSizeFor(arch as Arch, version);
  if (!KMALLOC_MIN_SIZES.includes(kmallocMinSize as number)) {
    return err(`kmalloc minimum size ${JSON.stringify(kmallocMinSize)} is not one of ${KMALLOC_MIN_SIZES.join(', ')}`);
  }
  const regime = input.regime ?? defaultRegime(version);
  if (!['memcg', 'memlock', 'none'].includes(regime)) return err(`regime ${JSON.stringify(regime)} is not memcg, memlock or none`);
  const cgroup = raw.cgroup ?? DEFAULT_CGROUP_VERSION;
  if (cgroup !== 1 && cgroup !== 2) return err(`cgroup version ${JSON.stringify(cgroup)} is not 1 or 2`);
  const defaults = defaultStructSizes(version);
  for (const [name, size] of Object.entries(input.structs ?? {})) {
    if (!Object.hasOwn(defaults, name)) return err(`struct ${name} is not one whose size the model uses (${Object.keys(defaults).join(', ')})`);
    const bytes = typeof size === 'number' ? parseInteger(size, 0, Number.MAX_SAFE_INTEGER) : err(`expected a number, got ${describeValue(size)}`);
    if (!bytes.ok) return err(`struct ${name} size: ${bytes.error}`);
  }
  if (regime !== 'memlock' && !atLeast(version, 5, 11)) {
    // `none` (cgroup.memory=nokmem or nobpf) is a way out of memcg accounting, which 5.10 and
    // before do not have: BPF is precharged to RLIMIT_MEMLOCK there, whatever the cgroups.
    return err(
      regime === 'none'
        ? `kernel ${formatVersion(version)} has no regime none: it precharges BPF to RLIMIT_MEMLOCK whatever the memory cgroups (memcg accounting, and with it none, came in 5.11); its regime is memlock`
        : `kernel ${formatVersion(version)} has no memcg accounting of BPF (added in 5.11); its regime is memlock`,
    );
  }
  return ok({
    release: input.version,
    version,
    possibleCpus: cpus,
    pageSize,
    arch: arch as Arch,
    kmallocMinSize: kmallocMinSize as number,
    cgroupVersion: cgroup,
    regime,
    eras: erasFor(version),
    structs: { ...defaults, ...input.structs },
  });
}

/** The input that makes `p` again; change a field to make a profile that differs in it alone. */
export function profileInputOf(p: KernelProfile): ProfileInput & { readonly version: string } {
  return { version: p.release, cpus: p.possibleCpus, pageSize: p.pageSize, arch: p.arch, kmallocMinSize: p.kmallocMinSize, cgroup: p.cgroupVersion, regime: p.regime, structs: p.structs };
}

/** Like {@link makeProfile} but throws on bad input; for code paths with known-good input. */
export function profileOf(input: ProfileInput): KernelProfile {
  return unwrap(makeProfile(input), (e) => new BpfmemError('input', e));
}
