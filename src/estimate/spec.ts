import type { MapSpec } from '../vocab/map-spec.js';
import {
  describeValue,
  didYouMean,
  parseFlagsField,
  parseInteger,
  parseMapExtra,
  parseMapTypeField,
  parseU32Size,
  quote,
} from '../vocab/fields.js';
import { U32_MAX } from '../vocab/limits.js';
import type { Result } from '../vocab/result.js';

/**
 * The `--map SPEC` of `bpfmem estimate`:
 * `type=hash,key=4,value=8,max_entries=1000[,flags=no_prealloc+numa][,map_extra=N][,name=x][,elements=N]`.
 * `elements` is how many entries are inserted after creation (default 0), for maps whose
 * memory grows with their contents (no-prealloc hash, LPM trie, devmap_hash, sockhash, …).
 * Only the shape is checked here (known keys, map type, whole numbers that fit the kernel's
 * fields); whether the kernel would create such a map (E2BIG, EINVAL, …) is the model's call.
 */

/** A map spec as {@link parseMapSpec} reads it. */
export interface ParsedMapSpec {
  readonly name: string;
  readonly spec: MapSpec;
  /** Elements inserted after creation (`elements=`). */
  readonly elements: number;
  /**
   * The map's name as BPF_MAP_CREATE gets it (`bpftool map create … name NAME`): the `name=`
   * given, which the kernel checks; absent without `name=` (the default name is a label only).
   */
  readonly kernelName?: string;
}

/** Keys a spec takes, and the `union bpf_attr` names read as the same key. */
const KEYS = ['type', 'key', 'value', 'max_entries', 'flags', 'map_extra', 'name', 'struct_ops_funcs', 'struct_ops_members', 'elements'] as const;
type SpecKey = (typeof KEYS)[number];
// A Map, not an object literal: `__proto__=`, `constructor=` or `toString=` would find
// Object.prototype's members and pass as keys (issue 14).
const ALIASES: ReadonlyMap<string, SpecKey> = new Map([
  ['key_size', 'key'],
  ['value_size', 'value'],
]);

/** Longest spec read; a map spec is a line a person types. */
const SPEC_MAX = 4096;

/**
 * Parses a map spec. Never throws.
 *
 * @param text - the spec as typed after `--map`
 * @param defaultName - the map's name when the spec has no `name=` (the caller numbers them)
 * @returns the name and the spec, or a one-line message that quotes the spec and names the key:
 *   `--map "type=hsh,key=4": unknown map type "hsh" (did you mean hash?)`
 */
export function parseMapSpec(text: string, defaultName: string): Result<ParsedMapSpec> {
  if (typeof text !== 'string') return { ok: false, error: `--map: expected the spec as text, got ${describeValue(text)}` };
  const fail = (message: string): Result<ParsedMapSpec> => ({ ok: false, error: `--map ${quote(text)}: ${message}` });
  if (text.length > SPEC_MAX) return fail(`a map spec is at most ${SPEC_MAX} characters`);

  const values = new Map<SpecKey, string>();
  for (const field of text.split(',')) {
    if (field.trim() === '') return fail('empty field (a comma too many?)');
    const eq = field.indexOf('=');
    if (eq < 0) return fail(`${quote(field.trim())} is not key=value`);
    const written = field.slice(0, eq).trim();
    const key = ALIASES.get(written) ?? KEYS.find((k) => k === written);
    if (key === undefined) {
      const hint = didYouMean(written, [...KEYS, ...ALIASES.keys()]);
      return fail(`unknown key ${quote(written)}${hint}; keys are ${KEYS.join(', ')}`);
    }
    if (values.has(key)) return fail(`${key} given twice`);
    values.set(key, field.slice(eq + 1).trim());
  }

  const typeText = values.get('type');
  if (typeText === undefined) return fail('type is missing (type=hash, type=array, …)');
  const type = parseMapTypeField(typeText);
  if (!type.ok) return fail(type.error);

  const read = <T>(key: SpecKey, parse: (input: string) => Result<T>, absent: T): Result<T> => {
    const raw = values.get(key);
    if (raw === undefined) return { ok: true, value: absent };
    const r = parse(raw);
    return r.ok ? r : { ok: false, error: `${key}: ${r.error}` };
  };
  const keySize = read('key', parseU32Size, 0);
  if (!keySize.ok) return fail(keySize.error);
  const valueSize = read('value', parseU32Size, 0);
  if (!valueSize.ok) return fail(valueSize.error);
  const maxEntries = read('max_entries', parseU32Size, 0);
  if (!maxEntries.ok) return fail(maxEntries.error);
  const flags = read('flags', parseFlagsField, 0);
  if (!flags.ok) return fail(flags.error);
  const mapExtra = read('map_extra', parseMapExtra, 0);
  if (!mapExtra.ok) return fail(mapExtra.error);
  // The struct_ops counts: whole numbers, given for struct_ops maps only.
  const structOpsCount = (key: 'struct_ops_funcs' | 'struct_ops_members'): Result<number | undefined> => {
    const n = read<number | undefined>(key, (x) => parseInteger(x, 0, U32_MAX), undefined);
    if (n.ok && n.value !== undefined && type.value !== 'struct_ops') return { ok: false, error: `${key}: applies only to type struct_ops, not ${type.value}` };
    return n;
  };
  const funcs = structOpsCount('struct_ops_funcs');
  if (!funcs.ok) return fail(funcs.error);
  const members = structOpsCount('struct_ops_members');
  if (!members.ok) return fail(members.error);
  const name = read('name', parseSpecName, defaultName);
  if (!name.ok) return fail(name.error);
  const elements = read('elements', (x) => parseInteger(x, 0, U32_MAX), 0);
  if (!elements.ok) return fail(elements.error);

  const spec: MapSpec = {
    type: type.value,
    keySize: keySize.value,
    valueSize: valueSize.value,
    maxEntries: maxEntries.value,
    flags: flags.value,
    mapExtra: mapExtra.value,
    ...(funcs.value === undefined ? {} : { structOpsFuncs: funcs.value }),
    ...(members.value === undefined ? {} : { structOpsMembers: members.value }),
  };
  return { ok: true, value: { name: name.value, spec, elements: elements.value, ...(values.has('name') && { kernelName: name.value }) } };
}

/**
 * A name for the estimate's output, and the map's name as the kernel gets it. Looser than a
 * scenario's map names: a name the kernel refuses (`my-map`: EINVAL, bpf_obj_name_cpy) is the
 * estimate's answer, not a mistake in the spec, and a longer one is cut to 15 bytes by libbpf
 * (`bpf_map_create`), as bpftool's `map create … name` passes it.
 */
function parseSpecName(input: string): Result<string> {
  if (/^[A-Za-z0-9_.:-]{1,64}$/.test(input)) return { ok: true, value: input };
  return { ok: false, error: `expected a name of 1–64 characters A–Z a–z 0–9 _ . : -, got ${quote(input)}` };
}
