import type { KnownMapState as MapState, KnownSnapshot as Snapshot } from '../vocab/backend.js';
import type { KernelOverrides } from '../scenario/overrides.js';
import type { RunResult } from '../scenario/run.js';
import type { Scenario } from '../scenario/types.js';
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

const map = (s: Snapshot, name: string): MapState | undefined => s.maps.find((m) => m.name === name);
const cg = (s: Snapshot, path: string) => s.cgroups.find((c) => c.path === path);
const fmt = (n: number | undefined): string => formatBytes(n ?? 0);
const step = (r: RunResult<Snapshot> | undefined, i: number) => r?.steps.find((s) => s.index === i);
const count = (n: number): string => n.toLocaleString('en-US');
/** The elements a run's updates inserted: all of them, and those from softirq. */
function inserted(r: RunResult<Snapshot> | undefined, scenario: Scenario): { all: number; softirq: number } {
  let all = 0;
  let softirq = 0;
  for (const s of scenario.steps) {
    if (s.op !== 'update') continue;
    const applied = step(r, s.index)?.applied ?? 0;
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
    lesson: ([old, now], scenario) => {
      const denied = step(old, 2);
      const uid = scenario.tasks.find((t) => t.name === 'exporter')?.uid;
      return (
        `On 5.10 the exporter's map is refused with ${denied?.errno ?? 'no error'}: uid ${uid ?? '?'}'s locked_vm is shared by both ` +
        `services and the agent's maps hold most of it, though the exporter holds nothing. ` +
        `On 6.18 each map is charged to its creator's cgroup (/system/agent: ${fmt(cg(now?.final ?? empty, '/system/agent')?.bpf)}, ` +
        `/system/exporter: ${fmt(cg(now?.final ?? empty, '/system/exporter')?.bpf)}) and nobody's limit is shared.`
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
    lesson: ([old, now]) => {
      const a = map(old?.final ?? empty, 'sessions');
      const b = map(now?.final ?? empty, 'sessions');
      return (
        `For ${count(b?.elements ?? 0)} sessions, 5.10 precharged ${fmt(a?.memlock)} up front (room for every possible element). ` +
        `6.18's fdinfo memlock says ${fmt(b?.memlock)}, but the cgroup is charged ${fmt(b?.charged)}: ` +
        `each element takes a whole slab object of the next size class, plus per-CPU caches of spare objects.`
      );
    },
  },
  {
    title: 'Updates from softirq are charged to the map\'s cgroup',
    file: 'softirq.yaml',
    runs: [{ label: '6.18, memcg', kernel: {} }],
    lesson: ([r], scenario) => {
      const s = r?.final ?? empty;
      const n = inserted(r, scenario);
      return (
        `${count(n.all)} inserts, ${count(n.softirq)} of them from softirq while "web" ran: /system/agent holds ${fmt(cg(s, '/system/agent')?.bpf)} of BPF memory, ` +
        `/system/web ${fmt(cg(s, '/system/web')?.bpf)}: the struct file of its own fd on the map, nothing of the elements ` +
        `(its ${fmt(cg(s, '/system/web')?.stat.anon)} are its heap).`
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
    lesson: ([two, many, old], scenario) => {
      const a = map(two?.final ?? empty, 'hits');
      const b = map(many?.final ?? empty, 'hits');
      const failed = step(old, 0);
      const limit = scenario.cgroups.find((c) => c.path === '/system/profiler')?.max;
      return (
        `memlock is ${fmt(a?.memlock)} on ${two?.profile.possibleCpus ?? '?'} CPUs and ${fmt(b?.memlock)} on ${many?.profile.possibleCpus ?? '?'}. ` +
        `On 6.18 the cgroup is charged only ${fmt(b?.charged)}; the other ${fmt(b?.uncharged)} of per-CPU values escape memory.max. ` +
        `On 5.15 the creator paid for them: ${failed?.ok ? 'it fit' : `${failed?.errno ?? ''} under the ${fmt(limit)} limit`}.`
      );
    },
  },
  {
    title: 'A cgroup limit stops a map, and says which limit',
    file: 'limit.yaml',
    runs: [{ label: '6.18, memcg', kernel: {} }],
    lesson: ([r]) => {
      const failed = r?.steps.find((s) => !s.ok);
      return failed ? `${failed.errno ?? ''}: ${failed.reason ?? ''}` : 'every map fit';
    },
  },
  {
    title: 'A removed cgroup\'s charges move to its parent',
    file: 'reparent.yaml',
    runs: [
      { label: '6.18 (objcg)', kernel: {} },
      { label: '5.15 (memcg pinned)', kernel: { version: '5.15' } },
    ],
    lesson: ([now, old]) => {
      const moved = step(now, 3);
      const kept = step(old, 3);
      return `6.18: ${moved?.detail ?? 'no detail'}. 5.15: ${kept?.detail ?? 'no detail'}.`;
    },
  },
];

const empty: Snapshot = { cgroups: [], users: [], tasks: [], maps: [], progs: [] };
