import type { KernelProfile } from '../../model/profile.js';
import { formatVersion } from '../../model/version.js';
import { formatBytes } from '../../model/units.js';

/** `kernel 6.18, 2 possible CPUs, 4 KiB pages, cgroup v1, regime memcg` */
export function profileLine(p: KernelProfile): string {
  return `kernel ${formatVersion(p.version)}, ${p.possibleCpus} possible CPU${p.possibleCpus === 1 ? '' : 's'}, ${formatBytes(p.pageSize).replace('.0 ', ' ')} pages, cgroup v${p.cgroupVersion}, regime ${p.regime}`;
}

/** The profile as `--json` shows it. */
export function profileJson(p: KernelProfile): Record<string, unknown> {
  return {
    version: formatVersion(p.version),
    release: p.release,
    cpus: p.possibleCpus,
    page_size: p.pageSize,
    cgroup: p.cgroupVersion,
    regime: p.regime,
    eras: {
      fdinfo_memlock: p.eras.fdinfoMemlock,
      map_cgroup_ref: p.eras.mapCgroupRef,
      update_gfp: p.eras.updateGfp,
      no_prealloc_allocator: p.eras.noPreallocAllocator,
      create_time_map_helpers_charged: p.eras.createTimeMapHelpersCharged,
      memcg_charge_batch_pages: p.eras.memcgChargeBatchPages,
      default_memlock_rlimit: p.eras.defaultMemlockRlimit,
    },
  };
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

/**
 * JSON of an object whose last field is a long list: the fields as {@link json} prints them,
 * then the list with one compact row per line, as `kubectl get -o json` readers and `grep` both
 * like, at a fraction of the size of indenting every row (7 MB → 3 MB for 10,000 maps). Rows
 * must hold no Infinity: they are printed without a replacer, which makes `JSON.stringify`
 * several times slower.
 */
export function rowsJson(head: Record<string, unknown>, key: string, rows: readonly unknown[]): string {
  const top = json(head).trimEnd();
  const open = top === '{}' ? '{\n' : `${top.slice(0, -2)},\n`;
  const body = rows.map((r) => `    ${JSON.stringify(r)}`).join(',\n');
  return `${open}  ${JSON.stringify(key)}: [${rows.length ? `\n${body}\n  ` : ''}]\n}\n`;
}

/** Stable JSON with a trailing newline. */
export function json(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (v === Number.POSITIVE_INFINITY ? null : v), 2) + '\n';
}
