import { describe, expect, it } from 'vitest';
import { ModelBackend } from '../model/backend.js';
import { makeProfile } from '../model/profile.js';
import type { Backend, Outcome } from '../vocab/backend.js';
import type { BoundaryResult } from './report.js';
import { runConformance } from './run.js';

/**
 * The boundary probes' second try (run.ts `boundaryCase`): the model stands in for the kernel,
 * and a wrapper refuses some of its probe creations, as a bystander's page in the base would
 * (once) or as a model error would (every time).
 */

const made = makeProfile({ version: '6.12', cpus: 2, pageSize: 4096, cgroup: 2 });
if (!made.ok) throw new Error(made.error);
const profile = made.value;

/** The model as a kernel whose `bm` creations (the probes' maps) are refused when `refuse` says so. */
function refusing(refuse: (nth: number) => boolean): Backend {
  const inner = new ModelBackend(profile);
  let nth = 0;
  return new Proxy(inner, {
    get(target, key, receiver) {
      if (key === 'createMap') {
        return async (task: string, name: string, spec: Parameters<Backend['createMap']>[2]): Promise<Outcome> => {
          if (name === 'bm' && refuse(nth++)) return { ok: false, errno: 'ENOMEM', reason: 'refused by the test' };
          return inner.createMap(task, name, spec);
        };
      }
      const v: unknown = Reflect.get(target, key, receiver);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

async function boundaries(kernel: Backend): Promise<BoundaryResult[]> {
  const report = await runConformance({ kernel, profile, quick: true, sleep: () => Promise.resolve() });
  return report.cases.filter((c): c is BoundaryResult => c.kind === 'boundary' && c.grows === 'max_entries');
}

describe('conformance boundaries: a creation the model did not predict is made a second time', () => {
  it('the model against itself: every probe agrees at the first try', async () => {
    const bs = await boundaries(refusing(() => false));
    expect(bs.length).toBeGreaterThan(0);
    for (const b of bs) {
      expect(b.error).toBeUndefined();
      expect(b.largest.ok).toBe(true);
      expect(b.probes.every((p) => p.result === p.model && p.firstTry === undefined)).toBe(true);
    }
  });

  it('refused once (a bystander): the second try is judged, the first kept as firstTry', async () => {
    const bs = await boundaries(refusing((nth) => nth === 0));
    const first = bs[0];
    expect(first?.largest.ok).toBe(true);
    expect(first?.probes[0]).toMatchObject({ result: 'ok', model: 'ok' });
    expect(first?.probes[0]?.firstTry).toMatch(/^ENOMEM where the model said ok, base \d+$/);
    expect(bs.flatMap((b) => b.probes).filter((p) => p.firstTry !== undefined)).toHaveLength(1);
  });

  it('refused every time (a model error): the probe disagrees, and says so', async () => {
    const bs = await boundaries(refusing(() => true));
    const disagreeing = bs.flatMap((b) => b.probes).filter((p) => p.result !== p.model);
    expect(disagreeing.length).toBeGreaterThan(0);
    expect(bs.every((b) => !b.largest.ok)).toBe(true);
    expect(disagreeing.every((p) => p.result === 'ENOMEM' && p.firstTry?.startsWith('ENOMEM where the model said ok') === true)).toBe(true);
  });
});

describe('conformance on a kernel that refuses a map type to root', () => {
  it('runs none of its cases, names each as skipped with why, and counts nothing against the model', async () => {
    const newest = makeProfile({ version: '6.18', cpus: 2, pageSize: 4096, cgroup: 2 });
    if (!newest.ok) throw new Error(newest.error);
    const all = await runConformance({ kernel: new ModelBackend(newest.value), profile: newest.value, quick: false, sleep: () => Promise.resolve() });
    expect(all.cases.some((c) => c.kind === 'grid' && c.type === 'arena')).toBe(true);
    expect(all.skipped).toEqual([]);
    const why = 'not run: BPF_MAP_CREATE of a one-page arena: EPERM';
    const r = await runConformance({
      kernel: new ModelBackend(newest.value),
      profile: newest.value,
      quick: false,
      sleep: () => Promise.resolve(),
      refusedTypes: new Map([['arena', why]]),
    });
    expect(r.cases.filter((c) => c.kind === 'grid' && c.type === 'arena')).toEqual([]);
    expect(r.skipped).toEqual(all.cases.filter((c) => c.kind === 'grid' && c.type === 'arena').map((c) => ({ id: c.id, why })));
    expect(r.cases).toHaveLength(all.cases.length - r.skipped.length);
    expect(r.totals.errors).toBe(0);
  });
});

/**
 * The model as a kernel whose probe task faults `bytes` of its own as it makes its `bm` map (its
 * reply to the creation: what the live probe task, a Node.js process, does).
 */
function growing(bytes: number): Backend {
  const inner = new ModelBackend(profile);
  return new Proxy(inner, {
    get(target, key, receiver) {
      if (key === 'createMap') {
        return async (task: string, name: string, spec: Parameters<Backend['createMap']>[2]): Promise<Outcome> => {
          const made = await inner.createMap(task, name, spec);
          if (name === 'bm' && made.ok && bytes > 0) {
            const faulted = await inner.allocMemory(task, bytes);
            if (!faulted.ok) throw new Error(`the test's fault: ${faulted.reason}`);
          }
          return made;
        };
      }
      const v: unknown = Reflect.get(target, key, receiver);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

describe('conformance inserts boundaries: the probe task faults pages of its own while the map fills', () => {
  const inserts = async (bytes: number): Promise<BoundaryResult[]> => {
    const report = await runConformance({ kernel: growing(bytes), profile, quick: true, sleep: () => Promise.resolve() });
    return report.cases.filter((c): c is BoundaryResult => c.kind === 'boundary' && c.grows === 'inserts');
  };

  it('they take headroom as the base does: the model is given them, and agrees', async () => {
    const still = await inserts(0);
    const grown = await inserts(3 * 4096);
    expect(grown.length).toBeGreaterThan(0);
    expect(grown.map((b) => b.id)).toEqual(still.map((b) => b.id));
    for (const [i, b] of grown.entries()) {
      const probe = b.probes.at(-1);
      expect(still[i]?.probes.at(-1)?.taskGrowth).toBe(0);
      expect(probe?.taskGrowth).toBe(3 * 4096);
      expect(probe?.refusedAt?.at.usage).toBe(b.max);
      expect((probe?.refusedAt?.at.anon ?? 0) - (probe?.refusedAt?.before.anon ?? 0)).toBe(3 * 4096);
      expect(b.base).toBe((probe?.base ?? 0) + 3 * 4096);
      // 12,288 bytes is 6 inserts of 2,056 bytes fewer in the model; the kernel (here the model
      // faulting after the creation) also charged a page-table page that `anon` does not count.
      expect((still[i]?.largest.model ?? 0) - b.largest.model).toBe(6);
      expect(b.largest.ok).toBe(true);
    }
  });
});

describe('a kernel that shows no kernel memory per cgroup (cgroup v2 before 5.18)', () => {
  /** The model as a kernel whose snapshots read `kernel` as null, as the live backend does there. */
  function blind(): Backend {
    const inner = new ModelBackend(profile);
    return new Proxy(inner, {
      get(target, key, receiver) {
        if (key === 'snapshot') {
          return async () => {
            const s = await inner.snapshot();
            return { ...s, cgroups: s.cgroups.map((c) => ({ ...c, kernel: null })) };
          };
        }
        const v: unknown = Reflect.get(target, key, receiver);
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  }

  it('compares no charge, counts none as checked, and says why; memlock and outcomes are still compared', async () => {
    const report = await runConformance({ kernel: blind(), profile, quick: true, sleep: () => Promise.resolve() });
    const grid = report.cases.filter((c) => c.kind === 'grid');
    expect(grid.length).toBeGreaterThan(20);
    expect(grid.filter((c) => c.createCharge !== undefined || c.inserts?.charge !== undefined || c.inserts?.bystander !== undefined)).toEqual([]);
    expect(report.totals.chargeChecked).toBe(0);
    expect(report.totals.memlockExact).toBe(report.totals.memlockChecked);
    expect(report.totals.memlockChecked).toBeGreaterThan(20);
    expect(report.chargesUnmeasured).toMatch(/memory\.stat has `kernel` from 5\.18/);
  });

  it('says nothing of it where the kernel shows them', async () => {
    const report = await runConformance({ kernel: new ModelBackend(profile), profile, quick: true, sleep: () => Promise.resolve() });
    expect(report.chargesUnmeasured).toBeUndefined();
    expect(report.totals.chargeChecked).toBeGreaterThan(20);
  });
});
