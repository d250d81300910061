import type { Charge } from './slab.js';

/**
 * Memory cgroups as the kernel charges them (mm/memcontrol.c, mm/page_counter.c): a tree of
 * hierarchical page counters, byte-precise object charging through obj_cgroups, per-cgroup
 * statistics and events, and reparenting when a cgroup is removed.
 *
 * Deliberate simplifications (docs/accounting-model.md lists them all):
 * - The per-CPU page stock (`memcg_stock_pcp`, up to MEMCG_CHARGE_BATCH pages per CPU) and the
 *   per-CPU object stock are not modelled: counters read as if every stock were drained, each
 *   objcg holding exactly `ceil(bytes / PAGE_SIZE)` pages. Real counters run ahead by at most
 *   a batch per CPU; conformance uses that as its tolerance.
 * - Every charge goes through an objcg, as kernel memory does since 5.14 ("mm: memcontrol: use
 *   obj_cgroup APIs to charge kmem pages"); on 5.11–5.13 kmem pages were charged to the memcg
 *   directly. Either way a removed cgroup's charges count in its parent's hierarchical usage.
 */

/**
 * GFP classes that decide what happens at the limit (mm/memcontrol.c `try_charge_memcg()`):
 * - `kernel` (GFP_KERNEL / GFP_USER): reclaim, retries, then the memcg OOM killer for
 *   requests of order ≤ PAGE_ALLOC_COSTLY_ORDER, ENOMEM for larger ones;
 * - `noretry` (`__GFP_NORETRY`): one reclaim and one drain-and-retry, then ENOMEM;
 * - `retry_mayfail` (`__GFP_RETRY_MAYFAIL`): all MAX_RECLAIM_RETRIES, then ENOMEM, no OOM;
 * - `nowait` (GFP_NOWAIT): no reclaim, no event, ENOMEM;
 * - `atomic` (GFP_ATOMIC, carries `__GFP_HIGH`): no reclaim, then force-charged past the
 *   limit with one MEMCG_MAX event ("memcg doesn't have a dedicated reserve for atomic
 *   allocations").
 */
export type Gfp = 'kernel' | 'noretry' | 'retry_mayfail' | 'nowait' | 'atomic';

/** `MAX_RECLAIM_RETRIES` (mm/internal.h). */
const MAX_RECLAIM_RETRIES = 16;

/** The `memory.events` counters (v2 names). */
export interface MemoryEvents {
  high: number;
  max: number;
  oom: number;
  oom_kill: number;
}

/** Bytes a cgroup holds by kind, as `memory.stat` splits them (local to the cgroup). */
export interface MemoryStat {
  /** `slab_unreclaimable`: slab objects with their objcg pointer, and large kmallocs. */
  slab: number;
  /** `percpu`: per-CPU memory on all possible CPUs plus its obj_exts. */
  percpu: number;
  /** `vmalloc`: pages of vmalloc areas. */
  vmalloc: number;
  /** Kernel pages that are none of the above (ringbuf and arena pages). */
  kernel_other: number;
  /** `anon`: the workload's own memory. */
  anon: number;
}

const STAT_KEYS = ['slab', 'percpu', 'vmalloc', 'kernel_other', 'anon'] as const;
const EVENT_KEYS = ['high', 'max', 'oom', 'oom_kill'] as const;

const emptyStat = (): MemoryStat => ({ slab: 0, percpu: 0, vmalloc: 0, kernel_other: 0, anon: 0 });
const emptyEvents = (): MemoryEvents => ({ high: 0, max: 0, oom: 0, oom_kill: 0 });

/**
 * An obj_cgroup: the handle kernel objects keep to find their memory cgroup. Byte charges
 * accumulate here and reach the page counters rounded up to pages. When its cgroup is removed
 * the objcg is pointed at the parent (`memcg_reparent_objcgs()`), so later charges and
 * uncharges through it go to the parent.
 */
export class ObjCgroup {
  /** Bytes of live kernel objects charged through this objcg. */
  bytes = 0;
  /** Kernel pages charged to `memcg` for them: always `ceil(bytes / PAGE_SIZE)`. */
  kmemPages = 0;
  /** Pages of the workload's own memory charged through it. */
  anonPages = 0;
  constructor(public memcg: MemCgroup) {}
}

/** A memory cgroup. `usage` is hierarchical in pages, as the kernel's page counter. */
export class MemCgroup {
  readonly children = new Map<string, MemCgroup>();
  /** The `memory` page counter: usage of this cgroup and all below it, in pages. */
  usage = 0;
  /** `memory.max` / `memory.limit_in_bytes`, in pages. */
  max = Number.POSITIVE_INFINITY;
  /** `memory.high` (v2), in pages. */
  high = Number.POSITIVE_INFINITY;
  /** `memory.peak` / `memory.max_usage_in_bytes`, in pages. */
  watermark = 0;
  /** `memory.failcnt` (v1): failed charge attempts at this level. */
  failcnt = 0;
  /** Kernel pages charged to this cgroup itself (v1 `memory.kmem.*`, v2 `kernel`, summed up the tree). */
  kmemLocal = 0;
  /** Events raised on this cgroup itself (`memory.events.local`). */
  readonly eventsLocal: MemoryEvents = emptyEvents();
  /** Bytes held by this cgroup itself, by kind. */
  readonly stat: MemoryStat = emptyStat();
  /** Bytes of BPF objects charged to this cgroup itself, by object (`map:NAME`, `prog:NAME`). */
  readonly bpf = new Map<string, number>();
  /** The live objcg new objects of this cgroup are charged through. */
  readonly objcg: ObjCgroup;
  /** Pages of this cgroup held in per-CPU stocks (included in `usage`). */
  stock = 0;
  /** Every objcg that points here: its own and those of removed children. */
  readonly objcgs: ObjCgroup[];

  constructor(
    readonly name: string,
    readonly parent: MemCgroup | undefined,
  ) {
    this.objcg = new ObjCgroup(this);
    this.objcgs = [this.objcg];
  }

  /** `/`, `/pods`, `/pods/agent`. */
  get path(): string {
    if (!this.parent) return '/';
    const up = this.parent.path;
    return up === '/' ? `/${this.name}` : `${up}/${this.name}`;
  }

  get isRoot(): boolean {
    return this.parent === undefined;
  }

  /** Pages charged here and not below: what this cgroup's own objects and tasks hold. */
  get localUsage(): number {
    let below = 0;
    for (const child of this.children.values()) below += child.usage;
    return this.usage - below;
  }

  /** Headroom on the way to the root, `mem_cgroup_margin()`, in pages. */
  margin(): number {
    let m = this.isRoot ? Number.POSITIVE_INFINITY : this.max - this.usage;
    for (let c = this.parent; c && !c.isRoot; c = c.parent) m = Math.min(m, c.max - c.usage);
    return m;
  }
}

/** Why a charge did not fit: the first cgroup on the way up whose `max` it would exceed. */
export interface ChargeRefusal {
  readonly refused: true;
  readonly memcg: MemCgroup;
  /** Pages that were asked for. */
  readonly pages: number;
  /** Whether the kernel would invoke the memcg OOM killer before giving up. */
  readonly oom: boolean;
}

/** What a successful charge did, kept to undo it exactly when the memory is freed. */
export interface Receipt {
  readonly refused?: false;
  /** The objcg charged through, or undefined when nobody was charged (root, unaccounted). */
  readonly objcg: ObjCgroup | undefined;
  readonly charge: Charge;
  /** The BPF object (`map:ct`) or task (`task:web`) the bytes belong to. */
  readonly owner: string;
}

/**
 * The bytes a charge stands for; when nobody is charged (`accounted` false), without the
 * metadata only accounted memory carries.
 */
export function chargeBytes(charge: Charge, pageSize: number, accounted = true): number {
  const b = charge.unit === 'pages' ? charge.amount * pageSize : charge.amount;
  return accounted ? b : b - (charge.overhead ?? 0);
}

/** One slot of a CPU's charge stock: pages pre-charged to a memcg and not used yet. */
interface StockSlot {
  memcg: MemCgroup | undefined;
  pages: number;
}

/** A tree of memory cgroups with the kernel's charging rules. */
export class MemcgTree {
  readonly root = new MemCgroup('', undefined);
  /** `memcg_stock_pcp` of each CPU: up to `stockSlots` memcgs with their stocked pages. */
  private readonly stocks: StockSlot[][];
  /** `stock->drain_idx`: the slot the next refill evicts when all are taken. */
  private readonly drainIdx: number[];

  constructor(
    readonly pageSize: number,
    /** MEMCG_CHARGE_BATCH in pages: a smaller charge first asks for a whole batch. */
    readonly batchPages: number,
    /** Possible CPUs: each has its own stock. */
    readonly cpus = 1,
    /** Memcgs one CPU's stock holds (NR_MEMCG_STOCK: 7 on 6.16+, 1 before). */
    readonly stockSlots = 1,
  ) {
    this.stocks = Array.from({ length: cpus }, () => Array.from({ length: stockSlots }, () => ({ memcg: undefined, pages: 0 })));
    this.drainIdx = new Array<number>(cpus).fill(0);
  }

  /** The cgroup at `path`. */
  find(path: string): MemCgroup | undefined {
    if (path === '/') return this.root;
    let c: MemCgroup | undefined = this.root;
    for (const part of path.split('/').slice(1)) {
      c = c.children.get(part);
      if (!c) return undefined;
    }
    return c;
  }

  /** Creates `path` under its existing parent; undefined if the parent is missing or it exists. */
  create(path: string): MemCgroup | undefined {
    const cut = path.lastIndexOf('/');
    const parent = this.find(cut === 0 ? '/' : path.slice(0, cut));
    const name = path.slice(cut + 1);
    if (!parent || name === '' || parent.children.has(name)) return undefined;
    const c = new MemCgroup(name, parent);
    parent.children.set(name, c);
    return c;
  }

  /** Every cgroup, parents before children, siblings by name. */
  *walk(): Generator<MemCgroup> {
    const stack: MemCgroup[] = [this.root];
    for (let c = stack.pop(); c; c = stack.pop()) {
      yield c;
      stack.push(...[...c.children.values()].sort((a, b) => (a.name < b.name ? 1 : -1)));
    }
  }

  /**
   * `try_charge_memcg()` with `page_counter_try_charge()`: charges `pages` to `memcg` and every
   * ancestor, or to none. The root memcg is never charged (`try_charge()`). When a level would
   * go over its `max`, counts `failcnt` and MEMCG_MAX events there the way the kernel's retry
   * loop does for memory that reclaim cannot free, and force-charges `atomic` requests.
   */
  tryCharge(memcg: MemCgroup, pages: number, gfp: Gfp, kmem: boolean, cpu = 0): ChargeRefusal | undefined {
    if (pages <= 0 || memcg.isRoot) return undefined;
    if (this.consumeStock(memcg, pages, cpu)) {
      if (kmem) memcg.kmemLocal += pages;
      return undefined;
    }
    let batch = Math.max(this.batchPages, pages);
    let over = this.overLimit(memcg, batch);
    if (over && batch > pages) {
      // The batch does not fit: ask for exactly what is needed (`batch = nr_pages; goto retry`).
      over.failcnt++;
      batch = pages;
      over = this.overLimit(memcg, batch);
    }
    if (!over) {
      this.apply(memcg, batch, kmem ? pages : 0);
      if (batch > pages) this.refillStock(memcg, batch - pages, cpu);
      return undefined;
    }
    over.failcnt++;
    if (gfp === 'nowait' || gfp === 'atomic') {
      // !gfpflags_allow_blocking(): no reclaim, no stock drain, no event: nomem ...
      if (gfp === 'nowait') return { refused: true, memcg: over, pages, oom: false };
      // ... but __GFP_HIGH force-charges with one MEMCG_MAX event.
      over.eventsLocal.max++;
      this.apply(memcg, pages, kmem ? pages : 0);
      return undefined;
    }
    // Blocking: a MEMCG_MAX event, reclaim (BPF memory is not reclaimable), then one
    // drain_all_stock() of the cgroups under the limit and a retry.
    over.eventsLocal.max++;
    this.drainStocks(over);
    const again = this.overLimit(memcg, pages);
    if (!again) {
      this.apply(memcg, pages, kmem ? pages : 0);
      return undefined;
    }
    again.failcnt++;
    again.eventsLocal.max++;
    if (gfp === 'noretry') return { refused: true, memcg: again, pages, oom: false };
    // MAX_RECLAIM_RETRIES more rounds, each failing and raising an event: 18 events in all
    // (measured: `memory.events max 18` for a failed vmalloc, kernel-lab.md).
    again.failcnt += MAX_RECLAIM_RETRIES;
    again.eventsLocal.max += MAX_RECLAIM_RETRIES;
    // mem_cgroup_oom() runs only for orders ≤ PAGE_ALLOC_COSTLY_ORDER (8 pages) and not for
    // __GFP_RETRY_MAYFAIL / __GFP_NORETRY.
    const oom = gfp === 'kernel' && pages <= 8;
    if (oom) again.eventsLocal.oom++;
    return { refused: true, memcg: again, pages, oom };
  }

  /** The first cgroup on the way up (below the root) that `pages` more would put over `max`. */
  private overLimit(memcg: MemCgroup, pages: number): MemCgroup | undefined {
    for (let c: MemCgroup | undefined = memcg; c && !c.isRoot; c = c.parent) {
      if (c.usage + pages > c.max) return c;
    }
    return undefined;
  }

  /** `consume_stock()`: takes `pages` from this CPU's stock of `memcg` if it has them. */
  private consumeStock(memcg: MemCgroup, pages: number, cpu: number): boolean {
    if (pages > this.batchPages) return false;
    for (const slot of this.stocks[cpu] ?? []) {
      if (slot.memcg === memcg && slot.pages >= pages) {
        slot.pages -= pages;
        memcg.stock -= pages;
        return true;
      }
    }
    return false;
  }

  /**
   * `refill_stock()`: puts pages charged but not used (a batch's rest, or kernel pages freed)
   * into this CPU's stock of `memcg`; more than a batch is uncharged at once, a full slot is
   * drained, and a new memcg takes a free slot or evicts one in turn.
   */
  private refillStock(memcg: MemCgroup, pages: number, cpu: number): void {
    const slots = this.stocks[cpu];
    if (!slots || pages > this.batchPages) {
      this.unchargeCounters(memcg, pages);
      return;
    }
    let slot = slots.find((s) => s.memcg === memcg);
    if (!slot) {
      slot = slots.find((s) => s.memcg === undefined);
      if (!slot) {
        const i = this.drainIdx[cpu] ?? 0;
        this.drainIdx[cpu] = (i + 1) % slots.length;
        slot = slots[i];
        if (!slot) return;
        this.drainSlot(slot);
      }
      slot.memcg = memcg;
      slot.pages = 0;
    }
    slot.pages += pages;
    memcg.stock += pages;
    if (slot.pages > this.batchPages) this.drainSlot(slot);
  }

  /** `drain_stock()`: uncharges a slot's pages and frees the slot. */
  private drainSlot(slot: StockSlot): void {
    if (slot.memcg && slot.pages) {
      slot.memcg.stock -= slot.pages;
      this.unchargeCounters(slot.memcg, slot.pages);
    }
    slot.memcg = undefined;
    slot.pages = 0;
  }

  /**
   * `drain_all_stock()`: returns every CPU's stocked pages of `under` and its descendants (all
   * cgroups when omitted) to the page counters. The kernel does it when a blocking charge hits a
   * limit and when a cgroup goes offline.
   */
  drainStocks(under?: MemCgroup): void {
    for (const slots of this.stocks) {
      for (const slot of slots) {
        if (slot.memcg && (!under || isDescendant(slot.memcg, under))) this.drainSlot(slot);
      }
    }
  }

  /**
   * What an allocation that charges page by page and fails part-way leaves in the watermarks
   * (vmalloc, ringbuf pages): every level on the path peaked at `usage + margin`.
   */
  /**
   * One more blocking order-0 charge refused at `memcg` after a refusal there: the events and
   * failcnt of try_charge_memcg()'s full retry loop again (a MEMCG_MAX event per round: the first,
   * the one after drain_all_stock(), MAX_RECLAIM_RETRIES more; failcnt also counts the batch).
   */
  noteRefusedAgain(memcg: MemCgroup): void {
    memcg.failcnt += 1 + 2 + MAX_RECLAIM_RETRIES;
    memcg.eventsLocal.max += 2 + MAX_RECLAIM_RETRIES;
  }

  notePartialFill(memcg: MemCgroup): void {
    const margin = memcg.margin();
    if (!Number.isFinite(margin) || margin <= 0) return;
    for (let c: MemCgroup | undefined = memcg; c; c = c.parent) {
      c.watermark = Math.max(c.watermark, c.usage + margin);
    }
  }

  /**
   * Charges one allocation through `objcg`: objects by the byte, pages whole. With no objcg
   * (an object of the root cgroup, or unaccounted memory) nobody is charged.
   */
  charge(objcg: ObjCgroup | undefined, charge: Charge, gfp: Gfp, owner: string, cpu = 0): Receipt | ChargeRefusal {
    if (!objcg) return { objcg: undefined, charge, owner };
    const memcg = objcg.memcg;
    // An objcg reparented all the way to the root (its cgroup and those between removed):
    // obj_cgroup_charge_pages() calls try_charge_memcg(), which, unlike try_charge(), does not
    // skip the root (mm/memcontrol.c, 6.1 and later read; Muchun Song's "mm: memcontrol: fix
    // root_mem_cgroup charging" of 2021 made it so): the root's counter
    // takes the pages, with no limit to refuse them, and release() gives them back. Skipping
    // them here, as an object made in the root is, had release() take from the root what it
    // never had: a map's elements inserted after its cgroup under the root was removed drove
    // the root's counters below zero when freed.
    const take = (pages: number, kmem: boolean): ChargeRefusal | undefined => {
      if (!memcg.isRoot) return this.tryCharge(memcg, pages, gfp, kmem, cpu);
      if (pages > 0) this.apply(memcg, pages, kmem ? pages : 0);
      return undefined;
    };
    if (charge.stat === 'anon') {
      const refusal = take(charge.amount, false);
      if (refusal) return refusal;
      objcg.anonPages += charge.amount;
    } else {
      const bytes = objcg.bytes + chargeBytes(charge, this.pageSize);
      const need = Math.ceil(bytes / this.pageSize) - objcg.kmemPages;
      if (need > 0) {
        const refusal = take(need, true);
        if (refusal) return refusal;
        objcg.kmemPages += need;
      }
      objcg.bytes = bytes;
    }
    this.account(memcg, charge, owner, 1);
    return { objcg, charge, owner };
  }

  /** Undoes a charge: the memory was freed (`obj_cgroup_uncharge()`, `page_counter_uncharge()`). */
  release(receipt: Receipt, cpu = 0): void {
    const { objcg, charge } = receipt;
    if (!objcg) return;
    const memcg = objcg.memcg;
    if (charge.stat === 'anon') {
      // Folio uncharges go straight to the page counters.
      objcg.anonPages -= charge.amount;
      this.unchargeCounters(memcg, charge.amount);
    } else {
      objcg.bytes -= chargeBytes(charge, this.pageSize);
      const keep = Math.ceil(objcg.bytes / this.pageSize);
      const drop = objcg.kmemPages - keep;
      if (drop > 0) {
        // obj_cgroup_uncharge_pages(): the kmem count drops, the pages go to this CPU's stock
        // (straight off the counter for an objcg reparented all the way to the root).
        memcg.kmemLocal -= drop;
        if (memcg.isRoot) this.unchargeCounters(memcg, drop);
        else this.refillStock(memcg, drop, cpu);
      }
      objcg.kmemPages = keep;
    }
    this.account(memcg, charge, receipt.owner, -1);
  }

  /** Hierarchical `memory.events`: this cgroup's and every descendant's. */
  events(memcg: MemCgroup): MemoryEvents {
    const sum = emptyEvents();
    for (const c of this.subtree(memcg)) for (const k of EVENT_KEYS) sum[k] += c.eventsLocal[k];
    return sum;
  }

  /** Hierarchical `memory.stat` (as v2 reports it): this cgroup's and every descendant's bytes. */
  statTotal(memcg: MemCgroup): MemoryStat {
    const sum = emptyStat();
    for (const c of this.subtree(memcg)) for (const k of STAT_KEYS) sum[k] += c.stat[k];
    return sum;
  }

  /** Charges `pages` of other memory to a cgroup as they stand now: no limit check, no stock. */
  seed(memcg: MemCgroup, pages: number): void {
    if (pages <= 0 || memcg.isRoot) return;
    this.apply(memcg, pages, 0);
    memcg.stat.anon += pages * this.pageSize;
  }

  /** Pages held in per-CPU stocks by this cgroup and those below it (part of `usage`). */
  stockTotal(memcg: MemCgroup): number {
    let pages = 0;
    for (const c of this.subtree(memcg)) pages += c.stock;
    return pages;
  }

  /** Hierarchical kernel pages: v1 `memory.kmem.usage_in_bytes`, v2 `kernel`, in pages. */
  kmemTotal(memcg: MemCgroup): number {
    let pages = 0;
    for (const c of this.subtree(memcg)) pages += c.kmemLocal;
    return pages;
  }

  /**
   * rmdir of a memory cgroup; the caller has checked that no task and no child is in it.
   * Its objcgs are pointed at the parent (`memcg_reparent_objcgs()`), and what it held itself
   * now counts as its parent's: the parent's hierarchical usage does not change.
   */
  remove(memcg: MemCgroup): void {
    const parent = memcg.parent;
    if (!parent || memcg.children.size > 0) return;
    // mem_cgroup_css_offline() drains the stocks that still hold its pages.
    this.drainStocks(memcg);
    for (const objcg of memcg.objcgs) {
      objcg.memcg = parent;
      parent.objcgs.push(objcg);
    }
    parent.kmemLocal += memcg.kmemLocal;
    for (const k of STAT_KEYS) parent.stat[k] += memcg.stat[k];
    for (const k of EVENT_KEYS) parent.eventsLocal[k] += memcg.eventsLocal[k];
    for (const [owner, b] of memcg.bpf) parent.bpf.set(owner, (parent.bpf.get(owner) ?? 0) + b);
    parent.children.delete(memcg.name);
  }

  private *subtree(memcg: MemCgroup): Generator<MemCgroup> {
    const stack = [memcg];
    for (let c = stack.pop(); c; c = stack.pop()) {
      yield c;
      stack.push(...c.children.values());
    }
  }

  /** Charges `pages` to every level (usage and watermarks); `kmemPages` of them are kernel memory. */
  private apply(memcg: MemCgroup, pages: number, kmemPages: number): void {
    memcg.kmemLocal += kmemPages;
    for (let c: MemCgroup | undefined = memcg; c; c = c.parent) {
      c.usage += pages;
      if (c.usage > c.watermark) c.watermark = c.usage;
      if (c.usage > c.high) c.eventsLocal.high++;
    }
  }

  /** `page_counter_uncharge()` on every level. */
  private unchargeCounters(memcg: MemCgroup, pages: number): void {
    if (pages <= 0) return;
    for (let c: MemCgroup | undefined = memcg; c; c = c.parent) c.usage -= pages;
  }

  private account(memcg: MemCgroup, charge: Charge, owner: string, sign: 1 | -1): void {
    const b = sign * chargeBytes(charge, this.pageSize);
    const stat = charge.stat === 'kernel' ? 'kernel_other' : charge.stat;
    memcg.stat[stat] += b;
    // A task's own memory (anon pages, its page tables) is not a BPF object's.
    if (charge.stat === 'anon' || owner.startsWith('task:')) return;
    const next = (memcg.bpf.get(owner) ?? 0) + b;
    if (next === 0) memcg.bpf.delete(owner);
    else memcg.bpf.set(owner, next);
  }
}

/** Whether `c` is `ancestor` or below it. */
function isDescendant(c: MemCgroup, ancestor: MemCgroup): boolean {
  for (let x: MemCgroup | undefined = c; x; x = x.parent) if (x === ancestor) return true;
  return false;
}
