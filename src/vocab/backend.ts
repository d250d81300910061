import type { Errno } from './errno.js';
import type { MapSpec } from './map-spec.js';
import type { KernelProfile } from './profile.js';

/**
 * The seam of bpfmem (docs/architecture.md, "The Backend seam"): the same operations against the model
 * (`model/`, in memory) or the running kernel (`live/`, real cgroups, tasks and bpf() calls).
 * Scenarios and conformance are written against this interface only.
 */
export interface Backend {
  /** `model` or `live`. */
  readonly kind: 'model' | 'live';
  readonly profile: KernelProfile;

  /** mkdir of a memory cgroup (its parent must exist), with its limits. */
  createCgroup(path: string, limits: CgroupLimits): Promise<Outcome>;
  /** Writes `memory.max` / `memory.high` (v1: `memory.limit_in_bytes`). */
  setLimit(path: string, limits: Partial<CgroupLimits>): Promise<Outcome>;
  /** rmdir of a memory cgroup. */
  removeCgroup(path: string): Promise<Outcome>;

  /** Starts a task in a cgroup with a uid and RLIMIT_MEMLOCK. */
  startTask(name: string, spec: TaskSpec): Promise<Outcome>;
  /**
   * Ends a task. Its own memory is freed; maps and programs stay (the model treats them as
   * pinned; on the kernel they live on only where another task or a pin still holds them).
   */
  stopTask(name: string): Promise<Outcome>;
  /**
   * Gives a task another real uid and/or RLIMIT_MEMLOCK (setresuid(2), setrlimit(2)), as a service
   * manager or `prlimit` would: what it created stays charged to the user that created it; what it
   * creates next is precharged to the new uid's `locked_vm` against the new limit (before 5.11).
   */
  setCredentials(name: string, credentials: Credentials): Promise<Outcome>;
  /** Moves a task to another cgroup (its existing charges stay where they are). */
  moveTask(name: string, cgroup: string): Promise<Outcome>;
  /** Ordinary memory of the workload: anonymous pages allocated (or freed, negative) by a task. */
  allocMemory(task: string, bytes: number): Promise<Outcome>;
  /** Locks memory: mlock(2) (the process's own counter) or io_uring buffers (the user's `locked_vm`). */
  lockMemory(task: string, bytes: number, via: 'mlock' | 'io_uring'): Promise<Outcome>;

  /** BPF_MAP_CREATE as a task. */
  createMap(task: string, name: string, spec: MapSpec): Promise<Outcome>;
  /** Inserts `count` new elements, as a task or from interrupt context, on a CPU. */
  updateMap(map: string, count: number, context: UpdateContext, cpu: number, options?: UpdateOptions): Promise<Outcome>;
  /** Deletes `count` elements. */
  deleteFromMap(map: string, count: number, cpu: number): Promise<Outcome>;
  /** BPF_PROG_LOAD of a program of `insns` instructions, as a task. */
  loadProg(task: string, name: string, insns: number): Promise<Outcome>;
  /** Drops the last reference to a map or program: its memory is freed and uncharged. */
  close(kind: 'map' | 'prog', name: string): Promise<Outcome>;

  /**
   * Returns a cgroup's per-CPU charge stocks to its page counters (the kernel's
   * `drain_all_stock()`), so that its usage counts only what is charged for real.
   */
  drainStocks(path: string): Promise<Outcome>;
  /** Everything observable now: cgroup counters, users' `locked_vm`, objects. */
  snapshot(): Promise<Snapshot>;
  /** Frees everything the backend created. */
  dispose(): Promise<void>;
}

/** Limits of a memory cgroup, in bytes; `Infinity` for none. */
export interface CgroupLimits {
  readonly max: number;
  readonly high: number;
}

/** A task to start. */
export interface TaskSpec {
  readonly cgroup: string;
  readonly uid: number;
  /** RLIMIT_MEMLOCK in bytes; `Infinity` for unlimited; the kernel's default if absent. */
  readonly memlock?: number;
  readonly capIpcLock?: boolean;
}

/** What {@link Backend.setCredentials} changes; what is absent stays. */
export interface Credentials {
  readonly uid?: number;
  /** RLIMIT_MEMLOCK in bytes, soft and hard; `Infinity` for unlimited. */
  readonly memlock?: number;
}

/** How updates go when the kernel refuses some for a while. */
export interface UpdateOptions {
  /**
   * Retries an insert refused with ENOMEM for up to this many milliseconds in all. Per-CPU
   * allocations made from bpf_mem_alloc refills (GFP_NOWAIT) fail while the per-CPU allocator
   * has no populated space left, until `pcpu_balance_workfn()` populates more: a timing the
   * model does not play. The live backend counts the retries in `Success.retried`.
   */
  readonly retryEnomemMs?: number;
}

/** Where an update runs: as a task, or from an interrupt that found some task running. */
export type UpdateContext = { readonly task: string } | 'softirq' | 'irq';

/** The result of an operation: success, or the errno with a reason a person can act on. */
export type Outcome = Success | Refusal;

export interface Success {
  readonly ok: true;
  /** For counted operations (updates, deletes): how many were done. */
  readonly applied?: number;
  /** What is worth knowing about how it went (who was charged, a limit exceeded by force). */
  readonly detail?: string;
  /** Inserts refused with ENOMEM and retried (see {@link UpdateOptions}). */
  readonly retried?: number;
}

/**
 * Throws when `o` is a refusal, naming `what` was refused: for setup steps (tests, benches,
 * conformance) that cannot go on without them.
 */
export function must(o: Outcome, what?: string): asserts o is Success {
  if (!o.ok) throw new Error(`${what === undefined ? '' : `${what}: `}${o.errno}: ${o.reason}`);
}

export interface Refusal {
  readonly ok: false;
  readonly errno: Errno;
  readonly reason: string;
  /** For counted operations: how many were done before the refusal. */
  readonly applied?: number;
  /**
   * The memcg OOM killer killed the task instead of the call failing: a GFP_KERNEL charge (a
   * `struct file`, a page of its own memory) hit the limit. `errno` is then what a survivor
   * would see (ENOMEM); the task itself gets SIGKILL.
   */
  readonly killed?: boolean;
}

/**
 * A memory cgroup as its files show it. Bytes; `null` limits mean `max`; other `null`s mean the
 * backend cannot read that number (a cgroup v1 kernel has no `memory.events`; the kernel keeps
 * no count of BPF bytes per cgroup).
 */
export interface CgroupState {
  readonly path: string;
  /** `memory.current` / `memory.usage_in_bytes`: hierarchical, per-CPU charge stocks included. */
  readonly usage: number;
  /** Of `usage`, the pages pre-charged to per-CPU stocks and not used yet (the kernel does not show it). */
  readonly stock: number | null;
  readonly max: number | null;
  readonly high: number | null;
  /** `memory.peak` / `memory.max_usage_in_bytes`. */
  readonly peak: number | null;
  /** `memory.failcnt` (v1). */
  readonly failcnt: number | null;
  /** `memory.events` (hierarchical). */
  readonly events: { readonly high: number; readonly max: number; readonly oom: number; readonly oom_kill: number } | null;
  /** Kernel memory: v1 `memory.kmem.usage_in_bytes`, v2 `memory.stat kernel` (hierarchical). */
  readonly kernel: number | null;
  /** `memory.stat` bytes by kind (hierarchical, as v2 reports them). */
  readonly stat: {
    readonly slab: number | null;
    readonly percpu: number | null;
    readonly vmalloc: number | null;
    readonly anon: number | null;
  };
  /** Bytes of BPF objects charged to this cgroup itself (not below it). */
  readonly bpf: number | null;
  /** Those bytes by object: `map:NAME`, `prog:NAME`. */
  readonly bpfObjects: Readonly<Record<string, number>> | null;
  /** Removed cgroups that a map still pins (5.11–5.19 `map->memcg`): cgroup.stat `nr_dying_descendants`. */
  readonly dyingDescendants: number;
}

/** A map as bpfmem sees it. */
export interface MapState {
  readonly name: string;
  readonly id: number;
  readonly type: string;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly flags: number;
  readonly elements: number;
  /** What fdinfo `memlock` reports. */
  readonly memlock: number;
  /** Bytes charged to a memory cgroup for it now (`null`: the backend cannot tell). */
  readonly charged: number | null;
  /** Bytes allocated for it that no memory cgroup pays for (`null`: the backend cannot tell). */
  readonly uncharged: number | null;
  /**
   * The cgroup its allocations are charged to now; `null` when nobody is charged, or when
   * `chargedToKnown` is false (a backend that cannot read it).
   */
  readonly chargedTo: string | null;
  readonly chargedToKnown: boolean;
  /** Whether `chargedTo` is a removed cgroup the map keeps alive (5.11–5.19). */
  readonly chargedToRemoved: boolean;
  /** The task that created it. */
  readonly creator: string;
}

/** A program as bpfmem sees it. */
export interface ProgState {
  readonly name: string;
  readonly id: number;
  readonly insns: number;
  readonly memlock: number;
  readonly charged: number | null;
  readonly chargedTo: string | null;
  readonly loader: string;
}

/** A user's locked memory counter (`user_struct.locked_vm`). */
export interface UserState {
  readonly uid: number;
  readonly lockedVm: number;
}

/** A task. */
export interface TaskState {
  readonly name: string;
  readonly cgroup: string;
  readonly uid: number;
  /** RLIMIT_MEMLOCK, `null` for unlimited. */
  readonly memlock: number | null;
  /** mlock()ed bytes of this process (`mm->locked_vm`). */
  readonly mlocked: number;
  /** Anonymous memory it holds. */
  readonly anon: number;
}

/** Everything observable at one moment. */
export interface Snapshot {
  readonly cgroups: readonly CgroupState[];
  readonly users: readonly UserState[];
  readonly tasks: readonly TaskState[];
  readonly maps: readonly MapState[];
  readonly progs: readonly ProgState[];
}

/** A cgroup whose every number is known (the model knows them all). */
export interface KnownCgroupState extends CgroupState {
  readonly stock: number;
  readonly peak: number;
  readonly failcnt: number;
  readonly events: { readonly high: number; readonly max: number; readonly oom: number; readonly oom_kill: number };
  readonly kernel: number;
  readonly stat: { readonly slab: number; readonly percpu: number; readonly vmalloc: number; readonly anon: number };
  readonly bpf: number;
  readonly bpfObjects: Readonly<Record<string, number>>;
}

/** A map whose charge is known. */
export interface KnownMapState extends MapState {
  readonly charged: number;
  readonly uncharged: number;
}

/** A program whose charge is known. */
export interface KnownProgState extends ProgState {
  readonly charged: number;
}

/** A snapshot with every number known: what the model gives. */
export interface KnownSnapshot extends Snapshot {
  readonly cgroups: readonly KnownCgroupState[];
  readonly maps: readonly KnownMapState[];
  readonly progs: readonly KnownProgState[];
}
