/**
 * bench/inventory.ts: `bpfmem maps --json` against `bpftool -j map show` on the same 10,000
 * maps, in the same run, as whole commands (process start included), and the ratio.
 *
 * The maps are made by one worker of the live backend in a memory cgroup under its owned root
 * (removed at the end, on Ctrl-C too): a mix like a busy node's, mostly preallocated arrays and
 * hashes of a few layouts, with no-prealloc hashes and LPM tries whose memory follows their
 * contents (for those bpfmem reads fdinfo, as bpftool does for every map). bpfmem reports more
 * than bpftool: the cgroup each map is charged to, its estimated charge, and holders (bpftool
 * on this kernel prints no `pids`: its kallsyms lookup finds no `bpf_map_fops`).
 *
 * Needs root, bpftool, and `npm run build` (it runs dist/bin/bpfmem.js, as users do).
 * Run: `npm run bench:inventory` (N=… to change the count, RUNS=… the repetitions).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { must } from '../src/vocab/backend.js';
import { LiveBackend } from '../src/live/backend.js';
import { disposeAll } from '../src/live/cleanup.js';
import { specFor } from './map-mix.js';

const N = Number(process.env['N'] ?? 10_000);
const RUNS = Number(process.env['RUNS'] ?? 7);
const BIN = fileURLToPath(new URL('../dist/bin/bpfmem.js', import.meta.url));
const MiB = 1024 * 1024;

function fail(why: string): never {
  console.error(`bench/inventory: ${why}`);
  process.exit(1);
}

/** Wall time of a command, in ms; its stdout length, to check it printed the maps. */
function timed(cmd: string, args: string[]): { ms: number; bytes: number } {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 512 * MiB });
  const ms = performance.now() - t0;
  if (r.status !== 0) fail(`${cmd} ${args.join(' ')} exited ${String(r.status)}: ${r.stderr.trim().split('\n')[0] ?? ''}`);
  return { ms, bytes: r.stdout.length };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
};

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) fail('needs root (it creates a memory cgroup and BPF maps)');
  if (!existsSync(BIN)) fail(`no ${BIN}: run npm run build first`);
  try {
    execFileSync('bpftool', ['version'], { stdio: 'ignore' });
  } catch {
    fail('no bpftool on PATH (apt-get install bpftool)');
  }
  const b = await LiveBackend.create({ prefix: 'bench_inventory' });
  try {
    must(await b.createCgroup('/bench', { max: 2048 * MiB, high: Number.POSITIVE_INFINITY }));
    must(await b.startTask('loader', { cgroup: '/bench', uid: 0 }));
    const t0 = performance.now();
    for (let i = 0; i < N; i++) must(await b.createMap('loader', `bench${i}`, specFor(i)));
    console.log(`made ${N} maps in ${((performance.now() - t0) / 1000).toFixed(1)} s (1 in 10 no-prealloc hash, 1 in 10 per-CPU array)`);

    // Interleaved, so that both see the same machine state; the first run of each warms caches.
    const bpfmem: number[] = [];
    const bpftool: number[] = [];
    let sizes = { bpfmem: 0, bpftool: 0 };
    timed(process.execPath, [BIN, 'maps', '--json']);
    timed('bpftool', ['-j', 'map', 'show']);
    for (let i = 0; i < RUNS; i++) {
      const a = timed(process.execPath, [BIN, 'maps', '--json']);
      const t = timed('bpftool', ['-j', 'map', 'show']);
      bpfmem.push(a.ms);
      bpftool.push(t.ms);
      sizes = { bpfmem: a.bytes, bpftool: t.bytes };
    }
    const ours = median(bpfmem);
    const ref = median(bpftool);
    const fmt = (xs: number[]): string => `median ${median(xs).toFixed(0)} ms (min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)})`;
    console.log(`bpftool -j map show       ${fmt(bpftool)}, ${(sizes.bpftool / 1024).toFixed(0)} KiB of JSON`);
    console.log(`bpfmem maps --json        ${fmt(bpfmem)}, ${(sizes.bpfmem / 1024).toFixed(0)} KiB of JSON (+ charged cgroup, charge, holders)`);
    console.log(`ratio bpfmem / bpftool    ${(ours / ref).toFixed(2)} over ${RUNS} runs each, ${N} maps (target ≤ 1.00)`);
  } finally {
    await b.dispose();
  }
}

process.once('SIGINT', () => {
  void disposeAll().finally(() => process.exit(130));
});
await main();
