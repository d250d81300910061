/**
 * bench/model.ts: accounted events per second of the model, and whether cost is linear in events.
 *
 * An event is one map update or delete that charges or uncharges memory through a 4-level cgroup
 * tree (/a/b/c/d): a no-prealloc hash map on 5.15 (one objcg charge per insert, GFP_ATOMIC era)
 * and on 6.18 (bpf_mem_alloc caches, refilled in batches). The reference, measured in the same
 * run, is the bare cost of what every charge must do: walking four page counters with a limit
 * check (a plain loop over the same tree shape). Run: `npm run bench:model`.
 */
import { performance } from 'node:perf_hooks';
import { MAP_FLAGS } from '../src/vocab/flags.js';
import { ModelKernel } from '../src/model/kernel.js';
import { mapSpec } from '../src/vocab/map-spec.js';
import { profileOf } from '../src/model/profile.js';

const INF = Number.POSITIVE_INFINITY;
const CHUNK = 100_000;

function world(version: string): ModelKernel {
  const k = new ModelKernel(profileOf({ version, cpus: 2, cgroup: 2 }));
  for (const p of ['/a', '/a/b', '/a/b/c', '/a/b/c/d']) k.createCgroup(p, { max: 64 * 1024 ** 3, high: INF });
  k.startTask('t', { cgroup: '/a/b/c/d', uid: 0 });
  const made = k.createMap('t', 'h', mapSpec({ type: 'hash', keySize: 8, valueSize: 64, maxEntries: CHUNK, flags: MAP_FLAGS.no_prealloc }));
  if (!made.ok) throw new Error(made.reason);
  return k;
}

/** Runs `events` accounted events: inserts up to capacity, then deletes, alternating. */
function drive(k: ModelKernel, events: number): number {
  const t0 = performance.now();
  let done = 0;
  while (done < events) {
    const n = Math.min(CHUNK, events - done);
    const up = k.updateMap('h', n, 'softirq', 0);
    if (!up.ok) throw new Error(up.reason);
    done += n;
    if (done >= events) break;
    const m = Math.min(n, events - done);
    const del = k.deleteFromMap('h', m, 0);
    if (!del.ok) throw new Error(del.reason);
    done += m;
    if (m < n) k.deleteFromMap('h', n - m, 0);
  }
  return (performance.now() - t0) / 1000;
}

/** The reference: four hierarchical counters charged and checked per event, nothing else. */
function reference(events: number): number {
  const usage = new Float64Array(5);
  const max = new Float64Array(5).fill(INF);
  const t0 = performance.now();
  for (let i = 0; i < events; i++) {
    const pages = i & 1 ? -1 : 1;
    let ok = true;
    for (let l = 4; l >= 1; l--) if ((usage[l] ?? 0) + pages > (max[l] ?? INF)) ok = false;
    if (ok) for (let l = 4; l >= 0; l--) usage[l] = (usage[l] ?? 0) + pages;
  }
  const s = (performance.now() - t0) / 1000;
  if (usage[0] === 12345.5) console.log('unreachable');
  return s;
}

const sizes = [1_000_000, 2_000_000, 4_000_000, 8_000_000];
console.log('bench/model: accounted map events through a 4-level cgroup tree (best of 3)');
const refRate = sizes[sizes.length - 1]! / Math.min(reference(sizes[sizes.length - 1]!), reference(sizes[sizes.length - 1]!));
console.log(`reference (bare 4-level page-counter walk): ${(refRate / 1e6).toFixed(1)} M events/s`);
let failed = false;
for (const version of ['6.18', '5.15']) {
  const rates: number[] = [];
  for (const n of sizes) {
    const best = Math.min(...[0, 1, 2].map(() => drive(world(version), n)));
    rates.push(n / best);
  }
  const last = rates[rates.length - 1]!;
  const first = rates[0]!;
  const linear = last / first;
  console.log(
    `${version} no-prealloc hash: ${sizes.map((n, i) => `${n / 1e6}M: ${(rates[i]! / 1e6).toFixed(2)} M/s`).join(', ')}`,
  );
  console.log(
    `  per-event cost at ${sizes[sizes.length - 1]! / 1e6}M vs ${sizes[0]! / 1e6}M events: ${(first / last).toFixed(2)}× (1.00 = linear); ` +
      `model vs reference: ${(refRate / last).toFixed(1)}× the bare walk`,
  );
  if (last < 5e6) failed = true;
  if (linear < 0.8) failed = true;
}
process.exitCode = failed ? 1 : 0;
console.log(failed ? 'target NOT met: ≥ 5 M events/s and linear cost' : 'target met: ≥ 5 M events/s and linear cost');
