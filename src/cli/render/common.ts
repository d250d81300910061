import type { KernelProfile } from '../../model/profile.js';
import { formatVersion } from '../../model/version.js';
import { formatBytes } from '../../model/units.js';

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

export { json, profileJson, rowsJson } from '../../inspect/json.js';
