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
  return slopeOf(
    points.map(([t]) => t),
    points.map(([, y]) => y),
  );
}

/** The least-squares slope of `y` over `t` (`t` taken from `t0`, for precision); 0 for fewer than two distinct times. */
function slopeOf(t: readonly number[], y: readonly number[], t0 = 0): number {
  const n = t.length;
  if (n < 2) return 0;
  let st = 0;
  let sy = 0;
  for (let i = 0; i < n; i++) {
    st += (t[i] ?? 0) - t0;
    sy += y[i] ?? 0;
  }
  const mt = st / n;
  const my = sy / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    const dt = (t[i] ?? 0) - t0 - mt;
    num += dt * ((y[i] ?? 0) - my);
    den += dt * dt;
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
 * `windowMs` (oldest first): {@link ForecastHistory} fed every point, none thinned.
 */
export function forecast(points: readonly ForecastPoint[], windowMs = 3_600_000): Forecast[] {
  const h = new ForecastHistory(windowMs, Number.POSITIVE_INFINITY);
  for (const p of points) h.add(p);
  return h.forecast();
}

/** One cgroup's BPF bytes over the window: times (ms) and bytes, oldest first. */
interface Series {
  t: number[];
  y: number[];
}

/**
 * The points of the last `windowMs`, kept per cgroup: one series of (time, BPF bytes) per
 * cgroup that paid for BPF maps within the window, and the usage and limit of the last point's
 * payers and their ancestors (the room on their paths). Not every cgroup of every point: a node
 * has thousands of cgroups and a few paying ones, and a frame costs O(payers × points) here, its
 * memory as much (plus one pass over the point's cgroups to find the payers).
 *
 * A series begins at the first point its cgroup pays (BPF bytes > 0) and takes a point at every
 * point the cgroup is in afterwards (0 bytes too: a cgroup whose maps are gone shrinks); its
 * points older than the window are dropped, and the series with them.
 *
 * Bound: at most `maxPoints + 2` points per series, over the whole window whatever the interval.
 * Points closer together than `windowMs / maxPoints` (360 ms for an hour and the default 10,000)
 * are thinned: while the last point is less than that after the one before it, a new point
 * replaces it (the latest value is always the last point), so every gap but the last is at least
 * that long.
 */
export class ForecastHistory {
  readonly #series = new Map<string, Series>();
  /** The last point's payers, and they and their ancestors by path. */
  #payers: CgroupPoint[] = [];
  #latest = new Map<string, CgroupPoint>();
  readonly #spacing: number;

  constructor(
    private readonly windowMs = 3_600_000,
    maxPoints = 10_000,
  ) {
    this.#spacing = windowMs / maxPoints;
  }

  add(p: ForecastPoint): void {
    const all = new Map<string, CgroupPoint>();
    for (const c of p.cgroups) all.set(c.path, c);
    const payers: CgroupPoint[] = [];
    const latest = new Map<string, CgroupPoint>();
    for (const c of p.cgroups) {
      if (c.bpf > 0) {
        payers.push(c);
        for (const a of ancestors(c.path)) {
          if (latest.has(a)) break;
          const x = all.get(a);
          if (x) latest.set(a, x);
        }
      }
      let s = this.#series.get(c.path);
      if (!s) {
        if (c.bpf <= 0) continue;
        this.#series.set(c.path, (s = { t: [], y: [] }));
      }
      const n = s.t.length;
      if (n >= 2 && (s.t[n - 1] ?? 0) - (s.t[n - 2] ?? 0) < this.#spacing) {
        s.t[n - 1] = p.at;
        s.y[n - 1] = c.bpf;
      } else {
        s.t.push(p.at);
        s.y.push(c.bpf);
      }
    }
    const oldest = p.at - this.windowMs;
    for (const [path, s] of this.#series) {
      let drop = 0;
      while (drop < s.t.length && (s.t[drop] ?? 0) < oldest) drop++;
      if (drop === s.t.length) this.#series.delete(path);
      else if (drop > 0) {
        s.t.splice(0, drop);
        s.y.splice(0, drop);
      }
    }
    this.#payers = payers;
    this.#latest = latest;
  }

  /** Points held, over every series (at most `maxPoints + 2` each). */
  get held(): number {
    let n = 0;
    for (const s of this.#series.values()) n += s.t.length;
    return n;
  }

  /** The forecast of each cgroup paying at the last point, the soonest to run out first. */
  forecast(): Forecast[] {
    return this.#payers
      .map((c) => {
        const s = this.#series.get(c.path) ?? { t: [], y: [] };
        const t0 = s.t[0] ?? 0;
        // Bytes per millisecond, per second.
        const rate = slopeOf(s.t, s.y, t0) * 1000;
        const { headroom, cgroup } = limitOnPath(this.#latest, c.path);
        const eta = rate > 0 && Number.isFinite(headroom) ? headroom / rate : undefined;
        return {
          path: c.path,
          bpf: c.bpf,
          ratePerSecond: rate,
          windowSeconds: s.t.length < 2 ? 0 : ((s.t.at(-1) ?? t0) - t0) / 1000,
          headroom,
          limitCgroup: cgroup,
          etaSeconds: eta,
        };
      })
      .sort((a, b) => (a.etaSeconds ?? Infinity) - (b.etaSeconds ?? Infinity) || (a.path < b.path ? -1 : 1));
  }
}
