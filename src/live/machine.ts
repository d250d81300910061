import { readFile } from 'node:fs/promises';
import { BpfmemError } from '../vocab/errors.js';
import { makeProfile } from '../model/profile.js';
import type { CgroupVersion, KernelProfile, Regime } from '../vocab/profile.js';
import type { KernelVersion } from '../vocab/kernel-version.js';
import type { MemoryHierarchyResult } from '../sys/cgroup/mount.js';
import { readLimits } from '../sys/proc/procfs.js';
import { type Rlimit } from '../vocab/rlimit.js';
import type { KernelCmdline } from '../sys/proc/cmdline.js';
import { parseSigned } from '../sys/proc/text.js';
import { runningKernelSizes } from './kernel-sizes.js';
import { readKernelFacts, type RegimeFinding } from './kernel-facts.js';


/** The raw facts of this machine that decide BPF memory accounting, for `probe` and profiles. */
export interface MachineDescription {
  /** `uname -r`. */
  readonly release: string;
  readonly version: KernelVersion | undefined;
  /** `/sys/devices/system/cpu/possible`. */
  readonly possibleCpus: number | undefined;
  readonly pageSize: number | undefined;
  /** `/proc/cmdline`, undefined when unreadable. */
  readonly cmdline: KernelCmdline | undefined;
  /** This process's memory cgroup, or why there is none. */
  readonly memory: MemoryHierarchyResult;
  /** The cgroup version used for the profile: the memory hierarchy's, else a guess from `/proc/self/cgroup`. */
  readonly cgroupVersion: CgroupVersion;
  /** RLIMIT_MEMLOCK of this process (`/proc/self/limits`). */
  readonly memlock: Rlimit | undefined;
  /** `/proc/sys/kernel/unprivileged_bpf_disabled`: 0 allowed, 1 off for good, 2 off (admin may re-enable). */
  readonly unprivilegedBpfDisabled: number | undefined;
  /** `/proc/sys/net/core/bpf_jit_enable`. */
  readonly bpfJitEnable: number | undefined;
  /** `/proc/sys/net/core/bpf_jit_limit`: bytes of JIT images unprivileged users may hold. */
  readonly bpfJitLimit: number | undefined;
  readonly regime: Regime;
  readonly regimeReason: string;
}

async function readNumber(path: string): Promise<number | undefined> {
  try {
    return parseSigned((await readFile(path, 'utf8')).trim());
  } catch {
    return undefined;
  }
}


/** Reads the facts of this machine. Never throws: what cannot be read is undefined. */
export async function describeMachine(): Promise<MachineDescription> {
  const kernel = readKernelFacts();
  const [limits, unprivileged, jitEnable, jitLimit] = await Promise.all([
    readLimits('self').catch(() => undefined),
    readNumber('/proc/sys/kernel/unprivileged_bpf_disabled'),
    readNumber('/proc/sys/net/core/bpf_jit_enable'),
    readNumber('/proc/sys/net/core/bpf_jit_limit'),
  ]);
  const { release, version, possibleCpus, pageSize, cmdline, memory, cgroupVersion } = kernel;
  const finding: RegimeFinding = { regime: kernel.regime, reason: kernel.regimeReason };
  return {
    release,
    version,
    possibleCpus,
    pageSize,
    cmdline,
    memory,
    cgroupVersion,
    memlock: limits?.memlock,
    unprivilegedBpfDisabled: unprivileged,
    bpfJitEnable: jitEnable,
    bpfJitLimit: jitLimit,
    regime: finding.regime,
    regimeReason: finding.reason,
  };
}

/**
 * The {@link KernelProfile} of this machine: release, possible CPUs, page size, the cgroup
 * version of the memory hierarchy and the regime (see {@link regimeOf}). Throws a `BpfmemError`
 * when the release, CPU count or page size cannot be read.
 */
export async function readKernelProfile(): Promise<KernelProfile> {
  return withRunningKernelBtf(profileOfMachine(await describeMachine()));
}

/**
 * `profile` with the running kernel's own struct sizes, where it publishes its BTF: exact for
 * kernels whose sizes the model never wrote down (src/vocab/btf-sizes.ts). Without BTF the version's
 * defaults stay. The BTF is read once per process (the iterators read the same).
 */
export function withRunningKernelBtf(profile: KernelProfile): Promise<KernelProfile> {
  const sizes = runningKernelSizes(profile.pageSize);
  return Promise.resolve(sizes.ok ? { ...profile, structs: { ...profile.structs, ...sizes.value } } : profile);
}

/** The {@link KernelProfile} of a machine already described (see {@link readKernelProfile}). */
export function profileOfMachine(m: MachineDescription): KernelProfile {
  if (m.possibleCpus === undefined) throw new BpfmemError('system', 'cannot read the possible CPUs from /sys/devices/system/cpu/possible');
  if (m.pageSize === undefined) throw new BpfmemError('system', 'cannot read the page size from /proc/self/smaps');
  const profile = makeProfile({
    version: m.release,
    cpus: m.possibleCpus,
    pageSize: m.pageSize,
    cgroup: m.cgroupVersion,
    regime: m.regime,
  });
  if (!profile.ok) throw new BpfmemError('system', `this machine's kernel profile: ${profile.error}`);
  return profile.value;
}

