import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildInventory } from '../../src/inspect/inventory.js';
import { cgroupsJson, mapsJson, progsJson, summaryJson } from '../../src/inspect/json.js';
import { json } from '../../src/vocab/json.js';
import { filterMaps, filterProgs, sortMaps, sortProgs, type Filter, type MapSortKey, type ProgSortKey } from '../../src/inspect/query.js';
import { summarize } from '../../src/inspect/summary.js';
import { acceptsGzip, createApp, unknownCgroup } from '../../src/server/app.js';
import { fixtureSource, startServer, type RunningServer } from '../../src/server/index.js';
import { notBuiltPage } from '../../src/server/static.js';
import { describeMachine } from '../../src/live/machine.js';
import { CONTAINER, fixtureInput, POD, SERVICE } from './fixture.js';
import { CountingSource, until } from './helpers.js';
import { Scanner, type Published } from '../../src/server/scanner.js';

/**
 * The JSON API of the real server over a fixture: each answer is, byte for byte, what the CLI
 * prints with `--json` for the same inventory (the builders of src/inspect/json.ts with the
 * CLI's filters and orders), bad query values are 400 with one line, and history grows a point
 * per scan.
 */

const inv = buildInventory(fixtureInput());

describe('the JSON API', () => {
  let server: RunningServer;
  const get = (path: string): Promise<Response> => fetch(`${server.url}${path}`);

  beforeAll(async () => {
    // The fixture with this machine's facts for /api/v1/probe, as the machine's own source has them.
    server = await startServer({ port: 0, source: { ...fixtureSource(fixtureInput(), 'fixture reason'), machine: describeMachine } });
  });
  afterAll(async () => {
    await server.close();
  });

  it('GET /healthz: status, the last scan, its duration, counts', async () => {
    const r = await get('/healthz');
    expect(r.status).toBe(200);
    const h = (await r.json()) as Record<string, unknown>;
    expect(Object.keys(h)).toEqual(['status', 'last_scan', 'scan_seconds', 'scans', 'errors', 'last_error']);
    expect(h).toMatchObject({ status: 'ok', scans: 1, errors: 0, last_error: null });
    expect(new Date(h['last_scan'] as string).toISOString()).toBe(h['last_scan']);
    expect(h['scan_seconds']).toBeGreaterThanOrEqual(0);
  });

  it('GET /api/v1/summary is `bpfmem --json`', async () => {
    const r = await get('/api/v1/summary');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await r.text()).toBe(json(summaryJson(inv, summarize(inv), { regimeReason: 'fixture reason' })));
  });

  it('GET /api/v1/maps is `bpfmem maps --json`', async () => {
    expect(await (await get('/api/v1/maps')).text()).toBe(mapsJson(inv, sortMaps(inv.maps, 'id')));
  });

  const mapCases: [string, Filter, MapSortKey][] = [
    ['?type=hash', { type: 'hash' }, 'id'],
    [`?cgroup=${encodeURIComponent(POD)}`, { cgroup: POD }, 'id'],
    [`?cgroup=${encodeURIComponent(`${POD}/`)}`, { cgroup: POD }, 'id'],
    ['?cgroup=%2Fkubepods&sort=charge', { cgroup: '/kubepods' }, 'charge'],
    ['?pid=4242', { pid: 4242 }, 'id'],
    ['?pid=4242&type=hash&sort=memlock', { pid: 4242, type: 'hash' }, 'memlock'],
    ['?sort=cgroup', {}, 'cgroup'],
    ['?sort=name', {}, 'name'],
    ['?cgroup=&pid=&type=&sort=', {}, 'id'],
    ['?type=lru_hash', { type: 'lru_hash' }, 'id'],
    ['?unknown_param=1&type=array', { type: 'array' }, 'id'],
  ];
  it.each(mapCases)('GET /api/v1/maps%s filters and sorts as bpfmem maps does', async (query, filter, sort) => {
    const r = await get(`/api/v1/maps${query}`);
    expect(r.status).toBe(200);
    expect(await r.text()).toBe(mapsJson(inv, sortMaps(filterMaps(inv.maps, filter), sort)));
  });

  it('the filters select what they say', async () => {
    const names = async (q: string): Promise<string[]> => ((await (await get(`/api/v1/maps${q}`)).json()) as { maps: { name: string }[] }).maps.map((m) => m.name);
    expect(await names(`?cgroup=${encodeURIComponent(POD)}`)).toEqual(['flows', 'conns']);
    expect(await names(`?cgroup=${encodeURIComponent(CONTAINER)}`)).toEqual(['flows']);
    expect(await names('?pid=777')).toEqual(['counts']);
    expect(await names(`?cgroup=${encodeURIComponent(SERVICE)}&sort=memlock`)).toEqual(['counts', 'future']);
    // A type bpfmem does not know, as the listing and /metrics show it; or every such type.
    expect(await names('?type=unknown(new_thing)')).toEqual(['future']);
    expect(await names('?type=unknown')).toEqual(['future']);
    expect(await names('?type=unknown(other)')).toEqual([]);
  });

  const progCases: [string, Filter, ProgSortKey][] = [
    ['', {}, 'id'],
    ['?type=xdp', { type: 'xdp' }, 'id'],
    ['?sort=insns', {}, 'insns'],
    [`?cgroup=${encodeURIComponent(POD)}`, { cgroup: POD }, 'id'],
    ['?pid=4242', { pid: 4242 }, 'id'],
  ];
  it.each(progCases)('GET /api/v1/progs%s is `bpfmem progs --json`', async (query, filter, sort) => {
    expect(await (await get(`/api/v1/progs${query}`)).text()).toBe(progsJson(inv, sortProgs(filterProgs(inv.progs, filter), sort)));
  });

  it('GET /api/v1/cgroups is `bpfmem cgroups --json` (every cgroup)', async () => {
    const text = await (await get('/api/v1/cgroups')).text();
    expect(text).toBe(cgroupsJson(inv, inv.cgroups));
    expect((JSON.parse(text) as { cgroups: unknown[] }).cgroups).toHaveLength(fixtureInput().cgroups?.length ?? -1);
  });

  const bad: [string, string][] = [
    ['/api/v1/maps?type=hsh', 'type="hsh": not a map type (did you mean hash?)'],
    ['/api/v1/maps?type=nothing_like_it', 'type="nothing_like_it": not a map type; map types are '],
    ['/api/v1/maps?type=unknown(a%20b)', 'type="unknown(a b)": not a map type; map types are '],
    ['/api/v1/maps?pid=abc', 'pid="abc": expected a process id (a positive whole number)'],
    ['/api/v1/maps?pid=0', 'pid="0": expected a process id'],
    ['/api/v1/maps?pid=99999999999', 'pid="99999999999": expected a process id'],
    ['/api/v1/maps?pid=1&pid=2', 'pid: given 2 times; give it once'],
    ['/api/v1/maps?cgroup=kubepods', 'cgroup="kubepods": expected a cgroup path from the hierarchy\'s root'],
    ['/api/v1/maps?cgroup=%2Fa%2F..%2Fb', 'cgroup="/a/../b": expected a cgroup path'],
    ['/api/v1/maps?cgroup=%2Fa%00b', 'cgroup="/a\\u0000b": expected a cgroup path'],
    ['/api/v1/maps?sort=size', 'sort="size": expected id, name, type, memlock, charge or cgroup'],
    ['/api/v1/progs?type=hash', 'type="hash": not a program type'],
    ['/api/v1/progs?sort=charge', 'sort="charge": expected id, name, type, memlock or insns'],
  ];
  it.each(bad)('GET %s → 400 with one line', async (path, start) => {
    const r = await get(path);
    expect(r.status).toBe(400);
    const body = await r.text();
    expect(body.endsWith('\n')).toBe(true);
    expect(body.trimEnd()).not.toContain('\n');
    const { error } = JSON.parse(body) as { error: string };
    expect(error.startsWith(start)).toBe(true);
  });

  it.each([
    ['/api/v1/maps?cgroup=%2Fnonexistent', '/nonexistent'],
    ['/api/v1/maps?cgroup=%2Fnonexistent%2F&sort=charge&limit=5', '/nonexistent'],
    ['/api/v1/maps?cgroup=%2Fsystem.slice%2Fnope.service', '/system.slice/nope.service'],
    ['/api/v1/progs?cgroup=%2Fnonexistent', '/nonexistent'],
    ['/api/v1/progs?cgroup=%2Fkubepods%2Fbest', '/kubepods/best'],
  ])('GET %s: a cgroup the tree does not have → 404 naming it, in the words of bpfmem maps --cgroup', async (path, cgroup) => {
    const r = await get(path);
    expect(r.status).toBe(404);
    expect(r.headers.get('cache-control')).toBe('no-store');
    expect(r.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await r.text()).toBe(`${JSON.stringify({ error: `cgroup=${JSON.stringify(cgroup)}: no such memory cgroup on this machine` })}\n`);
  });

  it.each(['/api/v1/maps', '/api/v1/progs'])('GET %s?cgroup= of a cgroup that exists but pays for nothing → 200, an empty list', async (path) => {
    for (const cgroup of ['/idle', '/idle/']) {
      const r = await get(`${path}?cgroup=${encodeURIComponent(cgroup)}`);
      expect(r.status).toBe(200);
      const doc = (await r.json()) as { maps?: unknown[]; progs?: unknown[] };
      expect(doc.maps ?? doc.progs).toEqual([]);
    }
    // The root and the other cgroups of the tree, with maps or not, are 200 too.
    for (const cgroup of ['/', '/system.slice', SERVICE, CONTAINER]) expect((await get(`${path}?cgroup=${encodeURIComponent(cgroup)}`)).status).toBe(200);
  });

  it('a cgroup is in the tree when its counters were read, when a map is charged to it, or above either; without a tree no path is refused', () => {
    // A cgroup whose counters could not be read is still named by the maps charged to it.
    const input = fixtureInput();
    const partial = buildInventory({ ...input, cgroups: (input.cgroups ?? []).filter((c) => c.path !== CONTAINER && c.path !== POD) });
    for (const known of [CONTAINER, POD, '/kubepods', '/']) expect(unknownCgroup(partial, known), known).toBe(false);
    expect(unknownCgroup(partial, `${CONTAINER}/x`)).toBe(true);
    expect(unknownCgroup(partial, undefined)).toBe(false);
    // No memory hierarchy read: nothing can be said.
    const none = buildInventory({ ...input, cgroups: [] });
    expect(unknownCgroup(none, '/nonexistent')).toBe(false);
  });

  it('an overlong bad value is quoted shortened, the answer stays one line', async () => {
    const r = await get(`/api/v1/maps?type=${'x'.repeat(5000)}`);
    expect(r.status).toBe(400);
    const { error } = (await r.json()) as { error: string };
    expect(error.length).toBeLessThan(1000);
    expect(error).toContain('xxx…');
  });

  it('GET /api/v1/probe of a source that describes no machine (a fixture) is 404, not the host\'s facts', async () => {
    const r = await socketlessApp(() => undefined, 15).request('/api/v1/probe');
    expect(r.status).toBe(404);
    expect(await r.json()).toEqual({ error: 'this server has no machine facts to give (it serves a fixture, not this machine)' });
  });

  it('GET /api/v1/probe: the machine facts', async () => {
    const r = await get('/api/v1/probe');
    expect(r.status).toBe(200);
    const p = (await r.json()) as Record<string, unknown>;
    const m = await describeMachine();
    expect(p).toMatchObject({ release: m.release, regime: m.regime, regime_reason: m.regimeReason, cgroup_version: m.cgroupVersion, possible_cpus: m.possibleCpus ?? null, arch: m.arch ?? null, kmalloc_min_size: m.kmallocMinSize ?? null });
    expect(Object.keys(p)).toEqual([
      'release',
      'version',
      'possible_cpus',
      'page_size',
      'arch',
      'kmalloc_min_size',
      'cgroup_version',
      'memory_cgroup',
      'cmdline',
      'memlock_rlimit',
      'unprivileged_bpf_disabled',
      'bpf_jit_enable',
      'bpf_jit_limit',
      'regime',
      'regime_reason',
    ]);
  });

});

describe('large answers', () => {
  it('are gzip-compressed for clients that take it, and the same JSON', async () => {
    const big = buildInventory(fixtureInput(500));
    const server = await startServer({ port: 0, source: fixtureSource(fixtureInput(500)) });
    try {
      const expected = mapsJson(big, sortMaps(big.maps, 'id'));
      expect(expected.length).toBeGreaterThan(16 * 1024);
      for (let i = 0; i < 2; i++) {
        // fetch asks for gzip and inflates; the header says what came on the wire.
        const zipped = await fetch(`${server.url}/api/v1/maps`);
        expect(zipped.headers.get('content-encoding')).toBe('gzip');
        expect(await zipped.text()).toBe(expected);
      }
      const plain = await fetch(`${server.url}/api/v1/maps`, { headers: { 'accept-encoding': 'identity' } });
      expect(plain.headers.get('content-encoding')).toBeNull();
      expect(plain.headers.get('vary')).toBe('Accept-Encoding');
      expect(await plain.text()).toBe(expected);
      // A weight of 0 refuses the coding (RFC 9110 §12.5.3).
      const refused = await fetch(`${server.url}/api/v1/maps`, { headers: { 'accept-encoding': 'gzip;q=0, identity' } });
      expect(refused.headers.get('content-encoding')).toBeNull();
      expect(await refused.text()).toBe(expected);
      const filtered = await fetch(`${server.url}/api/v1/maps?type=array`);
      expect(filtered.headers.get('content-encoding')).toBe('gzip');
      expect(await filtered.text()).toBe(mapsJson(big, filterMaps(big.maps, { type: 'array' })));
      // A parameter the API ignores gives the same answer (kept once for the scan).
      const busted = await fetch(`${server.url}/api/v1/maps?type=array&_=12345`);
      expect(await busted.text()).toBe(mapsJson(big, filterMaps(big.maps, { type: 'array' })));
    } finally {
      await server.close();
    }
  });
});

describe('Accept-Encoding', () => {
  it.each([
    [undefined, false],
    ['', false],
    ['identity', false],
    ['gzip', true],
    ['GZIP', true],
    ['deflate, gzip;q=1.0, *;q=0.5', true],
    ['gzip;q=0', false],
    ['gzip; q=0.000', false],
    ['gzip;q=0.001', true],
    ['x-gzip', true],
    ['*', true],
    ['*;q=0', false],
    ['br, *;q=0.1', true],
    ['gzip;q=0, *', false],
    ['gzip;q=zero', false],
  ])('%j takes gzip: %s', (header, takes) => {
    expect(acceptsGzip(header)).toBe(takes);
  });
});

/** The app with no server around it, no assets and no host check, answering from `published`. */
const socketlessApp = (published: () => Published | undefined, intervalSeconds: number): ReturnType<typeof createApp> =>
  createApp({
    published,
    intervalSeconds,
    assets: new Map(),
    notBuilt: notBuiltPage('/nowhere'),
    simulate: () => Promise.resolve({ status: 200, body: '{}\n' }),
    machine: undefined,
    allowedHosts: undefined,
  });

/** The points in the scanner's last published history (read through a call: the scanner changes it between scans). */
const historyLength = (scanner: Scanner): number => scanner.published?.history.length ?? 0;

describe('GET /api/v1/history', () => {
  interface History {
    interval_seconds: number;
    points: { time: string; maps: number; progs: number; memlock: number; charged: number; uncharged: number; cgroups: { path: string; bpf_subtree: number; usage: number; max: number | null }[] }[];
  }

  it('one point per scan with the totals and the 10 cgroups with the most BPF below them', async () => {
    const source = new CountingSource([fixtureInput(0), fixtureInput(50)]);
    const server = await startServer({ port: 0, source, intervalMs: 20 });
    try {
      await until(() => source.reads >= 4, 'four scans');
      const h = (await (await fetch(`${server.url}/api/v1/history`)).json()) as History;
      expect(h.interval_seconds).toBe(0.02);
      expect(h.points.length).toBeGreaterThanOrEqual(3);
      const small = buildInventory(fixtureInput(0));
      const s = summarize(small);
      const first = h.points[0];
      expect(first).toMatchObject({ maps: 8, progs: 2, memlock: s.memlock, charged: s.charged, uncharged: s.uncharged });
      expect(h.points[1]?.maps).toBe(58);
      const expected = [...small.cgroups]
        .filter((c) => c.bpfSubtree > 0)
        .sort((a, b) => b.bpfSubtree - a.bpfSubtree)
        .slice(0, 10)
        .map((c) => ({ path: c.path, bpf_subtree: c.bpfSubtree, usage: c.usage, max: Number.isFinite(c.max) ? c.max : null }));
      expect(first?.cgroups).toEqual(expected);
      for (let i = 1; i < h.points.length; i++) expect(Date.parse(h.points[i]?.time ?? '')).toBeGreaterThanOrEqual(Date.parse(h.points[i - 1]?.time ?? ''));
    } finally {
      await server.close();
    }
  });

  it('answers with the points of the scan it was published with, rendered when first asked', async () => {
    const source = new CountingSource([fixtureInput(0), fixtureInput(50)]);
    const scanner = new Scanner(source, { intervalMs: 10, perMapMetrics: 0, historySeconds: 60 });
    try {
      await scanner.start();
      await until(() => (scanner.published?.scans ?? 0) >= 2, 'two scans');
      const early = scanner.published;
      if (!early) throw new Error('nothing published');
      const n = early.history.length;
      await until(() => (scanner.published?.scans ?? 0) >= early.scans + 3, 'three more scans');
      // Later scans added points to the scanner's history, not to what this scan published.
      expect(early.history).toHaveLength(n);
      expect(historyLength(scanner) - n).toBeGreaterThanOrEqual(3);
      const app = socketlessApp(() => early, 0.01);
      const h = (await (await app.request('/api/v1/history')).json()) as History;
      expect(h.points).toHaveLength(n);
      expect(h.points.map((p) => p.maps)).toEqual(early.history.map((p) => p.maps));
      expect(h.interval_seconds).toBe(0.01); // the app's, as the server gives it
    } finally {
      await scanner.close();
    }
  });

  it('keeps only the last historySeconds', async () => {
    const source = new CountingSource();
    const server = await startServer({ port: 0, source, intervalMs: 10, historySeconds: 0 });
    try {
      await until(() => source.reads >= 5, 'five scans');
      const h = (await (await fetch(`${server.url}/api/v1/history`)).json()) as History;
      // A window of 0 s keeps the point of the last scan only.
      expect(h.points).toHaveLength(1);
    } finally {
      await server.close();
    }
  });
});

describe('after each scan', () => {
  it('the source gives its garbage back once per good scan, never after a failed one', async () => {
    const source = new CountingSource();
    source.failFrom = 3;
    const server = await startServer({ port: 0, source, intervalMs: 10 });
    try {
      await until(() => source.reads >= 6, 'six scans');
    } finally {
      await server.close();
    }
    // Reads 0, 1 and 2 succeed; every later one fails.
    expect(source.afterScans).toEqual([1, 2, 3]);
  });
});

describe('the app without a socket', () => {
  it('says stale (503) once the last good scan is older than three intervals, and at least a minute', async () => {
    const scanner = new Scanner(fixtureSource(fixtureInput()), { intervalMs: 15_000, perMapMetrics: 0, historySeconds: 0 });
    await scanner.start();
    await scanner.close();
    const good = scanner.published;
    if (!good) throw new Error('no scan');
    const failing = (ageSeconds: number): Published => ({ ...good, snapshot: { ...good.snapshot, time: new Date(Date.now() - ageSeconds * 1000) }, scans: 9, errors: 8, lastError: 'reading maps: EPERM' });
    // 15 s a scan: three intervals are 45 s, under the minute.
    const fresh = await socketlessApp(() => failing(50), 15).request('/healthz');
    expect(fresh.status).toBe(200);
    expect(await fresh.json()).toMatchObject({ status: 'ok', errors: 8, last_error: 'reading maps: EPERM' });
    const old = await socketlessApp(() => failing(70), 15).request('/healthz');
    expect(old.status).toBe(503);
    expect(await old.json()).toMatchObject({ status: 'stale', scans: 9, errors: 8, last_error: 'reading maps: EPERM' });
    // A minute a scan: stale after three.
    expect((await socketlessApp(() => failing(170), 60).request('/healthz')).status).toBe(200);
    expect((await socketlessApp(() => failing(190), 60).request('/healthz')).status).toBe(503);
  });


  it('answers 503 before the first scan, for health and for data', async () => {
    const app = socketlessApp(() => undefined, 15);
    const h = await app.request('/healthz');
    expect(h.status).toBe(503);
    expect(await h.json()).toEqual({ status: 'starting', last_scan: null, scan_seconds: null, scans: 0, errors: 0, last_error: null });
    for (const path of ['/metrics', '/api/v1/summary', '/api/v1/maps', '/api/v1/history']) {
      const r = await app.request(path);
      expect(r.status).toBe(503);
      expect(r.headers.get('retry-after')).toBe('1');
      expect(((await r.json()) as { error: string }).error).toBe('no scan has finished yet; try again in a moment');
    }
  });
});
