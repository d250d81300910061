import { describe, expect, it } from 'vitest';
import { estimateMaps } from '../estimate/maps.js';
import { ModelBackend } from '../model/backend.js';
import { profileOf } from '../model/profile.js';
import { MAP_FLAGS } from '../vocab/flags.js';
import { mapSpec } from '../vocab/map-spec.js';
import { forecast, limitOnPath, slope, type ForecastPoint } from './forecast.js';

const MiB = 1024 * 1024;
const INF = Number.POSITIVE_INFINITY;

describe('slope', () => {
  it('is the least-squares slope, 0 for one point or one time', () => {
    expect(slope([])).toBe(0);
    expect(slope([[5, 10]])).toBe(0);
    expect(slope([[5, 10], [5, 20]])).toBe(0);
    expect(slope([[0, 0], [10, 100], [20, 200]])).toBeCloseTo(10, 12);
    // A noisy middle point does not move a line through the ends much.
    expect(slope([[0, 0], [10, 130], [20, 200]])).toBeCloseTo(10, 12);
  });
});

describe('limitOnPath', () => {
  it('is the least room of the cgroup and its ancestors, the root excluded', () => {
    const c = new Map([
      ['/', { path: '/', bpf: 0, usage: 10 * MiB, max: 1 * MiB }],
      ['/a', { path: '/a', bpf: 0, usage: 90 * MiB, max: 100 * MiB }],
      ['/a/b', { path: '/a/b', bpf: 1, usage: 10 * MiB, max: 50 * MiB }],
    ]);
    expect(limitOnPath(c, '/a/b')).toEqual({ headroom: 10 * MiB, cgroup: '/a' });
    expect(limitOnPath(new Map([['/x', { path: '/x', bpf: 1, usage: 5, max: INF }]]), '/x')).toEqual({ headroom: INF, cgroup: undefined });
  });
});

describe('the forecast on the model: a cgroup whose BPF grows at a known rate', () => {
  it('finds that rate and the time until the nearest limit on its path', async () => {
    // 6.18 on 4 CPUs: a no-prealloc hash in /team/app (64 MiB) under /team (96 MiB), filled with
    // 400 elements every 5 minutes for an hour (13 scans). The model says what each element costs;
    // the rate is 400 elements of that per 300 s.
    const profile = profileOf({ version: '6.18', cpus: 4 });
    const model = new ModelBackend(profile);
    const spec = mapSpec({ type: 'hash', keySize: 8, valueSize: 1000, maxEntries: 200_000, flags: MAP_FLAGS.no_prealloc });
    expect((await model.createCgroup('/team', { max: 96 * MiB, high: INF })).ok).toBe(true);
    expect((await model.createCgroup('/team/app', { max: 64 * MiB, high: INF })).ok).toBe(true);
    expect((await model.startTask('t', { cgroup: '/team/app', uid: 0 })).ok).toBe(true);
    expect((await model.createMap('t', 'flows', spec)).ok).toBe(true);
    const points: ForecastPoint[] = [];
    const perScan = 400;
    const t0 = Date.UTC(2026, 0, 1);
    for (let scan = 0; scan <= 12; scan++) {
      if (scan > 0) expect((await model.updateMap('flows', perScan, { task: 't' }, 0)).ok).toBe(true);
      const s = await model.snapshot();
      const cg = (path: string) => {
        const c = s.cgroups.find((x) => x.path === path);
        if (!c) throw new Error(path);
        return { usage: c.usage, max: c.max ?? INF };
      };
      // What an inventory says per cgroup: the map's charge (its own BPF), usage and limit.
      const charged = s.maps.find((m) => m.name === 'flows')?.charged ?? 0;
      points.push({
        at: t0 + scan * 300_000,
        cgroups: [
          { path: '/team', bpf: 0, usage: cg('/team').usage, max: cg('/team').max },
          { path: '/team/app', bpf: charged, usage: cg('/team/app').usage, max: cg('/team/app').max },
        ],
      });
    }
    // The known rate: what 12 × 400 elements cost on this profile (bpfmem estimate), over an hour.
    const [empty] = estimateMaps([{ name: 'm', spec, elements: 0 }], profile).maps;
    const [full] = estimateMaps([{ name: 'm', spec, elements: 12 * perScan }], profile).maps;
    if (!empty?.ok || !full?.ok) throw new Error('estimate failed');
    const knownRate = (full.charged - empty.charged) / 3600;
    expect(knownRate).toBeGreaterThan(1000);

    const [f] = forecast(points);
    if (!f) throw new Error('no forecast');
    expect(f.path).toBe('/team/app');
    expect(f.windowSeconds).toBe(3600);
    // Growth per element is the same at every step of this map (no page boundary moves the
    // estimate): the least-squares line is the known rate, to rounding.
    expect(f.ratePerSecond / knownRate).toBeCloseTo(1, 2);
    const last = points.at(-1)?.cgroups ?? [];
    const app = last.find((c) => c.path === '/team/app');
    const team = last.find((c) => c.path === '/team');
    if (!app || !team) throw new Error('no cgroups');
    const room = Math.min(app.max - app.usage, team.max - team.usage);
    expect(f.headroom).toBe(room);
    expect(f.limitCgroup).toBe(app.max - app.usage <= team.max - team.usage ? '/team/app' : '/team');
    expect(f.etaSeconds).toBeCloseTo(room / f.ratePerSecond, 6);
    // And the ETA comes true in the model: inserting at that rate for that long fills the room.
    const elementsPerSecond = perScan / 300;
    const more = Math.ceil(((f.etaSeconds ?? 0) + 600) * elementsPerSecond);
    const r = await model.updateMap('flows', more, { task: 't' }, 0);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errno).toBe('ENOMEM');
    const tooEarly = new ModelBackend(profile);
    await tooEarly.createCgroup('/team', { max: 96 * MiB, high: INF });
    await tooEarly.createCgroup('/team/app', { max: 64 * MiB, high: INF });
    await tooEarly.startTask('t', { cgroup: '/team/app', uid: 0 });
    await tooEarly.createMap('t', 'flows', spec);
    const before = Math.floor(((f.etaSeconds ?? 0) - 600) * elementsPerSecond) + 12 * perScan;
    expect((await tooEarly.updateMap('flows', before, { task: 't' }, 0)).ok).toBe(true);
  });

  it('gives no ETA for a flat or shrinking cgroup, and none without a limit', () => {
    const flat: ForecastPoint[] = [0, 1, 2].map((i) => ({ at: i * 60_000, cgroups: [{ path: '/a', bpf: 5000, usage: 10_000, max: 20_000 }] }));
    expect(forecast(flat)[0]).toMatchObject({ ratePerSecond: 0, etaSeconds: undefined });
    const unlimited: ForecastPoint[] = [0, 1].map((i) => ({ at: i * 60_000, cgroups: [{ path: '/a', bpf: 5000 + i * 6000, usage: 10_000, max: INF }] }));
    expect(forecast(unlimited)[0]).toMatchObject({ ratePerSecond: 100, etaSeconds: undefined, limitCgroup: undefined });
  });

  it('looks back one window only', () => {
    const pts: ForecastPoint[] = [
      { at: 0, cgroups: [{ path: '/a', bpf: 1, usage: 0, max: 1e9 }] },
      { at: 7_200_000, cgroups: [{ path: '/a', bpf: 1_000_001, usage: 0, max: 1e9 }] },
      { at: 7_260_000, cgroups: [{ path: '/a', bpf: 1_000_001, usage: 0, max: 1e9 }] },
    ];
    expect(forecast(pts, 3_600_000)[0]?.ratePerSecond).toBe(0);
  });
});
