import { describe, expect, it } from 'vitest';
import { parseKernelVersion } from '../vocab/kernel-version.js';
import type { Result } from '../vocab/result.js';
import type { StructSizes } from '../vocab/profile.js';
import type { KernelFacts } from './kernel-facts.js';
import { hostProfile, withCpus } from './host-profile.js';

/** A 6.18.44 machine on cgroup v1 with 2 possible CPUs, as src/live/kernel-facts.ts reads one. */
const FACTS: KernelFacts = {
  release: '6.18.44-fc-v1272',
  version: parseKernelVersion('6.18.44'),
  possibleCpus: 2,
  pageSize: 4096,
  arch: 'x86_64',
  kmallocMinSize: 8,
  cmdline: undefined,
  memory: { ok: false, reason: 'fixture' },
  cgroupVersion: 1,
  regime: 'memcg',
  regimeReason: 'fixture',
};
/** An arm64 machine of Debian's 6.1, whose smallest kmalloc cache is 128 bytes. */
const ARM64_61: KernelFacts = { ...FACTS, release: '6.1.0-41-arm64', version: parseKernelVersion('6.1.158'), arch: 'arm64', kmallocMinSize: 128 };
/** Its BTF: a hash table of 896 bytes (the 6.18 default is 832). */
const BTF: Result<Partial<StructSizes>> = { ok: true, value: { bpf_htab: 896 } };
const sizes = (): Result<Partial<StructSizes>> => BTF;
const noBtf = (): Result<Partial<StructSizes>> => ({ ok: false, error: 'no /sys/kernel/btf/vmlinux' });

describe('the host profile: this machine unless a what-if says otherwise', () => {
  it('is this kernel by default: its release, its BTF sizes, CPUs, pages, cgroup version and regime', () => {
    const { profile, basis } = hostProfile({}, FACTS, sizes);
    expect(profile).toMatchObject({ release: '6.18.44-fc-v1272', possibleCpus: 2, pageSize: 4096, cgroupVersion: 1, regime: 'memcg' });
    expect(profile.structs.bpf_htab).toBe(896);
    expect(basis).toMatchObject({ kind: 'this-kernel', sizes: 'kernel-btf', cpus: 'machine' });
    expect(basis.line).toBe('this kernel: 6.18.44-fc-v1272, sizes from its BTF, 2 possible CPUs, 4 KiB pages, x86_64, cgroup v1, regime memcg');
  });

  it('says so when the kernel has no BTF, and takes the nearest known sizes', () => {
    const { profile, basis } = hostProfile({}, FACTS, noBtf);
    expect(profile.structs.bpf_htab).toBe(832);
    expect(basis).toMatchObject({ kind: 'this-kernel', sizes: 'defaults', note: 'no BTF of this kernel (no /sys/kernel/btf/vmlinux)' });
    expect(basis.line).toContain('sizes of the 6.18 kernel bpfmem was calibrated on (no BTF of this kernel');
  });

  it('--kernel is a what-if with that version\'s sizes and regime, this machine\'s CPUs', () => {
    const { profile, basis } = hostProfile({ kernel: '6.1' }, FACTS, sizes);
    expect(profile).toMatchObject({ release: '6.1', possibleCpus: 2, regime: 'memcg' });
    expect(profile.structs.bpf_map).toBe(256);
    expect(basis.line).toBe("what-if: kernel 6.1, sizes of Debian's 6.1 cloud kernel, 2 possible CPUs (this machine's), 4 KiB pages, x86_64, cgroup v1, regime memcg");
    expect(hostProfile({ kernel: '5.10' }, FACTS, sizes).profile.regime).toBe('memlock');
  });

  it('--kernel naming this kernel\'s own release (`--kernel $(uname -r)`) is this kernel, with its BTF sizes', () => {
    const { profile, basis } = hostProfile({ kernel: '6.18.44-fc-v1272' }, FACTS, sizes);
    expect(profile.structs.bpf_htab).toBe(896);
    expect(basis.line).toBe(hostProfile({}, FACTS, sizes).basis.line);
    // Another build of the same version is another kernel.
    expect(hostProfile({ kernel: '6.18.44' }, FACTS, sizes).basis.kind).toBe('what-if');
  });

  it('--cpus on this kernel is a what-if that keeps its BTF sizes; the CPUs it has anyway are not', () => {
    expect(hostProfile({ cpus: 192 }, FACTS, sizes).basis.line).toBe('what-if: this kernel (6.18.44-fc-v1272), sizes from its BTF, 192 possible CPUs, 4 KiB pages, x86_64, cgroup v1, regime memcg');
    expect(hostProfile({ cpus: 2 }, FACTS, sizes).basis.kind).toBe('this-kernel');
  });

  it('withCpus keeps everything but the CPU count', () => {
    const host = hostProfile({}, ARM64_61, sizes);
    const p = withCpus(host, 64).profile;
    expect(p).toMatchObject({ possibleCpus: 64, release: host.profile.release, structs: host.profile.structs, arch: 'arm64', kmallocMinSize: 128 });
  });

  it("takes KMALLOC_MIN_SIZE from the machine's slab caches, and the arch's rule for a what-if", () => {
    // An arm64 6.1 machine: kmalloc-128 is its smallest cache.
    const own = hostProfile({}, ARM64_61, sizes);
    expect(own.profile).toMatchObject({ arch: 'arm64', kmallocMinSize: 128 });
    expect(own.basis.line).toBe('this kernel: 6.1.0-41-arm64, sizes from its BTF, 2 possible CPUs, 4 KiB pages, arm64 (kmalloc from 128 B), cgroup v1, regime memcg');
    // The same machine asked about 6.12, which has 8-byte kmalloc on arm64 (6.5+).
    expect(hostProfile({ kernel: '6.12' }, ARM64_61, sizes).profile.kmallocMinSize).toBe(8);
    // A machine booted with a larger minimum than its version's rule keeps what it has.
    expect(hostProfile({}, { ...ARM64_61, kmallocMinSize: 64 }, sizes).profile.kmallocMinSize).toBe(64);
    // --arch on an x86-64 machine is a what-if with the arch's rule for the version.
    const what = hostProfile({ arch: 'arm64', kernel: '6.1' }, FACTS, sizes);
    expect(what.profile).toMatchObject({ arch: 'arm64', kmallocMinSize: 128 });
    expect(what.basis.kind).toBe('what-if');
    expect(hostProfile({ arch: 'arm64' }, FACTS, sizes).profile.kmallocMinSize).toBe(8);
    expect(hostProfile({ arch: 'x86_64' }, FACTS, sizes).basis.kind).toBe('this-kernel');
  });

  it('is the calibrated 6.18 where this is no Linux kernel bpfmem can read', () => {
    const { profile, basis } = hostProfile({}, { ...FACTS, release: '23.1.0', version: undefined }, sizes);
    expect(profile.release).toBe('6.18');
    expect(basis.kind).toBe('what-if');
    expect(basis.line).toMatch(/^what-if: kernel 6\.18 \(this is no Linux kernel bpfmem can read: 23\.1\.0\)/);
  });

  it('refuses a --kernel that is no version, naming the option', () => {
    expect(() => hostProfile({ kernel: 'six' }, FACTS, sizes)).toThrow(/^--kernel "six": kernel version "six" is not like 6\.18/);
  });
});
