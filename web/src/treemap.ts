import type { TreemapSeriesOption } from 'echarts/charts';
import { COLOURS, makeChart, type Chart, type ChartOption } from './charts.js';
import { escapeHtml, h } from './dom.js';
import { escapeText } from '../../src/vocab/escape.js';
import { bytes, limit, percent, plural } from './format.js';
import { HEADROOM_BANDS, type Tree, type TreeNode } from './tree.js';

/**
 * The cgroup tree as a treemap: each memory cgroup's area is the BPF bytes charged to it and
 * below it, its colour the headroom under the tightest limit on its path. The live view and the
 * simulator's panels are the same component.
 */
export interface TreemapView {
  /** Shows a tree; `empty` is what to say when it has no bytes at all. */
  show(tree: Tree, empty: string): void;
  readonly chart: Chart;
}

type NodeItem = NonNullable<TreemapSeriesOption['data']>[number];

/** Whether the person asked for less motion (the system setting). */
const reducedMotion = (): boolean => window.matchMedia('(prefers-reduced-motion: reduce)').matches;

/** A node's label: its name and its bytes. */
const labelText =
  (separator: string) =>
  (p: { readonly name: string; readonly value?: unknown }): string =>
    `${p.name}${separator}${bytes(typeof p.value === 'number' ? p.value : null)}`;

/** Makes the treemap in `host`; `onSelect` is called with a cgroup's path when one is clicked. */
export function treemapView(host: HTMLElement, name: string, onSelect?: (path: string) => void): TreemapView {
  const canvas = h('div', { class: 'chart-canvas' });
  const empty = h('p', { class: 'chart-empty', hidden: true });
  host.replaceChildren(canvas, empty);
  const chart = makeChart(canvas, name);
  let nodes = new Map<string, TreeNode>();

  chart.on('click', (params) => {
    const id = (params.data as { id?: unknown } | undefined)?.id;
    const node = typeof id === 'string' ? nodes.get(id) : undefined;
    if (node && onSelect) onSelect(node.path);
  });

  const item = (n: TreeNode): NodeItem => {
    const id = n.own ? `${n.path}\u0000own` : n.path;
    nodes.set(id, n);
    const colour = COLOURS[n.band];
    return {
      id,
      // Drawn on a canvas: a cgroup's name with control or bidi characters is shown escaped.
      name: escapeText(n.name),
      value: n.value,
      itemStyle: n.children ? { color: colour, borderColor: colour } : { color: colour },
      ...(n.children ? { children: n.children.map(item) } : {}),
    };
  };

  const tooltip = (id: unknown): string => {
    const n = typeof id === 'string' ? nodes.get(id) : undefined;
    if (!n) return '';
    const c = n.cgroup;
    const rows: [string, string][] = [
      ['usage', bytes(c.usage)],
      ['limit', limit(c.max)],
      ['headroom', c.headroom === null ? 'no limit on the path' : bytes(c.headroom)],
      ['BPF own', `${bytes(c.bpfOwn)} (${plural(c.objectsOwn, 'object')})`],
      ['BPF subtree', `${bytes(c.bpfSubtree)} (${plural(c.objectsSubtree, 'object')})`],
    ];
    if (c.usage > 0) rows.push(['BPF share', percent(c.bpfSubtree / c.usage)]);
    return [
      `<div class="tip"><b>${escapeHtml(c.path)}</b>${n.own ? ' (itself)' : ''}`,
      c.label ? `<div>${escapeHtml(c.label)}</div>` : '',
      '<table>',
      ...rows.map(([k, v]) => `<tr><th>${k}</th><td>${escapeHtml(v)}</td></tr>`),
      '</table></div>',
    ].join('');
  };

  return {
    chart,
    show(tree, emptyText) {
      nodes = new Map();
      const data = tree.roots.map(item);
      empty.textContent = emptyText;
      empty.hidden = tree.bytes > 0;
      const largest = [...nodes.values()]
        .filter((n) => !n.own && !n.children)
        .sort((a, b) => b.value - a.value)
        .slice(0, 8)
        .map((n) => `${n.path} ${bytes(n.value)}`);
      const option: ChartOption = {
          animation: !reducedMotion(),
          aria: {
            enabled: true,
            label: {
              description:
                tree.bytes > 0
                  ? `Treemap of ${plural(tree.cgroups, 'memory cgroup')} by BPF bytes charged, ${bytes(tree.bytes)} in all. Largest: ${largest.join('; ')}.`
                  : emptyText,
            },
          },
          tooltip: { confine: true, formatter: (p: unknown) => tooltip((p as { data?: { id?: unknown } }).data?.id) },
          series: [
            {
              type: 'treemap',
              name: 'BPF bytes',
              data,
              left: 0,
              top: 0,
              right: 0,
              bottom: 0,
              roam: false,
              nodeClick: false,
              breadcrumb: { show: false },
              animationDurationUpdate: 400,
              label: {
                show: true,
                position: 'insideTopLeft',
                padding: [4, 6],
                lineHeight: 16,
                color: COLOURS.text,
                overflow: 'truncate',
                formatter: labelText('\n'),
              },
              upperLabel: {
                show: true,
                height: 18,
                color: COLOURS.text,
                overflow: 'truncate',
                formatter: labelText('  '),
              },
              itemStyle: { borderColor: '#ffffff', borderWidth: 1, gapWidth: 1 },
              levels: [
                // The series' own root, which has no box of its own to label.
                { itemStyle: { borderWidth: 0, gapWidth: 2 }, upperLabel: { show: false } },
                { itemStyle: { borderWidth: 3, gapWidth: 2 } },
                { itemStyle: { borderWidth: 3, gapWidth: 1 } },
              ],
            },
          ],
        };
      chart.setOption(option, { replaceMerge: ['series'] });
    },
  };
}

/** The colour legend, as HTML (a list a screen reader reads). */
export function bandLegend(): HTMLElement {
  return h(
    'ul',
    { class: 'legend', 'aria-label': 'colours: headroom under the tightest limit on the path' },
    ...HEADROOM_BANDS.map((b) => h('li', {}, h('span', { class: `swatch band-${b.band}`, 'aria-hidden': 'true' }), b.text)),
  );
}
