import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { FailureCounters, MAX_FAILURE_SERIES, renderWatchMetrics, TOP_MAPS } from '../../src/server/watch-metrics.js';
import type { HookStatus } from '../../src/sys/trace/index.js';
import { frameJson, summaryJson, type FailureRow, type WatchFrame } from '../../src/watch/index.js';
import { cli } from '../cli/run.js';

/**
 * The watch metrics of `bpfmem serve` on made-up frames (their names, labels, the bound on
 * label sets, the top maps), docs/watch.md's table against them, the alert rules of deploy/ with
 * promtool, and `bpfmem watch`'s one-line answers to bad options.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PROMTOOL = '/usr/bin/promtool';

const hook = (fn: string, state: HookStatus['state'], reason?: string): HookStatus => ({ fn, types: ['hash'], paths: ['prog', 'sys'], table: 'type', state, ...(reason !== undefined && { reason }) });

function row(id: number, errno: FailureRow['errno'], count: number, cgroup: string | undefined, type = 'hash'): FailureRow {
  return {
    map: { id, name: `m${id}`, type, holders: [{ pid: 10, comm: 'agent' }] },
    errno,
    count,
    recent: count,
    seenBy: 'type',
    cgroup: cgroup === undefined ? undefined : { path: cgroup, usage: 4096, limit: 4096, headroom: 0 },
    verdict: cgroup === undefined ? undefined : { kind: 'short', limit: 'memory.max', cgroup, headroom: 0, short: 4096 },
  };
}

function frame(failures: FailureRow[]): WatchFrame {
  return {
    time: new Date('2026-12-04T18:00:00Z'),
    release: '6.12.118',
    regime: 'memcg',
    hooks: [hook('htab_map_update_elem', 'attached'), hook('trie_update_elem', 'refused', 'EBUSY at attach'), hook('array_map_update_elem', 'off')],
    refusedAll: undefined,
    blind: ['lpm_trie updates from BPF programs: trie_update_elem: EBUSY at attach'],
    failures,
    payers: [
      {
        path: '/pod-a',
        bpf: 1 << 20,
        usage: 4096,
        limit: 8192,
        headroom: 4096,
        failcnt: 12,
        failcntRecent: 2,
        maxEvents: undefined,
        maxEventsRecent: undefined,
        failcntRun: 5,
        maxEventsRun: undefined,
        forecast: { path: '/pod-a', bpf: 1 << 20, ratePerSecond: 2, windowSeconds: 600, headroom: 4096, limitCgroup: '/', etaSeconds: 2048 },
      },
      {
        path: '/flat',
        bpf: 100,
        usage: 1,
        limit: Number.POSITIVE_INFINITY,
        headroom: undefined,
        failcnt: 0,
        failcntRecent: 0,
        maxEvents: undefined,
        maxEventsRecent: undefined,
        failcntRun: 0,
        maxEventsRun: undefined,
        forecast: { path: '/flat', bpf: 100, ratePerSecond: 0, windowSeconds: 600, headroom: Number.POSITIVE_INFINITY, limitCgroup: undefined, etaSeconds: undefined },
      },
    ],
    unattributed: 3,
    dropped: 0,
    recursionMisses: 0,
    events: [],
    notes: [],
  };
}

/** `name{labels} value` lines of a family. */
const series = (text: string, name: string): string[] => text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));

describe('the watch metrics', () => {
  it('count refusals by map type, errno and cgroup, with the top maps by id and name', async () => {
    const text = await renderWatchMetrics(frame([row(7, 'ENOMEM', 300, '/pod-a'), row(8, 'ENOMEM', 5, '/pod-a'), row(9, 'E2BIG', 2, undefined, 'lru_hash')]));
    expect(series(text, 'bpfmem_map_update_failures_total').sort()).toEqual([
      'bpfmem_map_update_failures_total{type="hash",errno="ENOMEM",cgroup="/pod-a"} 305',
      'bpfmem_map_update_failures_total{type="lru_hash",errno="E2BIG",cgroup=""} 2',
    ]);
    expect(series(text, 'bpfmem_map_update_failures_by_map_total')).toContain('bpfmem_map_update_failures_by_map_total{id="7",name="m7",type="hash",errno="ENOMEM",cgroup="/pod-a"} 300');
    expect(series(text, 'bpfmem_map_update_failures_unattributed_total')).toEqual(['bpfmem_map_update_failures_unattributed_total 3']);
    expect(series(text, 'bpfmem_watch_tracing')).toEqual(['bpfmem_watch_tracing 1']);
    expect(series(text, 'bpfmem_watch_hooks')).toContain('bpfmem_watch_hooks{function="trie_update_elem",state="refused"} 1');
    expect(series(text, 'bpfmem_cgroup_limit_eta_seconds')).toEqual(['bpfmem_cgroup_limit_eta_seconds{cgroup="/pod-a",limit_cgroup="/"} 2048']);
    expect(series(text, 'bpfmem_cgroup_bpf_growth_bytes_per_second').sort()).toEqual([
      'bpfmem_cgroup_bpf_growth_bytes_per_second{cgroup="/flat"} 0',
      'bpfmem_cgroup_bpf_growth_bytes_per_second{cgroup="/pod-a"} 2',
    ]);
    expect(series(text, 'bpfmem_cgroup_memory_failcnt_total')).toContain('bpfmem_cgroup_memory_failcnt_total{cgroup="/pod-a"} 12');
    expect(await renderWatchMetrics(undefined)).toBe('');
  });

  it('keep the label sets bounded: the rest sum under cgroup="_other", and only the top maps have their own series', async () => {
    const rows = Array.from({ length: MAX_FAILURE_SERIES + 50 }, (_, i) => row(i + 1, 'ENOMEM', 1000 - i, `/pod-${i}`));
    const text = await renderWatchMetrics(frame(rows));
    const fam = series(text, 'bpfmem_map_update_failures_total');
    expect(fam).toHaveLength(MAX_FAILURE_SERIES + 1);
    const rest = rows.slice(MAX_FAILURE_SERIES).reduce((n, r) => n + r.count, 0);
    expect(fam).toContain(`bpfmem_map_update_failures_total{type="hash",errno="ENOMEM",cgroup="_other"} ${rest}`);
    const total = fam.reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);
    expect(total).toBe(rows.reduce((n, r) => n + r.count, 0));
    expect(series(text, 'bpfmem_map_update_failures_by_map_total')).toHaveLength(TOP_MAPS);
  });

  it('only grow from frame to frame: a gone map keeps its type and cgroup, a reparented map its first cgroup', async () => {
    const counters = new FailureCounters();
    const value = (text: string, labels: string): number => Number(series(text, 'bpfmem_map_update_failures_total').find((l) => l.includes(labels))?.split(' ').at(-1) ?? Number.NaN);
    const first = await renderWatchMetrics(frame([row(7, 'ENOMEM', 10, '/pod-a'), row(8, 'ENOMEM', 5, '/pod-a')]), counters);
    expect(value(first, 'cgroup="/pod-a"')).toBe(15);
    // Map 7 is gone (its type and cgroup are no longer known); map 8's cgroup was removed and it is charged to the parent now.
    const gone: FailureRow = { ...row(7, 'ENOMEM', 12, undefined), map: { id: 7, name: '', type: 'gone', holders: [] } };
    const second = await renderWatchMetrics(frame([gone, row(8, 'ENOMEM', 6, '/')]), counters);
    expect(value(second, 'cgroup="/pod-a"')).toBe(17);
    expect(value(second, 'cgroup="/"}')).toBe(1);
    expect(series(second, 'bpfmem_map_update_failures_total').some((l) => l.includes('type="gone"'))).toBe(false);
    expect(series(second, 'bpfmem_map_update_failures_by_map_total')).toContain('bpfmem_map_update_failures_by_map_total{id="7",name="m7",type="hash",errno="ENOMEM",cgroup="/pod-a"} 12');
    // Map 8's own series stays under the cgroup of its first refusal: one series that grows, none that vanishes.
    expect(series(second, 'bpfmem_map_update_failures_by_map_total')).toContain('bpfmem_map_update_failures_by_map_total{id="8",name="m8",type="hash",errno="ENOMEM",cgroup="/pod-a"} 6');
    expect(series(second, 'bpfmem_map_update_failures_by_map_total').filter((l) => l.includes('id="8"'))).toHaveLength(1);
    // A frame whose counts did not grow adds nothing.
    const third = await renderWatchMetrics(frame([gone, row(8, 'ENOMEM', 6, '/')]), counters);
    expect(series(third, 'bpfmem_map_update_failures_total')).toEqual(series(second, 'bpfmem_map_update_failures_total'));
  });

  it("count each map and errno once, whichever hook's count its row shows: no series goes down or counts a refusal twice", async () => {
    const counters = new FailureCounters();
    const byMap = (text: string): string[] => series(text, 'bpfmem_map_update_failures_by_map_total');
    const total = (text: string): string[] => series(text, 'bpfmem_map_update_failures_total');
    const seen = (r: FailureRow, seenBy: FailureRow['seenBy']): FailureRow => ({ ...r, seenBy });
    // 300 bpf(2) refusals seen by bpf_map_update_value alone, then the type's hook's first one:
    // a frame that shows the type's row of 1 (or both rows) leaves both families where they were.
    await renderWatchMetrics(frame([seen(row(7, 'E2BIG', 300, '/pod-a'), 'syscall')]), counters);
    for (const rows of [[row(7, 'E2BIG', 1, '/pod-a')], [row(7, 'E2BIG', 1, '/pod-a'), seen(row(7, 'E2BIG', 300, '/pod-a'), 'syscall')]]) {
      const text = await renderWatchMetrics(frame(rows), counters);
      expect(total(text)).toEqual(['bpfmem_map_update_failures_total{type="hash",errno="E2BIG",cgroup="/pod-a"} 300']);
      expect(byMap(text)).toEqual(['bpfmem_map_update_failures_by_map_total{id="7",name="m7",type="hash",errno="E2BIG",cgroup="/pod-a"} 300']);
    }
    // The count grows past it: by what it grew past 300, once.
    const text = await renderWatchMetrics(frame([row(7, 'E2BIG', 450, '/pod-a')]), counters);
    expect(total(text)).toEqual(['bpfmem_map_update_failures_total{type="hash",errno="E2BIG",cgroup="/pod-a"} 450']);
    expect(byMap(text)).toEqual(['bpfmem_map_update_failures_by_map_total{id="7",name="m7",type="hash",errno="E2BIG",cgroup="/pod-a"} 450']);
  });

  it('keep the first label sets seen as their own; later ones go to cgroup="_other" for good, which only grows', async () => {
    const counters = new FailureCounters();
    const early = Array.from({ length: MAX_FAILURE_SERIES }, (_, i) => row(i + 1, 'ENOMEM', 1, `/pod-${i}`));
    await renderWatchMetrics(frame(early), counters);
    const late = row(10_000, 'ENOMEM', 500, '/late');
    const text = await renderWatchMetrics(frame([...early, late]), counters);
    const fam = series(text, 'bpfmem_map_update_failures_total');
    expect(fam).toHaveLength(MAX_FAILURE_SERIES + 1);
    expect(fam).toContain('bpfmem_map_update_failures_total{type="hash",errno="ENOMEM",cgroup="_other"} 500');
    expect(fam.some((l) => l.includes('cgroup="/late"'))).toBe(false);
    // Cgroups that come and go under churn: what the counters hold stays bounded, the sum exact.
    for (let i = 0; i < 20; i++) await renderWatchMetrics(frame([...early, late, row(20_000 + i, 'ENOMEM', 7, `/churn-${i}`)]), counters);
    expect(counters.size).toBe(MAX_FAILURE_SERIES + 1);
    const last = series(await renderWatchMetrics(frame([...early, late]), counters), 'bpfmem_map_update_failures_total');
    expect(last).toContain('bpfmem_map_update_failures_total{type="hash",errno="ENOMEM",cgroup="_other"} 640');
  });

  it('are the metrics docs/watch.md lists, no more, no fewer', async () => {
    const text = await renderWatchMetrics(frame([row(7, 'ENOMEM', 3, '/pod-a')]));
    const served = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]));
    const doc = readFileSync(`${ROOT}docs/watch.md`, 'utf8');
    const section = doc.slice(doc.indexOf('## In `bpfmem serve`'));
    const listed = new Set([...section.matchAll(/^\| (`bpfmem_[^|]+)\|/gm)].flatMap((m) => [...(m[1] ?? '').matchAll(/`(bpfmem_[a-z_]+)`/g)].map((x) => x[1])));
    expect([...listed].sort()).toEqual([...served].sort());
  });

  it('and the frame JSON has the documented keys, null for no limit and no forecast', () => {
    const j = frameJson(frame([row(7, 'ENOMEM', 3, '/pod-a')])) as { type: string; failures: Record<string, unknown>[]; cgroups: Record<string, unknown>[]; tracing: Record<string, unknown> };
    expect(j.type).toBe('frame');
    expect(Object.keys(j.failures[0] ?? {})).toEqual(['map', 'errno', 'count', 'recent', 'seen_by', 'cgroup', 'stopped_by']);
    expect(j.failures[0]?.['stopped_by']).toEqual({ kind: 'short', limit: 'memory.max', cgroup: '/pod-a', headroom: 0, short: 4096 });
    expect(j.cgroups[1]).toMatchObject({ path: '/flat', limit: null, headroom: null, forecast: { eta_seconds: null, limit_cgroup: null } });
    expect(j.tracing).toMatchObject({ attached: ['htab_map_update_elem'], refused_all: null, unattributed: 3 });
    // The summary's changes are over the whole run.
    const sum = summaryJson(frame([]), 30) as { type: string; cgroups: Record<string, unknown>[] };
    expect(sum.type).toBe('summary');
    expect(sum.cgroups[0]).toMatchObject({ path: '/pod-a', failcnt: 12, failcnt_recent: 5 });
  });
});

const promtoolSkip = existsSync(PROMTOOL) ? undefined : `no ${PROMTOOL} (apt-get install prometheus)`;
if (promtoolSkip) console.warn(`promtool checks skipped: ${promtoolSkip}`);

describe('deploy/alerts.yml', () => {
  it.skipIf(promtoolSkip !== undefined)('passes promtool check rules and promtool test rules', () => {
    const check = spawnSync(PROMTOOL, ['check', 'rules', 'deploy/alerts.yml'], { encoding: 'utf8', cwd: ROOT });
    expect(check.stdout + check.stderr).toContain('SUCCESS: 3 rules found');
    expect(check.status).toBe(0);
    const test = spawnSync(PROMTOOL, ['test', 'rules', 'deploy/alerts.test.yml'], { encoding: 'utf8', cwd: ROOT });
    expect(test.stdout + test.stderr, test.stdout + test.stderr).toContain('SUCCESS');
    expect(test.status).toBe(0);
  });

  it('names only metrics serve has', async () => {
    const text = await renderWatchMetrics(frame([row(7, 'ENOMEM', 3, '/pod-a')]));
    const served = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]));
    const rules = readFileSync(`${ROOT}deploy/alerts.yml`, 'utf8');
    const named = [...rules.matchAll(/expr: .*/g)].flatMap((m) => [...m[0].matchAll(/\b(bpfmem_[a-z_]+)\b/g)].map((x) => x[1]));
    expect(named.length).toBe(3);
    for (const n of named) expect(served.has(n), n).toBe(true);
  });

  it('groups and labels its alerts only by labels the metric has (and instance, which Prometheus adds)', async () => {
    const text = await renderWatchMetrics(frame([row(7, 'ENOMEM', 3, '/pod-a')]));
    const rules = readFileSync(`${ROOT}deploy/alerts.yml`, 'utf8');
    const grouped = [...rules.matchAll(/by \(([^)]*)\) \((?:increase|rate)\((bpfmem_[a-z_]+)/g)];
    expect(grouped.length).toBeGreaterThan(0);
    for (const [, labels = '', metric = ''] of grouped) {
      const line = text.split('\n').find((l) => l.startsWith(`${metric}{`)) ?? '';
      const has = new Set([...line.matchAll(/([a-z_]+)="/g)].map((m) => m[1]));
      for (const label of labels.split(',').map((l) => l.trim())) if (label !== 'instance') expect(has.has(label), `${metric} by ${label}`).toBe(true);
    }
    for (const [, label] of rules.matchAll(/\$labels\.([a-z_]+)/g)) expect(['instance', ...grouped.flatMap((g) => (g[1] ?? '').split(',').map((l) => l.trim())), 'cgroup', 'limit_cgroup']).toContain(label);
  });
});

describe('bpfmem watch, bad options', () => {
  it.each([
    [['watch', '--for', 'soon'], /--for "soon": expected a duration/],
    [['watch', '--interval', '0'], /--interval "0": expected a duration/],
    [['watch', '--for', '3d'], /--for "3d": expected a duration from 1s to/],
  ])('%j: one line, status 2', async (argv, message) => {
    const r = await cli(argv);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});
