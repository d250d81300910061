import { fdinfoMemlock, modelKnowsMemlock } from '../model/maps/memlock.js';
import { MAP_TYPES } from '../vocab/maptypes.js';
import { makeProfile, profileInputOf } from '../model/profile.js';
import { type KernelProfile } from '../vocab/profile.js';
import { formatVersion } from '../vocab/kernel-version.js';
import type { Result } from '../vocab/result.js';
import type { BpftoolMap, BpftoolProg } from './bpftool.js';
import type { MapSpec } from '../vocab/map-spec.js';
import { specOf, type Holder, type InventoryInput, type RawMap, type RawProg } from '../vocab/inventory.js';

/**
 * What bpfmem can say from a `bpftool -j map show` dump (`bpfmem maps --from-bpftool FILE`):
 * each map's charge and uncharged per-CPU memory estimated from its layout and memlock, checked
 * against the model where the model knows memlock from the layout. A dump does not say which
 * memory cgroup pays, nor the machine's CPU count or kernel: the CPU count is inferred from the
 * per-CPU maps' memlock where there are any. Pure.
 */

/** A dump's maps as inventory rows. */
export function rawMapsOf(maps: readonly BpftoolMap[]): RawMap[] {
  return maps.map((m) => ({
    id: m.id,
    type: m.mapType ? MAP_TYPES[m.mapType].id : typeof m.type === 'number' ? m.type : -1,
    ...(m.mapType === undefined && typeof m.type === 'string' && { typeName: m.type }),
    name: m.name,
    keySize: m.bytesKey,
    valueSize: m.bytesValue,
    maxEntries: m.maxEntries,
    flags: m.flags,
    // bpftool prints no map_extra: bloom filters count as the default 5 hash functions.
    mapExtra: 0,
    ...(m.bytesMemlock !== undefined && { memlock: m.bytesMemlock }),
  }));
}

/**
 * The kernel a dump's maps were read on, as far as their memlock tells: the profile under which
 * the model gives every map whose memlock follows its layout alone the memlock bpftool printed.
 */
export interface DumpHost {
  /** The candidate that fits, with the CPU count the dump says where it says one. */
  readonly profile: KernelProfile;
  /**
   * `memlock`: every such map's memlock fits this profile (and no earlier candidate's);
   * `unchecked`: the dump has no such map, so nothing tells kernels apart: the first candidate;
   * `unmatched`: no candidate fits them all: the one that fits most.
   */
  readonly basis: 'memlock' | 'unchecked' | 'unmatched';
  /** Whether the CPU count is the dump's (maps whose memlock follows it), not the candidate's own. */
  readonly cpusFromDump: boolean;
  /** Distinct layouts checked, and how many of them fit. */
  readonly checked: number;
  readonly fit: number;
}

/** Distinct layouts at most checked: past these, more of a large dump only costs time. */
const MAX_LAYOUTS = 64;

/**
 * Which of `candidates` (in order of preference) the dump's maps were read on, and with how many
 * possible CPUs. The memlock of a map whose size follows its layout alone tells kernels apart (the
 * formula's era, the struct sizes) and, where it grows with the CPUs (per-CPU values, a hash's
 * extra elements and lock counters), the CPU count; a candidate fits when the model gives every
 * such map its printed memlock. Pure; the cost is bounded by {@link MAX_LAYOUTS} and 8,192 CPUs.
 */
export function inferDumpHost(maps: readonly RawMap[], candidates: readonly KernelProfile[]): DumpHost {
  const first = candidates[0];
  if (!first) throw new RangeError('inferDumpHost: no candidate profile');
  const layouts = knownLayouts(maps);
  if (layouts.length === 0) return { profile: first, basis: 'unchecked', cpusFromDump: false, checked: 0, fit: 0 };
  let best: DumpHost | undefined;
  for (const candidate of candidates) {
    const tried = tryCandidate(layouts, candidate);
    if (tried.fit === layouts.length) return { ...tried, basis: 'memlock' };
    if (!best || tried.fit > best.fit) best = tried;
  }
  return best ?? { profile: first, basis: 'unmatched', cpusFromDump: false, checked: layouts.length, fit: 0 };
}

interface Layout {
  readonly spec: MapSpec;
  readonly memlock: number;
}

/** One map of each layout whose memlock the model knows from the layout alone, at most {@link MAX_LAYOUTS}. */
function knownLayouts(maps: readonly RawMap[]): Layout[] {
  const seen = new Set<string>();
  const out: Layout[] = [];
  for (const m of maps) {
    const spec = specOf(m);
    if (m.memlock === undefined || !spec || !modelKnowsMemlock(spec.type, spec.flags)) continue;
    const key = `${spec.type}/${spec.keySize}/${spec.valueSize}/${spec.maxEntries}/${spec.flags}/${m.memlock}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ spec, memlock: m.memlock });
    if (out.length === MAX_LAYOUTS) break;
  }
  return out;
}

function tryCandidate(layouts: readonly Layout[], candidate: KernelProfile): DumpHost {
  const withCpus = (cpus: number): KernelProfile => ({ ...candidate, possibleCpus: cpus });
  const memlockAt = (l: Layout, p: KernelProfile): number => fdinfoMemlock(l.spec, 0, p);
  // A layout whose memlock differs between 1 and 2 CPUs tells the CPU count.
  const one = withCpus(1);
  const two = withCpus(2);
  const teller = layouts.find((l) => memlockAt(l, one) !== memlockAt(l, two));
  let profile = candidate;
  let cpusFromDump = false;
  if (teller) {
    // Memlock grows with the CPUs: stop once past the printed value.
    for (let cpus = 1; cpus <= 8192; cpus++) {
      const p = withCpus(cpus);
      const m = memlockAt(teller, p);
      if (m === teller.memlock) {
        profile = p;
        cpusFromDump = true;
        break;
      }
      if (m > teller.memlock) break;
    }
  }
  const fit = layouts.filter((l) => memlockAt(l, profile) === l.memlock).length;
  return { profile, basis: 'unmatched', cpusFromDump, checked: layouts.length, fit };
}

/** Versions a dump is looked for on when nothing says its kernel: one per set of default struct sizes and memlock era, newest first. */
export const DUMP_KERNELS: readonly string[] = ['7.2', '6.18', '6.16', '6.12', '6.4', '6.1', '5.15', '5.10'];

/**
 * Candidates for a dump's kernel: `first` (this machine, or what an option says), then one of each
 * version bpfmem has default struct sizes and a memlock formula for, with `first`'s page size.
 */
export function dumpCandidates(first: readonly KernelProfile[], pageSize: number): KernelProfile[] {
  const out = [...first];
  for (const version of DUMP_KERNELS) {
    const made = makeProfile({ version, cpus: 2, pageSize, ...(first[0] && { arch: first[0].arch }) });
    if (made.ok && !out.some((p) => p.release === version)) out.push(made.value);
  }
  return out;
}

/** How a dump is read: the kernel and CPU count, and what decided each. */
export interface DumpReading {
  readonly profile: KernelProfile;
  /** `option`: given; else {@link DumpHost}'s basis. */
  readonly kernelBasis: DumpHost['basis'] | 'option';
  /** `option`: given; `memlock`: the dump's maps say it; `machine`: this machine's count. */
  readonly cpusBasis: 'option' | 'memlock' | 'machine';
  /** `NAME, read as kernel 6.18.44 (this machine's, as its maps' memlock says) with 2 possible CPUs (…)`. */
  readonly line: string;
}

/** What a command's options and this machine say of a dump's host. */
export interface DumpRequest {
  /** This machine's profile: the first candidate, and the CPU count when nothing else says one. */
  readonly machine: KernelProfile;
  /** The kernel an option names (`--kernel`, `--dump-kernel`), which is then the only candidate. */
  readonly kernel?: KernelProfile | undefined;
  /** Another candidate after this machine (estimate's target kernel). */
  readonly also?: KernelProfile | undefined;
  /** The CPU count an option gives. */
  readonly cpus?: number | undefined;
  /** The options' names, for the line: `--kernel`/`--cpus`, `--dump-kernel`/`--dump-cpus`. */
  readonly options: { readonly kernel: string; readonly cpus: string };
}

/**
 * The kernel and CPU count a dump is read as ({@link inferDumpHost} among this machine, `also` and
 * one kernel of each set of default sizes, unless an option names the kernel), and the line that
 * says so. Fails where the CPU count is none the model takes.
 */
export function readDumpAs(maps: readonly RawMap[], name: string, r: DumpRequest): Result<DumpReading> {
  const { machine, options } = r;
  const first = r.also !== undefined && r.also.release !== machine.release ? [machine, r.also] : [machine];
  const host = inferDumpHost(maps, r.kernel ? [r.kernel] : dumpCandidates(first, machine.pageSize));
  const cpus = r.cpus ?? (host.cpusFromDump ? host.profile.possibleCpus : machine.possibleCpus);
  const p = host.profile;
  const made = makeProfile({ ...profileInputOf(p), cpus });
  if (!made.ok) return { ok: false, error: `${options.cpus} ${cpus}: ${made.error}` };
  const here = p.release === machine.release ? "this machine's, " : '';
  const kernelWhy = r.kernel
    ? host.basis === 'unmatched'
      ? `as given, though ${host.fit} of ${host.checked} map layouts fit its memlock`
      : 'as given'
    : host.basis === 'memlock'
      ? `${here}as its maps' memlock says`
      : host.basis === 'unchecked'
        ? `${here}as no map's memlock tells kernels apart; give ${options.kernel}`
        : `the closest: ${host.fit} of ${host.checked} map layouts fit its memlock; give ${options.kernel}`;
  const cpusBasis = r.cpus !== undefined ? 'option' : host.cpusFromDump ? 'memlock' : 'machine';
  const cpusWhy = cpusBasis === 'option' ? 'as given' : cpusBasis === 'memlock' ? "as its maps' memlock says" : `this machine's; give ${options.cpus}`;
  return {
    ok: true,
    value: {
      profile: made.value,
      kernelBasis: r.kernel ? 'option' : host.basis,
      cpusBasis,
      line: `${name}, read as kernel ${formatVersion(made.value.version)} (${kernelWhy}) with ${made.value.possibleCpus} possible CPUs (${cpusWhy})`,
    },
  };
}

/**
 * Maps whose printed memlock differs from the model's for their layout, one line per layout
 * (at most `max`): the dump is from another kernel or CPU count, or the model is wrong.
 */
export function memlockMismatches(maps: readonly RawMap[], profile: KernelProfile, max = 5): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  let more = 0;
  for (const m of maps) {
    const spec = specOf(m);
    if (m.memlock === undefined || !spec || !modelKnowsMemlock(spec.type, spec.flags)) continue;
    const model = fdinfoMemlock(spec, 0, profile);
    if (model === m.memlock) continue;
    const key = `${m.type}/${m.keySize}/${m.valueSize}/${m.maxEntries}/${m.flags}`;
    if (seen.has(key)) continue;
    seen.add(key);
    if (out.length < max) out.push(`map ${m.id} (${spec.type}): bytes_memlock ${m.memlock}, the model gives ${model} for kernel ${profile.release} with ${profile.possibleCpus} CPUs`);
    else more++;
  }
  if (more) out.push(`and ${more} more layouts like these`);
  return out;
}

const holdersOf = (pids: BpftoolMap['pids']): Holder[] => pids.map((p) => ({ pid: p.pid, comm: p.comm }));

/** An inventory input from a dump, under the profile the dump is read with. */
export function inputFromBpftool(maps: readonly BpftoolMap[], progs: readonly BpftoolProg[], profile: KernelProfile, source: string): InventoryInput {
  const raw = rawMapsOf(maps);
  const rawProgs: RawProg[] = progs.map((p) => ({
    id: p.id,
    type: p.progType ?? String(p.type),
    name: p.name,
    tag: p.tag ?? '',
    memlock: p.bytesMemlock ?? 0,
    insns: Math.floor((p.bytesXlated ?? 0) / 8),
    uid: p.uid ?? 0,
  }));
  // Pins are known where the dump lists them (`-f`: bpftool gives every object a `pinned` list
  // then), and unknown (null in JSON, as a listing without --pins) where it does not.
  const listed = maps.some((m) => m.pinned !== undefined) || progs.some((p) => p.pinned !== undefined);
  const pinnedOf = <T extends { id: number; pinned: readonly string[] | undefined }>(objects: readonly T[]): Map<T['id'], string[]> =>
    new Map(objects.flatMap((o) => (o.pinned !== undefined && o.pinned.length > 0 ? [[o.id, [...o.pinned]] as [T['id'], string[]]] : [])));
  const pins = listed ? { maps: pinnedOf(maps), progs: pinnedOf(progs) } : undefined;
  const errors = memlockMismatches(raw, profile);
  const noMemlock = raw.filter((m) => m.memlock === undefined).length;
  if (noMemlock) errors.push(`${noMemlock} map${noMemlock === 1 ? ' has' : 's have'} no bytes_memlock in ${source}: memlock is the model's for those`);
  return {
    profile,
    maps: raw,
    progs: rawProgs,
    chargesUnavailable: `${source} is a bpftool dump: bpftool does not say which memory cgroup pays for each map (run bpfmem maps on that machine)`,
    holders: {
      maps: new Map(maps.map((m) => [m.id as number, holdersOf(m.pids)])),
      progs: new Map(progs.map((p) => [p.id as number, holdersOf(p.pids)])),
    },
    ...(pins && { pins }),
    errors,
  };
}
