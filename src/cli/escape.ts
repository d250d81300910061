/**
 * The one door between text from the machine or a file and the terminal. A process renames
 * itself at will (`prctl(PR_SET_NAME)`, /proc/PID/comm), anyone who may create a cgroup names
 * it, and a map's name or pin path in a bpftool dump is whatever the file says: printed raw, an
 * escape sequence clears or recolours the screen or sets its title, a newline splits a row, a
 * bidi override reorders what follows. Text output shows each such character as an escape
 * (`\x1b`, `\n`, `\u202e`), as `ls -b` and `systemd-escape` do; JSON output is exact (JSON.stringify
 * escapes C0 and DEL itself).
 *
 * Escaped: C0 (U+0000–U+001F), DEL (U+007F), C1 (U+0080–U+009F: U+009B is a one-byte CSI
 * on terminals that take 8-bit controls), the bidi embeddings, overrides and isolates
 * (U+202A–U+202E, U+2066–U+2069), the marks U+200E, U+200F and U+061C, and lone surrogates
 * (they are no text and some terminals print them as garbage).
 */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
// eslint-disable-next-line no-control-regex
const ANY_UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]/;

const NAMED: Readonly<Record<string, string>> = Object.assign(Object.create(null) as Record<string, string>, { '\n': '\\n', '\t': '\\t', '\r': '\\r' });

function escapeOne(c: string): string {
  const named = NAMED[c];
  if (named !== undefined) return named;
  const code = c.charCodeAt(0);
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** `s` with every character that could steer a terminal shown as an escape; `s` itself when it has none. */
export function escapeText(s: string): string {
  // The common case, a plain name, costs one scan and no copy.
  if (!ANY_UNSAFE.test(s)) return s;
  return s.replace(UNSAFE, escapeOne);
}

/**
 * Text of several lines, each escaped: newlines that separate the lines stay, every other
 * control character is escaped. For messages bpfmem composes around names (errors, notes).
 */
export function escapeLines(s: string): string {
  return s.split('\n').map(escapeText).join('\n');
}
