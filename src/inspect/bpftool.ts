import * as v from 'valibot';
import { BpfmemError } from '../vocab/errors.js';
import { isMapType, type MapType } from '../vocab/maptypes.js';
import { mapId, progId, type MapId, type ProgId } from '../sys/bpf/index.js';
import { readInputFileAsync } from '../sys/file/index.js';
import { PROG_TYPES, type ProgType } from '../vocab/progtypes.js';

/**
 * `bpftool -j map show` and `bpftool -j prog show` output, read back: what users paste into
 * issues, and what `bpfmem maps --from-bpftool FILE` reads. The fields are those bpftool's
 * map.c `show_map_close_json` and prog.c `print_prog_json` print (libbpf/bpftool); which of
 * them appear depends on the bpftool version, its build (`pids` needs its BPF skeletons and a
 * kernel whose /proc/kallsyms lists `bpf_map_fops`) and the options (`pinned` with `-f`).
 *
 * Accepted: an array of objects (`-j`, `-j -p`), a single object (`map show id N`), or JSON
 * Lines (one object or array per line, as from several bpftool runs appended to one file).
 * Unknown fields are allowed; a known field with the wrong type is an error of one line that
 * names the source and the JSON path: `dump.json: [3].bytes_memlock: expected a non-negative
 * integer, got "12k"`.
 */

/** A process holding an object, as bpftool's pids.c `emit_obj_refs_json` prints it. */
export interface BpftoolPid {
  readonly pid: number;
  readonly comm: string;
}

/** One map of `bpftool -j map show`. */
export interface BpftoolMap {
  readonly id: MapId;
  /** As bpftool printed it: its name of the type, or the number for a type it cannot name. */
  readonly type: string | number;
  /** bpfmem's type for that name (the same names), undefined for one bpfmem does not know. */
  readonly mapType: MapType | undefined;
  /** Empty where bpftool printed none (the map has no name). */
  readonly name: string;
  readonly flags: number;
  readonly bytesKey: number;
  readonly bytesValue: number;
  readonly maxEntries: number;
  /** fdinfo `memlock`; undefined where bpftool printed none (an old kernel). */
  readonly bytesMemlock: number | undefined;
  readonly frozen: boolean | undefined;
  readonly btfId: number | undefined;
  /** Prog arrays: the type of the programs that may be tail-called (name, or number). */
  readonly ownerProgType: string | number | undefined;
  readonly ownerJited: boolean | undefined;
  /**
   * Paths in bpffs (`-f`): empty when not pinned; undefined where the dump has no `pinned` field
   * (no `-f`, or nothing pinned anywhere: tools/bpf/bpftool/map.c show_map_close_json() writes it
   * only `if (!hashmap__empty(map_table))`, and prog.c likewise).
   */
  readonly pinned: readonly string[] | undefined;
  /** Holding processes; empty where bpftool could not tell. */
  readonly pids: readonly BpftoolPid[];
}

/** One program of `bpftool -j prog show`. */
export interface BpftoolProg {
  readonly id: ProgId;
  /** As bpftool printed it: a type name, or the number. */
  readonly type: string | number;
  /** bpfmem's program type for that name, undefined for one bpfmem does not know. */
  readonly progType: ProgType | undefined;
  readonly name: string;
  /** 16 hex digits. */
  readonly tag: string | undefined;
  readonly gplCompatible: boolean | undefined;
  /** Seconds since the epoch (bpftool converts the kernel's boot-time nanoseconds). */
  readonly loadedAt: number | undefined;
  readonly uid: number | undefined;
  readonly orphaned: boolean | undefined;
  readonly bytesXlated: number | undefined;
  readonly jited: boolean | undefined;
  readonly bytesJited: number | undefined;
  /** fdinfo `memlock`: `prog->pages × PAGE_SIZE`. */
  readonly bytesMemlock: number | undefined;
  readonly mapIds: readonly MapId[];
  readonly btfId: number | undefined;
  readonly runTimeNs: number | undefined;
  readonly runCnt: number | undefined;
  readonly recursionMisses: number | undefined;
  /** As {@link BpftoolMap.pinned}. */
  readonly pinned: readonly string[] | undefined;
  readonly pids: readonly BpftoolPid[];
}

/** The most bpfmem reads of a bpftool dump: far beyond the 10,000 maps of a busy node (about 3 MiB). */
export const BPFTOOL_INPUT_LIMIT = 64 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// schemas

const UINT = 'a non-negative integer';
// bpftool prints u64 counters; past 2^53 a JSON number is no longer exact, and no map is that large.
const uint = v.pipe(v.number(UINT), v.integer(UINT), v.minValue(0, UINT), v.maxValue(Number.MAX_SAFE_INTEGER, 'an integer below 2^53'));
const u32 = v.pipe(uint, v.maxValue(0xffffffff, 'an integer below 2^32'));
const bool = v.boolean('true or false');
const text = v.string('a string');
/** `type` and `owner_prog_type`: a name, or the number bpftool prints for a type it cannot name. */
const TYPE = 'a type name or number';
const typeName = v.union([v.pipe(v.string(), v.minLength(1, TYPE)), u32], TYPE);
/** `frozen`: bpftool prints `jsonw_int_field(…, frozen)`, 0 or 1. */
const zeroOne = v.union([v.picklist([0, 1]), v.boolean()], '0 or 1');
const tag = v.pipe(v.string('16 hex digits'), v.regex(/^[0-9a-f]{16}$/i, '16 hex digits'));
const strings = v.array(text, 'an array of strings');
const PID = 'a positive integer';
const pids = v.array(v.looseObject({ pid: v.pipe(uint, v.minValue(1, PID)), comm: text }, 'an object'), 'an array of {pid, comm}');

/** What a required field holds, for the message when it is missing (valibot reports the object's message). */
const REQUIRED: Readonly<Record<string, string>> = {
  id: UINT,
  type: TYPE,
  flags: UINT,
  bytes_key: UINT,
  bytes_value: UINT,
  max_entries: UINT,
  pid: PID,
  comm: 'a string',
};

const mapSchema = v.looseObject(
  {
    id: u32,
    type: typeName,
    name: v.optional(text),
    flags: u32,
    bytes_key: u32,
    bytes_value: u32,
    max_entries: u32,
    bytes_memlock: v.optional(uint),
    frozen: v.optional(zeroOne),
    btf_id: v.optional(u32),
    owner_prog_type: v.optional(typeName),
    owner_jited: v.optional(bool),
    pinned: v.optional(strings),
    pids: v.optional(pids),
  },
  'an object',
);

const progSchema = v.looseObject(
  {
    id: u32,
    type: typeName,
    name: v.optional(text),
    tag: v.optional(tag),
    gpl_compatible: v.optional(bool),
    loaded_at: v.optional(uint),
    uid: v.optional(u32),
    orphaned: v.optional(bool),
    bytes_xlated: v.optional(u32),
    jited: v.optional(bool),
    bytes_jited: v.optional(u32),
    bytes_memlock: v.optional(uint),
    map_ids: v.optional(v.array(u32, 'an array of map ids')),
    btf_id: v.optional(u32),
    run_time_ns: v.optional(uint),
    run_cnt: v.optional(uint),
    recursion_misses: v.optional(uint),
    pinned: v.optional(strings),
    pids: v.optional(pids),
  },
  'an object',
);

type MapInput = v.InferOutput<typeof mapSchema>;
type ProgInput = v.InferOutput<typeof progSchema>;

function toMap(m: MapInput): BpftoolMap {
  return {
    id: mapId(m.id),
    type: m.type,
    mapType: typeof m.type === 'string' && isMapType(m.type) ? m.type : undefined,
    name: m.name ?? '',
    flags: m.flags,
    bytesKey: m.bytes_key,
    bytesValue: m.bytes_value,
    maxEntries: m.max_entries,
    bytesMemlock: m.bytes_memlock,
    frozen: m.frozen === undefined ? undefined : m.frozen === 1 || m.frozen === true,
    btfId: m.btf_id,
    ownerProgType: m.owner_prog_type,
    ownerJited: m.owner_jited,
    pinned: m.pinned,
    pids: (m.pids ?? []).map(({ pid, comm }) => ({ pid, comm })),
  };
}

const isProgType = (name: string): name is ProgType => Object.hasOwn(PROG_TYPES, name);

function toProg(p: ProgInput): BpftoolProg {
  return {
    id: progId(p.id),
    type: p.type,
    progType: typeof p.type === 'string' && isProgType(p.type) ? p.type : undefined,
    name: p.name ?? '',
    tag: p.tag,
    gplCompatible: p.gpl_compatible,
    loadedAt: p.loaded_at,
    uid: p.uid,
    orphaned: p.orphaned,
    bytesXlated: p.bytes_xlated,
    jited: p.jited,
    bytesJited: p.bytes_jited,
    bytesMemlock: p.bytes_memlock,
    mapIds: (p.map_ids ?? []).map(mapId),
    btfId: p.btf_id,
    runTimeNs: p.run_time_ns,
    runCnt: p.run_cnt,
    recursionMisses: p.recursion_misses,
    pinned: p.pinned,
    pids: (p.pids ?? []).map(({ pid, comm }) => ({ pid, comm })),
  };
}

// ---------------------------------------------------------------------------------------------
// errors

/** A JSON value in a message: strings quoted (and cut), containers by kind. */
function describeJson(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') {
    const s = JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
    return s;
  }
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return 'an array';
  return 'an object';
}

/** `[3].pids[0].comm` from a prefix and valibot's issue path. */
function pathOf(prefix: string, issue: v.BaseIssue<unknown>): string {
  let out = prefix;
  for (const item of issue.path ?? []) {
    const key: unknown = item.key;
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string') out += /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? (out === '' ? key : `.${key}`) : `[${JSON.stringify(key)}]`;
  }
  return out;
}

function fail(source: string, where: string, message: string): never {
  throw new BpfmemError('input', `${source}: ${where === '' ? '' : `${where}: `}${message}`);
}

/** Validates one element, throwing the one-line error of its first issue. */
function check<S extends v.GenericSchema>(schema: S, element: Element, source: string): v.InferOutput<S> {
  const r = v.safeParse(schema, element.value, { abortEarly: true });
  if (r.success) return r.output;
  const issue = r.issues[0];
  const where = whereOf(element, pathOf(element.path, issue));
  // A missing key: valibot reports `undefined` at the key's path, with the object's message.
  const last: unknown = issue.path?.at(-1)?.key;
  if (issue.input === undefined && typeof last === 'string') {
    fail(source, where, `expected ${REQUIRED[last] ?? 'a value'}, got nothing (the field is missing)`);
  }
  fail(source, where, `expected ${issue.message}, got ${describeJson(issue.input)}`);
}

// ---------------------------------------------------------------------------------------------
// text

/**
 * A JSON.parse message on one line, with the position as line and column: V8's messages differ
 * between Node versions (`… in JSON at position 10`, later with `(line 1 column 11)`) and may
 * quote the input, newlines and all.
 */
export function describeJsonError(message: string, text: string): string {
  const m = /^(.*?) in JSON at position (\d+)/s.exec(message);
  // Never the file's content: `simulate /etc/shadow` must not print a hash's first characters
  // (issue 14). V8 quotes the input (`"root:$y$j9"... is not valid JSON`) and the token.
  if (m?.[1] === undefined || m[2] === undefined) {
    const said = message
      .replace(/^Unexpected token .*$/s, 'Unexpected token')
      .replace(/,? *".*" is not valid JSON$/s, '')
      .replace(/\s+/g, ' ')
      .trim();
    return said === '' ? 'Unexpected input' : said;
  }
  const at = Math.min(Number(m[2]), text.length);
  const before = text.slice(0, at);
  const line = before.split('\n').length;
  const column = at - before.lastIndexOf('\n');
  return `${m[1].replace(/\s+/g, ' ').trim()} at line ${line}, column ${column}`;
}

function parseJson(text: string, source: string, where: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    return fail(source, where, `not JSON: ${describeJsonError(error instanceof Error ? error.message : String(error), text)}`);
  }
}

/** One object of a dump, with where it is: its JSON Lines line, and its index in an array. */
interface Element {
  readonly value: unknown;
  /** `[3]` in an array, empty for a lone object. */
  readonly path: string;
  /** The line, for JSON Lines input. */
  readonly line: number | undefined;
}

function elementsOf(value: unknown, line: number | undefined): Element[] {
  if (Array.isArray(value)) return value.map((item: unknown, i) => ({ value: item, path: `[${i}]`, line }));
  return [{ value, path: '', line }];
}

/** bpftool's own failure, `{"error": "can't get next map: Operation not permitted"}`, when `value` is one. */
function bpftoolError(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const keys = Object.keys(value);
  const said = (value as { error?: unknown }).error;
  return keys.length === 1 && typeof said === 'string' ? said : undefined;
}

/** `line 2: [1].flags`, `[3].bytes_memlock`, `flags`, or empty for the whole input. */
function whereOf(element: Element, path: string): string {
  if (element.line === undefined) return path;
  return path === '' ? `line ${element.line}` : `line ${element.line}: ${path}`;
}

/**
 * The objects of a dump, each with its JSON path prefix. A whole text that parses is an array
 * or one object; one that does not, but whose first line does, is JSON Lines.
 */
function splitInput(input: string | Uint8Array, source: string): Element[] {
  const size = typeof input === 'string' ? Buffer.byteLength(input) : input.byteLength;
  if (size > BPFTOOL_INPUT_LIMIT) {
    fail(source, '', `${(size / 2 ** 20).toFixed(1)} MiB is more than the ${BPFTOOL_INPUT_LIMIT / 2 ** 20} MiB bpfmem reads`);
  }
  let text: string;
  try {
    text = typeof input === 'string' ? input : new TextDecoder('utf-8', { fatal: true }).decode(input);
  } catch {
    fail(source, '', 'not UTF-8 text (bpftool writes its JSON in UTF-8)');
  }
  if (text.trim() === '') fail(source, '', 'empty: expected the output of bpftool -j');
  let whole: unknown;
  let wholeError: unknown;
  try {
    whole = JSON.parse(text) as unknown;
  } catch (error) {
    wholeError = error;
  }
  if (wholeError === undefined) {
    const said = bpftoolError(whole);
    if (said !== undefined) fail(source, '', `bpftool failed: ${JSON.stringify(said.slice(0, 200))}`);
    return elementsOf(whole, undefined);
  }
  const lines = text.split('\n');
  const first = lines.findIndex((l) => l.trim() !== '');
  const firstParses = (() => {
    try {
      JSON.parse(lines[first] ?? '');
      return true;
    } catch {
      return false;
    }
  })();
  if (!firstParses) parseJson(text, source, '');
  const out: Element[] = [];
  for (const [i, line] of lines.entries()) {
    if (line.trim() === '') continue;
    // No push(...): one line of `bpftool -j` is the whole array, 500,000 maps overflow the stack.
    for (const e of elementsOf(parseJson(line, source, `line ${i + 1}`), i + 1)) out.push(e);
  }
  return out;
}

/**
 * What the other dump's objects have and this one's never do: every map of `bpftool map show`
 * has `max_entries`, every program of `bpftool prog show` a `tag`. An object with it is the
 * other command's output, said as such rather than as its first field that does not fit.
 */
const OTHER = {
  map: { field: 'tag', said: 'a program (it has a tag): this is `bpftool -j prog show` output; bpfmem progs --from-bpftool reads it' },
  prog: { field: 'max_entries', said: 'a map (it has max_entries): this is `bpftool -j map show` output; bpfmem maps --from-bpftool reads it' },
} as const;

function parseAll<S extends v.GenericSchema, T>(input: string | Uint8Array, source: string, kind: 'map' | 'prog', schema: S, convert: (value: v.InferOutput<S>) => T): T[] {
  return splitInput(input, source).map((element) => {
    const { value } = element;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      fail(source, whereOf(element, element.path), `expected an object, got ${describeJson(value)}`);
    }
    if (Object.hasOwn(value, OTHER[kind].field)) fail(source, whereOf(element, element.path), OTHER[kind].said);
    return convert(check(schema, element, source));
  });
}

/**
 * Reads `bpftool -j map show` output (text or bytes) into typed records. `source` names the
 * input in errors (a file name, `stdin`). Throws a `BpfmemError` (`input`) of one line for
 * text that is not such output, or more than {@link BPFTOOL_INPUT_LIMIT} bytes.
 */
export function parseBpftoolMaps(input: string | Uint8Array, source: string): BpftoolMap[] {
  return parseAll(input, source, 'map', mapSchema, toMap);
}

/** Reads `bpftool -j prog show` output; see {@link parseBpftoolMaps}. */
export function parseBpftoolProgs(input: string | Uint8Array, source: string): BpftoolProg[] {
  return parseAll(input, source, 'prog', progSchema, toProg);
}

/**
 * Reads a file of bpftool output (`bpftool -j map show > dump.json`), bounded: a directory, a
 * device, a FIFO or a socket is refused before anything is read (a FIFO with no writer would
 * wait for good), and so is a file larger than {@link BPFTOOL_INPUT_LIMIT}. `-` is standard
 * input (`ssh node bpftool -j map show | bpfmem maps --from-bpftool -`), read under the same
 * bound. Throws a one-line `BpfmemError` (`input`) naming the file and what is wrong.
 */
export function readBpftoolFile(path: string): Promise<Uint8Array> {
  return readInputFileAsync(path, { limit: BPFTOOL_INPUT_LIMIT, what: 'bpftool dump' });
}
