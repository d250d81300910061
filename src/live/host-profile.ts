import type { Btf } from '../btf/index.js';
import { DEFAULT_RELEASE, makeProfile, profileInputOf } from '../model/profile.js';
import { defaultStructSizesName } from '../model/structs.js';
import { readBtfFileSync, vmlinuxBtf } from '../sys/bpf/index.js';
import { structSizesFromBtf } from '../vocab/btf-sizes.js';
import { BpfmemError } from '../vocab/errors.js';
import { formatVersion } from '../vocab/kernel-version.js';
import { archText, type Arch, type CgroupVersion, type KernelProfile, type ProfileBasis, type Regime, type StructSizes } from '../vocab/profile.js';
import { formatBytes } from '../vocab/units.js';
import { runningKernelSizes } from './kernel-sizes.js';
import { readKernelFacts, type KernelFacts } from './kernel-facts.js';

/**
 * The kernel profile a command works with: this machine's unless an option says otherwise.
 * By default the version is `uname -r`, the struct sizes come from the running kernel's BTF, and
 * the possible CPUs, page size, cgroup version and regime are this machine's. `--kernel V` and
 * `--btf FILE` make it a what-if, and so does any option that changes a part (`--cpus 192`); the
 * {@link ProfileBasis} says which, in the line output starts with.
 */

/** What a command's options ask of the profile; everything absent is this machine's. */
export interface ProfileRequest {
  /** `--kernel`: another kernel version. */
  readonly kernel?: string | undefined;
  /** `--btf`: a file holding that kernel's BTF (a copy of its `/sys/kernel/btf/vmlinux`). */
  readonly btf?: string | undefined;
  readonly cpus?: number | undefined;
  /** `--cpus 2,64,192`: the counts compared, for the line that says what the output describes. */
  readonly cpuCounts?: readonly number[] | undefined;
  readonly pageSize?: number | undefined;
  /** `--arch`: another architecture (its `KMALLOC_MIN_SIZE`). */
  readonly arch?: Arch | undefined;
  readonly regime?: Regime | undefined;
  readonly cgroup?: CgroupVersion | undefined;
}

/** A profile and what it describes. */
export interface HostProfile {
  readonly profile: KernelProfile;
  readonly basis: ProfileBasis;
  /**
   * The whole BTF of the profile's kernel, where bpfmem has it (`--btf`, or the running kernel's,
   * parsed on first use): struct_ops value sizes need more than the cached struct sizes.
   */
  readonly kernelBtf: () => Promise<Btf | undefined>;
}

const plural = (n: number, one: string): string => `${n} ${one}${n === 1 ? '' : 's'}`;

/**
 * The profile for `request` on a machine of `facts` (default: this one, read now). Throws a
 * `BpfmemError` (`usage`) for a `--kernel` that is not a version, or a combination the model
 * refuses (`--regime memcg` on 5.10).
 */
export function hostProfile(request: ProfileRequest = {}, facts: KernelFacts = readKernelFacts(), kernelSizes = runningKernelSizes): HostProfile {
  // Not Linux, or a release bpfmem cannot read: the kernel bpfmem was calibrated on stands in.
  const linux = facts.version !== undefined;
  // `--kernel $(uname -r)` asks for this kernel: its BTF's sizes, not the version's defaults.
  const whatIfKernel = (request.kernel !== undefined && !(linux && request.kernel === facts.release)) || !linux;
  const version = request.kernel ?? (linux ? facts.release : DEFAULT_RELEASE);
  const pageSize = request.pageSize ?? facts.pageSize ?? 4096;
  const cpus = request.cpus ?? facts.possibleCpus ?? 2;
  const arch = request.arch ?? facts.arch ?? 'x86_64';
  // The machine's own slab caches say KMALLOC_MIN_SIZE for its kernel and arch; a what-if of
  // either takes the rule for the version and arch.
  const kmallocMinSize = !whatIfKernel && arch === facts.arch ? facts.kmallocMinSize : undefined;
  const cpusFrom: ProfileBasis['cpus'] = request.cpus !== undefined ? 'option' : facts.possibleCpus !== undefined ? 'machine' : 'default';

  let structs: Partial<StructSizes> = {};
  let sizesFrom: ProfileBasis['sizes'] = 'defaults';
  let note: string | undefined;
  const fileBtf = request.btf === undefined ? undefined : readBtfFileSync(request.btf);
  if (fileBtf) {
    structs = structSizesFromBtf(fileBtf, pageSize).sizes;
    // Every kernel with BPF has `struct bpf_map`: a BTF without it (a module's, a BPF object's)
    // gives none of the sizes, and the version's defaults would pass for the file's.
    if (structs.bpf_map === undefined) {
      throw new BpfmemError('input', `--btf ${request.btf ?? ''}: no struct bpf_map in this BTF, so none of the kernel's sizes: give a kernel's BTF (a copy of its /sys/kernel/btf/vmlinux), not a module's or a BPF object's`);
    }
    sizesFrom = 'btf-file';
  } else if (!whatIfKernel) {
    const running = kernelSizes(pageSize);
    if (running.ok) {
      structs = running.value;
      sizesFrom = 'kernel-btf';
    } else note = `no BTF of this kernel (${running.error})`;
  }
  const result = makeProfile({
    version,
    cpus,
    pageSize,
    arch,
    ...(kmallocMinSize !== undefined && { kmallocMinSize }),
    cgroup: request.cgroup ?? facts.cgroupVersion,
    ...((request.regime ?? (whatIfKernel ? undefined : facts.regime)) !== undefined && { regime: request.regime ?? facts.regime }),
    structs,
  });
  if (!result.ok) throw new BpfmemError('usage', request.kernel !== undefined ? `--kernel ${JSON.stringify(request.kernel)}: ${result.error}` : result.error);
  const made = result.value;

  // An option that asks for what this machine has anyway changes nothing: still this kernel.
  const differs = <T>(asked: T | undefined, own: T | undefined): boolean => asked !== undefined && asked !== own;
  const whatIf =
    whatIfKernel ||
    request.btf !== undefined ||
    differs(request.cpus, facts.possibleCpus) ||
    (request.cpuCounts ?? []).some((n) => differs(n, facts.possibleCpus)) ||
    differs(request.pageSize, facts.pageSize) ||
    differs(request.arch, facts.arch) ||
    differs(request.regime, facts.regime) ||
    differs(request.cgroup, facts.cgroupVersion);
  const kernelPart = whatIfKernel ? `kernel ${formatVersion(made.version)}` : whatIf ? `this kernel (${facts.release})` : facts.release;
  const sizesPart =
    sizesFrom === 'kernel-btf'
      ? 'sizes from its BTF'
      : sizesFrom === 'btf-file'
        ? `sizes from ${request.btf ?? 'a BTF file'}`
        : `sizes of ${defaultStructSizesName(made.version)}${note ? ` (${note})` : ''}`;
  const cpusPart =
    request.cpuCounts !== undefined && request.cpuCounts.length > 1
      ? `${request.cpuCounts.join(', ')} possible CPUs (compared)`
      : `${plural(cpus, 'possible CPU')}${whatIf && cpusFrom === 'machine' ? " (this machine's)" : ''}`;
  const rest = `${formatBytes(pageSize).replace('.0 ', ' ')} pages, ${archText(made, true)}, cgroup v${made.cgroupVersion}, regime ${made.regime}`;
  const head = whatIf ? 'what-if' : 'this kernel';
  const notLinux = linux ? '' : ` (this is no Linux kernel bpfmem can read: ${facts.release})`;
  const line = `${head}: ${kernelPart}${notLinux}, ${sizesPart}, ${cpusPart}, ${rest}`;
  const kernelBtf = (): Promise<Btf | undefined> =>
    fileBtf ? Promise.resolve(fileBtf) : sizesFrom === 'kernel-btf' ? vmlinuxBtf().catch(() => undefined) : Promise.resolve(undefined);
  return {
    profile: made,
    basis: { kind: whatIf ? 'what-if' : 'this-kernel', sizes: sizesFrom, cpus: cpusFrom, line, ...(note !== undefined && { note }) },
    kernelBtf,
  };
}

/** The same profile with another count of possible CPUs (`estimate --cpus 2,64,192`). */
export function withCpus(host: HostProfile, cpus: number): HostProfile {
  const p = host.profile;
  if (cpus === p.possibleCpus) return host;
  const made = makeProfile({ ...profileInputOf(p), cpus });
  if (!made.ok) throw new BpfmemError('usage', `--cpus ${cpus}: ${made.error}`);
  return { ...host, profile: made.value };
}
