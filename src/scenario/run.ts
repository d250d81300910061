import { BpfmemError } from '../vocab/errors.js';
import type { Backend, Outcome, Snapshot } from '../vocab/backend.js';
import type { Errno } from '../vocab/errno.js';
import { DEFAULT_RELEASE, makeProfile } from '../model/profile.js';
import { type KernelProfile, type Regime } from '../vocab/profile.js';
import { formatBytes } from '../vocab/units.js';
import { atLeast } from '../vocab/kernel-version.js';
import type { CgroupPath, Scenario, Step, StepOp } from './types.js';

/** What a setup result is about: a cgroup of the file's `cgroups`, or a task of its `tasks` (and the cgroup it starts in). */
export type SetupTarget = { readonly cgroup: CgroupPath } | { readonly task: string; readonly cgroup: CgroupPath };

/** How one step went. */
export interface StepResult {
  /** Position in the file's `steps` (0-based); -1 for setup (`cgroups`, `tasks`). */
  readonly index: number;
  readonly op: StepOp | 'setup';
  /** What it did, in one short phrase (`create_map ct (lru_hash) as agent`). */
  readonly summary: string;
  /** Setup only: which cgroup or task the model refused to set up (many setup results share the index -1). */
  readonly target?: SetupTarget;
  readonly ok: boolean;
  readonly errno?: Errno;
  readonly reason?: string;
  readonly applied?: number;
  readonly detail?: string;
}

/** A scenario run on one backend; `S` is what its snapshots know (all of it, for the model). */
export interface RunResult<S extends Snapshot = Snapshot> {
  readonly regime: Regime;
  readonly profile: KernelProfile;
  readonly steps: readonly StepResult[];
  readonly final: S;
}

/** The first kernel that charges BPF to memory cgroups, and so the first with the regimes `memcg` and `none`. */
const FIRST_MEMCG_KERNEL = '5.11';

/**
 * The profile a scenario runs with under a regime. A scenario that names its kernel runs on that
 * kernel (what it leaves out has the model's defaults); one that does not runs on `host`, the
 * kernel of the machine that runs it, with what the scenario does say (`cpus`, `regime`) laid
 * over it, or on the model's default kernel where there is no host (the browser). A regime the
 * kernel did not have is a what-if on the nearest kernel that did: `memcg` or `none` asked of a
 * pre-5.11 kernel runs as 5.11 (both came with memcg accounting of BPF: before it, BPF is
 * precharged to RLIMIT_MEMLOCK whatever the cgroups, and no boot option turns that off);
 * `memlock` keeps the version (and its struct sizes) with the old precharge rule. A scenario
 * whose own `kernel.regime` its kernel did not have is the file's mistake, said as one.
 */
export function scenarioProfile(scenario: Scenario, regime?: Regime, host?: KernelProfile): KernelProfile | string {
  const k = scenario.kernel;
  const onHost = k.version === undefined && host !== undefined;
  const named = k.version ?? host?.release ?? DEFAULT_RELEASE;
  const asked = makeProfile({ version: named });
  if (!asked.ok) return `${scenario.source}: kernel: ${asked.error}`;
  const version = regime !== undefined && regime !== 'memlock' && !atLeast(asked.value.version, 5, 11) ? FIRST_MEMCG_KERNEL : named;
  const cpus = k.cpus ?? (onHost ? host.possibleCpus : undefined);
  const pageSize = k.pageSize ?? (onHost ? host.pageSize : undefined);
  const cgroup = k.cgroup ?? (onHost ? host.cgroupVersion : undefined);
  const sameKernel = onHost && version === named;
  const chosen = regime ?? k.regime ?? (sameKernel ? host.regime : undefined);
  const arch = k.arch ?? (onHost ? host.arch : undefined);
  const p = makeProfile({
    version,
    ...(cpus === undefined ? {} : { cpus }),
    ...(pageSize === undefined ? {} : { pageSize }),
    ...(cgroup === undefined ? {} : { cgroup }),
    ...(chosen ? { regime: chosen } : {}),
    ...(arch === undefined ? {} : { arch }),
    // The machine's own smallest kmalloc cache, when the scenario runs on its very kernel and arch.
    ...(sameKernel ? { structs: host.structs } : {}),
    ...(sameKernel && arch === host.arch ? { kmallocMinSize: host.kmallocMinSize } : {}),
  });
  return p.ok ? p.value : `${scenario.source}: kernel: ${p.error}`;
}

/** Runs the setup and every step of a scenario on a backend, then takes a snapshot. */
export async function runScenario<S extends Snapshot>(
  scenario: Scenario,
  backend: Omit<Backend, 'snapshot'> & { snapshot(): Promise<S> },
): Promise<RunResult<S>> {
  const steps: StepResult[] = [];
  for (const c of scenario.cgroups) {
    const o = await backend.createCgroup(c.path, { max: c.max, high: c.high });
    if (!o.ok) steps.push({ ...result(-1, 'setup', `create cgroup ${c.path}`, o), target: { cgroup: c.path } });
  }
  for (const t of scenario.tasks) {
    const o = await backend.startTask(t.name, {
      cgroup: t.cgroup,
      uid: t.uid,
      capIpcLock: t.capIpcLock,
      ...(t.memlock === undefined ? {} : { memlock: t.memlock }),
    });
    if (!o.ok) steps.push({ ...result(-1, 'setup', `start task ${t.name} in ${t.cgroup}`, o), target: { task: t.name, cgroup: t.cgroup } });
  }
  for (const step of scenario.steps) {
    steps.push(result(step.index, step.op, summarize(step), await located(scenario, step, () => runStep(step, backend))));
  }
  return { regime: backend.profile.regime, profile: backend.profile, steps, final: await backend.snapshot() };
}

/**
 * A step's run, where a step the backend refuses to run at all (an argument out of its range,
 * more than the model simulates) says which file and step: `example.yaml: steps[3].update: …`.
 */
async function located(scenario: Scenario, step: Step, run: () => Promise<Outcome>): Promise<Outcome> {
  try {
    return await run();
  } catch (error) {
    if (!(error instanceof BpfmemError) || error.code !== 'input') throw error;
    throw new BpfmemError('input', `${scenario.source}: steps[${step.index}].${step.op}: ${error.message}`, { cause: error });
  }
}

/** Runs one step on a backend. */
export function runStep(step: Step, b: Omit<Backend, 'snapshot'>): Promise<Outcome> {
  switch (step.op) {
    case 'create_map':
      return b.createMap(step.task, step.name, step.spec);
    case 'update':
      return b.updateMap(step.map, step.count, step.context, step.cpu);
    case 'delete':
      return b.deleteFromMap(step.map, step.count, step.cpu);
    case 'close':
      return b.close(step.kind, step.name);
    case 'load_prog':
      return b.loadProg(step.task, step.name, step.insns);
    case 'move_task':
      return b.moveTask(step.task, step.cgroup);
    case 'create_cgroup':
      return b.createCgroup(step.cgroup, { max: step.max, high: step.high });
    case 'remove_cgroup':
      return b.removeCgroup(step.cgroup);
    case 'set_limit':
      return b.setLimit(step.cgroup, {
        ...(step.max === undefined ? {} : { max: step.max }),
        ...(step.high === undefined ? {} : { high: step.high }),
      });
    case 'alloc':
      return b.allocMemory(step.task, step.bytes);
    case 'free':
      return b.allocMemory(step.task, -step.bytes);
    case 'mlock':
      return b.lockMemory(step.task, step.bytes, step.via);
  }
}

function result(index: number, op: StepOp | 'setup', summary: string, o: Outcome): StepResult {
  if (o.ok) {
    return {
      index,
      op,
      summary,
      ok: true,
      ...(o.applied === undefined ? {} : { applied: o.applied }),
      ...(o.detail === undefined ? {} : { detail: o.detail }),
    };
  }
  return {
    index,
    op,
    summary,
    ok: false,
    errno: o.errno,
    reason: o.reason,
    ...(o.applied === undefined ? {} : { applied: o.applied }),
  };
}

/** One phrase per step for people. */
export function summarize(step: Step): string {
  switch (step.op) {
    case 'create_map':
      return `create ${step.name} (${step.spec.type}, ${step.spec.maxEntries}) as ${step.task}`;
    case 'update': {
      const ctx = typeof step.context === 'object' ? step.context.task : step.context;
      return `update ${step.map} ×${step.count} from ${ctx}`;
    }
    case 'delete':
      return `delete ${step.count} from ${step.map}`;
    case 'close':
      return `close ${step.kind} ${step.name}`;
    case 'load_prog':
      return `load ${step.name} (${step.insns} insns) as ${step.task}`;
    case 'move_task':
      return `move ${step.task} to ${step.cgroup}`;
    case 'create_cgroup':
      return `create cgroup ${step.cgroup}`;
    case 'remove_cgroup':
      return `remove cgroup ${step.cgroup}`;
    case 'set_limit':
      return `set limits of ${step.cgroup}`;
    case 'alloc':
      return `${step.task} allocates ${formatBytes(step.bytes)}`;
    case 'free':
      return `${step.task} frees ${formatBytes(step.bytes)}`;
    case 'mlock':
      return `${step.task} locks ${formatBytes(step.bytes)} (${step.via})`;
  }
}
