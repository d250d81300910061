import type { Alloc } from './maps/alloc.js';
import type { KernelProfile } from '../vocab/profile.js';
import { roundUp } from '../vocab/units.js';

/**
 * `BPF_COMPLEXITY_LIMIT_INSNS`: the most instructions a privileged program may have after
 * verification (include/linux/bpf.h); BPF_MAXINSNS (4096) for unprivileged loaders.
 */
export const BPF_COMPLEXITY_LIMIT_INSNS = 1_000_000;

/**
 * `bpf_prog_size()` rounded to pages: what `bpf_prog_alloc()` vmallocs and what fdinfo
 * `memlock` reports (`prog->pages * PAGE_SIZE`) in every era (kernel/bpf/core.c).
 * `insns` is the instruction count after the verifier's rewrites.
 */
export function progMemlock(insns: number, profile: KernelProfile): number {
  const s = profile.structs;
  return roundUp(Math.max(s.bpf_prog, s.bpf_prog_insns_offset + 8 * insns), profile.pageSize);
}

/**
 * What loading a program allocates and charges to the loader (kernel/bpf/core.c
 * `bpf_prog_alloc()`): the program (vmalloc, whole pages), `bpf_prog_aux` (kzalloc), per-CPU
 * `stats` and `active` counters, all `GFP_KERNEL_ACCOUNT` since "bpf: memcg-based memory
 * accounting for bpf progs" (5.11). The JIT image is not memcg-charged (it counts against
 * `bpf_jit_limit`), and verifier scratch memory is freed before the load returns.
 */
export function progAllocs(insns: number, profile: KernelProfile): readonly Alloc[] {
  const s = profile.structs;
  return [
    { what: 'bpf_prog', shape: 'vmalloc', payer: 'current', size: progMemlock(insns, profile) },
    { what: 'bpf_prog_aux', shape: 'kmalloc', payer: 'current', size: s.bpf_prog_aux },
    { what: 'stats', shape: 'percpu', payer: 'current', size: s.bpf_prog_stats },
    { what: 'active', shape: 'percpu', payer: 'current', size: 4 },
  ];
}
