import type { MapSpec } from '../vocab/map-spec.js';
import type { Arch, CgroupVersion, Regime } from '../vocab/profile.js';

/**
 * A scenario: a kernel, a cgroup tree, tasks, and steps to run on a backend (the model or the
 * live kernel). This is the validated form of a scenario file (YAML or JSON, see
 * `docs/scenarios.md`); sizes are bytes, names are resolved, defaults are filled in.
 */
export interface Scenario {
  /** Where it came from, for messages (`scenarios/demo.yaml`). */
  readonly source: string;
  /** One line saying what it shows, from the file's `description`. */
  readonly description?: string;
  readonly kernel: ScenarioKernel;
  /** Cgroups to create before the steps, parents first; `/` is the root and always exists. */
  readonly cgroups: readonly ScenarioCgroup[];
  readonly tasks: readonly ScenarioTask[];
  readonly steps: readonly Step[];
}

/**
 * The `kernel` of a scenario file. Without a version the scenario runs on the kernel of the
 * machine that runs it (`bpfmem simulate`: this one; the browser: the model's default, 6.18);
 * with one it is that kernel, and what it does not say has the model's defaults.
 */
export interface ScenarioKernel {
  readonly version?: string;
  readonly cpus?: number;
  readonly pageSize?: number;
  readonly regime?: Regime;
  readonly cgroup?: CgroupVersion;
  /** The architecture: its KMALLOC_MIN_SIZE (arm64 before 6.5 has no kmalloc cache below 128 B). */
  readonly arch?: Arch;
}

/** A cgroup path: `/`, `/pods`, `/pods/agent`. Always absolute, no trailing slash. */
export type CgroupPath = string;

export interface ScenarioCgroup {
  readonly path: CgroupPath;
  /** `memory.max` (v2) / `memory.limit_in_bytes` (v1) in bytes; `Infinity` for none. */
  readonly max: number;
  /** `memory.high` in bytes (v2 only); `Infinity` for none. */
  readonly high: number;
}

export interface ScenarioTask {
  readonly name: string;
  readonly cgroup: CgroupPath;
  readonly uid: number;
  /** RLIMIT_MEMLOCK in bytes (soft = hard); `Infinity` for unlimited. Default: the kernel's default. */
  readonly memlock?: number;
  /** Whether the task has CAP_IPC_LOCK, which lifts the limit for mlock() and io_uring (never for BPF). */
  readonly capIpcLock: boolean;
}

/** Where an update runs: as a task (syscall or a program in its context), or from an interrupt. */
export type UpdateContext = { readonly task: string } | 'softirq' | 'irq';

/** One step of a scenario. `index` is its position (0-based) in the file's `steps`. */
export type Step =
  | { readonly op: 'create_map'; readonly index: number; readonly task: string; readonly name: string; readonly spec: MapSpec }
  | {
      readonly op: 'update';
      readonly index: number;
      readonly map: string;
      readonly count: number;
      readonly context: UpdateContext;
      /** The CPU the updates run on (default 0); bpf_mem_alloc caches are per CPU. */
      readonly cpu: number;
    }
  | { readonly op: 'delete'; readonly index: number; readonly map: string; readonly count: number; readonly cpu: number }
  | { readonly op: 'close'; readonly index: number; readonly kind: 'map' | 'prog'; readonly name: string }
  | { readonly op: 'load_prog'; readonly index: number; readonly task: string; readonly name: string; readonly insns: number }
  | { readonly op: 'move_task'; readonly index: number; readonly task: string; readonly cgroup: CgroupPath }
  | { readonly op: 'create_cgroup'; readonly index: number; readonly cgroup: CgroupPath; readonly max: number; readonly high: number }
  | { readonly op: 'remove_cgroup'; readonly index: number; readonly cgroup: CgroupPath }
  | {
      readonly op: 'set_limit';
      readonly index: number;
      readonly cgroup: CgroupPath;
      readonly max?: number;
      readonly high?: number;
    }
  | { readonly op: 'alloc'; readonly index: number; readonly task: string; readonly bytes: number }
  | { readonly op: 'free'; readonly index: number; readonly task: string; readonly bytes: number }
  | {
      readonly op: 'mlock';
      readonly index: number;
      readonly task: string;
      readonly bytes: number;
      /**
       * Which kernel facility locks the memory: `mlock` (mlock(2): the process's own
       * `mm->locked_vm`) or `io_uring` (registered buffers: the user's `locked_vm`, the counter
       * BPF shared before 5.11).
       */
      readonly via: 'mlock' | 'io_uring';
    };

/** The name of a step operation. */
export type StepOp = Step['op'];
