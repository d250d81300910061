import { ERRNO, type Errno } from '../../vocab/errno.js';

/**
 * The memory the failure counters share with the kernel, and how bpfmem reads it. Pure.
 *
 * - `slots`: an ARRAY (mmapable) of {@link SLOTS} values, one per failing map, found by
 *   `map_id & (SLOTS - 1)` and claimed by the first failure (compare-and-swap on 5.12+):
 *   `{ u32 map_id; u32 pad; u64 collisions; u64 type[16]; u64 sys[16] }`, where `type[b]` counts
 *   failures with errno bucket `b` seen by the map type's own functions (every path) and `sys[b]`
 *   those seen by `bpf_map_update_value()` (bpf(2) only, 6.12+). `collisions` counts failures of
 *   another map whose id hashes to a slot already taken: they are counted per hook, not per map.
 * - `hooks`: an ARRAY (mmapable) of `{ u64 fails; u64 unslotted; u64 dropped; u64 pad }` per hook.
 * - `events`: a ring buffer of {@link EVENT_SIZE}-byte records, one per failure while it has room.
 *
 * Only ARRAYs are written from the hooks: an update of a hash from inside an fexit program on
 * `htab_map_update_elem` would recurse into the hook (5.10 has no recursion guard at all).
 */

/** Slots of the table: a power of two. 512 × 272 bytes = 136 KiB, charged to bpfmem's memory cgroup. */
export const SLOTS = 512;

/**
 * The errnos counted apart, by bucket; every other errno counts in bucket {@link OTHER_BUCKET}.
 * ENOMEM: no memory (a memory cgroup at its limit, or an empty per-CPU cache); E2BIG: a full hash,
 * queue or array index; ENOSPC: a full trie; EEXIST/ENOENT: the update's flags; EBUSY, EDEADLK,
 * ETIMEDOUT: bucket locks (6.15+ rqspinlock); EAGAIN, EINVAL, EPERM, EFAULT, EOPNOTSUPP,
 * ENOTSUPP: refusals of the call itself.
 */
export const ERRNO_BUCKETS: readonly Errno[] = [
  'ENOMEM',
  'E2BIG',
  'ENOSPC',
  'EEXIST',
  'ENOENT',
  'EINVAL',
  'EBUSY',
  'EAGAIN',
  'EDEADLK',
  'ETIMEDOUT',
  'EPERM',
  'EFAULT',
  'EOPNOTSUPP',
  'ENOTSUPP',
  'EBADF',
];
export const OTHER_BUCKET = ERRNO_BUCKETS.length;
export const BUCKETS = 16;

/** Byte layout of a slot. */
export const SLOT = { mapId: 0, collisions: 8, type: 16, sys: 16 + BUCKETS * 8, size: 16 + 2 * BUCKETS * 8 } as const;
/** Byte layout of a hook's counters. */
export const HOOK = { fails: 0, unslotted: 8, dropped: 16, size: 32 } as const;
/** The largest number of hooks (the hooks array's entries). */
export const MAX_HOOKS = 32;

/** A failure event: `{ u64 ktime_ns; u32 map_id; u32 errno; u32 hook; u32 cpu; u64 pid_tgid }`. */
export const EVENT = { time: 0, mapId: 8, errno: 12, hook: 16, cpu: 20, pidTgid: 24 } as const;
export const EVENT_SIZE = 32;

/** The errno counted in a bucket: its name, or `other`. */
export type BucketName = Errno | 'other';

/** The name of bucket `b`. */
export function bucketName(b: number): BucketName {
  return ERRNO_BUCKETS[b] ?? 'other';
}

/** The errno number of each bucket but the last. */
export const BUCKET_ERRNOS: readonly number[] = ERRNO_BUCKETS.map((e) => ERRNO[e]);

/** One claimed slot, read. */
export interface SlotCounts {
  readonly mapId: number;
  readonly collisions: number;
  /** Failures per bucket seen by the map type's functions. */
  readonly type: readonly number[];
  /** Failures per bucket seen by `bpf_map_update_value()`. */
  readonly sys: readonly number[];
}

/** One hook's counters, read. */
export interface HookCounts {
  readonly fails: number;
  readonly unslotted: number;
  readonly dropped: number;
}

const load = (a: BigUint64Array, i: number): number => Number(Atomics.load(a, i));

/** The claimed slots of a table (a view of its words; 8-byte aligned). */
export function readSlots(words: BigUint64Array, slots = SLOTS): SlotCounts[] {
  const per = SLOT.size / 8;
  const out: SlotCounts[] = [];
  for (let s = 0; s < slots; s++) {
    const base = s * per;
    const mapId = Number(Atomics.load(words, base) & 0xffff_ffffn);
    if (mapId === 0) continue;
    const type: number[] = [];
    const sys: number[] = [];
    for (let b = 0; b < BUCKETS; b++) {
      type.push(load(words, base + SLOT.type / 8 + b));
      sys.push(load(words, base + SLOT.sys / 8 + b));
    }
    out.push({ mapId, collisions: load(words, base + SLOT.collisions / 8), type, sys });
  }
  return out;
}

/** The counters of hooks 0 … n-1. */
export function readHookCounts(words: BigUint64Array, n: number): HookCounts[] {
  const per = HOOK.size / 8;
  return Array.from({ length: n }, (_, i) => ({
    fails: load(words, i * per + HOOK.fails / 8),
    unslotted: load(words, i * per + HOOK.unslotted / 8),
    dropped: load(words, i * per + HOOK.dropped / 8),
  }));
}

/** A failure as the ring buffer carries it. */
export interface FailureEvent {
  /** `bpf_ktime_get_ns()`: CLOCK_MONOTONIC nanoseconds. */
  readonly ktimeNs: bigint;
  readonly mapId: number;
  /** The errno number (positive). */
  readonly errno: number;
  /** Index of the hook that saw it. */
  readonly hook: number;
  readonly cpu: number;
  /** The task running when it happened (in softirq: whichever task was interrupted). */
  readonly pid: number;
}

/** Decodes one event record. */
export function decodeEvent(view: DataView, at: number): FailureEvent {
  return {
    ktimeNs: view.getBigUint64(at + EVENT.time, true),
    mapId: view.getUint32(at + EVENT.mapId, true),
    errno: view.getUint32(at + EVENT.errno, true),
    hook: view.getUint32(at + EVENT.hook, true),
    cpu: view.getUint32(at + EVENT.cpu, true),
    pid: Number(view.getBigUint64(at + EVENT.pidTgid, true) >> 32n),
  };
}
