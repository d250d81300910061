import { memlockDependsOnContents } from '../model/maps/memlock.js';
import type { MapSpec } from '../vocab/map-spec.js';
import { didYouMean, quote } from '../vocab/fields.js';
import { U32_MAX } from '../vocab/limits.js';
import type { Result } from '../vocab/result.js';
import type { NamedSpec } from './maps.js';
import { adjustRingbufSize } from './object.js';
import type { MapType } from '../vocab/maptypes.js';

/**
 * What `bpfmem estimate` estimates: maps from objects, dumps and `--map` specs, with the sizes
 * decided only at load or run time set by the user (`--set NAME.max_entries=N`, `--fill
 * NAME=80%`) and flagged where the user did not set them. Pure.
 */

/** What decided a field of a map: the object, the loader, the user (`--set`, `--fill`), the kernel's BTF, a `--map` spec or a dump. */
export type SizeSource = 'object' | 'loader' | '--set' | '--fill' | 'kernel' | '--map' | 'dump';

/** The fields whose source {@link PlannedMap.decided} gives. */
export type SizedField = 'key_size' | 'value_size' | 'max_entries' | 'flags' | 'elements';

/** A map to estimate, and where it came from. */
export interface PlannedMap {
  /** The name the kernel will know (≤ 15 characters for objects). */
  readonly name: string;
  /**
   * The other names that name exactly this map, as libbpf's `bpf_object__find_map_by_name`
   * matches them (the full symbol; for global data, the section name), or a dump's `idN`.
   */
  readonly aliases: readonly string[];
  /** Whether `name` is the kernel's 15 bytes of a longer name: it names the map only where no other map shares those bytes. */
  readonly cut?: boolean;
  /** For maps of objects: the kind of definition (`data` for global data), which decides what `--set` may change. */
  readonly source?: 'btf' | 'legacy' | 'data' | 'kconfig' | 'struct_ops';
  /** `prog.o`, `--map`, `dump.json`. */
  readonly origin: string;
  readonly spec: MapSpec;
  readonly elements: number;
  /** What the estimate of this map rests on that the object does not decide, one phrase each. */
  readonly notes: readonly string[];
  /** What decided each field (absent: the map's origin). */
  readonly decided?: Readonly<Partial<Record<SizedField, SizeSource>>>;
  /**
   * The name the loader hands BPF_MAP_CREATE, which the kernel checks (src/estimate/maps.ts
   * NamedSpec): an object map's libbpf name, a `--map name=`; absent for a map given no name.
   */
  readonly kernelName?: string;
}

/** The fields `--set` changes: what libbpf lets a loader set before load. */
export type SetField = 'max_entries' | 'value_size' | 'key_size';

/** `--set NAME.max_entries=N`, `NAME.value_size=N`, `NAME.key_size=N`. */
export interface SetOverride {
  readonly name: string;
  readonly field: SetField;
  readonly value: number;
}

/** `--fill NAME=80%` (a share of max_entries) or `--fill NAME=5000` (entries). */
export interface FillOverride {
  readonly name: string;
  readonly share?: number;
  readonly count?: number;
}

const fail = <T>(message: string): Result<T> => ({ ok: false, error: message });

/** libbpf's setter of each field (src/libbpf.c), for messages. */
const SETTER: Readonly<Record<SetField, string>> = { max_entries: 'bpf_map__set_max_entries', value_size: 'bpf_map__set_value_size', key_size: 'bpf_map__set_key_size' };

/** Parses `NAME.max_entries=N`, `NAME.value_size=N` or `NAME.key_size=N` (`*` for every map). */
export function parseSet(text: string): Result<SetOverride> {
  const m = /^([^=]+)\.([a-z_]+)=(.*)$/.exec(text.trim());
  if (!m) return fail(`--set ${quote(text)}: expected NAME.max_entries=N, NAME.value_size=N or NAME.key_size=N`);
  const [, name = '', field = '', value = ''] = m;
  if (field !== 'max_entries' && field !== 'value_size' && field !== 'key_size') {
    return fail(`--set ${quote(text)}: only max_entries, value_size and key_size can be set (what libbpf lets a loader set before load; the rest is in the object)`);
  }
  if (!/^[0-9]+$/.test(value) || Number(value) < 1 || Number(value) > U32_MAX) {
    return fail(`--set ${quote(text)}: ${field} must be a whole number from 1 to ${U32_MAX}`);
  }
  return { ok: true, value: { name, field, value: Number(value) } };
}

/** Parses `NAME=80%` or `NAME=N` (`*` for every map). */
export function parseFill(text: string): Result<FillOverride> {
  const m = /^([^=]+)=(.*)$/.exec(text.trim());
  if (!m) return fail(`--fill ${quote(text)}: expected NAME=80% or NAME=ENTRIES`);
  const [, name = '', value = ''] = m;
  const pct = /^([0-9]+(?:\.[0-9]+)?)%$/.exec(value);
  if (pct) {
    const share = Number(pct[1]) / 100;
    if (share > 1) return fail(`--fill ${quote(text)}: at most 100%`);
    return { ok: true, value: { name, share } };
  }
  if (!/^[0-9]+$/.test(value) || Number(value) > U32_MAX) return fail(`--fill ${quote(text)}: expected a share like 80% or a number of entries`);
  return { ok: true, value: { name, count: Number(value) } };
}

/** The full names of a map: those libbpf's `bpf_object__find_map_by_name` matches. */
const fullNames = (m: PlannedMap): readonly string[] => (m.cut ? m.aliases : [m.name, ...m.aliases]);

/**
 * The maps a `--set`/`--fill` name picks, as libbpf's `bpf_object__find_map_by_name` would
 * (src/libbpf.c): the maps whose full name it is (the symbol; `.data`-style section names for
 * global data). Only when no map has that full name, the kernel's 15-byte name, and only where
 * one map has it: two maps whose long names share their first 15 bytes are both
 * `devmap_xmit_cnt` to the kernel, and such a name is refused with the candidates listed.
 */
function pick(maps: readonly PlannedMap[], name: string, flag: string): Result<readonly PlannedMap[]> {
  if (name === '*') return { ok: true, value: maps };
  const exact = maps.filter((m) => fullNames(m).includes(name));
  if (exact.length) return { ok: true, value: exact };
  const cut = maps.filter((m) => m.cut && m.name === name);
  if (cut.length === 1) return { ok: true, value: cut };
  if (cut.length > 1) {
    const candidates = cut.map((m) => m.aliases[0] ?? m.name);
    return fail(`${flag} ${quote(name)}: the kernel's 15-byte name of ${cut.length} maps (${candidates.join(', ')}); give the full name of one`);
  }
  const names = [...new Set(maps.flatMap((m) => fullNames(m)))];
  const hint = didYouMean(name, names) || (names.length ? `; maps are ${names.slice(0, 12).join(', ')}${names.length > 12 ? ', …' : ''}` : '');
  return fail(`${flag} ${quote(name)}: no such map${hint}`);
}

/** Options of {@link applyPlan}. */
export interface PlanOptions {
  /** Whether the loader resizes global data maps on `bpf_map__set_value_size` (libbpf ≥ 1.3, src/estimate/loaders.ts). */
  readonly resizesDataMaps?: boolean;
  /** The loader's name, for messages. */
  readonly loader?: string;
  /**
   * The ring buffer types whose size the loader rounds up to a power-of-2 number of pages when it
   * is set (src/estimate/loaders.ts `roundsRingbufs`); none when absent.
   */
  readonly roundsRingbufs?: readonly MapType[];
  /** The page size of the host the loader runs on (`sysconf(_SC_PAGE_SIZE)` in adjust_ringbuf_sz); 4096 when absent. */
  readonly pageSize?: number;
}

/**
 * Map types whose max_entries must be 0: local storages (`bpf_local_storage_map_alloc_check()`,
 * kernel/bpf/bpf_local_storage.c: `attr->max_entries` non-zero is EINVAL) and cgroup storages
 * (`cgroup_storage_map_alloc()`, kernel/bpf/local_storage.c: "max_entries is not used and
 * enforced to be 0"). Their 0 is not a size left to the loader.
 */
const ZERO_MAX_ENTRIES: ReadonlySet<MapType> = new Set<MapType>(['sk_storage', 'inode_storage', 'task_storage', 'cgrp_storage', 'cgroup_storage', 'percpu_cgroup_storage']);

/** Why `--set` may not change `field` of map `m` under a loader, or undefined when it may. */
function setRefusal(m: PlannedMap, field: SetField, options: PlanOptions): string | undefined {
  if (field === 'max_entries') return ZERO_MAX_ENTRIES.has(m.spec.type) ? `${m.spec.type} maps take no max_entries: the kernel wants 0` : undefined;
  if (m.source === 'struct_ops' || m.source === 'kconfig') return `the ${m.source === 'kconfig' ? '.kconfig map' : 'struct_ops map'}'s ${field} is the loader's own, not a setting`;
  if (m.source === 'data') {
    if (field === 'key_size') return 'a global data map\'s key is 4 bytes';
    if (!options.resizesDataMaps) return `resizing a global data map needs libbpf 1.3+ (libbpf 8b4e1b39); the loader is ${options.loader ?? 'older'} (--loader libbpf)`;
  }
  return undefined;
}

/**
 * `--set NAME.max_entries=N` of an object's ring buffer, as libbpf's `bpf_map__set_max_entries`
 * sets it: since 61070705 (v1.0.0) it rounds a size that is not a power-of-2 number of pages up
 * to the next one (adjust_ringbuf_sz, with the host's page size), for ringbuf and, from v1.1.0
 * (9e9bf46c `map_is_ringbuf`), user_ringbuf: `--set rb.max_entries=5000` creates an 8192-byte
 * ring buffer, as a loader linked with libbpf 1.1.2 measured (memlock 20840). Undefined where the
 * size is not the loader's to round (not a ring buffer, not from an object, a loader that does not).
 */
function setRingbufSize(m: PlannedMap, s: SetOverride, options: PlanOptions): PlannedMap | undefined {
  if (s.field !== 'max_entries' || m.source === undefined || !(options.roundsRingbufs ?? []).includes(m.spec.type)) return undefined;
  const size = adjustRingbufSize(s.value, options.pageSize ?? 4096);
  const how = size === s.value ? '' : `, rounded up by libbpf to ${size}, a power-of-2 number of pages (bpf_map__set_max_entries: adjust_ringbuf_sz)`;
  // The object's size, and libbpf's rounding of it, no longer apply.
  const notes = m.notes.filter((n) => !/^max_entries \d+: (libbpf rounds it up|this loader does not round)/.test(n));
  return { ...m, spec: { ...m.spec, maxEntries: size }, decided: { ...m.decided, max_entries: '--set' }, notes: [...notes, `max_entries ${s.value} (--set)${how}`] };
}

/** Map types that take no key (`key_size` 0) or need none the loader sets. */
const NO_KEY = new Set(['queue', 'stack', 'bloom_filter', 'ringbuf', 'user_ringbuf', 'arena', 'struct_ops']);
/** Map types that take no value (`value_size` 0). */
const NO_VALUE = new Set(['ringbuf', 'user_ringbuf', 'arena', 'struct_ops']);

/**
 * Applies the overrides, then flags what is still decided at run time: max_entries, key or
 * value size 0 (the loader sets it), and maps whose memory grows with their elements with none
 * filled. `--set` changes only the maps it names (see {@link pick}).
 */
export function applyPlan(maps: readonly PlannedMap[], sets: readonly SetOverride[], fills: readonly FillOverride[], options: PlanOptions = {}): Result<PlannedMap[]> {
  const out = new Map(maps.map((m, i) => [i, m]));
  const index = new Map(maps.map((m, i) => [m, i]));
  for (const s of sets) {
    const hit = pick(maps, s.name, '--set');
    if (!hit.ok) return hit;
    for (const m of hit.value) {
      const refusal = setRefusal(m, s.field, options);
      if (refusal !== undefined) {
        // `*` sets what it can; a map named outright that cannot take it is the user's mistake,
        // except a storage map's max_entries: libbpf sets it, and the kernel's EINVAL is the estimate.
        if (s.name === '*') continue;
        if (s.field !== 'max_entries') return fail(`--set ${quote(`${s.name}.${s.field}=${s.value}`)}: ${refusal}`);
      }
      const i = index.get(m) ?? -1;
      const cur = out.get(i) ?? m;
      const rounded = setRingbufSize(cur, s, options);
      if (rounded !== undefined) {
        out.set(i, rounded);
        continue;
      }
      const spec = s.field === 'max_entries' ? { ...cur.spec, maxEntries: s.value } : s.field === 'value_size' ? { ...cur.spec, valueSize: s.value } : { ...cur.spec, keySize: s.value };
      const by = s.field === 'max_entries' ? '' : ` by the loader (${SETTER[s.field]})`;
      out.set(i, { ...cur, spec, decided: { ...cur.decided, [s.field]: '--set' }, notes: [...cur.notes, `${s.field} ${s.value}${by} (--set)`] });
    }
  }
  for (const f of fills) {
    const hit = pick(maps, f.name, '--fill');
    if (!hit.ok) return hit;
    for (const m of hit.value) {
      const i = index.get(m) ?? -1;
      const cur = out.get(i) ?? m;
      const max = cur.spec.maxEntries;
      const elements = f.share !== undefined ? Math.floor(f.share * max) : (f.count ?? 0);
      if (elements > max && max > 0) return fail(`--fill ${quote(`${f.name}=${String(f.count)}`)}: ${cur.name} holds at most ${max} entries`);
      out.set(i, { ...cur, elements, decided: { ...cur.decided, elements: '--fill' }, notes: [...cur.notes, `${elements} entries (--fill)`] });
    }
  }
  return {
    ok: true,
    value: [...out.values()].map((m) => {
      const notes = [...m.notes];
      const who = m.aliases[0] ?? m.name;
      if (m.spec.maxEntries === 0 && !ZERO_MAX_ENTRIES.has(m.spec.type)) {
        // From an object the loader sets it; from --map or a dump it was given as 0.
        notes.push(m.source !== undefined ? `max_entries is 0 in the object: the loader sets it (--set ${who}.max_entries=N)` : `max_entries is 0 (${m.origin}): give it (--set ${who}.max_entries=N)`);
      }
      if (m.source !== undefined && m.spec.keySize === 0 && !NO_KEY.has(m.spec.type)) {
        notes.push(`key_size is 0 in the object: the loader sets it (${SETTER.key_size}; --set ${who}.key_size=N)`);
      }
      if (m.source !== undefined && m.spec.valueSize === 0 && !NO_VALUE.has(m.spec.type)) {
        notes.push(`value_size is 0 in the object: the loader sets it (${SETTER.value_size}; --set ${who}.value_size=N)`);
      }
      if (m.elements === 0 && memlockDependsOnContents(m.spec.type, m.spec.flags)) {
        notes.push(`grows with its entries, none counted (--fill ${who}=80%)`);
      }
      return { ...m, notes };
    }),
  };
}

/** The specs to hand to `estimateMaps`. */
export const namedSpecs = (maps: readonly PlannedMap[]): NamedSpec[] =>
  maps.map((m) => ({ name: m.name, spec: m.spec, elements: m.elements, ...(m.kernelName !== undefined && { kernelName: m.kernelName }) }));
