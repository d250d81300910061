import { graphemes, graphemeWidth, textWidth } from '../table.js';

/**
 * A frame of `top` and `watch` fitted to a terminal: no line wider than its columns (a wider one
 * wraps onto the next row and pushes the frame past the bottom), no more lines than its rows.
 * Only visible characters are dropped: bpfmem's colour sequences (SGR) are zero-width and kept
 * whole and in order, so a cut never splits one, and a style that the cut part would have closed
 * is closed as before. Widths are {@link textWidth}'s (a wide CJK character takes two columns).
 */

// eslint-disable-next-line no-control-regex
const SGR = /\u001b\[[0-9;]*m/y;
// eslint-disable-next-line no-control-regex
const SGR_ALL = /\u001b\[[0-9;]*m/g;

/** The pieces of a line: each colour sequence, and each grapheme ({@link graphemes}) between them. */
function* pieces(line: string): Generator<{ readonly text: string; readonly sgr: boolean }> {
  let from = 0;
  const text = function* (to: number): Generator<{ readonly text: string; readonly sgr: boolean }> {
    if (to > from) for (const g of graphemes(line.slice(from, to))) yield { text: g, sgr: false };
  };
  for (let i = line.indexOf('\u001b'); i >= 0; i = line.indexOf('\u001b', i + 1)) {
    SGR.lastIndex = i;
    const m = SGR.exec(line);
    if (!m) continue;
    yield* text(i);
    yield { text: m[0], sgr: true };
    from = i + m[0].length;
    i = from - 1;
  }
  yield* text(line.length);
}

/** The colour sequences of `text`, in order, without its visible characters. */
export function stylesOf(text: string): string {
  return text.includes('\u001b') ? (text.match(SGR_ALL) ?? []).join('') : '';
}

/** `line` cut to `width` columns, with `…` where the cut is (nothing visible for a width of 0). */
export function cutLine(line: string, width: number): string {
  if (textWidth(line) <= width) return line;
  const keep = width - 1;
  let out = '';
  // Columns used by what was kept; once a character does not fit, the ellipsis, then nothing.
  let n = 0;
  let cut = false;
  for (const p of pieces(line)) {
    if (p.sgr) out += p.text;
    else if (!cut) {
      const w = graphemeWidth(p.text);
      if (n + w <= keep) {
        out += p.text;
        n += w;
      } else {
        if (width > 0) out += '…';
        cut = true;
      }
    }
  }
  return out;
}

// eslint-disable-next-line no-control-regex
const TRAILING_SPACES = / +((?:\u001b\[[0-9;]*m)*)$/;

/**
 * `line` folded into lines of at most `width` columns, broken at spaces (the space that breaks
 * is dropped); a word longer than a line is broken where the line ends.
 */
export function foldLine(line: string, width: number): string[] {
  if (width < 1 || textWidth(line) <= width) return [line];
  const out: string[] = [];
  let cur = '';
  let w = 0;
  // Where the last space of `cur` is, and the width before it.
  let brk = -1;
  let brkW = 0;
  const push = (s: string): void => {
    out.push(s.replace(TRAILING_SPACES, '$1'));
  };
  for (const p of pieces(line)) {
    if (p.sgr) {
      cur += p.text;
      continue;
    }
    if (p.text === ' ') {
      // A continuation does not begin with the space that broke the line.
      if (w === 0 && out.length > 0) continue;
      brk = cur.length;
      brkW = w;
      cur += ' ';
      w++;
      continue;
    }
    const cw = graphemeWidth(p.text);
    if (w + cw > width && brk >= 0) {
      push(cur.slice(0, brk));
      cur = cur.slice(brk + 1);
      w -= brkW + 1;
      brk = -1;
    }
    // No space to break at, or what follows the last one is still too wide: break here.
    if (w + cw > width && w > 0) {
      push(cur);
      cur = '';
      w = 0;
      brk = -1;
    }
    cur += p.text;
    w += cw;
  }
  push(cur);
  return out;
}

/**
 * The lines of a rendering, without their newlines. What follows the last newline when it is only
 * colour sequences (the close of a style that ended with a newline: `dim('note\n')`) joins the
 * last line: it takes no row.
 */
export function screenLines(text: string): string[] {
  const lines = text.split('\n');
  const last = lines.pop() ?? '';
  if (last !== '') {
    const before = lines.pop();
    if (before !== undefined && textWidth(last) === 0) lines.push(before + last);
    else lines.push(...(before === undefined ? [] : [before]), last);
  }
  return lines;
}

/**
 * At most `rows` of `lines` (each already at most `width` columns): the first ones, then a line
 * from `more` saying how many were left out, then with `keepLast` the last line (where 3 rows
 * or more leave room for it). The colour sequences of the lines left out are kept, before the
 * `more` line.
 */
export function fitHeight(lines: readonly string[], rows: number, width: number, more: (left: number) => string, keepLast = false): string[] {
  if (lines.length <= rows) return [...lines];
  if (rows <= 0) return [];
  if (rows === 1) return [`${lines[0] ?? ''}${stylesOf(lines.slice(1).join(''))}`];
  const tail = keepLast && rows >= 3 ? lines.slice(-1) : [];
  const head = lines.slice(0, rows - 1 - tail.length);
  const left = lines.slice(head.length, lines.length - tail.length);
  return [...head, `${stylesOf(left.join(''))}${cutLine(more(left.length), width)}`, ...tail];
}

/** Lines as text: each ends with a newline. */
export const joinLines = (lines: readonly string[]): string => lines.map((l) => `${l}\n`).join('');
