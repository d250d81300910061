import { Collector } from '../live/collect.js';
import { describeMachine } from '../live/machine.js';
import { FailureWatch, type FailureSample } from '../live/watch.js';
import { judge, needOf, type CgroupLevel, type Verdict } from '../explain/index.js';
import { readCgroupChain, readCgroupLevel } from '../explain/read-facts.js';
import { InventoryBuilder, type Inventory, type MapEntry } from '../inspect/inventory.js';
import type { HookStatus } from '../sys/trace/index.js';
import type { BucketName } from '../sys/trace/index.js';
import type { Holder } from '../vocab/inventory.js';
import { blindSpots } from './coverage.js';
import { ForecastHistory, type Forecast } from './forecast.js';
import { Arming, DEFAULT_ARM_BELOW, DEFAULT_HOLD_MS, hookArmed, type ArmingDecision } from './arming.js';
import { isMapType, type MapType } from '../vocab/maptypes.js';

/**
 * `bpfmem watch` and the failures of `bpfmem serve`: the refused map updates the tracer counts
 * (src/live/watch.ts), joined with the inventory (which map, its type and holders, the memory
 * cgroup charged for it), that cgroup's counters and limits up to the root, explain's verdict on
 * which limit stops the next element, and the forecast of when each paying cgroup runs out.
 * Where the kernel allows no hook, the cgroup side is still read: v1 `memory.failcnt`, v2
 * `memory.events` `max`, usage against the limits, and the forecast.
 */

/** Failures of one map with one errno. */
export interface FailureRow {
  readonly map: { readonly id: number; readonly name: string; readonly type: string; readonly holders: readonly Holder[] };
  readonly errno: BucketName;
  /**
   * Since the watch began: the larger of the two hooks' counts of this map and errno, the map
   * type's own functions' and bpf_map_update_value's. The type's functions see every path
   * (programs and bpf(2)) but only refusals raised in them, and only while their hook is attached;
   * bpf_map_update_value (6.12+) sees bpf(2) alone, refusals raised before the type's function
   * too (EINVAL, EFAULT, EPERM of a frozen map), and stays attached while any type is armed. With
   * both attached, a bpf(2) refusal in the type's function is counted by both, and the two cannot
   * be told apart: their sum would count it twice, either one alone would drop the other's
   * refusals. The larger never counts one twice and, each count only growing, never goes down;
   * it is a floor (refusals of programs the type's hook saw while bpf_map_update_value counted
   * more are not added).
   */
  readonly count: number;
  /** Since the last frame. */
  readonly recent: number;
  /**
   * Whose count {@link count} is: `type`, the map type's own functions' (every path; they
   * counted at least as many); `syscall`, bpf_map_update_value's (bpf(2) only), which counted more:
   * the type's functions are not hooked here or were not attached then, or the refusals were
   * raised before them. It may change from frame to frame; the count does not depend on it.
   */
  readonly seenBy: 'type' | 'syscall';
  /** The cgroup charged for the map, with its counters now; undefined when unknown. */
  readonly cgroup: { readonly path: string; readonly usage: number | undefined; readonly limit: number; readonly headroom: number | undefined } | undefined;
  /** explain's verdict on one more page charged to that cgroup: which limit on its path stops it. */
  readonly verdict: Verdict | undefined;
}

/** A memory cgroup paying for BPF maps. */
export interface PayerRow {
  readonly path: string;
  readonly bpf: number;
  readonly usage: number | undefined;
  readonly limit: number;
  readonly headroom: number | undefined;
  /** v1 `memory.failcnt` (charges refused at its limit, every retry counted); undefined on v2. */
  readonly failcnt: number | undefined;
  readonly failcntRecent: number | undefined;
  /** v2 `memory.events.local` `max` (not raised for a refused GFP_NOWAIT charge on most kernels); undefined on v1. */
  readonly maxEvents: number | undefined;
  readonly maxEventsRecent: number | undefined;
  /** Their change since the watch first saw the cgroup (the summary's). */
  readonly failcntRun: number | undefined;
  readonly maxEventsRun: number | undefined;
  readonly forecast: Forecast | undefined;
}

/** One look at the machine. */
export interface WatchFrame {
  readonly time: Date;
  readonly release: string;
  readonly regime: string;
  readonly hooks: readonly HookStatus[];
  /** Why nothing is hooked, where one reason covers all. */
  readonly refusedAll: string | undefined;
  /** What the hooks cannot see, one line each. */
  readonly blind: readonly string[];
  readonly failures: readonly FailureRow[];
  readonly payers: readonly PayerRow[];
  /** Failures each hook saw that are not in a map's row (its slot was taken), events dropped, recursion misses. */
  readonly unattributed: number;
  readonly dropped: number;
  readonly recursionMisses: number;
  /** The ring buffer's events of this frame, at most {@link MAX_FRAME_EVENTS}. */
  readonly events: readonly { readonly time: Date; readonly mapId: number; readonly errno: number; readonly cpu: number; readonly pid: number }[];
  /**
   * Which hooks are attached after this frame and why (src/watch/arming.ts); absent with
   * `--no-trace`. Decided even where the kernel refuses every hook (then `ready` is 0).
   * `armed`/`ready`: hooks attached now / hooks that work here;
   * `changed`: what this frame attached and detached.
   */
  readonly arming?: ArmingDecision & { readonly armed: number; readonly ready: number; readonly changed: { readonly armed: readonly string[]; readonly disarmed: readonly string[] } };
  readonly notes: readonly string[];
}

/** A cgroup's failure counters: v1 `memory.failcnt`, v2 `memory.events.local` `max`. */
interface Counters {
  readonly failcnt: number | undefined;
  readonly maxEvents: number | undefined;
}

/** A paying cgroup's kernfs id and counters at the last frame and when its run began. */
interface CgroupCounters {
  readonly id: string | undefined;
  readonly last: Counters;
  readonly first: Counters;
}

/** Events a frame carries (the rest are counted). */
export const MAX_FRAME_EVENTS = 20;

/** Options of {@link WatchSession.open}. */
export interface WatchOptions {
  /** Attach the failure hooks (default true). */
  readonly trace?: boolean;
  /** The option that set `trace` false, which frames name: `--no-trace` (bpfmem watch's) by default. */
  readonly noTraceOption?: string;
  readonly allHooks?: boolean;
  /** Forecast window (ms); an hour by default. */
  readonly forecastWindowMs?: number;
  /** Keep every hook attached (`--always`); by default they are armed on headroom (src/watch/arming.ts). */
  readonly always?: boolean;
  /** Arm a paying cgroup's map types when the least headroom on its path is below this (bytes; default 64 MiB). */
  readonly armBelow?: number;
  /** Keep a cgroup armed this long after it was last near its limit (ms; default 60 s). */
  readonly holdMs?: number;
  /**
   * Look for every map's pinned paths at each frame (`serve`, whose JSON and summary have them);
   * `bpfmem watch` shows none and does not.
   */
  readonly pins?: boolean;
}

/** A memory cgroup's levels as explain reads them (src/explain/read-facts.ts); throws for a cgroup that cannot be read. */
export interface CgroupReader {
  /** The cgroup and its ancestors up to the root, deepest first. */
  chain(path: string): Promise<CgroupLevel[]>;
  /** The cgroup alone. */
  level(path: string): Promise<CgroupLevel>;
}

/**
 * What a session reads the machine through: {@link WatchSession.open} makes the machine's (a
 * Collector, the failure tracer, the cgroup files); {@link WatchSession.over} takes any (tests).
 */
export interface WatchParts {
  readonly collector: Pick<Collector, 'profile' | 'regimeReason' | 'collect' | 'close'>;
  /** The failure tracer; undefined when nothing is traced (then `notAttempted` says why). */
  readonly watch: Pick<FailureWatch, 'hooks' | 'refusedAll' | 'attached' | 'arm' | 'sample' | 'forgetGone' | 'ownIds' | 'close'> | undefined;
  /** Why tracing was not attempted or could not be set up; undefined when it was. */
  readonly notAttempted: string | undefined;
  /** The memory cgroups' files; undefined without a memory hierarchy. */
  readonly cgroups: CgroupReader | undefined;
}

const armingOf = (o: WatchOptions): Arming =>
  new Arming({ mode: o.always === true ? 'always' : 'headroom', armBelow: o.armBelow ?? DEFAULT_ARM_BELOW, holdMs: o.holdMs ?? DEFAULT_HOLD_MS });

export class WatchSession {
  #previous = new Map<string, number>();
  /** Per cgroup paying at the last frame: its failure counters then and when it was first seen paying. */
  #counters = new Map<string, CgroupCounters>();
  readonly #history: ForecastHistory;
  #bootNs: bigint | undefined;
  #lastSample: FailureSample | undefined;
  /** The highest map id any scan listed (see {@link frame}). */
  #scannedUpTo = 0;
  /** Keeps what did not change since the last frame: a rescan makes objects only for what did. */
  readonly #builder = new InventoryBuilder();

  private readonly collector: WatchParts['collector'];
  private readonly watch: WatchParts['watch'];
  private readonly cgroups: CgroupReader | undefined;
  private readonly notAttempted: string | undefined;

  private constructor(
    parts: WatchParts,
    windowMs: number,
    private readonly arming: Arming,
    private readonly pins: boolean,
  ) {
    this.collector = parts.collector;
    this.watch = parts.watch;
    this.cgroups = parts.cgroups;
    this.notAttempted = parts.notAttempted;
    this.#history = new ForecastHistory(windowMs);
  }

  /** Opens the collector and the tracer. Throws the collector's one-line error without root. */
  static async open(o: WatchOptions = {}): Promise<WatchSession> {
    const [collector, machine] = await Promise.all([Collector.open(), describeMachine()]);
    let watch: FailureWatch | undefined;
    let notAttempted: string | undefined = o.trace === false ? `not asked for (${o.noTraceOption ?? '--no-trace'})` : undefined;
    const arming = armingOf(o);
    if (o.trace !== false) {
      // Until the first frame has read the cgroups, only what needs no room to arm on is attached.
      const initial = arming.decide({ at: Date.now(), regime: collector.profile.regime, maps: [], cgroups: [] });
      try {
        watch = await FailureWatch.open({ profile: collector.profile, ...(o.allHooks === true && { allHooks: true }), armed: (spec) => hookArmed(spec, initial) });
      } catch (error) {
        // No BTF, or the counter maps refused: the cgroup side and the forecast still work.
        notAttempted = `the hooks could not be set up: ${error instanceof Error ? error.message : String(error)}`;
      }
    }
    const h = machine.memory.ok ? machine.memory.hierarchy : undefined;
    const cgroups = h && { chain: (path: string) => readCgroupChain(h, path), level: (path: string) => readCgroupLevel(h, path) };
    return new WatchSession({ collector, watch, notAttempted, cgroups }, o.forecastWindowMs ?? 3_600_000, arming, o.pins === true);
  }

  /**
   * A session over the given parts (a collector, a tracer, the cgroups' files), with the options
   * of {@link open} that are not about opening them (the forecast window, arming, pins).
   */
  static over(parts: WatchParts, o: Pick<WatchOptions, 'forecastWindowMs' | 'always' | 'armBelow' | 'holdMs' | 'pins'> = {}): WatchSession {
    return new WatchSession(parts, o.forecastWindowMs ?? 3_600_000, armingOf(o), o.pins === true);
  }

  get regimeReason(): string {
    return this.collector.regimeReason;
  }

  /** Reads everything once. */
  async frame(): Promise<{ inventory: Inventory; frame: WatchFrame }> {
    const input = await this.collector.collect({ pins: this.pins });
    for (const m of input.maps) if (m.id > this.#scannedUpTo) this.#scannedUpTo = m.id;
    // bpfmem's own programs and maps (the tracer's counters and ring, charged to bpfmem's own
    // cgroup) are no part of what it watches: left out, its cgroup neither pays nor arms.
    const own = this.watch?.ownIds;
    const ownMaps = new Set(own?.maps);
    const ownProgs = new Set(own?.progs);
    const inventory = this.#builder.build({
      ...input,
      maps: ownMaps.size === 0 ? input.maps : input.maps.filter((m) => !ownMaps.has(m.id)),
      progs: ownProgs.size === 0 ? input.progs : input.progs.filter((p) => !ownProgs.has(p.id)),
    });
    const notes = [...inventory.errors];
    const sample = this.watch?.sample();
    this.#lastSample = sample;
    const byId = new Map<number, MapEntry>();
    for (const m of inventory.maps) byId.set(m.id, m);
    // The maps are listed first and the counters read after holders and cgroups, hundreds of ms
    // later: a map may be made and fail in between. Map ids are allocated increasing
    // (kernel/bpf/syscall.c `bpf_map_alloc_id`: idr_alloc_cyclic, which wraps only past INT_MAX),
    // so a map at or below the highest id a scan listed was made before that scan, and one this
    // scan did not list is gone; above it, the map may be new: neither forgotten (its slot would
    // be recycled while it fails) nor shown (its type unknown yet) until a scan lists it.
    const made = (id: number): boolean => id > this.#scannedUpTo;
    this.watch?.forgetGone({ has: (id) => byId.has(id) || ownMaps.has(id) || made(id) });
    // A cgroup that cannot be read (gone since the scan) is a note of the frame, not its end.
    const noting = async <T>(read: () => Promise<T>): Promise<T | undefined> => {
      try {
        return await read();
      } catch (error) {
        notes.push(error instanceof Error ? error.message : String(error));
        return undefined;
      }
    };
    const h = this.cgroups;
    const chains = new Map<string, CgroupLevel[]>();
    const chainOf = async (path: string): Promise<CgroupLevel[] | undefined> => {
      if (!h) return undefined;
      const c = chains.get(path) ?? (await noting(() => h.chain(path)));
      if (c) chains.set(path, c);
      return c;
    };
    // A paying cgroup shows its own counters: its level alone, unless a failure read its chain.
    const levelOf = async (path: string): Promise<CgroupLevel | undefined> =>
      !h ? undefined : (chains.get(path)?.[0] ?? (await noting(() => h.level(path))));
    const profile = inventory.profile;
    const need = needOf({ maps: [], progs: [], extraBytes: profile.pageSize, errno: undefined }, profile);
    const failures: FailureRow[] = [];
    for (const m of sample?.maps ?? []) {
      const entry = byId.get(m.mapId);
      if (!entry && (made(m.mapId) || ownMaps.has(m.mapId))) continue;
      const type = entry?.type ?? 'gone';
      // One row per errno, whichever hook saw it: the larger count (FailureRow's `count` says why).
      const rows: [BucketName, number, 'type' | 'syscall'][] = [];
      for (const [e, n] of m.byErrno) rows.push([e, Math.max(n, m.syscallByErrno.get(e) ?? 0), (m.syscallByErrno.get(e) ?? 0) > n ? 'syscall' : 'type']);
      for (const [e, n] of m.syscallByErrno) if (!m.byErrno.has(e)) rows.push([e, n, 'syscall']);
      const charged = entry?.chargedTo.kind === 'cgroup' ? entry.chargedTo.path : undefined;
      const chain = charged === undefined ? undefined : await chainOf(charged);
      const level = chain?.[0];
      const verdict = chain
        ? judge({ profile, regimeReason: this.collector.regimeReason, task: undefined, chain, unprivilegedBpfDisabled: undefined, bpfJitLimit: undefined, bpfJitEnable: undefined }, need, undefined).verdict
        : undefined;
      for (const [errno, count, seenBy] of rows) {
        const key = `${m.mapId}/${errno}`;
        failures.push({
          map: { id: m.mapId, name: entry?.name ?? '', type, holders: entry?.holders ?? [] },
          errno,
          count,
          recent: count - (this.#previous.get(key) ?? 0),
          seenBy,
          cgroup: level && { path: level.path, usage: level.usage, limit: level.max, headroom: level.usage === undefined ? undefined : level.max - level.usage },
          verdict,
        });
        this.#previous.set(key, count);
      }
    }
    failures.sort((a, b) => b.recent - a.recent || b.count - a.count || a.map.id - b.map.id);

    // The paying cgroups: their counters, and the forecast from their BPF bytes over time.
    const at = Date.now();
    this.#history.add({
      at,
      cgroups: inventory.cgroups.map((c) => ({ path: c.path, bpf: c.bpfOwn, usage: c.usage, max: c.max })),
    });
    const forecasts = new Map(this.#history.forecast().map((f) => [f.path, f]));
    // The kernfs id of each paying cgroup: a path whose id changed is a cgroup made anew there.
    const kernfsId = new Map<string, string>();
    for (const m of inventory.maps) if (m.chargedTo.kind === 'cgroup') kernfsId.set(m.chargedTo.path, m.chargedTo.id);
    const payers: PayerRow[] = [];
    const counters = new Map<string, CgroupCounters>();
    const since = (now: number | undefined, then: number | undefined): number | undefined => (now === undefined || then === undefined ? undefined : now - then);
    for (const c of inventory.cgroups.filter((x) => x.bpfOwn > 0)) {
      const level = await levelOf(c.path);
      const now: Counters = { failcnt: level?.failcnt, maxEvents: level?.maxEvents };
      const id = kernfsId.get(c.path);
      // The counters only grow while their cgroup lives (mm/page_counter.c `failcnt`, mm/memcontrol.c
      // `memcg_memory_event`): one below what it was, or another kernfs id at the path, is a cgroup
      // made anew there (a restarted systemd service), whose counters start again: no change since
      // the last frame is known, and the run starts now, as for a cgroup seen for the first time.
      const before = this.#counters.get(c.path);
      const fell = (k: keyof Counters): boolean => {
        const n = now[k];
        return n !== undefined && before !== undefined && (n < (before.last[k] ?? n) || n < (before.first[k] ?? n));
      };
      const same = before !== undefined && (before.id === undefined || id === undefined || before.id === id) && !fell('failcnt') && !fell('maxEvents');
      const last = same ? before.last : undefined;
      const first: Counters = { failcnt: (same ? before.first.failcnt : undefined) ?? now.failcnt, maxEvents: (same ? before.first.maxEvents : undefined) ?? now.maxEvents };
      counters.set(c.path, { id: id ?? (same ? before.id : undefined), last: now, first });
      payers.push({
        path: c.path,
        bpf: c.bpfOwn,
        usage: c.usage,
        limit: c.max,
        headroom: Number.isFinite(c.headroom) ? c.headroom : undefined,
        failcnt: now.failcnt,
        failcntRecent: since(now.failcnt, last?.failcnt),
        maxEvents: now.maxEvents,
        maxEventsRecent: since(now.maxEvents, last?.maxEvents),
        failcntRun: since(now.failcnt, first.failcnt),
        maxEventsRun: since(now.maxEvents, first.maxEvents),
        forecast: forecasts.get(c.path),
      });
    }
    // Only the cgroups paying now: one that stops paying is forgotten, and starts again if it pays again.
    this.#counters = counters;
    payers.sort((a, b) => (a.forecast?.etaSeconds ?? Infinity) - (b.forecast?.etaSeconds ?? Infinity) || b.bpf - a.bpf);

    // Arming on headroom: attach the hooks of the map types charged to cgroups near a limit,
    // detach the rest, before the next update (src/watch/arming.ts). Decided wherever tracing
    // was asked for; applied where hooks work.
    let arming: WatchFrame['arming'] | undefined;
    if (this.notAttempted === undefined) {
      const payerOf = new Map(payers.map((p) => [p.path, p]));
      const decision = this.arming.decide({
        at,
        regime: profile.regime,
        maps: typesByPayer(inventory.maps),
        cgroups: inventory.cgroups
          .filter((c) => c.bpfOwn > 0)
          .map((c) => {
            const p = payerOf.get(c.path);
            return { path: c.path, headroom: c.headroom, failed: (p?.failcntRecent ?? 0) + (p?.maxEventsRecent ?? 0) };
          }),
      });
      const changed = this.watch?.attached === true ? this.watch.arm((spec) => hookArmed(spec, decision)) : { armed: [], disarmed: [] };
      const now = this.watch?.hooks ?? [];
      arming = { ...decision, armed: now.filter((h) => h.armed === true).length, ready: now.filter((h) => h.state === 'attached').length, changed };
    }

    const hooks = this.watch?.hooks ?? [];
    const refusedAll = this.watch ? this.watch.refusedAll : this.notAttempted;
    const bootNs = (this.#bootNs ??= BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint());
    const events = (sample?.events ?? []).slice(-MAX_FRAME_EVENTS).map((e) => ({
      // CLOCK_MONOTONIC (bpf_ktime_get_ns) to wall time, through Node's own monotonic clock.
      time: new Date(Number((e.ktimeNs + bootNs) / 1_000_000n)),
      mapId: e.mapId,
      errno: e.errno,
      cpu: e.cpu,
      pid: e.pid,
    }));
    return {
      inventory,
      frame: {
        time: sample?.time ?? new Date(),
        release: profile.release,
        regime: profile.regime,
        hooks,
        refusedAll,
        blind: this.watch?.attached ? blindSpots(hooks) : [],
        failures,
        payers,
        unattributed: sample?.hooks.reduce((n, h) => n + h.unslotted, 0) ?? 0,
        dropped: sample?.hooks.reduce((n, h) => n + h.dropped, 0) ?? 0,
        recursionMisses: sample?.hooks.reduce((n, h) => n + h.recursionMisses, 0) ?? 0,
        events,
        ...(arming && { arming }),
        notes,
      },
    };
  }

  /** The tracer's raw counts behind the last frame (both tables: the type's functions and bpf_map_update_value). */
  get lastSample(): FailureSample | undefined {
    return this.#lastSample;
  }

  /** Detaches the hooks, frees their maps and releases the map iterator. Idempotent. */
  close(): void {
    try {
      this.watch?.close();
    } finally {
      this.collector.close();
    }
  }
}

/**
 * The map types each cgroup pays for, one entry per (type, cgroup): what arming decides on,
 * without an object per map (a frame at 10,000 maps made 10,000 of them for a handful of pairs).
 */
function typesByPayer(maps: readonly MapEntry[]): { type: MapType; cgroup: string | undefined }[] {
  const byCgroup = new Map<string | undefined, Set<MapType>>();
  for (const m of maps) {
    if (!isMapType(m.type)) continue;
    const cgroup = m.chargedTo.kind === 'cgroup' ? m.chargedTo.path : undefined;
    let types = byCgroup.get(cgroup);
    if (!types) byCgroup.set(cgroup, (types = new Set()));
    types.add(m.type);
  }
  return [...byCgroup].flatMap(([cgroup, types]) => [...types].map((type) => ({ type, cgroup })));
}
