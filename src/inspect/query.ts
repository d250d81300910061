import type { Inventory, MapEntry, ProgEntry } from './inventory.js';
import type { Holder } from '../vocab/inventory.js';
import { largestMaps } from './summary.js';
import { didYouMean, oneOf } from '../vocab/fields.js';

/**
 * Filters and orders of an inventory, as `bpfmem maps`/`progs` and the JSON API take them.
 * Pure: the CLI validates the values (a type bpfmem knows, a pid that is a number) first.
 */

/** What to keep. Every given filter must match. */
export interface Filter {
  /**
   * A memory cgroup path: maps charged to it or below it. Programs have no recorded payer, so
   * for them it keeps those with a holder in it or below it.
   */
  readonly cgroup?: string;
  /** Objects this process holds an fd on. */
  readonly pid?: number;
  /**
   * Map or program type, as bpftool names it; or one bpfmem does not know as a listing shows it
   * (`unknown(33)`), or `unknown` for all of those.
   */
  readonly type?: string;
}

export const MAP_SORT_KEYS = ['id', 'name', 'type', 'memlock', 'charge', 'cgroup'] as const;
export type MapSortKey = (typeof MAP_SORT_KEYS)[number];
export const PROG_SORT_KEYS = ['id', 'name', 'type', 'memlock', 'insns'] as const;
export type ProgSortKey = (typeof PROG_SORT_KEYS)[number];

/** Whether `path` is `base` or below it (`/a/b` is below `/a`, `/ab` is not). */
export function isAtOrBelow(path: string, base: string): boolean {
  const b = base.length > 1 ? base.replace(/\/+$/, '') : base;
  return b === '/' || path === b || path.startsWith(`${b}/`);
}

/** A type bpfmem does not know, as a listing shows it: the kernel's number or bpftool's name in a dump. */
const UNKNOWN_TYPE = /^unknown\([a-z0-9_]{1,64}\)$/;

/**
 * Why `value` is not a type filter of `what` (`map`, `program`), or undefined when it is one:
 * a name of `names`, a type shown as `unknown(…)`, or `unknown`.
 */
export function typeFilterProblem(value: string, names: readonly string[], what: string): string | undefined {
  if (names.includes(value) || value === 'unknown' || UNKNOWN_TYPE.test(value)) return undefined;
  return `not a ${what} type${didYouMean(value, names) || `; ${what} types are ${oneOf(names)} (and unknown(N), as a listing shows a type bpfmem does not know)`}`;
}

const typeMatches = (type: string, f: Filter): boolean => f.type === undefined || type === f.type || (f.type === 'unknown' && type.startsWith('unknown('));

const heldBy = (holders: readonly Holder[], pid: number): boolean => holders.some((h) => h.pid === pid);

export function filterMaps(maps: readonly MapEntry[], f: Filter): MapEntry[] {
  return maps.filter(
    (m) =>
      typeMatches(m.type, f) &&
      (f.pid === undefined || heldBy(m.holders, f.pid)) &&
      (f.cgroup === undefined || (m.chargedTo.kind === 'cgroup' && isAtOrBelow(m.chargedTo.path, f.cgroup))),
  );
}

export function filterProgs(progs: readonly ProgEntry[], f: Filter): ProgEntry[] {
  const { cgroup } = f;
  return progs.filter(
    (p) =>
      typeMatches(p.type, f) &&
      (f.pid === undefined || heldBy(p.holders, f.pid)) &&
      (cgroup === undefined || p.holders.some((h) => h.cgroup !== undefined && isAtOrBelow(h.cgroup, cgroup))),
  );
}

const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** The cgroup a map's row sorts under: its path, then removed, nobody, unknown. */
function cgroupKey(m: MapEntry): string {
  switch (m.chargedTo.kind) {
    case 'cgroup':
      return m.chargedTo.path;
    case 'removed':
      return `~1 ${m.chargedTo.id}`;
    case 'nobody':
      return '~2';
    case 'unknown':
      return '~3';
  }
}

/** Sorted copy; numbers largest first, text ascending, ties by id. */
export function sortMaps(maps: readonly MapEntry[], key: MapSortKey): MapEntry[] {
  const cmp: Record<MapSortKey, (a: MapEntry, b: MapEntry) => number> = {
    id: () => 0,
    name: (a, b) => byText(a.name, b.name),
    type: (a, b) => byText(a.type, b.type),
    memlock: (a, b) => b.memlock - a.memlock,
    charge: (a, b) => (b.charge ?? b.memlock) - (a.charge ?? a.memlock),
    cgroup: (a, b) => byText(cgroupKey(a), cgroupKey(b)),
  };
  return [...maps].sort((a, b) => cmp[key](a, b) || a.id - b.id);
}

/**
 * The first `limit` maps of {@link sortMaps}'s order. By charge (the dashboard's question) one
 * pass keeps the largest, without sorting every map.
 */
export function firstMaps(maps: readonly MapEntry[], key: MapSortKey, limit: number): MapEntry[] {
  return key === 'charge' ? largestMaps(maps, limit) : sortMaps(maps, key).slice(0, limit);
}

export function sortProgs(progs: readonly ProgEntry[], key: ProgSortKey): ProgEntry[] {
  const cmp: Record<ProgSortKey, (a: ProgEntry, b: ProgEntry) => number> = {
    id: () => 0,
    name: (a, b) => byText(a.name, b.name),
    type: (a, b) => byText(a.type, b.type),
    memlock: (a, b) => b.memlock - a.memlock,
    insns: (a, b) => b.insns - a.insns,
  };
  return [...progs].sort((a, b) => cmp[key](a, b) || a.id - b.id);
}

/** An inventory with only the objects a filter keeps (cgroups are kept whole: they are the context). */
export function filterInventory(inv: Inventory, f: Filter): Inventory {
  return { ...inv, maps: filterMaps(inv.maps, f), progs: filterProgs(inv.progs, f) };
}
