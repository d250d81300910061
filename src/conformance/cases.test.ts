import { describe, expect, it } from 'vitest';
import { ModelBackend } from '../model/backend.js';
import { makeProfile } from '../model/profile.js';
import type { KernelProfile } from '../vocab/profile.js';
import { gridCases } from './cases.js';
import { runConformance } from './run.js';
import type { GridResult } from './report.js';

/** The grid's insn_array (6.19+) and rhash (7.2+) cases: gated by version, and self-consistent. */

function profile(version: string): KernelProfile {
  const made = makeProfile({ version, cpus: 2, pageSize: 4096, cgroup: 2 });
  if (!made.ok) throw new Error(made.error);
  return made.value;
}

const NEW_TYPES: readonly string[] = ['insn_array', 'rhash'];

describe('grid cases of the 6.19 and 7.2 map types', () => {
  it('are left out where the kernel does not have the type', () => {
    expect(gridCases(profile('6.18'), false).filter((g) => NEW_TYPES.includes(g.spec.type))).toEqual([]);
    expect(gridCases(profile('7.1'), true).map((g) => g.spec.type).filter((t) => NEW_TYPES.includes(t))).toEqual(['insn_array', 'insn_array']);
  });

  it('are in the --quick grid of 7.2, with inserts from a task and from softirq', () => {
    const ids = gridCases(profile('7.2'), true)
      .filter((g) => NEW_TYPES.includes(g.spec.type))
      .map((g) => g.id);
    expect(ids).toEqual([
      'rhash k8 v64 max65536 no_prealloc +10000 task',
      'rhash k16 v248 max100000 no_prealloc extra65535 +3000 task',
      'rhash k4 v4 max1000 no_prealloc extra100 +500 softirq',
      'insn_array k4 v16 max1',
      'insn_array k4 v16 max100000 +1000 task',
    ]);
  });

  it('agree with the model standing in for the kernel (memlock exact, charges equal)', async () => {
    const p = profile('7.2');
    const report = await runConformance({ kernel: new ModelBackend(p), profile: p, quick: true, sleep: () => Promise.resolve() });
    const ours = report.cases.filter((c): c is GridResult => c.kind === 'grid' && NEW_TYPES.includes(c.type));
    expect(ours).toHaveLength(5);
    for (const c of ours) {
      expect(c.error).toBeUndefined();
      expect(c.outcome.ok).toBe(true);
      expect(c.memlock?.diff).toBe(0);
      expect(c.createCharge?.diff).toBe(0);
      if (c.inserts) expect([c.inserts.applied.ok, c.inserts.memlock.ok, c.inserts.charge?.diff]).toEqual([true, true, 0]);
    }
    // memlock after the inserts: the struct and elem_size per element (rhash), the whole area (insn_array).
    const memlock = Object.fromEntries(ours.map((c) => [c.id, c.inserts?.memlock.model ?? c.memlock?.model]));
    expect(memlock).toEqual({
      'rhash k8 v64 max65536 no_prealloc +10000 task': 536 + 80 * 10_000,
      'rhash k16 v248 max100000 no_prealloc extra65535 +3000 task': 536 + 272 * 3000,
      'rhash k4 v4 max1000 no_prealloc extra100 +500 softirq': 536 + 24 * 500,
      'insn_array k4 v16 max1': 304 + 24,
      'insn_array k4 v16 max100000 +1000 task': 304 + 24 * 100_000,
    });
  });
});

describe('the struct_ops grid case', () => {
  const ops = { type: 'tcp_congestion_ops', valueSize: 256, funcs: 13, members: 18 };

  it('is there only when the kernel BTF gave its type, with the value size and functions it gave', () => {
    expect(gridCases(profile('6.18'), true).filter((g) => g.spec.type === 'struct_ops')).toEqual([]);
    const cases = gridCases(profile('6.18'), true, ops).filter((g) => g.spec.type === 'struct_ops');
    expect(cases.map((g) => [g.id, g.spec])).toEqual([
      ['struct_ops tcp_congestion_ops v256 funcs13', { type: 'struct_ops', keySize: 4, valueSize: 256, maxEntries: 1, flags: 0, mapExtra: 0, structOpsFuncs: 13, structOpsMembers: 18, structOpsType: 'tcp_congestion_ops' }],
    ]);
  });

  it('agrees with the model standing in for the kernel on 5.10, 6.1 and 6.18', async () => {
    for (const v of ['5.10', '6.1', '6.18']) {
      const p = profile(v);
      const report = await runConformance({ kernel: new ModelBackend(p), profile: p, quick: true, structOps: ops, sleep: () => Promise.resolve() });
      const c = report.cases.find((x) => x.id.startsWith('struct_ops'));
      expect(c, v).toMatchObject({ kind: 'grid', outcome: { ok: true }, memlock: { ok: true } });
    }
  });
});
