/**
 * bench/cold-ab.ts: two builds of bpfmem against each other, cold, on the same maps: `bpfmem maps
 * --json` of build A and of build B in alternation (A B, then B A), with `node -e 0` and
 * `bpftool -j map show` after them, RUNS rounds, medians printed. For a change to the cold path whose effect is
 * smaller than the machine's drift between two bench runs: alternation puts both builds under
 * the same drift.
 *
 * Each build compiles from a code cache of its own (BPFMEM_CACHE_DIR), made by the warm-up runs:
 * two builds sharing one would overwrite each other's cache at every run.
 *
 * Run (as root, after building both): `node --import tsx bench/pinned-maps.ts with 10000 1000 --
 * node --import tsx bench/cold-ab.ts OLD/dist/bin/bpfmem.js dist/bin/bpfmem.js` (RUNS=31 to
 * change; OBJECTS=progs times `progs --json` against `bpftool -j prog show`). A build of an older commit: `git worktree add /tmp/old COMMIT`, link node_modules in
 * it, `npm run build` there.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const RUNS = Number(process.env['RUNS'] ?? 31);
const [a, b] = process.argv.slice(2);
if (a === undefined || b === undefined || !Number.isInteger(RUNS) || RUNS < 1) {
  console.error('usage: [RUNS=N] node --import tsx bench/cold-ab.ts BIN_A BIN_B (each a dist/bin/bpfmem.js)');
  process.exit(2);
}

const caches = mkdtempSync(join(tmpdir(), 'bpfmem-cold-ab-'));
process.once('exit', () => {
  rmSync(caches, { recursive: true, force: true });
});

interface Cmd {
  readonly label: string;
  readonly cmd: string;
  readonly args: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
}

/** What is listed: `bpfmem maps --json` against `bpftool -j map show`, or progs against `prog show`. */
const OBJECTS = process.env['OBJECTS'] ?? 'maps';
if (OBJECTS !== 'maps' && OBJECTS !== 'progs') {
  console.error(`OBJECTS=${OBJECTS}: expected maps or progs`);
  process.exit(2);
}
const build = (label: string, bin: string): Cmd => ({ label, cmd: process.execPath, args: [bin, OBJECTS, '--json'], env: { ...process.env, BPFMEM_CACHE_DIR: join(caches, label) } });
const cmds: Cmd[] = [build('A', a), build('B', b), { label: 'node -e 0', cmd: process.execPath, args: ['-e', '0'] }, { label: 'bpftool', cmd: 'bpftool', args: ['-j', OBJECTS === 'maps' ? 'map' : 'prog', 'show'] }];

/** Wall milliseconds of one run, its output read through a pipe as a user's would be. */
function time(c: Cmd): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(c.cmd, c.args, { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 4 * 1024 * 1024 * 1024, env: c.env ?? process.env });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${c.label} (${[c.cmd, ...c.args].join(' ')}) exited ${String(r.status)}: ${String(r.stderr).trim().split('\n')[0] ?? ''}`);
  return ms;
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.floor((s.length - 1) / 2)] ?? NaN;
};

// Warm-up: the page cache, and each build's code cache.
for (let i = 0; i < 3; i++) for (const c of cmds) time(c);
const samples = new Map<string, number[]>(cmds.map((c) => [c.label, []]));
// A, B in one round and B, A in the next: in a fixed order the second bpfmem run of each round
// was 18-20 ms slower at 10,000 maps whichever build it was (docs/performance.md, session 6).
for (let i = 0; i < RUNS; i++) {
  const [x, y, ...rest] = cmds;
  for (const c of [...(i % 2 === 0 ? [x, y] : [y, x]), ...rest]) if (c) samples.get(c.label)?.push(time(c));
}
const m = new Map([...samples].map(([k, v]) => [k, median(v)]));
const tool = m.get('bpftool') ?? NaN;
for (const c of cmds) {
  const v = m.get(c.label) ?? NaN;
  const ratio = c.label === 'A' || c.label === 'B' ? ` (${(v / tool).toFixed(2)} × bpftool)` : '';
  console.log(`${c.label.padEnd(10)} ${v.toFixed(1)} ms${ratio}${c.label.length === 1 ? `  ${c.args[0] ?? ''}` : ''}`);
}
console.log(`medians of ${RUNS} rounds; B − A ${((m.get('B') ?? NaN) - (m.get('A') ?? NaN)).toFixed(1)} ms`);
