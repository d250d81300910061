import { Counter, Gauge, Registry } from 'prom-client';
import type { WatchFrame } from '../watch/index.js';

/**
 * The metrics of `bpfmem watch` in `bpfmem serve` (docs/metrics.md, docs/watch.md), rendered
 * from the scan's watch frame into their own text, which metrics.ts appends: refused map updates
 * by map type, errno and the cgroup charged (bounded: at most {@link MAX_FAILURE_SERIES} label
 * sets, the rest under `cgroup="_other"`), the top {@link TOP_MAPS} maps with their own labels,
 * what is hooked, and per paying cgroup its BPF growth and the time until its limit.
 */

/** Label sets of `bpfmem_map_update_failures_total` before the rest are summed under `_other`. */
export const MAX_FAILURE_SERIES = 200;
/** Maps with their own series in `bpfmem_map_update_failures_by_map_total`. */
export const TOP_MAPS = 10;

/** Renders the watch metrics of a frame (empty text for none). */
export async function renderWatchMetrics(f: WatchFrame | undefined): Promise<string> {
  if (!f) return '';
  const registry = new Registry();
  const registers = [registry];
  const hooks = new Gauge({
    name: 'bpfmem_watch_hooks',
    help: 'Functions bpfmem watch hooks with fexit to count refused map updates, by state: attached, absent (not in BTF), refused (by the kernel), off.',
    labelNames: ['function', 'state'],
    registers,
  });
  for (const h of f.hooks) hooks.set({ function: h.fn, state: h.state }, 1);
  new Gauge({ name: 'bpfmem_watch_tracing', help: '1 when refused map updates are traced (some hook is attached), else 0.', registers }).set(f.hooks.some((h) => h.state === 'attached') ? 1 : 0);
  // Arming on headroom (src/watch/arming.ts): hooks work here (`attached` above) but are attached only while a paying cgroup is near a limit.
  new Gauge({ name: 'bpfmem_watch_hooks_armed', help: 'Hooks attached now: armed while a memory cgroup paying for maps of their types has little room left on its path (--arm-below), or always (--always, the memlock regime).', registers }).set(f.hooks.filter((h) => h.armed === true).length);

  // Refused updates by type, errno and payer: counters that only grow while serve runs.
  const failures = new Counter({
    name: 'bpfmem_map_update_failures_total',
    help: 'Map updates the kernel refused since bpfmem serve started, by map type, errno and the memory cgroup charged for the map ("" when unknown).',
    labelNames: ['map_type', 'errno', 'cgroup'],
    registers,
  });
  const sums = new Map<string, { map_type: string; errno: string; cgroup: string; n: number }>();
  for (const r of f.failures) {
    const labels = { map_type: r.map.type, errno: r.errno, cgroup: r.cgroup?.path ?? '' };
    const key = JSON.stringify(labels);
    const e = sums.get(key) ?? { ...labels, n: 0 };
    e.n += r.count;
    sums.set(key, e);
  }
  const ordered = [...sums.values()].sort((a, b) => b.n - a.n || (a.cgroup < b.cgroup ? -1 : 1));
  const other = new Map<string, number>();
  ordered.forEach((e, i) => {
    if (i < MAX_FAILURE_SERIES) failures.inc({ map_type: e.map_type, errno: e.errno, cgroup: e.cgroup }, e.n);
    else other.set(`${e.map_type}\0${e.errno}`, (other.get(`${e.map_type}\0${e.errno}`) ?? 0) + e.n);
  });
  for (const [k, n] of other) {
    const [mapType = '', errno = ''] = k.split('\0');
    failures.inc({ map_type: mapType, errno, cgroup: '_other' }, n);
  }
  const byMap = new Counter({
    name: 'bpfmem_map_update_failures_by_map_total',
    help: `Refused updates of the ${TOP_MAPS} maps with the most, with their id and name.`,
    labelNames: ['id', 'name', 'map_type', 'errno', 'cgroup'],
    registers,
  });
  const perMap = new Map<number, number>();
  for (const r of f.failures) perMap.set(r.map.id, (perMap.get(r.map.id) ?? 0) + r.count);
  const top = new Set([...perMap].sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, TOP_MAPS).map(([id]) => id));
  for (const r of f.failures) {
    if (top.has(r.map.id)) byMap.inc({ id: String(r.map.id), name: r.map.name, map_type: r.map.type, errno: r.errno, cgroup: r.cgroup?.path ?? '' }, r.count);
  }
  new Counter({ name: 'bpfmem_map_update_failures_unattributed_total', help: 'Refused updates counted by a hook but not per map (the slot of its id was taken).', registers }).inc(f.unattributed);
  new Counter({ name: 'bpfmem_watch_events_dropped_total', help: 'Failure events the ring buffer had no room for (the counters still count them).', registers }).inc(f.dropped);
  new Counter({ name: 'bpfmem_watch_recursion_misses_total', help: 'Updates the hooks missed because one of them was already running on that CPU (bpf_prog_info.recursion_misses).', registers }).inc(f.recursionMisses);

  // The paying cgroups: their refusal counters, BPF growth and time to their limit.
  const cg = ['cgroup'] as const;
  const failcnt = new Counter({ name: 'bpfmem_cgroup_memory_failcnt_total', help: 'v1 memory.failcnt of a memory cgroup paying for BPF maps: charges refused at its limit (every retry counts).', labelNames: cg, registers });
  const maxEvents = new Counter({ name: 'bpfmem_cgroup_memory_max_events_total', help: 'v2 memory.events.local max of a memory cgroup paying for BPF maps (a refused BPF charge raises it only on some kernels: docs/watch.md).', labelNames: cg, registers });
  const growth = new Gauge({ name: 'bpfmem_cgroup_bpf_growth_bytes_per_second', help: "Growth of the BPF maps charged to a memory cgroup over the last hour (least squares of the scans' estimates).", labelNames: cg, registers });
  const eta = new Gauge({
    name: 'bpfmem_cgroup_limit_eta_seconds',
    help: 'Seconds until the BPF maps charged to a memory cgroup, growing at their last-hour rate, fill the least headroom on its path (limit_cgroup: whose limit); absent when they do not grow.',
    labelNames: ['cgroup', 'limit_cgroup'],
    registers,
  });
  for (const p of f.payers) {
    if (p.failcnt !== undefined) failcnt.inc({ cgroup: p.path }, p.failcnt);
    if (p.maxEvents !== undefined) maxEvents.inc({ cgroup: p.path }, p.maxEvents);
    if (p.forecast && p.forecast.windowSeconds > 0) growth.set({ cgroup: p.path }, p.forecast.ratePerSecond);
    if (p.forecast?.etaSeconds !== undefined) eta.set({ cgroup: p.path, limit_cgroup: p.forecast.limitCgroup ?? '' }, p.forecast.etaSeconds);
  }
  return registry.metrics();
}
