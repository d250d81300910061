import type { KernelProfile } from '../../vocab/profile.js';
import { formatVersion } from '../../vocab/kernel-version.js';
import { formatBytes } from '../../vocab/units.js';

/** `kernel 6.18, 2 possible CPUs, 4 KiB pages, cgroup v1, regime memcg` */
export function profileLine(p: KernelProfile): string {
  return `kernel ${formatVersion(p.version)}, ${p.possibleCpus} possible CPU${p.possibleCpus === 1 ? '' : 's'}, ${formatBytes(p.pageSize).replace('.0 ', ' ')} pages, cgroup v${p.cgroupVersion}, regime ${p.regime}`;
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

/**
 * Wraps text at `width` columns: the first line after `first`, the others after `rest`. Only
 * spaces, tabs and newlines break lines: a no-break space (`12.0\u00a0MiB`) keeps a number with
 * its unit.
 */
export function wrap(text: string, width: number, first: string, rest = first): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/[ \t\n]+/)) {
    const indent = lines.length ? rest : first;
    if (line && indent.length + line.length + 1 + word.length > width) {
      lines.push((lines.length ? rest : first) + line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push((lines.length ? rest : first) + line);
  return lines.join('\n');
}
