import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ModelBackend } from '../model/backend.js';
import { isErrno } from '../vocab/errno.js';
import type { Regime } from '../vocab/profile.js';
import { parseScenario } from './parse.js';
import { runScenario, scenarioProfile } from './run.js';
import type { Scenario } from './types.js';

/*
 * Random scenarios, written to parse, are run on the model under every regime: the runner never
 * throws, every refused step carries an errno and a reason, the final state is sane, the same
 * scenario gives the same run every time, and closing every object it left open gives every
 * cgroup's BPF charge back to none, its value after the setup (the model frees a charge from
 * the cgroup that holds it, live, reparented or dying: src/model/kernel.property.test.ts).
 */

const KERNELS = ['5.10', '5.15', '6.1', '6.12', '6.18'] as const;
/** The setup's cgroups (/e with no task, for steps to remove); steps may also create the three below them that the setup leaves out. */
const PATHS = ['/a', '/a/b', '/a/b/c', '/d', '/e'] as const;
const STEP_PATHS = [...PATHS, '/a/f', '/d/g', '/e/h'] as const;
const TASKS = ['t0', 't1'] as const;
const TYPES = [
  ['hash', 8, 64, 'no_prealloc'],
  ['hash', 4, 8, ''],
  ['percpu_hash', 4, 128, 'no_prealloc'],
  ['lru_hash', 16, 32, ''],
  ['array', 4, 256, ''],
  ['percpu_array', 4, 64, ''],
  ['lpm_trie', 8, 8, 'no_prealloc'],
  ['ringbuf', 0, 0, ''],
  ['bloom_filter', 0, 8, ''],
  ['devmap_hash', 4, 4, ''],
  ['queue', 0, 16, ''],
] as const;

/** A limit: mostly room for a few maps, sometimes none (fast-check's integers lean to their small end). */
const size = fc.oneof(fc.integer({ min: 0, max: 64 * 1024 * 1024 }), fc.constantFrom('4Ki', '1Mi', '16Mi', '64Mi', '1Gi', 'max', 'max', 'max'));
const bytes = fc.oneof(fc.integer({ min: 0, max: 64 * 1024 * 1024 }), fc.constantFrom('4Ki', '1Mi', '16Mi'));
/** A CPU number, taken modulo the scenario's CPUs in {@link toDoc}: the parser refuses one past them. */
const cpu = fc.option(fc.nat(7), { nil: undefined });

/** Which open map a step names: taken modulo the maps open at that step in {@link toDoc}. */
const open = fc.nat(7);

/** Steps, weighted toward those that need an earlier one to succeed (updates before deletes, a cgroup emptied before its removal). */
const step = fc.oneof(
  { weight: 2, arbitrary: fc.record({ create_map: fc.record({ task: fc.constantFrom(...TASKS), kind: fc.nat(TYPES.length - 1), max_entries: fc.constantFrom(1, 64, 1000, 4096, 65536) }) }) },
  { weight: 3, arbitrary: fc.record({ update: fc.record({ map: open, count: fc.integer({ min: 0, max: 3000 }), context: fc.constantFrom('softirq', 'irq', ...TASKS), cpu }) }) },
  { weight: 3, arbitrary: fc.record({ delete: fc.record({ map: open, count: fc.integer({ min: 0, max: 100 }), cpu }) }) },
  { weight: 1, arbitrary: fc.record({ close: fc.record({ map: open }) }) },
  { weight: 1, arbitrary: fc.record({ load_prog: fc.record({ task: fc.constantFrom(...TASKS), insns: fc.integer({ min: 1, max: 10000 }) }) }) },
  { weight: 1, arbitrary: fc.record({ move_task: fc.record({ task: fc.constantFrom(...TASKS), cgroup: fc.constantFrom(...STEP_PATHS) }) }) },
  { weight: 1, arbitrary: fc.record({ create_cgroup: fc.record({ cgroup: fc.constantFrom(...STEP_PATHS), max: size, high: size }) }) },
  { weight: 2, arbitrary: fc.record({ remove_cgroup: fc.record({ cgroup: fc.constantFrom(...STEP_PATHS) }) }) },
  { weight: 1, arbitrary: fc.record({ set_limit: fc.record({ cgroup: fc.constantFrom(...STEP_PATHS), max: fc.option(size, { nil: undefined }), high: size }) }) },
  { weight: 1, arbitrary: fc.record({ alloc: fc.record({ task: fc.constantFrom(...TASKS), bytes }) }) },
  { weight: 1, arbitrary: fc.record({ free: fc.record({ task: fc.constantFrom(...TASKS), bytes }) }) },
  { weight: 1, arbitrary: fc.record({ mlock: fc.record({ task: fc.constantFrom(...TASKS), bytes: fc.integer({ min: 0, max: 1 << 20 }), via: fc.constantFrom('mlock', 'io_uring') }) }) },
);

const scenario = fc.record({
  kernel: fc.record({
    version: fc.constantFrom(...KERNELS),
    cpus: fc.integer({ min: 1, max: 8 }),
    cgroup: fc.constantFrom(1, 2),
    // Its own regime, or the kernel's default; none and memcg only on 5.11+ (the parser refuses the rest).
    regime: fc.constantFrom(undefined, 'memcg', 'memlock', 'none'),
  }),
  limits: fc.array(fc.record({ max: size, high: size }), { minLength: PATHS.length, maxLength: PATHS.length }),
  steps: fc.array(step, { minLength: 4, maxLength: 25 }),
});

type Generated = typeof scenario extends fc.Arbitrary<infer T> ? T : never;

const defined = (o: Record<string, unknown>): Record<string, unknown> => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

const parentOf = (path: string): string => path.slice(0, path.lastIndexOf('/')) || '/';

/**
 * The scenario file a generated value stands for, with what the parser refuses left out, so that
 * most files parse and run: memory.high on cgroup v1, a CPU past the kernel's, memcg or none
 * before 5.11, and steps that do not fit the state the steps before them made (a map or cgroup
 * that is not there, a cgroup that is, a removal of a cgroup with a task or a child, a task put
 * where cgroup v2 allows none). Maps and programs get names of their own, steps name open maps.
 */
function toDoc(s: Generated) {
  const v2 = s.kernel.cgroup === 2;
  const modern = s.kernel.version !== '5.10';
  const high = (h: unknown) => (v2 ? h : undefined);
  const onCpu = (c: number | undefined) => (c === undefined ? undefined : c % s.kernel.cpus);
  const regime = s.kernel.regime === 'memlock' || modern ? s.kernel.regime : undefined;
  // The state the steps make, as the parser follows it.
  const cgroups = new Set<string>(['/', ...PATHS]);
  const where: Record<string, string> = { t0: '/a/b/c', t1: '/d' };
  const maps: string[] = [];
  const inserted = new Map<string, number>();
  let made = 0;
  const hasChild = (p: string): boolean => [...cgroups].some((c) => c !== p && parentOf(c) === p);
  const hasTask = (p: string): boolean => Object.values(where).includes(p);
  const openMap = (i: number): string | undefined => maps[i % Math.max(maps.length, 1)];
  const steps = s.steps.map((st): Record<string, unknown> | undefined => {
    const [op, args] = (Object.entries(st)[0] ?? ['alloc', {}]) as [string, Record<string, unknown>];
    const path = args['cgroup'] as string;
    switch (op) {
      case 'create_map': {
        const [type, key, value, flags] = TYPES[args['kind'] as number] ?? TYPES[0];
        const name = `m${made++}`;
        maps.push(name);
        return { create_map: { task: args['task'], name, type, key, value, max_entries: type === 'ringbuf' ? 65536 : args['max_entries'], ...(flags ? { flags } : {}) } };
      }
      case 'update':
      case 'delete': {
        const map = openMap(args['map'] as number);
        if (map === undefined) return undefined;
        // Deletes of no more than the updates put in, so that some succeed (the model may have refused some of those).
        const had = inserted.get(map) ?? 0;
        const count = op === 'update' ? (args['count'] as number) : had > 0 ? Math.min(args['count'] as number, had) : (args['count'] as number);
        inserted.set(map, had + (op === 'update' ? count : -count));
        return { [op]: defined({ ...args, map, count, cpu: onCpu(args['cpu'] as number | undefined) }) };
      }
      case 'close': {
        const map = openMap(args['map'] as number);
        if (map === undefined) return undefined;
        maps.splice(maps.indexOf(map), 1);
        return { close: { map } };
      }
      case 'load_prog':
        return { load_prog: { ...args, name: `p${made++}` } };
      case 'move_task':
        if (!cgroups.has(path) || (v2 && hasChild(path))) return undefined;
        where[args['task'] as string] = path;
        return { move_task: args };
      case 'create_cgroup':
        if (cgroups.has(path) || !cgroups.has(parentOf(path)) || (v2 && hasTask(parentOf(path)))) return undefined;
        cgroups.add(path);
        return { create_cgroup: defined({ ...args, high: high(args['high']) }) };
      case 'remove_cgroup':
        if (!cgroups.has(path) || hasChild(path) || hasTask(path)) return undefined;
        cgroups.delete(path);
        return { remove_cgroup: args };
      case 'set_limit': {
        if (!cgroups.has(path)) return undefined;
        // At least one of the two: max where v1 has no high.
        const limits = defined({ ...args, high: high(args['high']) });
        return { set_limit: 'max' in limits || 'high' in limits ? limits : { ...limits, max: 'max' } };
      }
      default:
        return { [op]: args };
    }
  });
  return {
    kernel: defined({ version: s.kernel.version, cpus: s.kernel.cpus, cgroup: s.kernel.cgroup, regime }),
    cgroups: Object.fromEntries(PATHS.map((p, i) => [p, defined({ max: s.limits[i]?.max, high: high(s.limits[i]?.high) })])),
    // Leaves, so that cgroup v2's "no internal processes" lets the setup start them.
    tasks: { t0: { cgroup: '/a/b/c', uid: 1000, memlock: '16Mi' }, t1: { cgroup: '/d', uid: 1000 } },
    steps: steps.filter((x) => x !== undefined),
  };
}

const REGIMES = ['memcg', 'memlock', 'none', undefined] as const;
const RUNS = 300;

/** A scenario's run under a regime (its own when undefined), or undefined where its kernel has no such regime. */
async function runOf(s: Scenario, regime: Regime | undefined) {
  const profile = scenarioProfile(s, regime);
  if (typeof profile === 'string') return undefined;
  const backend = new ModelBackend(profile);
  return { backend, run: await runScenario(s, backend) };
}

describe('runScenario on random scenarios', () => {
  it('never throws, explains every refusal, runs the same twice, and gives back every BPF charge when all is closed', async () => {
    let ran = 0;
    let parsed = 0;
    /** The first file the parser refused: what toDoc should have left out. */
    let refusal: string | undefined;
    await fc.assert(
      fc.asyncProperty(scenario, async (g) => {
        const p = parseScenario(stringify(toDoc(g)), 'fuzz.yaml');
        if (!p.ok) {
          refusal ??= `${p.error.path}: ${p.error.message}`;
          return;
        }
        parsed++;
        for (const regime of REGIMES) {
          const first = await runOf(p.scenario, regime);
          if (!first) continue;
          const { backend, run } = first;
          ran++;
          for (const r of run.steps) {
            if (!r.ok) {
              expect(r.errno !== undefined && isErrno(r.errno)).toBe(true);
              expect(r.reason?.length).toBeGreaterThan(0);
              expect(r.reason).not.toMatch(/\n|undefined|NaN/);
            }
          }
          for (const c of run.final.cgroups) {
            expect(c.usage).toBeGreaterThanOrEqual(0);
            expect(Number.isInteger(c.usage)).toBe(true);
            expect(c.bpf).toBe(Object.values(c.bpfObjects).reduce((a, b) => a + b, 0));
          }
          // The same input, the same output: nothing of one run (a clock, a counter, an order) leaks into the next.
          expect((await runOf(p.scenario, regime))?.run).toEqual(run);
          // Conservation: every cgroup starts with no BPF charge (the setup makes none), and closing
          // every map and program the steps left open gives all of it back, wherever it went.
          for (const m of run.final.maps) expect((await backend.close('map', m.name)).ok).toBe(true);
          for (const q of run.final.progs) expect((await backend.close('prog', q.name)).ok).toBe(true);
          const end = await backend.snapshot();
          expect(end.maps).toEqual([]);
          for (const c of end.cgroups) expect({ path: c.path, bpf: c.bpf, objects: c.bpfObjects }).toEqual({ path: c.path, bpf: 0, objects: {} });
        }
      }),
      { numRuns: RUNS },
    );
    // The generator writes what the parser takes (src/scenario/parse.fuzz.test.ts tries what it refuses).
    expect(parsed, refusal).toBe(RUNS);
    expect(ran).toBeGreaterThan(2 * RUNS);
  });

  it('the generator reaches every regime and every operation, each succeeding somewhere (a fixed sample: chance cannot fail it)', async () => {
    const ops = new Set<string>();
    const regimes = new Set<string>();
    for (const g of fc.sample(scenario, { numRuns: RUNS, seed: 20261208 })) {
      const p = parseScenario(stringify(toDoc(g)), 'fuzz.yaml');
      if (!p.ok) continue;
      for (const regime of REGIMES) {
        const run = (await runOf(p.scenario, regime))?.run;
        if (!run) continue;
        regimes.add(run.regime);
        for (const r of run.steps) if (r.ok) ops.add(r.op);
      }
    }
    expect([...regimes].sort()).toEqual(['memcg', 'memlock', 'none']);
    expect([...ops].sort()).toEqual(['alloc', 'close', 'create_cgroup', 'create_map', 'delete', 'free', 'load_prog', 'mlock', 'move_task', 'remove_cgroup', 'set_limit', 'update'].sort());
  });

  it('a map of a cgroup just below the root, removed, then updated and closed, leaves the root at zero (a model bug the fuzz found)', async () => {
    const text = [
      'kernel: { version: "6.18", cpus: 1, cgroup: 1 }',
      'cgroups: { /d: {} }',
      'tasks: { t: { cgroup: /d } }',
      'steps:',
      '  - create_map: { task: t, name: m, type: hash, key: 8, value: 64, max_entries: 1, flags: no_prealloc }',
      '  - move_task: { task: t, cgroup: / }',
      '  - remove_cgroup: { cgroup: /d }',
      '  - update: { map: m, count: 1, context: softirq }',
      '  - close: { map: m }',
    ].join('\n');
    const p = parseScenario(text, 'bug.yaml');
    if (!p.ok) throw new Error(p.error.message);
    const run = await runOf(p.scenario, undefined);
    const root = run?.run.final.cgroups.find((c) => c.path === '/');
    // The model charged these elements to nobody but freed them from the root: bpf -6528, usage -4096.
    expect(root).toMatchObject({ bpf: 0, bpfObjects: {} });
    expect(root?.usage).toBeGreaterThanOrEqual(0);
  });
});
