import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { formatScenarioError, parseScenario } from './parse.js';
import type { Scenario } from './types.js';

/**
 * Fuzzing the scenario parser: thousands of files made by mutating good ones (values, keys,
 * structure), by editing their text (truncation, garbage, YAML punctuation, anchors and
 * aliases), and by stringing YAML tokens together. Every input is small, so every case is
 * bounded in time; the properties are that parsing never throws, is deterministic, returns
 * either a scenario that keeps the parser's promises or exactly one line that starts with
 * the file's name.
 */

const SOURCE = 'fuzz/scenario.yaml';

/** Good scenarios to start from, as plain values. */
const SEEDS: readonly unknown[] = [
  {
    kernel: { version: '6.18', cpus: 64 },
    cgroups: { '/pods/agent': { max: '256Mi' } },
    tasks: { agent: { cgroup: '/pods/agent', uid: 0, memlock: '8Mi' } },
    steps: [
      { create_map: { task: 'agent', name: 'ct', type: 'lru_hash', key: 56, value: 56, max_entries: 524288 } },
      { update: { map: 'ct', count: 100000, context: 'softirq' } },
      { move_task: { task: 'agent', cgroup: '/pods' } },
      { remove_cgroup: { cgroup: '/pods/agent' } },
      { close: { map: 'ct' } },
    ],
  },
  {
    description: 'two users of one uid share locked_vm',
    kernel: { version: '5.10', cpus: 4, page_size: 4096, regime: 'memlock', cgroup: 1 },
    cgroups: { '/a': { max: 'max' }, '/b/c': {} },
    tasks: { a: { uid: 1000, memlock: '64Ki' }, b: { uid: 1000, cgroup: '/b/c', cap_ipc_lock: true } },
    steps: [
      { create_map: { task: 'a', name: 'arr', type: 'percpu_array', key: 4, value: 64, max_entries: 128, flags: 'numa' } },
      { load_prog: { task: 'b', name: 'prog', insns: 4096 } },
      { mlock: { task: 'b', bytes: '32Ki', via: 'io_uring' } },
      { update: { map: 'arr', count: 10, context: 'b', cpu: 3 } },
      { delete: { map: 'arr', count: 1 } },
      { create_cgroup: { cgroup: '/a/x', max: '1Mi' } },
      { set_limit: { cgroup: '/a/x', max: '2Mi' } },
      { alloc: { task: 'a', bytes: 4096 } },
      { free: { task: 'a', bytes: 4096 } },
      { close: { prog: 'prog' } },
    ],
  },
  {
    kernel: '6.1',
    tasks: { t: {} },
    steps: [
      { create_map: { task: 't', name: 'rb', type: 'ringbuf', max_entries: '256Ki' } },
      { create_map: { task: 't', name: 'h', type: 'hash', key: 4, value: 8, max_entries: 1000, flags: ['no_prealloc'] } },
      { update: { map: 'h', count: '1Ki', context: 'irq' } },
    ],
  },
];

// Each seed must be good, or the fuzzing starts from nowhere.
for (const seed of SEEDS) {
  const r = parseScenario(JSON.stringify(seed), SOURCE);
  if (!r.ok) throw new Error(`bad seed: ${formatScenarioError(r.error)}`);
}

/** Values that sit near the edges of what the parser accepts. */
const edgeValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom<unknown>(
    -5, -1, 0, 1, 0.5, 2 ** 32, 2 ** 53, 1e308, Number.NaN, Number.POSITIVE_INFINITY,
    '64Ki', '8Mi', '1.5Gi', 'max', 'unlimited', '', ' ', 'hsh', 'hash', 'BPF_MAP_TYPE_ARRAY',
    '/', '//a', '/a/', '/pods/../x', '/pods', '/pods/agent', 'softirq', 'irq', 'agent', 'ct', 't', 'a',
    'no_prealloc+numa', 'bogus_flag', '0x10', '6.10', '5.4', 'memcg', 'memlock', 'none', 'io_uring',
    true, false, null, [], {},
  ),
  fc.jsonValue({ maxDepth: 2 }),
  fc.string({ maxLength: 12 }),
  fc.integer(),
  fc.double(),
);

/** Keys: the format's own, tricky ones, and random text. */
const edgeKey: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    'task', 'name', 'type', 'key', 'value', 'max_entries', 'flags', 'map_extra', 'map', 'count', 'context',
    'cpu', 'prog', 'insns', 'cgroup', 'max', 'high', 'uid', 'memlock', 'cap_ipc_lock', 'bytes', 'via',
    'kernel', 'cgroups', 'tasks', 'steps', 'description', 'version', 'cpus', 'page_size', 'regime',
    'create_map', 'update', 'close', 'remove_cgroup', '__proto__', 'constructor', 'toString', '<<', '/x',
  ),
  fc.string({ maxLength: 10 }),
);

/** An edit of a value tree; `at` picks a node, modulo the number of candidates. */
type TreeEdit =
  | { readonly kind: 'set'; readonly at: number; readonly value: unknown }
  | { readonly kind: 'delete'; readonly at: number }
  | { readonly kind: 'rename'; readonly at: number; readonly key: string }
  | { readonly kind: 'add'; readonly at: number; readonly key: string; readonly value: unknown }
  | { readonly kind: 'repeat'; readonly at: number }
  | { readonly kind: 'swap'; readonly at: number; readonly with: number };

const treeEdit: fc.Arbitrary<TreeEdit> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: edgeValue }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('rename' as const), at: fc.nat(), key: edgeKey }),
  fc.record({ kind: fc.constant('add' as const), at: fc.nat(), key: edgeKey, value: edgeValue }),
  fc.record({ kind: fc.constant('repeat' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('swap' as const), at: fc.nat(), with: fc.nat() }),
);

type Container = Record<string, unknown> | unknown[];
const isContainer = (x: unknown): x is Container => typeof x === 'object' && x !== null;

/** Every container in a tree with its entries' keys, in a fixed order. */
function containers(root: unknown): Container[] {
  const out: Container[] = [];
  const visit = (x: unknown, depth: number): void => {
    if (!isContainer(x) || depth > 16) return;
    out.push(x);
    for (const v of Object.values(x)) visit(v, depth + 1);
  };
  visit(root, 0);
  return out;
}

/** Sets an own property, even `__proto__`. */
function put(obj: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * Applies edits to a copy of `seed`. A `repeat` may make two places share a value: YAML writes an
 * alias. An edit's value goes in as a copy: the `[]` and `{}` of `edgeValue` are one object each
 * for the whole run, and a later edit that changed the one it put in (or put it into itself)
 * changed, or made circular, every value fast-check drew of it after.
 */
function applyTreeEdits(seed: unknown, drawn: readonly TreeEdit[]): unknown {
  const root: unknown = structuredClone(seed);
  const edits = drawn.map((e) => ('value' in e ? { ...e, value: structuredClone(e.value) } : e));
  for (const edit of edits) {
    const all = containers(root);
    const c = all[edit.at % all.length];
    if (c === undefined) continue;
    const keys = Object.keys(c);
    const key = keys[edit.at % Math.max(keys.length, 1)];
    if (Array.isArray(c)) {
      const i = key === undefined ? 0 : Number(key);
      if (edit.kind === 'set') c[i] = edit.value;
      else if (edit.kind === 'delete') c.splice(i, 1);
      else if (edit.kind === 'add') c.splice(i, 0, edit.value);
      else if (edit.kind === 'repeat' && i < c.length) c.splice(i, 0, c[i]);
      else if (edit.kind === 'swap' && c.length > 1) {
        const j = edit.with % c.length;
        [c[i], c[j]] = [c[j], c[i]];
      }
      continue;
    }
    if (edit.kind === 'add') put(c, edit.key, edit.value);
    if (key === undefined) continue;
    if (edit.kind === 'set') put(c, key, edit.value);
    else if (edit.kind === 'delete') Reflect.deleteProperty(c, key);
    else if (edit.kind === 'rename') {
      const v = c[key];
      Reflect.deleteProperty(c, key);
      put(c, edit.key, v);
    } else if (edit.kind === 'repeat') put(c, `${key}2`, c[key]);
  }
  return root;
}

/** Ways to write a tree as text. */
const writer = fc.constantFrom(
  (x: unknown) => JSON.stringify(x),
  (x: unknown) => JSON.stringify(x, null, 2),
  (x: unknown) => stringify(x),
  (x: unknown) => stringify(x, { collectionStyle: 'flow' }),
);

/** Pieces of YAML syntax, and bytes that are not. */
const garbage: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '&a ', '*a', '&b [*a, *a] ', '[', ']', '{', '}', ': ', '- ', ',', '\n', '\n  ', '\n    - ', '\t', '#', '!!binary ',
    '!tag ', '!!str ', '"', "'", '%YAML 1.1\n---\n', '---\n', '...\n', '<<: *a\n', '? ', '|\n', '>-\n', '\u0000', '\uFEFF',
    '\r\n', '\u2028', '~', 'null', '0x', '1e400', '&x [*x]', 'steps: &s [*s]',
  ),
  fc.string({ unit: 'binary', maxLength: 8 }),
  fc.string({ unit: 'grapheme-ascii', maxLength: 16 }),
);

/** An edit of a text; `at` is a position modulo the text's length. */
type TextEdit =
  | { readonly kind: 'truncate'; readonly at: number }
  | { readonly kind: 'insert'; readonly at: number; readonly text: string }
  | { readonly kind: 'cut'; readonly at: number; readonly length: number }
  | { readonly kind: 'copy'; readonly at: number; readonly length: number };

const textEdit: fc.Arbitrary<TextEdit> = fc.oneof(
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: garbage }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ kind: fc.constant('copy' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 80 }) }),
);

function applyTextEdits(text: string, edits: readonly TextEdit[]): string {
  let t = text;
  for (const edit of edits) {
    const at = edit.at % (t.length + 1);
    if (edit.kind === 'truncate') t = t.slice(0, at);
    else if (edit.kind === 'insert') t = t.slice(0, at) + edit.text + t.slice(at);
    else if (edit.kind === 'cut') t = t.slice(0, at) + t.slice(at + edit.length);
    else t = t.slice(0, at) + t.slice(at, at + edit.length) + t.slice(at);
  }
  return t;
}

const seed = fc.constantFrom(...SEEDS);

/** Files from mutated trees, written in one of the styles: mostly good YAML, often wrong scenarios. */
const mutatedTree: fc.Arbitrary<string> = fc
  .tuple(seed, fc.array(treeEdit, { minLength: 1, maxLength: 6 }), writer)
  .map(([s, edits, write]) => write(applyTreeEdits(s, edits)));

/** The same, then edited as text: truncated, cut, copied, with garbage put in. */
const mutatedText: fc.Arbitrary<string> = fc
  .tuple(mutatedTree, fc.array(textEdit, { minLength: 1, maxLength: 4 }))
  .map(([text, edits]) => applyTextEdits(text, edits));

/** Files strung together from YAML tokens and scalars of the format. */
const tokenSoup: fc.Arbitrary<string> = fc
  .array(fc.oneof(garbage, edgeKey.map((k) => `${k}: `), edgeValue.map((v) => JSON.stringify(v))), { maxLength: 60 })
  .map((parts) => parts.join(''));

/** The parser's promises about a scenario it accepts. */
function checkScenario(s: Scenario): void {
  expect(s.source).toBe(SOURCE);
  const cgroups = new Set(['/']);
  for (const c of s.cgroups) {
    const parent = c.path.slice(0, c.path.lastIndexOf('/')) || '/';
    expect(cgroups.has(parent), `parent of ${c.path} comes first`).toBe(true);
    expect(cgroups.has(c.path), `${c.path} once`).toBe(false);
    cgroups.add(c.path);
    expect(c.max >= 0 && c.high >= 0).toBe(true);
  }
  const tasks = new Set(s.tasks.map((t) => t.name));
  for (const t of s.tasks) expect(cgroups.has(t.cgroup)).toBe(true);
  const maps = new Set<string>();
  s.steps.forEach((step, i) => {
    expect(step.index).toBe(i);
    if ('task' in step) expect(tasks.has(step.task)).toBe(true);
    if (step.op === 'create_map') maps.add(step.name);
    if (step.op === 'update' || step.op === 'delete') {
      expect(maps.has(step.map)).toBe(true);
      expect(Number.isSafeInteger(step.count) && step.count >= 0).toBe(true);
    }
  });
}

/** Parses, and checks what comes back whatever it is. */
function parseAndCheck(text: string): void {
  const r = parseScenario(text, SOURCE);
  expect(parseScenario(text, SOURCE)).toEqual(r);
  if (r.ok) {
    checkScenario(r.scenario);
    return;
  }
  const line = formatScenarioError(r.error);
  expect(line).not.toMatch(/[\n\r\u2028\u2029]/);
  expect(line.startsWith(`${SOURCE}:`)).toBe(true);
  expect(r.error.source).toBe(SOURCE);
  expect(r.error.message.length).toBeGreaterThan(0);
  if (r.error.line !== undefined) {
    expect(Number.isInteger(r.error.line) && r.error.line >= 1).toBe(true);
    expect(r.error.line).toBeLessThanOrEqual(text.split(/\r\n|\r|\n/).length + 1);
  }
}

describe('parseScenario under fuzzing', () => {
  it("the tree edits leave the values drawn for them as they were (fast-check draws one `{}` for the whole run)", () => {
    const shared = {};
    // The second edit's container is the first one's value: the tree's containers are the root, then it.
    const tree = applyTreeEdits({ a: 1 }, [
      { kind: 'add', at: 0, key: 'x', value: shared },
      { kind: 'add', at: 1, key: 'y', value: shared },
    ]);
    expect(shared).toEqual({});
    expect(JSON.parse(JSON.stringify(tree))).toEqual({ a: 1, x: { y: {} } });
  });

  it('never throws on mutated scenarios, and answers with a scenario or one line', () => {
    fc.assert(fc.property(mutatedTree, parseAndCheck), { numRuns: 2500 });
  });

  it('never throws on mutated scenario text', () => {
    fc.assert(fc.property(mutatedText, parseAndCheck), { numRuns: 2500 });
  });

  it('never throws on YAML token soup', () => {
    fc.assert(fc.property(tokenSoup, parseAndCheck), { numRuns: 2000 });
  });

  it('never throws on arbitrary text', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), parseAndCheck), { numRuns: 1000 });
  });

  it('refuses deep nesting and alias growth of any shape without hanging', () => {
    const deep = fc.tuple(fc.integer({ min: 60, max: 1500 }), fc.constantFrom('[', '{a: ', '- ', '\n a:')).map(([n, open]) => {
      if (open.startsWith('\n')) return Array.from({ length: n }, (_, i) => `${' '.repeat(i)}a:`).join('\n');
      return open.repeat(n);
    });
    const aliasLadder = fc.tuple(fc.integer({ min: 2, max: 12 }), fc.integer({ min: 2, max: 12 })).map(([levels, width]) => {
      const lines = ['l0: &l0 [x, x]'];
      for (let i = 1; i <= levels; i++) lines.push(`l${i}: &l${i} [${Array(width).fill(`*l${i - 1}`).join(', ')}]`);
      return lines.join('\n');
    });
    fc.assert(fc.property(fc.oneof(deep, aliasLadder), parseAndCheck), { numRuns: 100 });
  });
});
