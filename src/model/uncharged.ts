import { formatVersion } from '../vocab/kernel-version.js';
import type { KernelProfile } from '../vocab/profile.js';
import { formatBytes } from '../vocab/units.js';
import type { Payer } from './maps/alloc.js';

/** Bytes a map's creation allocated that no memory cgroup pays for, by allocation. */
export interface UnchargedPart {
  /** The allocation, in the kernel's words (`percpu values`, `trampoline image`). */
  readonly what: string;
  /** Why nobody pays: `map` (a map helper inside map_alloc()), `none` (no __GFP_ACCOUNT), `current` (the creator has no cgroup). */
  readonly payer: Payer;
  readonly bytes: number;
}

/** The parts summed by payer and allocation, largest first. */
export function sumUncharged(parts: readonly UnchargedPart[]): UnchargedPart[] {
  const sums = new Map<string, UnchargedPart>();
  for (const p of parts) {
    const key = `${p.payer}\0${p.what}`;
    const had = sums.get(key);
    sums.set(key, { what: p.what, payer: p.payer, bytes: (had?.bytes ?? 0) + p.bytes });
  }
  return [...sums.values()].sort((a, b) => b.bytes - a.bytes || a.what.localeCompare(b.what));
}

/**
 * Why each share of the uncharged bytes goes unpaid, one line per reason (src/model/maps/alloc.ts
 * `Payer`): a map helper (`bpf_map_alloc_percpu()` and kin) called inside map_alloc(), before the
 * map has a cgroup, charges the root memcg on 6.0+ (the creator on 5.11–5.19); an allocation
 * without `__GFP_ACCOUNT` is charged in no era. Empty when nothing is uncharged.
 */
export function unchargedReasons(parts: readonly UnchargedPart[], profile: KernelProfile): string[] {
  const summed = sumUncharged(parts).filter((p) => p.bytes > 0);
  const line = (payer: Payer, why: string): string[] => {
    const mine = summed.filter((p) => p.payer === payer);
    if (mine.length === 0) return [];
    const total = mine.reduce((s, p) => s + p.bytes, 0);
    return [`${formatBytes(total)} ${why}: ${mine.map((p) => `${p.what} ${formatBytes(p.bytes)}`).join(', ')}`];
  };
  return [
    ...line('map', `made inside map_alloc() by the map's allocation helpers, which charge no cgroup there on ${formatVersion(profile.version)} (the creator on 5.11–5.19)`),
    ...line('none', 'allocated without __GFP_ACCOUNT, charged to no cgroup on any kernel'),
    ...line('current', 'charged to the creating task, which is in no memory cgroup'),
  ];
}
