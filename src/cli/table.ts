import { eastAsianWidth } from 'get-east-asian-width';
import { escapeText } from './escape.js';

/**
 * Plain column tables in the manner of kubectl and `bpftool map show`: a header row, columns
 * separated by two spaces, numbers right-aligned. Widths are terminal columns ({@link textWidth}), so styled cells
 * must be styled after layout (`format` receives the padded cell). Every cell is escaped
 * ({@link escapeText}): a name from the machine cannot steer the terminal or split a row.
 *
 * Linear in the rows, with no spread over them: a 130,000-map dump once overflowed the stack
 * in `Math.max(...cells)` (issue 14).
 */
export interface Column<Row> {
  readonly header: string;
  readonly value: (row: Row) => string;
  readonly align?: 'left' | 'right';
  /** Styles a padded cell (colour); must not change its visible width. */
  readonly format?: (cell: string, row: Row) => string;
  /**
   * How a cell may be shortened when the table is wider than {@link TableOptions.maxWidth}:
   * `middle` keeps both ends of a path (`/kubepods.slice/…/cri-containerd-3f2a.scope`), `end`
   * keeps its start. Columns without it keep their width (numbers are never cut).
   */
  readonly elide?: 'middle' | 'end';
}

export interface TableOptions {
  /** The widest a line may be (the terminal's columns); no limit when undefined. */
  readonly maxWidth?: number | undefined;
}

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g;
/** Text in which every character takes one column: nothing from U+0300 on (the first combining marks; U+1100, the first wide block) and no surrogate. */
const NARROW = /^[^\u0300-\uffff]*$/;
/** Characters that take no column of their own: combining marks (`e` + U+0301 is `é`), enclosing marks, and format characters (U+200B, the joiner U+200D, U+FEFF). */
const ZERO_WIDTH = /^[\p{Mn}\p{Me}\p{Cf}]$/u;

/**
 * Columns a code point takes on a terminal: 0 for combining marks and format characters, which
 * join the character before them; 2 for East Asian Wide and Fullwidth characters (CJK, Hangul,
 * fullwidth forms, most emoji: Unicode's EastAsianWidth.txt, through get-east-asian-width); else
 * 1 (`✓` and `→` are one).
 */
export function charWidth(codePoint: number): number {
  if (codePoint < 0x300) return 1;
  if (ZERO_WIDTH.test(String.fromCodePoint(codePoint))) return 0;
  return codePoint < 0x1100 ? 1 : eastAsianWidth(codePoint);
}

let segmenter: Intl.Segmenter | undefined;

/**
 * The characters a reader sees in `s`: Unicode's extended grapheme clusters (UAX #29, through
 * `Intl.Segmenter`), so that `e` + U+0301, a flag's two regional indicators and emoji joined by
 * U+200D each stay one, and a cut never splits one.
 */
export function graphemes(s: string): string[] {
  if (NARROW.test(s)) return s.split('');
  segmenter ??= new Intl.Segmenter('en', { granularity: 'grapheme' });
  return Array.from(segmenter.segment(s), (x) => x.segment);
}

/**
 * Columns a grapheme takes: its code points' {@link charWidth}s, at most 2. A joined emoji
 * (👩‍💻: two wide code points) or a flag is drawn as one wide character, a letter with its marks
 * as one narrow one.
 */
export function graphemeWidth(g: string): number {
  if (g.length === 1) return charWidth(g.charCodeAt(0));
  let n = 0;
  for (const ch of g) n += charWidth(ch.codePointAt(0) ?? 0);
  return Math.min(2, n);
}

/** Columns a string takes on a terminal ({@link graphemeWidth} of each grapheme), colour codes left out. */
export function textWidth(s: string): number {
  const plain = s.includes('\u001b') ? s.replace(ANSI, '') : s;
  if (NARROW.test(plain)) return plain.length;
  let n = 0;
  for (const g of graphemes(plain)) n += graphemeWidth(g);
  return n;
}

/** An escape that escapeText wrote (`\x1b`, `\u202e`, `\n`): cut whole or not at all. */
const ESCAPE = /(\\(?:x[0-9a-f]{2}|u[0-9a-f]{4}|[ntr]))/;

/** What a cut keeps or drops whole: graphemes, and each escape of {@link ESCAPE} as one. */
function cutUnits(s: string): string[] {
  if (!s.includes('\\')) return graphemes(s);
  return s.split(ESCAPE).flatMap((part, i) => (i % 2 === 1 ? [part] : graphemes(part)));
}

/** Columns a unit of {@link cutUnits} takes. */
const unitWidth = (u: string): number => (u.length > 1 && u.startsWith('\\') ? u.length : graphemeWidth(u));

/** How many of `units` ({@link cutUnits}), from the first, fit in `w` columns. */
function fitting(units: readonly string[], w: number): number {
  let used = 0;
  for (let i = 0; i < units.length; i++) {
    used += unitWidth(units[i] as string);
    if (used > w) return i;
  }
  return units.length;
}

/** `s` cut to `w` columns with `…` where the cut is: in the middle, or at the end. */
export function elide(s: string, w: number, where: 'middle' | 'end' = 'middle'): string {
  if (textWidth(s) <= w) return s;
  if (w <= 1) return w === 1 ? '…' : '';
  const units = cutUnits(s);
  const keep = w - 1;
  if (where === 'end') return `${units.slice(0, fitting(units, keep)).join('')}…`;
  const head = Math.ceil(keep / 2);
  const tail = fitting([...units].reverse(), keep - head);
  return `${units.slice(0, fitting(units, head)).join('')}…${units.slice(units.length - tail).join('')}`;
}

/** The narrowest an elidable column gets before lines are cut instead. */
const MIN_ELIDED = 12;
const GAP = 2;

/** Renders rows as a table; the last column is not padded. */
export function table<Row>(rows: readonly Row[], columns: readonly Column<Row>[], options: TableOptions = {}): string {
  const n = columns.length;
  const widths = columns.map((c) => textWidth(c.header));
  const cells: string[][] = new Array<string[]>(rows.length);
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r] as Row;
    const line = new Array<string>(n);
    for (let i = 0; i < n; i++) {
      const cell = escapeText((columns[i] as Column<Row>).value(row));
      line[i] = cell;
      const w = textWidth(cell);
      if (w > (widths[i] as number)) widths[i] = w;
    }
    cells[r] = line;
  }
  const max = options.maxWidth;
  let cut = false;
  if (max !== undefined) {
    let total = widths.reduce((s, w) => s + w, 0) + GAP * (n - 1);
    // Shrink the elidable columns as water levels: the widest first, down to the next widest,
    // then both, and so on, none below MIN_ELIDED (or its header).
    const flexible = columns.map((c, i) => (c.elide ? i : -1)).filter((i) => i >= 0);
    const floor = (i: number): number => Math.max(MIN_ELIDED, textWidth((columns[i] as Column<Row>).header));
    const w = (i: number): number => widths[i] as number;
    while (total > max) {
      const open = flexible.filter((i) => w(i) > floor(i));
      if (open.length === 0) break;
      const top = open.reduce((m, i) => Math.max(m, w(i)), 0);
      const tops = open.filter((i) => w(i) === top);
      const below = open.reduce((m, i) => (w(i) < top ? Math.max(m, w(i)) : m), 0);
      const level = tops.reduce((m, i) => Math.max(m, floor(i)), below);
      const step = Math.min(top - level, Math.ceil((total - max) / tops.length));
      for (const i of tops) {
        const give = Math.min(step, total - max);
        widths[i] = w(i) - give;
        total -= give;
      }
    }
    cut = total > max;
  }
  // Still too wide: the columns that fit whole are shown, then `…` where the rest would be, so
  // that no value is cut (`81…` would read as 81 bytes).
  let shown = n;
  if (cut && max !== undefined) {
    let used = 0;
    shown = 0;
    while (shown < n && used + (shown > 0 ? GAP : 0) + (widths[shown] as number) + (shown < n - 1 ? GAP + 1 : 0) <= max) {
      used += (shown > 0 ? GAP : 0) + (widths[shown] as number);
      shown++;
    }
    shown = Math.max(shown, 1);
  }
  const more = shown < n ? '  …' : '';
  const pad = (s: string, i: number, last: boolean): string => {
    const w = widths[i] as number;
    const col = columns[i] as Column<Row>;
    const text = col.elide && textWidth(s) > w ? elide(s, w, col.elide) : s;
    const gap = ' '.repeat(Math.max(0, w - textWidth(text)));
    if (col.align === 'right') return gap + text;
    return last ? text : text + gap;
  };
  // A first column wider than the terminal by itself is the one cut at the edge.
  const fit = (line: string): string => (cut && max !== undefined && textWidth(line) > max ? elide(line, max, 'end') : line);
  const lines = new Array<string>(rows.length + 1);
  // Before a `…`, every column keeps its width, so that the `…` lines up.
  const end = (line: string): string => (more ? `${line}${more}` : line.trimEnd());
  lines[0] = fit(end(columns.slice(0, shown).map((c, i) => pad(c.header, i, i === n - 1)).join('  ')));
  for (let r = 0; r < rows.length; r++) {
    const row = cells[r] as string[];
    const data = rows[r] as Row;
    let line = '';
    for (let i = 0; i < shown; i++) {
      const padded = pad(row[i] as string, i, i === n - 1);
      const col = columns[i] as Column<Row>;
      // Styling only where the line is not cut: a cut could split an escape sequence.
      const cell = col.format && !cut ? col.format(padded, data) : padded;
      line += i === 0 ? cell : `  ${cell}`;
    }
    lines[r + 1] = fit(end(line));
  }
  return lines.join('\n') + '\n';
}
