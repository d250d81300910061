import { json, profileJson } from '../vocab/json.js';
import type { CgroupEntry, ChargedTo, Inventory, MapEntry, ProgEntry } from './inventory.js';
import type { Holder } from '../vocab/inventory.js';
import type { Summary } from './summary.js';

/**
 * The JSON of the inventory, shared by the CLI (`--json`) and `bpfmem serve` (`/api/v1/…`):
 * bpftool's field names where bpftool has the field (`bytes_key`, `bytes_memlock`, `pids`,
 * `pinned`), snake_case, bytes as integers, `null` for "none" and "unknown". docs/cli.md
 * documents it.
 */

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

function chargedToJson(c: ChargedTo): Record<string, unknown> {
  switch (c.kind) {
    case 'cgroup':
      return { kind: c.kind, path: c.path, cgroup_id: c.id, label: c.label.kind === 'other' ? null : c.label.text };
    case 'removed':
      return { kind: c.kind, cgroup_id: c.id };
    case 'nobody':
    case 'unknown':
      return { kind: c.kind };
  }
}

const holdersJson = (hs: readonly Holder[]): Record<string, unknown>[] => hs.map((h) => ({ pid: h.pid, comm: h.comm, cgroup: h.cgroup ?? null }));

export function mapJson(m: MapEntry): Record<string, unknown> {
  return {
    id: m.id,
    type: m.type,
    name: m.name,
    flags: m.flags,
    bytes_key: m.keySize,
    bytes_value: m.valueSize,
    max_entries: m.maxEntries,
    bytes_memlock: m.memlock,
    memlock_source: m.memlockSource,
    charge: m.charge ?? null,
    uncharged: m.uncharged ?? null,
    charged_to: chargedToJson(m.chargedTo),
    pids: holdersJson(m.holders),
    pinned: m.pins,
  };
}

export function progJson(p: ProgEntry): Record<string, unknown> {
  return {
    id: p.id,
    type: p.type,
    name: p.name,
    tag: p.tag,
    xlated_insns: p.insns,
    bytes_memlock: p.memlock,
    charged_to: { kind: 'unknown' },
    pids: holdersJson(p.holders),
    pinned: p.pins,
  };
}

export function cgroupJson(c: CgroupEntry): Record<string, unknown> {
  return {
    path: c.path,
    label: c.label.kind === 'other' ? null : c.label.text,
    usage: c.usage,
    max: Number.isFinite(c.max) ? c.max : null,
    headroom: Number.isFinite(c.headroom) ? c.headroom : null,
    kernel: c.kernel ?? null,
    bpf_own: c.bpfOwn,
    bpf_subtree: c.bpfSubtree,
    objects_own: c.objectsOwn,
    objects_subtree: c.objectsSubtree,
    bpf_share: c.bpfShare,
  };
}

/** The envelope every inventory JSON shares: the kernel, and what could not be read. */
export function envelope(inv: Inventory): Record<string, unknown> {
  return { source: inv.source ?? null, kernel: profileJson(inv.profile), charges_unavailable: inv.chargesUnavailable ?? null, errors: inv.errors };
}

/** `bpfmem maps --json`: the envelope, then one map per line. */
export const mapsJson = (inv: Inventory, maps: readonly MapEntry[]): string => rowsJson(envelope(inv), 'maps', maps.map(mapJson));
export const progsJson = (inv: Inventory, progs: readonly ProgEntry[]): string => rowsJson(envelope(inv), 'progs', progs.map(progJson));
export const cgroupsJson = (inv: Inventory, cgroups: readonly CgroupEntry[]): string => rowsJson(envelope(inv), 'cgroups', cgroups.map(cgroupJson));

export function summaryJson(inv: Inventory, s: Summary, ctx: { readonly regimeReason?: string }): Record<string, unknown> {
  return {
    ...envelope(inv),
    regime_reason: ctx.regimeReason ?? null,
    maps: s.maps,
    progs: s.progs,
    memlock: s.memlock,
    charged: s.charged,
    uncharged: s.uncharged,
    top_cgroups: s.topCgroups.map(cgroupJson),
    largest_maps: s.largestMaps.map(mapJson),
    warnings: s.warnings,
  };
}
