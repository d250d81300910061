import { readFileSync } from 'node:fs';
import { release as osRelease } from 'node:os';
import { DEFAULT_CGROUP_VERSION, defaultRegime } from '../model/profile.js';
import { readMemoryHierarchySync, type MemoryHierarchyResult } from '../sys/cgroup/index.js';
import { parseCmdline, type KernelCmdline } from '../sys/proc/index.js';
import { readKmallocMinSize, readPageSize, readPossibleCpus } from '../sys/proc/index.js';
import { atLeast, formatVersion, parseKernelVersion, type KernelVersion } from '../vocab/kernel-version.js';
import type { Arch, CgroupVersion, Regime } from '../vocab/profile.js';

/**
 * The facts of the running kernel a profile is made of, read synchronously from a few small
 * files (every command's start reads them: src/live/host-profile.ts), and the regime they imply.
 */

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


/** The facts of this kernel that a profile is made of: read synchronously, a few small files. */
export interface KernelFacts {
  /** `uname -r`. */
  readonly release: string;
  /** Undefined when this is no Linux kernel bpfmem can read (another OS, an odd release). */
  readonly version: KernelVersion | undefined;
  readonly possibleCpus: number | undefined;
  readonly pageSize: number | undefined;
  /** Undefined on an architecture the model does not know. */
  readonly arch: Arch | undefined;
  /** `KMALLOC_MIN_SIZE`, from the slab caches in sysfs (src/sys/proc/host.ts). */
  readonly kmallocMinSize: number | undefined;
  readonly cmdline: KernelCmdline | undefined;
  readonly memory: MemoryHierarchyResult;
  readonly cgroupVersion: CgroupVersion;
  readonly regime: Regime;
  readonly regimeReason: string;
}

function readTextSync(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** The model's name for a Node architecture, or undefined for one it does not know. */
export function archOf(nodeArch: string): Arch | undefined {
  return nodeArch === 'x64' ? 'x86_64' : nodeArch === 'arm64' ? 'arm64' : undefined;
}

/** Reads {@link KernelFacts}. Never throws: what cannot be read is undefined. */
export function readKernelFacts(): KernelFacts {
  const release = osRelease();
  const version = process.platform === 'linux' ? parseKernelVersion(release) : undefined;
  const cmdlineText = readTextSync('/proc/cmdline');
  const cmdline = cmdlineText === undefined ? undefined : parseCmdline(cmdlineText);
  const memory = readMemoryHierarchySync();
  // Without a memory hierarchy, a process whose only line is `0::` is on a v2-only machine.
  const procCgroup = memory.ok ? undefined : readTextSync('/proc/self/cgroup');
  const onlyUnified = procCgroup !== undefined && /^0::/.test(procCgroup) && !/^[1-9]/m.test(procCgroup);
  const cgroupVersion: CgroupVersion = memory.ok ? memory.hierarchy.version : onlyUnified ? 2 : DEFAULT_CGROUP_VERSION;
  const finding: RegimeFinding = version
    ? regimeOf(version, cmdline)
    : { regime: 'memcg', reason: `kernel release ${release} is not a Linux version bpfmem can read` };
  return {
    release,
    version,
    possibleCpus: readPossibleCpus(),
    pageSize: readPageSize(),
    arch: archOf(process.arch),
    kmallocMinSize: readKmallocMinSize(),
    cmdline,
    memory,
    cgroupVersion,
    regime: finding.regime,
    regimeReason: finding.reason,
  };
}

