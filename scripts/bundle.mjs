// Bundles the CLI into one file, dist/bin/bpfmem.js (over tsc's output of src/bin/bpfmem.ts):
// loading its 150-odd modules one by one took 55 ms of every run (`node dist/bin/bpfmem.js
// --version`: 0.13 s unbundled, 0.08 s bundled). The library (dist/index.js, dist/model/…) and
// the live worker (dist/bin/live-worker.js, forked by path) stay as tsc wrote them. koffi is a
// native module and stays external. The bundle sits where tsc's file was, so the relative paths
// it resolves at run time (../../scenarios/, ../bin/live-worker.js) are the same. What a command
// loads with import() (the server of `bpfmem serve`) is split into chunks beside it
// (dist/bin/chunk-*.js), read only when that command runs.
import { build } from 'esbuild';

await build({
  entryPoints: ['dist/bin/bpfmem.js'],
  outdir: 'dist/bin',
  entryNames: '[name]',
  chunkNames: 'chunk-[hash]',
  splitting: true,
  allowOverwrite: true,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['koffi'],
  // CommonJS dependencies (commander) require() Node's modules; ESM has no require of its own.
  banner: { js: "import { createRequire as __bpfmemRequire } from 'node:module';\nconst require = __bpfmemRequire(import.meta.url);" },
  logLevel: 'warning',
});
