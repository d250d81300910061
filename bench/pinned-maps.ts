/**
 * bench/pinned-maps.ts: many BPF maps for the inventory benches, past the fd limit: they are
 * pinned in a private bpffs and their fds closed, so 500,000 maps cost no fd.
 *
 * The bench that uses it runs in a mount namespace of its own ({@link inPrivateMountNamespace}
 * re-executes it under `unshare --mount --propagation private`): the bpffs it mounts is seen by
 * it and its children (bpfmem, bpftool) only, and when the namespace's last process exits, for
 * whatever reason, the mount goes and the maps with it (a pin is the only reference a maker
 * leaves). The maps are made by child processes in a memory cgroup the live backend creates
 * under its owned root (removed at the end), so that they are charged to a cgroup, not the root.
 *
 * The mix is bench/map-mix.ts; every no-prealloc hash gets 0–4 elements, so that its memlock
 * follows its contents. The first HOLD maps stay open in a holder process, as an agent holds its
 * maps, so that the holder scan has something to find.
 *
 * Maker mode (a child): `node --import tsx bench/pinned-maps.ts make PROCS DIR FROM COUNT HOLD`.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { closeFd, mapCreate, mapUpdate, objPin } from '../src/sys/bpf/index.js';
import { MAP_FLAGS } from '../src/vocab/flags.js';
import { must } from '../src/vocab/backend.js';
import { LiveBackend } from '../src/live/backend.js';
import { specFor } from './map-mix.js';

const SELF = fileURLToPath(import.meta.url);
const UNSHARED = 'BPFMEM_BENCH_UNSHARED';
/** Where the private tmpfs holding the bpffs mount point goes (in this mount namespace only). */
const PRIVATE = '/media';
/** Maps per bpffs directory: many agents pin a few hundred maps in one directory. */
const PER_DIR = 1000;

/** Elements put in the i-th map when it is a no-prealloc hash (its memlock follows them). */
export const elementsOf = (i: number): number => {
  const s = specFor(i);
  return (s.flags & MAP_FLAGS.no_prealloc) !== 0 ? Math.floor(i / 10) % 5 : 0;
};

/**
 * Re-runs this process under `unshare --mount --propagation private` unless it already runs
 * there; returns true in the process that should go on (the re-run), after the parent's child
 * exits the parent exits with its status.
 */
export function inPrivateMountNamespace(): boolean {
  if (process.env[UNSHARED] === '1') return true;
  const r = spawnSync('unshare', ['--mount', '--propagation', 'private', process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, [UNSHARED]: '1' },
  });
  if (r.error) {
    console.error(`bench: unshare: ${r.error.message}`);
    process.exit(1);
  }
  process.exit(r.status ?? 1);
}

/** Makes maps [from, from + count) in the calling process, which must be in the cgroup. */
function make(dir: string, from: number, count: number, hold: number): number[] {
  const held: number[] = [];
  const key = new Uint8Array(8);
  const value = new Uint8Array(16);
  for (let i = from; i < from + count; i++) {
    const spec = specFor(i);
    const fd = mapCreate({ type: spec.type, keySize: spec.keySize, valueSize: spec.valueSize, maxEntries: spec.maxEntries, flags: spec.flags, name: `bench${i}` });
    for (let e = 0; e < elementsOf(i); e++) {
      new DataView(key.buffer).setUint32(0, e, true);
      mapUpdate(fd, key, value);
    }
    const sub = join(dir, `d${Math.floor(i / PER_DIR)}`);
    if (i % PER_DIR === 0 || i === from) mkdirSync(sub, { recursive: true });
    try {
      objPin(fd, join(sub, `m${i}`));
    } catch (error) {
      throw new Error(`pinning map ${i} at ${join(sub, `m${i}`)}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    if (i < hold) held.push(fd);
    else closeFd(fd);
  }
  return held;
}

/**
 * Churn mode: join the cgroup, then until stdin closes create a map every `everyMs` and close the
 * oldest once `live` are open, so that ids come and go under a scanner.
 */
async function churner(argv: readonly string[]): Promise<void> {
  const [procs, live, everyMs] = argv;
  if (procs === undefined || live === undefined || everyMs === undefined) throw new Error('usage: churn PROCS LIVE EVERY_MS');
  writeFileSync(procs, String(process.pid));
  const open: number[] = [];
  const state = { stop: false };
  process.stdin.on('end', () => (state.stop = true)).on('close', () => (state.stop = true)).resume();
  process.stdout.write('ready\n');
  for (let i = 0; !state.stop; i++) {
    const spec = specFor(i);
    open.push(mapCreate({ type: spec.type, keySize: spec.keySize, valueSize: spec.valueSize, maxEntries: spec.maxEntries, flags: spec.flags, name: `churn${i % 100_000}` }));
    if (open.length > Number(live)) closeFd(open.shift() as number);
    await new Promise((resolve) => setTimeout(resolve, Number(everyMs)));
  }
}

/** Maker mode: join the cgroup, make the maps, say "ready", hold what it holds until stdin closes. */
async function maker(argv: readonly string[]): Promise<void> {
  const [procs, dir, from, count, hold] = argv;
  if (procs === undefined || dir === undefined || from === undefined || count === undefined || hold === undefined) throw new Error('usage: make PROCS DIR FROM COUNT HOLD');
  writeFileSync(procs, String(process.pid));
  const held = make(dir, Number(from), Number(count), Number(hold));
  process.stdout.write(`ready ${held.length}\n`);
  if (held.length === 0) return;
  await new Promise<void>((resolve) => {
    process.stdin.on('end', resolve).on('close', resolve).resume();
  });
}

/** Pinned maps and how to remove them. */
export interface PinnedMaps {
  /** The private bpffs mount point. */
  readonly dir: string;
  /** The memory cgroup they are charged to (absolute directory). */
  readonly cgroup: string;
  readonly count: number;
  /** Adds maps [count, count + more) (CHURN: others come and go). */
  grow(more: number): Promise<void>;
  /** Unpins maps by index (they are freed: nothing else holds them). */
  unpin(indices: readonly number[]): void;
  /** Starts a process that keeps `live` maps of its own, one made and one closed every `everyMs`. */
  churn(live: number, everyMs: number): Promise<{ stop: () => Promise<void> }>;
  /** Unmounts the bpffs (freeing every map), stops the holder, removes the cgroup. */
  dispose(): Promise<void>;
}

/** Runs a maker child; resolves when it made its maps (a holder keeps running until disposal). */
function runMaker(procs: string, dir: string, from: number, count: number, hold: number): Promise<{ stop: () => Promise<void> }> {
  return runChild(['make', procs, dir, String(from), String(count), String(hold)]);
}

/** A child in one of this file's modes; resolves when it says it is ready. */
function runChild(args: readonly string[]): Promise<{ stop: () => Promise<void> }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', SELF, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
    const exited = new Promise<void>((done) => {
      child.once('exit', () => {
        done();
      });
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) {
        resolve({
          stop: () => {
            child.stdin.end();
            return exited;
          },
        });
      }
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (!out.includes('ready')) reject(new Error(`the map maker exited ${String(code)} before it was ready`));
    });
  });
}

/**
 * Makes `n` pinned maps in a new bpffs and a memory cgroup of a live backend, `hold` of them
 * held open by a process. Call it in a private mount namespace ({@link inPrivateMountNamespace}).
 */
export async function makePinnedMaps(n: number, hold: number): Promise<PinnedMaps> {
  if (process.env[UNSHARED] !== '1') throw new Error('makePinnedMaps: not in a private mount namespace');
  const b = await LiveBackend.create({ prefix: 'bench_pinned' });
  // The mount point lies in a tmpfs mounted over /media (empty on Debian) in this namespace only: no one outside can
  // see it, and so no one's clean-up of /tmp can remove it (since Linux 3.18 removing a mount
  // point in one namespace detaches what is mounted on it in every other).
  const m0 = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=700', 'bpfmem-bench', PRIVATE], { encoding: 'utf8' });
  if (m0.status !== 0) throw new Error(`mount -t tmpfs on ${PRIVATE}: ${m0.stderr.trim()}`);
  const dir = mkdtempSync(join(PRIVATE, 'bpffs-'));
  let mounted = false;
  const stops: (() => Promise<void>)[] = [];
  const dispose = async (): Promise<void> => {
    await Promise.all(stops.map((stop) => stop()));
    if (mounted) {
      const r = spawnSync('umount', [dir], { encoding: 'utf8' });
      if (r.status !== 0) console.error(`bench: umount ${dir}: ${r.stderr.trim()}`);
      mounted = false;
    }
    rmSync(dir, { recursive: true, force: true });
    spawnSync('umount', [PRIVATE]);
    await b.dispose();
  };
  try {
    must(await b.createCgroup('/bench', { max: Number.POSITIVE_INFINITY, high: Number.POSITIVE_INFINITY }));
    const cgroup = `${b.root}/bench`;
    const procs = join(cgroup, 'cgroup.procs');
    const m = spawnSync('mount', ['-t', 'bpf', 'bpf', dir], { encoding: 'utf8' });
    if (m.status !== 0) throw new Error(`mount -t bpf: ${m.stderr.trim()}`);
    mounted = true;
    if (!readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${dir} `)) throw new Error(`mount -t bpf bpf ${dir} left no mount in this namespace`);
    // Two makers side by side on two CPUs; the first also holds the first `hold` maps.
    const half = Math.ceil(n / 2);
    const made = await Promise.all([runMaker(procs, dir, 0, Math.min(half, n), hold), ...(n > half ? [runMaker(procs, dir, half, n - half, 0)] : [])]);
    for (const x of made) stops.push(x.stop);
    let count = n;
    return {
      dir,
      cgroup,
      get count() {
        return count;
      },
      async grow(more) {
        await (await runMaker(procs, dir, count, more, 0)).stop();
        count += more;
      },
      async churn(live, everyMs) {
        const c = await runChild(['churn', procs, String(live), String(everyMs)]);
        stops.push(c.stop);
        return c;
      },
      unpin(indices) {
        for (const i of indices) rmSync(join(dir, `d${Math.floor(i / PER_DIR)}`, `m${i}`), { force: true });
      },
      dispose,
    };
  } catch (error) {
    await dispose();
    throw error;
  }
}

/** `with N HOLD -- CMD …`: makes the maps, runs CMD with BPFFS set to the mount, removes them. */
async function withMaps(argv: readonly string[]): Promise<number> {
  const [n, hold, dash, cmd, ...args] = argv;
  if (n === undefined || hold === undefined || dash !== '--' || cmd === undefined) throw new Error('usage: with N HOLD -- CMD [ARGS…]');
  if (!inPrivateMountNamespace()) return 1;
  const t0 = Date.now();
  const maps = await makePinnedMaps(Number(n), Number(hold));
  try {
    console.error(`made ${n} maps in ${((Date.now() - t0) / 1000).toFixed(1)} s under ${maps.dir}`);
    return spawnSync(cmd, args, { stdio: 'inherit', env: { ...process.env, BPFFS: maps.dir, BENCH_CGROUP: maps.cgroup } }).status ?? 1;
  } finally {
    await maps.dispose();
  }
}

const mode = process.argv[2];
if (mode === 'make' || mode === 'with' || mode === 'churn') {
  (mode === 'make' ? maker(process.argv.slice(3)).then(() => 0) : mode === 'churn' ? churner(process.argv.slice(3)).then(() => 0) : withMaps(process.argv.slice(3))).then(
    (status) => {
      process.exitCode = status;
    },
    (error: unknown) => {
      console.error(`bench/pinned-maps: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    },
  );
}
