import { alu64Imm, assemble, call, exit, ldMapFd, mov64Imm, mov64Reg, R0, R1, R10, R2, R3, R4, stMem, type ProgramItem } from '../asm/index.js';
import { ensureMemlock } from '../live/memlock.js';
import { countAt } from '../live/refusals.js';
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { closeFd, mapCreate, mapLookup, progLoad, progTestRun } from '../sys/bpf/index.js';
import { attachSocketFilter, closeSocket, udpSocket } from '../sys/proc/index.js';
import { MAP_FLAGS } from '../vocab/flags.js';
import type { KernelProfile } from '../vocab/profile.js';

/**
 * What `bpfmem watch` costs the updates it watches: map updates per second from a BPF program,
 * in the same process, rounds alternating between three states (bench/watch.ts; the kernel lab
 * runs it where fexit can attach):
 * - `unwatched`: no watch session;
 * - `idle`: `bpfmem watch --json` running as its own process (dist/bin; a frame every 2 s), arming on
 *   headroom with the default --arm-below: where no memory cgroup paying for BPF maps is near a
 *   limit it keeps every hook detached (what its frames say is attached is reported);
 * - `armed`: the same with `--always` (every hook attached: the cost a cgroup near its limit
 *   pays on the map types it holds). The program is a socket filter
 * run by BPF_PROG_TEST_RUN, which times `repeat` runs in the kernel; each run makes
 * {@link UPDATES_PER_RUN} updates through the JIT's direct call of the map type's update function,
 * the path the hook sits on:
 * - `in-place`: an existing key of a preallocated hash, updated again: the cheapest update there
 *   is, so the hook's cost shows whole;
 * - `insert-delete`: a new key inserted into a no-prealloc hash and deleted again (an element
 *   allocated from the map's memory cache and freed), the path memory failures happen on;
 * - `per-packet`: one update per loopback UDP packet, by a socket filter in softirq, as a
 *   program that updates a map per packet does: updates per second are packets per second
 *   through the whole stack, sent by this process (the hook's cost on a real workload).
 */

/** Updates each run of the program makes. */
export const UPDATES_PER_RUN = 32;

export type BenchCase = 'in-place' | 'insert-delete' | 'per-packet';

/** One case, measured. */
export interface BenchResult {
  readonly case: BenchCase;
  /** Map updates per second from the program, per round: no watch, watch idle (hooks detached), watch armed. */
  readonly unwatched: readonly number[];
  readonly idle: readonly number[];
  readonly armed: readonly number[];
  /** Median idle / median unwatched, median armed / median unwatched. */
  readonly idleRatio: number;
  readonly armedRatio: number;
}

export interface WatchBench {
  /** Why the hooks could not be attached here (then only the idle rounds were measured). */
  readonly notAttached?: string;
  /** Most hooks attached during an idle round (0: the idle rounds paid no trampoline), and how the session said why. */
  readonly idleHooks: number;
  readonly idleArming: string;
  /** Hooks attached during the armed rounds. */
  readonly armedHooks: number;
  readonly results: readonly BenchResult[];
}

/** A `bpfmem watch --json` process: its last frame, and a stop that waits for it to end. */
interface WatchProcess {
  readonly last: () => { armed: string[]; arming: string; refusedAll: string | undefined } | undefined;
  readonly stop: () => Promise<void>;
}

/** Starts `bpfmem watch --json [extra]` (a frame every 2 s, the default) and waits for its first frame (then its hooks are armed as it decided). */
async function startWatch(extra: readonly string[]): Promise<WatchProcess> {
  const cli = fileURLToPath(new URL('../../dist/bin/bpfmem.js', import.meta.url));
  const child = spawn(process.execPath, [cli, 'watch', '--json', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  const closed = new Promise<void>((resolve) => child.once('close', () => { resolve(); }));
  let buffer = '';
  let err = '';
  let last: ReturnType<WatchProcess['last']>;
  child.stdout.setEncoding('utf8').on('data', (c: string) => {
    buffer += c;
    for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
      const line = buffer.slice(0, i);
      buffer = buffer.slice(i + 1);
      const f = JSON.parse(line) as { tracing?: { armed?: string[]; refused_all?: string | null; arming?: { mode: string; cgroups: { path: string; why: string }[] } | null } };
      const a = f.tracing?.arming;
      last = {
        armed: f.tracing?.armed ?? [],
        arming: a ? `${a.mode}: ${a.cgroups.map((c) => `${c.path} ${c.why}`).join(', ') || 'no cgroup near a limit'}` : 'not traced',
        refusedAll: f.tracing?.refused_all ?? undefined,
      };
    }
  });
  child.stderr.setEncoding('utf8').on('data', (c: string) => (err = (err + c).slice(-2000)));
  const deadline = Date.now() + 180_000;
  while (last === undefined && child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await closed;
  };
  if (last === undefined) {
    await stop();
    throw new Error(`bpfmem watch printed no frame: ${err.trim().split('\n').pop() ?? ''}`);
  }
  return { last: () => last, stop };
}

/** The program: {@link UPDATES_PER_RUN} updates of `map` (and deletes, for insert-delete). */
function benchProgram(map: number, kind: BenchCase): ProgramItem[] {
  const p: ProgramItem[] = [stMem('dw', R10, -16, 0), stMem('dw', R10, -24, 7)];
  for (let i = 0; i < UPDATES_PER_RUN; i++) {
    // key at -4 (i for insert-delete, 1 for in-place), value at -24.
    p.push(stMem('w', R10, -4, kind === 'in-place' ? 1 : 1000 + i));
    p.push(ldMapFd(R1, map), mov64Reg(R2, R10), alu64Imm('add', R2, -4), mov64Reg(R3, R10), alu64Imm('add', R3, -24), mov64Imm(R4, 0), call('map_update_elem'));
    if (kind === 'insert-delete') p.push(ldMapFd(R1, map), mov64Reg(R2, R10), alu64Imm('add', R2, -4), call('map_delete_elem'));
  }
  p.push(mov64Imm(R0, 0), exit());
  return p;
}

/** The per-packet filter: one in-place update of key 1, and a count of packets seen at key 0 of `seen`. */
function packetProgram(map: number, seen: number): ProgramItem[] {
  return [
    stMem('w', R10, -4, 1),
    stMem('dw', R10, -16, 7),
    ldMapFd(R1, map),
    mov64Reg(R2, R10),
    alu64Imm('add', R2, -4),
    mov64Reg(R3, R10),
    alu64Imm('add', R3, -16),
    mov64Imm(R4, 0),
    call('map_update_elem'),
    stMem('w', R10, -4, 0),
    ...countAt(seen, -4),
  ];
}

/** Packets of one per-packet measurement. */
const PACKETS = 20_000;

/** Updates per second through loopback packets: sends {@link PACKETS} and times until the filter saw them all. */
async function packetRate(port: number, seen: number): Promise<number> {
  const count = (): number => {
    const v = mapLookup(seen, new Uint8Array(4), 8);
    return v ? Number(new DataView(v.buffer, v.byteOffset).getBigUint64(0, true)) : 0;
  };
  const before = count();
  const sender = createSocket('udp4');
  const payload = Buffer.alloc(1);
  const t0 = process.hrtime.bigint();
  try {
    for (let i = 0; i < PACKETS; i++) {
      sender.send(payload, port, '127.0.0.1');
      if (i % 64 === 63) await new Promise((r) => setImmediate(r));
    }
    const deadline = Date.now() + 60_000;
    while (count() - before < PACKETS && Date.now() < deadline) await new Promise((r) => setImmediate(r));
  } finally {
    sender.close();
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return (count() - before) / seconds;
}

export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? Number.NaN : s.length % 2 === 1 ? (s[m] ?? Number.NaN) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
};

/** Options of {@link runWatchBench}. */
export interface BenchOptions {
  readonly profile: KernelProfile;
  /** Rounds of each (unwatched, watched) pair. */
  readonly rounds: number;
  /** Program runs per measurement. */
  readonly repeat?: number;
}

/** Measures both cases, alternating unwatched and watched rounds. */
export async function runWatchBench(o: BenchOptions): Promise<WatchBench> {
  const repeat = o.repeat ?? 20_000;
  const packet = new Uint8Array(new ArrayBuffer(64));
  const setups: { kind: BenchCase; map: number; prog: number }[] = [];
  const extra: number[] = [];
  const sockets: number[] = [];
  await ensureMemlock(); // before 5.11 the maps count against RLIMIT_MEMLOCK
  try {
    for (const kind of ['in-place', 'insert-delete'] as const) {
      const map = mapCreate({ type: 'hash', keySize: 4, valueSize: 8, maxEntries: 1024, ...(kind === 'insert-delete' && { flags: MAP_FLAGS.no_prealloc }), name: 'bpfmem_wbench' });
      setups.push({ kind, map, prog: -1 });
      const prog = progLoad({ type: 'socket_filter', insns: assemble(benchProgram(map, kind)), license: 'GPL', name: 'bpfmem_wbench' });
      (setups[setups.length - 1] as { prog: number }).prog = prog;
    }
    // The per-packet case: a filter on a loopback socket, one update per packet.
    const pmap = mapCreate({ type: 'hash', keySize: 4, valueSize: 8, maxEntries: 16, name: 'bpfmem_wbench' });
    setups.push({ kind: 'per-packet', map: pmap, prog: -1 });
    const seen = mapCreate({ type: 'array', keySize: 4, valueSize: 8, maxEntries: 1, name: 'bpfmem_wbseen' });
    extra.push(seen);
    const pprog = progLoad({ type: 'socket_filter', insns: assemble(packetProgram(pmap, seen)), license: 'GPL', name: 'bpfmem_wbench' });
    (setups[setups.length - 1] as { prog: number }).prog = pprog;
    const sock = udpSocket();
    sockets.push(sock.fd);
    attachSocketFilter(sock.fd, pprog);
    const testRun = (prog: number): number => (UPDATES_PER_RUN * 1e9) / Math.max(1, progTestRun(prog, packet, repeat).durationNs);
    const rate = async (s: { kind: BenchCase; prog: number }): Promise<number> => (s.kind === 'per-packet' ? packetRate(sock.port, seen) : testRun(s.prog));
    const unwatched = new Map<BenchCase, number[]>();
    const idle = new Map<BenchCase, number[]>();
    const armed = new Map<BenchCase, number[]>();
    const push = (m: Map<BenchCase, number[]>, k: BenchCase, v: number): void => {
      m.set(k, [...(m.get(k) ?? []), v]);
    };
    let idleHooks = 0;
    let idleArming = '';
    let armedHooks = 0;
    let notAttached: string | undefined;
    for (const s of setups) await rate(s); // warm the caches and the allocator
    for (let r = 0; r < o.rounds; r++) {
      for (const s of setups) push(unwatched, s.kind, await rate(s));
      // watch as it runs by default (arming on headroom, a frame every 2 s), in its own process.
      const idleWatch = await startWatch([]);
      try {
        for (const s of setups) push(idle, s.kind, await rate(s));
        const f = idleWatch.last();
        idleHooks = Math.max(idleHooks, f?.armed.length ?? 0);
        idleArming = f?.arming ?? '';
      } finally {
        await idleWatch.stop();
      }
      const armedWatch = await startWatch(['--always']);
      try {
        const f = armedWatch.last();
        if (!f || f.armed.length === 0) {
          notAttached = f?.refusedAll ?? 'no hook attached';
          continue;
        }
        armedHooks = f.armed.length;
        for (const s of setups) push(armed, s.kind, await rate(s));
      } finally {
        await armedWatch.stop();
      }
    }
    const results = setups.map((s) => {
      const u = unwatched.get(s.kind) ?? [];
      const i = idle.get(s.kind) ?? [];
      const a = armed.get(s.kind) ?? [];
      return { case: s.kind, unwatched: u, idle: i, armed: a, idleRatio: median(i) / median(u), armedRatio: median(a) / median(u) };
    });
    return { ...(notAttached !== undefined && { notAttached }), idleHooks, idleArming, armedHooks, results };
  } finally {
    for (const fd of sockets) closeSocket(fd);
    for (const s of setups) {
      if (s.prog >= 0) closeFd(s.prog);
      closeFd(s.map);
    }
    for (const fd of extra) closeFd(fd);
  }
}
