import { cleanStaleRuns } from './stale.js';
import type {
  Backend,
  CgroupLimits,
  Credentials,
  CgroupState,
  MapState,
  Outcome,
  ProgState,
  Refusal,
  Snapshot,
  Success,
  TaskSpec,
  TaskState,
  UpdateContext,
  UpdateOptions,
} from '../vocab/backend.js';
import { BpfmemError } from '../vocab/errors.js';
import { errnoName, isErrno, type Errno } from '../vocab/errno.js';
import type { MapSpec } from '../vocab/map-spec.js';
import type { KernelProfile } from '../vocab/profile.js';
import { CgroupFs, statsFlushOnlyByThreshold } from '../sys/cgroup/index.js';
import type { CgroupCounters } from '../sys/cgroup/index.js';
import { readKernelProfile } from './machine.js';
import { readFdinfo } from '../sys/proc/index.js';
import { findBtfTypeId, vmlinuxBtf } from '../sys/bpf/index.js';
import { isClosing, track, untrack } from './cleanup.js';
import { insertKind, UNSUPPORTED_INSERT } from './keys.js';
import { LiveWorker } from './pool.js';
import type { WorkerError, WorkerOk, WorkerRequest } from './protocol.js';

/** A scenario task: a worker process in a cgroup. */
interface LiveTask {
  readonly worker: LiveWorker;
  cgroup: string;
  uid: number;
  memlock: number | null;
  /** Maps this worker has an fd for (by id). */
  readonly opened: Set<number>;
}

interface LiveMap {
  readonly id: number;
  readonly spec: MapSpec;
  /** The task whose worker created it and holds its first fd. */
  readonly holder: string;
  readonly fd: number;
  /** The next key number to insert; keys below it were used. */
  nextKey: number;
  /** The lowest key that may still be present (deletes go from there up). */
  firstLive: number;
  elements: number;
  /** Whether the interrupt driver has armed its insert filter for this map. */
  armed: boolean;
}

interface LiveProg {
  readonly id: number;
  readonly holder: string;
  readonly fd: number;
  readonly insns: number;
}

/** What every operation answers once the backend is disposed (a signal may come mid-run). */
const DISPOSED: Refusal = { ok: false, errno: 'ESRCH', reason: 'the live backend has been disposed' };

/** The name of the interrupt driver: a worker outside the scenario's cgroups. */
const DRIVER = '(softirq)';
/** Anonymous memory the statistics flusher faults and frees: 512 pages, each counted at its fault and its free, past the flush threshold (64 updates per online CPU) of up to 16 CPUs. */
const FLUSH_BYTES = 2 * 1024 * 1024;

const ok = (detail?: string, applied?: number): Success => ({
  ok: true,
  ...(detail === undefined ? {} : { detail }),
  ...(applied === undefined ? {} : { applied }),
});

function refusal(answer: WorkerError, doing: string): Refusal {
  const errno: Errno = isErrno(answer.errno) ? answer.errno : 'EINVAL';
  return { ok: false, errno, reason: `${doing}: ${answer.message}`, ...(answer.applied === undefined ? {} : { applied: answer.applied }) };
}

/** The RLIMIT_MEMLOCK a worker answered it set (`null`: left as it was). */
function appliedMemlock(answer: WorkerOk, asked: number | null): number | null {
  if (asked === null || answer.value.kind !== 'count') return null;
  const n = answer.value.applied;
  return n === -2 ? Number.POSITIVE_INFINITY : n < 0 ? null : n;
}

/** Says so when a task got a lower RLIMIT_MEMLOCK than asked (no CAP_SYS_RESOURCE to raise the hard limit). */
function lowered(name: string, asked: number | null, applied: number | null): string | undefined {
  if (asked === null || applied === asked) return undefined;
  return `${name}: RLIMIT_MEMLOCK ${applied === null ? 'unchanged' : String(applied)} instead of ${String(asked)}: raising the hard limit needs CAP_SYS_RESOURCE`;
}

/**
 * The Backend on the running kernel: real memory cgroups under an owned root below the
 * caller's own cgroup, real worker processes as tasks, real bpf() calls. Every cgroup and
 * process it creates is removed by {@link dispose} (also on SIGINT/SIGTERM through
 * `src/live/cleanup.ts`); a crash leaves an owned root that the next run's `cleanStale` removes.
 *
 * What the kernel does not tell (the bytes of BPF charged per cgroup, a map's charge and the
 * cgroup charged) is `null` in its snapshots.
 */
export class LiveBackend implements Backend {
  readonly kind = 'live';
  private readonly tasks = new Map<string, LiveTask>();
  private readonly maps = new Map<string, LiveMap>();
  private readonly progs = new Map<string, LiveProg>();
  /** Cgroups created, relative to the owned root, in creation order. */
  private readonly cgroups: string[] = ['/'];
  private driver: LiveWorker | undefined;
  /** The task that makes memory statistics flush before a read on 6.16+ v2 ({@link flushMemoryStats}). */
  private flusher: LiveWorker | undefined;
  private disposed = false;

  private constructor(
    readonly profile: KernelProfile,
    private readonly fs: CgroupFs,
  ) {}

  /**
   * Opens a live backend: reads this machine's profile, removes what crashed runs left, and
   * creates the owned root. Fails with a clear error where bpf() or the memory controller is
   * missing or the caller is not root.
   */
  static async create(options: { readonly prefix?: string; readonly profile?: KernelProfile } = {}): Promise<LiveBackend> {
    if (process.getuid?.() !== 0) throw new BpfmemError('usage', 'the live backend needs root: it creates memory cgroups and BPF maps');
    const prefix = options.prefix ?? 'live';
    const fs = await CgroupFs.open();
    await cleanStaleRuns(fs);
    const profile = options.profile ?? (await readKernelProfile());
    const backend = new LiveBackend(profile, fs);
    // Tracked before anything exists, so that a signal from here on cleans up what follows.
    track(backend);
    try {
      await fs.createOwnedRoot(prefix);
    } catch (error) {
      await backend.dispose();
      throw error;
    }
    if (isClosing() || backend.disposed) {
      // A signal came while the root was being made: the dispose it ran saw no root yet.
      await fs.removeOwnedRoot();
      throw new BpfmemError('system', 'interrupted while starting');
    }
    return backend;
  }

  /** The absolute directory of the owned root (the scenario's `/`). */
  get root(): string {
    return this.fs.ownedRoot ?? '';
  }

  /** The process id of a started task (its worker), or undefined for no such task. */
  pidOf(task: string): number | undefined {
    return this.tasks.get(task)?.worker.pid;
  }

  // ---------------------------------------------------------------------------------------
  // Cgroups

  async createCgroup(path: string, limits: CgroupLimits): Promise<Outcome> {
    if (this.disposed) return DISPOSED;
    const made = await this.fs.create(path);
    if (!made.ok) return made;
    this.cgroups.push(path);
    return this.setLimit(path, limits);
  }

  async setLimit(path: string, limits: Partial<CgroupLimits>): Promise<Outcome> {
    if (this.disposed) return DISPOSED;
    if (path === '/') return { ok: false, errno: 'EINVAL', reason: 'the root cgroup has no memory limit files' };
    if (limits.max !== undefined) {
      const r = await this.fs.setMax(path, limits.max);
      if (!r.ok) return r;
    }
    if (limits.high !== undefined && (Number.isFinite(limits.high) || this.fs.version === 2)) {
      const r = await this.fs.setHigh(path, limits.high);
      if (!r.ok) return r;
    }
    return ok();
  }

  async removeCgroup(path: string): Promise<Outcome> {
    if (this.disposed) return DISPOSED;
    const r = await this.fs.remove(path);
    if (!r.ok) return r;
    const i = this.cgroups.indexOf(path);
    if (i >= 0) this.cgroups.splice(i, 1);
    return ok();
  }

  drainStocks(path: string): Promise<Outcome> {
    return this.fs.drainStock(path);
  }

  // ---------------------------------------------------------------------------------------
  // Tasks

  async startTask(name: string, spec: TaskSpec): Promise<Outcome> {
    if (this.disposed) return DISPOSED;
    if (this.tasks.has(name)) return { ok: false, errno: 'EEXIST', reason: `task ${name} already exists` };
    const worker = await LiveWorker.spawn(this.profile.possibleCpus);
    const memlock = spec.memlock === undefined ? null : spec.memlock;
    const set = await worker.request({ op: 'setup', memlock, uid: spec.uid, innerTemplate: this.profile.regime === 'memlock' });
    if (!set.ok) {
      await worker.stop();
      return refusal(set, `setting up task ${name}`);
    }
    // Disposed while the worker started (a signal): it must not move into a cgroup being removed.
    if (this.isDisposed()) {
      await worker.stop();
      return DISPOSED;
    }
    const moved = await this.fs.moveTask(spec.cgroup, worker.pid).catch(async (error: unknown) => {
      await worker.stop();
      throw error;
    });
    if (!moved.ok) {
      await worker.stop();
      return moved;
    }
    const applied = appliedMemlock(set, memlock);
    this.tasks.set(name, { worker, cgroup: spec.cgroup, uid: spec.uid, memlock: applied, opened: new Set() });
    return ok(lowered(name, memlock, applied));
  }

  async stopTask(name: string): Promise<Outcome> {
    const task = this.tasks.get(name);
    if (!task) return { ok: false, errno: 'ESRCH', reason: `no task ${name}` };
    await task.worker.stop();
    this.tasks.delete(name);
    // Its fds are closed: maps it alone held are freed, the others live on.
    for (const [mapName, m] of this.maps) {
      if (m.holder === name && ![...this.tasks.values()].some((t) => t.opened.has(m.id))) this.maps.delete(mapName);
    }
    return ok();
  }

  async setCredentials(name: string, credentials: Credentials): Promise<Outcome> {
    if (this.disposed) return DISPOSED;
    const task = this.tasks.get(name);
    if (!task) return { ok: false, errno: 'ESRCH', reason: `no task ${name}` };
    const memlock = credentials.memlock ?? null;
    const set = await task.worker.request({ op: 'credentials', memlock, uid: credentials.uid ?? null });
    if (!set.ok) return refusal(set, `setting the credentials of ${name}`);
    if (credentials.uid !== undefined) task.uid = credentials.uid;
    if (memlock === null) return ok();
    task.memlock = appliedMemlock(set, memlock);
    return ok(lowered(name, memlock, task.memlock));
  }

  async moveTask(name: string, cgroup: string): Promise<Outcome> {
    if (this.disposed) return DISPOSED;
    const task = this.tasks.get(name);
    if (!task) return { ok: false, errno: 'ESRCH', reason: `no task ${name}` };
    const moved = await this.fs.moveTask(cgroup, task.worker.pid);
    if (!moved.ok) return moved;
    task.cgroup = cgroup;
    return ok();
  }

  async allocMemory(task: string, bytes: number): Promise<Outcome> {
    return this.ask(task, { op: 'alloc', bytes }, `${task} allocating memory`);
  }

  lockMemory(): Promise<Outcome> {
    return Promise.resolve({ ok: false, errno: 'EOPNOTSUPP', reason: 'mlock and io_uring buffers are not driven live (they do not touch BPF accounting on 5.11+)' });
  }

  // ---------------------------------------------------------------------------------------
  // Maps and programs

  async createMap(taskName: string, name: string, spec: MapSpec): Promise<Outcome> {
    const task = this.tasks.get(taskName);
    if (!task) return { ok: false, errno: 'ESRCH', reason: `no task ${taskName}` };
    if (this.maps.has(name)) return { ok: false, errno: 'EEXIST', reason: `a map named ${name} is already open` };
    let vmlinuxValueTypeId: number | undefined;
    if (spec.type === 'struct_ops' && spec.structOpsType !== undefined) {
      // As libbpf's bpf_map__init_kern_struct_ops finds it: `struct bpf_struct_ops_<name>` in vmlinux BTF.
      vmlinuxValueTypeId = findBtfTypeId(await vmlinuxBtf(), `bpf_struct_ops_${spec.structOpsType}`, 'struct');
      if (vmlinuxValueTypeId === undefined) return { ok: false, errno: 'EINVAL', reason: `creating map "${name}": the kernel's BTF has no struct bpf_struct_ops_${spec.structOpsType}` };
    }
    const answer = await task.worker.request({ op: 'createMap', spec, name: kernelName(name), ...(vmlinuxValueTypeId === undefined ? {} : { vmlinuxValueTypeId }) });
    if (!answer.ok) return refusal(answer, `creating map "${name}"`);
    if (answer.value.kind !== 'map') return { ok: false, errno: 'EINVAL', reason: 'worker answered without a map' };
    task.opened.add(answer.value.id);
    this.maps.set(name, { id: answer.value.id, spec, holder: taskName, fd: answer.value.fd, nextKey: 0, firstLive: 0, elements: 0, armed: false });
    return ok();
  }

  async updateMap(name: string, count: number, context: UpdateContext, cpu: number, options: UpdateOptions = {}): Promise<Outcome> {
    const map = this.maps.get(name);
    if (!map) return { ok: false, errno: 'EBADF', reason: `no open map ${name}` };
    if (insertKind(map.spec.type) === 'unsupported') {
      return { ok: false, errno: 'EOPNOTSUPP', reason: `${map.spec.type}: ${UNSUPPORTED_INSERT}`, applied: 0 };
    }
    if (context === 'softirq' || context === 'irq') return this.updateFromSoftirq(name, map, count, cpu);
    const task = this.tasks.get(context.task);
    if (!task) return { ok: false, errno: 'ESRCH', reason: `no task ${context.task}` };
    if (!task.opened.has(map.id)) {
      const opened = await task.worker.request({ op: 'openMap', id: map.id });
      if (!opened.ok) return refusal(opened, `opening map "${name}" in ${context.task}`);
      task.opened.add(map.id);
    }
    const answer = await task.worker.request({
      op: 'insert',
      id: map.id,
      spec: map.spec,
      firstKey: map.nextKey,
      count,
      cpu,
      ...(options.retryEnomemMs ? { retryEnomemMs: options.retryEnomemMs } : {}),
    });
    const applied = answer.ok ? count : (answer.applied ?? 0);
    map.nextKey += applied;
    map.elements = Math.min(map.elements + applied, capacityOf(map.spec));
    if (!answer.ok) return refusal(answer, `inserting into map "${name}" (after ${applied})`);
    const retried = answer.value.kind === 'count' ? (answer.value.retried ?? 0) : 0;
    return { ...ok(undefined, applied), ...(retried ? { retried } : {}) };
  }

  /**
   * Inserts from softirq: the interrupt driver (a worker outside the scenario's cgroups) sends
   * loopback UDP packets on `cpu` to a socket whose filter inserts one element per packet.
   * `irq` is driven the same way: the kernel charges both alike.
   */
  private async updateFromSoftirq(name: string, map: LiveMap, count: number, cpu: number): Promise<Outcome> {
    const driver = await this.interruptDriver();
    if (!map.armed) {
      const armed = await driver.request({ op: 'softirqArm', targetId: map.id, spec: map.spec, firstKey: map.nextKey });
      if (!armed.ok) return refusal(armed, `arming the softirq insert filter for "${name}"`);
      map.armed = true;
    }
    if (count === 0) return ok(undefined, 0);
    const answer = await driver.request({ op: 'softirqSend', targetId: map.id, count, cpu, firstKey: map.nextKey });
    if (!answer.ok) return refusal(answer, `sending packets for "${name}"`);
    if (answer.value.kind !== 'softirq') return { ok: false, errno: 'EINVAL', reason: 'driver answered without counts' };
    const { applied, failed, lastError } = answer.value;
    map.nextKey += count;
    map.elements = Math.min(map.elements + applied, capacityOf(map.spec));
    if (failed > 0) {
      const errno = errnoName(-lastError) ?? 'EINVAL';
      return {
        ok: false,
        errno,
        reason: `${failed} of ${count} inserts from softirq into "${name}" failed, the last with ${errno}`,
        applied,
      };
    }
    if (applied < count) {
      return { ok: false, errno: 'ENOBUFS', reason: `only ${applied} of ${count} packets reached the insert filter`, applied };
    }
    return ok(`inserted from softirq on CPU ${cpu}, sent by a task outside the scenario's cgroups`, applied);
  }

  async deleteFromMap(name: string, count: number, cpu: number): Promise<Outcome> {
    const map = this.maps.get(name);
    if (!map) return { ok: false, errno: 'EBADF', reason: `no open map ${name}` };
    const holder = this.tasks.get(map.holder);
    if (!holder) return { ok: false, errno: 'ESRCH', reason: `the holder of ${name} is gone` };
    const n = Math.min(count, map.nextKey - map.firstLive);
    const answer = await holder.worker.request({ op: 'remove', id: map.id, spec: map.spec, firstKey: map.firstLive, count: n, cpu });
    if (!answer.ok) return refusal(answer, `deleting from map "${name}"`);
    const applied = answer.value.kind === 'count' ? answer.value.applied : 0;
    map.firstLive += n;
    map.elements = Math.max(0, map.elements - applied);
    if (applied < count) return { ok: false, errno: 'ENOENT', reason: `map ${name} had only ${applied} elements to delete`, applied };
    return ok(undefined, applied);
  }

  async loadProg(taskName: string, name: string, insns: number): Promise<Outcome> {
    const task = this.tasks.get(taskName);
    if (!task) return { ok: false, errno: 'ESRCH', reason: `no task ${taskName}` };
    if (this.progs.has(name)) return { ok: false, errno: 'EEXIST', reason: `a program named ${name} is already loaded` };
    const answer = await task.worker.request({ op: 'loadProg', name: kernelName(name), insns });
    if (!answer.ok) return refusal(answer, `loading program "${name}"`);
    if (answer.value.kind !== 'prog') return { ok: false, errno: 'EINVAL', reason: 'worker answered without a program' };
    this.progs.set(name, { id: answer.value.id, holder: taskName, fd: answer.value.fd, insns });
    return ok();
  }

  async close(kind: 'map' | 'prog', name: string): Promise<Outcome> {
    if (kind === 'prog') {
      const prog = this.progs.get(name);
      if (!prog) return { ok: false, errno: 'EBADF', reason: `no loaded program ${name}` };
      await this.tasks.get(prog.holder)?.worker.request({ op: 'closeProg', id: prog.id });
      this.progs.delete(name);
      return ok();
    }
    const map = this.maps.get(name);
    if (!map) return { ok: false, errno: 'EBADF', reason: `no open map ${name}` };
    // Every fd on it goes: the holder's, other tasks' and the interrupt driver's filter.
    for (const task of this.tasks.values()) {
      if (task.opened.delete(map.id)) await task.worker.request({ op: 'closeMap', id: map.id });
    }
    if (map.armed && this.driver) await this.driver.request({ op: 'closeMap', id: map.id });
    this.maps.delete(name);
    return ok();
  }

  // ---------------------------------------------------------------------------------------
  // Reading

  async snapshot(): Promise<Snapshot> {
    if (this.fs.version === 2 && statsFlushOnlyByThreshold()) await this.flushMemoryStats();
    const cgroups: CgroupState[] = [];
    for (const path of [...this.cgroups].sort()) {
      cgroups.push(toState(path, await this.fs.readCounters(path)));
    }
    const maps: MapState[] = [];
    for (const [name, m] of this.maps) {
      const holder = this.tasks.get(m.holder);
      const info = holder ? await readFdinfo(holder.worker.pid, m.fd) : undefined;
      maps.push({
        name,
        id: m.id,
        type: m.spec.type,
        keySize: m.spec.keySize,
        valueSize: m.spec.valueSize,
        maxEntries: info?.kind === 'map' ? info.maxEntries : m.spec.maxEntries,
        flags: m.spec.flags,
        elements: m.elements,
        memlock: info?.kind === 'map' ? (info.memlock ?? 0) : 0,
        charged: null,
        uncharged: null,
        chargedTo: null,
        chargedToKnown: false,
        chargedToRemoved: false,
        creator: m.holder,
      });
    }
    const progs: ProgState[] = [];
    for (const [name, p] of this.progs) {
      const holder = this.tasks.get(p.holder);
      const info = holder ? await readFdinfo(holder.worker.pid, p.fd) : undefined;
      progs.push({
        name,
        id: p.id,
        insns: p.insns,
        memlock: info?.kind === 'prog' ? (info.memlock ?? 0) : 0,
        charged: null,
        chargedTo: null,
        loader: p.holder,
      });
    }
    const tasks: TaskState[] = [...this.tasks].map(([name, t]) => ({
      name,
      cgroup: t.cgroup,
      uid: t.uid,
      memlock: t.memlock === null || !Number.isFinite(t.memlock) ? null : t.memlock,
      mlocked: 0,
      anon: 0,
    }));
    return { cgroups, users: [], tasks, maps, progs };
  }

  /** Stops every worker and removes every cgroup this backend made. Idempotent. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    untrack(this);
    const workers = [...this.tasks.values()].map((t) => t.worker);
    if (this.driver) workers.push(this.driver);
    if (this.flusher) workers.push(this.flusher);
    await Promise.allSettled(workers.map((w) => w.stop()));
    this.tasks.clear();
    this.maps.clear();
    this.progs.clear();
    if (this.fs.ownedRoot !== undefined) await this.fs.removeOwnedRoot();
  }

  /** Whether {@link dispose} has begun (read through a call: it changes across awaits). */
  isDisposed(): boolean {
    return this.disposed;
  }

  /** Kills every worker at once (the last resort of a signal handler). */
  killAll(): void {
    for (const t of this.tasks.values()) t.worker.kill();
    this.driver?.kill();
    this.flusher?.kill();
  }

  // ---------------------------------------------------------------------------------------

  private async ask(taskName: string, req: WorkerRequest, doing: string): Promise<Outcome> {
    const task = this.tasks.get(taskName);
    if (!task) return { ok: false, errno: 'ESRCH', reason: `no task ${taskName}` };
    const answer: WorkerOk | WorkerError = await task.worker.request(req);
    return answer.ok ? ok() : refusal(answer, doing);
  }

  /**
   * Makes the next read of the owned root's `memory.stat` flush the whole owned subtree (6.16+,
   * cgroup v2; src/sys/cgroup/cgroupfs.ts readCounters()): a task of its own in the owned root's
   * task leaf faults FLUSH_BYTES of anonymous memory in and unmaps it (`MAP_POPULATE`, then `munmap()`: no garbage collection, no heap that keeps the pages). Every page updates the memcg
   * statistics of the leaf and of each ancestor (mm/memcontrol.c `memcg_rstat_updated()`), which
   * puts the owned root past `MEMCG_CHARGE_BATCH` × online CPUs updates
   * (`memcg_vmstats_needs_flush()`), so that `memory_stat_show()` → `mem_cgroup_flush_stats()`
   * flushes its subtree (`css_rstat_flush()`); the snapshot reads the owned root first. The pages
   * are uncharged when freed; what stays is the leaf's charge stock (in `memory.current` of the
   * owned root, never in `kernel`).
   */
  private async flushMemoryStats(): Promise<void> {
    if (!this.flusher) {
      const worker = await LiveWorker.spawn(this.profile.possibleCpus);
      // Warmed up before it moves in, as a task is: a worker's first requests start threads and
      // fault pages in (kernel stacks, page tables: kernel memory), which would otherwise land in
      // the owned root's `/` while cases measure it (seen in the lab on 6.16.12: the root's own
      // kernel memory +233,472 bytes during one case's inserts, -102,400 in a later one).
      const warmed = await worker.request({ op: 'setup', memlock: null, uid: null });
      if (!warmed.ok) {
        await worker.stop();
        throw new BpfmemError('system', `warming the statistics flusher up: ${warmed.message}`);
      }
      const moved = await this.fs.moveTask('/', worker.pid).catch((error: unknown) => {
        void worker.stop();
        throw error;
      });
      if (!moved.ok) {
        await worker.stop();
        throw new BpfmemError('system', `placing the statistics flusher in the owned root: ${moved.reason}`);
      }
      this.flusher = worker;
    }
    const answer = await this.flusher.request({ op: 'touch', bytes: FLUSH_BYTES });
    if (!answer.ok) throw new BpfmemError('system', `flushing memory statistics: ${answer.message}`);
  }

  /** The worker that sends packets for softirq inserts; it stays in the caller's own cgroup. */
  private async interruptDriver(): Promise<LiveWorker> {
    this.driver ??= await LiveWorker.spawn(this.profile.possibleCpus);
    return this.driver;
  }

  /** Names of the tasks, for messages. */
  taskNames(): string[] {
    return [...this.tasks.keys(), ...(this.driver ? [DRIVER] : [])];
  }
}

/** A kernel object name: at most 15 characters of `[A-Za-z0-9_.]` (bpf_obj_name_cpy()). */
function kernelName(name: string): string {
  return name.replace(/[^A-Za-z0-9_.]/g, '_').slice(0, 15);
}

/** How many elements a map holds at most (arrays and LRU maps never grow past it). */
function capacityOf(spec: MapSpec): number {
  return spec.maxEntries > 0 ? spec.maxEntries : Number.POSITIVE_INFINITY;
}

/** A cgroup's counters as a {@link CgroupState}; what the kernel does not say is null. */
function toState(path: string, c: CgroupCounters): CgroupState {
  const known = (n: number | undefined): number | null => (n === undefined ? null : n);
  return {
    path,
    usage: c.usage,
    stock: null,
    max: Number.isFinite(c.max) ? c.max : null,
    high: c.high === undefined || !Number.isFinite(c.high) ? null : c.high,
    peak: known(c.peak),
    failcnt: known(c.failcnt),
    events: c.version === 2 ? { high: c.events.high ?? 0, max: c.events.max ?? 0, oom: c.events.oom ?? 0, oom_kill: c.events.oom_kill ?? 0 } : null,
    kernel: known(c.kernel),
    stat: { slab: known(c.stat.slab), percpu: known(c.stat.percpu), vmalloc: known(c.stat.vmalloc), anon: known(c.stat.anon) },
    bpf: null,
    bpfObjects: null,
    dyingDescendants: c.dyingDescendants ?? 0,
  };
}
