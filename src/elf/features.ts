/**
 * Features of BPF objects that a kernel can refuse even to root with every capability (vendor
 * builds answer EPERM to arenas and to trampoline and LSM programs, whatever the version says):
 * src/live/probe.ts probes them. Pure.
 */
export type BpfFeature = 'arena' | 'fentry' | 'fexit' | 'lsm';

/** The feature a program's ELF section needs (libbpf's section_defs of src/libbpf.c), if one of {@link BpfFeature}. */
export function featureOfSection(section: string): BpfFeature | undefined {
  if (/^(fentry|fmod_ret)(\.s)?\//.test(section)) return 'fentry';
  if (/^fexit(\.s)?\//.test(section)) return 'fexit';
  if (/^lsm(\.s|_cgroup)?\//.test(section)) return 'lsm';
  return undefined;
}
