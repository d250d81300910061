import { describe, expect, it } from 'vitest';
import pkg from '../package.json' with { type: 'json' };
import { MAP_FLAGS, ModelKernel, VERSION, estimateMaps, mapSpec, parseScenario, profileOf, runScenario, ModelBackend } from '../src/index.js';

describe('the public API', () => {
  it('runs the model as a library', () => {
    const k = new ModelKernel(profileOf({ version: '6.18', cpus: 4 }));
    expect(k.createCgroup('/app', { max: 64 * 2 ** 20, high: Infinity }).ok).toBe(true);
    expect(k.startTask('app', { cgroup: '/app', uid: 1000 }).ok).toBe(true);
    expect(k.createMap('app', 'h', mapSpec({ type: 'hash', keySize: 4, valueSize: 8, maxEntries: 1000, flags: MAP_FLAGS.no_prealloc })).ok).toBe(true);
    expect(k.updateMap('h', 10, 'softirq', 0)).toMatchObject({ ok: true, applied: 10 });
    expect(k.snapshot().maps[0]).toMatchObject({ name: 'h', chargedTo: '/app', elements: 10 });
  });

  it('parses and runs a scenario', async () => {
    const parsed = parseScenario('tasks: { t: {} }\nsteps:\n  - load_prog: { task: t, name: p, insns: 100 }\n', 'inline');
    if (!parsed.ok) throw new Error(parsed.error.message);
    const run = await runScenario(parsed.scenario, new ModelBackend(profileOf({ version: '6.18' })));
    expect(run.final.progs[0]?.memlock).toBe(4096);
  });

  it('estimates', () => {
    const e = estimateMaps([{ name: 'a', spec: mapSpec({ type: 'array', keySize: 4, valueSize: 4, maxEntries: 1 }) }], profileOf({ version: '6.18' }));
    expect(e.maps[0]).toMatchObject({ ok: true, memlock: 320 });
  });

  it('answers a JavaScript caller\'s wrong arguments with its own error or result, never a TypeError', () => {
    const profile = profileOf({ version: '6.18' });
    const spec = mapSpec({ type: 'array', keySize: 4, valueSize: 4, maxEntries: 1 });
    expect(() => estimateMaps([{ name: 'a', spec, elements: -1 }], profile)).toThrow(/^map a: elements: /);
    expect(parseScenario(42 as unknown as string, 'inline')).toMatchObject({ ok: false, error: { message: "expected the scenario's text (YAML or JSON), got 42" } });
  });

  it('knows its version', () => {
    expect(VERSION).toBe(pkg.version);
  });
});
