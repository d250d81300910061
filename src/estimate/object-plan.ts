import type { Btf } from '../btf/index.js';
import type { BpfObject } from '../elf/index.js';
import type { KernelProfile } from '../vocab/profile.js';
import { objectSpecs } from './object.js';
import type { PlannedMap } from './plan.js';

/**
 * A parsed BPF object as `bpfmem estimate FILE.o` and `bpfmem explain --object FILE.o` estimate
 * it: its maps as {@link PlannedMap}s for one host profile (what libbpf settles at load settled
 * for that profile) and its programs by instruction count. Pure.
 */

/** A program of an object, to estimate from its instruction count. */
export interface PlannedProg {
  /** The program's symbol (the kernel keeps its first 15 bytes). */
  readonly name: string;
  /** `obj.bpf.o` */
  readonly origin: string;
  readonly section: string;
  /** Its own instructions in the object, before the verifier. */
  readonly insns: number;
  /** What the estimate rests on that the object does not decide, one phrase each. */
  readonly notes: readonly string[];
}

/**
 * The maps libbpf would create from `obj` on a host of `profile`, in libbpf's order. Each is
 * known by its kernel name and, where it differs, by its symbol (`--set SYMBOL.max_entries=N`
 * works with either). Runtime-sized maps are flagged later by `applyPlan`.
 *
 * @param origin - the file the object came from, for output
 * @throws BpfmemError('input') for a map type bpfmem does not know (from objectSpecs)
 */
export function objectMaps(obj: BpfObject, origin: string, profile: KernelProfile, kernelBtf?: Btf): PlannedMap[] {
  return objectSpecs(obj, profile, kernelBtf ? { kernelBtf } : {}).map((s) => ({
    name: s.name,
    aliases: s.map.symbol !== s.name ? [s.map.symbol] : [],
    origin,
    spec: s.spec,
    elements: s.elements,
    // "max_entries 0: the loader must set it": applyPlan flags that, with the --set to give.
    notes: [...s.loadTime.filter((n) => !n.startsWith('max_entries 0: the loader must')), ...(s.elements > 0 ? [`${s.elements} entries written by libbpf at load (values = { … })`] : [])],
  }));
}

/**
 * The programs of `obj`. The model sizes a program from its instruction count after the
 * verifier (fdinfo memlock is `round_up(offsetof(struct bpf_prog, insns) + 8 × insns, PAGE_SIZE)`,
 * kernel/bpf/core.c: bpf_prog_alloc_no_stats); the object gives the count before it. libbpf
 * appends the `.text` subprograms a program calls (bpf_object__relocate → bpf_object__append_subprog_code)
 * and the verifier may patch instructions in, so the count is a lower bound whenever the object
 * has subprograms; memlock moves only when that crosses a page.
 */
export function objectProgs(obj: BpfObject, origin: string): PlannedProg[] {
  const sub =
    obj.subprogs > 0
      ? [`plus what it calls of the ${obj.subprogs === 1 ? 'subprogram' : `${obj.subprogs} subprograms`} of .text, appended by libbpf at load (not counted)`]
      : [];
  return obj.progs.map((p) => ({ name: p.name, origin, section: p.section, insns: p.insns, notes: sub }));
}

/** Whether an object has struct_ops maps, whose value size the kernel's BTF gives. */
export const hasStructOps = (obj: BpfObject): boolean => obj.maps.some((m) => m.source === 'struct_ops');
