import type { KnownMapState as MapState, KnownSnapshot as Snapshot } from '../vocab/backend.js';
import type { KernelOverrides } from '../scenario/overrides.js';
import type { RunResult, StepResult } from '../scenario/run.js';
import type { Scenario, Step } from '../scenario/types.js';
import { formatBytes } from '../vocab/units.js';

/**
 * The demo: the seed problems of BPF memory accounting, each told by a scenario of
 * `scenarios/` run on the model under the kernels that show it. A chapter's lesson is computed
 * from its runs, so every number the demo prints is one the model produced.
 */
export interface Chapter {
  readonly title: string;
  /** The scenario file, relative to the package's `scenarios/`. */
  readonly file: string;
  /** The runs to compare: a label and what to change of the scenario's kernel. */
  readonly runs: readonly { readonly label: string; readonly kernel: KernelOverrides }[];
  /** What the runs of `scenario` show, in a sentence or two with their numbers (none written here). */
  readonly lesson: (runs: readonly RunResult<Snapshot>[], scenario: Scenario) => string;
}

/**
 * What a lesson needs of its runs and scenario, found or thrown for: a lesson that cannot say
 * one of its numbers (a map, a cgroup or a step missing, a refusal that did not happen) is a bug
 * of the chapter or its scenario, never a `?` or a `0 B` printed as if the model had said it.
 */
function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`demo: the lesson needs ${what}`);
  return value;
}
const run = (runs: readonly RunResult<Snapshot>[], i: number, label: string): RunResult<Snapshot> => need(runs[i], `its ${label} run`);
const map = (r: RunResult<Snapshot>, name: string): MapState => need(r.final.maps.find((m) => m.name === name), `map ${name} in the ${r.profile.release} run`);
const cg = (r: RunResult<Snapshot>, path: string) => need(r.final.cgroups.find((c) => c.path === path), `cgroup ${path} in the ${r.profile.release} run`);
const task = (scenario: Scenario, name: string) => need(scenario.tasks.find((t) => t.name === name), `task ${name} in ${scenario.source}`);
/** The result of the file's `steps[index]` in a run. */
const resultOf = (r: RunResult<Snapshot>, index: number): StepResult => need(r.steps.find((x) => x.index === index), `the result of steps[${index}] in the ${r.profile.release} run`);
/** The first step of the scenario that `is`, as `what` names it, and its result in `r`. */
function stepOf<S extends Step>(r: RunResult<Snapshot>, scenario: Scenario, what: string, is: (s: Step) => s is S): { step: S; result: StepResult } {
  const step = need(scenario.steps.find(is), `a step ${what} in ${scenario.source}`);
  return { step, result: resultOf(r, step.index) };
}
/** A step's refusal: its errno, or a throw when the step did not fail. */
const refusal = (s: StepResult): string => need(s.ok ? undefined : s.errno, `steps[${s.index}] (${s.summary}) refused`);
const createMap = (task?: string) => (s: Step): s is Extract<Step, { op: 'create_map' }> => s.op === 'create_map' && (task === undefined || s.task === task);
const fmt = (n: number): string => formatBytes(n);
const count = (n: number): string => n.toLocaleString('en-US');
/** The elements a run's updates inserted: all of them, and those from softirq. */
function inserted(r: RunResult<Snapshot>, scenario: Scenario): { all: number; softirq: number } {
  let all = 0;
  let softirq = 0;
  for (const s of scenario.steps) {
    if (s.op !== 'update') continue;
    const result = resultOf(r, s.index);
    // A refusal before the first insert says no count; a success always does.
    const applied = result.ok ? need(result.applied, `the count steps[${s.index}] inserted`) : (result.applied ?? 0);
    all += applied;
    if (s.context === 'softirq') softirq += applied;
  }
  return { all, softirq };
}

export const CHAPTERS: readonly Chapter[] = [
  {
    title: 'One budget per user: two processes starve each other (RLIMIT_MEMLOCK)',
    file: 'shared-budget.yaml',
    runs: [
      { label: '5.10, memlock', kernel: { version: '5.10' } },
      { label: '6.18, memcg', kernel: { version: '6.18' } },
    ],
    lesson: (runs, scenario) => {
      const [old, now] = [run(runs, 0, '5.10'), run(runs, 1, '6.18')];
      const denied = stepOf(old, scenario, "creating the exporter's map", createMap('exporter')).result;
      const { uid } = task(scenario, 'exporter');
      return (
        `On 5.10 the exporter's map is refused with ${refusal(denied)}: uid ${uid}'s locked_vm is shared by both ` +
        `services and the agent's maps hold most of it, though the exporter holds nothing. ` +
        `On 6.18 each map is charged to its creator's cgroup (/system/agent: ${fmt(cg(now, '/system/agent').bpf)}, ` +
        `/system/exporter: ${fmt(cg(now, '/system/exporter').bpf)}) and nobody's limit is shared.`
      );
    },
  },
  {
    title: 'The hand estimate drifts from what is really allocated',
    file: 'hand-estimate.yaml',
    runs: [
      { label: '5.10, memlock', kernel: { version: '5.10' } },
      { label: '6.18, memcg', kernel: { version: '6.18' } },
    ],
    lesson: (runs) => {
      const a = map(run(runs, 0, '5.10'), 'sessions');
      const b = map(run(runs, 1, '6.18'), 'sessions');
      return (
        `For ${count(b.elements)} sessions, 5.10 precharged ${fmt(a.memlock)} up front (room for every possible element). ` +
        `6.18's fdinfo memlock says ${fmt(b.memlock)}, but the cgroup is charged ${fmt(b.charged)}: ` +
        `each element takes a whole slab object of the next size class, plus per-CPU caches of spare objects.`
      );
    },
  },
  {
    title: 'Updates from softirq are charged to the map\'s cgroup',
    file: 'softirq.yaml',
    runs: [{ label: '6.18, memcg', kernel: {} }],
    lesson: (runs, scenario) => {
      const r = run(runs, 0, '6.18');
      const n = inserted(r, scenario);
      const web = cg(r, '/system/web');
      return (
        `${count(n.all)} inserts, ${count(n.softirq)} of them from softirq while "web" ran: /system/agent holds ${fmt(cg(r, '/system/agent').bpf)} of BPF memory, ` +
        `/system/web ${fmt(web.bpf)}: the struct file of its own fd on the map, nothing of the elements ` +
        `(its ${fmt(web.stat.anon)} are its heap).`
      );
    },
  },
  {
    title: 'A per-CPU map on 2 and on 192 CPUs (kernel/CPUs)',
    file: 'percpu.yaml',
    runs: [
      { label: '6.18/2', kernel: { cpus: 2 } },
      { label: '6.18/192', kernel: { cpus: 192 } },
      { label: '5.15/192', kernel: { version: '5.15', cpus: 192 } },
    ],
    lesson: (runs, scenario) => {
      const [two, many, old] = [run(runs, 0, '6.18/2'), run(runs, 1, '6.18/192'), run(runs, 2, '5.15/192')];
      // The scenario's per-CPU map, and the cgroup its creator runs in.
      const { step: create, result: failed } = stepOf(old, scenario, 'creating a map', createMap());
      const a = map(two, create.name);
      const b = map(many, create.name);
      const path = task(scenario, create.task).cgroup;
      const limit = need(scenario.cgroups.find((c) => c.path === path), `cgroup ${path} in ${scenario.source}`).max;
      return (
        `memlock is ${fmt(a.memlock)} on ${two.profile.possibleCpus} CPUs and ${fmt(b.memlock)} on ${many.profile.possibleCpus}. ` +
        `On 6.18 the cgroup is charged only ${fmt(b.charged)}; the other ${fmt(b.uncharged)} of per-CPU values escape memory.max. ` +
        `On 5.15 the creator paid for them: ${failed.ok ? 'it fit' : `${refusal(failed)} under the ${fmt(limit)} limit`}.`
      );
    },
  },
  {
    title: 'A cgroup limit stops a map, and says which limit',
    file: 'limit.yaml',
    runs: [{ label: '6.18, memcg', kernel: {} }],
    lesson: (runs) => {
      const failed = run(runs, 0, '6.18').steps.find((s) => !s.ok);
      return failed ? `${refusal(failed)}: ${need(failed.reason, `the reason of steps[${failed.index}]`)}` : 'every map fit';
    },
  },
  {
    title: 'A removed cgroup\'s charges move to its parent',
    file: 'reparent.yaml',
    runs: [
      { label: '6.18 (objcg)', kernel: {} },
      { label: '5.15 (memcg pinned)', kernel: { version: '5.15' } },
    ],
    lesson: (runs, scenario) => {
      // What removing the cgroup did, as each kernel's model says it.
      const removal = (r: RunResult<Snapshot>): string => {
        const { result } = stepOf(r, scenario, 'removing a cgroup', (s): s is Extract<Step, { op: 'remove_cgroup' }> => s.op === 'remove_cgroup');
        return need(result.detail, `what steps[${result.index}] (${result.summary}) did in the ${r.profile.release} run`);
      };
      return `6.18: ${removal(run(runs, 0, '6.18'))}. 5.15: ${removal(run(runs, 1, '5.15'))}.`;
    },
  },
];
