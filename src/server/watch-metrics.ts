import { Counter, Gauge, Registry } from 'prom-client';
import type { FailureRow, WatchFrame } from '../watch/index.js';

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

/**
 * Renders the watch metrics of a frame (empty text for none). `counters` carries
 * `bpfmem_map_update_failures_total` from one frame to the next (the server keeps one for its
 * life); without it, the frame's counts alone.
 */
export async function renderWatchMetrics(f: WatchFrame | undefined, counters: FailureCounters = new FailureCounters()): Promise<string> {
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
  new Gauge({ name: 'bpfmem_watch_tracing', help: '1 when refused map updates can be traced here (some hook attached at start; bpfmem_watch_hooks_armed says how many are attached now), else 0.', registers }).set(f.hooks.some((h) => h.state === 'attached') ? 1 : 0);
  // Arming on headroom (src/watch/arming.ts): hooks work here (`attached` above) but are attached only while a paying cgroup is near a limit.
  new Gauge({ name: 'bpfmem_watch_hooks_armed', help: 'Hooks attached now: armed while a memory cgroup paying for maps of their types has little room left on its path (--arm-below), or always (--always, the memlock regime).', registers }).set(f.hooks.filter((h) => h.armed === true).length);

  // Refused updates by type, errno and payer: counters that only grow while serve runs.
  counters.update(f.failures);
  const failures = new Counter({
    name: 'bpfmem_map_update_failures_total',
    help: 'Map updates the kernel refused since bpfmem serve started, by map type, errno and the memory cgroup charged for the map ("" when unknown).',
    labelNames: ['type', 'errno', 'cgroup'],
    registers,
  });
  for (const [labels, n] of counters.series()) failures.inc(labels, n);
  const byMap = new Counter({
    name: 'bpfmem_map_update_failures_by_map_total',
    help: `Refused updates of the ${TOP_MAPS} maps with the most, with their id and name, each under the type and cgroup its first refusal was counted with.`,
    labelNames: ['id', 'name', 'type', 'errno', 'cgroup'],
    registers,
  });
  // Each (map, errno) once, at the most it was ever counted: a map's series never goes down while it stays in the top.
  const perErrno = new Map<string, FailureRow>();
  for (const r of f.failures) perErrno.set(`${r.map.id}/${r.errno}`, r);
  const perMap = new Map<number, number>();
  for (const r of perErrno.values()) perMap.set(r.map.id, (perMap.get(r.map.id) ?? 0) + counters.counted(r));
  const top = new Set([...perMap].sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, TOP_MAPS).map(([id]) => id));
  for (const r of perErrno.values()) {
    if (!top.has(r.map.id)) continue;
    const m = counters.firstLabels(r.map.id) ?? counters.mapLabels(r);
    byMap.inc({ id: String(r.map.id), name: m.name, type: m.type, errno: r.errno, cgroup: m.cgroup }, counters.counted(r));
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

/** The `cgroup` label of the refusals summed past {@link MAX_FAILURE_SERIES} label sets. */
const OTHER = '_other';

/** The labels of `bpfmem_map_update_failures_total`. */
interface FailureLabels {
  readonly type: string;
  readonly errno: string;
  readonly cgroup: string;
}

/**
 * `bpfmem_map_update_failures_total` across frames, so that each of its series only grows, as a
 * counter must (Prometheus reads a decrease as a restart, and `increase()` then counts refusals
 * that never happened: deploy/alerts.yml's BpfMapUpdatesRefused would fire).
 *
 * A frame gives each map's refusals since serve started under the labels the map has now; those
 * change: a map that is gone has type `gone` and no cgroup, a removed cgroup's maps are charged to
 * its parent, a cgroup that cannot be read is `""`. Summed per label set frame by frame, the
 * refusals of such a map would leave its old series (which drops, when another map shares it) for
 * a new one. Here each refusal stays under the labels it was first counted under: a frame adds
 * to a label set only what a map's count grew by since the last frame, and a map that is gone
 * keeps the type and cgroup it had. The label sets with series of their own are kept too, the
 * first {@link MAX_FAILURE_SERIES} seen (the most refusals first within a frame); later ones are
 * summed under `cgroup="_other"` for good, so that `_other` only grows as well.
 */
export class FailureCounters {
  /** Per map and errno: the most it was counted at any frame. */
  readonly #rows = new Map<string, number>();
  /** Per map: its type, name and cgroup as last seen on the machine. */
  readonly #maps = new Map<number, { readonly type: string; readonly name: string; readonly cgroup: string }>();
  /** Per label set (its JSON): refusals counted under it. */
  readonly #totals = new Map<string, { readonly labels: FailureLabels; n: number }>();
  /** Label sets with series of their own. */
  readonly #own = new Set<string>();
  /** Per map: the type, name and cgroup its first refusal was counted under (its per-map series keeps them). */
  readonly #first = new Map<number, { readonly type: string; readonly name: string; readonly cgroup: string }>();

  /** The labels map `id`'s first refusal was counted under; undefined before it has one. */
  firstLabels(id: number): { readonly type: string; readonly name: string; readonly cgroup: string } | undefined {
    return this.#first.get(id);
  }

  /** The type, name and cgroup a row's map is counted under: its own, or as last seen when it is gone. */
  mapLabels(r: FailureRow): { readonly type: string; readonly name: string; readonly cgroup: string } {
    if (r.map.type === 'gone') return this.#maps.get(r.map.id) ?? { type: r.map.type, name: r.map.name, cgroup: r.cgroup?.path ?? '' };
    return { type: r.map.type, name: r.map.name, cgroup: r.cgroup?.path ?? '' };
  }

  /** The most a row's map and errno was counted at any frame (0 before {@link update} saw it). */
  counted(r: FailureRow): number {
    return this.#rows.get(`${r.map.id}/${r.errno}`) ?? 0;
  }

  /**
   * Adds what each map and errno's count grew by since the last frame, under the labels its map
   * has. One count per map and errno, whichever hook's it is (`seenBy` may change between frames:
   * src/watch/session.ts): the larger where a frame has two rows of one, and never less than
   * it was, so that a count that fell is not counted again as it grows back.
   */
  update(rows: readonly FailureRow[]): void {
    const byKey = new Map<string, FailureRow>();
    for (const r of rows) {
      const key = `${r.map.id}/${r.errno}`;
      if (r.count > (byKey.get(key)?.count ?? -1)) byKey.set(key, r);
    }
    for (const [rowKey, r] of byKey) {
      const m = this.mapLabels(r);
      if (r.map.type !== 'gone') this.#maps.set(r.map.id, m);
      const grew = r.count - (this.#rows.get(rowKey) ?? 0);
      if (grew <= 0) continue;
      this.#rows.set(rowKey, r.count);
      if (!this.#first.has(r.map.id)) this.#first.set(r.map.id, m);
      const labels: FailureLabels = { type: m.type, errno: r.errno, cgroup: m.cgroup };
      const key = JSON.stringify(labels);
      const t = this.#totals.get(key) ?? { labels, n: 0 };
      t.n += grew;
      this.#totals.set(key, t);
    }
  }

  /** The series: label sets with their own, then `_other` per map type and errno. */
  series(): [FailureLabels, number][] {
    const fresh = [...this.#totals].filter(([key, t]) => !this.#own.has(key) && t.labels.cgroup !== OTHER).sort(([, a], [, b]) => b.n - a.n || order(a.labels.cgroup, b.labels.cgroup));
    for (const [key] of fresh) {
      if (this.#own.size >= MAX_FAILURE_SERIES) break;
      this.#own.add(key);
    }
    // The rest goes into `_other` for good, and its label sets are forgotten: what serve holds
    // stays bounded however many cgroups come and go (a cgroup path starts with `/`, never `_`).
    for (const [key, t] of this.#totals) {
      if (this.#own.has(key) || t.labels.cgroup === OTHER) continue;
      const labels: FailureLabels = { type: t.labels.type, errno: t.labels.errno, cgroup: OTHER };
      const otherKey = JSON.stringify(labels);
      const o = this.#totals.get(otherKey) ?? { labels, n: 0 };
      o.n += t.n;
      this.#totals.set(otherKey, o);
      this.#totals.delete(key);
    }
    const own: [FailureLabels, number][] = [];
    const other: [FailureLabels, number][] = [];
    for (const t of this.#totals.values()) (t.labels.cgroup === OTHER ? other : own).push([t.labels, t.n]);
    const byLabels = ([a]: [FailureLabels, number], [b]: [FailureLabels, number]): number => order(a.cgroup, b.cgroup) || order(a.type, b.type) || order(a.errno, b.errno);
    return [...own.sort(byLabels), ...other.sort(byLabels)];
  }

  /** Label sets held (own series and `_other` sums): bounded by {@link MAX_FAILURE_SERIES} and the types and errnos. */
  get size(): number {
    return this.#totals.size;
  }
}

function order(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
