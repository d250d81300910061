import { constants } from 'node:fs';
import { mkdir, open, realpath, rmdir } from 'node:fs/promises';
import { posix } from 'node:path';
import { tasksInIt } from '../../vocab/cgroup-path.js';
import { BpfmemError } from '../../vocab/errors.js';
import { fail, isErrno, type Errno, type Failure } from '../../vocab/errno.js';
import type { CgroupVersion } from '../../vocab/profile.js';
import { formatBytes } from '../../vocab/units.js';
import { readMemoryHierarchy, type MemoryHierarchy } from './mount.js';
import type { CgroupCounters } from './parse.js';
import {
  readCgroupCounters,
  readCgroupFile,
  readCgroupProcs,
  readChildNames,
  readSubtreePostOrder,
} from './read.js';
import {
  checkPrefix,
  checkStaleTarget,
  checkWriteTarget,
  ownedRootName,
  parseOwnedRootName,
  parseRelPath,
} from './safety.js';
import { readProcCgroup } from '../proc/procfs.js';
import { errnoCode } from '../proc/text.js';
import { release } from 'node:os';
import { atLeast, parseKernelVersion } from '../../vocab/kernel-version.js';

/** The outcome of a cgroup write the kernel may refuse: done, or the errno with a reason. */
export type WriteResult = { readonly ok: true } | Failure;

const DONE: WriteResult = { ok: true };

/**
 * On cgroup v2, the leaf below the owned root that holds the tasks a caller puts in `/`. The
 * owned root has `+memory` in its `cgroup.subtree_control` (its children need `memory.*`), and
 * v2 then allows no process in it (kernel/cgroup/cgroup.c `cgroup_migrate_vet_dst`: EBUSY for a
 * non-root cgroup with `subtree_control`). Only the real root cgroup is exempt, which is what a
 * model's `/` is; this leaf stands in for it: its charges count in the owned root's
 * `memory.current` as the root's own. The name has characters a caller's path cannot have
 * (`parseRelPath`), so it never clashes with a cgroup a scenario makes.
 */
export const V2_ROOT_TASKS = '(root tasks)';

/** Whether a process exists (a zombie counts); `kill(pid, 0)` answers EPERM for other users' processes. */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errnoCode(error) === 'EPERM';
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** How long a cgroup's usage must stay unchanged after a drain before it is taken as drained. */
const SETTLE_QUIET_MS = 100;
/** How long to wait at most for it. */
const SETTLE_LIMIT_MS = 2000;
/** The most drains {@link CgroupFs.drainStock} makes of one cgroup. */
const DRAIN_ROUNDS = 4;

/**
 * Waits until a usage file of `dir` has not moved for {@link SETTLE_QUIET_MS}, or
 * {@link SETTLE_LIMIT_MS} passed. `drain_all_stock()` (mm/memcontrol.c) drains the writer's CPU
 * at once but every other CPU's stock from a work item (`schedule_work_on()`), and skips a CPU
 * whose earlier drain work is still queued (`FLUSHING_CACHED_CHARGE`): nothing says when those
 * have run but the usage falling. A single quiet 5 ms was not enough: in a CI run on 6.16.12
 * (two TCG guests at once on a 2-CPU host) a boundary probe read a base of 245,760 bytes twice in
 * a row where the probes after it read 24,576, and the kernel then created a map that only fit
 * without those 54 pages (`drain_all_stock()` before a charge fails at `max` found them).
 */
async function settled(dir: string, file: string): Promise<void> {
  const read = async (): Promise<number> => Number((await readCgroupFile(dir, file))?.trim());
  const started = Date.now();
  let last = await read();
  let quietSince = Date.now();
  while (Date.now() - quietSince < SETTLE_QUIET_MS && Date.now() - started < SETTLE_LIMIT_MS) {
    await sleep(5);
    const now = await read();
    if (now !== last) {
      last = now;
      quietSince = Date.now();
    }
  }
}

/**
 * Memory cgroups bpfmem creates, changes and removes, on cgroup v1 or v2.
 *
 * Every write goes to a directory strictly below an **owned root**: a child of this process's own
 * memory cgroup named `bpfmem-<prefix>-<pid>-<random>`, made by {@link createOwnedRoot}. Paths
 * are relative to the owned root (`/pods/agent`, `/` being the owned root itself) and must be
 * normalized; anything else throws a `BpfmemError` (code `usage`) naming the path, before any
 * I/O. Four writes outside that rule exist, each checked on its own: the owned root's own mkdir,
 * rmdir, (v2) `cgroup.subtree_control` and `cgroup.procs` (a scenario's tasks in `/`, v1 only in
 * practice: v2 allows no process beside child cgroups); moving a task of the owned subtree back to the own
 * cgroup ({@link moveTaskHome}); and removing stale owned roots of dead processes
 * ({@link cleanStale}). Only tasks already in the own cgroup or the owned subtree may be moved.
 *
 * Kernel refusals (EBUSY, ENOMEM, ESRCH, …) come back as `{ ok: false, errno, reason }` with the
 * reason explained; other I/O failures throw a `BpfmemError` (code `system`).
 */
export class CgroupFs {
  #ownedRoot: string | undefined;

  constructor(readonly hierarchy: MemoryHierarchy) {}

  /** A `CgroupFs` on this process's memory hierarchy; throws when there is none. */
  static async open(): Promise<CgroupFs> {
    const found = await readMemoryHierarchy();
    if (!found.ok) throw new BpfmemError('system', `no memory cgroup to work in: ${found.reason}`);
    return new CgroupFs(found.hierarchy);
  }

  get version(): CgroupVersion {
    return this.hierarchy.version;
  }

  /** The owned root's absolute directory, while there is one. */
  get ownedRoot(): string | undefined {
    return this.#ownedRoot;
  }

  /**
   * The absolute directory of a path relative to the owned root. Throws a `BpfmemError` (code
   * `usage`) when there is no owned root or the path breaks the rules (`cgroupfs-safety.ts`).
   */
  dirOf(path: string): string {
    const root = this.#ownedRoot;
    if (root === undefined) throw new BpfmemError('usage', `cgroup path ${JSON.stringify(path)}: no owned root (call createOwnedRoot first)`);
    const names = parseRelPath(path);
    if (!names.ok) throw new BpfmemError('usage', names.error);
    return names.value.length === 0 ? root : `${root}/${names.value.join('/')}`;
  }

  // ---------------------------------------------------------------------------------------------
  // reads (anywhere in the owned subtree; cgroupfs-read.ts reads any directory)

  /**
   * The counters of a cgroup of the owned subtree. On v2 `memory.stat` (where `kernel`, `slab`,
   * `percpu` and `vmalloc` are read) is rstat-based and flushed lazily: 6.1 flushes on a read only
   * past a global threshold of updates (mm/memcontrol.c `mem_cgroup_flush_stats()`), 6.12 and
   * later past `MEMCG_CHARGE_BATCH` × online CPUs updates in that memcg's subtree
   * (`memcg_vmstats_needs_flush()`; an update anywhere below counts for every ancestor), and
   * otherwise every 2 s (`flush_memcg_stats_dwork`); measured in the kernel lab, a small map's
   * creation showed as 0 bytes of `kernel`.
   * - Before 6.16, reading the cgroup's `cpu.stat` first flushes its whole subtree, memory
   *   included (kernel/cgroup/rstat.c `cgroup_base_stat_cputime_show()` →
   *   `cgroup_rstat_flush_hold()`, which called every controller's `css_rstat_flush`), so the
   *   numbers are exact at the time of the read.
   * - 6.16 gave each controller its own rstat tree ("cgroup: separate rstat trees per
   *   subsystem"): `cpu.stat` flushes only the base stats, and no read forces a memory flush
   *   (7.2's memcontrol.c forces one only when reparenting v1 state and for zswap limits). There a
   *   read is exact only after more than the threshold of updates in the subtree, which the live
   *   backend makes happen before it reads ({@link statsFlushOnlyByThreshold}; src/live/backend.ts
   *   `flushMemoryStats()`). `memory.current` is a page counter, always exact, but holds the task's
   *   own heap (stale in `anon`) and the charge stocks. Measured on this 6.18.44 host (v1, whose
   *   `memory.stat` flushes the same way), lpm_trie k8 v8 + 1,000 inserts: `kmem` +147,456 bytes
   *   three times, `usage` less `rss` +106,496 to +184,320 (the worker's heap, `rss` read stale).
   */
  async readCounters(path: string): Promise<CgroupCounters> {
    const dir = this.dirOf(path);
    if (this.version === 2 && !statsFlushOnlyByThreshold()) await readCgroupFile(dir, 'cpu.stat');
    return readCgroupCounters(this.version, dir);
  }

  /** The child cgroups of a cgroup, as paths relative to the owned root (`/pods/agent`). */
  async listChildren(path: string): Promise<string[]> {
    const names = await readChildNames(this.dirOf(path));
    return names.map((n) => `${path === '/' ? '' : path}/${n}`);
  }

  /** The processes in a cgroup itself (`cgroup.procs`). */
  async listTasks(path: string): Promise<number[]> {
    return readCgroupProcs(this.dirOf(path));
  }

  // ---------------------------------------------------------------------------------------------
  // the owned root

  /**
   * Creates the owned root, `<own cgroup>/bpfmem-<prefix>-<pid>-<random>`, and returns its
   * directory. On v2 it also writes `+memory` to its `cgroup.subtree_control`, so its children
   * get `memory.*` files; that needs `memory` in its `cgroup.controllers`, i.e. the own cgroup
   * delegating memory, and is explained when it does not.
   */
  async createOwnedRoot(prefix: string): Promise<string> {
    if (this.#ownedRoot !== undefined) throw new BpfmemError('usage', `an owned root exists already: ${this.#ownedRoot}`);
    const bad = checkPrefix(prefix);
    if (bad) throw new BpfmemError('usage', bad);
    // node:crypto only here: loaded at the top, it cost every run that reads cgroups 2.9 ms.
    const { randomBytes } = process.getBuiltinModule('node:crypto');
    const name = ownedRootName(prefix, process.pid, randomBytes(4).toString('hex'));
    const dir = `${this.hierarchy.ownDir}/${name}`;
    // The one mkdir outside the owned root: exactly this new name, directly in the own cgroup.
    if (posix.dirname(dir) !== this.hierarchy.ownDir || parseOwnedRootName(posix.basename(dir)) === undefined) {
      throw new BpfmemError('usage', `refusing to create ${dir}: not an owned-root name in ${this.hierarchy.ownDir}`);
    }
    try {
      await this.#sameRealPath(this.hierarchy.ownDir);
      await mkdir(dir);
    } catch (error) {
      if (error instanceof BpfmemError) throw error;
      throw new BpfmemError('system', `creating the owned root ${dir}: ${errnoCode(error) ?? String(error)}`, { cause: error });
    }
    this.#ownedRoot = dir;
    try {
      if (this.version === 1) {
        if ((await readCgroupFile(dir, 'memory.limit_in_bytes')) === undefined) {
          throw new BpfmemError('system', `${dir} has no memory.limit_in_bytes: the v1 memory hierarchy does not look like one`);
        }
      } else {
        const controllers = ((await readCgroupFile(dir, 'cgroup.controllers')) ?? '').trim().split(/\s+/);
        if (!controllers.includes('memory')) {
          throw new BpfmemError(
            'system',
            `cgroup v2: ${this.hierarchy.ownPath} does not delegate the memory controller to its children (no "memory" in its cgroup.subtree_control). ` +
              'Enabling it there needs that cgroup to hold no process ("no internal processes"), and bpfmem never writes outside what it creates: ' +
              'run bpfmem from a cgroup that delegates memory (e.g. a systemd unit with Delegate=yes whose processes sit in a leaf child)',
          );
        }
        // The owned root's own cgroup.subtree_control: the one file of the owned root itself that is written.
        await this.#writeRaw(dir, 'cgroup.subtree_control', '+memory');
        await mkdir(`${dir}/${V2_ROOT_TASKS}`);
      }
    } catch (error) {
      await rmdir(dir).catch(() => undefined);
      this.#ownedRoot = undefined;
      if (error instanceof BpfmemError) throw error;
      throw new BpfmemError('system', `setting up the owned root ${dir}: ${errnoCode(error) ?? String(error)}`, { cause: error });
    }
    return dir;
  }

  /**
   * Removes the owned root and everything below it, children first. Tasks still in the subtree
   * (ours: nothing else may be moved in) are first moved back to the own cgroup. A cgroup that
   * stays busy is retried for a second, then reported. Does nothing without an owned root.
   */
  async removeOwnedRoot(): Promise<void> {
    const root = this.#ownedRoot;
    if (root === undefined) return;
    await this.#removeTree(root, (dir) => (dir === root ? undefined : checkWriteTarget(root, dir)));
    this.#ownedRoot = undefined;
  }

  /**
   * Removes leftovers of crashed runs: directories `bpfmem-<prefix>-<pid>-*` directly in the own
   * cgroup whose `<pid>` is not a live process (and never this instance's owned root), subtree
   * and all, moving any task in them back to the own cgroup first. Returns the names removed.
   */
  async cleanStale(prefix: string): Promise<string[]> {
    const bad = checkPrefix(prefix);
    if (bad) throw new BpfmemError('usage', bad);
    const own = this.hierarchy.ownDir;
    const removed: string[] = [];
    for (const name of await readChildNames(own)) {
      const parsed = parseOwnedRootName(name);
      if (!parsed || parsed.prefix !== prefix || isProcessAlive(parsed.pid)) continue;
      const dir = `${own}/${name}`;
      if (dir === this.#ownedRoot) continue;
      await this.#removeTree(dir, (d) => checkStaleTarget(own, prefix, d, isProcessAlive));
      removed.push(name);
    }
    return removed;
  }

  // ---------------------------------------------------------------------------------------------
  // writes strictly below the owned root

  /**
   * mkdir of a cgroup below the owned root (its parent must exist). On v2 the parent's
   * `cgroup.subtree_control` gets `+memory` first, which the kernel refuses (EBUSY) while the
   * parent holds tasks: cgroup v2's "no internal processes" rule.
   */
  async create(path: string): Promise<WriteResult> {
    const dir = this.#below(path, 'create');
    const parent = posix.dirname(dir);
    if (this.version === 2 && parent !== this.#ownedRoot) {
      const control = await readCgroupFile(parent, 'cgroup.subtree_control');
      if (control === undefined) return fail('ENOENT', `cannot create ${path}: its parent ${posix.dirname(path)} does not exist`);
      if (!control.trim().split(/\s+/).includes('memory')) {
        try {
          await this.#write(parent, 'cgroup.subtree_control', '+memory');
        } catch (error) {
          return this.#refusal(error, `cannot enable the memory controller below ${posix.dirname(path)}`, async (errno) =>
            errno === 'EBUSY' ? await this.#internalProcesses(parent, posix.dirname(path)) : undefined,
          );
        }
      }
    }
    try {
      await this.#sameRealPath(parent);
      await mkdir(dir);
    } catch (error) {
      return this.#refusal(error, `cannot create ${path}`, (errno) =>
        errno === 'ENOENT' ? `its parent ${posix.dirname(path)} does not exist` : errno === 'EEXIST' ? 'it exists already' : undefined,
      );
    }
    return DONE;
  }

  /** rmdir of a cgroup below the owned root. EBUSY says what is still in it. */
  async remove(path: string): Promise<WriteResult> {
    const dir = this.#below(path, 'remove');
    try {
      await this.#sameRealPath(dir);
      await rmdir(dir);
    } catch (error) {
      return this.#refusal(error, `cannot remove ${path}`, async (errno) => {
        if (errno === 'ENOENT') return 'it does not exist';
        if (errno !== 'EBUSY') return undefined;
        const children = await readChildNames(dir).catch(() => []);
        if (children.length > 0) return `it has child cgroups (${children.join(', ')})`;
        const tasks = await readCgroupProcs(dir).catch(() => []);
        if (tasks.length > 0) return tasksInIt(tasks);
        return 'the kernel says it is busy';
      });
    }
    return DONE;
  }

  /**
   * Sets the hard limit: v1 `memory.limit_in_bytes` (`-1` for none), v2 `memory.max` (`max`).
   * The kernel keeps whole pages. v1 refuses (EBUSY) a limit below usage that reclaim cannot
   * reach, which is always the case for BPF memory; v2 accepts it, reclaims, then OOM-kills.
   */
  async setMax(path: string, bytes: number): Promise<WriteResult> {
    const dir = this.#below(path, 'set the limit of');
    const value = this.#limitText(bytes, 'memory limit');
    const file = this.version === 1 ? 'memory.limit_in_bytes' : 'memory.max';
    try {
      await this.#write(dir, file, value === 'max' && this.version === 1 ? '-1' : value);
    } catch (error) {
      return this.#refusal(error, `cannot set ${file} of ${path} to ${formatBytes(bytes)}`, async (errno) => {
        if (errno === 'EBUSY' && this.version === 1) {
          const usage = await readCgroupFile(dir, 'memory.usage_in_bytes');
          return `it uses ${usage === undefined ? 'more' : formatBytes(Number(usage.trim()))}; cgroup v1 refuses a limit that reclaim cannot bring usage under, and kernel memory such as BPF maps is not reclaimable`;
        }
        if (errno === 'EINVAL' && this.version === 1) return 'memory.limit_in_bytes may not exceed memory.memsw.limit_in_bytes';
        return undefined;
      });
    }
    return DONE;
  }

  /** Sets v2 `memory.high` (`max` for none). On v1 there is no such file: an EINVAL refusal. */
  async setHigh(path: string, bytes: number): Promise<WriteResult> {
    const dir = this.#below(path, 'set memory.high of');
    const value = this.#limitText(bytes, 'memory.high');
    if (this.version === 1) {
      return fail('EINVAL', `memory.high is a cgroup v2 file; ${path} is on cgroup v1, whose only limit is memory.limit_in_bytes`);
    }
    try {
      await this.#write(dir, 'memory.high', value);
    } catch (error) {
      return this.#refusal(error, `cannot set memory.high of ${path}`, () => undefined);
    }
    return DONE;
  }

  /**
   * Returns the per-CPU charge stocks of a cgroup to its page counters, so that its usage is
   * what is charged for real (mm/memcontrol.c `drain_all_stock()`: every CPU's page stock and
   * object stock cached for the cgroup or a descendant).
   * - v1: a write to `memory.force_empty` (`mem_cgroup_force_empty()` drains every CPU's stock,
   *   then reclaims what it can: page cache, not BPF or anonymous memory without swap).
   * - v2 has no such file. `memory_high_write()` drains the stocks once when usage is above the
   *   new `memory.high` (6.1 and 6.12: the `if (!drained)` step of its loop), before it reclaims;
   *   so `memory.high` is set one byte (so one whole page) below usage and then put back. When the stock held a
   *   page the loop ends there; otherwise reclaim finds nothing to take from a cgroup of BPF and
   *   anonymous memory (no swap in the lab) and gives up after `MAX_RECLAIM_RETRIES`. The cgroup's
   *   tasks must be idle meanwhile (a task charging above `memory.high` would be throttled).
   *
   * A drain may do nothing: `drain_all_stock()` returns at once when another drain of any cgroup
   * holds `percpu_charge_mutex` (`if (!mutex_trylock(&percpu_charge_mutex)) return;`), and
   * removing a cgroup drains from a work item (`mem_cgroup_css_offline()`), so the removal of the
   * cgroup before this one can overlap this drain. So it drains until a drain after the first
   * leaves the usage where it was, at most {@link DRAIN_ROUNDS} times. Measured in a CI run on
   * 6.12.118 (two TCG guests at once): a boundary probe read a base of 245,760 bytes, and 262,144
   * in its retry, where the probes before it read 20,480, and the kernel then created a map that
   * fit only without those 60 and 64 pages: one charge batch (`MEMCG_CHARGE_BATCH`) of stock.
   */
  async drainStock(path: string): Promise<WriteResult> {
    const dir = this.#below(path, 'drain the charge stock of');
    const file = this.version === 2 ? 'memory.current' : 'memory.usage_in_bytes';
    let last: number | undefined;
    for (let round = 0; round < DRAIN_ROUNDS; round++) {
      const r = this.version === 2 ? await this.#drainStockV2(path, dir) : await this.#drainStockV1(path, dir);
      if (!r.ok) return r;
      const usage = Number((await readCgroupFile(dir, file))?.trim());
      if (usage === last) break;
      last = usage;
    }
    return DONE;
  }

  async #drainStockV1(path: string, dir: string): Promise<WriteResult> {
    try {
      await this.#write(dir, 'memory.force_empty', '0');
    } catch (error) {
      return this.#refusal(error, `cannot drain the charge stock of ${path}`, () => undefined);
    }
    await settled(dir, 'memory.usage_in_bytes');
    return DONE;
  }

  async #drainStockV2(path: string, dir: string): Promise<WriteResult> {
    const [current, high] = await Promise.all([readCgroupFile(dir, 'memory.current'), readCgroupFile(dir, 'memory.high')]);
    if (current === undefined || high === undefined) return fail('ENOENT', `cannot drain the charge stock of ${path}: it has no memory.current or memory.high`);
    const usage = Number(current.trim());
    if (!Number.isSafeInteger(usage) || usage <= 0) return DONE;
    try {
      // page_counter_memparse() keeps whole pages, rounding down: one page below usage.
      await this.#write(dir, 'memory.high', String(usage - 1));
    } catch (error) {
      return await this.#refusal(error, `cannot drain the charge stock of ${path} (memory.high)`, () => undefined);
    } finally {
      await this.#write(dir, 'memory.high', high.trim()).catch(() => undefined);
    }
    await settled(dir, 'memory.current');
    return DONE;
  }

  /**
   * Moves a process (all its threads) into a cgroup below the owned root by writing its pid to
   * `cgroup.procs`. Only a process already in this process's own memory cgroup or in the owned
   * subtree may be moved (bpfmem moves its own workers, never another program's process).
   * Charges made before the move stay where they were (no `move_charge_at_immigrate`).
   */
  async moveTask(path: string, pid: number): Promise<WriteResult> {
    // The owned root itself may hold tasks too (a scenario's `/`): it is ours, like its children.
    // On v2 they go to its leaf V2_ROOT_TASKS ("no internal processes").
    const root = this.#ownedRoot;
    const dir = path === '/' && root !== undefined ? (this.version === 2 ? `${root}/${V2_ROOT_TASKS}` : root) : this.#below(path, 'move a task into');
    this.#checkPid(pid);
    const where = await this.#memoryCgroupOf(pid);
    if (where === undefined) return fail('ESRCH', `cannot move process ${pid} to ${path}: it does not exist`);
    if (!where.ours) {
      throw new BpfmemError('usage', `refusing to move process ${pid}: it is in memory cgroup ${where.path}, not in this process's own cgroup or the owned root`);
    }
    try {
      if (dir === this.#ownedRoot) await this.#writeRaw(dir, 'cgroup.procs', String(pid));
      else await this.#write(dir, 'cgroup.procs', String(pid));
    } catch (error) {
      return this.#refusal(error, `cannot move process ${pid} to ${path}`, async (errno) => {
        if (errno === 'ESRCH') return 'it exited';
        if (errno === 'EBUSY' && this.version === 2) {
          return `cgroup v2 allows no process in a cgroup whose children have the memory controller ("no internal processes"); ${path} has child cgroups (${(await readChildNames(dir).catch(() => [])).join(', ')}), so use a leaf`;
        }
        return undefined;
      });
    }
    return DONE;
  }

  /**
   * Moves a process of the owned subtree back to this process's own memory cgroup (where it was
   * before bpfmem moved it). Refused for a process outside the owned subtree.
   */
  async moveTaskHome(pid: number): Promise<WriteResult> {
    this.#checkPid(pid);
    const where = await this.#memoryCgroupOf(pid);
    if (where === undefined) return fail('ESRCH', `cannot move process ${pid} home: it does not exist`);
    if (!where.inOwnedRoot) {
      throw new BpfmemError('usage', `refusing to move process ${pid} to ${this.hierarchy.ownPath}: it is in ${where.path}, not in the owned root`);
    }
    try {
      await this.#moveHomeRaw(pid);
    } catch (error) {
      return this.#refusal(error, `cannot move process ${pid} back to ${this.hierarchy.ownPath}`, (errno) =>
        errno === 'ESRCH' ? 'it exited' : undefined,
      );
    }
    return DONE;
  }

  // ---------------------------------------------------------------------------------------------
  // internals

  /** The directory of a path strictly below the owned root, or a thrown refusal. */
  #below(path: string, doing: string): string {
    const dir = this.dirOf(path);
    const why = checkWriteTarget(this.#ownedRoot, dir);
    if (why !== undefined) {
      throw new BpfmemError('usage', dir === this.#ownedRoot ? `refusing to ${doing} ${JSON.stringify(path)}: it is the owned root itself; write below it` : why);
    }
    return dir;
  }

  #checkPid(pid: number): void {
    if (!Number.isSafeInteger(pid) || pid <= 0) throw new BpfmemError('usage', `process id ${String(pid)} is not a positive integer`);
  }

  #limitText(bytes: number, what: string): string {
    if (bytes === Number.POSITIVE_INFINITY) return 'max';
    if (!Number.isSafeInteger(bytes) || bytes < 0) {
      throw new BpfmemError('usage', `${what} ${String(bytes)} is not a whole number of bytes or Infinity`);
    }
    return String(bytes);
  }

  /** Where a process's memory cgroup is, and whether it is ours to move. Undefined if it is gone. */
  async #memoryCgroupOf(pid: number): Promise<{ path: string; ours: boolean; inOwnedRoot: boolean } | undefined> {
    const entries = await readProcCgroup(pid);
    if (entries === undefined) return undefined;
    const entry =
      this.version === 1
        ? entries.find((e) => e.hierarchyId !== 0 && e.controllers.includes('memory'))
        : entries.find((e) => e.hierarchyId === 0);
    if (entry === undefined) return { path: '(none)', ours: false, inOwnedRoot: false };
    const own = this.hierarchy.ownPath;
    const root = this.#ownedRoot === undefined ? undefined : `${own === '/' ? '' : own}/${posix.basename(this.#ownedRoot)}`;
    const inOwnedRoot = root !== undefined && (entry.path === root || entry.path.startsWith(`${root}/`));
    return { path: entry.path, ours: entry.path === own || inOwnedRoot, inOwnedRoot };
  }

  /**
   * Removes a subtree children first, moving its tasks home first; `check` must allow every
   * directory (it returns a refusal message otherwise).
   */
  async #removeTree(top: string, check: (dir: string) => string | undefined): Promise<void> {
    let dirs: string[];
    try {
      dirs = await readSubtreePostOrder(top);
    } catch (error) {
      if (error instanceof BpfmemError && errnoCode(error.cause) === 'ENOENT') return;
      throw error;
    }
    for (const dir of dirs) {
      const why = check(dir);
      if (why !== undefined) throw new BpfmemError('usage', why);
    }
    let remaining = dirs;
    let lastError = '';
    for (let attempt = 0; attempt < 20 && remaining.length > 0; attempt++) {
      if (attempt > 0) {
        await sleep(50);
        // A directory made meanwhile (by work still finishing as we clean up) goes too.
        const now = await readSubtreePostOrder(top).catch(() => remaining);
        remaining = now.filter((dir) => check(dir) === undefined);
      }
      for (const dir of remaining) {
        const pids = await readCgroupProcs(dir).catch(() => []);
        for (const pid of pids) await this.#moveHomeRaw(pid).catch(() => undefined);
      }
      const left: string[] = [];
      for (const dir of remaining) {
        try {
          await this.#sameRealPath(dir);
          await rmdir(dir);
        } catch (error) {
          const code = errnoCode(error);
          if (code === 'ENOENT') continue;
          lastError = `${dir}: ${code ?? String(error)}`;
          left.push(dir);
        }
      }
      remaining = left;
    }
    if (remaining.length > 0) {
      throw new BpfmemError('system', `could not remove ${remaining.join(', ')} (last error ${lastError})`);
    }
  }

  /** Writes a pid to the own cgroup's `cgroup.procs`: only for processes found in owned directories. */
  async #moveHomeRaw(pid: number): Promise<void> {
    await this.#writeRaw(this.hierarchy.ownDir, 'cgroup.procs', String(pid));
  }

  /** A checked write: the directory must be strictly below the owned root. */
  async #write(dir: string, file: string, data: string): Promise<void> {
    const why = checkWriteTarget(this.#ownedRoot, dir);
    if (why !== undefined) throw new BpfmemError('usage', why);
    await this.#writeRaw(dir, file, data);
  }

  /** One write(2) of `data` to an existing cgroup file (no O_CREAT, no O_TRUNC). Callers check `dir`. */
  async #writeRaw(dir: string, file: string, data: string): Promise<void> {
    await this.#sameRealPath(dir);
    const handle = await open(`${dir}/${file}`, constants.O_WRONLY);
    try {
      await handle.write(data);
    } finally {
      await handle.close();
    }
  }

  /** Refuses a directory reached through a symlink (cgroupfs has none; a path that does is not ours). */
  async #sameRealPath(dir: string): Promise<void> {
    let real: string;
    try {
      real = await realpath(dir);
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') throw error;
      throw new BpfmemError('system', `resolving ${dir}: ${errnoCode(error) ?? String(error)}`, { cause: error });
    }
    if (real !== dir) throw new BpfmemError('usage', `refusing to write ${dir}: it resolves to ${real}`);
  }

  /** Why v2 refused to enable memory below `dir`: the processes in it. */
  async #internalProcesses(dir: string, path: string): Promise<string> {
    const tasks = await readCgroupProcs(dir).catch(() => []);
    return `tasks ${tasks.join(', ') || '(unknown)'} are in ${path}, and cgroup v2 allows no process in a cgroup whose children have controllers ("no internal processes"); move them to a leaf first`;
  }

  /** A kernel refusal as a `Failure` with an explanation; anything else is rethrown as a `BpfmemError`. */
  async #refusal(error: unknown, doing: string, explain: (errno: Errno) => string | undefined | Promise<string | undefined>): Promise<Failure> {
    if (error instanceof BpfmemError) throw error;
    const code = errnoCode(error);
    if (code === undefined || !isErrno(code)) {
      throw new BpfmemError('system', `${doing}: ${code ?? String(error)}`, { cause: error });
    }
    const why = (await explain(code)) ?? (code === 'ENOENT' ? 'it does not exist' : code);
    return fail(code, `${doing}: ${why}`);
  }
}

/**
 * Whether this machine's kernel (6.16+) flushes memory statistics only past a threshold of
 * updates or every 2 s, with no read that forces it (see {@link CgroupFs.readCounters}).
 */
export function statsFlushOnlyByThreshold(kernelRelease: string = release()): boolean {
  const v = parseKernelVersion(kernelRelease);
  return v !== undefined && atLeast(v, 6, 16);
}
