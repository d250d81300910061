import { basisJson, profileJson } from '../vocab/json.js';
import type { ProfileBasis } from '../vocab/profile.js';
import type { Estimate, ProgEstimate } from './maps.js';
import { sumUncharged, unchargedWhy } from '../model/uncharged.js';
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
 * uncharged, uncharged_by: [{ what, why, bytes }], origin, notes }], progs: [{ insns, memlock, charged[, name, section, origin, notes] }],
 * total }`.
 */
export function estimateJson(
  e: Estimate,
  plan: readonly PlannedMap[] = [],
  progs: readonly PlannedProg[] = [],
  cpuBound: readonly boolean[] = [],
  progsMax: readonly ProgEstimate[] = [],
): Record<string, unknown> {
  return {
    profile: profileJson(e.profile),
    maps: e.maps.map((m, i) => {
      const p = plan[i];
      const extra = p
        ? { origin: p.origin, ...(p.aliases.length ? { symbol: p.aliases[0] } : {}), sized_by: sizedBy(p, cpuBound[i] ?? false), decided: p.decided ?? {}, notes: p.notes }
        : {};
      return m.ok
        ? {
            name: m.name,
            type: m.type,
            max_entries: m.maxEntries,
            elements: m.elements,
            memlock: m.memlock,
            charged: m.charged,
            uncharged: m.uncharged,
            uncharged_by: sumUncharged(m.unchargedParts).map((u) => ({ what: u.what, why: unchargedWhy(u.payer, e.profile), bytes: u.bytes })),
            ...extra,
          }
        : { name: m.name, type: m.type, errno: m.errno, reason: m.reason, ...extra };
    }),
    progs: e.progs.map((p, i) => {
      const g = progs[i];
      const extra = g?.name
        ? { name: g.name, section: g.section, origin: g.origin, ...(g.ownInsns !== undefined && { own_insns: g.ownInsns, subprogs: g.subprogs ?? [] }), notes: g.notes }
        : {};
      // The verifier's rewrites may cross a page: the most it may come to.
      const max = progsMax[i];
      const range = max?.ok && g?.maxInsns !== undefined && max.memlock !== p.memlock ? { insns_max: g.maxInsns, memlock_max: max.memlock, charged_max: max.charged } : {};
      return p.ok ? { insns: p.insns, memlock: p.memlock, charged: p.charged, ...range, ...extra } : { insns: p.insns, errno: p.errno, reason: p.reason, ...extra };
    }),
    total: e.total,
  };
}

/**
 * What decided a map's size, for a user comparing two hosts: `object` (its definition),
 * `loader` (what libbpf settles at load: perf_event_array entries, ring buffer pages,
 * BPF_F_MMAPABLE of global data, the slots it fills), `--set`/`--fill` (the user), `kernel`
 * (struct_ops value types from the kernel's BTF), `cpus` (its memory follows the possible CPUs),
 * or `--map`/`dump` for maps not from an object. In that order, each once.
 */
function sizedBy(p: PlannedMap, cpus: boolean): string[] {
  const order = ['object', 'loader', 'kernel', '--set', '--fill', '--map', 'dump'];
  const seen = new Set(Object.values(p.decided ?? {}));
  const out = order.filter((s) => seen.has(s as never));
  if (out.length === 0) out.push(p.origin === '--map' ? '--map' : 'object');
  if (cpus) out.push('cpus');
  return out;
}

/** The whole result: one estimate, or `{ estimates: [...] }` for several profiles. */
export function estimateResultJson(r: EstimateResult, basis?: ProfileBasis): Record<string, unknown> {
  const one = (e: Estimate, i: number): Record<string, unknown> => {
    const f = r.fits?.[i];
    const json = estimateJson(e, r.plans[i], r.progs, r.cpuBound[i], r.progsMax[i]);
    return { ...json, loader: { name: r.loader.name, description: r.loader.description }, ...(basis && { profile: { ...(json['profile'] as Record<string, unknown>), basis: basisJson(basis) } }), ...(f && { limit: limitJson(f) }) };
  };
  const [only] = r.runs;
  return r.runs.length === 1 && only ? one(only, 0) : { estimates: r.runs.map(one) };
}
