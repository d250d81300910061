import fc from 'fast-check';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseMapSpec } from '../../src/estimate/spec.js';
import { parseFlags } from '../../src/vocab/flags.js';
import { parseSize } from '../../src/vocab/units.js';
import { cli } from './run.js';

/**
 * Names that are members of Object.prototype, typed where bpfmem looks a key up (issue 14,
 * item 6): `--map __proto__=1`, `flags=constructor`, `toString=` twice. Each is an unknown key
 * or flag like any other, and no error prints a function.
 */

const PROTO_NAMES = Object.getOwnPropertyNames(Object.prototype);
const SPEC = 'type=hash,key=4,value=8,max_entries=16';

describe('prototype names as keys', () => {
  it('has the names to try', () => {
    expect(PROTO_NAMES).toEqual(expect.arrayContaining(['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf']));
  });

  it.each(PROTO_NAMES)('--map %s=1 is an unknown key, once or twice', (name) => {
    for (const text of [`${name}=1,${SPEC}`, `${SPEC},${name}=1,${name}=2`]) {
      const r = parseMapSpec(text, 'm');
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.error).toContain(`unknown key "${name}"`);
        expect(r.error).not.toMatch(/function|native code/);
      }
    }
  });

  it.each(PROTO_NAMES)('flags=%s is an unknown flag, and %s is no unit', (name) => {
    expect(parseFlags(name)).toEqual({ unknown: name });
    expect(parseFlags(`no_prealloc+${name}`)).toEqual({ unknown: name });
    expect(parseSize(`1${name}`)).toBeUndefined();
  });

  it('fuzz: keys and flags made of prototype names and fragments never pass or print a function', () => {
    const word = fc.oneof(fc.constantFrom(...PROTO_NAMES), fc.constantFrom('key', 'value', 'numa', 'type'), fc.string({ maxLength: 6 }));
    fc.assert(
      fc.property(word, word, (key, flag) => {
        const r = parseMapSpec(`${SPEC},${key}=1,flags=${flag}`, 'm');
        if (!r.ok) expect(r.error).not.toMatch(/function|native code|\[object/);
        if (PROTO_NAMES.includes(key) || PROTO_NAMES.includes(flag)) expect(r.ok).toBe(false);
      }),
      { numRuns: 1000 },
    );
  });

  it('bpfmem estimate refuses them in one line, exit 2', async () => {
    for (const spec of [`__proto__=1,${SPEC}`, `${SPEC},toString=1,toString=2`, `${SPEC},constructor=`, `${SPEC},flags=__proto__`]) {
      const run = await cli(['estimate', '--kernel', '6.18', '--cpus', '2', '--map', spec]);
      expect(run.status).toBe(2);
      expect(run.stdout).toBe('');
      expect(run.stderr).toMatch(/^bpfmem: --map ".*": (unknown key "(__proto__|toString|constructor)"|flags: unknown map flag "__proto__")[^\n]*\n$/);
    }
  });

  const dir = mkdtempSync(join(tmpdir(), 'bpfmem-keys-'));
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('a scenario whose cgroup, task and maps are named __proto__ and constructor runs them as ordinary names', async () => {
    const file = join(dir, 'names.yaml');
    writeFileSync(
      file,
      [
        'kernel: { version: "6.18", cpus: 2 }',
        'cgroups:',
        '  /__proto__: { max: 64Mi }',
        'tasks:',
        '  __proto__: { cgroup: /__proto__, uid: 0 }',
        'steps:',
        '  - create_map: { task: __proto__, name: __proto__, type: hash, key: 4, value: 8, max_entries: 10 }',
        '  - update: { map: __proto__, count: 5 }',
        '  - create_map: { task: __proto__, name: constructor, type: array, key: 4, value: 8, max_entries: 10 }',
        '  - update: { map: toString, count: 1 }',
        '',
      ].join('\n'),
    );
    const run = await cli(['simulate', file]);
    // The last step names a map nobody created: toString is no map because Object.prototype has one.
    expect(run.stderr).toMatch(/steps\[3\]\.update\.map: no map "toString" was created before this step/);
    writeFileSync(file, `${readFileSync(file, 'utf8').split('\n').slice(0, -2).join('\n')}\n`);
    const ok = await cli(['simulate', '--json', file]);
    expect(ok.stderr).toBe('');
    const out = JSON.parse(ok.stdout) as { maps: Record<string, unknown>; tasks: Record<string, unknown>; cgroups: Record<string, unknown> };
    expect(Object.keys(out.maps).sort()).toEqual(['__proto__', 'constructor']);
    expect(Object.keys(out.tasks)).toEqual(['__proto__']);
    expect(Object.keys(out.cgroups)).toContain('/__proto__');
  });

  it('a scenario map with flags: __proto__ is refused', async () => {
    const file = join(dir, 's.yaml');
    writeFileSync(file, 'kernel: { version: "6.18", cpus: 2 }\ntasks:\n  agent: { cgroup: /, uid: 0 }\nsteps:\n  - create_map: { task: agent, name: ct, type: hash, key: 4, value: 8, max_entries: 10, flags: __proto__ }\n');
    const run = await cli(['simulate', file]);
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/flags.*__proto__/);
  });
});
