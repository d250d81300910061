import { estimateMaps } from '../estimate/maps.js';
import { elementsFromMemlock, fdinfoMemlock, memlockDependsOnContents } from '../model/maps/memlock.js';
import type { MapSpec } from '../vocab/map-spec.js';
import { isMapType, type MapType } from '../vocab/maptypes.js';
import { specOf, type Holder, type InventoryInput, type RawCgroup } from '../vocab/inventory.js';
import type { KernelProfile } from '../vocab/profile.js';
import { labelOf, type CgroupLabel } from './labels.js';
import { parentOf } from '../vocab/cgroup-path.js';

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
  readonly errors: readonly string[];
}





/** The model's estimate of a map's charge, cached by spec and contents (fleets repeat maps). */
class ChargeEstimator {
  private readonly cache = new Map<string, { charge: number; uncharged: number } | undefined>();
  constructor(private readonly profile: KernelProfile) {}

  estimate(spec: MapSpec, elements: number): { charge: number; uncharged: number } | undefined {
    const key = `${spec.type}/${spec.keySize}/${spec.valueSize}/${spec.maxEntries}/${spec.flags}/${spec.mapExtra}/${elements}`;
    if (this.cache.has(key)) return this.cache.get(key);
    const value = this.compute(spec, elements);
    this.cache.set(key, value);
    return value;
  }

  private compute(spec: MapSpec, elements: number): { charge: number; uncharged: number } | undefined {
    const [m] = estimateMaps([{ name: 'm', spec, elements }], this.profile).maps;
    return m?.ok ? { charge: m.charged, uncharged: m.uncharged } : undefined;
  }
}

function chargedToOf(input: InventoryInput, id: number, labels: Map<string, CgroupLabel>): ChargedTo {
  if (!input.charges) return { kind: 'unknown' };
  const kn = input.charges.get(id);
  if (kn === undefined) return { kind: 'unknown' };
  if (kn === null || kn === 0n) return { kind: 'nobody' };
  const path = input.cgroupPaths?.get(kn);
  if (path === undefined) return { kind: 'removed', id: String(kn) };
  let label = labels.get(path);
  if (label === undefined) labels.set(path, (label = labelOf(path)));
  return { kind: 'cgroup', path, id: String(kn), label };
}

/** Assembles an inventory from what was read. */
export function buildInventory(input: InventoryInput): Inventory {
  const estimator = new ChargeEstimator(input.profile);
  /** Labels by cgroup path: thousands of maps share a few cgroups. */
  const labels = new Map<string, CgroupLabel>();
  const maps: MapEntry[] = input.maps.map((m) => {
    const spec = specOf(m);
    let memlock = m.memlock;
    let memlockSource: MapEntry['memlockSource'] = 'fdinfo';
    if (memlock === undefined && spec) {
      memlock = fdinfoMemlock(spec, 0, input.profile);
      memlockSource = 'model';
    }
    const elements = spec && memlockDependsOnContents(spec.type, spec.flags) && m.memlock !== undefined ? elementsFromMemlock(spec, m.memlock, input.profile) : 0;
    const est = spec ? estimator.estimate(spec, elements) : undefined;
    return {
      id: m.id,
      name: m.name,
      type: spec?.type ?? `unknown(${m.typeName ?? m.type})`,
      keySize: m.keySize,
      valueSize: m.valueSize,
      maxEntries: m.maxEntries,
      flags: m.flags,
      memlock: memlock ?? 0,
      memlockSource,
      charge: est?.charge,
      uncharged: est?.uncharged,
      chargedTo: chargedToOf(input, m.id, labels),
      holders: input.holders?.maps.get(m.id) ?? [],
      pins: input.pins?.get(`map:${m.id}`) ?? [],
    };
  });
  const progs: ProgEntry[] = input.progs.map((p) => ({
    id: p.id,
    name: p.name,
    type: p.type,
    tag: p.tag,
    insns: p.insns,
    memlock: p.memlock,
    holders: input.holders?.progs.get(p.id) ?? [],
    pins: input.pins?.get(`prog:${p.id}`) ?? [],
    chargedTo: { kind: 'unknown' },
  }));
  return {
    profile: input.profile,
    maps,
    progs,
    cgroups: rollUp(input.cgroups ?? [], maps),
    chargesUnavailable: input.chargesUnavailable,
    source: input.source,
    errors: input.errors ?? [],
  };
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
