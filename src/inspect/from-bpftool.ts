import { fdinfoMemlock, modelKnowsMemlock } from '../model/maps/memlock.js';
import { MAP_TYPES } from '../vocab/maptypes.js';
import { makeProfile, type ProfileInput } from '../model/profile.js';
import { type KernelProfile } from '../vocab/profile.js';
import type { BpftoolMap, BpftoolProg } from './bpftool.js';
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
 * The possible-CPU count under which the model gives every per-CPU map in the dump its
 * printed memlock, or undefined when no per-CPU map decides it (or none fits).
 */
export function inferCpus(maps: readonly RawMap[], base: Omit<ProfileInput, 'cpus'>): number | undefined {
  const probes = maps.filter((m) => {
    const spec = specOf(m);
    return m.memlock !== undefined && spec !== undefined && modelKnowsMemlock(spec.type, spec.flags) && /percpu/.test(spec.type);
  });
  if (probes.length === 0) return undefined;
  const sample = probes.slice(0, 16);
  for (let cpus = 1; cpus <= 8192; cpus++) {
    const p = makeProfile({ ...base, cpus });
    if (!p.ok) return undefined;
    if (sample.every((m) => fdinfoMemlockOf(m, p.value) === m.memlock)) return cpus;
  }
  return undefined;
}

function fdinfoMemlockOf(m: RawMap, profile: KernelProfile): number | undefined {
  const spec = specOf(m);
  return spec ? fdinfoMemlock(spec, 0, profile) : undefined;
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
  const pins = new Map<string, string[]>();
  for (const m of maps) if (m.pinned.length) pins.set(`map:${m.id}`, [...m.pinned]);
  for (const p of progs) if (p.pinned.length) pins.set(`prog:${p.id}`, [...p.pinned]);
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
    pins,
    errors,
  };
}
