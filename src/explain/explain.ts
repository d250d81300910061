import { V1_ROOT_USAGE_NOTE } from '../vocab/cgroup-path.js';
import type { Errno } from '../vocab/errno.js';
import { formatBytes } from '../vocab/units.js';
import { formatVersion } from '../vocab/kernel-version.js';
import { mapPermission, progPermission } from '../vocab/caps.js';
import { causesOf, type Cause } from './causes.js';
import type { ExplainFacts, ExplainRequest } from './facts.js';
import { needOf, type Need } from './need.js';
import { judge, maxFile, type LevelView, type Verdict } from './verdict.js';
import { unchargedOf } from '../estimate/maps.js';
import { unchargedReasons } from '../model/uncharged.js';

/** What `explain` concludes. */
export interface Explanation {
  readonly facts: ExplainFacts;
  readonly request: ExplainRequest;
  readonly need: Need;
  /** The cgroups from the task's up to the root, with headroom. */
  readonly levels: readonly LevelView[];
  readonly verdict: Verdict;
  /** What to change when it does not fit. */
  readonly advice: readonly string[];
  /** What else is worth knowing, one line each (regime, per-CPU memory no cgroup pays, throttling, …). */
  readonly notes: readonly string[];
  /** For `--errno`: the causes, likeliest first; empty otherwise. */
  readonly causes: readonly Cause[];
}

/**
 * Explains whether the maps and programs of `request` (plus its extra bytes) fit under the
 * limits that apply to the task of `facts`, which limit stops them, and, given the errno of a
 * failure that already happened, its likely causes. Pure: same facts, same explanation.
 */
export function explain(facts: ExplainFacts, request: ExplainRequest): Explanation {
  const need = needOf(request, facts.profile);
  const permission = permissionOf(facts, request, need);
  const { verdict, levels, advice } = judge(facts, need, permission);
  const causes = request.errno === undefined ? [] : causesOf(request.errno, { facts, request, need, levels, permission: permission?.reason });
  return { facts, request, need, levels, verdict, advice, notes: notesOf(facts, request, need, levels, verdict), causes };
}

/** Exit status a script can use: 0 fits (or, with `--errno`, a likely cause was found), 1 otherwise. */
export function exitStatusOf(e: Explanation): 0 | 1 {
  if (e.request.errno !== undefined) return e.causes.some((c) => c.status === 'likely') ? 0 : 1;
  return e.verdict.kind === 'fits' ? 0 : 1;
}

/** The first privilege refusal among the maps and programs, as the kernel would return it. */
function permissionOf(facts: ExplainFacts, request: ExplainRequest, need: Need): { errno: Errno; reason: string } | undefined {
  const task = facts.task;
  if (!task) return undefined;
  const p = { capEff: task.capEff, unprivilegedBpfDisabled: facts.unprivilegedBpfDisabled };
  // estimateMaps() keeps the order of the request: map i is request.maps[i].
  for (const [i, { name, spec }] of request.maps.entries()) {
    if (need.estimate.maps[i]?.ok === false) continue;
    const why = mapPermission(spec.type, spec.flags, p, facts.profile.version);
    if (why !== undefined) return { errno: 'EPERM', reason: `map ${name}: ${why}` };
  }
  if (request.progs.length > 0) {
    const why = progPermission(p, facts.profile.version);
    if (why !== undefined) return { errno: 'EPERM', reason: `programs: ${why}` };
  }
  return undefined;
}

function notesOf(facts: ExplainFacts, request: ExplainRequest, need: Need, levels: readonly LevelView[], verdict: Verdict): string[] {
  const p = facts.profile;
  const v = formatVersion(p.version);
  const notes: string[] = [facts.regimeReason];
  const task = facts.task;
  if (p.regime === 'memcg' && task?.memlock) {
    notes.push(`RLIMIT_MEMLOCK (${formatLimit(task.memlock.soft)}) does not limit BPF on kernel ${v}`);
  }
  if (p.regime === 'memlock') {
    const uid = task?.uid === undefined ? 'the uid' : `uid ${task.uid}`;
    notes.push(
      `the precharge adds to ${uid}'s locked_vm, shared by every process of ${uid} (and io_uring and perf buffers); no file shows it, so "fits" assumes nothing else is locked`,
    );
    notes.push('memory cgroups do not limit BPF on this kernel: maps and programs are not charged to them');
  }
  if (p.regime === 'none') notes.push('nothing BPF allocates is counted against a limit: no verdict on memory to give');
  // Memory made at creation that no cgroup pays for (per-CPU memory on 6.0+, unaccounted
  // allocations) escapes memory.max: say so where it is a real share or would change the verdict.
  if (p.regime === 'memcg' && need.uncharged > 0) {
    const total = need.charged + need.uncharged;
    const changes = verdict.kind === 'fits' && Number.isFinite(verdict.headroom) && need.uncharged > verdict.headroom;
    if (need.uncharged > 0.1 * total || changes) {
      notes.push(
        `${formatBytes(need.uncharged)} is allocated at creation but charged to no memory cgroup on ${v}, so it does not count against ${maxFile(p.cgroupVersion)}${changes ? ' (it would not fit if it did)' : ''}; the machine still needs it. ${unchargedReasons(unchargedOf(need.estimate), p).join('; ')}`,
      );
    }
  }
  if (p.regime === 'memcg' && levels[0]?.path === '/') notes.push('the task is in the root memory cgroup, which is never charged and has no limit');
  const root = levels.find((l) => l.path === '/');
  if (p.cgroupVersion === 1 && root?.usage !== undefined && levels.some((l) => l !== root && (l.usage ?? 0) > (root.usage ?? 0))) notes.push(V1_ROOT_USAGE_NOTE);
  // Usage counts the per-CPU charge stock: up to MEMCG_CHARGE_BATCH pages per CPU charged ahead of use.
  const margin = p.eras.memcgChargeBatchPages * p.pageSize * p.possibleCpus;
  if (p.regime === 'memcg') {
    for (const l of levels) {
      if (l.path === '/' || l.headroom === undefined || !Number.isFinite(l.headroom)) continue;
      if (Math.abs(l.headroom - need.counted) <= margin) {
        notes.push(
          `${l.path} is within ${formatBytes(margin)} of the need: its usage includes up to ${p.eras.memcgChargeBatchPages} pages per CPU of charge stock made ahead of use, so the outcome can go either way`,
        );
        break;
      }
    }
    for (const l of levels) {
      if (l.reclaimCovers) {
        notes.push(
          `${l.path} is short by ${formatBytes(l.short)} but holds ${formatBytes(l.reclaimable ?? 0)} of page cache: map creation reclaims it, inserts from BPF programs (GFP_NOWAIT) do not`,
        );
      }
      if (l.overHigh && l.high !== undefined) {
        notes.push(`${l.path}: usage would pass memory.high (${formatBytes(l.high)}): the charge succeeds, then the task is throttled (reclaim, then sleep) on its way back to user space`);
      }
    }
  }
  if (request.maps.length === 0 && request.progs.length === 0) notes.push('no map given: the attributes and privileges a map needs were not checked');
  if (!task) notes.push('no task given: its RLIMIT_MEMLOCK and capabilities were not checked (use --pid)');
  return notes;
}

const formatLimit = (n: number): string => (Number.isFinite(n) ? formatBytes(n) : 'unlimited');
