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
 * Why an allocation goes unpaid (src/model/maps/alloc.ts `Payer`): the kernel charges no memory
 * cgroup for BPF at all (`regime`: before 5.11, or kmem accounting off); a map helper
 * (`bpf_map_alloc_percpu()` and kin) called inside map_alloc(), before the map has a cgroup,
 * charges the root memcg on 6.0+ (`map_alloc_helper`; the creator on 5.11–5.19); an allocation
 * without `__GFP_ACCOUNT` is charged in no era (`not_accounted`); or the creator is in the root
 * memory cgroup, which is never charged (`creator_in_no_cgroup`).
 */
export type UnchargedWhy = 'regime' | 'map_alloc_helper' | 'not_accounted' | 'creator_in_no_cgroup';

export function unchargedWhy(payer: Payer, profile: KernelProfile): UnchargedWhy {
  if (profile.regime !== 'memcg') return 'regime';
  return payer === 'map' ? 'map_alloc_helper' : payer === 'none' ? 'not_accounted' : 'creator_in_no_cgroup';
}

/** Why each share of the uncharged bytes goes unpaid ({@link unchargedWhy}), one line per reason. Empty when nothing is uncharged. */
export function unchargedReasons(parts: readonly UnchargedPart[], profile: KernelProfile): string[] {
  const summed = sumUncharged(parts).filter((p) => p.bytes > 0);
  const texts: Record<UnchargedWhy, string> = {
    regime: `charged to no cgroup: kernel ${formatVersion(profile.version)} does not charge BPF memory to memory cgroups`,
    map_alloc_helper: `made inside map_alloc() by the map's allocation helpers, which charge no cgroup there on ${formatVersion(profile.version)} (the creator on 5.11–5.19)`,
    not_accounted: 'allocated without __GFP_ACCOUNT, charged to no cgroup on any kernel',
    creator_in_no_cgroup: 'charged to the creating task, which is in no memory cgroup',
  };
  return (Object.keys(texts) as UnchargedWhy[]).flatMap((why) => {
    const mine = summed.filter((p) => unchargedWhy(p.payer, profile) === why);
    if (mine.length === 0) return [];
    const total = mine.reduce((s, p) => s + p.bytes, 0);
    return [`${formatBytes(total)} ${texts[why]}: ${mine.map((p) => `${p.what} ${formatBytes(p.bytes)}`).join(', ')}`];
  });
}
