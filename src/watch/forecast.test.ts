import { describe, expect, it } from 'vitest';
import { estimateMaps } from '../estimate/maps.js';
import { ModelBackend } from '../model/backend.js';
import { profileOf } from '../model/profile.js';
import { MAP_FLAGS } from '../vocab/flags.js';
import { mapSpec } from '../vocab/map-spec.js';
import { forecast, ForecastHistory, limitOnPath, slope, type CgroupPoint, type ForecastPoint } from './forecast.js';

const MiB = 1024 * 1024;
const INF = Number.POSITIVE_INFINITY;

describe('slope', () => {
  it('is the least-squares slope, 0 for one point or one time', () => {
    expect(slope([])).toBe(0);
    expect(slope([[5, 10]])).toBe(0);
    expect(slope([[5, 10], [5, 20]])).toBe(0);
    expect(slope([[0, 0], [10, 100], [20, 200]])).toBeCloseTo(10, 12);
    // One noisy scan off the middle moves the line, by its noise times its distance from the
    // mean time over the sum of squared distances: +30 at t = 3 of t = 0..10 (mean 5, sum 110)
    // takes 60/110 off a slope of 10, and no more.
    const line = Array.from({ length: 11 }, (_, t): [number, number] => [t, 10 * t + (t === 3 ? 30 : 0)]);
    expect(slope(line)).toBeCloseTo(10 - 60 / 110, 12);
    expect(Math.abs(slope(line) - 10)).toBeLessThan(0.6);
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

describe('ForecastHistory', () => {
  it('holds one series per paying cgroup, not every cgroup of every frame', () => {
    // 500 cgroups, 20 of them paying (each growing 1000 bytes a frame), 600 frames 2 s apart.
    const idle: CgroupPoint[] = Array.from({ length: 480 }, (_, i) => ({ path: `/idle/c${i}`, bpf: 0, usage: 1000, max: INF }));
    const h = new ForecastHistory();
    for (let f = 0; f < 600; f++) {
      const payers = Array.from({ length: 20 }, (_, i): CgroupPoint => ({ path: `/pay/c${i}`, bpf: 10_000 + f * 1000, usage: 1e6 + f * 1000, max: 1e9 }));
      h.add({ at: f * 2000, cgroups: [{ path: '/pay', bpf: 0, usage: 3e7, max: 2e9 }, ...idle, ...payers] });
    }
    expect(h.held).toBe(20 * 600);
    const fs = h.forecast();
    expect(fs).toHaveLength(20);
    for (const f of fs) {
      expect(f.ratePerSecond).toBeCloseTo(500, 9);
      expect(f.windowSeconds).toBe(1198);
      // The room on the path: its own limit (1e9 - usage) is less than /pay's (2e9 - 3e7).
      expect(f).toMatchObject({ headroom: 1e9 - (1e6 + 599 * 1000), limitCgroup: f.path });
    }
  });

  it('covers the whole window at any interval: frames closer than window / maxPoints are thinned, the latest kept', () => {
    // 100 ms frames for two hours: 72,000 frames, of which the last hour is kept in at most 10,002 points.
    const h = new ForecastHistory(3_600_000, 10_000);
    for (let f = 0; f <= 72_000; f++) h.add({ at: f * 100, cgroups: [{ path: '/a', bpf: 1e6 + f * 10, usage: 0, max: 1e12 }] });
    const [a] = h.forecast();
    expect(a?.windowSeconds).toBeGreaterThan(3599);
    expect(a?.ratePerSecond).toBeCloseTo(100, 6);
    expect(a?.bpf).toBe(1e6 + 72_000 * 10);
    expect(h.held).toBeLessThanOrEqual(10_002);
    expect(h.held).toBeGreaterThan(9000);
  });

  it('drops a series once its cgroup has not paid for a window, and forecasts only the last point\'s payers', () => {
    const h = new ForecastHistory(60_000);
    h.add({ at: 0, cgroups: [{ path: '/a', bpf: 10, usage: 0, max: INF }] });
    h.add({ at: 30_000, cgroups: [{ path: '/a', bpf: 0, usage: 0, max: INF }, { path: '/b', bpf: 5, usage: 0, max: INF }] });
    expect(h.held).toBe(3);
    expect(h.forecast().map((f) => f.path)).toEqual(['/b']);
    h.add({ at: 100_000, cgroups: [{ path: '/b', bpf: 5, usage: 0, max: INF }] });
    expect(h.held).toBe(1);
  });
});
