import type { Errno } from '../vocab/errno.js';
import { formatBytes } from '../vocab/units.js';
import { hasCap } from '../vocab/caps.js';
import type { CgroupLevel, ExplainFacts } from './facts.js';
import type { Need } from './need.js';

/**
 * The memory verdict: does the need fit under every limit that applies, and if not, which limit
 * stops it, by how much, and what to change. Pure.
 */

/** The limit file or resource a verdict names. */
export type LimitName = 'memory.max' | 'memory.limit_in_bytes' | 'RLIMIT_MEMLOCK';

/** A cgroup of the chain with what the need does to it. */
export interface LevelView extends CgroupLevel {
  /** `max - usage`; `Infinity` without a limit; undefined where the usage is unknown. */
  readonly headroom: number | undefined;
  /** Bytes the need is over the headroom (0 when it fits). */
  readonly short: number;
  /** Whether the page cache here covers the shortfall (the kernel reclaims it for charges that can wait). */
  readonly reclaimCovers: boolean;
  /** v2: usage would pass `memory.high` (a throttle, not a failure). */
  readonly overHigh: boolean;
}

/** The outcome. */
export type Verdict =
  | {
      readonly kind: 'fits';
      /** The tightest limit on the way, if any. */
      readonly limit: LimitName | undefined;
      /** The cgroup whose limit is tightest (memcg), if any. */
      readonly cgroup: string | undefined;
      /** What is left under the tightest limit after the need (`Infinity` without one). */
      readonly headroom: number;
      /** Page cache the kernel has to reclaim first (0 when none). */
      readonly reclaim: number;
    }
  | {
      readonly kind: 'short';
      readonly limit: LimitName;
      /** The cgroup that stops it (memcg): the deepest whose headroom is below the need. */
      readonly cgroup: string | undefined;
      readonly headroom: number;
      /** How much more is needed than there is. */
      readonly short: number;
    }
  | { readonly kind: 'refused'; readonly errno: Errno; readonly reason: string }
  | { readonly kind: 'unknown'; readonly reason: string };

/** A verdict, the cgroups seen, and what to do about it. */
export interface Judgement {
  readonly verdict: Verdict;
  readonly levels: readonly LevelView[];
  /** What to change, one line each (empty when it fits). */
  readonly advice: readonly string[];
}

/** The limit file of a cgroup version. */
export function maxFile(version: 1 | 2): LimitName {
  return version === 1 ? 'memory.limit_in_bytes' : 'memory.max';
}

/** The chain with headroom and shortfall for `need` bytes. */
export function levelsFor(chain: readonly CgroupLevel[], need: number): LevelView[] {
  return chain.map((c) => {
    const headroom = !Number.isFinite(c.max) ? Infinity : c.usage === undefined ? undefined : c.max - c.usage;
    // The root memory cgroup is never charged (mm/memcontrol.c: try_charge_memcg() returns at once for it).
    const short = c.path === '/' || headroom === undefined ? 0 : Math.max(0, need - headroom);
    const high = c.high;
    return {
      ...c,
      headroom,
      short,
      reclaimCovers: short > 0 && (c.reclaimable ?? 0) >= short,
      overHigh: high !== undefined && Number.isFinite(high) && c.usage !== undefined && c.path !== '/' && c.usage + need > high,
    };
  });
}

/**
 * Judges the need against the regime's limits:
 * - `memcg`: every cgroup from the task's up to the root must have room (mm/page_counter.c
 *   `page_counter_try_charge()` walks to the root and fails at the first, i.e. lowest, counter
 *   whose `max` would be exceeded). A charge that may wait reclaims page cache first, so a
 *   shortfall that page cache covers still fits.
 * - `memlock`: the precharge against the task's RLIMIT_MEMLOCK (kernel/bpf/syscall.c ≤ 5.10
 *   `bpf_charge_memlock()`, EPERM); the uid's `locked_vm` it adds to cannot be read.
 * - `none`: nothing is counted.
 * A map or program the kernel refuses for its attributes, or for the task's privileges, is
 * judged `refused` first: no memory is counted for it.
 */
export function judge(facts: ExplainFacts, need: Need, permission: { errno: Errno; reason: string } | undefined): Judgement {
  const version = facts.profile.cgroupVersion;
  const file = maxFile(version);
  const levels = levelsFor(facts.chain, need.counted);
  const first = need.refused[0];
  if (first) return { verdict: { kind: 'refused', errno: first.errno, reason: `${first.what}: ${first.reason}` }, levels, advice: [] };
  if (permission) return { verdict: { kind: 'refused', ...permission }, levels, advice: [] };

  switch (facts.profile.regime) {
    case 'none':
      return { verdict: { kind: 'fits', limit: undefined, cgroup: undefined, headroom: Infinity, reclaim: 0 }, levels, advice: [] };
    case 'memlock':
      return memlockJudgement(facts, need, levels);
    case 'memcg':
      break;
  }
  if (levels.length === 0) return { verdict: { kind: 'unknown', reason: facts.chainMissing ?? 'the memory cgroups of the task could not be read' }, levels, advice: [] };
  const deepest = levels[0];
  if (deepest?.path === '/') {
    return { verdict: { kind: 'fits', limit: undefined, cgroup: undefined, headroom: Infinity, reclaim: 0 }, levels, advice: [] };
  }
  const blocker = levels.find((l) => l.short > 0 && !l.reclaimCovers);
  if (blocker) {
    const advice: string[] = [];
    for (const l of levels.filter((x) => x.short > 0 && !x.reclaimCovers)) {
      advice.push(
        `raise ${l.path}'s ${file} by ${formatBytes(l.short)} (to ${formatBytes(l.max + l.short)}), or free ${formatBytes(l.short)} in it or below it`,
      );
    }
    if (advice.length > 1) advice.push(`each of these cgroups needs the room: raising ${blocker.path} alone is not enough`);
    return {
      verdict: { kind: 'short', limit: file, cgroup: blocker.path, headroom: blocker.headroom ?? 0, short: blocker.short },
      levels,
      advice,
    };
  }
  // It fits: say under which limit there is least room left.
  let tightest: LevelView | undefined;
  for (const l of levels) {
    if (l.path === '/' || l.headroom === undefined || !Number.isFinite(l.headroom)) continue;
    if (!tightest || (l.headroom < (tightest.headroom ?? Infinity))) tightest = l;
  }
  const reclaim = Math.max(0, ...levels.map((l) => (l.reclaimCovers ? l.short : 0)));
  const left = tightest?.headroom === undefined ? Infinity : tightest.headroom - need.counted;
  return {
    verdict: {
      kind: 'fits',
      limit: tightest ? file : undefined,
      cgroup: tightest?.path,
      // Where page cache makes the room, nothing is left over once it is reclaimed.
      headroom: reclaim > 0 ? Math.max(0, left) : left,
      reclaim,
    },
    levels,
    advice: [],
  };
}

function memlockJudgement(facts: ExplainFacts, need: Need, levels: LevelView[]): Judgement {
  const task = facts.task;
  if (!task) {
    return {
      verdict: { kind: 'unknown', reason: 'kernels before 5.11 count BPF against the loading task\'s RLIMIT_MEMLOCK, not a cgroup: name the task with --pid' },
      levels,
      advice: [],
    };
  }
  const rl = task.memlock;
  if (!rl) return { verdict: { kind: 'unknown', reason: `the RLIMIT_MEMLOCK of process ${task.pid} could not be read` }, levels, advice: [] };
  if (!Number.isFinite(rl.soft) || need.counted <= rl.soft) {
    return { verdict: { kind: 'fits', limit: 'RLIMIT_MEMLOCK', cgroup: undefined, headroom: rl.soft - need.counted, reclaim: 0 }, levels, advice: [] };
  }
  const short = need.counted - rl.soft;
  const advice: string[] = [];
  const to = formatBytes(need.counted);
  if (need.counted <= rl.hard) {
    advice.push(
      `raise RLIMIT_MEMLOCK of process ${task.pid} to at least ${to} (its hard limit ${formatBytes(rl.hard)} allows it): ` +
        `\`ulimit -l\` before it starts, \`prlimit --pid ${task.pid} --memlock=${need.counted}:${Number.isFinite(rl.hard) ? rl.hard : 'unlimited'}\`, or setrlimit(2) in the loader`,
    );
  } else {
    const cap = task.capEff === undefined ? 'unknown' : hasCap(task.capEff, 'CAP_SYS_RESOURCE') ? 'has' : 'lacks';
    advice.push(
      `raise RLIMIT_MEMLOCK of process ${task.pid} to at least ${to}, above its hard limit ${formatBytes(rl.hard)}: that needs CAP_SYS_RESOURCE ` +
        `(the task ${cap === 'unknown' ? 'may lack it' : `${cap} it`}); or set it where the loader starts (LimitMEMLOCK= of its systemd unit, docker --ulimit memlock=-1)`,
    );
  }
  return { verdict: { kind: 'short', limit: 'RLIMIT_MEMLOCK', cgroup: undefined, headroom: rl.soft, short }, levels, advice };
}
