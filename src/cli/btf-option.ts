import { Option } from 'commander';
import { profileWithBtf, structSizesFromBtf } from '../vocab/btf-sizes.js';
import type { KernelProfile, StructSizes } from '../vocab/profile.js';
import { readBtfFile } from '../sys/bpf/index.js';

/**
 * `--btf FILE` of `bpfmem estimate` and `bpfmem simulate`: the struct sizes of the kernel the
 * estimate is for, read from that kernel's BTF (its `/sys/kernel/btf/vmlinux`, copied), so that
 * sizes the model never wrote down are exact (src/vocab/btf-sizes.ts). The version, CPUs, page size
 * and regime still come from the other options: BTF gives sizes, the version gives behaviour.
 */
export const btfOption = (): Option =>
  new Option('--btf <file>', "struct sizes from this kernel's BTF (a copy of its /sys/kernel/btf/vmlinux)");

/** The profile with `file`'s struct sizes. Throws a one-line `BpfmemError` (`input`) for a file that cannot be read or is not BTF. */
export async function applyBtfFile(profile: KernelProfile, file: string): Promise<KernelProfile> {
  return profileWithBtf(profile, await readBtfFile(file));
}

/** The sizes a BTF file gives and those it lacks (for messages and `--json`). */
export async function btfSizesOf(file: string, pageSize: number): Promise<{ sizes: Partial<StructSizes>; missing: readonly (keyof StructSizes)[] }> {
  return structSizesFromBtf(await readBtfFile(file), pageSize);
}
