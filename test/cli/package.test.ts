import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

/*
 * The package as a library user imports it: `import … from 'bpfmem'`, `'bpfmem/model'` and `'bpfmem/scenario'`,
 * resolved through package.json's "exports" from another directory, on the built dist/.
 * scripts/bundle.mjs replaces dist/bin/ after tsc wrote it, so a library module must never live
 * there (dist/index.js once re-exported dist/bin/run.js, which the bundle deleted: `import
 * 'bpfmem'` failed with ERR_MODULE_NOT_FOUND while every CLI test passed).
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DIST = join(ROOT, 'dist');
const built = existsSync(join(DIST, 'index.js'));
if (!built) console.warn(`package tests skipped: no ${join(DIST, 'index.js')} (npm run build)`);

const dir = mkdtempSync(join(tmpdir(), 'bpfmem-package-test-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** The library's files: dist/ as tsc writes it, without the CLI's bundle. */
function libraryFiles(at: string): string[] {
  return readdirSync(at, { withFileTypes: true }).flatMap((e) => {
    const path = join(at, e.name);
    if (e.isDirectory()) return path === join(DIST, 'bin') ? [] : libraryFiles(path);
    return /\.(js|d\.ts)$/.test(e.name) ? [path] : [];
  });
}

/** Runs an ES module as a user's project would, with bpfmem installed in its node_modules. */
function asUser(code: string): { status: number | null; stdout: string; stderr: string } {
  const project = join(dir, 'project');
  if (!existsSync(project)) {
    mkdirSync(join(project, 'node_modules'), { recursive: true });
    symlinkSync(ROOT, join(project, 'node_modules', 'bpfmem'));
  }
  return spawnSync(process.execPath, ['--input-type=module', '-e', code], { cwd: project, encoding: 'utf8', timeout: 60_000 });
}

describe.skipIf(!built)('the library as a user imports it', () => {
  it('every relative import of the library (its .js and .d.ts) names a file that exists', () => {
    const files = libraryFiles(DIST);
    expect(files.length).toBeGreaterThan(50);
    const missing = files.flatMap((file) => {
      const text = readFileSync(file, 'utf8');
      const specifiers = [...text.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)].map((m) => m[1] ?? '');
      return specifiers.filter((s) => !existsSync(resolve(dirname(file), s))).map((s) => `${relative(ROOT, file)}: ${s}`);
    });
    expect(missing).toEqual([]);
  });

  it("'bpfmem' loads and its API works: the README's model, a scenario parsed and run, an estimate, the CLI's entry", () => {
    const r = asUser(`
      import { ModelKernel, ModelBackend, profileOf, mapSpec, parseScenario, runScenario, scenarioProfile, estimateMaps, parseMapSpec, BpfmemError, runCli } from 'bpfmem';
      const k = new ModelKernel(profileOf({ version: '6.18', cpus: 2 }));
      k.createCgroup('/a', { max: Infinity, high: Infinity });
      k.startTask('t', { cgroup: '/a', uid: 0 });
      const made = k.createMap('t', 'm', mapSpec({ type: 'array', keySize: 4, valueSize: 8, maxEntries: 16 }));
      const { readFileSync } = await import('node:fs');
      const parsed = parseScenario(readFileSync('node_modules/bpfmem/scenarios/limit.yaml', 'utf8'), 'limit.yaml');
      if (!parsed.ok) throw new Error(parsed.error.message);
      const profile = scenarioProfile(parsed.scenario);
      if (typeof profile === 'string') throw new Error(profile);
      const run = await runScenario(parsed.scenario, new ModelBackend(profile));
      const spec = parseMapSpec('type=hash,key=4,value=8,max_entries=1000', 'm');
      if (!spec.ok) throw new Error(spec.error);
      const est = estimateMaps([spec.value], profile);
      console.log(JSON.stringify({ made: made.ok, steps: run.steps.filter((s) => s.index >= 0).map((s) => s.ok), memlock: est.maps[0].memlock > 0, error: typeof BpfmemError, cli: typeof runCli }));
    `);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ made: true, steps: [true, true, false, true], memlock: true, error: 'function', cli: 'function' });
  });

  it("the README's library example prints what the README says it prints", () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const example = /\*\*As a library\*\*[\s\S]*?```js\n([\s\S]*?)```[\s\S]*?```text\n([\s\S]*?)```/.exec(readme);
    expect(example).not.toBeNull();
    const [, code = '', printed = ''] = example ?? [];
    expect(code).toContain("from 'bpfmem'");
    const r = asUser(code);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(printed);
  });

  it("the library's types compile in a TypeScript project without @types/node, every declaration checked", () => {
    const project = join(dir, 'types');
    mkdirSync(join(project, 'node_modules'), { recursive: true });
    symlinkSync(ROOT, join(project, 'node_modules', 'bpfmem'));
    writeFileSync(
      join(project, 'index.ts'),
      [
        "import * as bpfmem from 'bpfmem';",
        "import * as model from 'bpfmem/model';",
        "import * as scenario from 'bpfmem/scenario';",
        "import type { Io } from 'bpfmem';",
        'export const io: Io | undefined = undefined;',
        'export const api = [bpfmem, model, scenario];',
        '',
      ].join('\n'),
    );
    const options = { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', lib: ['ES2022'], strict: true, noEmit: true, skipLibCheck: false, types: [] };
    writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({ compilerOptions: options, files: ['index.ts'] }));
    const r = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', project], { encoding: 'utf8', timeout: 120_000 });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it.each(['model', 'scenario'])("'bpfmem/%s' bundles for a browser, with no Node module in it", async (entry) => {
    const { build } = await import('rolldown');
    const project = join(dir, 'project');
    const out = await build({
      cwd: existsSync(project) ? project : ROOT,
      input: join(DIST, entry, 'index.js'),
      platform: 'browser',
      write: false,
      logLevel: 'silent',
      output: { format: 'esm' },
    });
    const code = out.output.map((o) => ('code' in o ? o.code : '')).join('\n');
    expect(code).toMatch(entry === 'model' ? /\bModelKernel\b/ : /\bparseScenario\b/);
    expect(code).not.toMatch(/\bfrom\s*["'](node:|fs|process|path|os)["']|require\(["'](node:|process|fs)/);
  });

  it.each(['model', 'scenario'])("'bpfmem/%s' loads no Node module and no native addon", (entry) => {
    const r = asUser(`
      // A file module first: what the ES module loader loads to read any file is not the model's.
      await import('data:text/javascript,export default 0');
      const { writeFileSync } = await import('node:fs');
      writeFileSync('empty.mjs', 'export default 0;\\n');
      await import(process.cwd() + '/empty.mjs');
      const before = new Set(process.moduleLoadList);
      const { ModelBackend, profileOf } = await import('bpfmem/model');
      const entry = await import('bpfmem/${entry}');
      const backend = new ModelBackend(profileOf({ version: '6.18' }));
      // The scenario entry works alone: a scenario parsed and run on the model.
      let memlock = null;
      if (entry.parseScenario) {
        const parsed = entry.parseScenario('tasks: { t: {} }\\nsteps:\\n  - load_prog: { task: t, name: p, insns: 100 }\\n', 'inline');
        memlock = (await entry.runScenario(parsed.scenario, backend)).final.progs[0].memlock;
      }
      const loaded = process.moduleLoadList.filter((m) => !before.has(m) && m.startsWith('NativeModule '));
      const addons = (await import('node:fs')).readFileSync('/proc/self/maps', 'utf8').split('\\n').filter((l) => l.endsWith('.node'));
      console.log(JSON.stringify({ kernel: typeof backend.createMap, memlock, loaded, addons }));
    `);
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as { kernel: string; memlock: number | null; loaded: string[]; addons: string[] };
    expect(out.kernel).toBe('function');
    expect(out.memlock).toBe(entry === 'scenario' ? 4096 : null);
    // yaml's Node build (the scenario parser's) requires 'process' for its warnings, the global
    // object itself; its browser build, which the bundle above takes, does not.
    expect(out.loaded.filter((m) => !/internal\//.test(m))).toEqual(entry === 'scenario' ? ['NativeModule process'] : []);
    expect(out.addons).toEqual([]);
  });
});
