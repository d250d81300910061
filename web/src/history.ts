import type { LineSeriesOption } from 'echarts/charts';
import { COLOURS, makeChart, type Chart, type ChartOption } from './charts.js';
import type { HistoryDoc } from './decode.js';
import { escapeHtml, h, replace } from './dom.js';
import { bytes, plural } from './format.js';
import { shortPath } from './maps-table.js';

/**
 * The last hour (`/api/v1/history`): bytes charged to memory cgroups and bytes no cgroup pays,
 * with the BPF bytes in the subtree of the cgroups that had the most at each scan. The legend is
 * HTML under the chart (buttons that show and hide a line), so it wraps on a narrow window and a
 * keyboard reaches it.
 */
export interface HistoryView {
  show(doc: HistoryDoc): void;
  readonly chart: Chart;
}

/** The most the chart shows, ending at the last scan: the server keeps an hour by default. */
const WINDOW_MS = 3600_000;
/** The least: a server that started a minute ago shows its first minutes, not a dot. */
const MIN_WINDOW_MS = 300_000;

/** Colours of the cgroups' lines (charged and uncharged have their own). */
const PALETTE = ['#7b5ea7', '#2a9d8f', '#e76f51', '#8d6e63', '#5c7cfa', '#b8860b', '#c2185b', '#00838f', '#558b2f', '#6d4c41'];

/** A short, unique legend name for a cgroup: its last component. */
function names(paths: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  const used = new Set<string>();
  for (const path of paths) {
    const base = shortPath(path.slice(path.lastIndexOf('/') + 1), 40);
    let name = base;
    for (let i = 2; used.has(name); i++) name = `${base} (${i})`;
    used.add(name);
    out.set(path, name);
  }
  return out;
}

interface Line {
  readonly id: string;
  readonly name: string;
  readonly title: string;
  readonly colour: string;
  readonly data: [number, number | null][];
  readonly total: boolean;
  /** A count on the right-hand axis (refused updates per scan), not bytes. */
  readonly count?: boolean;
}

/** Seconds as a person reads them. */
function eta(s: number): string {
  if (s < 120) return `${Math.round(s)} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86_400).toFixed(1)} days`;
}

export function historyView(host: HTMLElement): HistoryView {
  const canvas = h('div', { class: 'chart-canvas' });
  host.replaceChildren(canvas);
  const legend = h('ul', { class: 'series-legend', 'aria-label': 'lines of the chart: press to show or hide one' });
  host.after(legend);
  // When the paying cgroups run out at their BPF growth of the last hour (bpfmem watch's forecast).
  const etas = h('p', { class: 'etas', 'aria-live': 'polite' });
  legend.after(etas);
  const chart = makeChart(canvas, 'history');
  /** Lines a person hid, by id: kept across refreshes. */
  const hidden = new Set<string>();
  let lines: Line[] = [];

  function draw(): void {
    const series = lines.map(
      (l): LineSeriesOption => ({
        type: 'line',
        id: l.id,
        name: l.name,
        data: hidden.has(l.id) ? [] : l.data,
        color: l.colour,
        showSymbol: l.data.length < 2,
        symbolSize: 6,
        connectNulls: false,
        ...(l.count
          ? { yAxisIndex: 1, step: 'end' as const, lineStyle: { width: 1.5 } }
          : l.total
            ? { areaStyle: { opacity: 0.15 }, lineStyle: { width: 2 } }
            : { lineStyle: { width: 1.5, type: 'dashed' as const } }),
      }),
    );
    const first = lines[0]?.data[0]?.[0];
    const last = lines[0]?.data.at(-1)?.[0];
    const totals = lines.filter((l) => l.total).map((l) => `${bytes(l.data.at(-1)?.[1] ?? null)} ${l.name}`);
    const option: ChartOption = {
      // A refresh every 15 s redraws the lines; animating that only distracts.
      animation: false,
      aria: {
        enabled: true,
        label: {
          description: last === undefined ? 'No scans yet.' : `BPF bytes over the last ${plural(lines[0]?.data.length ?? 0, 'scan')}; now ${totals.join(' and ')}.`,
        },
      },
      grid: { left: 8, right: 16, top: 12, bottom: 8, containLabel: true },
      tooltip: {
        trigger: 'axis',
        confine: true,
        formatter: (params) => {
          const list = Array.isArray(params) ? params : [params];
          return list
            .map((p) => {
              const line = lines.find((l) => l.id === p.seriesId);
              const value = Array.isArray(p.value) ? p.value[1] : p.value;
              const n = typeof value === 'number' ? value : null;
              return `${escapeHtml(p.seriesName ?? '')}: ${escapeHtml(line?.count ? (n === null ? '–' : String(n)) : bytes(n))}`;
            })
            .join('<br>');
        },
      },
      xAxis: {
        type: 'time',
        // From the first scan (at most an hour, at least five minutes back) to a little past the
        // last, so that its point is not cut in half by the edge.
        ...(first === undefined || last === undefined
          ? {}
          : { min: Math.min(last - MIN_WINDOW_MS, Math.max(first, last - WINDOW_MS)), max: last + 10_000 }),
        axisLabel: { hideOverlap: true },
      },
      yAxis: [
        { type: 'value', min: 0, axisLabel: { formatter: (v: number) => bytes(v) }, splitLine: { lineStyle: { color: COLOURS.grid } } },
        { type: 'value', min: 0, minInterval: 1, show: lines.some((l) => l.count), splitLine: { show: false } },
      ],
      series,
    };
    chart.setOption(option, { replaceMerge: ['series'] });
    replace(
      legend,
      ...lines.map((l) => {
        const button = h(
          'button',
          { type: 'button', class: 'legend-item', 'aria-pressed': String(!hidden.has(l.id)), title: l.title, 'data-series': l.id },
          h('span', { class: `swatch${l.total ? '' : ' dashed'}`, 'aria-hidden': 'true' }),
          l.name,
        );
        const swatch = button.firstElementChild as HTMLElement;
        swatch.style.background = l.colour;
        button.addEventListener('click', () => {
          if (hidden.has(l.id)) hidden.delete(l.id);
          else hidden.add(l.id);
          draw();
        });
        return h('li', {}, button);
      }),
    );
  }

  return {
    chart,
    show(doc) {
      const pts = doc.points.map((p) => ({ ...p, at: Date.parse(p.time) }));
      // Every cgroup among the top at some scan, in the order of the last scan; `/` is left out:
      // its subtree is nearly all of "charged" (all but maps charged to nobody or to a cgroup unknown).
      const paths: string[] = [];
      for (const p of [...pts].reverse()) for (const c of p.cgroups) if (c.path !== '/' && !paths.includes(c.path)) paths.push(c.path);
      const legendNames = names(paths);
      lines = [
        { id: 'charged', name: 'charged', title: 'BPF bytes the kernel charges for maps, whoever pays (maps made in the root cgroup: nobody)', colour: COLOURS.charged, total: true, data: pts.map((p) => [p.at, p.charged]) },
        { id: 'uncharged', name: 'uncharged', title: 'BPF bytes no memory cgroup pays for (made at creation: per-CPU memory, unaccounted allocations)', colour: COLOURS.uncharged, total: true, data: pts.map((p) => [p.at, p.uncharged]) },
        ...paths.map((path, i): Line => ({
          id: `cgroup:${path}`,
          name: legendNames.get(path) ?? path,
          title: `${path}: BPF bytes charged to it and below it`,
          colour: PALETTE[i % PALETTE.length] ?? COLOURS.charged,
          total: false,
          data: pts.map((p) => [p.at, p.cgroups.find((c) => c.path === path)?.bpf_subtree ?? null]),
        })),
      ];
      // Refused map updates per scan (the counter's increase), where the server traces them.
      if (pts.some((p) => typeof p.failures === 'number')) {
        lines.push({
          id: 'failures',
          name: 'refused updates',
          title: 'BPF map updates the kernel refused in each scan interval (right-hand axis; bpfmem watch)',
          colour: '#d62828',
          total: false,
          count: true,
          data: pts.map((p, i): [number, number | null] => {
            const prev = pts[i - 1]?.failures;
            return [p.at, typeof p.failures === 'number' && typeof prev === 'number' ? Math.max(0, p.failures - prev) : null];
          }),
        });
      }
      const last = pts.at(-1)?.etas ?? [];
      replace(
        etas,
        ...(last.length === 0
          ? []
          : [
              h('strong', {}, 'Time to the limit at the last hour\'s BPF growth: '),
              ...last.flatMap((e, i) => [i > 0 ? '; ' : '', h('code', {}, e.path), ` ${eta(e.eta_seconds)} (+${bytes(e.growth_bytes_per_second * 3600)}/h)`]),
            ]),
      );
      draw();
    },
  };
}
