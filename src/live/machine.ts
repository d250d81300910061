import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { release as osRelease } from 'node:os';
import { profileWithBtf } from '../vocab/btf-sizes.js';
import { BpfmemError } from '../vocab/errors.js';
import { DEFAULT_CGROUP_VERSION, defaultRegime, makeProfile } from '../model/profile.js';
import { type CgroupVersion, type KernelProfile, type Regime } from '../vocab/profile.js';
import { atLeast, formatVersion, parseKernelVersion, type KernelVersion } from '../vocab/kernel-version.js';
import { VMLINUX_BTF_PATH, vmlinuxBtf } from '../sys/bpf/vmlinux.js';
import { readMemoryHierarchy, type MemoryHierarchyResult } from '../sys/cgroup/mount.js';
import { readPageSize, readPossibleCpus } from '../sys/proc/host.js';
import { parseCmdline, readLimits, readProcCgroup, type KernelCmdline, type Rlimit } from '../sys/proc/procfs.js';
import { parseSigned } from '../sys/proc/text.js';

/** The accounting regime of a kernel and why. */
export interface RegimeFinding {
  readonly regime: Regime;
  readonly reason: string;
}

/**
 * The regime a kernel runs in, from its version and command line:
 * - before 5.11: `memlock` (RLIMIT_MEMLOCK precharge; the cgroup options do not matter);
 * - `cgroup_disable=memory`: `none` (no memory controller at all);
 * - `cgroup.memory=nokmem`: `none` (no kernel memory is charged, BPF included);
 * - `cgroup.memory=nobpf` on 6.3+: `none` (BPF only; older kernels do not know the option);
 * - otherwise `memcg`.
 */
export function regimeOf(version: KernelVersion, cmdline: KernelCmdline | undefined): RegimeFinding {
  const v = formatVersion(version);
  if (!atLeast(version, 5, 11)) {
    return { regime: 'memlock', reason: `kernel ${v} predates memcg accounting of BPF (5.11): maps and programs precharge RLIMIT_MEMLOCK` };
  }
  if (cmdline?.cgroupDisable.includes('memory')) {
    return { regime: 'none', reason: 'cgroup_disable=memory: the memory controller is off, nothing is charged' };
  }
  if (cmdline?.memory.nokmem) {
    return { regime: 'none', reason: 'cgroup.memory=nokmem: kernel memory, BPF included, is not charged to memory cgroups' };
  }
  if (cmdline?.memory.nobpf) {
    if (atLeast(version, 6, 3)) return { regime: 'none', reason: 'cgroup.memory=nobpf: BPF maps and programs are not charged to memory cgroups' };
    return { regime: defaultRegime(version), reason: `cgroup.memory=nobpf is ignored by kernel ${v} (the option came with 6.3): BPF is charged to memory cgroups` };
  }
  return { regime: defaultRegime(version), reason: `kernel ${v} charges BPF maps and programs to the creator's memory cgroup` };
}

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

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Reads the facts of this machine. Never throws: what cannot be read is undefined. */
export async function describeMachine(): Promise<MachineDescription> {
  const release = osRelease();
  const version = parseKernelVersion(release);
  const possibleCpus = readPossibleCpus();
  const pageSize = readPageSize();
  const [cmdlineText, memory, limits, procCgroup, unprivileged, jitEnable, jitLimit] = await Promise.all([
    readText('/proc/cmdline'),
    readMemoryHierarchy(),
    readLimits('self').catch(() => undefined),
    readProcCgroup('self').catch(() => undefined),
    readNumber('/proc/sys/kernel/unprivileged_bpf_disabled'),
    readNumber('/proc/sys/net/core/bpf_jit_enable'),
    readNumber('/proc/sys/net/core/bpf_jit_limit'),
  ]);
  const cmdline = cmdlineText === undefined ? undefined : parseCmdline(cmdlineText);
  // Without a memory hierarchy, a process whose only line is `0::` is on a v2-only machine.
  const onlyUnified = procCgroup !== undefined && procCgroup.every((e) => e.hierarchyId === 0);
  const cgroupVersion: CgroupVersion = memory.ok ? memory.hierarchy.version : onlyUnified ? 2 : DEFAULT_CGROUP_VERSION;
  const finding: RegimeFinding = version
    ? regimeOf(version, cmdline)
    : { regime: 'memcg', reason: `kernel release ${release} is not a version bpfmem can read` };
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
export async function withRunningKernelBtf(profile: KernelProfile): Promise<KernelProfile> {
  if (!existsSync(VMLINUX_BTF_PATH)) return profile;
  try {
    return profileWithBtf(profile, await vmlinuxBtf());
  } catch {
    return profile;
  }
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
  if ('ok' in profile) throw new BpfmemError('system', `this machine's kernel profile: ${profile.reason}`);
  return profile;
}
