import { spawnSync } from 'node:child_process';
import { missingTool } from '../tools.js';
import { Gauge, Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildInventory } from '../../src/inspect/inventory.js';
import { fixtureSource, startServer, type RunningServer } from '../../src/server/index.js';
import { largestMaps, renderSnapshotMetrics, ScanMetrics } from '../../src/server/metrics.js';
import { VERSION } from '../../src/vocab/bpfmem-version.js';
import { parseExposition, samplesOf, valueOf, type Exposition } from './exposition.js';
import { CONTAINER, fixtureInput, MiB, POD, SERVICE, WEIRD } from './fixture.js';
import { CountingSource, until } from './helpers.js';

/**
 * /metrics of the real server on 127.0.0.1 over a fixture: the text is valid exposition format
 * (our reader and Prometheus' own promtool), every value is the inventory's number, labels are
 * bounded and escaped, and a scrape during rescans sees one snapshot, never a mix.
 */

const inv = buildInventory(fixtureInput());
const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);

async function scrape(url: string): Promise<{ text: string; e: Exposition; type: string | null }> {
  const r = await fetch(`${url}/metrics`);
  expect(r.status).toBe(200);
  const text = await r.text();
  return { text, e: parseExposition(text), type: r.headers.get('content-type') };
}

describe('/metrics over the fixture', () => {
  let server: RunningServer;
  let text = '';
  let e: Exposition;

  beforeAll(async () => {
    server = await startServer({ port: 0, source: fixtureSource(fixtureInput(), 'fixture reason') });
    const s = await scrape(server.url);
    text = s.text;
    e = s.e;
    expect(s.type).toBe('text/plain; version=0.0.4; charset=utf-8');
  });
  afterAll(async () => {
    await server.close();
  });

  it('every line is a comment or a sample, every sample has a TYPE', () => {
    expect(e.samples.length).toBeGreaterThan(50);
    for (const s of e.samples.filter((x) => x.name.startsWith('bpfmem_'))) expect(e.help.has(s.name.replace(/_(bucket|sum|count)$/, '')) || e.help.has(s.name)).toBe(true);
  });

  it.skipIf(missingTool('promtool') !== undefined)("passes promtool check metrics (Prometheus' own linter)", () => {
    const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('names the kernel, the regime and the build', () => {
    expect(samplesOf(e, 'bpfmem_kernel_info')).toEqual([{ name: 'bpfmem_kernel_info', labels: { release: '6.18', version: '6.18', arch: 'x86_64', regime: 'memcg', cgroup_version: '1' }, value: 1 }]);
    expect(valueOf(e, 'bpfmem_build_info', { version: VERSION, nodejs_version: process.versions.node })).toBe(1);
    expect(valueOf(e, 'bpfmem_kernel_possible_cpus')).toBe(2);
    expect(valueOf(e, 'bpfmem_kernel_page_size_bytes')).toBe(4096);
    expect(valueOf(e, 'bpfmem_kernel_kmalloc_min_size_bytes')).toBe(8);
    expect(valueOf(e, 'bpfmem_charges_known')).toBe(1);
    expect(valueOf(e, 'bpfmem_inventory_errors')).toBe(1);
  });

  it('per map type: counts, memlock, charged and uncharged bytes equal the inventory', () => {
    const types = [...new Set(inv.maps.map((m) => m.type))];
    expect(samplesOf(e, 'bpfmem_maps').map((s) => s.labels['type']).sort()).toEqual([...types].sort());
    for (const type of types) {
      const maps = inv.maps.filter((m) => m.type === type);
      expect(valueOf(e, 'bpfmem_maps', { type })).toBe(maps.length);
      expect(valueOf(e, 'bpfmem_maps_memlock_bytes', { type })).toBe(sum(maps.map((m) => m.memlock)));
      // A type bpfmem does not model counts its memlock, as the payer and cgroup families do.
      expect(valueOf(e, 'bpfmem_maps_charged_bytes', { type })).toBe(sum(maps.map((m) => m.charge ?? m.memlock)));
      expect(valueOf(e, 'bpfmem_maps_uncharged_bytes', { type })).toBe(sum(maps.map((m) => m.uncharged ?? 0)));
    }
    // The per-CPU array's memory made at creation is charged to nobody on 6.18.
    expect(valueOf(e, 'bpfmem_maps_uncharged_bytes', { type: 'percpu_array' })).toBeGreaterThan(500_000);
    expect(valueOf(e, 'bpfmem_maps', { type: 'unknown(new_thing)' })).toBe(1);
    // Summed by type or by payer, the same bytes.
    expect(sum(samplesOf(e, 'bpfmem_maps_charged_bytes').map((s) => s.value))).toBe(sum(samplesOf(e, 'bpfmem_payer_maps_charged_bytes').map((s) => s.value)));
  });

  it('programs by type', () => {
    expect(valueOf(e, 'bpfmem_progs', { type: 'xdp' })).toBe(1);
    expect(valueOf(e, 'bpfmem_progs_memlock_bytes', { type: 'kprobe' })).toBe(8192);
    expect(sum(samplesOf(e, 'bpfmem_progs_memlock_bytes').map((s) => s.value))).toBe(sum(inv.progs.map((p) => p.memlock)));
  });

  it('who pays: every kind, summing to all maps', () => {
    const expected = { cgroup: 5, removed: 1, nobody: 1, unknown: 1 };
    for (const [kind, n] of Object.entries(expected)) expect(valueOf(e, 'bpfmem_payer_maps', { kind })).toBe(n);
    expect(sum(samplesOf(e, 'bpfmem_payer_maps_charged_bytes').map((s) => s.value))).toBe(sum(inv.maps.map((m) => m.charge ?? m.memlock)));
  });

  it('per charged cgroup, with the workload its path names', () => {
    const cg = new Map(inv.cgroups.map((c) => [c.path, c]));
    expect(samplesOf(e, 'bpfmem_cgroup_maps_charged_bytes').map((s) => s.labels['cgroup']).sort()).toEqual([CONTAINER, POD, SERVICE, WEIRD].sort());
    for (const path of [CONTAINER, POD, SERVICE, WEIRD]) {
      expect(valueOf(e, 'bpfmem_cgroup_maps_charged_bytes', { cgroup: path })).toBe(cg.get(path)?.bpfOwn);
      expect(valueOf(e, 'bpfmem_cgroup_maps', { cgroup: path })).toBe(cg.get(path)?.objectsOwn);
    }
    expect(samplesOf(e, 'bpfmem_cgroup_maps', { cgroup: CONTAINER })[0]?.labels['workload']).toBe('container 3a9d2c1b5e07');
    expect(samplesOf(e, 'bpfmem_cgroup_maps', { cgroup: POD })[0]?.labels['workload']).toBe('pod 0f1c2d3e-1111-2222-3333-444455556666');
    expect(samplesOf(e, 'bpfmem_cgroup_maps', { cgroup: SERVICE })[0]?.labels['workload']).toBe('service agent');
    // A quote, a backslash and a newline in a cgroup name survive the label escaping.
    expect(samplesOf(e, 'bpfmem_cgroup_maps', { cgroup: WEIRD })[0]?.labels['workload']).toBe('');
  });

  it('memory cgroups with BPF at or below them: usage, limit, headroom, subtree; none other', () => {
    const withBpf = inv.cgroups.filter((c) => c.objectsSubtree > 0);
    expect(samplesOf(e, 'bpfmem_cgroup_memory_usage_bytes').map((s) => s.labels['cgroup']).sort()).toEqual(withBpf.map((c) => c.path).sort());
    expect(samplesOf(e, 'bpfmem_cgroup_memory_usage_bytes', { cgroup: '/idle' })).toEqual([]);
    for (const c of withBpf) {
      expect(valueOf(e, 'bpfmem_cgroup_memory_usage_bytes', { cgroup: c.path })).toBe(c.usage);
      expect(valueOf(e, 'bpfmem_cgroup_subtree_maps_charged_bytes', { cgroup: c.path })).toBe(c.bpfSubtree);
    }
    expect(valueOf(e, 'bpfmem_cgroup_memory_limit_bytes', { cgroup: CONTAINER })).toBe(256 * MiB);
    expect(valueOf(e, 'bpfmem_cgroup_memory_headroom_bytes', { cgroup: CONTAINER })).toBe(6 * MiB);
    expect(valueOf(e, 'bpfmem_cgroup_memory_kernel_bytes', { cgroup: CONTAINER })).toBe(10 * MiB);
    // No limit anywhere on the way up: no limit and no headroom series.
    expect(samplesOf(e, 'bpfmem_cgroup_memory_limit_bytes', { cgroup: '/' })).toEqual([]);
    expect(samplesOf(e, 'bpfmem_cgroup_memory_headroom_bytes', { cgroup: SERVICE })).toEqual([]);
    // The root has all the BPF below it.
    expect(valueOf(e, 'bpfmem_cgroup_subtree_maps_charged_bytes', { cgroup: '/' })).toBe(
      sum(inv.maps.filter((m) => m.chargedTo.kind === 'cgroup').map((m) => m.charge ?? m.memlock)),
    );
  });

  it('no per-map series without --per-map-metrics', () => {
    expect(samplesOf(e, 'bpfmem_map_memlock_bytes')).toEqual([]);
  });

  it('counts the scan: one scan, no errors, its duration observed once', () => {
    expect(valueOf(e, 'bpfmem_scans_total')).toBe(1);
    expect(valueOf(e, 'bpfmem_scan_errors_total')).toBe(0);
    expect(valueOf(e, 'bpfmem_scan_duration_seconds_count')).toBe(1);
    expect(valueOf(e, 'bpfmem_scan_duration_seconds_bucket', { le: '+Inf' })).toBe(1);
    expect(e.types.get('bpfmem_scan_duration_seconds')).toBe('histogram');
    expect(e.types.get('bpfmem_scans_total')).toBe('counter');
  });

  it('carries this process too (process_*, nodejs_*)', () => {
    expect(valueOf(e, 'process_resident_memory_bytes')).toBeGreaterThan(0);
  });
});

describe('/metrics --per-map-metrics', () => {
  it('the per-map families, written by hand for speed, are the text prom-client writes', async () => {
    // The fixture's names and cgroups hold quotes, backslashes and newlines (label escaping).
    const registry = new Registry();
    const registers = [registry];
    const labelNames = ['id', 'name', 'type', 'cgroup'] as const;
    const memlock = new Gauge({ name: 'bpfmem_map_memlock_bytes', help: 'fdinfo memlock of one BPF map (--per-map-metrics).', labelNames, registers });
    const charged = new Gauge({ name: 'bpfmem_map_charged_bytes', help: "The model's estimate of what one BPF map's memory cgroup is charged (--per-map-metrics).", labelNames, registers });
    const uncharged = new Gauge({ name: 'bpfmem_map_uncharged_bytes', help: 'Bytes one BPF map allocated that no memory cgroup is charged for (--per-map-metrics).', labelNames, registers });
    for (const m of largestMaps(inv.maps, 1000)) {
      const labels = { id: String(m.id), name: m.name, type: m.type, cgroup: m.chargedTo.kind === 'cgroup' ? m.chargedTo.path : '' };
      memlock.set(labels, m.memlock);
      if (m.charge !== undefined) charged.set(labels, m.charge);
      if (m.uncharged !== undefined) uncharged.set(labels, m.uncharged);
    }
    const snapshot = { inventory: inv, time: new Date(0) };
    const [without, withPerMap] = [await renderSnapshotMetrics(snapshot, new ScanMetrics(), { perMap: 0 }), await renderSnapshotMetrics(snapshot, new ScanMetrics(), { perMap: 1000 })];
    expect(withPerMap).toBe(`${without}\n${await registry.metrics()}`);
    expect(withPerMap).toContain('\\"q\\"\\\\b\\nn');
  });

  it('one series per map with id, name, type and the cgroup charged', async () => {
    const server = await startServer({ port: 0, source: fixtureSource(fixtureInput()), perMapMetrics: 1000 });
    try {
      const { e } = await scrape(server.url);
      expect(samplesOf(e, 'bpfmem_map_memlock_bytes')).toHaveLength(inv.maps.length);
      for (const m of inv.maps) {
        const cgroup = m.chargedTo.kind === 'cgroup' ? m.chargedTo.path : '';
        const labels = { id: String(m.id), name: m.name, type: m.type, cgroup };
        expect(valueOf(e, 'bpfmem_map_memlock_bytes', labels)).toBe(m.memlock);
        expect(samplesOf(e, 'bpfmem_map_charged_bytes', labels).map((s) => s.value)).toEqual(m.charge === undefined ? [] : [m.charge]);
      }
    } finally {
      await server.close();
    }
  });
});

describe('per-map series stay bounded', () => {
  it('are the N maps charged most (memlock for types not modelled), ties by id, whatever the number of maps', async () => {
    const big = buildInventory(fixtureInput(500));
    const top = largestMaps(big.maps, 10);
    const weight = (m: (typeof big.maps)[number]): number => m.charge ?? m.memlock;
    const sorted = [...big.maps].sort((a, b) => weight(b) - weight(a) || a.id - b.id);
    expect(top).toEqual(sorted.slice(0, 10));
    expect(largestMaps(big.maps, 0)).toEqual([]);
    expect(largestMaps(big.maps, 10_000)).toEqual(sorted);
    const server = await startServer({ port: 0, source: fixtureSource(fixtureInput(500)), perMapMetrics: 10 });
    try {
      const { e } = await scrape(server.url);
      expect(samplesOf(e, 'bpfmem_map_memlock_bytes').map((s) => s.labels['id'])).toEqual(top.map((m) => String(m.id)));
    } finally {
      await server.close();
    }
  });
});

describe('large scrapes', () => {
  it('are gzip-compressed once per scan for clients that ask (Prometheus does), the same text', async () => {
    const server = await startServer({ port: 0, source: fixtureSource(fixtureInput(500)), perMapMetrics: 1000 });
    try {
      const zipped = await fetch(`${server.url}/metrics`, { headers: { 'accept-encoding': 'gzip' } });
      expect(zipped.headers.get('content-encoding')).toBe('gzip');
      const text = await zipped.text();
      expect(samplesOf(parseExposition(text), 'bpfmem_map_memlock_bytes')).toHaveLength(508);
      const plain = await fetch(`${server.url}/metrics`, { headers: { 'accept-encoding': 'identity' } });
      expect(plain.headers.get('content-encoding')).toBeNull();
      expect(await plain.text()).toBe(text);
    } finally {
      await server.close();
    }
  });
});

describe('scrapes and scans', () => {
  it('a scrape while a scan is under way answers from the last snapshot, then the new one', async () => {
    const source = new CountingSource([fixtureInput(0), fixtureInput(50)]);
    // The gate is in place before the server starts: the first read passes, the second waits.
    let release = (): void => undefined;
    source.gate = new Promise<void>((r) => (release = r));
    source.gateFrom = 1;
    const server = await startServer({ port: 0, source, intervalMs: 10 });
    try {
      await until(() => source.reads >= 2, 'the second scan to start');
      // The second read is held: every scrape sees the first snapshot, whole.
      for (let i = 0; i < 5; i++) {
        const { e } = await scrape(server.url);
        expect(sum(samplesOf(e, 'bpfmem_maps').map((s) => s.value))).toBe(8);
        expect(valueOf(e, 'bpfmem_scans_total')).toBe(1);
      }
      source.gate = undefined;
      release();
      await until(async () => valueOf((await scrape(server.url)).e, 'bpfmem_scans_total') >= 2, 'the second scan to publish');
      const { e } = await scrape(server.url);
      const maps = sum(samplesOf(e, 'bpfmem_maps').map((s) => s.value));
      expect([8, 58]).toContain(maps);
    } finally {
      release();
      await server.close();
    }
    expect(source.closed).toBe(true);
  });

  it('scrapes during fast rescans never mix two snapshots', async () => {
    // Snapshots alternate between 8 maps and 58 (50 more in the container); every number of a
    // scrape must come from one of them.
    const small = buildInventory(fixtureInput(0));
    const big = buildInventory(fixtureInput(50));
    const containerBytes = (i: typeof small): number => sum(i.maps.filter((m) => m.chargedTo.kind === 'cgroup' && m.chargedTo.path === CONTAINER).map((m) => m.charge ?? m.memlock));
    const source = new CountingSource([fixtureInput(0), fixtureInput(50)]);
    const server = await startServer({ port: 0, source, intervalMs: 10 });
    try {
      const seen = new Set<number>();
      for (let round = 0; round < 20; round++) {
        const scrapes = await Promise.all(Array.from({ length: 10 }, () => scrape(server.url)));
        for (const { e } of scrapes) {
          const maps = sum(samplesOf(e, 'bpfmem_maps').map((s) => s.value));
          const snapshot = maps === small.maps.length ? small : big;
          expect(maps).toBe(snapshot.maps.length);
          expect(valueOf(e, 'bpfmem_cgroup_maps', { cgroup: CONTAINER })).toBe(snapshot === small ? 1 : 51);
          expect(valueOf(e, 'bpfmem_cgroup_maps_charged_bytes', { cgroup: CONTAINER })).toBe(containerBytes(snapshot));
          expect(valueOf(e, 'bpfmem_payer_maps', { kind: 'cgroup' })).toBe(snapshot === small ? 5 : 55);
          // Scans counted with the snapshot they produced: odd counts read the small input.
          expect(valueOf(e, 'bpfmem_scans_total') % 2).toBe(snapshot === small ? 1 : 0);
          seen.add(maps);
        }
      }
      expect(seen).toEqual(new Set([8, 58]));
    } finally {
      await server.close();
    }
  });

  it('a failed scan keeps the last snapshot and is counted, in a /metrics of its own', async () => {
    const source = new CountingSource();
    source.failFrom = 1;
    // The second read waits: /metrics is asked of the first scan's state, and cached with it.
    let release = (): void => undefined;
    source.gate = new Promise<void>((r) => (release = r));
    source.gateFrom = 1;
    const server = await startServer({ port: 0, source, intervalMs: 10 });
    try {
      expect(valueOf((await scrape(server.url)).e, 'bpfmem_scan_errors_total')).toBe(0);
      release();
      // Failed scans keep the snapshot and the answers made from it, but not that /metrics.
      await until(async () => valueOf((await scrape(server.url)).e, 'bpfmem_scan_errors_total') >= 2, 'two failed scans');
      const { e } = await scrape(server.url);
      expect(valueOf(e, 'bpfmem_scans_total') - valueOf(e, 'bpfmem_scan_errors_total')).toBe(1);
      expect(sum(samplesOf(e, 'bpfmem_maps').map((s) => s.value))).toBe(8);
      const h = (await (await fetch(`${server.url}/healthz`)).json()) as { scans: number; errors: number };
      expect(h.scans - h.errors).toBe(1);
    } finally {
      await server.close();
    }
  });

  it('requests never scan: only the interval does', async () => {
    const source = new CountingSource();
    const server = await startServer({ port: 0, source, intervalMs: 3_600_000 });
    try {
      const paths = ['/metrics', '/api/v1/summary', '/api/v1/maps', '/api/v1/maps?type=hash', '/api/v1/progs', '/api/v1/cgroups', '/api/v1/history', '/healthz'];
      for (let i = 0; i < 10; i++) for (const p of paths) expect((await fetch(`${server.url}${p}`)).status).toBe(200);
      expect(source.reads).toBe(1);
    } finally {
      await server.close();
    }
  });
});
