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
  let out = '';
  writeRows(head, key, rows, (r) => JSON.stringify(r), (chunk) => (out += chunk));
  return out;
}

/** Bytes of JSON {@link writeRows} gathers before it hands them on. */
const CHUNK = 256 * 1024;

/**
 * {@link rowsJson} handed to `write` in pieces of about 256 KiB, each row as `row` prints it on
 * one line: 100,000 maps make 40 MB of JSON, which is never one string.
 */
export function writeRows<T>(head: Record<string, unknown>, key: string, rows: readonly T[], row: (r: T) => string, write: (chunk: string) => void): void {
  const top = json(head).trimEnd();
  const open = top === '{}' ? '{\n' : `${top.slice(0, -2)},\n`;
  let chunk = `${open}  ${JSON.stringify(key)}: [`;
  for (let i = 0; i < rows.length; i++) {
    chunk += `${i === 0 ? '\n' : ',\n'}    ${row(rows[i] as T)}`;
    if (chunk.length >= CHUNK) {
      write(chunk);
      chunk = '';
    }
  }
  write(`${chunk}${rows.length ? '\n  ' : ''}]\n}\n`);
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

/** A program's JSON in a listing, where pins may not have been looked for. */
const progRowJson = (inv: Inventory, p: ProgEntry): Record<string, unknown> => (inv.pinsRead ? progJson(p) : { ...progJson(p), pinned: null });

/**
 * A cgroup's JSON. `bpfKnown` false (the BPF objects could not be read: not root) makes its BPF
 * fields null, unknown, as the text's `-` says, not 0.
 */
export function cgroupJson(c: CgroupEntry, bpfKnown = true): Record<string, unknown> {
  return {
    path: c.path,
    label: c.label.kind === 'other' ? null : c.label.text,
    usage: c.usage,
    max: Number.isFinite(c.max) ? c.max : null,
    headroom: Number.isFinite(c.headroom) ? c.headroom : null,
    kernel: c.kernel ?? null,
    bpf_own: bpfKnown ? c.bpfOwn : null,
    bpf_subtree: bpfKnown ? c.bpfSubtree : null,
    objects_own: bpfKnown ? c.objectsOwn : null,
    objects_subtree: bpfKnown ? c.objectsSubtree : null,
    bpf_share: bpfKnown ? c.bpfShare : null,
  };
}

/** The envelope every inventory JSON shares: the kernel, and what could not be read. */
export function envelope(inv: Inventory): Record<string, unknown> {
  const d = inv.dump;
  return {
    source: inv.source ?? null,
    // A dump's reading in fields, as `estimate --from-bpftool` gives it: `source` says it in words.
    ...(d && { dump: { source: d.source, kernel: d.kernel, cpus: d.cpus, kernel_basis: d.kernelBasis, cpus_basis: d.cpusBasis } }),
    kernel: profileJson(inv.profile),
    charges_unavailable: inv.chargesUnavailable ?? null,
    stats_age: inv.statsAge ?? null,
    errors: inv.errors,
  };
}

/**
 * One map as one line of JSON: what `JSON.stringify(mapJson(m))` prints, written directly, with
 * the parts many maps share (payer, holders, pins, type) printed once per object. 100,000 maps
 * took 420 ms through objects and `JSON.stringify`, and made as many objects as fields.
 */
export class MapRowWriter {
  readonly #shared = new WeakMap<object, string>();
  readonly #types = new Map<string, string>();

  /** `pinsRead`: false prints `"pinned": null` (not looked for). */
  constructor(private readonly pinsRead = true) {}

  row(m: MapEntry): string {
    let type = this.#types.get(m.type);
    if (type === undefined) this.#types.set(m.type, (type = JSON.stringify(m.type)));
    // Kernel map names are [A-Za-z0-9_.] (kernel/bpf/syscall.c bpf_obj_name_cpy); a dump's may be anything.
    const name = SAFE_NAME.test(m.name) ? `"${m.name}"` : JSON.stringify(m.name);
    return `{"id":${m.id},"type":${type},"name":${name},"flags":${m.flags},"bytes_key":${m.keySize},"bytes_value":${m.valueSize},"max_entries":${m.maxEntries},"bytes_memlock":${m.memlock},"memlock_source":"${m.memlockSource}","charge":${m.charge ?? null},"uncharged":${m.uncharged ?? null},"charged_to":${this.#once(m.chargedTo, chargedToJson)},"pids":${this.#once(m.holders, holdersJson)},"pinned":${this.pinsRead ? this.#once(m.pins, (p) => p) : 'null'}}`;
  }

  #once<T extends object>(value: T, shape: (v: T) => unknown): string {
    let text = this.#shared.get(value);
    if (text === undefined) this.#shared.set(value, (text = JSON.stringify(shape(value))));
    return text;
  }
}

const SAFE_NAME = /^[A-Za-z0-9_.]*$/;

/**
 * `bpfmem maps --json`: the envelope, then one map per line, handed to `write` in pieces.
 * `matched`: how many maps matched when only the first of them are listed (the API's `limit`).
 */
export function writeMapsJson(inv: Inventory, maps: readonly MapEntry[], write: (chunk: string) => void, matched?: number): void {
  const w = new MapRowWriter(inv.pinsRead);
  writeRows({ ...envelope(inv), ...(matched !== undefined && { matched }) }, 'maps', maps, (m) => w.row(m), write);
}

/** `bpfmem maps --json` as one string. */
export function mapsJson(inv: Inventory, maps: readonly MapEntry[], matched?: number): string {
  let out = '';
  writeMapsJson(inv, maps, (chunk) => (out += chunk), matched);
  return out;
}
export const progsJson = (inv: Inventory, progs: readonly ProgEntry[]): string => rowsJson(envelope(inv), 'progs', progs.map((p) => progRowJson(inv, p)));
export const cgroupsJson = (inv: Inventory, cgroups: readonly CgroupEntry[], bpfKnown = true): string =>
  rowsJson(envelope(inv), 'cgroups', cgroups.map((c) => cgroupJson(c, bpfKnown)));

export function summaryJson(inv: Inventory, s: Summary, ctx: { readonly regimeReason?: string }): Record<string, unknown> {
  return {
    ...envelope(inv),
    regime_reason: ctx.regimeReason ?? null,
    maps: s.maps,
    progs: s.progs,
    memlock: s.memlock,
    charged: s.charged,
    uncharged: s.uncharged,
    top_cgroups: s.topCgroups.map((c) => cgroupJson(c)),
    largest_maps: s.largestMaps.map((m) => (inv.pinsRead ? mapJson(m) : { ...mapJson(m), pinned: null })),
    warnings: s.warnings,
  };
}
