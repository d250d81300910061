import { estimateMaps, type MapEstimate } from '../estimate/maps.js';
import { BpfmemError } from '../vocab/errors.js';
import type { MapSpec } from '../vocab/map-spec.js';
import { elementsFromMemlock, fdinfoMemlock, memlockDependsOnContents } from '../model/maps/memlock.js';
import { isMapType, type MapType } from '../vocab/maptypes.js';
import { specOf, type DumpBasis, type Holder, type InventoryInput, type RawCgroup, type RawMap } from '../vocab/inventory.js';
import type { KernelProfile } from '../vocab/profile.js';
import { labelOf, type CgroupLabel } from './labels.js';
import { parentOf } from '../vocab/cgroup-path.js';
import { int32OrSelf } from '../vocab/units.js';

/**
 * The live inventory, assembled: every map and program with its memory, holders, pins, and
 * the memory cgroup it is charged to, rolled up per cgroup against its limit. This module is
 * pure: src/live/collect.ts reads the machine into an {@link InventoryInput}, tests feed fixtures.
 */

/** Where a map's memory is charged. */
export type ChargedTo =
  | { readonly kind: 'cgroup'; readonly path: string; readonly id: string; readonly label: CgroupLabel }
  /** A cgroup id that no longer has a directory: removed, pinned as a dying memcg. */
  | { readonly kind: 'removed'; readonly id: string }
  | { readonly kind: 'nobody' }
  | { readonly kind: 'unknown' };

export interface MapEntry {
  readonly id: number;
  readonly name: string;
  readonly type: MapType | `unknown(${string})`;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly flags: number;
  /** fdinfo `memlock`. */
  readonly memlock: number;
  /** Whether `memlock` was read from fdinfo or computed by the model (content-independent types). */
  readonly memlockSource: 'fdinfo' | 'model';
  /** The model's estimate of what memory cgroups are charged for it (undefined: unknown type). */
  readonly charge: number | undefined;
  /** The model's estimate of what it allocated that no cgroup is charged for. */
  readonly uncharged: number | undefined;
  readonly chargedTo: ChargedTo;
  readonly holders: readonly Holder[];
  readonly pins: readonly string[];
}

export interface ProgEntry {
  readonly id: number;
  readonly name: string;
  readonly type: string;
  readonly tag: string;
  readonly insns: number;
  readonly memlock: number;
  readonly holders: readonly Holder[];
  readonly pins: readonly string[];
  /** The kernel keeps no record of the loader's memory cgroup for programs. */
  readonly chargedTo: { readonly kind: 'unknown' };
}

export interface CgroupEntry {
  readonly path: string;
  readonly label: CgroupLabel;
  readonly usage: number;
  readonly max: number;
  /** `max - usage` on the way to the root: the least headroom of it and its ancestors. */
  readonly headroom: number;
  readonly kernel: number | undefined;
  /** Estimated bytes of BPF maps charged to this cgroup itself, and to it and all below. */
  readonly bpfOwn: number;
  readonly bpfSubtree: number;
  readonly objectsOwn: number;
  readonly objectsSubtree: number;
  /** `bpfSubtree / usage`. */
  readonly bpfShare: number;
}

export interface Inventory {
  readonly profile: KernelProfile;
  readonly maps: readonly MapEntry[];
  readonly progs: readonly ProgEntry[];
  readonly cgroups: readonly CgroupEntry[];
  readonly chargesUnavailable: string | undefined;
  readonly source: string | undefined;
  readonly dump: DumpBasis | undefined;
  readonly errors: readonly string[];
  /** How fresh the cgroups' `memory.stat` is, where a read cannot make it exact (v2 on 6.16+). */
  readonly statsAge: string | undefined;
  /** Whether pins were looked for (`pins` of every entry is then what was found; else empty, unknown). */
  readonly pinsRead: boolean;
}





/** What the model says of a map of one layout and contents: the same for every such map. */
interface Derived {
  readonly type: MapEntry['type'];
  readonly memlock: number;
  readonly memlockSource: MapEntry['memlockSource'];
  readonly charge: number | undefined;
  readonly uncharged: number | undefined;
}

/** Entries a model cache holds before it starts over (a scan of a busy machine makes new counts). */
const MAX_DERIVED = 65_536;

/** An empty list shared by every map without holders or pins. */
const NONE: readonly never[] = Object.freeze([]);
const NOBODY: ChargedTo = Object.freeze({ kind: 'nobody' });
const UNKNOWN: ChargedTo = Object.freeze({ kind: 'unknown' });

/**
 * Assembles inventories, again and again for one machine (`top`, `serve`), reusing what did not
 * change: the model's numbers per layout and contents (fleets repeat layouts), one
 * {@link ChargedTo} per cgroup, and a map's whole {@link MapEntry} when its {@link RawMap}, payer,
 * holders and pins are the same objects as at the last build (src/live/collect.ts keeps them so).
 */
export class InventoryBuilder {
  #derived = new Map<string, Derived | undefined>();
  #derivedProfile: KernelProfile | undefined;
  /** The last build's maps (in the input's order) and what they were made from. */
  #lastRaw: readonly RawMap[] = [];
  #lastEntries: readonly MapEntry[] = [];
  /** Payers of the last build, by kernfs id, and labels by path. */
  #payers = new Map<bigint, ChargedTo>();
  #labels = new Map<string, CgroupLabel>();

  /** Assembles an inventory from what was read. */
  build(input: InventoryInput): Inventory {
    if (this.#derivedProfile !== input.profile || this.#derived.size > MAX_DERIVED) {
      this.#derived = new Map();
      this.#derivedProfile = input.profile;
    }
    const payers = new Map<bigint, ChargedTo>();
    const chargedTo = (m: RawMap): ChargedTo => {
      if (input.chargesUnavailable !== undefined) return UNKNOWN;
      const kn = m.cgroupId !== undefined ? m.cgroupId : input.charges ? input.charges.get(m.id) : undefined;
      if (kn === undefined || (m.cgroupId === undefined && !input.charges)) return UNKNOWN;
      if (kn === null || kn === 0n) return NOBODY;
      let c = payers.get(kn);
      if (c === undefined) {
        const path = input.cgroupPaths?.get(kn);
        const old = this.#payers.get(kn);
        if (path === undefined) c = old?.kind === 'removed' ? old : { kind: 'removed', id: String(kn) };
        else if (old?.kind === 'cgroup' && old.path === path) c = old;
        else {
          let label = this.#labels.get(path);
          if (label === undefined) this.#labels.set(path, (label = labelOf(path)));
          c = { kind: 'cgroup', path, id: String(kn), label };
        }
        payers.set(kn, c);
      }
      return c;
    };
    const holders = input.holders?.maps;
    const pins = input.pins?.maps;
    const lastRaw = this.#lastRaw;
    const lastEntries = this.#lastEntries;
    const maps: MapEntry[] = new Array<MapEntry>(input.maps.length);
    for (let i = 0, j = 0; i < input.maps.length; i++) {
      const m = input.maps[i] as RawMap;
      const to = chargedTo(m);
      const held = holders?.get(m.id) ?? NONE;
      const pinned = pins?.get(m.id) ?? NONE;
      // Maps come in id order from the machine: the last build's cursor follows.
      while (j < lastRaw.length && (lastRaw[j] as RawMap).id < m.id) j++;
      const old = lastRaw[j] === m ? lastEntries[j] : undefined;
      if (old) {
        maps[i] = old.chargedTo === to && old.holders === held && old.pins === pinned ? old : { ...old, chargedTo: to, holders: held, pins: pinned };
        continue;
      }
      const d = this.#derive(m, input.profile);
      maps[i] = {
        id: m.id,
        name: m.name,
        type: d.type,
        keySize: m.keySize,
        valueSize: m.valueSize,
        maxEntries: m.maxEntries,
        flags: m.flags,
        memlock: d.memlock,
        memlockSource: d.memlockSource,
        charge: d.charge,
        uncharged: d.uncharged,
        chargedTo: to,
        holders: held,
        pins: pinned,
      };
    }
    this.#lastRaw = input.maps;
    this.#lastEntries = maps;
    this.#payers = payers;
    const progPins = input.pins?.progs;
    const progs: ProgEntry[] = input.progs.map((p) => ({
      id: p.id,
      name: p.name,
      type: p.type,
      tag: p.tag,
      insns: p.insns,
      memlock: p.memlock,
      holders: input.holders?.progs.get(p.id) ?? NONE,
      pins: progPins?.get(p.id) ?? NONE,
      chargedTo: { kind: 'unknown' },
    }));
    return {
      profile: input.profile,
      maps,
      progs,
      cgroups: rollUp(input.cgroups ?? [], maps),
      chargesUnavailable: input.chargesUnavailable,
      source: input.source,
      dump: input.dump,
      errors: input.errors ?? [],
      statsAge: input.statsAge,
      pinsRead: input.pins !== undefined,
    };
  }

  /** The model's numbers for a map's layout and contents, cached. */
  #derive(m: RawMap, profile: KernelProfile): Derived {
    const key = `${m.type}/${m.keySize}/${m.valueSize}/${m.maxEntries}/${m.flags}/${m.mapExtra}/${m.elements ?? ''}/${m.memlock ?? ''}/${m.typeName ?? ''}`;
    let d = this.#derived.get(key);
    if (d === undefined) this.#derived.set(key, (d = derive(m, profile)));
    return d;
  }
}

/** What the model says of one map (see {@link Derived}). */
function derive(m: RawMap, profile: KernelProfile): Derived {
  const spec = specOf(m);
  if (!spec) return { type: `unknown(${m.typeName ?? m.type})`, memlock: m.memlock ?? 0, memlockSource: 'fdinfo', charge: undefined, uncharged: undefined };
  const contents = memlockDependsOnContents(spec.type, spec.flags);
  const elements = !contents ? 0 : (m.elements ?? (m.memlock !== undefined ? elementsFromMemlock(spec, m.memlock, profile) : 0));
  const [est] = estimateOne(spec, elements, profile);
  // Small integers, not doubles: every entry of this layout copies them (see int32OrSelf).
  return {
    type: spec.type,
    memlock: int32OrSelf(m.memlock ?? fdinfoMemlock(spec, elements, profile)),
    memlockSource: m.memlock !== undefined ? 'fdinfo' : 'model',
    charge: est?.ok ? int32OrSelf(est.charged) : undefined,
    uncharged: est?.ok ? int32OrSelf(est.uncharged) : undefined,
  };
}

/**
 * The model's estimate of one map, or none where the model refuses to simulate it (more inserts
 * that allocate than it simulates, from a memlock that says so): its charge is then unknown.
 */
function estimateOne(spec: MapSpec, elements: number, profile: KernelProfile): readonly MapEstimate[] {
  try {
    return estimateMaps([{ name: 'm', spec, elements }], profile).maps;
  } catch (error) {
    if (error instanceof BpfmemError && error.code === 'input') return [];
    throw error;
  }
}

/** Assembles an inventory from what was read, once (see {@link InventoryBuilder}). */
export function buildInventory(input: InventoryInput): Inventory {
  return new InventoryBuilder().build(input);
}

const depth = (path: string): number => (path === '/' ? 0 : path.split('/').length - 1);


/** Per cgroup: BPF bytes charged to it and below, objects, share of usage, headroom. */
export function rollUp(cgroups: readonly RawCgroup[], maps: readonly MapEntry[]): CgroupEntry[] {
  const own = new Map<string, { bytes: number; objects: number }>();
  for (const m of maps) {
    if (m.chargedTo.kind !== 'cgroup') continue;
    const o = own.get(m.chargedTo.path) ?? { bytes: 0, objects: 0 };
    o.bytes += m.charge ?? m.memlock;
    o.objects++;
    own.set(m.chargedTo.path, o);
  }
  const byPath = new Map(cgroups.map((c) => [c.path, c]));
  /** The nearest ancestor that was read (a cgroup created meanwhile may lack its parent). */
  const listedParent = (path: string): string | undefined => {
    for (let p = path; p !== '/'; ) {
      p = parentOf(p);
      if (byPath.has(p)) return p;
    }
    return undefined;
  };
  // Deepest first, so each subtree is complete before it is added to its parent.
  const sorted = [...cgroups].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const subtree = new Map<string, { bytes: number; objects: number }>();
  for (const c of [...cgroups].sort((a, b) => depth(b.path) - depth(a.path))) {
    const mine = own.get(c.path) ?? { bytes: 0, objects: 0 };
    const s = subtree.get(c.path) ?? { bytes: 0, objects: 0 };
    s.bytes += mine.bytes;
    s.objects += mine.objects;
    subtree.set(c.path, s);
    const up = listedParent(c.path);
    if (up !== undefined) {
      const u = subtree.get(up) ?? { bytes: 0, objects: 0 };
      u.bytes += s.bytes;
      u.objects += s.objects;
      subtree.set(up, u);
    }
  }
  return sorted.map((c) => {
    let headroom = c.max - c.usage;
    for (let p = c.path; p !== '/'; ) {
      p = parentOf(p);
      const up = byPath.get(p);
      if (up && Number.isFinite(up.max)) headroom = Math.min(headroom, up.max - up.usage);
    }
    const mine = own.get(c.path) ?? { bytes: 0, objects: 0 };
    const s = subtree.get(c.path) ?? { bytes: 0, objects: 0 };
    return {
      path: c.path,
      label: labelOf(c.path),
      usage: c.usage,
      max: c.max,
      headroom,
      kernel: c.kernel,
      bpfOwn: mine.bytes,
      bpfSubtree: s.bytes,
      objectsOwn: mine.objects,
      objectsSubtree: s.objects,
      bpfShare: c.usage > 0 ? s.bytes / c.usage : 0,
    };
  });
}

/** Whether a type name is one bpfmem knows (for filters). */
export function knownType(name: string): boolean {
  return isMapType(name);
}
