import * as v from 'valibot';
import {
  describeValue,
  didYouMean,
  parseAnyText,
  parseBoolean,
  parseBytes,
  parseCgroupPath,
  parseCount,
  parseFlagsField,
  parseInteger,
  parseLimit,
  parseMapExtra,
  parseMapTypeField,
  parseObjectName,
  parseRelease,
  parseSizeField,
  parseText,
  parseU32Size,
  type FieldParser,
} from '../vocab/fields.js';
import { ARCHES, PAGE_SIZES } from '../model/profile.js';
import { SCENARIO_LIMITS, U32_MAX } from '../vocab/limits.js';
import type { PathSegment } from './parse-yaml.js';
import type { Result } from '../vocab/result.js';
import type { CgroupVersion } from '../vocab/profile.js';

/**
 * The shapes of a scenario file, as valibot schemas: which keys each mapping takes, which are
 * required, and how each value is read. Names that refer to other parts of the file (a step's
 * task, map, cgroup) are checked afterwards, in order, by `parse-steps.ts`.
 */

/** Whether a plain value is a mapping (not a list, not null). */
export function isMapping(input: unknown): input is Record<string, unknown> {
  return typeof input === 'object' && input !== null && !Array.isArray(input);
}

/** A schema that reads a value with a field parser (`parse-fields.ts`) and keeps its message. */
function field<T>(parse: FieldParser<T>) {
  return v.pipe(
    v.unknown(),
    v.rawTransform<unknown, T>(({ dataset, addIssue, NEVER }) => {
      const r = parse(dataset.value);
      if (r.ok) return r.value;
      addIssue({ message: r.error });
      return NEVER;
    }),
  );
}

/** The top level of a scenario file. Sections are read one by one, with their own schemas. */
const FILE_ENTRIES = {
  description: v.optional(field(parseAnyText)),
  kernel: v.optional(v.unknown()),
  cgroups: v.optional(v.unknown()),
  tasks: v.optional(v.unknown()),
  steps: v.optional(v.unknown()),
};

/** The keys of a scenario file's top level, in the order docs/scenarios.md lists them. */
export const TOP_KEYS: readonly string[] = Object.keys(FILE_ENTRIES);

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_-]{0,39}$/;

/**
 * Whether a file whose top-level mapping has these keys reads as a scenario: some key is one of
 * {@link TOP_KEYS}, or every key is a typo of one (`stpes:`), to be named as one. Anything else
 * (`password: …`, the `Name:` of /proc/self/status, a list, a word) may be any file at all, and
 * its content is never repeated in an error (docs/cli.md; issue 14). No key at all (`{}`) is an
 * empty scenario.
 */
export function readsAsScenario(keys: readonly string[] | undefined): boolean {
  if (keys === undefined) return false;
  return keys.some((key) => TOP_KEYS.includes(key)) || keys.every((key) => IDENTIFIER.test(key) && didYouMean(key, TOP_KEYS) !== '');
}

/** What kind of value the top of a file is, never what it says: `a string`, `a number`, `a list`. */
function kindOf(input: unknown): string {
  if (input === null || input === undefined) return 'null';
  if (Array.isArray(input)) return 'a list';
  if (typeof input === 'object') return 'a mapping';
  return typeof input === 'boolean' ? 'a boolean' : `a ${typeof input}`;
}

/** The error of a file that is not a scenario: what kind of file it is not, never what it says. */
export function notAScenario(yaml?: 'not valid YAML' | 'unsupported YAML'): string {
  const none = `none of its top-level keys is one of ${TOP_KEYS.join(', ')}`;
  return `not a scenario: ${yaml === undefined ? none : `${yaml}, and ${none}`}`;
}

/**
 * A mapping with exactly these keys (valibot's strict object). Unknown keys are reported first,
 * with the closest known key, so that a typo reads as a typo rather than as a missing key.
 */
function mapping<const E extends v.ObjectEntries>(entries: E, top = false) {
  const known = Object.keys(entries);
  const expected = `expected a mapping with keys ${known.join(', ')}`;
  // The top of a file that may be no scenario at all (`simulate /etc/shadow`): its content is
  // never repeated, only what kind of value it is and keys that read as names (issue 14).
  const shown = (input: unknown): string => (top ? kindOf(input) : describeValue(input));
  return v.pipe(
    v.unknown(),
    v.rawCheck(({ dataset, addIssue }) => {
      const input = dataset.value;
      if (!isMapping(input)) {
        addIssue({ message: `${expected}; got ${shown(input)}` });
        return;
      }
      const keys = Object.keys(input);
      if (top && !readsAsScenario(keys)) {
        addIssue({ message: notAScenario() });
        return;
      }
      for (const key of keys) {
        if (known.includes(key)) continue;
        if (top && !IDENTIFIER.test(key)) {
          addIssue({ message: `not a scenario: a top-level key is not one of ${known.join(', ')}` });
          return;
        }
        addIssue({
          message: `unknown key${didYouMean(key, known)}; expected one of ${known.join(', ')}`,
          path: [{ type: 'object', origin: 'key', input, key, value: input[key] }],
        });
        return;
      }
    }),
    v.strictObject(entries, (issue) => (issue.path ? 'required key is missing' : `${expected}; got ${describeValue(issue.input)}`)),
  );
}

const optional = <S extends v.GenericSchema>(schema: S) => v.optional(schema);

const name = field(parseText);
const cgroupPath = field(parseCgroupPath);
const limit = field(parseLimit);
const bytes = field(parseBytes);
const count = field(parseCount);
/** A CPU number; `num_possible_cpus()` is at most 8192 here (model/profile.ts). */
const cpu = field((x) => parseInteger(x, 0, 8191));

const pageSize = field((x): Result<number> => {
  const n = parseSizeField(x);
  if (n.ok && PAGE_SIZES.includes(n.value)) return n;
  return { ok: false, error: `expected a page size of 4096, 16384 or 65536 (4Ki, 16Ki, 64Ki), got ${describeValue(x)}` };
});

/** The cgroup version, 1 or 2: a number, or text as `cpus` and `uid` are read (`"2"`). */
const cgroupVersion = field((x): Result<CgroupVersion> => {
  const n = parseInteger(x, 1, 2);
  if (n.ok && (n.value === 1 || n.value === 2)) return { ok: true, value: n.value };
  return { ok: false, error: `expected 1 or 2 (the cgroup version), got ${describeValue(x)}` };
});

const picklist = <const T extends readonly (string | number)[]>(options: T, hint: string) =>
  v.picklist(options, (issue) => `expected ${hint}, got ${describeValue(issue.input)}`);

/** The top level of a scenario file. */
export const FILE = mapping(FILE_ENTRIES, true);

/** `kernel` as a mapping (it may also be a bare version string). */
export const KERNEL = mapping({
  version: optional(field(parseRelease)),
  cpus: optional(field((x) => parseInteger(x, 1, 8192))),
  page_size: optional(pageSize),
  regime: optional(picklist(['memcg', 'memlock', 'none'], 'memcg, memlock or none')),
  cgroup: optional(cgroupVersion),
  arch: optional(picklist(ARCHES, `${ARCHES.join(' or ')} (the kernel's architecture)`)),
});

/** A value of `cgroups`: the limits of one cgroup. */
export const CGROUP = mapping({ max: optional(limit), high: optional(limit) });

/** A value of `tasks`: one task. */
export const TASK = mapping({
  cgroup: optional(cgroupPath),
  /** uid_t is a u32 and (uid_t)-1 means "no uid". */
  uid: optional(field((x) => parseInteger(x, 0, U32_MAX - 1))),
  memlock: optional(limit),
  cap_ipc_lock: optional(field(parseBoolean)),
});

/** The arguments of each step operation. */
export const STEP_ARGS = {
  create_map: mapping({
    task: name,
    name: field(parseObjectName),
    type: field(parseMapTypeField),
    key: optional(field(parseU32Size)),
    value: optional(field(parseU32Size)),
    max_entries: optional(field(parseU32Size)),
    flags: optional(field(parseFlagsField)),
    map_extra: optional(field(parseMapExtra)),
    struct_ops_funcs: optional(field((x) => parseInteger(x, 0, U32_MAX))),
    struct_ops_members: optional(field((x) => parseInteger(x, 0, U32_MAX))),
  }),
  update: mapping({ map: name, count: optional(count), context: optional(name), cpu: optional(cpu) }),
  delete: mapping({ map: name, count: optional(count), cpu: optional(cpu) }),
  close: mapping({ map: optional(name), prog: optional(name) }),
  load_prog: mapping({
    task: name,
    name: field(parseObjectName),
    insns: field((x) => parseInteger(x, 1, SCENARIO_LIMITS.insns)),
  }),
  move_task: mapping({ task: name, cgroup: cgroupPath }),
  create_cgroup: mapping({ cgroup: cgroupPath, max: optional(limit), high: optional(limit) }),
  remove_cgroup: mapping({ cgroup: cgroupPath }),
  set_limit: mapping({ cgroup: cgroupPath, max: optional(limit), high: optional(limit) }),
  alloc: mapping({ task: name, bytes }),
  free: mapping({ task: name, bytes }),
  mlock: mapping({ task: name, bytes, via: optional(picklist(['mlock', 'io_uring'], 'mlock or io_uring')) }),
} as const;

/** A step operation name, as a file writes it. */
export type StepOpName = keyof typeof STEP_ARGS;

/** The step operations, in the order docs/scenarios.md lists them. */
export const STEP_OPS = Object.keys(STEP_ARGS) as StepOpName[];

/** Whether `name` is a step operation. */
export function isStepOp(name: string): name is StepOpName {
  return Object.hasOwn(STEP_ARGS, name);
}

/** The validated arguments of a step operation. */
export type StepArgs<K extends StepOpName> = v.InferOutput<(typeof STEP_ARGS)[K]>;

/** The first problem with a value, as a path from the file's top and a message. */
export interface SchemaIssue {
  readonly path: readonly PathSegment[];
  readonly message: string;
}

/** Validates `input` found at `at`; the first issue only (valibot's `abortEarly`). */
export function validate<S extends v.GenericSchema>(
  schema: S,
  input: unknown,
  at: readonly PathSegment[],
): Result<v.InferOutput<S>, SchemaIssue> {
  const r = v.safeParse(schema, input, { abortEarly: true });
  if (r.success) return { ok: true, value: r.output };
  const [first] = r.issues;
  const path: PathSegment[] = [...at];
  for (const item of first.path ?? []) {
    path.push(typeof item.key === 'number' ? item.key : String(item.key));
  }
  return { ok: false, error: { path, message: first.message } };
}
