import { PERCPU_MAP_TYPES } from '../vocab/maptypes.js';
import { formatBytes } from '../vocab/units.js';
import type { CgroupEntry, Inventory, MapEntry } from './inventory.js';

/** Something on this machine worth acting on. */
export interface Warning {
  readonly kind: 'near-limit' | 'uncharged-percpu' | 'removed-cgroup' | 'payer-not-holder' | 'no-charges';
  readonly text: string;
}

/** The one-screen view of a machine: totals, who pays most, the largest objects, warnings. */
export interface Summary {
  readonly maps: number;
  readonly progs: number;
  /** fdinfo memlock of all maps and programs. */
  readonly memlock: number;
  /** The model's estimate of what the kernel charges for all maps, whoever pays (fdinfo memlock for a type it does not model). */
  readonly charged: number;
  /** The model's estimate of map memory no cgroup is charged for (per-CPU memory on 6.0+). */
  readonly uncharged: number;
  readonly topCgroups: readonly CgroupEntry[];
  readonly largestMaps: readonly MapEntry[];
  readonly warnings: readonly Warning[];
}

/** What a map weighs in the top N: its charge, else its memlock. */
const weight = (m: MapEntry): number => m.charge ?? m.memlock;
/** Whether `a` comes before `b` in the top N: heavier first, then the lower id. */
const before = (a: MapEntry, b: MapEntry): boolean => weight(a) > weight(b) || (weight(a) === weight(b) && a.id < b.id);

/**
 * The `n` heaviest maps, heaviest first: one pass that keeps the best `n` in order (a sort of
 * 100,000 maps to keep 100 took 60 ms a scan).
 */
export function largestMaps(maps: readonly MapEntry[], n: number): MapEntry[] {
  const best: MapEntry[] = [];
  if (n <= 0) return best;
  for (const m of maps) {
    if (best.length === n && !before(m, best[n - 1] as MapEntry)) continue;
    let at = best.length;
    while (at > 0 && before(m, best[at - 1] as MapEntry)) at--;
    best.splice(at, 0, m);
    if (best.length > n) best.pop();
  }
  return best;
}

/**
 * Maps charged to a cgroup that none of their holders is in (the creator moved or passed the
 * fd on), pinned maps left out: a pin is made to outlive its creator. Where pins were not looked
 * for, every such map, pinned or not: {@link needsPins}.
 */
export function payerNotHolder(inv: Inventory): MapEntry[] {
  return inv.maps.filter((m) => m.chargedTo.kind === 'cgroup' && m.holders.length > 0 && m.pins.length === 0 && m.holders.every((h) => !holderIn(h, m)));
}

/**
 * Whether {@link summarize} needs the pins this inventory was read without: only to leave
 * pinned maps out of the `payer-not-holder` warning, so only when some map would be in it.
 * Walking the bpf filesystems opens every pin: 21 µs a pin here (`maps --pins --json` 361 ms
 * against `maps --json` 149 ms at 10,000 pinned maps, medians of 9). Most machines need none.
 */
export function needsPins(inv: Inventory): boolean {
  return !inv.pinsRead && payerNotHolder(inv).length > 0;
}

/** Summarizes an inventory; `top` is how many cgroups and maps to list. */
export function summarize(inv: Inventory, top = 5): Summary {
  const memlock = inv.maps.reduce((s, m) => s + m.memlock, 0) + inv.progs.reduce((s, p) => s + p.memlock, 0);
  const charged = inv.maps.reduce((s, m) => s + (m.charge ?? m.memlock), 0);
  const uncharged = inv.maps.reduce((s, m) => s + (m.uncharged ?? 0), 0);
  const warnings: Warning[] = [];
  for (const c of inv.cgroups) {
    if (!Number.isFinite(c.max) || c.max === 0) continue;
    if (c.max - c.usage <= 0.1 * c.max) {
      warnings.push({
        kind: 'near-limit',
        text: `${c.path} is at ${formatBytes(c.usage)} of ${formatBytes(c.max)} (${Math.round((100 * c.usage) / c.max)}%), ${formatBytes(c.bpfSubtree)} of it BPF: a new map or element there may fail with ENOMEM`,
      });
    }
  }
  const percpu = inv.maps.filter((m) => PERCPU_MAP_TYPES.has(m.type as never) && (m.uncharged ?? 0) > 0);
  const percpuBytes = percpu.reduce((s, m) => s + (m.uncharged ?? 0), 0);
  if (percpuBytes >= 1024 * 1024) {
    warnings.push({
      kind: 'uncharged-percpu',
      text: `${percpu.length} per-CPU map${percpu.length === 1 ? '' : 's'} hold ${formatBytes(percpuBytes)} that no memory cgroup is charged for on ${inv.profile.version.major}.${inv.profile.version.minor} (per-CPU values made at creation escape memory.max)`,
    });
  }
  const removed = inv.maps.filter((m) => m.chargedTo.kind === 'removed');
  if (removed.length) {
    warnings.push({
      kind: 'removed-cgroup',
      text: `${removed.length} map${removed.length === 1 ? ' is' : 's are'} charged to a removed cgroup kept alive as a dying memcg (ids ${[...new Set(removed.map((m) => (m.chargedTo.kind === 'removed' ? m.chargedTo.id : '')))].slice(0, 3).join(', ')})`,
    });
  }
  const elsewhere = payerNotHolder(inv);
  if (elsewhere.length && inv.maps.length) {
    warnings.push({
      kind: 'payer-not-holder',
      text: `${elsewhere.length} map${elsewhere.length === 1 ? ' is' : 's are'} charged to a cgroup that none of ${elsewhere.length === 1 ? 'its' : 'their'} holders is in (the creator moved or passed the fd on)`,
    });
  }
  if (inv.chargesUnavailable) {
    warnings.push({ kind: 'no-charges', text: `the cgroup each map is charged to is unknown: ${inv.chargesUnavailable}` });
  }
  return {
    maps: inv.maps.length,
    progs: inv.progs.length,
    memlock,
    charged,
    uncharged,
    topCgroups: [...inv.cgroups].filter((c) => c.bpfOwn > 0).sort((a, b) => b.bpfOwn - a.bpfOwn).slice(0, top),
    largestMaps: largestMaps(inv.maps, top),
    warnings,
  };
}

/** Whether a holder is in the cgroup a map is charged to (holders carry their cgroup when known). */
function holderIn(h: { readonly cgroup?: string }, m: MapEntry): boolean {
  return m.chargedTo.kind === 'cgroup' && h.cgroup !== undefined && (h.cgroup === m.chargedTo.path || h.cgroup.startsWith(`${m.chargedTo.path}/`));
}
