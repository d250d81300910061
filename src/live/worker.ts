/**
 * A live task: a child process that the live backend places in a memory cgroup and that makes
 * the bpf() calls of one scenario task, so the kernel charges them where it would charge that
 * task. This is its request handler; the process entry is src/bin/live-worker.ts.
 */
import { createSocket } from 'node:dgram';
import { loadPlaceholderBtf, mapCreate, mapDelete, mapGetFdById, mapId, mapInfo, mapLookup, mapUpdate, progInfo, progLoad, closeFd } from '../sys/bpf/index.js';
import { getRlimitMemlock, setRealUid, setRlimitMemlock } from '../sys/proc/index.js';
import { attachSocketFilter, closeSocket, udpSocket } from '../sys/proc/index.js';
import { noHugePages, setAffinity } from '../sys/proc/index.js';
import { SyscallError } from '../sys/bpf/index.js';
import { lastErrno, libc } from '../sys/bpf/index.js';
import { assemble, exit, mov64Imm, type ProgramItem } from '../asm/index.js';
import type { MapSpec } from '../vocab/map-spec.js';
import { insertKind, keyFor, valueFor } from './keys.js';
import { COUNTER_VALUE_SIZE, counterValue, insertFilter, readCounter } from './softirq.js';
import type { WorkerError, WorkerOk, WorkerRequest, WorkerValue } from './protocol.js';

let possibleCpus = 1;

/**
 * Sets the worker process up: how many possible CPUs per-CPU values are sized for, and its own
 * memory in 4 KiB pages, so that what it faults in its cgroup is a page at a time as the model
 * counts it, never a 2 MiB transparent huge page (src/sys/proc/memory.ts noHugePages).
 */
export function configureWorker(cpus: number): void {
  possibleCpus = cpus;
  // Refused only before 3.15, where huge pages of the task would still come in 2 MiB at a time.
  noHugePages();
}

/** Map fds this worker holds, by map id. */
const maps = new Map<number, number>();
/** Program fds, by program id. */
const progs = new Map<number, number>();
/** Anonymous memory the task holds (touched, so it is charged). */
const heap: Buffer[] = [];
/** A bound UDP socket for sockmap/sockhash values, made on first use. */
let socketFd: number | undefined;
/** A small inner map for map-in-map values, made on first use. */
let innerFd: number | undefined;

interface Softirq {
  readonly counter: number;
  readonly keyBuf: number;
  readonly valueBuf: number;
  readonly prog: number;
  readonly sock: { fd: number; port: number };
}
/** The insert filters armed by this worker (it is the interrupt driver), by target map id. */
const filters = new Map<number, Softirq>();

const none: WorkerValue = { kind: 'none' };

function fail(error: unknown, applied?: number): WorkerError {
  if (error instanceof SyscallError) {
    return { ok: false, errno: error.errnoName ?? String(error.errno), message: error.message, ...(applied === undefined ? {} : { applied }) };
  }
  return { ok: false, errno: 'ERROR', message: error instanceof Error ? error.message : String(error), ...(applied === undefined ? {} : { applied }) };
}

function fdOf(id: number): number {
  let fd = maps.get(id);
  if (fd === undefined) {
    fd = mapGetFdById(mapId(id));
    maps.set(id, fd);
  }
  return fd;
}

/** The btf_fd of struct_ops maps, loaded once (uncharged: loading it in a measured creation adds nothing). */
let structOpsBtfFd: number | undefined;
function structOpsBtf(): number {
  structOpsBtfFd ??= loadPlaceholderBtf();
  return structOpsBtfFd;
}

function valueFd(spec: MapSpec): number {
  switch (insertKind(spec.type)) {
    case 'socket':
      socketFd ??= udpSocket().fd;
      return socketFd;
    case 'map':
      innerFd ??= mapCreate({ type: 'array', keySize: 4, valueSize: 4, maxEntries: 1 });
      return innerFd;
    case 'key':
    case 'index':
    case 'lpm':
    case 'push':
    case 'ifindex':
    case 'unsupported':
      return 0;
  }
}

/** Blocks this worker for `ms` (it has nothing else to do while it waits for the kernel). */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Runs a request that answers at once (every one but `softirqSend`). */
function now(req: Exclude<WorkerRequest, { op: 'softirqSend' }>): WorkerOk | WorkerError {
  const answer = handle(req);
  if (answer instanceof Promise) throw new Error(`${req.op} does not answer at once`);
  return answer;
}

/**
 * Touches what the worker will use before it is moved into its cgroup: the young generation
 * (fixed in size by the worker's V8 flags), koffi, the bpf() paths. Pages faulted later would
 * be charged to the task's cgroup (and grow its page tables, kernel memory), blurring what BPF
 * costs there.
 */
function warmUp(innerTemplate: boolean): void {
  let keep = 0;
  for (let i = 0; i < 200_000; i++) keep += new Uint8Array(64 + (i & 255)).length;
  // The code paths of the requests to come, run once here (their first run faults JIT code and
  // data pages in: measured 3–4 pages for a first BPF_MAP_CREATE request, 0–1 after).
  const spec = { type: 'hash', keySize: 8, valueSize: 8, maxEntries: 16, flags: 1, mapExtra: 0 } as const;
  for (const type of ['hash', 'array'] as const) {
    const s = { ...spec, type, keySize: type === 'array' ? 4 : 8 };
    const made = now({ op: 'createMap', spec: s, name: 'bpfmem_warmup' });
    if (!made.ok || made.value.kind !== 'map') continue;
    const id = made.value.id;
    now({ op: 'insert', id, spec: s, firstKey: 0, count: 4, cpu: 0 });
    if (type === 'hash') now({ op: 'remove', id, spec: s, firstKey: 0, count: 4, cpu: 0 });
    now({ op: 'closeMap', id });
  }
  // Before 5.11, the inner map template of map-in-map values: the harness's own, made before the
  // task takes its credentials, so that its precharge does not land on the uid being measured.
  // (Since 5.11 it is made on first use, where it was always made: a map of the task's own.)
  if (innerTemplate) {
    try {
      valueFd({ ...spec, type: 'array_of_maps', keySize: 4, valueSize: 4 });
    } catch {
      innerFd = undefined;
    }
  }
  const prog = now({ op: 'loadProg', name: 'bpfmem_warmup', insns: 2 });
  if (prog.ok && prog.value.kind === 'prog') now({ op: 'closeProg', id: prog.value.id });
  (globalThis as { gc?: () => void }).gc?.();
  if (keep < 0) throw new Error('unreachable');
}

/**
 * Takes the real uid `uid` (the user BPF precharged before 5.11; src/sys/proc/cred.ts) and sets
 * RLIMIT_MEMLOCK to `memlock`, soft and hard. Raising the hard limit needs CAP_SYS_RESOURCE,
 * which a container's root may lack: then the soft limit goes as high as the hard one allows (on
 * 5.11+ the limit does not touch BPF). Answers the soft limit now in force (-1: left as it was,
 * -2: unlimited), which the backend compares with what was asked.
 */
function credentials(uid: number | null, memlock: number | null): number {
  if (uid !== null && uid !== process.getuid?.()) setRealUid(uid);
  if (memlock === null) return -1;
  let set = memlock;
  try {
    setRlimitMemlock(memlock, memlock);
  } catch {
    const { hard } = getRlimitMemlock();
    set = Math.min(memlock, hard);
    setRlimitMemlock(set, hard);
  }
  return set === Number.POSITIVE_INFINITY ? -2 : set;
}

/** A straight-line socket filter of exactly `insns` instructions: `r0 = 0` … `exit`. */
function programOf(insns: number): Uint8Array {
  const body: ProgramItem[] = [];
  for (let i = 0; i < insns - 1; i++) body.push(mov64Imm(0, 0));
  body.push(exit());
  return assemble(body);
}

function handle(req: WorkerRequest): WorkerOk | WorkerError | Promise<WorkerOk | WorkerError> {
  const ok = (value: WorkerValue = none): WorkerOk => ({ ok: true, value });
  try {
    switch (req.op) {
      case 'setup':
        warmUp(req.innerTemplate === true);
        return ok({ kind: 'count', applied: credentials(req.uid, req.memlock) });
      case 'credentials':
        return ok({ kind: 'count', applied: credentials(req.uid, req.memlock) });
      case 'createMap': {
        const s = req.spec;
        const fd = mapCreate({
          type: s.type,
          keySize: s.keySize,
          valueSize: s.valueSize,
          maxEntries: s.maxEntries,
          flags: s.flags,
          mapExtra: s.mapExtra,
          name: req.name,
          ...(s.type === 'hash_of_maps' || s.type === 'array_of_maps' ? { innerMapFd: valueFd(s) } : {}),
          ...(req.vmlinuxValueTypeId === undefined ? {} : { btfVmlinuxValueTypeId: req.vmlinuxValueTypeId, btfFd: structOpsBtf() }),
        });
        const id = mapInfo(fd).id;
        maps.set(id, fd);
        return ok({ kind: 'map', id, fd });
      }
      case 'openMap':
        return ok({ kind: 'map', id: req.id, fd: fdOf(req.id) });
      case 'insert': {
        setAffinity(req.cpu);
        const fd = fdOf(req.id);
        const vfd = valueFd(req.spec);
        const push = insertKind(req.spec.type) === 'push';
        // One key and one value buffer for the whole batch: the loop allocates nothing.
        const key = new Uint8Array(req.spec.keySize);
        const value = valueFor(req.spec, 0, possibleCpus, vfd);
        const deadline = Date.now() + (req.retryEnomemMs ?? 0);
        let retried = 0;
        for (let i = 0; i < req.count; i++) {
          const n = req.firstKey + i;
          try {
            if (req.spec.type === 'bloom_filter') value.set(valueFor(req.spec, n, possibleCpus, vfd));
            mapUpdate(fd, push ? undefined : keyFor(req.spec, n, key), value, 'any');
          } catch (error) {
            if (error instanceof SyscallError && error.errnoName === 'ENOMEM' && Date.now() < deadline) {
              // The per-CPU allocator may populate more space meanwhile (pcpu_balance_workfn).
              retried++;
              i--;
              sleepSync(2);
              continue;
            }
            return fail(error, i);
          }
        }
        return ok({ kind: 'count', applied: req.count, retried });
      }
      case 'remove': {
        setAffinity(req.cpu);
        const fd = fdOf(req.id);
        let done = 0;
        const key = new Uint8Array(req.spec.keySize);
        for (let i = 0; i < req.count; i++) {
          try {
            if (mapDelete(fd, keyFor(req.spec, req.firstKey + i, key))) done++;
          } catch (error) {
            return fail(error, done);
          }
        }
        return ok({ kind: 'count', applied: done });
      }
      case 'closeMap': {
        const fd = maps.get(req.id);
        if (fd !== undefined) closeFd(fd);
        maps.delete(req.id);
        const f = filters.get(req.id);
        if (f) {
          closeSocket(f.sock.fd);
          for (const x of [f.prog, f.counter, f.keyBuf, f.valueBuf]) closeFd(x);
          filters.delete(req.id);
        }
        return ok();
      }
      case 'loadProg': {
        const fd = progLoad({ type: 'socket_filter', insns: programOf(req.insns), license: 'GPL', name: req.name });
        const id = progInfo(fd).id;
        progs.set(id, fd);
        return ok({ kind: 'prog', id, fd });
      }
      case 'closeProg': {
        const fd = progs.get(req.id);
        if (fd !== undefined) closeFd(fd);
        progs.delete(req.id);
        return ok();
      }
      case 'touch': {
        if (libc().touchAnonymous(req.bytes) !== 0) return { ok: false, errno: 'ENOMEM', message: `faulting ${req.bytes} bytes of anonymous memory in failed (errno ${lastErrno()})` };
        return ok();
      }
      case 'alloc': {
        if (req.bytes >= 0) {
          // Touched page by page, so every page is faulted in and charged.
          heap.push(Buffer.alloc(req.bytes, 1));
        } else {
          let left = -req.bytes;
          while (left > 0 && heap.length) {
            const b = heap.pop();
            if (b) left -= b.length;
          }
          (globalThis as { gc?: () => void }).gc?.();
        }
        return ok();
      }
      case 'mlock':
        return { ok: false, errno: 'ENOTSUPP', message: 'mlock is not driven live' };
      case 'fds':
        return ok();
      case 'softirqArm': {
        const target = fdOf(req.targetId);
        const counter = mapCreate({ type: 'array', keySize: 4, valueSize: COUNTER_VALUE_SIZE, maxEntries: 1, name: 'bpfmem_ctr' });
        const keyBuf = mapCreate({ type: 'array', keySize: 4, valueSize: Math.max(8, Math.ceil(req.spec.keySize / 8) * 8), maxEntries: 1, name: 'bpfmem_key' });
        const valueBuf = mapCreate({ type: 'array', keySize: 4, valueSize: Math.max(8, req.spec.valueSize), maxEntries: 1, name: 'bpfmem_val' });
        mapUpdate(counter, new Uint8Array(4), counterValue(req.firstKey), 'any');
        const prog = progLoad({ type: 'socket_filter', insns: insertFilter({ counter, keyBuf, valueBuf, target }, req.spec), license: 'GPL', name: 'bpfmem_insert' });
        const sock = udpSocket();
        attachSocketFilter(sock.fd, prog);
        filters.set(req.targetId, { counter, keyBuf, valueBuf, prog, sock });
        return ok();
      }
      case 'softirqSend':
        return sendPackets(req.targetId, req.count, req.cpu, req.firstKey);
      case 'exit':
        return ok();
    }
  } catch (error) {
    return fail(error);
  }
}

/** How many packets `sendPackets` has in flight at once. */
const SEND_WINDOW = 256;

/** Sends `count` packets to the filter's socket from this CPU and waits until all were seen. */
async function sendPackets(targetId: number, count: number, cpu: number, firstKey: number): Promise<WorkerOk | WorkerError> {
  const f = filters.get(targetId);
  if (!f) return { ok: false, errno: 'ERROR', message: `no insert filter armed for map ${targetId}` };
  setAffinity(cpu);
  const read = () => readCounter(mapLookup(f.counter, new Uint8Array(4), COUNTER_VALUE_SIZE) ?? new Uint8Array(COUNTER_VALUE_SIZE));
  const before = read();
  // Keys continue where the inserts of any task left off; counts of earlier sends are kept.
  const start = new Uint8Array(COUNTER_VALUE_SIZE);
  const view = new DataView(start.buffer);
  view.setBigUint64(0, BigInt(firstKey), true);
  view.setBigUint64(8, BigInt(before.inserted), true);
  view.setBigUint64(16, BigInt(before.failed), true);
  view.setBigInt64(24, BigInt(before.lastError), true);
  mapUpdate(f.counter, new Uint8Array(4), start, 'any');
  const sender = createSocket('udp4');
  const payload = Buffer.alloc(1);
  const sendOne = (): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      sender.send(payload, f.sock.port, '127.0.0.1', (error) => {
        if (error) reject(error);
        else resolve();
      });
    });
  try {
    // Up to SEND_WINDOW sends in flight: libuv sends them in order from this thread (so on this
    // CPU), and one round trip per packet cost most of a 100,000-packet scenario under qemu.
    for (let sent = 0; sent < count; ) {
      const batch = Math.min(SEND_WINDOW, count - sent);
      await Promise.all(Array.from({ length: batch }, sendOne));
      sent += batch;
    }
  } finally {
    sender.close();
  }
  // Loopback delivers in the sender's softirq; wait for stragglers all the same.
  const deadline = Date.now() + 5000;
  let now = read();
  while (now.inserted + now.failed - before.inserted - before.failed < count && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 5));
    now = read();
  }
  const inserted = now.inserted - before.inserted;
  const failed = now.failed - before.failed;
  return { ok: true, value: { kind: 'softirq', applied: inserted, failed, lastError: now.lastError } };
}

/** Answers one request. `exit` is the caller's to act on. */
export function handleRequest(req: WorkerRequest): Promise<WorkerOk | WorkerError> {
  return Promise.resolve(handle(req));
}
