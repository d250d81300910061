import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { missingTool } from '../tools.js';
import { readdir } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { must } from '../../src/vocab/backend.js';
import { LiveBackend } from '../../src/live/backend.js';
import { mapSpec } from '../../src/vocab/map-spec.js';
import { serveLive, type RunningServer } from '../../src/server/index.js';
import { listMaps } from '../../src/sys/bpf/objects.js';
import { closeFd, mapGetFdById, mapId, objPin } from '../../src/sys/bpf/index.js';
import { readMemoryHierarchy } from '../../src/sys/cgroup/mount.js';
import { describeMachine } from '../../src/live/machine.js';
import { parseExposition, samplesOf, valueOf } from '../server/exposition.js';
import { until } from '../server/helpers.js';
import { liveEnv } from './env.js';

/**
 * `bpfmem serve` on the running kernel: a map a live-backend task creates in a cgroup shows in
 * /api/v1/maps and in the bpfmem_ series with that cgroup, a map made later shows after a
 * background rescan, and serving changes nothing on the machine.
 */

const MiB = 1024 * 1024;

interface MapRow {
  id: number;
  name: string;
  type: string;
  bytes_memlock: number;
  charge: number | null;
  charged_to: { kind: string; path?: string };
  pids: { pid: number }[];
  pinned: string[] | null;
}

if (!liveEnv.ok) console.warn(`live serve tests skipped: ${liveEnv.reason ?? ''}`);

describe.skipIf(!liveEnv.ok)('bpfmem serve on the running kernel', () => {
  let b: LiveBackend;
  let server: RunningServer;
  /** The payer cgroup as the inventory names it (relative to the memory hierarchy's mount). */
  let payer = '';

  const maps = async (query = ''): Promise<MapRow[]> => {
    const r = await fetch(`${server.url}/api/v1/maps${query}`);
    expect(r.status).toBe(200);
    return ((await r.json()) as { maps: MapRow[] }).maps;
  };
  const scrape = async (): Promise<ReturnType<typeof parseExposition>> => parseExposition(await (await fetch(`${server.url}/metrics`)).text());

  beforeAll(async () => {
    const h = await readMemoryHierarchy();
    if (!h.ok) throw new Error(h.reason);
    b = await LiveBackend.create({ prefix: 'serve' });
    payer = `${b.root.slice(h.hierarchy.mountPoint.length)}/payer`;
    must(await b.createCgroup('/payer', { max: 256 * MiB, high: Number.POSITIVE_INFINITY }));
    must(await b.startTask('creator', { cgroup: '/payer', uid: 0 }));
    must(await b.createMap('creator', 'serve_probe', mapSpec({ type: 'hash', keySize: 4, valueSize: 64, maxEntries: 2000 })));
    // As `bpfmem serve --no-watch` runs (this host refuses the hooks; test/live/watch.test.ts has them).
    server = await serveLive({ host: '127.0.0.1', port: 0, intervalMs: 250, perMapMetrics: 1000, watch: false });
  }, 60_000);

  afterAll(async () => {
    await server.close();
    await b.dispose();
  }, 60_000);

  it('the map is in /api/v1/maps, charged to the cgroup its creator was in', async () => {
    const rows = await maps(`?cgroup=${encodeURIComponent(payer)}`);
    expect(rows.map((m) => m.name)).toEqual(['serve_probe']);
    const m = rows[0];
    expect(m).toMatchObject({ type: 'hash', charged_to: { kind: 'cgroup', path: payer } });
    expect(m?.pids.map((p) => p.pid)).toEqual([b.pidOf('creator')]);
    expect(m?.charge).toBeGreaterThanOrEqual(m?.bytes_memlock ?? Number.POSITIVE_INFINITY);
  });

  it('and in the bpfmem_ series with its cgroup', async () => {
    const m = (await maps(`?cgroup=${encodeURIComponent(payer)}`))[0];
    const e = await scrape();
    expect(valueOf(e, 'bpfmem_kernel_info')).toBe(1);
    expect(samplesOf(e, 'bpfmem_kernel_info')[0]?.labels['regime']).toBe('memcg');
    expect(valueOf(e, 'bpfmem_charges_known')).toBe(1);
    expect(valueOf(e, 'bpfmem_cgroup_maps', { cgroup: payer })).toBe(1);
    expect(valueOf(e, 'bpfmem_cgroup_maps_charged_bytes', { cgroup: payer })).toBe(m?.charge);
    expect(valueOf(e, 'bpfmem_cgroup_memory_limit_bytes', { cgroup: payer })).toBe(256 * MiB);
    // The cgroup's usage holds the map (hierarchical counters).
    expect(valueOf(e, 'bpfmem_cgroup_memory_usage_bytes', { cgroup: payer })).toBeGreaterThanOrEqual(m?.charge ?? Number.POSITIVE_INFINITY);
    expect(valueOf(e, 'bpfmem_map_memlock_bytes', { id: String(m?.id), name: 'serve_probe', type: 'hash', cgroup: payer })).toBe(m?.bytes_memlock);
    expect(valueOf(e, 'bpfmem_maps', { type: 'hash' })).toBeGreaterThanOrEqual(1);
  });

  it.skipIf(liveEnv.ok && missingTool('promtool') !== undefined)('the live /metrics passes promtool check metrics', async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
  });

  it('a map made after the start shows after a background rescan', async () => {
    must(await b.createMap('creator', 'serve_later', mapSpec({ type: 'array', keySize: 4, valueSize: 8, maxEntries: 16 })));
    await until(async () => (await maps(`?cgroup=${encodeURIComponent(payer)}`)).some((m) => m.name === 'serve_later'), 'serve_later to be listed');
    await until(async () => valueOf(await scrape(), 'bpfmem_cgroup_maps', { cgroup: payer }) === 2, 'two maps in the payer series');
  });

  it('a pinned map has its path in /api/v1/maps after a rescan, as `bpfmem maps --pins` gives it', async () => {
    const probe = (await maps(`?cgroup=${encodeURIComponent(payer)}`)).find((m) => m.name === 'serve_probe');
    if (probe === undefined) throw new Error('serve_probe is not listed');
    expect(probe.pinned).toEqual([]);
    const dir = mkdtempSync(join(tmpdir(), 'bpfmem-serve-bpffs-'));
    execFileSync('mount', ['-t', 'bpf', 'bpffs', dir]);
    try {
      const fd = mapGetFdById(mapId(probe.id));
      try {
        objPin(fd, join(dir, 'serve_probe'));
      } finally {
        closeFd(fd);
      }
      const path = join(dir, 'serve_probe');
      await until(async () => (await maps(`?cgroup=${encodeURIComponent(payer)}`)).find((m) => m.name === 'serve_probe')?.pinned?.includes(path) === true, 'serve_probe to show its pin');
    } finally {
      rmSync(join(dir, 'serve_probe'), { force: true });
      execFileSync('umount', [dir]);
      rmdirSync(dir);
    }
  });

  it('/api/v1/probe and /healthz describe this machine and its scans', async () => {
    const m = await describeMachine();
    const p = (await (await fetch(`${server.url}/api/v1/probe`)).json()) as { release: string; regime: string };
    expect(p).toMatchObject({ release: m.release, regime: m.regime });
    const h = (await (await fetch(`${server.url}/healthz`)).json()) as { status: string; scans: number; errors: number };
    expect(h.status).toBe('ok');
    expect(h.scans).toBeGreaterThan(1);
    expect(h.errors).toBe(0);
  });

  it('serving changes nothing: the same maps and cgroups before and after every endpoint, many times', async () => {
    const ids = (): number[] => listMaps(() => false).map((o) => o.info.id).sort((x, y) => x - y);
    const dirs = async (): Promise<string[]> => (await readdir(b.root, { recursive: true })).sort();
    const beforeIds = ids();
    const beforeDirs = await dirs();
    const paths = ['/metrics', '/healthz', '/api/v1/summary', '/api/v1/maps', '/api/v1/progs', '/api/v1/cgroups', '/api/v1/probe', '/api/v1/history', '/'];
    for (let i = 0; i < 5; i++) for (const p of paths) expect((await fetch(`${server.url}${p}`)).status).toBe(200);
    expect(ids()).toEqual(beforeIds);
    expect(await dirs()).toEqual(beforeDirs);
  });
});
