/**
 * Plain column tables in the manner of kubectl and `bpftool map show`: a header row, columns
 * separated by two spaces, numbers right-aligned. Widths count code points, so styled cells
 * must be styled after layout (`format` receives the padded cell).
 */
export interface Column<Row> {
  readonly header: string;
  readonly value: (row: Row) => string;
  readonly align?: 'left' | 'right';
  /** Styles a padded cell (colour); must not change its visible width. */
  readonly format?: (cell: string, row: Row) => string;
}

// Escape sequences are not part of a cell's width.
// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g;
// Code points, not UTF-16 units: `✓` and `→` are one column. (No emoji or wide CJK here.)
const width = (s: string): number => Array.from(s.replace(ANSI, '')).length;

/** Renders rows as a table; the last column is not padded. */
export function table<Row>(rows: readonly Row[], columns: readonly Column<Row>[]): string {
  const cells = rows.map((r) => columns.map((c) => c.value(r)));
  const widths = columns.map((c, i) => Math.max(width(c.header), ...cells.map((row) => width(row[i] ?? ''))));
  const pad = (s: string, i: number, last: boolean): string => {
    const w = widths[i] ?? 0;
    const gap = ' '.repeat(Math.max(0, w - width(s)));
    if (columns[i]?.align === 'right') return gap + s;
    return last ? s : s + gap;
  };
  const lines = [columns.map((c, i) => pad(c.header, i, i === columns.length - 1)).join('  ').trimEnd()];
  cells.forEach((row, r) => {
    const line = row.map((cell, i) => {
      const padded = pad(cell, i, i === row.length - 1);
      const col = columns[i];
      const data = rows[r];
      return col?.format && data !== undefined ? col.format(padded, data) : padded;
    });
    lines.push(line.join('  ').trimEnd());
  });
  return lines.join('\n') + '\n';
}
