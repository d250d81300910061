import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runJson } from '../../src/cli/render/simulate.js';
import { FRAME_BUDGET, simulate, type SimRun } from '../../web/src/sim-run.js';
import { cli } from '../cli/run.js';

/**
 * The dashboard's simulator (web/src/sim-run.ts) runs a scenario as `bpfmem simulate` does, and
 * keeps a snapshot of the model after every step for the page to play. These tests run it in
 * Node against the CLI on every example scenario.
 */

const FILES = readdirSync('scenarios').filter((f) => f.endsWith('.yaml')).sort();
const tmp = mkdtempSync(join(tmpdir(), 'bpfmem-web-sim-'));
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

/** What `bpfmem simulate --json` prints for a run of the page's simulator. */
const asJson = (run: SimRun): unknown => JSON.parse(JSON.stringify(runJson({ regime: run.regime, profile: run.profile, steps: run.steps, final: run.final })));

describe('the simulator gives what bpfmem simulate gives', () => {
  it.each(FILES)('%s, memcg and memlock side by side: the same steps and final state as --regime both --json', async (file) => {
    const path = `scenarios/${file}`;
    const r = await simulate(readFileSync(path, 'utf8'), path, 'both');
    if (!r.ok) throw new Error(r.message);
    const printed = await cli(['simulate', path, '--regime', 'both', '--json']);
    expect(printed.status).toBe(0);
    const expected = JSON.parse(printed.stdout) as { runs: { memcg: unknown; memlock: unknown } };
    expect(r.runs.map((x) => x.regime)).toEqual(['memcg', 'memlock']);
    expect(asJson(r.runs[0]!)).toEqual(expected.runs.memcg);
    expect(asJson(r.runs[1]!)).toEqual(expected.runs.memlock);
  });

  it.each(FILES)('%s, one regime: the same as --regime memlock --json', async (file) => {
    const path = `scenarios/${file}`;
    const r = await simulate(readFileSync(path, 'utf8'), path, 'memlock');
    if (!r.ok) throw new Error(r.message);
    const printed = await cli(['simulate', path, '--regime', 'memlock', '--json']);
    const { source: _source, ...expected } = JSON.parse(printed.stdout) as Record<string, unknown>;
    expect(r.runs).toHaveLength(1);
    expect(asJson(r.runs[0]!)).toEqual(expected);
  });
});

describe('frames', () => {
  it.each(FILES)('%s: one frame after the setup and one after every step; the last is the final state', async (file) => {
    const path = `scenarios/${file}`;
    const r = await simulate(readFileSync(path, 'utf8'), path, 'both');
    if (!r.ok) throw new Error(r.message);
    for (const run of r.runs) {
      expect(run.frames).not.toBeNull();
      expect(run.frames).toHaveLength(r.steps.length + 1);
      expect(run.frames!.at(-1)).toEqual(run.final);
    }
  });

  it('a frame is the state after its step: a map appears after the step that creates it, its elements after the update', async () => {
    const r = await simulate(readFileSync('scenarios/example.yaml', 'utf8'), 'example.yaml', 'memcg');
    if (!r.ok) throw new Error(r.message);
    const frames = r.runs[0]!.frames!;
    expect(r.steps.map((s) => s.summary)).toEqual([
      'create ct (lru_hash, 524288) as agent',
      'update ct ×100000 from softirq',
      'move agent to /pods',
      'remove cgroup /pods/agent',
      'close map ct',
    ]);
    expect(frames[0]!.maps).toEqual([]);
    expect(frames[1]!.maps.map((m) => [m.name, m.elements, m.chargedTo])).toEqual([['ct', 0, '/pods/agent']]);
    expect(frames[2]!.maps.map((m) => [m.name, m.elements])).toEqual([['ct', 100000]]);
    // Removing /pods/agent moves the map's charges to /pods (objcg reparenting).
    expect(frames[3]!.cgroups.map((c) => c.path)).toContain('/pods/agent');
    expect(frames[4]!.cgroups.map((c) => c.path)).not.toContain('/pods/agent');
    expect(frames[4]!.maps.map((m) => m.chargedTo)).toEqual(['/pods']);
    expect(frames[5]!.maps).toEqual([]);
  });

  it(`a run too large to keep every frame (over ${FRAME_BUDGET.toLocaleString('en')} objects) keeps only its final state`, async () => {
    const cgroups = Array.from({ length: 2000 }, (_, i) => `  /c${i}: {}`).join('\n');
    const steps = Array.from({ length: 600 }, () => '  - alloc: { task: t, bytes: 4Ki }').join('\n');
    const text = `kernel: "6.18"\ncgroups:\n${cgroups}\ntasks:\n  t: { cgroup: /c0 }\nsteps:\n${steps}\n`;
    const r = await simulate(text, 'big.yaml', 'memcg');
    if (!r.ok) throw new Error(r.message);
    expect(r.runs[0]!.frames).toBeNull();
    expect(r.runs[0]!.steps).toHaveLength(600);
    expect(r.runs[0]!.final.cgroups.find((c) => c.path === '/c0')?.usage).toBeGreaterThanOrEqual(600 * 4096);
  });
});

describe('errors', () => {
  it.each([
    ['a step naming a map no step created', 'kernel: "6.18"\ntasks:\n  a: {}\nsteps:\n  - update: { map: nope, count: 1 }\n'],
    ['a key that is not YAML', 'kernel: "6.18"\nsteps: [\n'],
    ['a size that is not a size', 'kernel: "6.18"\ncgroups:\n  /a: { max: lots }\n'],
  ])('%s: the parser\'s one line, as bpfmem simulate prints it', async (_what, text) => {
    const path = join(tmp, 'bad.yaml');
    writeFileSync(path, text);
    const r = await simulate(text, path, 'both');
    const printed = await cli(['simulate', path]);
    expect(printed.status).toBe(2);
    expect(r).toEqual({ ok: false, message: printed.stderr.replace(/^bpfmem: /, '').trimEnd() });
    expect(r.ok ? '' : r.message).not.toContain('\n');
  });
});
