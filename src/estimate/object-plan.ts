import type { Btf } from '../btf/index.js';
import type { BpfObject } from '../elf/index.js';
import type { MapType } from '../vocab/maptypes.js';
import type { KernelProfile } from '../vocab/profile.js';
import { objectSpecs } from './object.js';
import type { PlannedMap, SizedField, SizeSource } from './plan.js';

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
  /** What libbpf hands the kernel: its own instructions and its subprograms', before the verifier. */
  readonly insns: number;
  /** Its own instructions in the object. */
  readonly ownInsns?: number;
  /** The `.text` subprograms appended to it. */
  readonly subprogs?: readonly string[];
  /** At most this many after the verifier's rewrites (see {@link REWRITE_PER_CALL}). */
  readonly maxInsns?: number;
  /** What the estimate rests on that the object does not decide, one phrase each. */
  readonly notes: readonly string[];
}

/**
 * The maps libbpf would create from `obj` on a host of `profile`, in libbpf's order. Each is
 * known by its kernel name and, where it differs, by its symbol (`--set SYMBOL.max_entries=N`
 * works with either). Runtime-sized maps are flagged later by `applyPlan`. `roundsRingbufs`: the
 * ring buffer types the loader rounds to whole pages (src/estimate/loaders.ts; both by default).
 *
 * @param origin - the file the object came from, for output
 * @throws BpfmemError('input') for a map type bpfmem does not know (from objectSpecs)
 */
export function objectMaps(obj: BpfObject, origin: string, profile: KernelProfile, kernelBtf?: Btf, roundsRingbufs?: readonly MapType[]): PlannedMap[] {
  return objectSpecs(obj, profile, { ...(kernelBtf && { kernelBtf }), ...(roundsRingbufs && { roundsRingbufs }) }).map((s) => {
    const m = s.map;
    const internal = m.source === 'data' || m.source === 'kconfig';
    // The loader decided max_entries where it changed it (perf_event_array → possible CPUs, ring
    // buffers rounded to pages), and the flags of global data (BPF_F_MMAPABLE or not).
    const decided: Partial<Record<SizedField, SizeSource>> = {
      key_size: 'object',
      value_size: m.source === 'struct_ops' ? (kernelBtf ? 'kernel' : 'object') : 'object',
      max_entries: s.spec.maxEntries !== m.maxEntries ? 'loader' : 'object',
      flags: internal || s.spec.flags !== m.flags ? 'loader' : 'object',
      elements: s.elements > 0 ? 'loader' : 'object',
    };
    return {
      name: s.name,
      // libbpf's full names: the symbol of a map, the section of global data (bpf_object__find_map_by_name).
      aliases: m.symbol !== s.name ? [m.symbol] : [],
      cut: !internal && m.symbol !== s.name,
      source: m.source,
      origin,
      spec: s.spec,
      elements: s.elements,
      decided,
      // libbpf's map->name, what bpf_object__create_map hands the kernel: the symbol of a map
      // (cut to 15 bytes by bpf_map_create), the sanitized internal name of global data.
      kernelName: internal ? s.name : m.symbol,
      // "max_entries 0: the loader must set it": applyPlan flags that, with the --set to give.
      notes: [...s.loadTime.filter((n) => !n.startsWith('max_entries 0: the loader must')), ...(s.elements > 0 ? [`${s.elements} entries written by libbpf at load (values = { … })`] : [])],
    };
  });
}

/**
 * Instructions the verifier may add per helper or kfunc call it rewrites in line (kernel/bpf/verifier.c
 * do_misc_fixups: inline_bpf_loop's loop is the longest, map_gen_lookup of arrays and hashes, the
 * inlined bpf_get_smp_processor_id and bpf_jiffies64 are shorter) and per division or modulo by a
 * register it guards against zero. Rewrites of context field accesses (convert_ctx_accesses) are
 * not counted.
 */
export const REWRITE_PER_CALL = 20;
export const REWRITE_PER_DIVMOD = 4;

/**
 * The programs of `obj`, with the instructions libbpf hands the kernel: the program's own and the
 * `.text` subprograms it calls, appended once each (bpf_object__relocate → bpf_object__reloc_code
 * → bpf_object__append_subprog_code). The model sizes a program from its instruction count
 * (fdinfo memlock is `round_up(offsetof(struct bpf_prog, insns) + 8 × insns, PAGE_SIZE)`,
 * kernel/bpf/core.c: bpf_prog_alloc_no_stats), and the verifier's rewrites only grow it
 * (bpf_prog_realloc): `maxInsns` bounds them, and where the two counts fall in different pages
 * the estimate is a range.
 */
export function objectProgs(obj: BpfObject, origin: string): PlannedProg[] {
  return obj.progs.map((p) => {
    const insns = p.insns + p.appended;
    const slack = REWRITE_PER_CALL * p.helperCalls + REWRITE_PER_DIVMOD * p.divMods;
    const notes =
      p.subprogs.length > 0
        ? [`${p.insns} instructions of its own and ${p.appended} of the .text subprogram${p.subprogs.length === 1 ? '' : 's'} it calls (${p.subprogs.join(', ')}), appended by libbpf at load (bpf_object__reloc_code)`]
        : [];
    return { name: p.name, origin, section: p.section, insns, ownInsns: p.insns, subprogs: p.subprogs, maxInsns: insns + slack, notes };
  });
}

/** Whether an object has struct_ops maps, whose value size the kernel's BTF gives. */
export const hasStructOps = (obj: BpfObject): boolean => obj.maps.some((m) => m.source === 'struct_ops');
