/**
 * bench/serve.ts: GET /metrics of `bpfmem serve` under load, on 10,000 maps, next to Debian's
 * prometheus-node-exporter driven the same way in the same run.
 *
 * The maps are made by one worker of the live backend in a memory cgroup under its owned root
 * (removed at the end, on Ctrl-C too), the mix of bench/inventory.ts. Each server runs in a
 * process of its own (bpfmem: this file with `--serve`, on the live source; the node exporter:
 * /usr/bin/prometheus-node-exporter), and this process drives it: CLIENTS keep-alive
 * connections, each asking for /metrics again as soon as the last answer is read, for SECONDS
 * after a second of warm-up, with the headers Prometheus 2.42 sends (gzip accepted). It reports
 * requests per second, latency p50/p99/max, errors and the bytes of an answer. bpfmem rescans
 * every INTERVAL in the background meanwhile (10,000 maps each time), as it does when deployed.
 *
 * Needs root (it creates a memory cgroup and BPF maps; bpfmem serve reads them).
 * Run: `node --import tsx bench/serve.ts` (N=…, CLIENTS=…, SECONDS=…, INTERVAL=… to change).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { must } from '../src/vocab/backend.js';
import { LiveBackend } from '../src/live/backend.js';
import { disposeAll } from '../src/live/cleanup.js';
import { specFor } from './map-mix.js';
import { formatDuration, parseDuration } from '../src/vocab/duration.js';
import { watchedSource, startServer } from '../src/server/index.js';
import { freePort } from '../test/free-port.js';

const N = Number(process.env['N'] ?? 10_000);
const CLIENTS = Number(process.env['CLIENTS'] ?? 16);
const SECONDS = Number(process.env['SECONDS'] ?? 10);
const INTERVAL_MS = parseDuration(process.env['INTERVAL'] ?? '5s') ?? 5000;
const NODE_EXPORTER = '/usr/bin/prometheus-node-exporter';
const SELF = fileURLToPath(import.meta.url);
const MiB = 1024 * 1024;

/** What Prometheus 2.42 sends with a scrape (scrape/scrape.go acceptHeader, gzip). */
const SCRAPE_HEADERS = {
  Accept: 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1',
  'Accept-Encoding': 'gzip',
  'X-Prometheus-Scrape-Timeout-Seconds': '10',
};

/** A failure of the bench itself: main's caller prints its one line after cleaning up. */
class BenchError extends Error {}

function fail(why: string): never {
  throw new BenchError(why);
}

/** One GET: its status, the bytes of its body. */
function get(agent: Agent, url: string): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent, headers: SCRAPE_HEADERS }, (res) => {
      let bytes = 0;
      res.on('data', (d: Buffer) => (bytes += d.length));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, bytes });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

interface Result {
  readonly requests: number;
  readonly perSecond: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly errors: number;
  readonly bytes: number;
}

const quantile = (sorted: readonly number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;

/** CLIENTS keep-alive clients asking for `url` back to back, for `seconds`. */
async function drive(url: string, seconds: number): Promise<Result> {
  const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS });
  const latencies: number[] = [];
  let errors = 0;
  let bytes = 0;
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (performance.now() < end) {
        const start = performance.now();
        try {
          const r = await get(agent, url);
          if (r.status === 200) {
            latencies.push(performance.now() - start);
            bytes = r.bytes;
          } else errors++;
        } catch {
          errors++;
        }
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  agent.destroy();
  const sorted = latencies.sort((a, b) => a - b);
  return { requests: sorted.length, perSecond: sorted.length / elapsed, p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted.at(-1) ?? NaN, errors, bytes };
}

/** Waits until a URL answers 200. */
async function ready(url: string, child: ChildProcess, what: string): Promise<void> {
  const agent = new Agent();
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) fail(`${what} exited with status ${child.exitCode}`);
    const ok = await get(agent, url).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  fail(`${what} did not answer at ${url}`);
}

/** Starts this file as `bpfmem serve` on the live source, and returns its URL. */
async function startBpfmem(perMap: boolean, children: ChildProcess[]): Promise<string> {
  const child = spawn(process.execPath, ['--import', 'tsx', SELF, '--serve', String(INTERVAL_MS), perMap ? 'per-map' : 'aggregate'], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /^URL (\S+)$/m.exec(out);
      if (m?.[1]) resolve(m[1]);
    });
    child.once('exit', (code) => {
      // Once resolved, this does nothing: a later exit shows as failed requests.
      reject(new BenchError(`bpfmem serve exited with status ${code ?? '?'} before it listened`));
    });
  });
  await ready(`${url}/metrics`, child, 'bpfmem serve');
  return url;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  // The start-up listener goes first (not the one this waits on).
  child.removeAllListeners('exit');
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

const ms = (x: number): string => `${x.toFixed(2)} ms`;

function row(name: string, r: Result): string {
  return `${name.padEnd(34)} ${r.perSecond.toFixed(0).padStart(7)} req/s   p50 ${ms(r.p50).padStart(10)}   p99 ${ms(r.p99).padStart(10)}   max ${ms(r.max).padStart(10)}   errors ${String(r.errors).padStart(3)}   ${(r.bytes / 1024).toFixed(0).padStart(6)} KiB/answer`;
}

/** The bpfmem side of a run: `--serve INTERVAL_MS per-map|aggregate`. */
async function serveChild(): Promise<void> {
  const interval = Number(process.argv[3]);
  const server = await startServer({ port: 0, source: await watchedSource({ trace: false }), intervalMs: interval, perMapMetrics: process.argv[4] === 'per-map' ? Number.MAX_SAFE_INTEGER : 0 });
  process.stdout.write(`URL ${server.url}\n`);
  process.once('SIGTERM', () => {
    void server.close().finally(() => process.exit(0));
  });
}

/** `node_exporter, version 1.5.0 (branch: …)` → `1.5.0`. */
function nodeExporterVersion(): string {
  const out = spawnSync(NODE_EXPORTER, ['--version'], { encoding: 'utf8' });
  return /version (\S+)/.exec(`${out.stdout}${out.stderr}`)?.[1] ?? '(version unknown)';
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) fail('needs root (it creates a memory cgroup and BPF maps)');
  if (!existsSync(NODE_EXPORTER)) fail(`no ${NODE_EXPORTER} (apt-get install prometheus-node-exporter)`);
  const children: ChildProcess[] = [];
  const b = await LiveBackend.create({ prefix: 'bench_serve' });
  // On a signal: the servers stop, the maps' worker ends and the cgroup goes (disposeAll).
  for (const [signal, status] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.once(signal, () => {
      for (const c of children) c.kill('SIGTERM');
      void disposeAll().finally(() => process.exit(status));
    });
  }
  try {
    must(await b.createCgroup('/bench', { max: 2048 * MiB, high: Number.POSITIVE_INFINITY }));
    must(await b.startTask('loader', { cgroup: '/bench', uid: 0 }));
    const t0 = performance.now();
    for (let i = 0; i < N; i++) must(await b.createMap('loader', `bench${i}`, specFor(i)));
    console.log(`made ${N} maps in ${((performance.now() - t0) / 1000).toFixed(1)} s; ${CLIENTS} keep-alive clients, ${SECONDS} s per server after 1 s of warm-up, gzip accepted; bpfmem rescans every ${formatDuration(INTERVAL_MS)}`);

    const lines: string[] = [];
    const results: Result[] = [];
    for (const perMap of [false, true]) {
      const url = await startBpfmem(perMap, children);
      const child = children.at(-1);
      await drive(`${url}/metrics`, 1);
      const r = await drive(`${url}/metrics`, SECONDS);
      const health = (await (await fetch(`${url}/healthz`)).json()) as { scan_seconds: number; scans: number };
      const text = await (await fetch(`${url}/metrics`, { headers: { 'accept-encoding': 'identity' } })).text();
      const rss = Number(/^process_resident_memory_bytes (\S+)$/m.exec(text)?.[1] ?? NaN);
      const series = text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
      // The server must have seen the maps made above (and the machine's own).
      const seen = [...text.matchAll(/^bpfmem_maps\{[^}]*\} (\S+)$/gm)].reduce((a, m) => a + Number(m[1]), 0);
      if (seen < N) fail(`bpfmem serve counted ${seen} maps, fewer than the ${N} made`);
      lines.push(row(perMap ? 'bpfmem serve --per-map-metrics' : 'bpfmem serve', r));
      lines.push(`${''.padEnd(34)} ${seen} maps, ${series} series, ${(text.length / 1024).toFixed(0)} KiB uncompressed; last scan ${(health.scan_seconds * 1000).toFixed(0)} ms, ${health.scans} scans; RSS ${(rss / MiB).toFixed(0)} MiB`);
      results.push(r);
      if (child) await stop(child);
    }

    const port = await freePort();
    const exporter = spawn(NODE_EXPORTER, [`--web.listen-address=127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'ignore'] });
    children.push(exporter);
    const nodeUrl = `http://127.0.0.1:${port}/metrics`;
    await ready(nodeUrl, exporter, 'prometheus-node-exporter');
    await drive(nodeUrl, 1);
    const ne = await drive(nodeUrl, SECONDS);
    const neText = await (await fetch(nodeUrl, { headers: { 'accept-encoding': 'identity' } })).text();
    lines.push(row(`prometheus-node-exporter ${nodeExporterVersion()}`, ne));
    lines.push(`${''.padEnd(34)} ${neText.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length} series, ${(neText.length / 1024).toFixed(0)} KiB uncompressed`);
    await stop(exporter);

    console.log(lines.join('\n'));
    const [agg] = results;
    if (agg) {
      console.log(`bpfmem / node exporter: ${(agg.perSecond / ne.perSecond).toFixed(1)}× the requests per second, p99 ${(agg.p99 / ne.p99).toFixed(2)}× (bpfmem serve without per-map series)`);
      // The target is for /metrics as served by default; the per-map series (a flag, for their
      // cardinality) are reported beside it.
      const met = agg.p99 < 50 && agg.errors === 0;
      const perMap = results[1];
      console.log(
        `target p99 < 50 ms and no errors (bpfmem serve): ${met ? 'met' : 'NOT met'} (p99 ${ms(agg.p99)}, ${agg.errors} errors)` +
          (perMap ? `; with --per-map-metrics: p99 ${ms(perMap.p99)}, ${perMap.errors} errors` : ''),
      );
      if (!met) process.exitCode = 1;
    }
  } finally {
    for (const c of children) await stop(c);
    await b.dispose();
  }
}

if (process.argv[2] === '--serve') await serveChild();
else {
  try {
    await main();
  } catch (error) {
    console.error(`bench/serve: ${error instanceof BenchError ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exitCode = 1;
  }
}
