/**
 * Text from the machine or a file, made safe to show: every character that could steer a
 * terminal or reorder what a reader sees (C0, DEL, C1, bidi embeddings, overrides, isolates and
 * marks, the line and paragraph separators U+2028 and U+2029, lone surrogates) shown as a
 * visible escape (`\x1b`, `\n`, `\u202e`), as `ls -b` does.
 * Pure: the CLI (src/cli/escape.ts, which documents the policy) and the dashboard use it alike.
 */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
// eslint-disable-next-line no-control-regex
const ANY_UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]/;

const NAMED: Readonly<Record<string, string>> = Object.assign(Object.create(null) as Record<string, string>, { '\n': '\\n', '\t': '\\t', '\r': '\\r' });

function escapeOne(c: string): string {
  const named = NAMED[c];
  if (named !== undefined) return named;
  const code = c.charCodeAt(0);
  // C0 as `\x1b`; DEL and above as `\u009b`, a JSON escape of the same character, so that
  // the pass over JSON output leaves its values exact (JSON.stringify escapes C0 itself).
  return code < 0x7f ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** `s` with every character that could steer a terminal shown as an escape; `s` itself when it has none. */
export function escapeText(s: string): string {
  // The common case, a plain name, costs one scan and no copy.
  if (!ANY_UNSAFE.test(s)) return s;
  return s.replace(UNSAFE, escapeOne);
}

