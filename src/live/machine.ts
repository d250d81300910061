import { makeProfile } from '../model/profile.js';
import { readLimits, readNumberFile } from '../sys/proc/index.js';
import { BpfmemError } from '../vocab/errors.js';
import type { KernelProfile } from '../vocab/profile.js';
import type { Rlimit } from '../vocab/rlimit.js';
import { readKernelFacts, type KernelFacts } from './kernel-facts.js';
import { runningKernelSizes } from './kernel-sizes.js';

/** The raw facts of this machine that decide BPF memory accounting, for `probe` and profiles. */
export interface MachineDescription extends KernelFacts {
  /** RLIMIT_MEMLOCK of this process (`/proc/self/limits`). */
  readonly memlock: Rlimit | undefined;
  /** `/proc/sys/kernel/unprivileged_bpf_disabled`: 0 allowed, 1 off for good, 2 off (admin may re-enable). */
  readonly unprivilegedBpfDisabled: number | undefined;
  /** `/proc/sys/net/core/bpf_jit_enable`. */
  readonly bpfJitEnable: number | undefined;
  /** `/proc/sys/net/core/bpf_jit_limit`: bytes of JIT images unprivileged users may hold. */
  readonly bpfJitLimit: number | undefined;
}

/** Reads the facts of this machine. Never throws: what cannot be read is undefined. */
export async function describeMachine(): Promise<MachineDescription> {
  const kernel = readKernelFacts();
  const [limits, unprivileged, jitEnable, jitLimit] = await Promise.all([
    readLimits('self').catch(() => undefined),
    readNumberFile('/proc/sys/kernel/unprivileged_bpf_disabled'),
    readNumberFile('/proc/sys/net/core/bpf_jit_enable'),
    readNumberFile('/proc/sys/net/core/bpf_jit_limit'),
  ]);
  return { ...kernel, memlock: limits?.memlock, unprivilegedBpfDisabled: unprivileged, bpfJitEnable: jitEnable, bpfJitLimit: jitLimit };
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
    ...(m.arch !== undefined && { arch: m.arch }),
    ...(m.kmallocMinSize !== undefined && { kmallocMinSize: m.kmallocMinSize }),
    cgroup: m.cgroupVersion,
    regime: m.regime,
  });
  if (!profile.ok) throw new BpfmemError('system', `this machine's kernel profile: ${profile.error}`);
  return profile.value;
}

