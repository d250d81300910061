import { ancestors } from '../vocab/cgroup-path.js';

/**
 * When each memory cgroup paying for BPF maps runs out at the rate its BPF memory grows. Pure:
 * the points come from successive inventories (`bpfmem watch`, `bpfmem serve`) or from the
 * model (a scenario whose growth is known, in the tests).
 *
 * The rate is the least-squares slope of the cgroup's BPF bytes over the window (an hour by
 * default): robust to one noisy scan, and 0 for a cgroup whose BPF is flat. The room is the
 * least headroom on the cgroup's path to the root (mm/page_counter.c `page_counter_try_charge`
 * fails at the first ancestor whose `max` the charge would pass), and the ETA is that room over
 * the rate. Other memory of the cgroup may use the room first: the ETA is for BPF alone.
 */

/** One cgroup at one moment. */
export interface CgroupPoint {
  readonly path: string;
  /** Bytes of BPF maps charged to it (the model's estimate of their charge). */
  readonly bpf: number;
  /** Memory charged to it and below (v2 memory.current, v1 memory.usage_in_bytes). */
  readonly usage: number;
  /** Its limit; Infinity for none. */
  readonly max: number;
}

/** Every cgroup known at one moment (the payers and their ancestors). */
export interface ForecastPoint {
  /** Milliseconds (Unix time). */
  readonly at: number;
  readonly cgroups: readonly CgroupPoint[];
}

/** The forecast of one cgroup. */
export interface Forecast {
  readonly path: string;
  readonly bpf: number;
  /** Bytes per second of BPF growth over the window (least squares); 0 when flat or shrinking below 0 is kept. */
  readonly ratePerSecond: number;
  /** Seconds the window covers (the slope is meaningless below two points). */
  readonly windowSeconds: number;
  /** The least room under a limit on its path now, and whose limit that is. */
  readonly headroom: number;
  readonly limitCgroup: string | undefined;
  /** Seconds until that room is gone at this rate; undefined when the rate is not positive or no limit applies. */
  readonly etaSeconds: number | undefined;
}

/** The least-squares slope of (t seconds, y) pairs; 0 for fewer than two distinct times. */
export function slope(points: readonly (readonly [number, number])[]): number {
  const n = points.length;
  if (n < 2) return 0;
  let st = 0;
  let sy = 0;
  for (const [t, y] of points) {
    st += t;
    sy += y;
  }
  const mt = st / n;
  const my = sy / n;
  let num = 0;
  let den = 0;
  for (const [t, y] of points) {
    num += (t - mt) * (y - my);
    den += (t - mt) * (t - mt);
  }
  return den === 0 ? 0 : num / den;
}

/** The least headroom on `path`'s way to the root, and whose it is (the root has no limit that charges fail at). */
export function limitOnPath(cgroups: ReadonlyMap<string, CgroupPoint>, path: string): { headroom: number; cgroup: string | undefined } {
  let best: { headroom: number; cgroup: string | undefined } = { headroom: Number.POSITIVE_INFINITY, cgroup: undefined };
  for (const p of ancestors(path)) {
    const c = cgroups.get(p);
    if (!c || p === '/' || !Number.isFinite(c.max)) continue;
    const room = Math.max(0, c.max - c.usage);
    if (room < best.headroom) best = { headroom: room, cgroup: p };
  }
  return best;
}

/**
 * Forecasts for the cgroups of the last point that have BPF memory, from the points of the last
 * `windowMs` (oldest first).
 */
export function forecast(points: readonly ForecastPoint[], windowMs = 3_600_000): Forecast[] {
  const last = points.at(-1);
  if (!last) return [];
  const recent = points.filter((p) => p.at >= last.at - windowMs);
  const t0 = recent[0]?.at ?? last.at;
  const now = new Map(last.cgroups.map((c) => [c.path, c]));
  return last.cgroups
    .filter((c) => c.bpf > 0)
    .map((c) => {
      const series: [number, number][] = [];
      for (const p of recent) {
        const x = p.cgroups.find((y) => y.path === c.path);
        if (x) series.push([(p.at - t0) / 1000, x.bpf]);
      }
      const rate = slope(series);
      const { headroom, cgroup } = limitOnPath(now, c.path);
      const eta = rate > 0 && Number.isFinite(headroom) ? headroom / rate : undefined;
      return {
        path: c.path,
        bpf: c.bpf,
        ratePerSecond: rate,
        windowSeconds: series.length < 2 ? 0 : (series.at(-1)?.[0] ?? 0) - (series[0]?.[0] ?? 0),
        headroom,
        limitCgroup: cgroup,
        etaSeconds: eta,
      };
    })
    .sort((a, b) => (a.etaSeconds ?? Infinity) - (b.etaSeconds ?? Infinity) || (a.path < b.path ? -1 : 1));
}

/** A bounded series of points, keeping the last `windowMs`. */
export class ForecastHistory {
  #points: ForecastPoint[] = [];

  constructor(
    private readonly windowMs = 3_600_000,
    private readonly maxPoints = 10_000,
  ) {}

  add(p: ForecastPoint): void {
    this.#points.push(p);
    const oldest = p.at - this.windowMs;
    let drop = 0;
    while (drop < this.#points.length && (this.#points[drop]?.at ?? 0) < oldest) drop++;
    drop = Math.max(drop, this.#points.length - this.maxPoints);
    if (drop > 0) this.#points = this.#points.slice(drop);
  }

  forecast(): Forecast[] {
    return forecast(this.#points, this.windowMs);
  }
}
