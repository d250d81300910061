import type { LinuxErrno } from '../vocab/errno.js';
import type { KernelProfile, ProfileBasis } from '../vocab/profile.js';
import type { NamedSpec } from '../estimate/maps.js';
import type { Rlimit } from '../vocab/rlimit.js';

/**
 * What `explain` reasons from: the facts of a task and its memory cgroups, read by
 * src/explain/read-facts.ts (`readExplainFacts`) or made by hand in tests. Plain data, no I/O.
 */


/** One memory cgroup on the way from the task's cgroup to the root. */
export interface CgroupLevel {
  /** Relative to the memory hierarchy's root; `/` is the root cgroup. */
  readonly path: string;
  /**
   * v1 `memory.usage_in_bytes`, v2 `memory.current`: hierarchical, including the per-CPU charge
   * stock. Undefined where the cgroup has no such file (the v2 root).
   */
  readonly usage: number | undefined;
  /** v1 `memory.limit_in_bytes`, v2 `memory.max`; `Infinity` for none. */
  readonly max: number;
  /** v2 `memory.high`; `Infinity` for none; undefined on v1 (no such file). */
  readonly high: number | undefined;
  /**
   * Page cache the kernel may reclaim before it refuses a charge that can wait: `file` minus
   * `shmem` of `memory.stat` (v1 `total_cache - total_shmem`), hierarchical; undefined when unread.
   */
  readonly reclaimable: number | undefined;
  /** v1 `memory.failcnt`: charges this cgroup's counter refused since it was made. */
  readonly failcnt: number | undefined;
  /** v2 `memory.events.local` `max` (else `memory.events`): times usage was about to exceed `memory.max`. */
  readonly maxEvents: number | undefined;
}

/** The task whose limits apply. */
export interface TaskFacts {
  readonly pid: number;
  /** `Name:` of /proc/PID/status. */
  readonly comm: string | undefined;
  /** Real uid: pre-5.11 kernels charge the uid's `locked_vm`. */
  readonly uid: number | undefined;
  /** RLIMIT_MEMLOCK of /proc/PID/limits. */
  readonly memlock: Rlimit | undefined;
  /** `CapEff` of /proc/PID/status. */
  readonly capEff: bigint | undefined;
  /** RLIMIT_NOFILE (`Max open files` of /proc/PID/limits): each map and program is a new fd. */
  readonly nofile?: Rlimit;
  /** The fds it has open now (entries of /proc/PID/fd); undefined where they cannot be listed. */
  readonly openFds?: number;
}

/** Everything explain needs to know about the machine, the task and its cgroups. */
export interface ExplainFacts {
  /** This kernel (version, possible CPUs, page size, cgroup version) and its regime. */
  readonly profile: KernelProfile;
  /** Where the profile came from (src/live/host-profile.ts), when read off a machine. */
  readonly basis?: ProfileBasis;
  /** Why the regime is what it is (src/live/machine.ts `regimeOf`). */
  readonly regimeReason: string;
  /** The task; undefined when only a cgroup was named (`--cgroup`). */
  readonly task: TaskFacts | undefined;
  /** From the task's (or the named) memory cgroup up to the root, deepest first; empty when unknown. */
  readonly chain: readonly CgroupLevel[];
  /** Why {@link chain} is empty. */
  readonly chainMissing?: string;
  /** `kernel.unprivileged_bpf_disabled`. */
  readonly unprivilegedBpfDisabled: number | undefined;
  /** `net.core.bpf_jit_limit` in bytes. */
  readonly bpfJitLimit: number | undefined;
  /** `net.core.bpf_jit_enable`. */
  readonly bpfJitEnable: number | undefined;
}

/** What to explain: maps (by spec), programs (by instruction count) and extra bytes. */
export interface ExplainRequest {
  readonly maps: readonly NamedSpec[];
  /** Programs, by instruction count after the verifier. */
  readonly progs: readonly number[];
  /** Bytes needed besides the maps and programs (`--need`). */
  readonly extraBytes: number;
  /** A failure that already happened (`--errno`), to explain: any errno of Linux. */
  readonly errno: LinuxErrno | undefined;
}
