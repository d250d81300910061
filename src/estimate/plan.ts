import { memlockDependsOnContents } from '../model/maps/memlock.js';
import type { MapSpec } from '../vocab/map-spec.js';
import { didYouMean, quote } from '../vocab/fields.js';
import { U32_MAX } from '../vocab/limits.js';
import type { Result } from '../vocab/result.js';
import type { NamedSpec } from './maps.js';

/**
 * What `bpfmem estimate` estimates: maps from objects, dumps and `--map` specs, with the sizes
 * decided only at load or run time set by the user (`--set NAME.max_entries=N`, `--fill
 * NAME=80%`) and flagged where the user did not set them. Pure.
 */

/** A map to estimate, and where it came from. */
export interface PlannedMap {
  /** The name the kernel will know (≤ 15 characters for objects). */
  readonly name: string;
  /** Other names a user may call it by (the object's symbol). */
  readonly aliases: readonly string[];
  /** `prog.o`, `--map`, `dump.json`. */
  readonly origin: string;
  readonly spec: MapSpec;
  readonly elements: number;
  /** What the estimate of this map rests on that the object does not decide, one phrase each. */
  readonly notes: readonly string[];
}

/** `--set NAME.max_entries=N`. */
export interface SetOverride {
  readonly name: string;
  readonly maxEntries: number;
}

/** `--fill NAME=80%` (a share of max_entries) or `--fill NAME=5000` (entries). */
export interface FillOverride {
  readonly name: string;
  readonly share?: number;
  readonly count?: number;
}

const fail = <T>(message: string): Result<T> => ({ ok: false, error: message });

/** Parses `NAME.max_entries=N` (`*` for every map). */
export function parseSet(text: string): Result<SetOverride> {
  const m = /^([^=]+)\.([a-z_]+)=(.*)$/.exec(text.trim());
  if (!m) return fail(`--set ${quote(text)}: expected NAME.max_entries=N`);
  const [, name = '', field = '', value = ''] = m;
  if (field !== 'max_entries') return fail(`--set ${quote(text)}: only max_entries can be set (the loader decides it; the rest is in the object)`);
  if (!/^[0-9]+$/.test(value) || Number(value) < 1 || Number(value) > U32_MAX) {
    return fail(`--set ${quote(text)}: max_entries must be a whole number from 1 to ${U32_MAX}`);
  }
  return { ok: true, value: { name, maxEntries: Number(value) } };
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

const matches = (m: PlannedMap, name: string): boolean => name === '*' || m.name === name || m.aliases.includes(name);

/** The maps a `--set`/`--fill` name picks, or a one-line message naming the maps there are. */
function pick(maps: readonly PlannedMap[], name: string, flag: string): Result<readonly PlannedMap[]> {
  const hit = maps.filter((m) => matches(m, name));
  if (hit.length) return { ok: true, value: hit };
  const names = [...new Set(maps.flatMap((m) => [m.name, ...m.aliases]))];
  const hint = didYouMean(name, names) || (names.length ? `; maps are ${names.slice(0, 12).join(', ')}${names.length > 12 ? ', …' : ''}` : '');
  return fail(`${flag} ${quote(name)}: no such map${hint}`);
}

/**
 * Applies the overrides, then flags what is still decided at run time: max_entries 0 (the
 * loader sets it), and maps whose memory grows with their elements with none filled.
 */
export function applyPlan(maps: readonly PlannedMap[], sets: readonly SetOverride[], fills: readonly FillOverride[]): Result<PlannedMap[]> {
  const out = new Map(maps.map((m, i) => [i, m]));
  const index = new Map(maps.map((m, i) => [m, i]));
  for (const s of sets) {
    const hit = pick(maps, s.name, '--set');
    if (!hit.ok) return hit;
    for (const m of hit.value) {
      const i = index.get(m) ?? -1;
      const cur = out.get(i) ?? m;
      out.set(i, { ...cur, spec: { ...cur.spec, maxEntries: s.maxEntries }, notes: [...cur.notes, `max_entries ${s.maxEntries} (--set)`] });
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
      out.set(i, { ...cur, elements, notes: [...cur.notes, `${elements} entries (--fill)`] });
    }
  }
  return {
    ok: true,
    value: [...out.values()].map((m) => {
      const notes = [...m.notes];
      if (m.spec.maxEntries === 0) notes.push(`max_entries is 0 in the object: the loader sets it (--set ${m.name}.max_entries=N)`);
      if (m.elements === 0 && memlockDependsOnContents(m.spec.type, m.spec.flags)) {
        notes.push(`grows with its entries, none counted (--fill ${m.name}=80%)`);
      }
      return { ...m, notes };
    }),
  };
}

/** The specs to hand to `estimateMaps`. */
export const namedSpecs = (maps: readonly PlannedMap[]): NamedSpec[] => maps.map((m) => ({ name: m.name, spec: m.spec, elements: m.elements }));
