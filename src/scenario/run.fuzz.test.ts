import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ModelBackend } from '../model/backend.js';
import { isErrno } from '../vocab/errno.js';
import { parseScenario } from './parse.js';
import { runScenario, scenarioProfile } from './run.js';

/*
 * Random scenarios that parse are run on the model under every regime: the runner never
 * throws, every refused step carries an errno and a reason, and the final state is sane.
 */

const KERNELS = ['5.10', '5.15', '6.1', '6.12', '6.18'] as const;
const PATHS = ['/a', '/a/b', '/a/b/c', '/d'] as const;
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

const size = fc.oneof(fc.integer({ min: 0, max: 64 * 1024 * 1024 }), fc.constantFrom('4Ki', '1Mi', '16Mi', 'max'));

const step = fc.oneof(
  fc.record({
    create_map: fc.record({
      task: fc.constantFrom('t0', 't1'),
      name: fc.constantFrom('m0', 'm1', 'm2', 'm3'),
      kind: fc.nat(TYPES.length - 1),
      max_entries: fc.constantFrom(1, 64, 1000, 4096, 65536),
    }),
  }),
  fc.record({ update: fc.record({ map: fc.constantFrom('m0', 'm1', 'm2', 'm3'), count: fc.integer({ min: 0, max: 3000 }), context: fc.constantFrom('softirq', 'irq', 't0', 't1') }) }),
  fc.record({ delete: fc.record({ map: fc.constantFrom('m0', 'm1', 'm2', 'm3'), count: fc.integer({ min: 0, max: 3000 }) }) }),
  fc.record({ close: fc.record({ map: fc.constantFrom('m0', 'm1', 'm2', 'm3') }) }),
  fc.record({ load_prog: fc.record({ task: fc.constantFrom('t0', 't1'), name: fc.constantFrom('p0', 'p1'), insns: fc.integer({ min: 1, max: 10000 }) }) }),
  fc.record({ move_task: fc.record({ task: fc.constantFrom('t0', 't1'), cgroup: fc.constantFrom(...PATHS) }) }),
  fc.record({ remove_cgroup: fc.record({ cgroup: fc.constantFrom(...PATHS) }) }),
  fc.record({ set_limit: fc.record({ cgroup: fc.constantFrom(...PATHS), max: size }) }),
  fc.record({ alloc: fc.record({ task: fc.constantFrom('t0', 't1'), bytes: size.filter((s) => s !== 'max') }) }),
  fc.record({ mlock: fc.record({ task: fc.constantFrom('t0', 't1'), bytes: fc.integer({ min: 0, max: 1 << 20 }), via: fc.constantFrom('mlock', 'io_uring') }) }),
);

const scenario = fc.record({
  kernel: fc.record({ version: fc.constantFrom(...KERNELS), cpus: fc.integer({ min: 1, max: 8 }), cgroup: fc.constantFrom(1, 2) }),
  limits: fc.array(size, { minLength: PATHS.length, maxLength: PATHS.length }),
  steps: fc.array(step, { maxLength: 25 }),
});

type Generated = typeof scenario extends fc.Arbitrary<infer T> ? T : never;

/** The scenario file a generated value stands for. */
function toDoc(s: Generated) {
  return {
    kernel: s.kernel,
    cgroups: Object.fromEntries(PATHS.map((p, i) => [p, { max: s.limits[i] }])),
    tasks: { t0: { cgroup: '/a/b/c', uid: 1000, memlock: '16Mi' }, t1: { cgroup: '/d', uid: 1000 } },
    steps: s.steps.map((st) => {
      const [op, args] = (Object.entries(st)[0] ?? ['alloc', {}]) as [string, Record<string, unknown>];
      if (op !== 'create_map') return { [op]: args };
      const [type, key, value, flags] = TYPES[args['kind'] as number] ?? TYPES[0];
      const max = type === 'ringbuf' ? 65536 : args['max_entries'];
      return { create_map: { task: args['task'], name: args['name'], type, key, value, max_entries: max, ...(flags ? { flags } : {}) } };
    }),
  };
}

describe('runScenario on random scenarios', () => {
  it('never throws, and explains every refusal', async () => {
    let ran = 0;
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const parsed = parseScenario(stringify(toDoc(s)), 'fuzz.yaml');
        if (!parsed.ok) {
          refused++;
          return;
        }
        for (const regime of ['memcg', 'memlock', undefined] as const) {
          const profile = scenarioProfile(parsed.scenario, regime);
          if (typeof profile === 'string') continue;
          const run = await runScenario(parsed.scenario, new ModelBackend(profile));
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
          }
        }
      }),
      { numRuns: 400 },
    );
    // Enough generated files are valid scenarios to mean something (the rest name a closed map,
    // a removed cgroup and the like, which the parser refuses).
    expect(ran).toBeGreaterThan(150);
    expect(refused).toBeLessThan(400);
  });
});
