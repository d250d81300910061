import type { Verdict } from '../explain/index.js';
import type { Forecast } from './forecast.js';
import type { FailureRow, PayerRow, WatchFrame } from './session.js';

/**
 * The JSON of `bpfmem watch --json` (one object per line) and of `bpfmem serve`'s
 * `/api/v1/watch`: docs/watch.md documents the shape. Numbers are raw (bytes, seconds); `null`
 * where there is no value (no limit, no forecast).
 */

const num = (n: number | undefined): number | null => (n === undefined || !Number.isFinite(n) ? null : n);

export function verdictJson(v: Verdict | undefined): Record<string, unknown> | null {
  if (!v) return null;
  switch (v.kind) {
    case 'short':
      return { kind: 'short', limit: v.limit, cgroup: v.cgroup ?? null, headroom: v.headroom, short: v.short };
    case 'fits':
      return { kind: 'fits', limit: v.limit ?? null, cgroup: v.cgroup ?? null, headroom: num(v.headroom) };
    case 'refused':
      return { kind: 'refused', errno: v.errno, reason: v.reason };
    case 'unknown':
      return { kind: 'unknown', reason: v.reason };
  }
}

export function forecastJson(f: Forecast | undefined): Record<string, unknown> | null {
  if (!f) return null;
  return {
    bpf_bytes: f.bpf,
    growth_bytes_per_second: f.ratePerSecond,
    window_seconds: f.windowSeconds,
    headroom: num(f.headroom),
    limit_cgroup: f.limitCgroup ?? null,
    eta_seconds: num(f.etaSeconds),
  };
}

export function failureJson(r: FailureRow): Record<string, unknown> {
  return {
    map: { id: r.map.id, name: r.map.name, type: r.map.type, holders: r.map.holders.map((h) => ({ pid: h.pid, comm: h.comm })) },
    errno: r.errno,
    count: r.count,
    recent: r.recent,
    seen_by: r.seenBy,
    cgroup: r.cgroup ? { path: r.cgroup.path, usage: num(r.cgroup.usage), limit: num(r.cgroup.limit), headroom: num(r.cgroup.headroom) } : null,
    stopped_by: verdictJson(r.verdict),
  };
}

export function payerJson(p: PayerRow): Record<string, unknown> {
  return {
    path: p.path,
    bpf_bytes: p.bpf,
    usage: num(p.usage),
    limit: num(p.limit),
    headroom: num(p.headroom),
    failcnt: num(p.failcnt),
    failcnt_recent: num(p.failcntRecent),
    max_events: num(p.maxEvents),
    max_events_recent: num(p.maxEventsRecent),
    forecast: forecastJson(p.forecast),
  };
}

/** The `tracing` part: what is hooked, what is not and why. */
export function tracingJson(f: WatchFrame): Record<string, unknown> {
  return {
    attached: f.hooks.filter((h) => h.state === 'attached').map((h) => h.fn),
    not_attached: f.hooks.filter((h) => h.state !== 'attached').map((h) => ({ fn: h.fn, state: h.state, reason: h.reason ?? null })),
    refused_all: f.refusedAll ?? null,
    blind: f.blind,
    unattributed: f.unattributed,
    events_dropped: f.dropped,
    recursion_misses: f.recursionMisses,
    armed: f.hooks.filter((h) => h.armed === true).map((h) => h.fn),
    arming: f.arming
      ? {
          mode: f.arming.mode,
          arm_below: f.arming.armBelow,
          cgroups: f.arming.cgroups.map((c) => ({ path: c.path, headroom: num(c.headroom), why: c.why, types: c.types })),
          types: f.arming.types === 'all' ? 'all' : [...f.arming.types].sort(),
          hooks_armed: f.arming.armed,
          hooks_ready: f.arming.ready,
          changed: f.arming.changed,
        }
      : null,
  };
}

/** One frame. */
export function frameJson(f: WatchFrame): Record<string, unknown> {
  return {
    type: 'frame',
    time: f.time.toISOString(),
    kernel: { release: f.release, regime: f.regime },
    tracing: tracingJson(f),
    failures: f.failures.map(failureJson),
    cgroups: f.payers.map(payerJson),
    events: f.events.map((e) => ({ time: e.time.toISOString(), map_id: e.mapId, errno: e.errno, cpu: e.cpu, pid: e.pid })),
    notes: f.notes,
  };
}

/** The summary `watch --for` ends with: the last frame's totals over the whole run. */
export function summaryJson(f: WatchFrame, seconds: number): Record<string, unknown> {
  return {
    type: 'summary',
    time: f.time.toISOString(),
    seconds,
    kernel: { release: f.release, regime: f.regime },
    tracing: tracingJson(f),
    failures: f.failures.map((r) => ({ ...failureJson(r), recent: undefined })),
    // Each cgroup's counters changed by this much over the run (from the first frame it was in).
    cgroups: f.payers.map((p) => ({ ...payerJson(p), failcnt_recent: num(p.failcntRun), max_events_recent: num(p.maxEventsRun) })),
  };
}
