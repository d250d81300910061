import { alu64Imm, assemble, call, exit, ldMapFd, mov64Imm, mov64Reg, R0, R1, R10, R2, R3, R4, stMem, type ProgramItem } from '../asm/index.js';
import { FailureWatch } from '../live/watch.js';
import { ensureMemlock } from '../live/memlock.js';
import { countAt } from '../live/refusals.js';
import { createSocket } from 'node:dgram';
import { closeFd, mapCreate, mapLookup, progLoad, progTestRun } from '../sys/bpf/index.js';
import { attachSocketFilter, closeSocket, udpSocket } from '../sys/proc/index.js';
import { MAP_FLAGS } from '../vocab/flags.js';
import type { KernelProfile } from '../vocab/profile.js';

/**
 * What `bpfmem watch` costs the updates it watches: map updates per second from a BPF program,
 * with and without the failure hooks attached, in the same process, rounds alternating
 * (bench/watch.ts; the kernel lab runs it where fexit can attach). The program is a socket filter
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
  /** Map updates per second from the program, per round, unwatched and watched. */
  readonly unwatched: readonly number[];
  readonly watched: readonly number[];
  /** Median watched / median unwatched. */
  readonly ratio: number;
}

export interface WatchBench {
  /** Why the hooks could not be attached here (then nothing watched was measured). */
  readonly notAttached?: string;
  /** Hooks attached during the watched rounds. */
  readonly hooks: number;
  readonly results: readonly BenchResult[];
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

const median = (xs: readonly number[]): number => {
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
    const watched = new Map<BenchCase, number[]>();
    let hooks = 0;
    let notAttached: string | undefined;
    for (const s of setups) await rate(s); // warm the caches and the allocator
    for (let r = 0; r < o.rounds; r++) {
      for (const s of setups) unwatched.set(s.kind, [...(unwatched.get(s.kind) ?? []), await rate(s)]);
      const watch = await FailureWatch.open({ profile: o.profile });
      try {
        if (!watch.attached) {
          notAttached = watch.refusedAll ?? 'no hook attached';
          continue;
        }
        hooks = watch.hooks.filter((h) => h.state === 'attached').length;
        for (const s of setups) watched.set(s.kind, [...(watched.get(s.kind) ?? []), await rate(s)]);
      } finally {
        watch.close();
      }
    }
    const results = setups.map((s) => {
      const u = unwatched.get(s.kind) ?? [];
      const w = watched.get(s.kind) ?? [];
      return { case: s.kind, unwatched: u, watched: w, ratio: median(w) / median(u) };
    });
    return { ...(notAttached !== undefined && { notAttached }), hooks, results };
  } finally {
    for (const fd of sockets) closeSocket(fd);
    for (const s of setups) {
      if (s.prog >= 0) closeFd(s.prog);
      closeFd(s.map);
    }
    for (const fd of extra) closeFd(fd);
  }
}
