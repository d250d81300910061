import { V1_ROOT_USAGE_NOTE } from '../../vocab/cgroup-path.js';
import { escapeText } from '../escape.js';
import { formatFlags } from '../../vocab/flags.js';
import { formatBytes } from '../../vocab/units.js';
import type { CgroupEntry, ChargedTo, Inventory, MapEntry, ProgEntry } from '../../inspect/inventory.js';
import type { Holder } from '../../vocab/inventory.js';
import type { Summary } from '../../inspect/summary.js';
import type { Style, TerminalSize } from '../io.js';
import { table, type Column } from '../table.js';
import { profileLine, wrap } from './common.js';
import { cutLine, fitHeight, joinLines, screenLines } from './screen.js';

/**
 * Text and JSON of `bpfmem maps`, `progs`, `cgroups` and the machine summary. The JSON keeps
 * bpftool's names where bpftool has the field (`bytes_key`, `bytes_memlock`, `pids`, `pinned`)
 * so scripts written for `bpftool -j` read it, and adds bpfmem's (`charge`, `charged_to`).
 */

const bytes = (n: number | undefined): string => (n === undefined ? '-' : n === 0 ? '0' : formatBytes(n));

/** `agent(1234), loader(99)`, at most `max` of them and `+N`. */
export function holdersCell(holders: readonly Holder[], max = 2): string {
  if (holders.length === 0) return '-';
  const shown = holders.slice(0, max).map((h) => `${h.comm}(${h.pid})`);
  return holders.length > max ? `${shown.join(', ')} +${holders.length - max}` : shown.join(', ');
}

/** Where a map is charged, for a table cell. */
export function chargedToCell(c: ChargedTo): string {
  switch (c.kind) {
    case 'cgroup':
      return c.label.text ? `${c.path} (${c.label.text})` : c.path;
    case 'removed':
      return `removed cgroup (id ${c.id})`;
    case 'nobody':
      return 'nobody';
    case 'unknown':
      return '?';
  }
}

/** Which columns a listing shows: `--wide`'s sizes, flags and every holder; the pinned paths with `--pins` or `--wide`. */
export interface ListView {
  readonly wide: boolean;
  readonly pins: boolean;
}

/** The view of `--wide` and `--pins` as given. */
export const listView = (o: { readonly wide?: boolean | undefined; readonly pins?: boolean | undefined }): ListView => ({
  wide: o.wide ?? false,
  pins: (o.pins ?? false) || (o.wide ?? false),
});

/** A PINNED cell: the paths, `-` for none, `?` where pins were not listed (a dump without `-f`). */
const pinsCell = (paths: readonly string[], known: boolean): string => (!known ? '?' : paths.length ? paths.join(', ') : '-');

export function mapColumns({ wide, pins }: ListView, st: Style, pinsKnown = true): Column<MapEntry>[] {
  const cols: Column<MapEntry>[] = [
    { header: 'ID', value: (m) => String(m.id), align: 'right' },
    { header: 'TYPE', value: (m) => m.type },
    { header: 'NAME', value: (m) => m.name || '-', elide: 'end' },
  ];
  if (wide) {
    cols.push(
      { header: 'KEY', value: (m) => String(m.keySize), align: 'right' },
      { header: 'VALUE', value: (m) => String(m.valueSize), align: 'right' },
      { header: 'MAX', value: (m) => String(m.maxEntries), align: 'right' },
      { header: 'FLAGS', value: (m) => formatFlags(m.flags) || '-' },
    );
  }
  cols.push(
    { header: 'MEMLOCK', value: (m) => bytes(m.memlock), align: 'right' },
    { header: 'CHARGE', value: (m) => bytes(m.charge), align: 'right' },
    {
      header: 'CHARGED TO',
      value: (m) => chargedToCell(m.chargedTo),
      format: (c, m) => (m.chargedTo.kind === 'removed' ? st.warn(c) : m.chargedTo.kind === 'cgroup' ? c : st.dim(c)),
      elide: 'middle',
    },
    { header: 'HOLDERS', value: (m) => holdersCell(m.holders, wide ? 8 : 2), elide: 'end' },
  );
  if (pins) cols.push({ header: 'PINNED', value: (m) => pinsCell(m.pins, pinsKnown), elide: 'middle' });
  return cols;
}

export function progColumns({ wide, pins }: ListView, pinsKnown = true): Column<ProgEntry>[] {
  const cols: Column<ProgEntry>[] = [
    { header: 'ID', value: (p) => String(p.id), align: 'right' },
    { header: 'TYPE', value: (p) => p.type },
    { header: 'NAME', value: (p) => p.name || '-', elide: 'end' },
  ];
  if (wide) cols.push({ header: 'TAG', value: (p) => p.tag });
  cols.push(
    { header: 'INSNS', value: (p) => String(p.insns), align: 'right' },
    { header: 'MEMLOCK', value: (p) => bytes(p.memlock), align: 'right' },
    { header: 'HOLDERS', value: (p) => holdersCell(p.holders, wide ? 8 : 2), elide: 'end' },
  );
  if (pins) cols.push({ header: 'PINNED', value: (p) => pinsCell(p.pins, pinsKnown), elide: 'middle' });
  return cols;
}

/** The lines under a table: what it describes (this machine, or a dump), and what could not be read, said once. */
function notes(inv: Inventory, st: Style, charges = true, pinsShown = false): string {
  const out: string[] = [];
  out.push(st.dim(wrap(inv.source ? `from ${escapeText(inv.source)}` : `this machine: ${profileLine(inv.profile)}`, 80, '')));
  if (pinsShown && !inv.pinsRead) out.push(st.dim(wrap('PINNED is unknown (?): the dump lists no pins (`bpftool -j map show -f` and `prog show -f` list them)', 80, '')));
  if (charges && inv.chargesUnavailable) out.push(st.dim(wrap(`CHARGED TO is unknown (?): ${inv.chargesUnavailable}`, 80, '')));
  if (inv.statsAge) out.push(st.dim(wrap(`note: ${escapeText(inv.statsAge)}`, 80, '')));
  for (const e of inv.errors) out.push(st.dim(wrap(`note: ${escapeText(e)}`, 80, '')));
  return out.length ? `\n${out.join('\n')}\n` : '';
}

export function mapsText(inv: Inventory, maps: readonly MapEntry[], view: ListView, st: Style, maxWidth?: number): string {
  if (maps.length === 0) return `no maps${inv.maps.length ? ' match' : ''}\n${notes(inv, st)}`;
  // Maps whose charge the model cannot give (CHARGE -) are counted apart, not as their memlock.
  const total = maps.reduce((s, m) => s + (m.charge ?? 0), 0);
  const unknown = maps.filter((m) => m.charge === undefined).length;
  const count = `${maps.length} map${maps.length === 1 ? '' : 's'}`;
  const foot = st.dim(
    wrap(
      unknown === maps.length
        ? `${count}, of a charge the model cannot give (CHARGE -)`
        : `${count}, ${formatBytes(total)} charged (model estimate from each map's layout and fdinfo)${unknown ? `; the model cannot give the charge of ${unknown} (CHARGE -)` : ''}`,
      80,
      '',
    ),
  );
  return `${table(maps, mapColumns(view, st, inv.pinsRead), { maxWidth })}${foot}\n${notes(inv, st, true, view.pins)}`;
}

export function progsText(inv: Inventory, progs: readonly ProgEntry[], view: ListView, st: Style, maxWidth?: number): string {
  if (progs.length === 0) return `no programs${inv.progs.length ? ' match' : ''}\n${notes(inv, st, false)}`;
  const total = progs.reduce((s, p) => s + p.memlock, 0);
  const foot = st.dim(
    wrap(
      `${progs.length} program${progs.length === 1 ? '' : 's'}, ${formatBytes(total)} memlock. The kernel keeps no record of which memory cgroup a program was charged to (the loader's, at load time); holders are where to look.`,
      80,
      '',
    ),
  );
  return `${table(progs, progColumns(view, inv.pinsRead), { maxWidth })}${foot}\n${notes(inv, st, false, view.pins)}`;
}

/** `├─ name` prefixes for a sorted list of paths, drawn as a tree. */
function treePrefixes(paths: readonly string[]): Map<string, string> {
  const children = new Map<string, string[]>();
  const set = new Set(paths);
  const parentIn = (p: string): string | undefined => {
    for (let q = p; q !== '/'; ) {
      const cut = q.lastIndexOf('/');
      q = cut <= 0 ? '/' : q.slice(0, cut);
      if (set.has(q)) return q;
    }
    return undefined;
  };
  const roots: string[] = [];
  for (const p of paths) {
    const parent = p === '/' ? undefined : parentIn(p);
    if (parent === undefined) roots.push(p);
    else {
      const kids = children.get(parent);
      if (kids) kids.push(p);
      else children.set(parent, [p]);
    }
  }
  const out = new Map<string, string>();
  const visit = (p: string, parent: string | undefined, indent: string, last: boolean, top: boolean): void => {
    const name = top ? p : p.slice(parent === '/' ? 1 : (parent?.length ?? 0) + 1);
    out.set(p, top ? name : `${indent}${last ? '└─ ' : '├─ '}${name}`);
    const kids = children.get(p) ?? [];
    const next = top ? '' : `${indent}${last ? '   ' : '│  '}`;
    kids.forEach((k, i) => {
      visit(k, p, next, i === kids.length - 1, false);
    });
  };
  for (const r of roots) visit(r, undefined, '', true, true);
  return out;
}

/** Tree order: a parent before its children, siblings by path. */
function treeOrder(cgroups: readonly CgroupEntry[]): CgroupEntry[] {
  const key = (p: string): string => (p === '/' ? '' : p.split('/').join('\u0000'));
  return [...cgroups].sort((a, b) => (key(a.path) < key(b.path) ? -1 : key(a.path) > key(b.path) ? 1 : 0));
}

const limitCell = (n: number): string => (Number.isFinite(n) ? formatBytes(n) : 'max');
const shareCell = (s: number): string => (s === 0 ? '-' : s < 0.001 ? '<0.1%' : `${(100 * s).toFixed(1)}%`);

export function cgroupsText(inv: Inventory, cgroups: readonly CgroupEntry[], st: Style, o: { bpf?: boolean; maxWidth?: number | undefined } = {}): string {
  const bpf = o.bpf ?? true;
  const known = (text: string): string => (bpf ? text : '-');
  if (cgroups.length === 0) return `no memory cgroups to show\n${notes(inv, st)}`;
  const ordered = treeOrder(cgroups);
  const prefix = treePrefixes(ordered.map((c) => c.path));
  const t = table(ordered, [
    {
      header: 'CGROUP',
      value: (c) => `${prefix.get(c.path) ?? c.path}${c.label.text ? ` (${c.label.text})` : ''}`,
      elide: 'middle',
    },
    { header: 'USAGE', value: (c) => formatBytes(c.usage), align: 'right' },
    { header: 'LIMIT', value: (c) => limitCell(c.max), align: 'right' },
    {
      header: 'HEADROOM',
      value: (c) => limitCell(c.headroom),
      align: 'right',
      format: (cell, c) => (Number.isFinite(c.max) && c.max - c.usage <= 0.1 * c.max ? st.bad(cell) : cell),
    },
    { header: 'BPF OWN', value: (c) => known(bytes(c.bpfOwn)), align: 'right' },
    { header: 'BPF TREE', value: (c) => known(bytes(c.bpfSubtree)), align: 'right' },
    { header: 'OBJECTS', value: (c) => known(String(c.objectsSubtree)), align: 'right' },
    { header: 'BPF%', value: (c) => known(shareCell(c.bpfShare)), align: 'right' },
  ], { maxWidth: o.maxWidth });
  const foot = st.dim(
    wrap(
      'USAGE and LIMIT are the cgroup\'s own counters (hierarchical); HEADROOM is the least room left here or above; BPF is the model\'s estimate of the maps charged to the cgroup (OWN) and to it and below (TREE, OBJECTS).' +
        (inv.profile.cgroupVersion === 1 && cgroups.some((c) => c.path === '/') ? ` O${V1_ROOT_USAGE_NOTE.slice(1)}.` : ''),
      80,
      '',
    ),
  );
  if (bpf) return `${t}${foot}\n${notes(inv, st)}`;
  const why = st.dim(wrap(`BPF OWN, BPF TREE, OBJECTS and BPF% are unknown (-): ${inv.chargesUnavailable ?? ''}`, 80, ''));
  return `${t}${foot}\n\n${why}\n${notes(inv, st, false).replace(/^\n/, '')}`;
}

/**
 * The cgroups worth showing by default: those with BPF memory at or below them, and those with
 * a limit that holds BPF; every one when `all`.
 */
export function cgroupsToShow(cgroups: readonly CgroupEntry[], all: boolean): CgroupEntry[] {
  if (all) return [...cgroups];
  return cgroups.filter((c) => c.path === '/' || c.bpfSubtree > 0);
}

export interface SummaryContext {
  /** Why the kernel charges as it does (regimeOf). */
  readonly regimeReason?: string;
  /** The terminal's columns: tables elide long paths to fit, prose wraps there (at most 80). */
  readonly width?: number | undefined;
}

/** The one-screen summary of `bpfmem` with no arguments (and each frame of `bpfmem top`). */
export function summaryText(inv: Inventory, s: Summary, ctx: SummaryContext, st: Style): string {
  const out: string[] = [];
  const W = Math.min(80, ctx.width ?? 80);
  const fit = { maxWidth: ctx.width };
  out.push(`${st.bold('bpfmem')}: ${profileLine(inv.profile)}\n`);
  if (ctx.regimeReason) out.push(st.dim(`${wrap(ctx.regimeReason, W, '  ')}\n`));
  out.push('\n');
  if (s.maps === 0 && s.progs === 0) {
    out.push('No BPF maps or programs are loaded on this machine.\n\n');
  } else {
    const perCpu = s.uncharged > 0 ? `; ${formatBytes(s.uncharged)} of map memory charged to no cgroup (made at creation: per-CPU, unaccounted)` : '';
    out.push(
      `${wrap(
        `${s.maps} map${s.maps === 1 ? '' : 's'} and ${s.progs} program${s.progs === 1 ? '' : 's'}: ${formatBytes(s.memlock)} memlock (fdinfo); maps charged ≈ ${formatBytes(s.charged)}${perCpu}.`,
        W,
        '',
      )}\n\n`,
    );
  }
  if (s.topCgroups.length) {
    out.push(st.bold('Who pays most for BPF\n'));
    out.push(
      table(s.topCgroups, [
        { header: 'CGROUP', value: (c) => (c.label.text ? `${c.path} (${c.label.text})` : c.path), elide: 'middle' },
        { header: 'BPF', value: (c) => bytes(c.bpfOwn), align: 'right' },
        { header: 'OBJECTS', value: (c) => String(c.objectsOwn), align: 'right' },
        { header: 'USAGE', value: (c) => formatBytes(c.usage), align: 'right' },
        { header: 'LIMIT', value: (c) => limitCell(c.max), align: 'right' },
      ], fit),
    );
    out.push('\n');
  } else if (inv.chargesUnavailable === undefined && s.maps > 0) {
    out.push(st.dim('No map is charged to a memory cgroup that could be read.\n\n'));
  }
  if (s.largestMaps.length) {
    out.push(st.bold('Largest maps\n'));
    out.push(
      table(s.largestMaps, [
        { header: 'ID', value: (m) => String(m.id), align: 'right' },
        { header: 'TYPE', value: (m) => m.type },
        { header: 'NAME', value: (m) => m.name || '-', elide: 'end' },
        { header: 'CHARGE', value: (m) => bytes(m.charge ?? m.memlock), align: 'right' },
        { header: 'CHARGED TO', value: (m) => chargedToCell(m.chargedTo), elide: 'middle' },
        { header: 'HOLDERS', value: (m) => holdersCell(m.holders), elide: 'end' },
      ], fit),
    );
    out.push('\n');
  }
  if (s.warnings.length) {
    out.push(st.bold('Worth acting on\n'));
    for (const w of s.warnings) out.push(`${st.warn('!')} ${wrap(escapeText(w.text), W - 2, '', '  ')}\n`);
    out.push('\n');
  }
  for (const e of inv.errors) out.push(st.dim(`${wrap(`note: ${escapeText(e)}`, W, '')}\n`));
  out.push(st.dim('More: bpfmem maps | progs | cgroups | top  (--json for scripts; --help)\n'));
  return out.join('');
}

/**
 * The summary fitted to a terminal of `rows` lines (`top`, as top(1) and kubectl do): the
 * header and totals stay, the tables lose rows from the bottom (10 each at most), and what still
 * does not fit is cut above the last line, with a line saying how many were left out. With a
 * width, every line is cut to it with `…` (a header or a path too long for it would wrap, and
 * push the frame past the bottom).
 */
export function fittedSummaryText(inv: Inventory, s: Summary, ctx: SummaryContext, st: Style, rows: number): string {
  const withRows = (n: number): string => summaryText(inv, { ...s, topCgroups: s.topCgroups.slice(0, n), largestMaps: s.largestMaps.slice(0, n) }, ctx, st);
  let n = Math.max(s.topCgroups.length, s.largestMaps.length);
  let text = withRows(n);
  while (n > 1 && screenLines(text).length > rows) text = withRows(--n);
  const width = ctx.width;
  const lines = screenLines(text).map((l) => (width === undefined ? l : cutLine(l, width)));
  const more = (left: number): string => st.dim(`… ${left} more line${left === 1 ? '' : 's'} (a taller terminal, or bpfmem without top)`);
  return joinLines(fitHeight(lines, rows, width ?? Number.POSITIVE_INFINITY, more, true));
}

/**
 * A frame of `top` on a terminal: `stamp` (its time line), then the summary fitted under it, in
 * at most `size.rows - 1` lines of at most `size.columns`: each line ends with a newline, so the
 * cursor is left at the start of the row under the frame, and nothing scrolls off the top.
 */
export function topScreen(stamp: string, inv: Inventory, s: Summary, ctx: SummaryContext, st: Style, size: TerminalSize): string {
  const rows = Math.max(1, size.rows - 1);
  return `${cutLine(stamp, size.columns)}\n${fittedSummaryText(inv, s, { ...ctx, width: size.columns }, st, rows - 1)}`;
}
