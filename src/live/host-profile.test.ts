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
  cmdline: undefined,
  memory: { ok: false, reason: 'fixture' },
  cgroupVersion: 1,
  regime: 'memcg',
  regimeReason: 'fixture',
};
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
    expect(basis.line).toBe('this kernel: 6.18.44-fc-v1272, sizes from its BTF, 2 possible CPUs, 4 KiB pages, cgroup v1, regime memcg');
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
    expect(basis.line).toBe("what-if: kernel 6.1, sizes of Debian's 6.1 cloud kernel, 2 possible CPUs (this machine's), 4 KiB pages, cgroup v1, regime memcg");
    expect(hostProfile({ kernel: '5.10' }, FACTS, sizes).profile.regime).toBe('memlock');
  });

  it('--cpus on this kernel is a what-if that keeps its BTF sizes; the CPUs it has anyway are not', () => {
    expect(hostProfile({ cpus: 192 }, FACTS, sizes).basis.line).toBe('what-if: this kernel (6.18.44-fc-v1272), sizes from its BTF, 192 possible CPUs, 4 KiB pages, cgroup v1, regime memcg');
    expect(hostProfile({ cpus: 2 }, FACTS, sizes).basis.kind).toBe('this-kernel');
  });

  it('withCpus keeps everything but the CPU count', () => {
    const host = hostProfile({}, FACTS, sizes);
    const p = withCpus(host, 64).profile;
    expect(p).toMatchObject({ possibleCpus: 64, release: host.profile.release, structs: host.profile.structs });
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
