import { escapeText } from '../escape.js';
import { archText, type KernelProfile } from '../../vocab/profile.js';
import { formatVersion } from '../../vocab/kernel-version.js';
import { formatBytes } from '../../vocab/units.js';

/**
 * `kernel 6.18, 2 possible CPUs, 4 KiB pages, cgroup v1, regime memcg`; the architecture only
 * where it changes a number (`…, 4 KiB pages, arm64 (kmalloc from 128 B), cgroup v1, …`).
 */
export function profileLine(p: KernelProfile): string {
  const arch = archText(p);
  return `kernel ${formatVersion(p.version)}, ${p.possibleCpus} possible CPU${p.possibleCpus === 1 ? '' : 's'}, ${formatBytes(p.pageSize).replace('.0 ', ' ')} pages${arch && `, ${arch}`}, cgroup v${p.cgroupVersion}, regime ${p.regime}`;
}

/** Bytes for a table cell: IEC units, `-` for nothing, `max` for no limit. */
export function cellBytes(n: number | null): string {
  if (n === null) return 'max';
  return n === 0 ? '0' : formatBytes(n);
}

/** Bytes for a table cell where the backend may not know the number: `-` when it does not. */
export function cellKnown(n: number | null | undefined): string {
  return n === null || n === undefined ? '-' : cellBytes(n);
}

export { rowsJson } from '../../inspect/json.js';
export { json, profileJson } from '../../vocab/json.js';

/** A unit after a number (`12.0 MiB,`): kept on the number's line. */
const UNIT = /^(?:[KMGTPE]i)?B[.,;:)]*$/;

/**
 * Wraps text at `width` columns: the first line after `first`, the others after `rest`. Only
 * spaces, tabs and newlines break lines, and never between a number and its unit (`12.0 MiB`):
 * plain spaces, so `awk` and `cut` read the numbers (no no-break space). Every word is escaped
 * ({@link escapeText}): the text may hold names from the machine.
 */
/**
 * {@link wrap} of `head + text` with `head` styled (coloured) after wrapping: wrap escapes what it
 * is given, so a colour made before would be shown as text (`\x1b[32mfits`).
 */
export function wrapStyled(head: string, style: (s: string) => string, text: string, width: number, first: string, rest = first): string {
  const wrapped = wrap(head + text, width, first, rest);
  return wrapped.startsWith(first + head) ? first + style(head) + wrapped.slice(first.length + head.length) : wrapped;
}

export function wrap(text: string, width: number, first: string, rest = first): string {
  const words: string[] = [];
  for (const raw of text.split(/[ \t\n]+/)) {
    if (raw === '') continue;
    const word = escapeText(raw);
    const last = words.length - 1;
    if (UNIT.test(word) && last >= 0) words[last] = `${words[last] ?? ''} ${word}`;
    else words.push(word);
  }
  const lines: string[] = [];
  let line = '';
  for (const word of words) {
    const indent = lines.length ? rest : first;
    if (line && indent.length + line.length + 1 + word.length > width) {
      lines.push((lines.length ? rest : first) + line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push((lines.length ? rest : first) + line);
  return lines.join('\n');
}
