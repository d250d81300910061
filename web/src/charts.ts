import { LineChart, TreemapChart, type LineSeriesOption, type TreemapSeriesOption } from 'echarts/charts';
import {
  AriaComponent,
  GridComponent,
  TooltipComponent,
  type AriaComponentOption,
  type GridComponentOption,
  type TooltipComponentOption,
} from 'echarts/components';
import type { XAXisComponentOption, YAXisComponentOption } from 'echarts';
import * as echarts from 'echarts/core';
import { CanvasRenderer } from 'echarts/renderers';

/**
 * echarts with only what the page draws (a treemap, line charts, tooltips and the accessibility
 * description), so the bundle carries nothing else. The history's legend is HTML (history.ts).
 */
echarts.use([TreemapChart, LineChart, AriaComponent, GridComponent, TooltipComponent, CanvasRenderer]);

export type ChartOption = echarts.ComposeOption<
  | TreemapSeriesOption
  | LineSeriesOption
  | AriaComponentOption
  | GridComponentOption
  | XAXisComponentOption
  | YAXisComponentOption
  | TooltipComponentOption
>;
export type Chart = echarts.EChartsType;

/**
 * The page's charts by name. Exposed as `window.bpfmemCharts` so that a person in the browser's
 * console, or a test, can read what a chart shows (`bpfmemCharts.tree.getOption()`) rather than
 * its pixels.
 */
const charts: Record<string, Chart> = {};
(globalThis as { bpfmemCharts?: Record<string, Chart> }).bpfmemCharts = charts;

/** A chart in an element, resized with it. */
export function makeChart(el: HTMLElement, name: string): Chart {
  const chart = echarts.init(el, undefined, { renderer: 'canvas' });
  charts[name] = chart;
  new ResizeObserver(() => {
    chart.resize();
  }).observe(el);
  return chart;
}

/** Colours of the page's charts; the CSS uses the same ones (style.css, `--band-*`). */
export const COLOURS = {
  ample: '#9fd4a3',
  some: '#d9e27a',
  low: '#ffc874',
  full: '#f08c8c',
  none: '#b7c5cf',
  charged: '#3b6fb6',
  uncharged: '#c0564b',
  text: '#1b1f24',
  grid: '#d8dee4',
} as const;
