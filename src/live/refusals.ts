import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import {
  alu32Imm,
  alu64Imm,
  assemble,
  atomicAdd,
  call,
  exit,
  jmpImm,
  label,
  ldMapFd,
  ldxMem,
  mov32Imm,
  mov64Imm,
  mov64Reg,
  R0,
  R1,
  R10,
  R2,
  R3,
  R4,
  R6,
  R7,
  stxMem,
  type ProgramItem,
} from '../asm/index.js';
import { closeFd, mapCreate, mapGetFdById, mapLookup, mapUpdate, progLoad, SyscallError, type MapId } from '../sys/bpf/index.js';
import { attachSocketFilter, closeSocket, udpSocket } from '../sys/proc/index.js';
import { errnoName } from '../vocab/errno.js';
import { BpfmemError } from '../vocab/errors.js';
import { MAP_FLAGS } from '../vocab/flags.js';
import { mapSpec } from '../vocab/map-spec.js';
import { LiveBackend } from './backend.js';
import { lookupZero } from './softirq.js';
import { ensureMemlock } from './memlock.js';

/**
 * Map updates the kernel refuses for lack of memory, made on purpose, with the ground truth of
 * every refusal: the proof behind `bpfmem watch` (test/live/watch.test.ts, the kernel lab's watch
 * check, bench/watch.ts).
 *
 * A memory cgroup with a tight limit is made under bpfmem's own (src/live/backend.ts); a worker
 * task creates a no-prealloc hash in it (4-byte keys, 4000-byte values) and moves out to a
 * sibling, so nothing but the map is charged there and no task of it can be OOM-killed. This
 * process then inserts into the map:
 * - by bpf(2) until the first refusal and a number of times after (each errno counted);
 * - from softirq: a socket filter on a loopback UDP socket inserts one new key per packet and
 *   counts what `bpf_map_update_elem` returned, by errno, in an array (its own ground truth).
 * Since 6.0 both are charged to the map's memory cgroup whoever runs them (kernel/bpf/syscall.c
 * `bpf_map_kmalloc_node` and memalloc.c use the map's objcg), and refused with ENOMEM at its limit.
 */

/** The map filled: a no-prealloc hash whose elements are about 4 KiB each. */
export const FILL_SPEC = mapSpec({ type: 'hash', keySize: 4, valueSize: 4000, maxEntries: 16384, flags: MAP_FLAGS.no_prealloc });

/** Errno counts: index = errno, 0 = successes. */
export type ErrnoCounts = ReadonlyMap<string, number>;

/** The ground truth's array: errno 0 … 127 (0: success; 127 also takes anything larger). */
const GT_ENTRIES = 128;

/** Keys the softirq inserts use (far from the syscall's 0, 1, 2 …). */
const SOFTIRQ_KEY_BASE = 0x4000_0000;

/** The socket filter: one new key per packet, and the result of the update counted by errno. */
export function groundTruthFilter(maps: { seq: number; value: number; target: number; truth: number }): ProgramItem[] {
  return [
    ...lookupZero(maps.seq),
    mov64Reg(R6, R0),
    ...lookupZero(maps.value),
    mov64Reg(R7, R0),
    // key = base + seq++ (one sender: softirq runs on the sending CPU, one packet at a time).
    ldxMem('dw', R1, R6, 0),
    mov64Reg(R2, R1),
    alu64Imm('add', R2, 1),
    stxMem('dw', R6, R2, 0),
    alu64Imm('add', R1, SOFTIRQ_KEY_BASE),
    stxMem('w', R10, R1, -4),
    ldMapFd(R1, maps.target),
    mov64Reg(R2, R10),
    alu64Imm('add', R2, -4),
    mov64Reg(R3, R7),
    mov64Imm(R4, 1), // BPF_NOEXIST
    call('map_update_elem'),
    // The errno as a 32-bit int: map ops return int before 6.4, zero-extended in r0.
    alu32Imm('neg', R0, 0),
    jmpImm('jlt', R0, GT_ENTRIES, 'index'),
    mov32Imm(R0, GT_ENTRIES - 1),
    label('index'),
    stxMem('w', R10, R0, -8),
    ...countAt(maps.truth, -8),
  ];
}

/**
 * `array[*(u32 *)(r10 + keyAt)] += 1` (atomically), then the program's end, labelled `out`,
 * returning 0: the tail of the counting programs here and in src/watch/bench.ts.
 */
export function countAt(array: number, keyAt: number): ProgramItem[] {
  return [
    mov64Reg(R2, R10),
    alu64Imm('add', R2, keyAt),
    ldMapFd(R1, array),
    call('map_lookup_elem'),
    jmpImm('jeq', R0, 0, 'out'),
    mov64Imm(R1, 1),
    atomicAdd('dw', R0, R1, 0),
    label('out'),
    mov64Imm(R0, 0),
    exit(),
  ];
}

/** Errno number → name (`ok` for 0, `E<n>` for one bpfmem has no name for). */
export const errnoLabel = (n: number): string => (n === 0 ? 'ok' : (errnoName(n) ?? `E${n}`));

/** Options of {@link RefusalLab.open}. */
export interface RefusalLabOptions {
  /** `memory.max` (v1 `memory.limit_in_bytes`) of the cgroup the map is charged to. */
  readonly limitBytes: number;
  /** Prefix of the owned cgroup root. */
  readonly prefix?: string;
}

/** A map in a full memory cgroup, and the inserts that find it full. */
export class RefusalLab {
  #fd: number;
  #softirq: { seq: number; value: number; truth: number; prog: number; sock: { fd: number; port: number } } | undefined;
  #nextKey = 0;

  private constructor(
    readonly backend: LiveBackend,
    readonly mapId: MapId,
    fd: number,
    /** Absolute directory of the cgroup the map is charged to. */
    readonly cgroupDir: string,
  ) {
    this.#fd = fd;
  }

  /** Makes the cgroups, the task and the map. Needs root. */
  static async open(o: RefusalLabOptions): Promise<RefusalLab> {
    // This process's maps (the ground truth's) count against RLIMIT_MEMLOCK before 5.11.
    await ensureMemlock();
    const backend = await LiveBackend.create({ prefix: o.prefix ?? 'watch' });
    try {
      const must = (r: { ok: boolean; reason?: string }, what: string): void => {
        if (!r.ok) throw new BpfmemError('system', `${what}: ${r.reason ?? 'refused'}`);
      };
      const inf = Number.POSITIVE_INFINITY;
      must(await backend.createCgroup('/full', { max: o.limitBytes, high: inf }), 'creating /full');
      must(await backend.createCgroup('/idle', { max: inf, high: inf }), 'creating /idle');
      must(await backend.startTask('maker', { cgroup: '/full', uid: 0, memlock: Number.POSITIVE_INFINITY }), 'starting the task');
      must(await backend.createMap('maker', 'big', FILL_SPEC), 'creating the map');
      must(await backend.moveTask('maker', '/idle'), 'moving the task out');
      const id = (await backend.snapshot()).maps.find((m) => m.name === 'big')?.id;
      if (id === undefined) throw new BpfmemError('system', 'the map made is not in the snapshot');
      const fd = mapGetFdById(id as MapId);
      return new RefusalLab(backend, id as MapId, fd, `${backend.root}/full`);
    } catch (error) {
      await backend.dispose();
      throw error;
    }
  }

  /**
   * Inserts new keys by bpf(2) until the first refusal, then `after` more; returns the count of
   * each outcome (`ok`, `ENOMEM` …). Stops at `limit` attempts (a kernel that never refuses).
   */
  fillBySyscall(after: number, limit = FILL_SPEC.maxEntries + 1000): Map<string, number> {
    const counts = new Map<string, number>();
    const key = new Uint8Array(new ArrayBuffer(4));
    const value = new Uint8Array(new ArrayBuffer(FILL_SPEC.valueSize));
    let failures = 0;
    for (let i = 0; i < limit && failures < after; i++) {
      new DataView(key.buffer).setUint32(0, this.#nextKey++, true);
      let outcome = 'ok';
      try {
        mapUpdate(this.#fd, key, value, 'noexist');
      } catch (error) {
        if (!(error instanceof SyscallError)) throw error;
        outcome = errnoLabel(error.errno);
        failures++;
      }
      counts.set(outcome, (counts.get(outcome) ?? 0) + 1);
    }
    return counts;
  }

  /** Sends `packets` loopback packets, each inserting one new key from softirq; the filter's own counts by outcome. */
  async fillBySoftirq(packets: number): Promise<Map<string, number>> {
    const f = (this.#softirq ??= this.#arm());
    const before = this.#truth();
    const sender = createSocket('udp4');
    try {
      const payload = Buffer.alloc(1);
      for (let i = 0; i < packets; i++) {
        sender.send(payload, f.sock.port, '127.0.0.1');
        // Let the socket drain every so often: a full send queue would drop packets, not run the filter.
        if (i % 64 === 63) await new Promise((r) => setImmediate(r));
      }
      // Every packet runs the filter in softirq on the way in; wait until it has seen them all.
      const deadline = Date.now() + 30_000;
      for (;;) {
        const seen = sum(this.#truth()) - sum(before);
        if (seen >= packets) break;
        if (Date.now() > deadline) throw new BpfmemError('system', `the socket filter saw ${seen} of ${packets} packets in 30 s`);
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      sender.close();
      await once(sender, 'close').catch(() => undefined);
    }
    const after = this.#truth();
    const out = new Map<string, number>();
    for (const [k, v] of after) {
      const d = v - (before.get(k) ?? 0);
      if (d > 0) out.set(k, d);
    }
    return out;
  }

  #arm(): { seq: number; value: number; truth: number; prog: number; sock: { fd: number; port: number } } {
    const made: number[] = [];
    try {
      const seq = mapCreate({ type: 'array', keySize: 4, valueSize: 8, maxEntries: 1, name: 'bpfmem_gtseq' });
      made.push(seq);
      const value = mapCreate({ type: 'array', keySize: 4, valueSize: FILL_SPEC.valueSize, maxEntries: 1, name: 'bpfmem_gtval' });
      made.push(value);
      const truth = mapCreate({ type: 'array', keySize: 4, valueSize: 8, maxEntries: GT_ENTRIES, name: 'bpfmem_gt' });
      made.push(truth);
      const prog = progLoad({ type: 'socket_filter', insns: assemble(groundTruthFilter({ seq, value, target: this.#fd, truth })), license: 'GPL', name: 'bpfmem_gtfill' });
      made.push(prog);
      const sock = udpSocket();
      try {
        attachSocketFilter(sock.fd, prog);
      } catch (error) {
        closeSocket(sock.fd);
        throw error;
      }
      return { seq, value, truth, prog, sock };
    } catch (error) {
      for (const fd of made) closeFd(fd);
      throw error;
    }
  }

  /** The filter's counts now, by outcome. */
  #truth(): Map<string, number> {
    const f = this.#softirq;
    const out = new Map<string, number>();
    if (!f) return out;
    for (let e = 0; e < GT_ENTRIES; e++) {
      const key = new Uint8Array(new ArrayBuffer(4));
      new DataView(key.buffer).setUint32(0, e, true);
      const v = mapLookup(f.truth, key, 8);
      const n = v ? Number(new DataView(v.buffer, v.byteOffset).getBigUint64(0, true)) : 0;
      if (n > 0) out.set(errnoLabel(e), n);
    }
    return out;
  }

  /** Closes the map, the filter and its socket, and removes the cgroups and the task. */
  async dispose(): Promise<void> {
    const f = this.#softirq;
    this.#softirq = undefined;
    if (f) {
      closeSocket(f.sock.fd);
      for (const fd of [f.prog, f.truth, f.value, f.seq]) closeFd(fd);
    }
    if (this.#fd >= 0) closeFd(this.#fd);
    this.#fd = -1;
    await this.backend.dispose();
  }
}

const sum = (m: ReadonlyMap<string, number>): number => [...m.values()].reduce((a, b) => a + b, 0);
