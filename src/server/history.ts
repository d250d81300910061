import type { Inventory } from '../inspect/inventory.js';
import type { Summary } from '../inspect/summary.js';
import type { WatchFrame } from '../watch/index.js';

/**
 * The recent past of a machine for the dashboard's charts (`GET /api/v1/history`): one point per
 * scan, kept for a window of time.
 */

/** A cgroup at one scan. */
export interface HistoryCgroup {
  readonly path: string;
  /** Estimated bytes of BPF maps charged to it or below it. */
  readonly bpf_subtree: number;
  readonly usage: number;
  /** null: no limit. */
  readonly max: number | null;
}

/** One scan. Field names are those of the JSON. */
export interface HistoryPoint {
  readonly time: string;
  readonly maps: number;
  readonly progs: number;
  readonly memlock: number;
  readonly charged: number;
  readonly uncharged: number;
  /** The cgroups with the most BPF in their subtree at that scan, most first. */
  readonly cgroups: readonly HistoryCgroup[];
  /** Refused map updates counted since serve started (null: not traced); the dashboard charts their rate. */
  readonly failures: number | null;
  /** The paying cgroups with a forecast: seconds until their limit at the last hour's BPF growth. */
  readonly etas: readonly { readonly path: string; readonly eta_seconds: number; readonly growth_bytes_per_second: number }[];
}

/** How many cgroups a point carries. */
export const HISTORY_CGROUPS = 10;

/** A bound on points whatever the window and interval: a day of 1 s scans is 86,400. */
const MAX_POINTS = 100_000;

/** The point of one scan. */
export function historyPoint(time: Date, inv: Inventory, s: Summary, watch?: WatchFrame): HistoryPoint {
  const cgroups = [...inv.cgroups]
    .filter((c) => c.bpfSubtree > 0)
    .sort((a, b) => b.bpfSubtree - a.bpfSubtree || (a.path < b.path ? -1 : 1))
    .slice(0, HISTORY_CGROUPS)
    .map((c) => ({ path: c.path, bpf_subtree: c.bpfSubtree, usage: c.usage, max: Number.isFinite(c.max) ? c.max : null }));
  const traced = watch !== undefined && watch.hooks.some((h) => h.state === 'attached');
  const failures = traced ? watch.failures.reduce((n, r) => n + r.count, 0) + watch.unattributed : null;
  const etas = (watch?.payers ?? []).flatMap((p) =>
    p.forecast?.etaSeconds === undefined ? [] : [{ path: p.path, eta_seconds: p.forecast.etaSeconds, growth_bytes_per_second: p.forecast.ratePerSecond }],
  );
  return { time: time.toISOString(), maps: s.maps, progs: s.progs, memlock: s.memlock, charged: s.charged, uncharged: s.uncharged, cgroups, failures, etas };
}

/** The `GET /api/v1/history` body of `points`. */
export const historyJson = (points: readonly HistoryPoint[], intervalSeconds: number): string => `${JSON.stringify({ interval_seconds: intervalSeconds, points })}\n`;

/** Points of the last `windowMs`, oldest first. */
export class History {
  private points: { readonly at: number; readonly point: HistoryPoint }[] = [];

  constructor(private readonly windowMs: number) {}

  add(at: Date, point: HistoryPoint): void {
    this.points.push({ at: at.getTime(), point });
    const oldest = at.getTime() - this.windowMs;
    let drop = 0;
    while (drop < this.points.length && (this.points[drop]?.at ?? 0) < oldest) drop++;
    if (this.points.length - drop > MAX_POINTS) drop = this.points.length - MAX_POINTS;
    if (drop > 0) this.points = this.points.slice(drop);
  }

  /**
   * The points as they are now, for a published scan to render when it is asked (an array of
   * references; the points themselves never change). Rendering every scan's JSON eagerly cost an
   * hour's window (3,600 points, 2.5 MB at 100,000 maps) each second whether or not anyone asked.
   */
  view(): readonly HistoryPoint[] {
    return this.points.map((p) => p.point);
  }

  get length(): number {
    return this.points.length;
  }
}
