import type { MemAllocUnit } from './maps/alloc.js';
import { chargeBytes, type ChargeRefusal, type MemcgTree, type ObjCgroup, type Receipt } from './memcg.js';
import type { KernelProfile } from '../vocab/profile.js';
import { kmallocCharge, percpuCharge, type Charge } from './slab.js';

/** The shape of a bpf_mem_alloc cache: unit size, watermarks (`prefill_mem_cache()`), the charges of one object. */
export function cacheShape(
  unit: MemAllocUnit,
  profile: KernelProfile,
): { unitSize: number; lowWatermark: number; highWatermark: number; batch: number; charges: readonly Charge[] } {
  const llist = profile.structs.llist_node;
  const unitSize = unit.percpu ? unit.size : unit.size + llist;
  const lowWatermark = unitSize <= 256 ? 32 : Math.max(Math.trunc((32 * 256) / unitSize), 1);
  const highWatermark = unitSize <= 256 ? 96 : Math.max(Math.trunc((96 * 256) / unitSize), 3);
  const batch = Math.max(Math.trunc((highWatermark - lowWatermark) / 4) * 3, 1);
  const charges = unit.percpu
    ? [kmallocCharge(llist + profile.structs.pointer, profile), percpuCharge(unitSize, profile)]
    : [kmallocCharge(unitSize, profile)];
  return { unitSize, lowWatermark, highWatermark, batch, charges };
}

/**
 * How far the kernel's per-CPU bpf_mem_alloc cache may be from the model's: refills of per-CPU
 * objects are GFP_NOWAIT per-CPU allocations, which fail while the per-CPU allocator has no
 * populated space left (mm/percpu.c serves atomic requests from populated pages only and
 * populates more later from `pcpu_balance_workfn()`), so the kernel's cache can hold up to a
 * high watermark of objects fewer than the model's, on one CPU. Zero for other allocators,
 * whose refills the model times as the kernel does.
 */
export function percpuCacheSlack(units: readonly MemAllocUnit[], profile: KernelProfile): number {
  let b = 0;
  for (const u of units) {
    if (!u.percpu) continue;
    const w = cacheShape(u, profile);
    let obj = 0;
    for (const c of w.charges) obj += chargeBytes(c, profile.pageSize);
    // The element object of the same insert comes from its own (kmalloc) cache, filled in step.
    b += w.highWatermark * obj;
  }
  return b;
}

/**
 * One `bpf_mem_alloc` (kernel/bpf/memalloc.c) simulated object by object: per-CPU free lists
 * of `unit_size` objects, prefilled at `bpf_mem_alloc_init()`, refilled from irq_work when
 * they run below `low_watermark` and trimmed above `high_watermark`. Every object is charged
 * when it is allocated into a free list, not when a map element takes it, so memcg usage
 * leads the live element count by the cached objects (up to `high_watermark` per CPU).
 *
 * Timing: the refill and trim irq_work runs right after the operation that raised it (on x86
 * the self-IPI fires as soon as the bucket lock drops interrupts back on), and objects trimmed
 * by `free_bulk()` are freed at once (the RCU grace period is not modelled).
 */
export class MemAllocSim {
  /** `c->unit_size`: for non-per-CPU objects the owner's size plus the llist_node. */
  readonly unitSize: number;
  readonly lowWatermark: number;
  readonly highWatermark: number;
  readonly batch: number;
  /** Objects in each CPU's free list (`c->free_cnt`). */
  readonly free: number[];
  /** Objects handed out to the owner (live map elements). */
  live = 0;
  /** The charges one object costs: one slab object, or a 16-byte holder plus per-CPU memory. */
  private readonly charges: readonly Charge[];
  /** Objects whose charge was refused by memcg during refills. */
  refusals = 0;
  /** The last refusal, to explain an ENOMEM. */
  lastRefusal: ChargeRefusal | undefined;

  constructor(
    readonly unit: MemAllocUnit,
    private readonly profile: KernelProfile,
    private readonly tree: MemcgTree,
    /** The objcg `bpf_mem_alloc_init()` captured from the creator; undefined charges nobody. */
    private readonly objcg: ObjCgroup | undefined,
    private readonly owner: string,
  ) {
    const w = cacheShape(unit, profile);
    this.unitSize = w.unitSize;
    this.lowWatermark = w.lowWatermark;
    this.highWatermark = w.highWatermark;
    this.batch = w.batch;
    this.charges = w.charges;
    this.free = new Array<number>(profile.possibleCpus).fill(0);
  }

  /**
   * `prefill_mem_cache()` for every possible CPU: 4 objects of ≤ 256 bytes, else 1. The loop
   * runs on the creating task's CPU (`bpf_mem_alloc_init()` in process context), so every
   * object is charged there, whichever CPU's list it fills.
   */
  prefill(onCpu = 0): void {
    const n = this.unitSize <= 256 ? 4 : 1;
    for (let cpu = 0; cpu < this.free.length; cpu++) this.allocBulk(cpu, n, onCpu);
  }

  /** Bytes one object takes: what memcg is charged for it, or without accounting metadata. */
  objectBytes(accounted: boolean): number {
    let b = 0;
    for (const c of this.charges) b += chargeBytes(c, this.profile.pageSize, accounted);
    return b;
  }

  /** Objects allocated and charged: live ones and those cached in free lists. */
  get allocated(): number {
    let n = this.live;
    for (const f of this.free) n += f;
    return n;
  }

  /**
   * `unit_alloc()` on `cpu`: takes an object from that CPU's free list, then refills it if it
   * ran low. False when the list was empty: the caller fails with ENOMEM.
   */
  take(cpu: number): boolean {
    const c = this.cpu(cpu);
    const cnt = this.free[c] ?? 0;
    if (cnt === 0) return false;
    this.free[c] = cnt - 1;
    this.live++;
    if (cnt - 1 < this.lowWatermark) this.allocBulk(c, this.batch);
    return true;
  }

  /** `unit_free()` on `cpu`, then `free_bulk()` down to the middle of the watermarks if over the high one. */
  give(cpu: number): void {
    const c = this.cpu(cpu);
    this.live--;
    let cnt = (this.free[c] ?? 0) + 1;
    if (cnt > this.highWatermark) {
      const target = Math.trunc((this.highWatermark + this.lowWatermark) / 2);
      // free_bulk() moves objects out while the count left is above the middle mark.
      while (cnt > target) {
        cnt--;
        this.releaseObject(c);
      }
    }
    this.free[c] = cnt;
  }

  /** `bpf_mem_alloc_destroy()`: every object, live or cached, is freed. */
  destroy(): void {
    const n = this.allocated;
    for (let i = 0; i < n; i++) this.releaseObject(0);
    this.live = 0;
    this.free.fill(0);
  }

  /**
   * `alloc_bulk()`: up to `n` objects into `cpu`'s free list, charged on `chargeCpu` (where the
   * code runs: the list's CPU for irq_work refills); stops at the first refused charge (GFP_NOWAIT).
   */
  private allocBulk(cpu: number, n: number, chargeCpu = cpu): void {
    for (let i = 0; i < n; i++) {
      const receipts: Receipt[] = [];
      for (const charge of this.charges) {
        const r = this.tree.charge(this.objcg, charge, 'nowait', this.owner, chargeCpu);
        if (r.refused) {
          for (const done of receipts) this.tree.release(done, chargeCpu);
          this.refusals++;
          this.lastRefusal = r;
          return;
        }
        receipts.push(r);
      }
      this.free[cpu] = (this.free[cpu] ?? 0) + 1;
    }
  }

  private releaseObject(cpu: number): void {
    for (const charge of this.charges) this.tree.release({ objcg: this.objcg, charge, owner: this.owner }, cpu);
  }

  private cpu(cpu: number): number {
    return Math.min(Math.max(0, Math.trunc(cpu)), this.free.length - 1);
  }
}
