/**
 * The one door between text from the machine or a file and the terminal. A process renames
 * itself at will (`prctl(PR_SET_NAME)`, /proc/PID/comm), anyone who may create a cgroup names
 * it, and a map's name or pin path in a bpftool dump is whatever the file says: printed raw, an
 * escape sequence clears or recolours the screen or sets its title, a newline splits a row, a
 * bidi override reorders what follows. Text output shows each such character as an escape
 * (`\x1b`, `\n`, `\u202e`), as `ls -b` and `systemd-escape` do. JSON output keeps its values
 * exact: JSON.stringify escapes C0, and {@link terminalSafe} writes the rest (DEL, C1, bidi,
 * lone surrogates) as the JSON escapes `\u009b`, which parse to the same characters.
 *
 * Escaped: C0 (U+0000–U+001F), DEL (U+007F), C1 (U+0080–U+009F: U+009B is a one-byte CSI
 * on terminals that take 8-bit controls), the bidi embeddings, overrides and isolates
 * (U+202A–U+202E, U+2066–U+2069), the marks U+200E, U+200F and U+061C, the line and
 * paragraph separators U+2028 and U+2029 (a line break to some viewers), and lone surrogates
 * (they are no text and some terminals print them as garbage).
 */
import { escapeText } from '../vocab/escape.js';

export { escapeText };

// An SGR sequence (colour, bold) or the home-and-clear of `top` and `watch`: bpfmem's own.
// eslint-disable-next-line no-control-regex
const OWN = /\u001b\[[0-9;]*m|\u001b\[H\u001b\[2J/y;
// eslint-disable-next-line no-control-regex
const ANY_BUT_NEWLINE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]/;

/**
 * A whole text rendering made safe for a terminal, the last step before it is written: every
 * character {@link escapeText} escapes except the newlines between lines and bpfmem's own
 * colour and clear-screen sequences. Renderers escape each name as they place it (a newline in
 * a name is shown as `\n`); this pass guarantees that whatever a renderer forgot cannot steer
 * the terminal (a title, a cleared screen, a cursor move). JSON passes through it unchanged in
 * value: it has no raw C0 or ESC, and what is escaped becomes `\uXXXX`, a JSON escape.
 */
export function terminalSafe(text: string): string {
  if (!ANY_BUT_NEWLINE.test(text)) return text;
  let out = '';
  let from = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x0a) continue;
    if (c === 0x1b) {
      OWN.lastIndex = i;
      const own = OWN.exec(text);
      if (own) {
        i += own[0].length - 1;
        continue;
      }
    }
    const unsafe = c < 0x20 || (c >= 0x7f && c <= 0x9f) || c === 0x061c || c === 0x200e || c === 0x200f || c === 0x2028 || c === 0x2029 || (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
    let len = 1;
    let bad = unsafe;
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) len = 2;
      else bad = true;
    } else if (c >= 0xdc00 && c <= 0xdfff) bad = true;
    if (bad) {
      out += text.slice(from, i) + escapeText(text[i] as string);
      from = i + 1;
    }
    i += len - 1;
  }
  return out + text.slice(from);
}
