import { MAP_FLAGS, parseFlags } from './flags.js';
import { MAP_TYPE_NAMES, isMapType, type MapType } from './maptypes.js';
import { parseSize } from './units.js';
import { parseKernelVersion } from './kernel-version.js';
import { SCENARIO_LIMITS, U32_MAX } from './limits.js';
import { err, ok, type Result } from './result.js';

/**
 * Parsers of single fields, shared by the scenario file (`parse.ts`) and the `--map` spec
 * (`estimate/spec.ts`). Each takes what the person wrote (any YAML value, or the text after
 * `key=`) and returns the value or a message that says what was expected and what came, on one
 * line: `expected a size (bytes or 64Ki/8Mi), got -5`.
 */

/** A field parser: the value, or a one-line message saying what was expected and what came. */
export type FieldParser<T> = (input: unknown) => Result<T>;

const good = ok;
const bad = (message: string): Result<never> => err(message);

/** Longest quoted text shown in a message, so that one line stays one readable line. */
const QUOTE_MAX = 40;

/** A string for a message cut at 40 characters, with `…` where it was cut. */
export const cut = (text: string): string => (text.length > QUOTE_MAX ? `${text.slice(0, QUOTE_MAX)}…` : text);

/** A string for a message: JSON-quoted (so control characters are escaped), cut at 40 characters. */
export function quote(text: string): string {
  return JSON.stringify(cut(text));
}

/** What came, for `…, got X`: `-5`, `"hsh"`, `true`, `null`, `a list`, `a mapping`. */
export function describeValue(input: unknown): string {
  if (input === undefined) return 'nothing';
  if (input === null) return 'null';
  if (typeof input === 'string') return quote(input);
  if (typeof input === 'number' || typeof input === 'boolean') return String(input);
  if (Array.isArray(input)) return 'a list';
  if (typeof input === 'object') return 'a mapping';
  return typeof input;
}

/**
 * Edit distance (insertions, deletions, substitutions, adjacent swaps) if it is at most `max`,
 * else `max + 1`. Only cells within `max` of the diagonal are computed (a cell off it is more
 * than `max` edits away), and a row with none within `max` ends the search: O(length × max).
 */
export function editDistance(a: string, b: string, max: number): number {
  const over = max + 1;
  const n = a.length;
  const m = b.length;
  if (Math.abs(n - m) > max) return over;
  let before = new Int32Array(m + 1).fill(over);
  let previous = new Int32Array(m + 1).fill(over);
  let row = new Int32Array(m + 1);
  for (let j = 0; j <= Math.min(m, max); j++) previous[j] = j;
  for (let i = 1; i <= n; i++) {
    row.fill(over);
    if (i <= max) row[0] = i;
    let least = row[0] ?? over;
    for (let j = Math.max(1, i - max); j <= Math.min(m, i + max); j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min((previous[j] ?? over) + 1, (row[j - 1] ?? over) + 1, (previous[j - 1] ?? over) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, (before[j - 2] ?? over) + 1);
      row[j] = Math.min(v, over);
      least = Math.min(least, v);
    }
    if (least > max) return over;
    [before, previous, row] = [previous, row, before];
  }
  return Math.min(previous[m] ?? over, over);
}

/**
 * The candidate closest to `word` if it is close enough to be a typo (one edit for short
 * words, two for longer ones, and fewer than half the letters), else `undefined`. Only
 * candidates whose length is within those edits of the word's are compared, so that a search
 * among 10,000 cgroup paths of up to 4096 characters costs no more than among short ones.
 */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  if (word.length === 0 || word.length > 64) return undefined;
  const w = word.toLowerCase();
  const limit = w.length <= 4 ? 1 : 2;
  let best: string | undefined;
  let bestDistance = limit + 1;
  for (const c of candidates) {
    // The edit distance is never less than the difference in length.
    if (Math.abs(c.length - w.length) > limit) continue;
    const dist = editDistance(w, c.toLowerCase(), limit);
    // Fewer edits than half the word: "/a" is not a typo of "/", nor "n" of "m".
    if (dist < bestDistance && dist * 2 < Math.max(w.length, c.length)) {
      best = c;
      bestDistance = dist;
    }
  }
  return best;
}

/** ` (did you mean X?)` when a candidate is close, else the empty string. */
export function didYouMean(word: string, candidates: readonly string[]): string {
  const c = closest(word, candidates);
  return c === undefined ? '' : ` (did you mean ${c}?)`;
}

/** `a, b or c`. */
export function oneOf(options: readonly string[]): string {
  if (options.length <= 1) return options.join('');
  return `${options.slice(0, -1).join(', ')} or ${options[options.length - 1] ?? ''}`;
}

/**
 * The largest size a field takes: 2^50 bytes (1 PiB). A scenario has at most 10,000 steps, and
 * the alloc and mlock steps together take at most this much (parse-steps.ts), so that no total
 * the model keeps in bytes (a cgroup's usage, a task's locked memory) passes 2^53, where
 * numbers stop being exact (`"mlocked": 30020995116051726000` was a sum of 2^53 − 1 sizes).
 */
export const SIZE_MAX = 2 ** 50;

/** Options of a size field. */
export interface SizeOptions {
  /** Whether `max` / `unlimited` (returned as `Infinity`) is allowed. */
  readonly unlimited?: boolean;
  /** The largest finite value allowed, below {@link SIZE_MAX}, and the word for why (`u32`). */
  readonly max?: { readonly value: number; readonly why: string };
}

/**
 * A size in bytes: an integer, or a string `parseSize` reads (`64Ki`, `8Mi`, `1.5Gi`), up to
 * {@link SIZE_MAX}, and with `unlimited`, `max` / `unlimited` / `infinity` as `Infinity`.
 */
export function parseSizeField(input: unknown, options: SizeOptions = {}): Result<number> {
  const expected = options.unlimited ? 'a size (bytes, 64Ki/8Mi or max)' : 'a size (bytes or 64Ki/8Mi)';
  const n = typeof input === 'number' || typeof input === 'string' ? parseSize(input) : undefined;
  if (n === undefined || (n === Number.POSITIVE_INFINITY && !options.unlimited)) {
    return bad(`expected ${expected}, got ${describeValue(input)}`);
  }
  if (options.max && Number.isFinite(n) && n > options.max.value) {
    return bad(`expected a size up to ${options.max.value} (${options.max.why}), got ${describeValue(input)}`);
  }
  if (Number.isFinite(n) && n > SIZE_MAX) {
    return bad(`expected a size up to 2^50 (1 PiB)${options.unlimited ? ' or max' : ''}, got ${describeValue(input)}`);
  }
  return good(n);
}

/** A size that the kernel keeps in a u32 of `union bpf_attr`: key_size, value_size, max_entries. */
export const parseU32Size: FieldParser<number> = (input) =>
  parseSizeField(input, { max: { value: U32_MAX, why: 'a u32 in the kernel' } });

/** A size that may be `max` / `unlimited`: `memory.max`, `memory.high`, RLIMIT_MEMLOCK. */
export const parseLimit: FieldParser<number> = (input) => parseSizeField(input, { unlimited: true });

/** A size of memory a task allocates or locks: finite. */
export const parseBytes: FieldParser<number> = (input) => parseSizeField(input);

/** A count of updates or deletes: a whole number up to {@link SCENARIO_LIMITS.count}; `64Ki` reads too. */
export const parseCount: FieldParser<number> = (input) => {
  const n = typeof input === 'number' || typeof input === 'string' ? parseSize(input) : undefined;
  if (n === undefined || n > SCENARIO_LIMITS.count) {
    return bad(`expected a count (a whole number up to ${SCENARIO_LIMITS.count}), got ${describeValue(input)}`);
  }
  return good(n);
};

/** A whole number in `[min, max]`, as a number or decimal text. */
export function parseInteger(input: unknown, min: number, max: number): Result<number> {
  const n = typeof input === 'number' ? input : typeof input === 'string' && /^\s*\d{1,16}\s*$/.test(input) ? Number(input) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    return bad(`expected a whole number from ${min} to ${max}, got ${describeValue(input)}`);
  }
  return good(n);
}

/** `true` or `false`. */
export const parseBoolean: FieldParser<boolean> = (input) =>
  typeof input === 'boolean' ? good(input) : bad(`expected true or false, got ${describeValue(input)}`);

/** Any non-empty text: a reference to a task, map, program; checked against the names later. */
export const parseText: FieldParser<string> = (input) =>
  typeof input === 'string' && input.length > 0 ? good(input) : bad(`expected a name, got ${describeValue(input)}`);

/** Any text (the description). */
export const parseAnyText: FieldParser<string> = (input) =>
  typeof input === 'string' ? good(input) : bad(`expected text, got ${describeValue(input)}`);

/** The map types named when a type is unknown and none is close: the ones people use most. */
const COMMON_TYPES: readonly MapType[] = ['hash', 'array', 'percpu_hash', 'lru_hash', 'ringbuf', 'lpm_trie'];

/**
 * A map type by bpftool's name (`hash`, `lru_percpu_hash`); the kernel's enum name
 * (`BPF_MAP_TYPE_HASH`) and any letter case are read too.
 */
export const parseMapTypeField: FieldParser<MapType> = (input) => {
  if (typeof input !== 'string') return bad(`expected a map type such as hash or array, got ${describeValue(input)}`);
  const name = input.trim().toLowerCase().replace(/^bpf_map_type_/, '');
  if (isMapType(name)) return good(name);
  const near = closest(name, MAP_TYPE_NAMES);
  if (near !== undefined) return bad(`unknown map type ${quote(input)} (did you mean ${near}?)`);
  const shown = COMMON_TYPES.join(', ');
  return bad(`unknown map type ${quote(input)}; types are bpftool's names: ${shown}, … (${MAP_TYPE_NAMES.length} in all)`);
};

const FLAG_NAMES: readonly string[] = Object.keys(MAP_FLAGS);

/** `map_flags`: `no_prealloc+numa`, `no_prealloc|mmapable`, a list of names, or a number. */
export const parseFlagsField: FieldParser<number> = (input) => {
  let parsed: ReturnType<typeof parseFlags>;
  if (typeof input === 'number' || typeof input === 'string') {
    parsed = parseFlags(input);
  } else if (Array.isArray(input) && input.every((x): x is string | number => typeof x === 'string' || typeof x === 'number')) {
    parsed = parseFlags(input.map(String));
  } else {
    return bad(`expected map flags (no_prealloc+numa, a list of names or a number), got ${describeValue(input)}`);
  }
  if ('flags' in parsed) return good(parsed.flags);
  if (typeof input === 'number' || /^\s*(0x[0-9a-f]+|\d+)\s*$/i.test(parsed.unknown)) {
    return bad(`expected a flag word below 2^32, got ${describeValue(input)}`);
  }
  const some = FLAG_NAMES.slice(0, 4).join(', ');
  return bad(`unknown map flag ${quote(parsed.unknown)}${didYouMean(parsed.unknown, FLAG_NAMES)}; flags are ${some}, …`);
};

/** `map_extra`: a whole number below 2^53, decimal or `0x` hex (arena start addresses are hex). */
export const parseMapExtra: FieldParser<number> = (input) => {
  let n = NaN;
  if (typeof input === 'number') n = input;
  else if (typeof input === 'string' && /^\s*(0x[0-9a-f]{1,14}|\d{1,16})\s*$/i.test(input)) n = Number(input.trim());
  if (!Number.isSafeInteger(n) || n < 0) {
    return bad(`expected a whole number below 2^53 (decimal or 0x hex), got ${describeValue(input)}`);
  }
  return good(n);
};

/** A kernel release: `6.18`, `5.10.0-28-amd64` (version.ts: parseKernelVersion). */
export const parseRelease: FieldParser<string> = (input) => {
  if (typeof input === 'string' && input.length <= 64 && parseKernelVersion(input)) return good(input.trim());
  return bad(`expected a kernel version such as "6.18" or "5.10.0-28", got ${describeValue(input)}`);
};

/** Task names: they appear in messages and results, and `softirq` / `irq` are update contexts. */
export const parseTaskName: FieldParser<string> = (input) => {
  if (typeof input !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(input)) {
    return bad(`expected a task name of 1–64 characters A–Z a–z 0–9 _ . -, got ${describeValue(input)}`);
  }
  if (input === 'softirq' || input === 'irq') {
    return bad(`${quote(input)} cannot name a task: it is an update context`);
  }
  return good(input);
};

/**
 * Map and program names follow the kernel's object names (`bpf_obj_name_cpy()`: at most
 * BPF_OBJ_NAME_LEN - 1 = 15 characters of letters, digits, `_` and `.`), so that a scenario
 * runs unchanged on the live kernel.
 */
export const parseObjectName: FieldParser<string> = (input) => {
  if (typeof input !== 'string' || !/^[A-Za-z0-9_.]{1,15}$/.test(input)) {
    return bad(`expected a BPF object name (1–15 characters A–Z a–z 0–9 _ .), got ${describeValue(input)}`);
  }
  return good(input);
};

/**
 * A cgroup path: absolute, no trailing `/`, no empty, `.` or `..` components, names of letters,
 * digits and `. _ - @ : +` (enough for `kubepods.slice`, `user@1000.service`,
 * `cri-containerd-0a1b.scope`). `/` itself is the root.
 */
export const parseCgroupPath: FieldParser<string> = (input) => {
  if (typeof input !== 'string' || input.length === 0) {
    return bad(`expected a cgroup path such as /pods/agent, got ${describeValue(input)}`);
  }
  const q = quote(input);
  if (!input.startsWith('/')) return bad(`cgroup path ${q} is not absolute (start it with /)`);
  if (input === '/') return good(input);
  if (input.length > 4096) return bad(`cgroup path ${q} is longer than 4096 characters`);
  if (input.endsWith('/')) return bad(`cgroup path ${q} ends with /`);
  const names = input.slice(1).split('/');
  if (names.length > SCENARIO_LIMITS.cgroupDepth) {
    return bad(`cgroup path ${q} is deeper than ${SCENARIO_LIMITS.cgroupDepth} levels`);
  }
  for (const name of names) {
    if (name === '') return bad(`cgroup path ${q} has an empty name (//)`);
    if (name === '.' || name === '..') return bad(`cgroup path ${q} contains ${name}`);
    if (name.length > 255) return bad(`cgroup path ${q} has a name longer than 255 characters`);
    if (!/^[A-Za-z0-9._@:+-]+$/.test(name)) {
      return bad(`cgroup path ${q} has a character other than A–Z a–z 0–9 . _ - @ : +`);
    }
  }
  return good(input);
};

