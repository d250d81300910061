import type {
  CgroupLimits,
  Credentials,
  KnownCgroupState,
  KnownMapState,
  KnownProgState,
  KnownSnapshot,
  Outcome,
  Refusal,
  Success,
  TaskSpec,
  TaskState,
  UpdateContext,
  UserState,
} from '../vocab/backend.js';
import type { Errno } from '../vocab/errno.js';
import type { Alloc, ElementModel } from './maps/alloc.js';
import { checkMapCreate, mapTypeModel } from './maps/index.js';
import { fdinfoMemlock } from './maps/memlock.js';
import type { MapSpec } from '../vocab/map-spec.js';
import { MemAllocSim } from './memalloc.js';
import { chargeBytes, MemcgTree, type ChargeRefusal, type Gfp, type MemCgroup, type ObjCgroup, type Receipt } from './memcg.js';
import type { KernelProfile } from '../vocab/profile.js';
import { BPF_COMPLEXITY_LIMIT_INSNS, progAllocs, progMemlock } from './prog.js';
import { areaTriesKmalloc, kmallocCharge, pagesCharge, percpuCharge, vmallocCharge, type Charge } from './slab.js';
import { formatBytes } from '../vocab/units.js';
import { unchargedReasons, type UnchargedPart } from './uncharged.js';
import { parentOf, tasksInIt } from '../vocab/cgroup-path.js';
import { atLeast } from '../vocab/kernel-version.js';
import { cgroupArg, checkSpecArg, choiceArg, limitsArg, profileArg, wholeArg } from './guard.js';
import { BpfmemError } from '../vocab/errors.js';

/** A task: a process in a cgroup, with a uid and RLIMIT_MEMLOCK. */
interface Task {
  readonly name: string;
  memcg: MemCgroup;
  /** The real uid: the user whose `locked_vm` BPF precharges (before 5.11). */
  uid: number;
  /** RLIMIT_MEMLOCK in bytes. */
  memlock: number;
  readonly capIpcLock: boolean;
  /** `mm->locked_vm` in pages (mlock). */
  mlockedPages: number;
  /** Pages of io_uring buffers it registered, counted in its user's `locked_vm`. */
  ioUringPages: number;
  /** The uid those pages are counted to: the ring's user, fixed when the ring was set up. */
  ioUringUid: number;
  /** Anonymous memory, one entry per allocation, with the page tables that map it. */
  readonly anon: AnonBlock[];
}

/** One allocation of a task's own memory: its pages and the page-table pages mapping them. */
interface AnonBlock {
  readonly pages: Receipt;
  readonly tables: Receipt | undefined;
}

/**
 * Page-table pages that map `pages` fresh pages of one mapping on x86-64 (4 levels, 512
 * entries per table): one PTE page per 2 MiB, one PMD page per 1 GiB. They are charged to the
 * memcg as kernel memory (`GFP_PGTABLE_USER` has `__GFP_ACCOUNT`); measured on 6.18: a 200 MiB
 * buffer raised `memory.kmem.usage_in_bytes` by about 400 KiB.
 */
export function pageTablePages(pages: number): number {
  if (pages <= 0) return 0;
  return Math.ceil(pages / 512) + Math.ceil(pages / (512 * 512));
}

/** A charge made per element, with the GFP class it is made with. */
interface ElementCharge {
  readonly charge: Charge;
  readonly gfp: Gfp;
}

/** What inserting one element does: objects taken from bpf_mem_alloc caches, and charges. */
interface Recipe {
  readonly sims: readonly MemAllocSim[];
  readonly charges: readonly ElementCharge[];
}

const EMPTY_RECIPE: Recipe = { sims: [], charges: [] };

/**
 * The most inserts that allocate one model kernel simulates, one by one, over its life: 2^24
 * (16,777,216), 4.2 s for a no-prealloc hash and 9.4 s for a no-prealloc per-CPU hash here
 * (docs/scenarios.md). Inserts that allocate nothing (preallocated maps, arrays, an LRU past
 * full) cost nothing and are not counted.
 */
export const MAX_SIMULATED_INSERTS = 2 ** 24;

/** How one charge of a map or program went: charged to a cgroup, or to nobody. */
interface Piece {
  readonly receipt: Receipt;
  readonly bytes: number;
  /** The allocation it is, and who was to pay for it. */
  readonly what: string;
  readonly payer: Alloc['payer'];
}

/** The pieces no memory cgroup was charged for. */
function unchargedPieces(pieces: readonly Piece[]): UnchargedPart[] {
  return pieces.filter((p) => !p.receipt.objcg).map((p) => ({ what: p.what, payer: p.payer, bytes: p.bytes }));
}

interface ModelMap {
  readonly id: number;
  readonly name: string;
  readonly spec: MapSpec;
  readonly creator: string;
  /** `map->objcg` (6.0+) or the objcg of `map->memcg` (5.11–5.19); undefined: nobody is charged. */
  readonly objcg: ObjCgroup | undefined;
  /** The cgroup `map->memcg` pins (5.11–5.19) and whether it has been removed since. */
  readonly memcgPath: string;
  memcgRemoved: boolean;
  /**
   * Which removal made it dying (one number per rmdir): a path made again and removed again is
   * another cgroup, so dying cgroups are told apart by this, not by their path.
   */
  dyingCgroup: number | undefined;
  readonly pieces: Piece[];
  readonly elementModel: ElementModel | undefined;
  readonly memAllocs: MemAllocSim[];
  /** What one insert takes and charges. */
  readonly element: Recipe;
  /** What every insert but the first takes and charges besides (LPM intermediate nodes). */
  readonly branch: Recipe;
  elements: number;
  /** Pages precharged to the creator's `locked_vm` (memlock regime), cgroup storages' included. */
  lockedPages: number;
  readonly uid: number;
  /** The `struct file` of each task's fd on the map: the creator's, and those that opened it since. */
  readonly files: Map<string, Receipt>;
}

interface ModelProg {
  readonly id: number;
  readonly name: string;
  readonly insns: number;
  readonly loader: string;
  readonly objcg: ObjCgroup | undefined;
  readonly pieces: Piece[];
  readonly lockedPages: number;
  readonly uid: number;
  /** The `struct file` of the loader's fd. */
  readonly file: Receipt | undefined;
}

const ok = (detail?: string, applied?: number): Success => ({
  ok: true,
  ...(detail === undefined ? {} : { detail }),
  ...(applied === undefined ? {} : { applied }),
});

const refuse = (errno: Errno, reason: string, applied?: number): Refusal => ({
  ok: false,
  errno,
  reason,
  ...(applied === undefined ? {} : { applied }),
});

/**
 * The accounting model of one kernel: memory cgroups, tasks, users, BPF maps and programs,
 * charged the way the kernel of `profile` charges them. Pure and deterministic; every
 * operation is synchronous and returns an {@link Outcome}. `ModelBackend` wraps it as a
 * {@link import('../vocab/backend.js').Backend}.
 */
export class ModelKernel {
  readonly tree: MemcgTree;
  private readonly tasks = new Map<string, Task>();
  /** `user_struct.locked_vm` per uid, in pages. */
  private readonly lockedVm = new Map<number, number>();
  private readonly maps = new Map<string, ModelMap>();
  private readonly progs = new Map<string, ModelProg>();
  private nextMapId = 1;
  private nextProgId = 1;
  /** Numbers the removals that leave a dying cgroup behind (see ModelMap.dyingCgroup). */
  private nextDyingCgroup = 1;
  /** Inserts simulated one by one so far (see {@link MAX_SIMULATED_INSERTS}). */
  private simulatedInserts = 0;

  constructor(readonly profile: KernelProfile) {
    profileArg('ModelKernel', profile);
    this.tree = new MemcgTree(profile.pageSize, profile.eras.memcgChargeBatchPages, profile.possibleCpus, profile.eras.memcgStockSlots);
  }

  // ---------------------------------------------------------------------------------------
  // Cgroups

  /** mkdir of a memory cgroup under its existing parent. */
  createCgroup(path: string, limits: CgroupLimits): Outcome {
    cgroupArg('cgroup', path);
    limitsArg(path, limits, false);
    if (this.tree.find(path)) return refuse('EEXIST', `cgroup ${path} already exists`);
    const parentPath = parentOf(path);
    const parent = this.tree.find(parentPath);
    if (!parent) return refuse('ENOENT', `cannot create ${path}: its parent ${parentPath} does not exist`);
    if (this.profile.cgroupVersion === 2 && !parent.isRoot) {
      const inside = this.tasksIn(parent);
      if (inside.length > 0) {
        return refuse(
          'EBUSY',
          `cannot enable the memory controller below ${parentPath}: ${tasksInIt(inside)}, and cgroup v2 allows no tasks in a cgroup whose children have controllers ("no internal processes")`,
        );
      }
    }
    const c = this.tree.create(path);
    if (!c) return refuse('ENOENT', `cannot create ${path}`);
    const set = this.setLimit(path, limits);
    return set.ok ? ok() : set;
  }

  /** Writes the limits of a cgroup. */
  setLimit(path: string, limits: Partial<CgroupLimits>): Outcome {
    cgroupArg('cgroup', path);
    limitsArg(path, limits, true);
    const c = this.tree.find(path);
    if (!c) return refuse('ENOENT', `cgroup ${path} does not exist`);
    if (c.isRoot) return refuse('EINVAL', 'the root cgroup has no memory limit files');
    const page = this.profile.pageSize;
    const notes: string[] = [];
    if (limits.high !== undefined && Number.isFinite(limits.high)) {
      if (this.profile.cgroupVersion === 1) {
        return refuse('EINVAL', `memory.high is a cgroup v2 file; ${path} is on cgroup v1`);
      }
    }
    if (limits.max !== undefined) {
      const max = Number.isFinite(limits.max) ? Math.floor(limits.max / page) : Number.POSITIVE_INFINITY;
      if (max < c.usage) {
        // Nothing BPF holds can be reclaimed. v1 `mem_cgroup_resize_max()` gives up with
        // EBUSY; v2 `memory_max_write()` sets the limit, reclaims, then OOM-kills.
        if (this.profile.cgroupVersion === 1) {
          return refuse(
            'EBUSY',
            `${path} uses ${formatBytes(c.usage * page)}, more than the new limit ${formatBytes(max * page)}, and kernel memory cannot be reclaimed`,
          );
        }
        c.eventsLocal.max++;
        c.eventsLocal.oom++;
        notes.push(
          `${path} uses ${formatBytes(c.usage * page)}, above the new memory.max: the kernel reclaims what it can, then its OOM killer runs`,
        );
      }
      c.max = max;
    }
    if (limits.high !== undefined) {
      c.high = Number.isFinite(limits.high) ? Math.floor(limits.high / page) : Number.POSITIVE_INFINITY;
    }
    return ok(notes.length ? notes.join('; ') : undefined);
  }

  /** rmdir: the cgroup must hold no task and no child; its charges move to the parent. */
  removeCgroup(path: string): Outcome {
    cgroupArg('cgroup', path);
    const c = this.tree.find(path);
    if (!c) return refuse('ENOENT', `cgroup ${path} does not exist`);
    if (c.isRoot) return refuse('EBUSY', 'the root cgroup cannot be removed');
    const inside = this.tasksIn(c);
    if (inside.length) return refuse('EBUSY', `cannot remove ${path}: ${tasksInIt(inside)}`);
    if (c.children.size) {
      return refuse('EBUSY', `cannot remove ${path}: it has child cgroups (${[...c.children.keys()].join(', ')})`);
    }
    const parentPath = parentOf(path);
    // The maps charged to this cgroup: before 6.0 those whose map->memcg it is (not those of an
    // earlier cgroup of the same path, removed before); from 6.0 those whose objcg points at it
    // now (made in it, or in a child removed before it).
    const memcgEra = this.profile.eras.mapCgroupRef === 'memcg';
    const held = [...this.maps.values()].filter((m) => (memcgEra ? m.memcgPath === path && !m.memcgRemoved : m.objcg?.memcg === c));
    this.tree.remove(c);
    if (memcgEra) {
      const dying = this.nextDyingCgroup++;
      for (const m of held) {
        m.memcgRemoved = true;
        m.dyingCgroup = dying;
      }
      if (held.length) {
        return ok(
          `${path} stays as a dying memory cgroup: maps ${held.map((m) => m.name).join(', ')} hold it (map->memcg); its charges now count in ${parentPath}`,
        );
      }
      return ok();
    }
    return held.length
      ? ok(`charges of maps ${held.map((m) => m.name).join(', ')} now go to ${parentPath} (objcg reparented)`)
      : ok();
  }

  // ---------------------------------------------------------------------------------------
  // Tasks and the workload's own memory

  /** Starts a task. */
  startTask(name: string, spec: TaskSpec): Outcome {
    if (this.tasks.has(name)) return refuse('EEXIST', `task ${name} already exists`);
    cgroupArg(`task ${name}: cgroup`, spec.cgroup);
    const memcg = this.tree.find(spec.cgroup);
    if (!memcg) return refuse('ENOENT', `cannot start ${name} in ${spec.cgroup}: no such cgroup`);
    const placed = this.checkPlacement(name, memcg);
    if (placed) return placed;
    this.tasks.set(name, {
      name,
      memcg,
      uid: spec.uid,
      memlock: spec.memlock ?? this.profile.eras.defaultMemlockRlimit,
      capIpcLock: spec.capIpcLock ?? false,
      mlockedPages: 0,
      ioUringPages: 0,
      ioUringUid: spec.uid,
      anon: [],
    });
    return ok();
  }

  /**
   * setresuid(2) of the real uid and setrlimit(2) of RLIMIT_MEMLOCK. Objects already created keep
   * the user they were precharged to (5.10 `map->memory.user`, `prog->aux->user`), as do io_uring
   * buffers (the ring's user).
   */
  setCredentials(name: string, credentials: Credentials): Outcome {
    const task = this.tasks.get(name);
    if (!task) return refuse('ESRCH', `no task ${name}`);
    if (credentials.uid !== undefined) task.uid = credentials.uid;
    if (credentials.memlock !== undefined) task.memlock = credentials.memlock;
    return ok();
  }

  /** Ends a task: its own memory (and page tables) is freed; BPF objects stay. */
  stopTask(name: string): Outcome {
    const task = this.tasks.get(name);
    if (!task) return refuse('ESRCH', `no task ${name}`);
    for (const block of task.anon) {
      this.tree.release(block.pages);
      if (block.tables) this.tree.release(block.tables);
    }
    if (task.ioUringPages) this.unchargeLocked(task.ioUringUid, task.ioUringPages);
    this.tasks.delete(name);
    return ok();
  }

  /** Moves a task; what it allocated before stays charged where it was (no move_charge_at_immigrate). */
  moveTask(name: string, cgroup: string): Outcome {
    const task = this.tasks.get(name);
    if (!task) return refuse('ESRCH', `no task ${name}`);
    cgroupArg(`moving task ${name}: cgroup`, cgroup);
    const memcg = this.tree.find(cgroup);
    if (!memcg) return refuse('ENOENT', `cannot move ${name} to ${cgroup}: no such cgroup`);
    const placed = this.checkPlacement(name, memcg);
    if (placed) return placed;
    task.memcg = memcg;
    return ok();
  }

  /** Anonymous memory of a task: positive bytes allocate, negative free. */
  allocMemory(taskName: string, bytes: number): Outcome {
    wholeArg('bytes', bytes, -Number.MAX_SAFE_INTEGER);
    const task = this.tasks.get(taskName);
    if (!task) return refuse('ESRCH', `no task ${taskName}`);
    const page = this.profile.pageSize;
    if (bytes < 0) {
      // Frees the most recent allocations first; a block freed in part keeps its first pages.
      const asked = Math.ceil(-bytes / page);
      let pages = asked;
      while (pages > 0) {
        const block = task.anon.pop();
        if (!block) break;
        const had = block.pages.charge.amount;
        const take = Math.min(pages, had);
        this.tree.release(block.pages);
        if (block.tables) this.tree.release(block.tables);
        if (take < had) {
          const kept = this.chargeAnon(task, had - take);
          if (!('refused' in kept)) task.anon.push(kept);
        }
        pages -= take;
      }
      // A task frees only what it has (munmap of a range with nothing mapped frees nothing).
      if (pages > 0) return ok(`${task.name} had only ${formatBytes((asked - pages) * page)} of its own memory to free`);
      return ok();
    }
    const got = this.chargeAnon(task, Math.ceil(bytes / page));
    if ('refused' in got) return this.oomKill(task, got, `${formatBytes(Math.ceil(bytes / page) * page)} more of its own memory (BPF memory cannot be reclaimed)`);
    task.anon.push(got);
    return ok();
  }

  /** Charges `pages` of a task's own memory and their page tables to its cgroup now. */
  private chargeAnon(task: Task, pages: number): AnonBlock | ChargeRefusal {
    const objcg = this.objcgOf(task.memcg);
    const owner = `task:${task.name}`;
    // Page faults charge GFP_HIGHUSER_MOVABLE: reclaim, then the memcg OOM killer.
    const r = this.tree.charge(objcg, { unit: 'pages', amount: pages, stat: 'anon' }, 'kernel', owner);
    if (r.refused) return r;
    const tables = pageTablePages(pages);
    if (tables === 0) return { pages: r, tables: undefined };
    const t = this.tree.charge(objcg, { unit: 'pages', amount: tables, stat: 'kernel' }, 'kernel', owner);
    if (t.refused) {
      this.tree.release(r);
      return t;
    }
    return { pages: r, tables: t };
  }

  /**
   * Locks memory. `mlock`: mlock(2) counts the process's own `mm->locked_vm` against its
   * RLIMIT_MEMLOCK (mm/mlock.c `do_mlock()`); it never shared BPF's counter. `io_uring`:
   * registered buffers count the user's `locked_vm` (io_uring/rsrc.c `__io_account_mem()`),
   * the very counter BPF precharged before 5.11. CAP_IPC_LOCK lifts both limits.
   */
  lockMemory(taskName: string, bytes: number, via: 'mlock' | 'io_uring'): Outcome {
    choiceArg('locked memory via', via, ['mlock', 'io_uring']);
    const task = this.tasks.get(taskName);
    if (!task) return refuse('ESRCH', `no task ${taskName}`);
    const page = this.profile.pageSize;
    if (bytes < 0) {
      // munlock(2) / io_uring unregister: the counters drop and the memory is freed.
      const pages = Math.ceil(-bytes / page);
      if (via === 'mlock') {
        const n = Math.min(pages, task.mlockedPages);
        task.mlockedPages -= n;
      } else {
        const n = Math.min(pages, task.ioUringPages);
        task.ioUringPages -= n;
        this.unchargeLocked(task.ioUringUid, n);
      }
      return this.allocMemory(taskName, bytes);
    }
    const pages = Math.ceil(bytes / page);
    const limit = Math.floor(task.memlock / page);
    if (via === 'mlock') {
      if (!task.capIpcLock && task.memlock === 0) {
        return refuse('EPERM', `${task.name} has RLIMIT_MEMLOCK 0 and no CAP_IPC_LOCK: it may not mlock`);
      }
      if (!task.capIpcLock && task.mlockedPages + pages > limit) {
        return refuse(
          'ENOMEM',
          `mlock: ${task.name} has ${formatBytes(task.mlockedPages * page)} locked of RLIMIT_MEMLOCK ${formatBytes(task.memlock)}; ${formatBytes(pages * page)} more does not fit`,
        );
      }
    } else if (!task.capIpcLock) {
      if (task.ioUringPages === 0) task.ioUringUid = task.uid;
      const locked = this.lockedVm.get(task.ioUringUid) ?? 0;
      if (locked + pages > limit) {
        return refuse(
          'ENOMEM',
          `io_uring: uid ${task.uid} has ${formatBytes(locked * page)} in locked_vm and ${task.name}'s RLIMIT_MEMLOCK is ${formatBytes(task.memlock)}; ${formatBytes(pages * page)} more does not fit`,
        );
      }
    }
    const faulted = this.allocMemory(taskName, bytes);
    if (!faulted.ok) return faulted;
    if (via === 'mlock') task.mlockedPages += pages;
    else if (!task.capIpcLock) {
      task.ioUringPages += pages;
      this.lockedVm.set(task.ioUringUid, (this.lockedVm.get(task.ioUringUid) ?? 0) + pages);
    }
    return ok();
  }

  // ---------------------------------------------------------------------------------------
  // Maps

  /** BPF_MAP_CREATE as `taskName`. */
  createMap(taskName: string, name: string, requested: MapSpec): Outcome {
    checkSpecArg(requested);
    const task = this.tasks.get(taskName);
    if (!task) return refuse('ESRCH', `no task ${taskName}`);
    if (this.maps.has(name)) return refuse('EEXIST', `a map named ${name} is already open`);
    const invalid = checkMapCreate(requested, this.profile);
    if (invalid) return invalid;
    const model = mapTypeModel(requested.type);
    const spec = model.normalize(requested, this.profile);
    const page = this.profile.pageSize;
    const regime = this.profile.regime;

    let lockedPages = 0;
    if (regime === 'memlock') {
      // kernel/bpf/syscall.c (5.3–5.10) bpf_map_charge_init(): page-rounded cost estimate
      // charged to the user's locked_vm against the creator's RLIMIT_MEMLOCK.
      const cost = model.legacyCost(spec, this.profile);
      if (cost >= 2 ** 32 - 1 - page) return refuse('E2BIG', `map ${name} would cost ${formatBytes(cost)}, over the 4 GiB the legacy accounting allows`);
      lockedPages = Math.ceil(cost / page);
      const refusal = this.chargeLocked(task, lockedPages, `map ${name}`);
      if (refusal) return model.legacyChargeErrno ? { ...refusal, errno: model.legacyChargeErrno, reason: `${refusal.reason} (${spec.type} answers ${model.legacyChargeErrno} for it)` } : refusal;
    }

    const creatorObjcg = regime === 'memcg' ? this.objcgOf(task.memcg) : undefined;
    // Inside map_alloc() the map has no cgroup yet: on 5.11–5.19 the helpers charge the
    // creator, on 6.0+ the root memcg (nobody).
    const helperObjcg = this.profile.eras.createTimeMapHelpersCharged ? creatorObjcg : undefined;
    const owner = `map:${name}`;
    const pieces: Piece[] = [];
    const allocs = model.createAllocs(spec, this.profile);
    const payerOf = (a: Alloc): ObjCgroup | undefined =>
      a.payer === 'current' ? creatorObjcg : a.payer === 'map' ? helperObjcg : undefined;
    for (const alloc of allocs) {
      const got = this.allocate(alloc, payerOf(alloc), 'create', owner);
      if (got.refused) {
        for (const p of pieces) this.tree.release(p.receipt);
        this.unchargeLocked(task.uid, lockedPages);
        const need = this.chargedNeed(allocs.filter((a) => payerOf(a) !== undefined));
        return refuse(
          'ENOMEM',
          `${this.limitText(got.memcg)}; creating map "${name}" needs ${formatBytes(need)}${got.oom ? ' (the memcg OOM killer would run)' : ''}`,
        );
      }
      pieces.push(...got.pieces);
    }

    const elements = model.elements(spec, this.profile);
    const elementModel = 'capacity' in elements ? elements : undefined;
    const mapObjcg = creatorObjcg; // bpf_map_save_memcg(), after map_alloc()
    const memAllocs = (elementModel?.memAllocs ?? []).map((unit) => {
      const sim = new MemAllocSim(unit, this.profile, this.tree, creatorObjcg, owner);
      sim.prefill();
      return sim;
    });
    const gfp: Gfp = this.profile.eras.updateGfp;
    const chargesOf = (allocs: readonly Alloc[]): ElementCharge[] =>
      allocs.flatMap((a) =>
        Array.from({ length: a.count ?? 1 }, () => ({ charge: this.chargeOf(a, 'update'), gfp: a.shape === 'pages' ? ('kernel' as const) : (a.gfp ?? gfp) })),
      );
    const simsOf = (units: readonly { what: string }[]): MemAllocSim[] =>
      units.flatMap((u) => memAllocs.filter((sim) => sim.unit.what === u.what).slice(0, 1));
    const element: Recipe = { sims: memAllocs, charges: chargesOf(elementModel?.allocs ?? []) };
    const branch: Recipe = elementModel?.afterFirst
      ? { sims: simsOf(elementModel.afterFirst.memAllocs), charges: chargesOf(elementModel.afterFirst.allocs) }
      : EMPTY_RECIPE;
    // bpf_map_new_fd(): the creator's fd and its struct file, after the map is allocated.
    const file = this.openFile(task, `map:${name}`);
    if (file.refused) {
      for (const p of pieces) this.tree.release(p.receipt);
      for (const sim of memAllocs) sim.destroy();
      this.unchargeLocked(task.uid, lockedPages);
      return this.oomKill(task, file, `the struct file of map "${name}"'s fd`);
    }
    this.maps.set(name, {
      files: new Map([[task.name, file]]),
      id: this.nextMapId++,
      name,
      spec,
      creator: task.name,
      objcg: mapObjcg,
      memcgPath: task.memcg.path,
      memcgRemoved: false,
      dyingCgroup: undefined,
      pieces,
      elementModel,
      memAllocs,
      element,
      branch,
      elements: 0,
      lockedPages,
      uid: task.uid,
    });
    const escaped = unchargedPieces(pieces);
    const escapedBytes = escaped.reduce((s, p) => s + p.bytes, 0);
    const charged = pieces.reduce((s, p) => s + (p.receipt.objcg ? p.bytes : 0), 0);
    // Worth saying when it is a real share of the map (per-CPU values), not a per-CPU counter.
    if (regime === 'memcg' && creatorObjcg && escapedBytes > 0.1 * (escapedBytes + charged)) {
      return ok(`${formatBytes(escapedBytes)} allocated at creation is charged to no cgroup (${unchargedReasons(escaped, this.profile).join('; ')})`);
    }
    return ok();
  }

  /** Inserts `count` new elements into a map on `cpu`, as a task or from an interrupt. */
  updateMap(name: string, count: number, context: UpdateContext, cpu: number): Outcome {
    wholeArg('element count', count);
    wholeArg('cpu', cpu, 0, this.profile.possibleCpus - 1);
    if (!isUpdateContext(context)) {
      throw new BpfmemError('input', `update context ${JSON.stringify(context)} is not 'softirq', 'irq' or { task }`);
    }
    const map = this.maps.get(name);
    if (!map) return refuse('EBADF', `no open map ${name}`);
    if (typeof context === 'object' && !this.tasks.has(context.task)) return refuse('ESRCH', `no task ${context.task}`);
    if (typeof context === 'object' && !map.files.has(context.task)) {
      // A task needs an fd of its own (BPF_MAP_GET_FD_BY_ID, or one passed to it): a struct file.
      const task = this.tasks.get(context.task);
      if (task) {
        const file = this.openFile(task, `map:${name}`);
        if (file.refused) return { ...this.oomKill(task, file, `the struct file of ${task.name}'s fd on map "${name}"`), applied: 0 };
        map.files.set(task.name, file);
      }
    }
    const em = map.elementModel;
    if (!em) {
      const why = mapTypeModel(map.spec.type).elements(map.spec, this.profile);
      return 'capacity' in why ? refuse('EINVAL', `map ${name} takes no updates`) : refuse(why.errno, why.reason, 0);
    }
    if (isEmpty(map.element) && isEmpty(map.branch) && !(this.profile.regime === 'memlock' && em.legacyPages)) {
      // Preallocated or allocation-free inserts: nothing is charged, only the count moves.
      const room = em.capacity - map.elements;
      if (count <= room || em.whenFull === 'evict') {
        map.elements += Math.min(count, room);
        return ok(undefined, count);
      }
      map.elements = em.capacity;
      const full = em.whenFull;
      return refuse(full.errno, `map ${name} is full: ${em.capacity} elements (max_entries)`, room);
    }
    // Inserts that allocate are simulated one by one (cache refills, charge stocks, the limit at
    // any element): bounded, so that no input, however small, runs for hours.
    const simulated = Math.min(count, Math.max(0, em.capacity - map.elements));
    if (this.simulatedInserts + simulated > MAX_SIMULATED_INSERTS) {
      throw new BpfmemError(
        'input',
        `inserting ${count} elements into map ${name}: the model simulates inserts that allocate one by one, at most ${MAX_SIMULATED_INSERTS} in a run${this.simulatedInserts > 0 ? ` (${this.simulatedInserts} so far)` : ''}`,
      );
    }
    this.simulatedInserts += simulated;
    let forced = 0;
    for (let i = 0; i < count; i++) {
      if (map.elements >= em.capacity) {
        // LRU: old elements are reused, nothing allocated, whatever the count.
        if (em.whenFull === 'evict') break;
        return refuse(em.whenFull.errno, `map ${name} is full: ${em.capacity} elements (max_entries)`, i);
      }
      // Before 5.11 a cgroup storage is precharged to the map's user first, against the limit of
      // the task that attaches (the acting task; the creator's for an interrupt).
      const legacy = this.profile.regime === 'memlock' ? (em.legacyPages ?? 0) : 0;
      if (legacy > 0) {
        const actor = this.tasks.get(typeof context === 'object' ? context.task : map.creator);
        if (actor) {
          const refused = this.chargeLocked(actor, legacy, `element ${map.elements + 1} of map "${name}"`, map.uid);
          if (refused) return { ...refused, applied: i };
        } else this.lockedVm.set(map.uid, (this.lockedVm.get(map.uid) ?? 0) + legacy);
        map.lockedPages += legacy;
      }
      const recipes = map.elements >= 1 ? [map.element, map.branch] : [map.element];
      const done: Recipe[] = [];
      for (const recipe of recipes) {
        const got = this.take(map, recipe, cpu);
        if (got !== undefined && typeof got !== 'number') {
          for (const r of done) this.giveBack(map, r, cpu);
          if (legacy > 0) {
            this.unchargeLocked(map.uid, legacy);
            map.lockedPages -= legacy;
          }
          return refuse('ENOMEM', got.reason, i);
        }
        forced += got ?? 0;
        done.push(recipe);
      }
      map.elements++;
    }
    const detail: string[] = [];
    const payer = this.chargedTo(map);
    if (payer.path !== null && !isEmpty(map.element)) {
      const who = typeof context === 'object' ? `task ${context.task}` : context;
      detail.push(`charged to ${payer.path}${payer.removed ? ' (removed)' : ''}, the map's cgroup (updates ran as ${who})`);
    }
    if (forced) {
      const m = map.objcg?.memcg;
      const over = m ? this.overLimit(m) : undefined;
      detail.push(`${forced} GFP_ATOMIC charges were forced past memory.max${over ? ` of ${over.path}` : ''}`);
    }
    return ok(detail.length ? detail.join('; ') : undefined, count);
  }

  /**
   * Takes what one insert needs: objects from the bpf_mem_alloc caches, then the per-element
   * charges. Returns the number of charges forced past `memory.max`, or why it failed (having
   * undone what it did).
   */
  private take(map: ModelMap, recipe: Recipe, cpu: number): number | { reason: string } | undefined {
    const taken: MemAllocSim[] = [];
    for (const sim of recipe.sims) {
      if (!sim.take(cpu)) {
        for (const t of taken) t.give(cpu);
        return { reason: this.cacheEmptyText(map, sim) };
      }
      taken.push(sim);
    }
    let forced = 0;
    for (let j = 0; j < recipe.charges.length; j++) {
      const ec = recipe.charges[j];
      if (!ec) continue;
      const r = this.tree.charge(map.objcg, ec.charge, ec.gfp, `map:${map.name}`, this.cpu(cpu));
      if (r.refused) {
        for (const done of recipe.charges.slice(0, j)) this.tree.release({ objcg: map.objcg, charge: done.charge, owner: `map:${map.name}` }, this.cpu(cpu));
        for (const t of taken) t.give(cpu);
        return {
          reason: `${this.limitText(r.memcg)}; inserting into map "${map.name}" needs ${formatBytes(this.recipeBytes(recipe))} per element (GFP_NOWAIT charges fail at memory.max)`,
        };
      }
      if (ec.gfp === 'atomic' && map.objcg && this.overLimit(map.objcg.memcg)) forced++;
    }
    return forced;
  }

  /** Frees what one insert took (a delete, or undoing a failed insert). */
  private giveBack(map: ModelMap, recipe: Recipe, cpu: number): void {
    for (const sim of recipe.sims) sim.give(cpu);
    for (const ec of recipe.charges) this.tree.release({ objcg: map.objcg, charge: ec.charge, owner: `map:${map.name}` }, this.cpu(cpu));
  }

  /** Deletes `count` elements from a map on `cpu`. */
  deleteFromMap(name: string, count: number, cpu: number): Outcome {
    wholeArg('element count', count);
    wholeArg('cpu', cpu, 0, this.profile.possibleCpus - 1);
    const map = this.maps.get(name);
    if (!map) return refuse('EBADF', `no open map ${name}`);
    const em = map.elementModel;
    if (!em?.deletable) return refuse('EINVAL', `elements of ${map.spec.type} map ${name} cannot be deleted`, 0);
    const n = Math.min(count, map.elements);
    if (isEmpty(map.element) && isEmpty(map.branch)) {
      // Preallocated: nothing to give back, only the count moves (as its inserts did), whatever n.
      map.elements -= n;
    } else {
      // Elements that allocated were inserted one by one, so their deletes are bounded as those were.
      for (let i = 0; i < n; i++) {
        if (map.elements > 1) this.giveBack(map, map.branch, cpu);
        this.giveBack(map, map.element, cpu);
        map.elements--;
      }
    }
    if (n < count) return refuse('ENOENT', `map ${name} had only ${n} elements to delete`, n);
    return ok(undefined, n);
  }

  // ---------------------------------------------------------------------------------------
  // Programs

  /** BPF_PROG_LOAD of `insns` instructions (after the verifier) as `taskName`. */
  loadProg(taskName: string, name: string, insns: number): Outcome {
    wholeArg('instruction count', insns);
    const task = this.tasks.get(taskName);
    if (!task) return refuse('ESRCH', `no task ${taskName}`);
    if (this.progs.has(name)) return refuse('EEXIST', `a program named ${name} is already loaded`);
    if (insns < 1) return refuse('EINVAL', `program ${name} has no instructions`);
    if (insns > BPF_COMPLEXITY_LIMIT_INSNS) {
      return refuse('E2BIG', `program ${name} has ${insns} instructions; the limit is ${BPF_COMPLEXITY_LIMIT_INSNS}`);
    }
    const page = this.profile.pageSize;
    let lockedPages = 0;
    if (this.profile.regime === 'memlock') {
      lockedPages = progMemlock(insns, this.profile) / page;
      const refusal = this.chargeLocked(task, lockedPages, `program ${name}`);
      if (refusal) return refusal;
    }
    const objcg = this.profile.regime === 'memcg' ? this.objcgOf(task.memcg) : undefined;
    const pieces: Piece[] = [];
    for (const alloc of progAllocs(insns, this.profile)) {
      const got = this.allocate(alloc, objcg, 'load', `prog:${name}`);
      if (got.refused) {
        for (const p of pieces) this.tree.release(p.receipt);
        this.unchargeLocked(task.uid, lockedPages);
        return refuse(
          'ENOMEM',
          `${this.limitText(got.memcg)}; loading program "${name}" needs ${formatBytes(progMemlock(insns, this.profile))}${got.oom ? ' (GFP_KERNEL: the memcg OOM killer runs first)' : ''}`,
        );
      }
      pieces.push(...got.pieces);
    }
    const file = this.openFile(task, `prog:${name}`);
    if (file.refused) {
      for (const p of pieces) this.tree.release(p.receipt);
      this.unchargeLocked(task.uid, lockedPages);
      return this.oomKill(task, file, `the struct file of program "${name}"'s fd`);
    }
    this.progs.set(name, { id: this.nextProgId++, name, insns, loader: task.name, objcg, pieces, lockedPages, uid: task.uid, file });
    return ok();
  }

  /** Drops the last reference: everything is freed and uncharged. */
  close(kind: 'map' | 'prog', name: string): Outcome {
    choiceArg('close: kind', kind, ['map', 'prog']);
    if (kind === 'prog') {
      const prog = this.progs.get(name);
      if (!prog) return refuse('EBADF', `no loaded program ${name}`);
      for (const p of prog.pieces) this.tree.release(p.receipt);
      if (prog.file) this.tree.release(prog.file);
      this.unchargeLocked(prog.uid, prog.lockedPages);
      this.progs.delete(name);
      return ok();
    }
    const map = this.maps.get(name);
    if (!map) return refuse('EBADF', `no open map ${name}`);
    for (let i = 0; i < map.elements; i++) {
      for (const ec of map.element.charges) this.tree.release({ objcg: map.objcg, charge: ec.charge, owner: `map:${name}` });
      if (i > 0) for (const ec of map.branch.charges) this.tree.release({ objcg: map.objcg, charge: ec.charge, owner: `map:${name}` });
    }
    for (const sim of map.memAllocs) sim.destroy();
    for (const p of map.pieces) this.tree.release(p.receipt);
    for (const f of map.files.values()) this.tree.release(f);
    this.unchargeLocked(map.uid, map.lockedPages);
    this.maps.delete(name);
    return ok();
  }

  // ---------------------------------------------------------------------------------------
  // Reading

  /** What fdinfo `memlock` shows for a map now. */
  mapMemlock(name: string): number | undefined {
    const map = this.maps.get(name);
    if (!map) return undefined;
    if (this.profile.regime === 'memlock') return map.lockedPages * this.profile.pageSize;
    return fdinfoMemlock(map.spec, map.elements, this.profile);
  }

  /** One open map as {@link snapshot} shows it, without reading the whole machine. */
  mapState(name: string): KnownMapState | undefined {
    const m = this.maps.get(name);
    return m && this.mapStateOf(m);
  }

  /** What a map's creation allocated that no memory cgroup pays for, allocation by allocation. */
  mapUncharged(name: string): readonly UnchargedPart[] | undefined {
    const m = this.maps.get(name);
    if (!m) return undefined;
    const { elements } = this.elementBytes(m);
    // Elements are charged to the map's cgroup; a map without one (the memlock regime, a creator in the root) pays for none.
    return [...unchargedPieces(m.pieces), ...(m.objcg || elements === 0 ? [] : [{ what: 'elements', payer: 'current' as const, bytes: elements }])];
  }

  /** One loaded program as {@link snapshot} shows it. */
  progState(name: string): KnownProgState | undefined {
    const p = this.progs.get(name);
    return p && this.progStateOf(p);
  }

  /** Everything observable now. */
  snapshot(): KnownSnapshot {
    const page = this.profile.pageSize;
    const cgroups: KnownCgroupState[] = [];
    // Removed cgroups a map still pins (5.11–5.19 `map->memcg`), each counted once.
    const dying = new Map<number, string>();
    for (const m of this.maps.values()) if (m.dyingCgroup !== undefined) dying.set(m.dyingCgroup, m.memcgPath);
    for (const c of this.tree.walk()) {
      const stat = this.tree.statTotal(c);
      let bpf = 0;
      const bpfObjects: Record<string, number> = {};
      for (const [owner, b] of [...c.bpf].sort(([a], [b]) => (a < b ? -1 : 1))) {
        bpf += b;
        bpfObjects[owner] = b;
      }
      cgroups.push({
        path: c.path,
        usage: c.usage * page,
        stock: this.tree.stockTotal(c) * page,
        max: Number.isFinite(c.max) ? c.max * page : null,
        high: Number.isFinite(c.high) ? c.high * page : null,
        peak: c.watermark * page,
        failcnt: c.failcnt,
        events: this.tree.events(c),
        kernel: this.tree.kmemTotal(c) * page,
        stat: { slab: stat.slab, percpu: stat.percpu, vmalloc: stat.vmalloc, anon: stat.anon },
        bpf,
        bpfObjects,
        dyingDescendants: [...dying.values()].filter((p) => p.startsWith(c.path === '/' ? '/' : `${c.path}/`)).length,
      });
    }
    const users: UserState[] = [...this.lockedVm]
      .filter(([, pages]) => pages > 0)
      .sort(([a], [b]) => a - b)
      .map(([uid, pages]) => ({ uid, lockedVm: pages * page }));
    const tasks: TaskState[] = [...this.tasks.values()].map((t) => ({
      name: t.name,
      cgroup: t.memcg.path,
      uid: t.uid,
      memlock: Number.isFinite(t.memlock) ? t.memlock : null,
      mlocked: t.mlockedPages * page,
      anon: t.anon.reduce((s, b) => s + b.pages.charge.amount * page, 0),
    }));
    const maps = [...this.maps.values()].map((m) => this.mapStateOf(m));
    const progs = [...this.progs.values()].map((p) => this.progStateOf(p));
    return { cgroups, users, tasks, maps, progs };
  }

  private mapStateOf(m: ModelMap): KnownMapState {
    const { charged, uncharged } = this.mapBytes(m);
    const to = this.chargedTo(m);
    return {
      name: m.name,
      id: m.id,
      type: m.spec.type,
      keySize: m.spec.keySize,
      valueSize: m.spec.valueSize,
      maxEntries: m.spec.maxEntries,
      flags: m.spec.flags,
      elements: m.elements,
      memlock: this.mapMemlock(m.name) ?? 0,
      charged,
      uncharged,
      chargedTo: to.path,
      chargedToKnown: true,
      chargedToRemoved: to.removed,
      creator: m.creator,
    };
  }

  private progStateOf(p: ModelProg): KnownProgState {
    return {
      name: p.name,
      id: p.id,
      insns: p.insns,
      memlock: progMemlock(p.insns, this.profile),
      charged:
        p.pieces.filter((x) => x.receipt.objcg).reduce((s, x) => s + x.bytes, 0) +
        (p.file?.objcg ? chargeBytes(p.file.charge, this.profile.pageSize) : 0),
      chargedTo: p.objcg && !p.objcg.memcg.isRoot ? p.objcg.memcg.path : null,
      loader: p.loader,
    };
  }

  /** Task names, for checks. */
  hasTask(name: string): boolean {
    return this.tasks.has(name);
  }

  // ---------------------------------------------------------------------------------------
  // Internals

  /**
   * The charges one allocation makes, and makes them. `area` tries kmalloc (`__GFP_NORETRY`)
   * up to 32 KiB and falls back to vmalloc (`__GFP_RETRY_MAYFAIL`), as `__bpf_map_area_alloc()`.
   */
  private allocate(
    alloc: Alloc,
    objcg: ObjCgroup | undefined,
    phase: 'create' | 'load',
    owner: string,
  ): { refused: false; pieces: Piece[] } | ChargeRefusal {
    const count = alloc.count ?? 1;
    if (count === 0) return { refused: false, pieces: [] };
    const page = this.profile.pageSize;
    const attempt = (charge: Charge, gfp: Gfp): Receipt | ChargeRefusal =>
      this.tree.charge(objcg, scale(charge, count), gfp, owner);
    const piece = (r: Receipt): { refused: false; pieces: Piece[] } => ({
      refused: false,
      pieces: [{ receipt: r, bytes: chargeBytes(r.charge, page, r.objcg !== undefined), what: alloc.what, payer: alloc.payer }],
    });
    const baseGfp: Gfp = 'kernel';
    switch (alloc.shape) {
      case 'area':
      case 'kvmalloc': {
        if (alloc.shape === 'area' ? areaTriesKmalloc(alloc.size, this.profile) : true) {
          const first = attempt(kmallocCharge(alloc.size, this.profile), alloc.size > page || alloc.shape === 'area' ? 'noretry' : baseGfp);
          if (!first.refused) return piece(first);
          if (alloc.shape === 'kvmalloc' && alloc.size <= page) return first;
        }
        const v = attempt(vmallocCharge(alloc.size, this.profile), alloc.shape === 'area' ? 'retry_mayfail' : baseGfp);
        if (v.refused) {
          if (objcg) this.vmallocRefused(v, alloc.size);
          return v;
        }
        return piece(v);
      }
      case 'area_mmapable':
      case 'vmalloc': {
        const v = attempt(vmallocCharge(alloc.size, this.profile), alloc.shape === 'vmalloc' && phase === 'load' ? 'kernel' : 'retry_mayfail');
        if (v.refused) {
          if (objcg) this.vmallocRefused(v, alloc.size);
          return v;
        }
        return piece(v);
      }
      case 'pages': {
        const v = attempt(pagesCharge(alloc.size, this.profile), 'retry_mayfail');
        if (v.refused) {
          if (objcg) this.tree.notePartialFill(objcg.memcg);
          return v;
        }
        return piece(v);
      }
      case 'kmalloc':
      case 'percpu': {
        const r = attempt(this.chargeOf(alloc, 'create'), baseGfp);
        return r.refused ? r : piece(r);
      }
    }
  }

  /**
   * A vmalloc area refused at its cgroup's limit: the pages that fitted were charged on the way
   * (the peak reached the limit) and freed again. From 7.0 (Debian's 7.2.13, mm/vmalloc.c
   * vm_area_alloc_pages(): "Initially, attempt to have the page allocator give us large order
   * pages") the area is first filled with high-order pages charged without direct reclaim (no
   * MEMCG_MAX event, try_charge_memcg(): `if (!gfpflags_allow_blocking(gfp_mask)) goto nomem;`)
   * down to order 1, which leaves the room modulo two pages. With no page left, the order-0
   * bulk call (its one page: "Bulk allocator does not support memcg accounting", page_alloc.c
   * alloc_pages_bulk_noprof()) is refused, then the single-page fallback loop is refused again:
   * two full retry loops, 36 `memory.events max` (measured on 7.2.13: a 16 MiB array under
   * memory.max 16 MiB added 36, where 6.18 adds 18 and a v1 failcnt of 19, measured on the 6.18.44
   * host). With one page left the bulk call takes it and only the fallback is refused: 18.
   * The release in between that brought this (6.19 or 7.x) was not read: the model takes 7.0.
   */
  private vmallocRefused(refusal: ChargeRefusal, size: number): void {
    this.tree.notePartialFill(refusal.memcg);
    if (!vmallocTriesHighOrders(this.profile) || Math.ceil(size / this.profile.pageSize) < 2) return;
    const room = refusal.memcg.margin();
    if (Number.isFinite(room) && room >= 0 && room % 2 === 0) this.tree.noteRefusedAgain(refusal.memcg);
  }

  /** The charge of one object of an allocation made at update time (or create, for slab/percpu). */
  private chargeOf(alloc: Alloc, _phase: 'create' | 'update'): Charge {
    switch (alloc.shape) {
      case 'kmalloc':
        return kmallocCharge(alloc.size, this.profile);
      case 'percpu':
        return percpuCharge(alloc.size, this.profile);
      case 'pages':
        return pagesCharge(alloc.size, this.profile);
      case 'vmalloc':
      case 'area_mmapable':
        return vmallocCharge(alloc.size, this.profile);
      case 'area':
      case 'kvmalloc':
        return areaTriesKmalloc(alloc.size, this.profile)
          ? kmallocCharge(alloc.size, this.profile)
          : vmallocCharge(alloc.size, this.profile);
    }
  }

  /** What these allocations charge in all (for messages). */
  private chargedNeed(allocs: readonly Alloc[]): number {
    let b = 0;
    for (const a of allocs) b += chargeBytes(this.chargeOf(a, 'create'), this.profile.pageSize) * (a.count ?? 1);
    return b;
  }

  /** Bytes of the per-element charges of a recipe (bpf_mem_alloc objects are counted by the caches). */
  private recipeBytes(recipe: Recipe, accounted = true): number {
    let b = 0;
    for (const ec of recipe.charges) b += chargeBytes(ec.charge, this.profile.pageSize, accounted);
    return b;
  }

  /**
   * The charge of one fd: its `struct file` (filp cache) and the dentry alloc_file_pseudo() makes
   * for it (d_alloc_pseudo(), dentry cache), both SLAB_ACCOUNT whatever the BPF regime, each with
   * its objcg pointer. Measured on the 6.18.44 host (cgroup v1 `memory.kmem.usage_in_bytes`, 200
   * array maps k4 v4 max_entries 1 made and held by one process in a cgroup of its own, three
   * runs): 921.6 B a map each time; the model gives 920 (the map 520, the file 200, the dentry
   * 200), and gave 720 without the dentry.
   */
  private fileCharge(): Charge {
    const { filp, dentry, pointer: p } = this.profile.structs;
    return { unit: 'obj', amount: filp + p + dentry + p, stat: 'slab', overhead: 2 * p };
  }

  /**
   * Opens a `struct file` for a task's new fd (`anon_inode_getfile()`), with GFP_KERNEL: at the
   * limit the memcg OOM killer runs instead of the call failing.
   */
  private openFile(task: Task, owner: string): Receipt | ChargeRefusal {
    return this.tree.charge(this.objcgOf(task.memcg), this.fileCharge(), 'kernel', owner);
  }

  /**
   * The memcg OOM killer, as the model plays it: it kills the task whose allocation could not
   * be charged (the kernel picks the largest task of the cgroup; the model takes the allocator).
   */
  private oomKill(task: Task, refusal: ChargeRefusal, what: string): Refusal {
    // Every memcg OOM kill follows an `oom` event: mm/memcontrol.c mem_cgroup_oom() counts
    // MEMCG_OOM before mem_cgroup_out_of_memory() picks a victim. A task's memory is faulted a
    // page at a time (order 0, so mem_cgroup_oom() runs), even where the model charges it as one
    // block. Measured in the kernel lab (6.1 and 6.12, cgroup v2): a task faulting 32 MiB under
    // memory.max 16 MiB raised `oom` and `oom_kill` by 1 each (docs/kernel-lab.md).
    if (!refusal.oom) refusal.memcg.eventsLocal.oom++;
    refusal.memcg.eventsLocal.oom_kill++;
    this.stopTask(task.name);
    for (const m of this.maps.values()) {
      const f = m.files.get(task.name);
      if (f && m.creator !== task.name) {
        this.tree.release(f);
        m.files.delete(task.name);
      }
    }
    return {
      ok: false,
      errno: 'ENOMEM',
      killed: true,
      reason: `${this.limitText(refusal.memcg)}; ${what} does not fit and cannot fail (GFP_KERNEL): the memcg OOM killer killed ${task.name}`,
    };
  }

  /** A CPU number within the possible CPUs. */
  private cpu(cpu: number): number {
    return Math.min(Math.max(0, Math.trunc(cpu)), this.profile.possibleCpus - 1);
  }

  /**
   * Returns the stocked pages of `path` and everything below it (all cgroups when omitted) to
   * the page counters (`drain_all_stock()`).
   */
  drainStocks(path?: string): Outcome {
    const c = path === undefined ? undefined : this.tree.find(path);
    if (path !== undefined && !c) return refuse('ENOENT', `cgroup ${path} does not exist`);
    this.tree.drainStocks(c);
    return ok();
  }

  /**
   * Memory the model did not see being charged: `bytes` of the workload's own memory, charged
   * to `path` as they are now, without stock. Conformance seeds the model with what a live
   * cgroup holds before a probe.
   */
  seed(path: string, bytes: number): Outcome {
    cgroupArg('cgroup', path);
    wholeArg('seeded bytes', bytes);
    const c = this.tree.find(path);
    if (!c) return refuse('ENOENT', `cgroup ${path} does not exist`);
    if (c.isRoot) return refuse('EINVAL', 'the root cgroup is not charged');
    this.tree.seed(c, Math.ceil(bytes / this.profile.pageSize));
    return ok();
  }

  /** The objcg a task in `memcg` charges; none in the root cgroup (never charged). */
  private objcgOf(memcg: MemCgroup): ObjCgroup | undefined {
    return memcg.isRoot ? undefined : memcg.objcg;
  }

  /** 5.3–5.10 `bpf_charge_memlock()`: EPERM when the user's locked_vm would pass the task's limit. */
  /** Precharges `pages` to `uid`'s `locked_vm` (the task's own by default) against the task's RLIMIT_MEMLOCK. */
  private chargeLocked(task: Task, pages: number, what: string, uid = task.uid): Refusal | undefined {
    const page = this.profile.pageSize;
    const locked = this.lockedVm.get(uid) ?? 0;
    const limit = Math.floor(task.memlock / page);
    if (locked + pages > limit) {
      return refuse(
        'EPERM',
        `RLIMIT_MEMLOCK: uid ${uid} has ${formatBytes(locked * page)} locked (locked_vm, shared by all its processes) and ${task.name}'s limit is ${formatBytes(task.memlock)}; ${what} needs ${formatBytes(pages * page)} more (raise RLIMIT_MEMLOCK, or use a 5.11+ kernel)`,
      );
    }
    this.lockedVm.set(uid, locked + pages);
    return undefined;
  }

  private unchargeLocked(uid: number, pages: number): void {
    if (pages <= 0) return;
    this.lockedVm.set(uid, (this.lockedVm.get(uid) ?? 0) - pages);
  }

  private chargedTo(map: ModelMap): { path: string | null; removed: boolean } {
    if (!map.objcg) return { path: null, removed: false };
    if (this.profile.eras.mapCgroupRef === 'memcg') return { path: map.memcgPath, removed: map.memcgRemoved };
    return { path: map.objcg.memcg.path, removed: false };
  }

  /** The bytes of a map's elements and of the objects its allocators hold cached. */
  private elementBytes(map: ModelMap): { elements: number } {
    const accounted = map.objcg !== undefined;
    const perElement = this.recipeBytes(map.element, accounted) * map.elements + this.recipeBytes(map.branch, accounted) * Math.max(0, map.elements - 1);
    let cached = 0;
    for (const sim of map.memAllocs) cached += sim.allocated * sim.objectBytes(accounted);
    return { elements: perElement + cached };
  }

  private mapBytes(map: ModelMap): { charged: number; uncharged: number } {
    let charged = 0;
    let uncharged = 0;
    for (const p of map.pieces) {
      if (p.receipt.objcg) charged += p.bytes;
      else uncharged += p.bytes;
    }
    const { elements } = this.elementBytes(map);
    if (map.objcg) charged += elements;
    else uncharged += elements;
    // The fds' struct files: charged to whoever holds them (nobody for a task in the root).
    for (const f of map.files.values()) {
      if (f.objcg) charged += chargeBytes(f.charge, this.profile.pageSize);
    }
    return { charged, uncharged };
  }

  private limitText(memcg: MemCgroup): string {
    const page = this.profile.pageSize;
    return `${memcg.path} is at ${formatBytes(memcg.usage * page)} of ${formatBytes(memcg.max * page)}`;
  }

  /** The lowest cgroup on the way up whose usage is above its `max` (after a forced charge). */
  private overLimit(memcg: MemCgroup): MemCgroup | undefined {
    for (let c: MemCgroup | undefined = memcg; c && !c.isRoot; c = c.parent) if (c.usage > c.max) return c;
    return undefined;
  }

  private cacheEmptyText(map: ModelMap, sim: MemAllocSim): string {
    const r = sim.lastRefusal;
    const where = r ? `${this.limitText(r.memcg)}; ` : '';
    return `${where}map "${map.name}" has no free ${sim.unit.what} object: refilling its bpf_mem_alloc cache (${formatBytes(sim.objectBytes(true))} per object, GFP_NOWAIT) failed`;
  }

  private tasksIn(memcg: MemCgroup): string[] {
    return [...this.tasks.values()].filter((t) => t.memcg === memcg).map((t) => t.name);
  }

  /** cgroup v2 "no internal processes": a task may not join a non-root cgroup that has children. */
  private checkPlacement(name: string, memcg: MemCgroup): Refusal | undefined {
    if (this.profile.cgroupVersion === 2 && !memcg.isRoot && memcg.children.size > 0) {
      return refuse(
        'EBUSY',
        `cannot put ${name} in ${memcg.path}: it has child cgroups, and cgroup v2 allows tasks only in leaves ("no internal processes")`,
      );
    }
    return undefined;
  }
}

/** A charge of `count` equal objects, made as one (objcg bytes add up the same way). */
function scale(charge: Charge, count: number): Charge {
  if (count === 1) return charge;
  return { ...charge, amount: charge.amount * count, ...(charge.overhead ? { overhead: charge.overhead * count } : {}) };
}


/** Whether a recipe takes and charges nothing. */
function isEmpty(recipe: Recipe): boolean {
  return recipe.sims.length === 0 && recipe.charges.length === 0;
}

/** Whether vm_area_alloc_pages() fills an area with high-order pages first (7.0+; see vmallocRefused). */
export function vmallocTriesHighOrders(profile: KernelProfile): boolean {
  return atLeast(profile.version, 7, 0);
}

/** Whether a value a JavaScript caller passed is an {@link UpdateContext}. */
function isUpdateContext(c: unknown): c is UpdateContext {
  return c === 'softirq' || c === 'irq' || (typeof c === 'object' && c !== null && typeof (c as { task?: unknown }).task === 'string');
}
