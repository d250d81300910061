import * as v from 'valibot';

/**
 * The JSON of `bpfmem serve`'s API (docs/cli.md, built by src/inspect/json.ts), read back with a
 * check of its shape: the page trusts nothing it did not check, and a server of another version
 * shows as one line naming the URL, the field and what was wrong, not as a blank chart. Only the
 * fields the page shows are kept; others are ignored. Pure: no DOM, so tests run it in Node.
 */

const count = v.pipe(v.number(), v.integer(), v.minValue(0));
/** Bytes: a non-negative integer (JSON has no Infinity; `null` is "no limit"). */
const byteCount = count;
const text = v.string();

const KERNEL = v.object({
  version: text,
  release: text,
  cpus: count,
  page_size: count,
  cgroup: v.picklist([1, 2]),
  regime: v.picklist(['memcg', 'memlock', 'none']),
});

const ENVELOPE = {
  source: v.nullable(text),
  kernel: KERNEL,
  charges_unavailable: v.nullable(text),
  errors: v.array(text),
};

const CHARGED_TO = v.variant('kind', [
  v.object({ kind: v.literal('cgroup'), path: text, cgroup_id: text, label: v.nullable(text) }),
  v.object({ kind: v.literal('removed'), cgroup_id: text }),
  v.object({ kind: v.literal('nobody') }),
  v.object({ kind: v.literal('unknown') }),
]);

const HOLDER = v.object({ pid: count, comm: text, cgroup: v.nullable(text) });

const MAP = v.object({
  id: count,
  type: text,
  name: text,
  flags: count,
  bytes_key: count,
  bytes_value: count,
  max_entries: count,
  bytes_memlock: byteCount,
  memlock_source: v.picklist(['fdinfo', 'model']),
  charge: v.nullable(byteCount),
  uncharged: v.nullable(byteCount),
  charged_to: CHARGED_TO,
  pids: v.array(HOLDER),
  // null: pins were not looked for (serve does not walk bpffs; `maps --pins` does).
  pinned: v.nullable(v.array(text)),
});

const CGROUP = v.object({
  path: text,
  label: v.nullable(text),
  usage: byteCount,
  max: v.nullable(byteCount),
  // Negative when a cgroup is over its limit (usage above a limit lowered under it).
  headroom: v.nullable(v.pipe(v.number(), v.integer())),
  kernel: v.nullable(byteCount),
  bpf_own: byteCount,
  bpf_subtree: byteCount,
  objects_own: count,
  objects_subtree: count,
  bpf_share: v.pipe(v.number(), v.minValue(0)),
});

const WARNING = v.object({ kind: text, text });

const SUMMARY = v.object({
  ...ENVELOPE,
  regime_reason: v.nullable(text),
  maps: count,
  progs: count,
  memlock: byteCount,
  charged: byteCount,
  uncharged: byteCount,
  top_cgroups: v.array(CGROUP),
  largest_maps: v.array(MAP),
  warnings: v.array(WARNING),
});

const MAPS = v.object({ ...ENVELOPE, matched: v.optional(count), maps: v.array(MAP) });
const CGROUPS = v.object({ ...ENVELOPE, cgroups: v.array(CGROUP) });

const POINT = v.object({
  time: v.pipe(text, v.isoTimestamp()),
  maps: count,
  progs: count,
  memlock: byteCount,
  charged: byteCount,
  uncharged: byteCount,
  cgroups: v.array(v.object({ path: text, bpf_subtree: byteCount, usage: byteCount, max: v.nullable(byteCount) })),
  // bpfmem watch (docs/watch.md): refused map updates so far (null: not traced), and the paying
  // cgroups' time to their limit. Absent from servers before it.
  failures: v.optional(v.nullable(count)),
  etas: v.optional(v.array(v.object({ path: text, eta_seconds: v.pipe(v.number(), v.minValue(0)), growth_bytes_per_second: v.number() }))),
});

const HISTORY = v.object({ interval_seconds: v.pipe(v.number(), v.minValue(0)), points: v.array(POINT) });

const API_ERROR = v.object({ error: text });

export type Kernel = v.InferOutput<typeof KERNEL>;
export type ChargedTo = v.InferOutput<typeof CHARGED_TO>;
export type MapRow = v.InferOutput<typeof MAP>;
export type CgroupRow = v.InferOutput<typeof CGROUP>;
export type SummaryDoc = v.InferOutput<typeof SUMMARY>;
export type MapsDoc = v.InferOutput<typeof MAPS>;
export type CgroupsDoc = v.InferOutput<typeof CGROUPS>;
export type HistoryDoc = v.InferOutput<typeof HISTORY>;
export type HistoryPoint = v.InferOutput<typeof POINT>;

/** A decoded document, or one line saying what is wrong with it. */
export type Decoded<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly message: string };

/** The documents of the API, by what they are. */
export const DOCUMENTS = { summary: SUMMARY, maps: MAPS, cgroups: CGROUPS, history: HISTORY } as const;
export type DocumentKind = keyof typeof DOCUMENTS;
export type DocumentOf<K extends DocumentKind> = v.InferOutput<(typeof DOCUMENTS)[K]>;

/**
 * Checks a parsed JSON value against the shape of an API document. `where` names it in the
 * message (`/api/v1/maps`): `/api/v1/maps: maps.3.bytes_memlock: Invalid type: Expected number
 * but received "12k"`.
 */
export function decode<K extends DocumentKind>(kind: K, input: unknown, where: string): Decoded<DocumentOf<K>> {
  const r = v.safeParse(DOCUMENTS[kind], input);
  if (r.success) return { ok: true, value: r.output };
  const [first] = r.issues;
  const path = v.getDotPath(first);
  return { ok: false, message: oneLine(`${where}: ${path === null ? '' : `${path}: `}${first.message}`) };
}

/** The message of an API error body (`{"error": "one line"}`), if the body is one. */
export function apiError(input: unknown): string | undefined {
  const r = v.safeParse(API_ERROR, input);
  return r.success ? oneLine(r.output.error) : undefined;
}

/**
 * Text for one line of the page: control characters (a key or value with a newline in it)
 * escaped, and at most 300 characters.
 */
export function oneLine(text: string): string {
  let out = '';
  for (const c of text) {
    const code = c.charCodeAt(0);
    const control = code < 0x20 || (code >= 0x7f && code <= 0x9f) || code === 0x2028 || code === 0x2029;
    out += control ? `\\u${code.toString(16).padStart(4, '0')}` : c;
  }
  return out.length > 300 ? `${out.slice(0, 299)}…` : out;
}
