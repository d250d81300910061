import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { must } from '../../src/vocab/backend.js';
import { LiveBackend } from '../../src/live/backend.js';
import { mapSpec } from '../../src/vocab/map-spec.js';
import { watchedSource, startServer, type RunningServer } from '../../src/server/index.js';
import { readMemoryHierarchy } from '../../src/sys/cgroup/mount.js';
import { until } from '../server/helpers.js';
import { liveEnv } from './env.js';
import { freePort } from '../free-port.js';

/**
 * Debian's Prometheus scraping `bpfmem serve` every second: it takes the exposition, the
 * bpfmem_ series arrive with the values the API gives, and every query of
 * deploy/grafana-dashboard.json runs against them.
 */

const PROMETHEUS = '/usr/bin/prometheus';
const MiB = 1024 * 1024;
const skip = !liveEnv.ok ? liveEnv.reason : !existsSync(PROMETHEUS) ? `no ${PROMETHEUS} (apt-get install prometheus)` : undefined;
if (skip) console.warn(`prometheus test skipped: ${skip}`);

interface Vector {
  status: string;
  error?: string;
  data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
}

describe.skipIf(skip !== undefined)('Prometheus scrapes bpfmem serve', () => {
  let b: LiveBackend;
  let server: RunningServer;
  let prometheus: ChildProcess;
  let dir = '';
  let promUrl = '';
  let log = '';
  let payer = '';

  const query = async (q: string): Promise<Vector> => {
    const r = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(q)}`);
    return (await r.json()) as Vector;
  };
  const results = async (q: string): Promise<NonNullable<Vector['data']>['result']> => {
    const v = await query(q);
    if (v.status !== 'success') throw new Error(`${q}: ${v.error ?? v.status}`);
    return v.data?.result ?? [];
  };

  beforeAll(async () => {
    const h = await readMemoryHierarchy();
    if (!h.ok) throw new Error(h.reason);
    b = await LiveBackend.create({ prefix: 'prometheus' });
    payer = `${b.root.slice(h.hierarchy.mountPoint.length)}/payer`;
    must(await b.createCgroup('/payer', { max: 128 * MiB, high: Number.POSITIVE_INFINITY }));
    must(await b.startTask('creator', { cgroup: '/payer', uid: 0 }));
    must(await b.createMap('creator', 'prom_probe', mapSpec({ type: 'percpu_array', keySize: 4, valueSize: 64, maxEntries: 1024 })));
    server = await startServer({ port: 0, source: await watchedSource({ trace: false }), intervalMs: 1000 });

    dir = await mkdtemp(join(tmpdir(), 'bpfmem-prometheus-'));
    const target = new URL(server.url).host;
    await writeFile(
      join(dir, 'prometheus.yml'),
      `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: bpfmem\n    static_configs:\n      - targets: ['${target}']\n`,
    );
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    prometheus = spawn(
      PROMETHEUS,
      [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    // Should this worker end before afterAll (vitest stopped), Prometheus goes with it.
    const killPrometheus = (): void => {
      prometheus.kill('SIGKILL');
    };
    process.once('exit', killPrometheus);
    prometheus.once('exit', () => process.off('exit', killPrometheus));
    prometheus.stdout?.on('data', (d: Buffer) => (log += d.toString()));
    prometheus.stderr?.on('data', (d: Buffer) => (log += d.toString()));
    try {
      await until(async () => {
        const r = await query('bpfmem_kernel_info').catch(() => undefined);
        return (r?.data?.result.length ?? 0) > 0;
      }, 'Prometheus to have scraped bpfmem_kernel_info', 600, 100);
    } catch (error) {
      throw new Error(`${error instanceof Error ? error.message : String(error)}; prometheus said: ${log.slice(-2000)}`, { cause: error });
    }
  }, 120_000);

  // Each step runs whatever failed before it (a beforeAll that stopped half-way leaves some unset).
  afterAll(async () => {
    const p = prometheus as ChildProcess | undefined;
    if (p && p.exitCode === null && p.signalCode === null) {
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      const stuck = setTimeout(() => p.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(stuck);
    }
    if (dir) await rm(dir, { recursive: true, force: true });
    await (server as RunningServer | undefined)?.close();
    await (b as LiveBackend | undefined)?.dispose();
  }, 60_000);

  it('the target is up and its samples are taken', async () => {
    expect((await results('up{job="bpfmem"}')).map((r) => r.value[1])).toEqual(['1']);
    const samples = Number((await results('scrape_samples_scraped{job="bpfmem"}'))[0]?.value[1]);
    expect(samples).toBeGreaterThan(50);
  });

  it('several bpfmem_ series arrived with the values the API gives', async () => {
    const info = await results('bpfmem_kernel_info');
    expect(info[0]?.metric).toMatchObject({ job: 'bpfmem', regime: 'memcg', cgroup_version: '1' });
    const api = (await (await fetch(`${server.url}/api/v1/maps?cgroup=${encodeURIComponent(payer)}`)).json()) as { maps: { name: string; charge: number }[] };
    expect(api.maps.map((m) => m.name)).toEqual(['prom_probe']);
    const charged = await results(`bpfmem_cgroup_maps_charged_bytes{cgroup="${payer}"}`);
    expect(charged.map((r) => Number(r.value[1]))).toEqual([api.maps[0]?.charge]);
    expect(Number((await results(`bpfmem_cgroup_memory_limit_bytes{cgroup="${payer}"}`))[0]?.value[1])).toBe(128 * MiB);
    expect(Number((await results('sum(bpfmem_maps_uncharged_bytes{type="percpu_array"})'))[0]?.value[1])).toBeGreaterThan(0);
    expect(Number((await results('bpfmem_scans_total'))[0]?.value[1])).toBeGreaterThanOrEqual(1);
    expect((await results('bpfmem_scan_duration_seconds_count')).length).toBe(1);
    expect((await results('bpfmem_build_info')).length).toBe(1);
    expect((await results('process_resident_memory_bytes{job="bpfmem"}')).length).toBe(1);
  });

  it('every query of deploy/grafana-dashboard.json runs', async () => {
    // rate() and increase() need two scrapes in their window: wait for three.
    await until(async () => Number((await results('count_over_time(bpfmem_scans_total[1m])'))[0]?.value[1]) >= 3, 'three scrapes');
    const dashboard = JSON.parse(await readFile('deploy/grafana-dashboard.json', 'utf8')) as { panels: { title: string; targets: { expr: string }[] }[] };
    const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => ({ panel: p.title, expr: t.expr.replaceAll('$instance', '.*') })));
    expect(exprs.length).toBeGreaterThan(10);
    let withData = 0;
    for (const { panel, expr } of exprs) {
      const v = await query(expr);
      expect(v.status, `${panel}: ${expr}: ${v.error ?? ''}`).toBe('success');
      if ((v.data?.result.length ?? 0) > 0) withData++;
    }
    expect(withData).toBe(exprs.length);
  });

  it('the PromQL examples of docs/metrics.md run', async () => {
    const doc = await readFile('docs/metrics.md', 'utf8');
    const exprs = [...doc.matchAll(/```promql\n([\s\S]*?)```/g)].flatMap((m) => (m[1] ?? '').split('\n').filter((l) => l !== '' && !l.startsWith('#')));
    expect(exprs.length).toBeGreaterThan(0);
    for (const expr of exprs) {
      const v = await query(expr);
      expect(v.status, `${expr}: ${v.error ?? ''}`).toBe('success');
    }
  });
});
