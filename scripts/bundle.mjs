// Bundles the programs in dist/bin/ from src/bin/: the CLI (bpfmem.js), the live task's
// process (live-worker.js, forked by path) and the kernel lab's guest (lab-guest.js). The library
// (dist/index.js, dist/model/…) stays as tsc writes it.
//
// Start-up time is the point (bench/estimate.ts: `bpfmem estimate` on a 100-map object):
// - One bundle instead of ~150 modules loaded one by one.
// - CommonJS (dist/bin/package.json says so): Node's CommonJS loader starts ~13 ms sooner than its
//   ES module loader, measured on this VM.
// - Each command is its own chunk, loaded when it runs (the dynamic imports of src/cli/main.ts),
//   and the code most commands share sits in two chunks (`core`: commander, the model, errors;
//   `offline`: BTF, ELF and the estimator), so `bpfmem estimate` reads five files (rolldown's
//   runtime is one), not the nineteen of esbuild's splitting (test/cli/bundle.test.ts checks).
// - The files a command loads are compiled from a V8 code cache in the user's cache directory
//   (src/bin/compile-cache.ts); bpfmem.js and the small `start` chunk, which set it up, are not.
// - commander's `require('node:child_process')` (for executable subcommands, which bpfmem has
//   none of) is deferred to its first use: loading it, and the socket modules it pulls in, took
//   5–7 ms of every start.
// rolldown (Vite's bundler) does this grouping; esbuild could not merge its shared chunks.
// koffi is a native module and stays external.
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { build } from 'rolldown';

const OUT = 'dist/bin';

const LAZY_CHILD_PROCESS = '\0lazy-child-process';
/** Gives commander a child_process that is required when commander first touches it. */
const lazyChildProcess = {
  name: 'lazy-child-process',
  resolveId(source, importer) {
    if (source === 'node:child_process' && /node_modules[\\/]commander[\\/]/.test(importer ?? '')) return LAZY_CHILD_PROCESS;
    return null;
  },
  load(id) {
    if (id !== LAZY_CHILD_PROCESS) return null;
    return "let cp;\nmodule.exports = new Proxy({}, { get: (_, key) => (cp ??= require('node:child_process'))[key] });\n";
  },
};
// What an earlier build left (chunk names carry a hash of their contents).
rmSync(OUT, { recursive: true, force: true });

await build({
  input: {
    bpfmem: 'src/bin/bpfmem.ts',
    'live-worker': 'src/bin/live-worker.ts',
    'lab-guest': 'src/bin/lab-guest.ts',
  },
  platform: 'node',
  plugins: [lazyChildProcess],
  // The sources import './x.js' for './x.ts', as tsc's NodeNext resolution wants.
  resolve: { extensionAlias: { '.js': ['.ts', '.js'] } },
  external: ['koffi'],
  // The kernel door's modules do nothing when imported (no registration, no bare imports): a
  // module of src/sys/ none of whose exports is used is left out, so that importing one function
  // through a part's index.ts does not bring the part's node:fs/promises or koffi users along.
  treeshake: { moduleSideEffects: (id) => !/[\\/]src[\\/]sys[\\/]/.test(id) },
  output: {
    dir: OUT,
    format: 'cjs',
    entryFileNames: '[name].js',
    chunkFileNames: 'chunk-[name]-[hash].js',
    sourcemap: true,
    // ASCII only, and no doc comments (the source maps lead to them): Node reads a one-byte
    // string and V8 scans less of it.
    charset: 'ascii',
    comments: { legal: true, annotation: true, jsdoc: false },
    codeSplitting: {
      groups: [
        // What bpfmem.js needs before it installs the code cache (src/bin/compile-cache.ts):
        // kept apart, so that everything else is compiled from the cache.
        { name: 'start', priority: 3, test: /src[\\/]bin[\\/]compile-cache\.ts|src[\\/]sys[\\/]file[\\/]cache-dir\.ts/ },
        { name: 'core', priority: 2, test: /node_modules[\\/]commander[\\/]|src[\\/](vocab|model)[\\/]|src[\\/]cli[\\/](context|io|table)\.ts|src[\\/]cli[\\/]render[\\/]common\.ts|src[\\/]live[\\/]cleanup\.ts|src[\\/]inspect[\\/]json\.ts/ },
        { name: 'offline', priority: 1, test: /src[\\/](btf|elf|estimate)[\\/]|src[\\/]live[\\/](host-profile|kernel-sizes|kernel-facts)\.ts|src[\\/]sys[\\/]file[\\/]|src[\\/]sys[\\/]bpf[\\/]vmlinux\.ts|src[\\/]sys[\\/]proc[\\/](host|cmdline|pid-cgroup|text)\.ts|src[\\/]sys[\\/]cgroup[\\/]mount\.ts|src[\\/]inspect[\\/](from-bpftool|inventory|labels)\.ts|src[\\/]cli[\\/]btf-option\.ts/ },
      ],
    },
  },
  logLevel: 'warn',
});
// Every .js here is CommonJS, whatever the package's "type" says.
writeFileSync(`${OUT}/package.json`, '{ "type": "commonjs" }\n');
const made = readdirSync(OUT).filter((f) => f.endsWith('.js'));
if (!made.includes('bpfmem.js')) throw new Error('bundle: no dist/bin/bpfmem.js');
