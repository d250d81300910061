import { basisJson, profileJson } from '../vocab/json.js';
import type { ProfileBasis } from '../vocab/profile.js';
import type { Estimate } from './maps.js';
import type { PlannedProg } from './object-plan.js';
import type { PlannedMap } from './plan.js';
import type { EstimateResult, Fit } from './run.js';

/** The JSON of `bpfmem estimate --json` (docs/cli.md#estimate). */

const limitJson = (f: Fit): Record<string, unknown> => ({
  bytes: f.limit,
  counted: f.regime === 'memcg' ? 'charged' : f.regime === 'memlock' ? 'memlock' : 'nothing',
  need: f.need,
  fits: f.fits,
  headroom: f.headroom,
});

/**
 * One estimate: `{ profile, maps: [{ name, type, max_entries, elements, memlock, charged,
 * uncharged, origin, notes }], progs: [{ insns, memlock, charged[, name, section, origin, notes] }],
 * total }`.
 */
export function estimateJson(e: Estimate, plan: readonly PlannedMap[] = [], progs: readonly PlannedProg[] = []): Record<string, unknown> {
  return {
    profile: profileJson(e.profile),
    maps: e.maps.map((m, i) => {
      const p = plan[i];
      const extra = p ? { origin: p.origin, ...(p.aliases.length ? { symbol: p.aliases[0] } : {}), notes: p.notes } : {};
      return m.ok
        ? { name: m.name, type: m.type, max_entries: m.maxEntries, elements: m.elements, memlock: m.memlock, charged: m.charged, uncharged: m.uncharged, ...extra }
        : { name: m.name, type: m.type, errno: m.errno, reason: m.reason, ...extra };
    }),
    progs: e.progs.map((p, i) => {
      const g = progs[i];
      const extra = g?.name ? { name: g.name, section: g.section, origin: g.origin, notes: g.notes } : {};
      return p.ok ? { insns: p.insns, memlock: p.memlock, charged: p.charged, ...extra } : { insns: p.insns, errno: p.errno, reason: p.reason, ...extra };
    }),
    total: e.total,
  };
}

/** The whole result: one estimate, or `{ estimates: [...] }` for several profiles. */
export function estimateResultJson(r: EstimateResult, basis?: ProfileBasis): Record<string, unknown> {
  const one = (e: Estimate, i: number): Record<string, unknown> => {
    const f = r.fits?.[i];
    const json = estimateJson(e, r.plans[i], r.progs);
    return { ...json, ...(basis && { profile: { ...(json['profile'] as Record<string, unknown>), basis: basisJson(basis) } }), ...(f && { limit: limitJson(f) }) };
  };
  const [only] = r.runs;
  return r.runs.length === 1 && only ? one(only, 0) : { estimates: r.runs.map(one) };
}
