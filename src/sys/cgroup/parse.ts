import type { CgroupVersion } from '../../vocab/profile.js';
import { emptyRecord, parseFlatKeyed, parseUnsigned, show } from '../proc/text.js';
import { ok, err, type Result } from '../../vocab/result.js';

/**
 * Parsers of memory-cgroup files, v1 and v2 (docs/kernel-facts.md §3.7; cgroup-v2.rst "Memory
 * Interface Files"; Documentation/admin-guide/cgroup-v1/memory.rst), and the version-neutral
 * {@link CgroupCounters} built from them. No I/O here: `cgroupfs-read.ts` reads the files.
 */

/**
 * Values above this are "no limit". v1 prints `PAGE_COUNTER_MAX * PAGE_SIZE` (9223372036854771712
 * with 4 KiB pages, 9223372036854710272 with 64 KiB) and v2 prints `max`; no machine has 2^53
 * bytes (8 PiB), so anything past the safe-integer range means unlimited.
 */
const UNLIMITED_ABOVE = Number.MAX_SAFE_INTEGER;

/**
 * Parses a limit file: v2 `memory.max` / `memory.high` (`max` or bytes), v1
 * `memory.limit_in_bytes` (bytes; the huge "no limit" value becomes `Infinity`).
 */
export function parseLimit(text: string): Result<number> {
  const t = text.trim();
  if (t === 'max') return ok(Number.POSITIVE_INFINITY);
  if (/^\d{17,20}$/.test(t) && Number(t) > UNLIMITED_ABOVE) return ok(Number.POSITIVE_INFINITY);
  const n = parseUnsigned(t);
  return n === undefined ? err(`limit ${show(t)} is not a number of bytes or "max"`) : ok(n);
}

/** Parses a one-number file (`memory.current`, `memory.usage_in_bytes`, `memory.failcnt`, …). */
export function parseCounter(text: string): Result<number> {
  const t = text.trim();
  const n = parseUnsigned(t);
  return n === undefined ? err(`counter ${show(t)} is not an unsigned number`) : ok(n);
}

/**
 * Parses `memory.stat`, either version: `key value` lines into a record. v2 values are bytes
 * (or event counts: `pgfault`, …) and hierarchical; v1 has local keys (`rss`, `cache`) and
 * hierarchical `total_*` ones, and no slab, percpu or kernel lines.
 */
export function parseMemoryStat(text: string): Result<Readonly<Record<string, number>>> {
  return parseFlatKeyed(text, 'memory.stat');
}

/**
 * `memory.events` / `memory.events.local` (v2) by the kernel's key names. A key the kernel of
 * the file does not print (later additions such as `oom_group_kill`) is undefined; on v1 only
 * `oom_kill` is known (from `memory.oom_control`).
 */
export interface MemoryEvents {
  readonly low: number | undefined;
  readonly high: number | undefined;
  readonly max: number | undefined;
  readonly oom: number | undefined;
  readonly oom_kill: number | undefined;
  readonly oom_group_kill: number | undefined;
}

/** Parses v2 `memory.events` or `memory.events.local`. Unknown keys are ignored. */
export function parseEvents(text: string): Result<MemoryEvents> {
  const r = parseFlatKeyed(text, 'memory.events');
  if (!r.ok) return r;
  const e = r.value;
  return ok({
    low: e['low'],
    high: e['high'],
    max: e['max'],
    oom: e['oom'],
    oom_kill: e['oom_kill'],
    oom_group_kill: e['oom_group_kill'],
  });
}

/** v1 `memory.oom_control`. */
export interface OomControl {
  readonly oomKillDisable: boolean;
  /** The cgroup is in OOM right now (only lasts while `oom_kill_disable` holds tasks). */
  readonly underOom: boolean;
  /** Tasks killed by the OOM killer in this cgroup (4.13+). */
  readonly oomKill: number | undefined;
}

/** Parses v1 `memory.oom_control`. */
export function parseOomControl(text: string): Result<OomControl> {
  const r = parseFlatKeyed(text, 'memory.oom_control');
  if (!r.ok) return r;
  const disable = r.value['oom_kill_disable'];
  const under = r.value['under_oom'];
  if (disable === undefined || under === undefined) return err('memory.oom_control lacks oom_kill_disable or under_oom');
  return ok({ oomKillDisable: disable !== 0, underOom: under !== 0, oomKill: r.value['oom_kill'] });
}

/** v2 `cgroup.stat`. */
export interface CgroupStat {
  readonly nrDescendants: number;
  /**
   * Removed cgroups below this one that the kernel still keeps (something holds a reference: a
   * 5.11–5.19 BPF map's `map->memcg`, page cache, …).
   */
  readonly nrDyingDescendants: number;
  /** `nr_subsys_<controller>` (6.x): live controller states at and below this cgroup. */
  readonly subsys: Readonly<Record<string, number>>;
  /** `nr_dying_subsys_<controller>` (6.x): dying ones, e.g. dying memory cgroups. */
  readonly dyingSubsys: Readonly<Record<string, number>>;
}

/** Parses v2 `cgroup.stat`. */
export function parseCgroupStat(text: string): Result<CgroupStat> {
  const r = parseFlatKeyed(text, 'cgroup.stat');
  if (!r.ok) return r;
  const d = r.value['nr_descendants'];
  const dying = r.value['nr_dying_descendants'];
  if (d === undefined || dying === undefined) return err('cgroup.stat lacks nr_descendants or nr_dying_descendants');
  const subsys = emptyRecord<number>();
  const dyingSubsys = emptyRecord<number>();
  for (const [k, v] of Object.entries(r.value)) {
    if (k.startsWith('nr_dying_subsys_')) dyingSubsys[k.slice('nr_dying_subsys_'.length)] = v;
    else if (k.startsWith('nr_subsys_')) subsys[k.slice('nr_subsys_'.length)] = v;
  }
  return ok({ nrDescendants: d, nrDyingDescendants: dying, subsys, dyingSubsys });
}

/**
 * The `memory.stat` lines that matter for BPF, in bytes, hierarchical. A line the version or
 * kernel does not print is undefined: v1 has no slab, percpu, vmalloc, kernel_stack, pagetables
 * or sock lines; v2 gained `vmalloc` and `kernel` around 5.18–6.0.
 */
export interface StatSummary {
  /** v2 `anon`; v1 `total_rss`. */
  readonly anon: number | undefined;
  /** v2 `file`; v1 `total_cache`. */
  readonly file: number | undefined;
  /** v2 `shmem`; v1 `total_shmem`. */
  readonly shmem: number | undefined;
  /** v2 `slab` (reclaimable + unreclaimable): BPF's kmalloc'ed objects land here. */
  readonly slab: number | undefined;
  readonly slabReclaimable: number | undefined;
  readonly slabUnreclaimable: number | undefined;
  /** v2 `percpu`: per-CPU allocations with their objcg metadata (docs/kernel-facts.md §3.4). */
  readonly percpu: number | undefined;
  /** v2 `vmalloc`: large map areas (`bpf_map_area_alloc()` above 32 KiB), ringbuf pages. */
  readonly vmalloc: number | undefined;
  readonly kernelStack: number | undefined;
  readonly pagetables: number | undefined;
  readonly sock: number | undefined;
}

/** One memory cgroup's counters, the same shape on v1 and v2. */
export interface CgroupCounters {
  readonly version: CgroupVersion;
  /**
   * v1 `memory.usage_in_bytes`, v2 `memory.current`: hierarchical; includes kernel memory and
   * the per-CPU charge stock (up to 64 pages per CPU on 6.1+ ahead of real use).
   */
  readonly usage: number;
  /** v1 `memory.limit_in_bytes`, v2 `memory.max`; `Infinity` for none. */
  readonly max: number;
  /** v2 `memory.high`; undefined on v1, which has no such file. */
  readonly high: number | undefined;
  /** v1 `memory.max_usage_in_bytes`, v2 `memory.peak` (5.19+). */
  readonly peak: number | undefined;
  /** v1 `memory.failcnt`: charges that hit the limit (every retry counts). v2 has none. */
  readonly failcnt: number | undefined;
  /** v2 `memory.events` (hierarchical); on v1 only `oom_kill`, from `memory.oom_control`. */
  readonly events: MemoryEvents;
  /** v2 `memory.events.local`; undefined on v1. */
  readonly eventsLocal: MemoryEvents | undefined;
  /** Kernel memory: v1 `memory.kmem.usage_in_bytes`, v2 `memory.stat kernel` (when printed). */
  readonly kernel: number | undefined;
  /** v1 `memory.kmem.max_usage_in_bytes`. */
  readonly kernelPeak: number | undefined;
  /** v1 `memory.kmem.failcnt` (stays 0: kmem has no limit of its own since 6.x). */
  readonly kernelFailcnt: number | undefined;
  /** v1 `memory.oom_control under_oom`. */
  readonly underOom: boolean | undefined;
  readonly stat: StatSummary;
  /** Every `memory.stat` line as printed. */
  readonly rawStat: Readonly<Record<string, number>>;
  /** v2 `cgroup.stat nr_descendants`; undefined on v1. */
  readonly descendants: number | undefined;
  /** v2 `cgroup.stat nr_dying_descendants`; undefined on v1. */
  readonly dyingDescendants: number | undefined;
}

/** The files {@link countersFromFiles} reads, per version; the first two are required. */
export const COUNTER_FILES = {
  1: [
    'memory.usage_in_bytes',
    'memory.limit_in_bytes',
    'memory.max_usage_in_bytes',
    'memory.failcnt',
    'memory.kmem.usage_in_bytes',
    'memory.kmem.max_usage_in_bytes',
    'memory.kmem.failcnt',
    'memory.oom_control',
    'memory.stat',
  ],
  2: [
    'memory.current',
    'memory.max',
    'memory.high',
    'memory.peak',
    'memory.events',
    'memory.events.local',
    'memory.stat',
    'cgroup.stat',
  ],
} as const satisfies Record<CgroupVersion, readonly string[]>;

/** The text of a cgroup file by name, or undefined when the file does not exist. */
export type CgroupFileText = (name: string) => string | undefined;

const NO_EVENTS: MemoryEvents = {
  low: undefined,
  high: undefined,
  max: undefined,
  oom: undefined,
  oom_kill: undefined,
  oom_group_kill: undefined,
};

/**
 * Builds {@link CgroupCounters} from the texts of a cgroup's files (see {@link COUNTER_FILES}).
 * The usage and limit files are required; any other missing file leaves its fields undefined;
 * a malformed file is an error naming it.
 */
export function countersFromFiles(version: CgroupVersion, file: CgroupFileText): Result<CgroupCounters> {
  const errors: string[] = [];
  function get<T>(name: string, parse: (text: string) => Result<T>): T | undefined {
    const text = file(name);
    if (text === undefined) return undefined;
    const r = parse(text);
    if (!r.ok) {
      errors.push(`${name}: ${r.error}`);
      return undefined;
    }
    return r.value;
  }
  const usageFile = version === 1 ? 'memory.usage_in_bytes' : 'memory.current';
  const maxFile = version === 1 ? 'memory.limit_in_bytes' : 'memory.max';
  if (file(usageFile) === undefined || file(maxFile) === undefined) {
    return err(`not a v${version} memory cgroup: no ${usageFile} or ${maxFile}`);
  }
  const usage = get(usageFile, parseCounter);
  const max = get(maxFile, parseLimit);
  const rawStat = get('memory.stat', parseMemoryStat) ?? emptyRecord<number>();
  let counters: CgroupCounters | undefined;
  if (version === 1) {
    const oom = get('memory.oom_control', parseOomControl);
    const s = (key: string): number | undefined => rawStat[`total_${key}`] ?? rawStat[key];
    counters = {
      version,
      usage: usage ?? 0,
      max: max ?? Number.POSITIVE_INFINITY,
      high: undefined,
      peak: get('memory.max_usage_in_bytes', parseCounter),
      failcnt: get('memory.failcnt', parseCounter),
      events: { ...NO_EVENTS, oom_kill: oom?.oomKill },
      eventsLocal: undefined,
      kernel: get('memory.kmem.usage_in_bytes', parseCounter),
      kernelPeak: get('memory.kmem.max_usage_in_bytes', parseCounter),
      kernelFailcnt: get('memory.kmem.failcnt', parseCounter),
      underOom: oom?.underOom,
      stat: {
        anon: s('rss'),
        file: s('cache'),
        shmem: s('shmem'),
        slab: undefined,
        slabReclaimable: undefined,
        slabUnreclaimable: undefined,
        percpu: undefined,
        vmalloc: undefined,
        kernelStack: undefined,
        pagetables: undefined,
        sock: undefined,
      },
      rawStat,
      descendants: undefined,
      dyingDescendants: undefined,
    };
  } else {
    const cgroupStat = get('cgroup.stat', parseCgroupStat);
    counters = {
      version,
      usage: usage ?? 0,
      max: max ?? Number.POSITIVE_INFINITY,
      high: get('memory.high', parseLimit),
      peak: get('memory.peak', parseCounter),
      failcnt: undefined,
      events: get('memory.events', parseEvents) ?? NO_EVENTS,
      eventsLocal: get('memory.events.local', parseEvents),
      kernel: rawStat['kernel'],
      kernelPeak: undefined,
      kernelFailcnt: undefined,
      underOom: undefined,
      stat: {
        anon: rawStat['anon'],
        file: rawStat['file'],
        shmem: rawStat['shmem'],
        slab: rawStat['slab'],
        slabReclaimable: rawStat['slab_reclaimable'],
        slabUnreclaimable: rawStat['slab_unreclaimable'],
        percpu: rawStat['percpu'],
        vmalloc: rawStat['vmalloc'],
        kernelStack: rawStat['kernel_stack'],
        pagetables: rawStat['pagetables'],
        sock: rawStat['sock'],
      },
      rawStat,
      descendants: cgroupStat?.nrDescendants,
      dyingDescendants: cgroupStat?.nrDyingDescendants,
    };
  }
  if (errors.length > 0) return err(errors.join('; '));
  return ok(counters);
}
