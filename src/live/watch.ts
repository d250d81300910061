import { vmlinuxBtf } from '../sys/bpf/index.js';
import { ensureMemlock } from './memlock.js';
import { BUCKETS, bucketName, UpdateTracer, type BucketName, type FailureEvent, type HookSpec, type HookStatus } from '../sys/trace/index.js';
import { atLeast } from '../vocab/kernel-version.js';
import type { KernelProfile } from '../vocab/profile.js';

/**
 * The failure tracer (src/sys/trace) in the model's words: counts per map id and errno name,
 * kept across the recycling of slots of maps that are gone, so that totals never go down.
 */

/** Failures of one map by errno, since the watch began. */
export interface MapFailures {
  readonly mapId: number;
  /** Seen by the map type's own functions (every path), by errno name. */
  readonly byErrno: ReadonlyMap<BucketName, number>;
  /** Seen by `bpf_map_update_value()` (bpf(2) only; 6.12+), by errno name. */
  readonly syscallByErrno: ReadonlyMap<BucketName, number>;
}

/** One reading of the counters. */
export interface FailureSample {
  readonly time: Date;
  readonly maps: readonly MapFailures[];
  /** Failures per hook; `unslotted`: not counted per map (the slot of its id was taken). */
  readonly hooks: readonly { fn: string; fails: number; unslotted: number; dropped: number; recursionMisses: number }[];
  /** Individual failures read from the ring buffer since the last sample. */
  readonly events: readonly FailureEvent[];
}

/** Options of {@link FailureWatch.open}. */
export interface FailureWatchOptions {
  readonly profile: KernelProfile;
  /** Also the hooks off by default (array updates). */
  readonly allHooks?: boolean;
  /** Keep a ring buffer of individual failures (default true). */
  readonly events?: boolean;
  /** Which hooks stay attached after open (default all); see {@link FailureWatch.arm}. */
  readonly armed?: (spec: HookSpec) => boolean;
}

const add = (m: Map<BucketName, number>, k: BucketName, n: number): void => {
  if (n > 0) m.set(k, (m.get(k) ?? 0) + n);
};

export class FailureWatch {
  /** Totals of maps whose slots were recycled (they are gone), kept so that counters never fall. */
  readonly #retired = new Map<number, { type: Map<BucketName, number>; sys: Map<BucketName, number> }>();

  /** The ids of the tracer's own maps, read once (a map's id never changes). */
  #mapIds: readonly number[] | undefined;

  private constructor(readonly tracer: UpdateTracer) {}

  /** Loads and attaches what this kernel allows; see {@link hooks} and {@link refusedAll}. */
  static async open(o: FailureWatchOptions): Promise<FailureWatch> {
    const btf = await vmlinuxBtf();
    // Before 5.11 the counter maps and the ring buffer (about 400 KiB) are precharged to
    // RLIMIT_MEMLOCK, whose default (64 KiB or 8 MiB) may not hold them.
    await ensureMemlock();
    // BPF_CMPXCHG is 5.12+ (kernel/bpf/verifier.c check_atomic); the tracer falls back anyway.
    const cmpxchg = atLeast(o.profile.version, 5, 12);
    const tracer = UpdateTracer.open({ btf, cmpxchg, pageSize: o.profile.pageSize, all: o.allHooks === true, ...(o.events === false && { eventBytes: 0 }), ...(o.armed && { armed: o.armed }) });
    return new FailureWatch(tracer);
  }

  get hooks(): readonly HookStatus[] {
    return this.tracer.hooks;
  }

  /** Why nothing is attached, when one reason covers every hook. */
  get refusedAll(): string | undefined {
    return this.tracer.refusedAll;
  }

  /** Whether some hook works here (it may be disarmed now). */
  get attached(): boolean {
    return this.tracer.attached;
  }

  /** Whether some hook's program is attached now. */
  get armed(): boolean {
    return this.tracer.armed;
  }

  /**
   * bpfmem's own objects, which listings leave out: the programs attached now and the tracer's
   * maps (its slots, hook counters and event ring, charged to bpfmem's own memory cgroup).
   */
  get ownIds(): { readonly progs: readonly number[]; readonly maps: readonly number[] } {
    return { progs: this.tracer.progIds, maps: (this.#mapIds ??= this.tracer.mapIds) };
  }

  /** Attaches the hooks `want` says yes to, detaches the others (src/sys/trace UpdateTracer.arm). */
  arm(want: (spec: HookSpec) => boolean): { armed: string[]; disarmed: string[] } {
    return this.tracer.arm(want);
  }

  /** The counters now (totals since open) and the events since the last sample. */
  sample(): FailureSample {
    const byId = new Map<number, { type: Map<BucketName, number>; sys: Map<BucketName, number> }>();
    for (const [id, r] of this.#retired) byId.set(id, { type: new Map(r.type), sys: new Map(r.sys) });
    for (const s of this.tracer.slots()) {
      const e = byId.get(s.mapId) ?? { type: new Map<BucketName, number>(), sys: new Map<BucketName, number>() };
      for (let b = 0; b < BUCKETS; b++) {
        add(e.type, bucketName(b), s.type[b] ?? 0);
        add(e.sys, bucketName(b), s.sys[b] ?? 0);
      }
      byId.set(s.mapId, e);
    }
    const maps = [...byId]
      .filter(([, e]) => e.type.size > 0 || e.sys.size > 0)
      .sort(([a], [b]) => a - b)
      .map(([mapId, e]) => ({ mapId, byErrno: e.type, syscallByErrno: e.sys }));
    return { time: new Date(), maps, hooks: this.tracer.hookCounts(), events: this.tracer.events() };
  }

  /**
   * Frees the slots of maps no longer on the machine, keeping what they counted in the totals.
   * `live` must say yes to every map that may still exist: those the last scan listed, and those
   * made since (ids above the highest a scan saw; src/watch/session.ts): a live map failing now
   * loses what its hooks count between the read of its slot here and the slot's recycling.
   */
  forgetGone(live: { has(mapId: number): boolean }): void {
    const gone = new Set<number>();
    for (const s of this.tracer.slots()) {
      if (live.has(s.mapId)) continue;
      gone.add(s.mapId);
      const r = this.#retired.get(s.mapId) ?? { type: new Map<BucketName, number>(), sys: new Map<BucketName, number>() };
      for (let b = 0; b < BUCKETS; b++) {
        add(r.type, bucketName(b), s.type[b] ?? 0);
        add(r.sys, bucketName(b), s.sys[b] ?? 0);
      }
      this.#retired.set(s.mapId, r);
    }
    if (gone.size > 0) this.tracer.recycle(gone);
  }

  /** Detaches every hook and frees the maps. Idempotent. */
  close(): void {
    this.tracer.close();
  }
}
