import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { commandsFor } from '../../src/cli/main.js';
import { buildFixture, toolchain } from '../fixtures/bpf/build.js';

/*
 * The built CLI (dist/bin/, scripts/bundle.mjs) as users run it: which files and which of Node's
 * own modules a command loads. These are what make `bpfmem estimate` start fast
 * (bench/estimate.ts measures the time; tests never time things).
 */

const BIN = fileURLToPath(new URL('../../dist/bin/bpfmem.js', import.meta.url));
const built = existsSync(BIN);
if (!built) console.warn(`bundle tests skipped: no ${BIN} (npm run build)`);

const dir = mkdtempSync(join(tmpdir(), 'bpfmem-bundle-test-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Preloaded into the CLI's process: at exit, prints the bundle files and Node modules it loaded. */
const RECORDER = join(dir, 'record.cjs');
writeFileSync(
  RECORDER,
  `process.on('exit', () => {
  const files = Object.keys(require.cache).filter((f) => f.includes('/dist/bin/')).map((f) => f.slice(f.lastIndexOf('/') + 1));
  const builtins = process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice(13));
  require('node:fs').writeSync(2, '\\n@@' + JSON.stringify({ files, builtins }) + '\\n');
});
`,
);

interface Loaded {
  readonly status: number | null;
  readonly stdout: string;
  readonly files: string[];
  readonly builtins: string[];
}

function run(args: readonly string[], env: NodeJS.ProcessEnv = { ...process.env, BPFMEM_CACHE: 'off' }): Loaded {
  const r = spawnSync(process.execPath, ['--require', RECORDER, BIN, ...args], { encoding: 'utf8', env, maxBuffer: 1024 * 1024 * 1024 });
  const at = r.stderr.lastIndexOf('\n@@');
  if (at < 0) throw new Error(`no load record from bpfmem ${args.join(' ')}: ${r.stderr}`);
  const rec = JSON.parse(r.stderr.slice(at + 3)) as { files: string[]; builtins: string[] };
  return { status: r.status, stdout: r.stdout, ...rec };
}

const chunk = (files: readonly string[], name: string): boolean => files.some((f) => f.startsWith(`chunk-${name}-`));

describe('which commands a run loads', () => {
  it('loads the command it names, all of them for the help that lists them, none otherwise', () => {
    expect(commandsFor(['estimate', 'x.o', '--cpus', '2'])).toEqual(['estimate']);
    expect(commandsFor(['--json', 'maps'])).toEqual(['maps']);
    expect(commandsFor(['help', 'simulate'])).toEqual(['simulate']);
    expect(commandsFor(['estimate', '--help'])).toEqual(['estimate']);
    expect(commandsFor(['help'])).toContain('conformance');
    expect(commandsFor(['--help'])).toHaveLength(12);
    expect(commandsFor(['-h', 'estimate'])).toHaveLength(12);
    expect(commandsFor([])).toEqual([]);
    expect(commandsFor(['--json'])).toEqual([]);
    expect(commandsFor(['estimat'])).toEqual([]);
    // A name that is only an Object property is no command.
    expect(commandsFor(['constructor'])).toEqual([]);
  });
});

describe.skipIf(!built)('the built CLI (dist/bin)', () => {
  it('estimate reads its own chunks and nothing of the live side, the server, YAML or child processes', () => {
    const obj = toolchain.ok ? buildFixture('maps') : undefined;
    if (!obj) console.warn(`estimate of an object skipped, --map used instead: ${toolchain.ok ? '' : toolchain.reason}`);
    const r = run(obj ? ['estimate', obj] : ['estimate', '--map', 'type=hash,key=4,value=8,max_entries=1000']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/MEMLOCK/);
    // Chunk names end in a hash of 8 characters (scripts/bundle.mjs: chunk-[name]-[hash].js).
    const names = r.files.map((f) => f.replace(/-.{8}\.js$/, '')).sort();
    expect(names).toEqual(['bpfmem.js', 'chunk-cli', 'chunk-core', 'chunk-estimate', 'chunk-offline', 'chunk-rolldown-runtime', 'chunk-start']);
    for (const m of ['child_process', 'net', 'tty', 'dgram', 'fs/promises', 'http']) expect(r.builtins, m).not.toContain(m);
  });

  it('--version loads no command', () => {
    const r = run(['--version']);
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    for (const name of ['estimate', 'simulate', 'inventory', 'serve', 'server', 'conformance']) expect(chunk(r.files, name), name).toBe(false);
  });

  it("the inventory commands load bpftool's dump parser (and valibot) only for --from-bpftool", () => {
    const r = run(['maps', '--help']);
    expect(r.status).toBe(0);
    expect(chunk(r.files, 'inventory')).toBe(true);
    expect(chunk(r.files, 'bpftool')).toBe(false);
  });

  it.skipIf(process.getuid?.() !== 0)('maps --json into a pipe loads no crypto, sockets, streams or terminal (root: it reads the machine)', () => {
    const r = run(['maps', '--json']);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toHaveProperty('maps');
    // node:crypto (and the streams it loads) cost 2.9 ms of a start; node:tty and node:net 2.4.
    for (const m of ['crypto', 'net', 'tty', 'stream', 'child_process', 'http']) expect(r.builtins, m).not.toContain(m);
  });

  it('help lists every command, each loaded for its line', () => {
    const r = run(['--help']);
    expect(r.status).toBe(0);
    for (const name of ['maps', 'progs', 'cgroups', 'top', 'simulate', 'estimate', 'probe', 'explain', 'serve', 'demo', 'conformance']) {
      expect(r.stdout).toMatch(new RegExp(`^  ${name}\\b`, 'm'));
    }
  });

  it('an unknown command is one line naming the commands, with no command loaded', () => {
    const r = spawnSync(process.execPath, [BIN, 'estimat'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^bpfmem: unknown command "estimat" \(did you mean estimate\?\); commands are maps, .*conformance\n$/);
  });

  it('Ctrl-C ends a long computation at once, by the signal itself (it holds nothing to clean up)', async () => {
    // A model run of 16 million inserts (the most it simulates) takes seconds; its loop never yields to a handler.
    const child = spawn(process.execPath, [BIN, 'estimate', '--map', 'type=hash,key=8,value=4,max_entries=16000000,flags=no_prealloc,elements=16000000', '--kernel', '6.6', '--cpus', '2'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, BPFMEM_CACHE: 'off' },
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const ended = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
      child.once('exit', (code, signal) => {
        resolve([code, signal]);
      });
    });
    // Well into the model's loop (the bundle loads in a tenth of that).
    await new Promise((resolve) => setTimeout(resolve, 1500));
    child.kill('SIGINT');
    const outcome = await Promise.race([ended, new Promise<'still running'>((resolve) => setTimeout(() => { resolve('still running'); }, 10_000))]);
    if (outcome === 'still running') child.kill('SIGKILL');
    expect(outcome).toEqual([null, 'SIGINT']);
    expect(stderr).toBe('');
  });

  it('stops quietly when its reader goes away (EPIPE), exit 0 and no trace', async () => {
    // As `bpfmem estimate … | head -1`: far more output than a pipe holds (64 KiB), and the
    // reader closes its end after the first chunk, so the writes after that fail with EPIPE.
    const maps = Array.from({ length: 3000 }, (_, i) => ['--map', `type=hash,key=4,value=8,max_entries=${i + 1},name=m${i}`]).flat();
    const child = spawn(process.execPath, [BIN, 'estimate', ...maps, '--cpus', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let first = '';
    let stderr = '';
    child.stdout.once('data', (d: Buffer) => {
      first = d.toString('utf8');
      child.stdout.destroy();
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(first).toMatch(/^(this kernel|what-if): /);
    expect(stderr).toBe('');
    expect(status).toBe(0);
  });
});

describe.skipIf(!built)('the code cache (src/bin/compile-cache.ts)', () => {
  const ESTIMATE = ['estimate', '--map', 'type=hash,key=4,value=8,max_entries=1000', '--kernel', '6.6', '--cpus', '2'];
  const codeFiles = (cache: string): string[] => {
    const sub = existsSync(cache) ? readdirSync(cache).filter((f) => f.startsWith('code-')) : [];
    return sub.flatMap((d) => readdirSync(join(cache, d)).map((f) => join(cache, d, f)));
  };

  it('writes a cache for each file a command compiled, and gives the same output from it, or from a corrupt one', () => {
    const cache = mkdtempSync(join(dir, 'cache-'));
    const env = { ...process.env, BPFMEM_CACHE_DIR: cache };
    const first = run(ESTIMATE, env);
    expect(first.status).toBe(0);
    const files = codeFiles(cache);
    // One per bundle file but bpfmem.js and the start chunk (loaded before the cache is set up).
    expect(files.map((f) => f.slice(f.lastIndexOf('/') + 1).replace(/-.{8}\.js/, '')).sort()).toEqual([
      'chunk-cli.estimate.cache',
      'chunk-core.estimate.cache',
      'chunk-estimate.estimate.cache',
      'chunk-offline.estimate.cache',
    ]);
    const second = run(ESTIMATE, env);
    expect(second.stdout).toBe(first.stdout);
    expect(second.files).toEqual(first.files);
    // Garbage after a right header, and a header of another file: compiled as usual, written anew.
    const [a, b] = files as [string, string];
    const header = readFileSync(a, 'latin1').split('\n')[0] ?? '';
    writeFileSync(a, `${header}\n${'x'.repeat(5000)}`);
    writeFileSync(b, `1 2\n${'x'.repeat(5000)}`);
    const third = run(ESTIMATE, env);
    expect(third.status).toBe(0);
    expect(third.stdout).toBe(first.stdout);
    expect(readFileSync(a).length).toBeGreaterThan(5000 + header.length + 1);
    expect(readFileSync(b, 'latin1').startsWith('1 2\n')).toBe(false);
  });

  // Each of these loads a Node module when it needs it (process.getBuiltinModule): simulate and
  // demo read scenarios, estimate --special-files reads a pipe through node:net. From a code
  // cache a dynamic import() had no loader and every one of them failed (ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING).
  const SCENARIO = fileURLToPath(new URL('../../scenarios/example.yaml', import.meta.url));
  it.each([
    ['simulate', ['simulate', SCENARIO, '--json'], undefined, /"steps"/],
    ['demo', ['demo'], undefined, /Run one yourself/],
    ['estimate --special-files from a pipe', ['estimate', '--special-files', '/dev/stdin', '--kernel', '6.6', '--cpus', '2'], 'maps', /MEMLOCK/],
  ] as const)('%s runs the same without a cache, making one, and from it', (_what, args, object, expected) => {
    const obj = object === undefined ? undefined : toolchain.ok ? buildFixture(object) : undefined;
    if (object !== undefined && obj === undefined) {
      console.warn(`estimate --special-files from a pipe skipped: ${toolchain.ok ? '' : toolchain.reason}`);
      return;
    }
    const cache = mkdtempSync(join(dir, 'cache-'));
    const env = { ...process.env, BPFMEM_CACHE_DIR: cache };
    const outputs = [0, 1].map(() => {
      // The object through a shell's pipe, as a user gives one (Node's own stdin pipes are sockets).
      const r =
        obj === undefined
          ? spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env, maxBuffer: 64 * 1024 * 1024 })
          : spawnSync('sh', ['-c', 'cat "$0" | exec "$@"', obj, process.execPath, BIN, ...args], { encoding: 'utf8', env, maxBuffer: 64 * 1024 * 1024 });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(expected);
      return r.stdout;
    });
    expect(codeFiles(cache).length).toBeGreaterThan(0);
    expect(outputs[1]).toBe(outputs[0]);
  });

  it('a word that is no command (a typo) is cached as the runs of no command are, with no cache named after it', () => {
    const cache = mkdtempSync(join(dir, 'cache-'));
    const r = run(['zzzbogus'], { ...process.env, BPFMEM_CACHE_DIR: cache });
    expect(r.status).toBe(2);
    const names = codeFiles(cache).map((f) => f.slice(f.lastIndexOf('/') + 1));
    expect(names.length).toBeGreaterThan(0);
    expect(names.every((n) => n.endsWith('.other.cache'))).toBe(true);
  });

  it('writes nothing with BPFMEM_CACHE=off', () => {
    const cache = mkdtempSync(join(dir, 'cache-'));
    const r = run(ESTIMATE, { ...process.env, BPFMEM_CACHE: 'off', BPFMEM_CACHE_DIR: cache });
    expect(r.status).toBe(0);
    expect(codeFiles(cache)).toEqual([]);
  });
});
