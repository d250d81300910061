import { BpfmemError } from '../vocab/errors.js';
import { fdinfoMemlock, modelKnowsMemlock, NEEDS_MAP_EXTRA } from '../model/maps/memlock.js';
import { mapTypeById } from '../vocab/maptypes.js';
import type { KernelProfile } from '../vocab/profile.js';
import { hasErrno, mapGetNextId, type MapId } from '../sys/bpf/index.js';
import type { MemoryHierarchy } from '../sys/cgroup/mount.js';
import { readCgroupCountersIfPresent } from '../sys/cgroup/read.js';
import { scanHolders, type Holder as SysHolder } from '../sys/iter/holders.js';
import { describeMachine, profileOfMachine, withRunningKernelBtf } from './machine.js';
import { isUnavailable, MapIterator, readCgroupIds } from '../sys/iter/mapiter.js';
import { listMaps, listProgs, readMap, readMapMemlock, type MapObject } from '../sys/bpf/objects.js';
import { scanPins } from '../sys/bpf/pins.js';
import { readProcCgroup } from '../sys/proc/procfs.js';
import { specOf, type Holder, type InventoryInput, type RawCgroup, type RawMap, type RawProg } from '../vocab/inventory.js';

/**
 * Reads this machine into an {@link InventoryInput}: maps (with the cgroup each is charged to,
 * from bpfmem's map iterator), programs, holders, pins and the memory cgroup tree. Everything
 * that cannot be read becomes a note in `errors`, never a crash; objects and processes that
 * come and go during a scan are reported as seen.
 *
 * The map list comes from the iterator when it runs: one pass that names every map with its
 * layout and payer, where bpftool opens each map and reads its fdinfo. fdinfo `memlock` is read
 * only where the model cannot compute it from the layout (maps whose memory follows their
 * contents, and types whose layout needs `map_extra`), plus one map of each other layout as a
 * check of the model: a class whose check fails is read map by map and said in `errors`.
 */

/** What to read besides maps and programs (all by default). */
export interface CollectOptions {
  readonly holders?: boolean;
  readonly pins?: boolean;
  /** The memory cgroup tree's counters (`bpfmem cgroups`, the summary). */
  readonly cgroups?: boolean;
}

/** How many notes of one kind an inventory carries before it says "and N more". */
const MAX_NOTES = 5;

const layoutKey = (m: RawMap): string => `${m.type}/${m.keySize}/${m.valueSize}/${m.maxEntries}/${m.flags}/${m.mapExtra}`;

function rawMap(o: MapObject): RawMap {
  const i = o.info;
  return {
    id: i.id,
    type: i.type,
    name: i.name,
    keySize: i.keySize,
    valueSize: i.valueSize,
    maxEntries: i.maxEntries,
    flags: i.mapFlags,
    // map_extra is a u64; only its low bits mean anything to a layout (bloom hash count, arena address).
    mapExtra: Number(BigInt.asUintN(53, i.mapExtra)),
    ...(o.memlock !== undefined && { memlock: o.memlock }),
  };
}

/** The "needs root" line, said the same way by every command that reads the machine. */
export const NEEDS_ROOT =
  'reading the BPF objects of this machine needs root (CAP_SYS_ADMIN to walk map and program ids, CAP_BPF and CAP_PERFMON for the iterators); run it with sudo, or try `bpfmem demo`, which needs nothing';

/** Notes of one kind, at most {@link MAX_NOTES} and a count of the rest. */
function capped(notes: readonly string[]): string[] {
  if (notes.length <= MAX_NOTES) return [...notes];
  return [...notes.slice(0, MAX_NOTES), `and ${notes.length - MAX_NOTES} more like these`];
}

/**
 * A reader of this machine's BPF objects that keeps its map iterator loaded between scans
 * (`bpfmem top`, `bpfmem serve`). {@link close} releases it.
 */
export class Collector {
  private constructor(
    readonly profile: KernelProfile,
    /** Why the kernel charges as it does (live/machine.ts `regimeOf`). */
    readonly regimeReason: string,
    private readonly hierarchy: MemoryHierarchy | undefined,
    private readonly hierarchyMissing: string | undefined,
    private iterator: MapIterator | undefined,
    private readonly chargesUnavailable: string | undefined,
  ) {}

  /**
   * Describes the machine, checks that BPF objects can be listed, and loads the map iterator.
   * Throws a `BpfmemError` (`system`) with {@link NEEDS_ROOT} when ids cannot be walked.
   */
  static async open(): Promise<Collector> {
    const machine = await describeMachine();
    // The kernel's own struct sizes: the model's memlock of every map must be the kernel's.
    const profile = await withRunningKernelBtf(profileOfMachine(machine));
    try {
      mapGetNextId(0);
    } catch (error) {
      if (hasErrno(error, 'EPERM') || hasErrno(error, 'EACCES')) throw new BpfmemError('system', NEEDS_ROOT, { cause: error });
      throw new BpfmemError('system', `listing BPF maps: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    const hierarchy = machine.memory.ok ? machine.memory.hierarchy : undefined;
    const hierarchyMissing = machine.memory.ok ? undefined : machine.memory.reason;
    let iterator: MapIterator | undefined;
    let unavailable: string | undefined;
    if (profile.regime === 'memlock') {
      unavailable = `kernel ${profile.release} charges maps to their creator's RLIMIT_MEMLOCK, not to a memory cgroup`;
    } else if (profile.regime === 'none') {
      unavailable = machine.regimeReason;
    } else if (!hierarchy) {
      unavailable = `no memory cgroup hierarchy to name payers in: ${hierarchyMissing ?? ''}`;
    }
    const it = await MapIterator.open();
    if (isUnavailable(it)) unavailable ??= it.reason;
    else {
      iterator = it;
      unavailable ??= it.chargeUnknown;
    }
    return new Collector(profile, machine.regimeReason, hierarchy, hierarchyMissing, iterator, unavailable);
  }

  /** Reads the machine once. */
  async collect(options: CollectOptions = {}): Promise<InventoryInput> {
    const errors: string[] = [];
    const maps = this.readMaps(errors);
    const charges = maps.charges;
    const progs = listProgs()
      .filter((p) => p.info.id !== this.iterator?.progId) // bpfmem's own, not the machine's
      .map(
        (p): RawProg => ({
          id: p.info.id,
          type: p.info.typeName ?? `unknown(${p.info.type})`,
          name: p.info.name,
          tag: p.info.tag,
          memlock: p.memlock ?? 0,
          insns: p.info.xlatedProgLen / 8,
          loadTime: p.info.loadTime,
          uid: p.info.createdByUid,
        }),
      );
    const [cgroupPaths, holders, pins] = await Promise.all([
      this.hierarchy
        ? readCgroupIds(this.hierarchy).catch((e: unknown) => {
            note(errors, e);
            return undefined;
          })
        : undefined,
      options.holders === false ? undefined : this.readHolders(errors),
      options.pins === false ? undefined : scanPins().then(
        (s) => {
          errors.push(...capped(s.errors.map((e) => `pins: ${e}`)), ...s.cut.map((c) => `pins: ${c}`));
          return s.pins;
        },
        (e: unknown) => {
          note(errors, e);
          return undefined;
        },
      ),
    ]);
    const cgroups = options.cgroups === false || !this.hierarchy || !cgroupPaths ? undefined : await this.readCgroups(cgroupPaths, errors);
    if (this.hierarchyMissing && options.cgroups !== false) errors.push(`memory cgroups: ${this.hierarchyMissing}`);
    return {
      profile: this.profile,
      maps: maps.maps,
      progs,
      ...(charges && { charges }),
      ...(this.chargesUnavailable !== undefined && { chargesUnavailable: this.chargesUnavailable }),
      ...(cgroupPaths && { cgroupPaths }),
      ...(holders && { holders }),
      ...(pins && { pins }),
      ...(cgroups && { cgroups }),
      errors,
    };
  }

  /** Releases the map iterator. Idempotent. */
  close(): void {
    this.iterator?.close();
    this.iterator = undefined;
  }

  /** The maps, from the iterator where it runs, else by walking ids; fdinfo where needed. */
  private readMaps(errors: string[]): { maps: RawMap[]; charges: Map<number, bigint | null> | undefined } {
    let listed: RawMap[];
    let charges: Map<number, bigint | null> | undefined;
    const needsFdinfo = (type: number, flags: number): boolean => !modelKnowsMemlock(mapTypeById(type), flags);
    if (this.iterator) {
      const records = this.iterator.scan();
      charges = this.chargesUnavailable === undefined ? new Map(records.map((r) => [r.id, r.cgroupId])) : undefined;
      listed = [];
      for (const r of records) {
        const raw: RawMap = {
          id: r.id,
          type: r.type,
          name: r.name,
          keySize: r.keySize,
          valueSize: r.valueSize,
          maxEntries: r.maxEntries,
          flags: r.flags,
          mapExtra: 0,
        };
        if (!needsFdinfo(r.type, r.flags)) {
          listed.push(raw);
          continue;
        }
        const type = mapTypeById(r.type);
        if (type !== undefined && NEEDS_MAP_EXTRA.has(type)) {
          const o = readMap(r.id, true); // map_extra is in the info only
          if (o) listed.push(rawMap(o)); // else freed since the scan: it is gone
          continue;
        }
        const memlock = readMapMemlock(r.id);
        if (memlock !== null) listed.push(memlock === undefined ? raw : { ...raw, memlock });
      }
    } else {
      listed = listMaps((info) => needsFdinfo(info.type, info.mapFlags)).map(rawMap);
    }
    return { maps: this.checkModelMemlock(listed, errors), charges };
  }

  /**
   * One map of each layout whose memlock the model computes is read from fdinfo; a layout where
   * they differ is read map by map (and the difference is a note: a model bug to report).
   */
  private checkModelMemlock(maps: RawMap[], errors: string[]): RawMap[] {
    const verdict = new Map<string, boolean>();
    const wrong: string[] = [];
    return maps.flatMap((m): RawMap[] => {
      if (m.memlock !== undefined) return [m];
      const key = layoutKey(m);
      const ok = verdict.get(key);
      if (ok === true) return [m];
      const o = readMap(m.id as MapId, true);
      if (!o) return []; // freed since it was listed
      const read = rawMap(o);
      if (ok === undefined) {
        const spec = specOf(read);
        const model = spec ? fdinfoMemlock(spec, 0, this.profile) : undefined;
        const agrees = model === read.memlock;
        verdict.set(key, agrees);
        if (!agrees) {
          wrong.push(`${spec?.type ?? read.type} key ${read.keySize} value ${read.valueSize} max ${read.maxEntries}: fdinfo memlock ${read.memlock ?? '?'}, model ${model ?? '?'}`);
          if (wrong.length <= MAX_NOTES) errors.push(`model memlock differs from fdinfo for ${wrong.at(-1) ?? ''} (fdinfo used; please report)`);
        }
      }
      return [read];
    });
  }

  /** Holders with their memory cgroups. */
  private async readHolders(errors: string[]): Promise<InventoryInput['holders']> {
    let scan;
    try {
      scan = await scanHolders();
    } catch (error) {
      note(errors, error);
      return undefined;
    }
    if (scan.fallbackReason) errors.push(`holders read from /proc: ${scan.fallbackReason}`);
    errors.push(...capped(scan.errors.map((e) => `holders: ${e}`)));
    const pids = new Set<number>();
    for (const hs of [...scan.maps.values(), ...scan.progs.values()]) for (const h of hs) pids.add(h.pid);
    const cgroupOf = new Map<number, string>();
    await Promise.all(
      [...pids].map(async (pid) => {
        const path = await this.memoryCgroupOf(pid);
        if (path !== undefined) cgroupOf.set(pid, path);
      }),
    );
    const convert = (hs: readonly SysHolder[]): Holder[] =>
      hs.filter((h) => h.pid !== process.pid || scan.method !== 'iterator').map((h) => {
        const cgroup = cgroupOf.get(h.pid);
        return cgroup === undefined ? { pid: h.pid, comm: h.comm } : { pid: h.pid, comm: h.comm, cgroup };
      });
    const byId = <K extends number>(m: ReadonlyMap<K, readonly SysHolder[]>): Map<number, Holder[]> =>
      new Map([...m].map(([id, hs]) => [id as number, convert(hs)]));
    return { maps: byId(scan.maps), progs: byId(scan.progs) };
  }

  /** A process's memory cgroup path in this hierarchy; undefined when it exited or has none. */
  private async memoryCgroupOf(pid: number): Promise<string | undefined> {
    const entries = await readProcCgroup(pid).catch(() => undefined);
    if (!entries) return undefined;
    const version = this.hierarchy?.version ?? this.profile.cgroupVersion;
    const e = entries.find((x) => (version === 1 ? x.hierarchyId !== 0 && x.controllers.includes('memory') : x.hierarchyId === 0));
    return e && !e.deleted ? e.path : undefined;
  }

  /** Counters of every memory cgroup; one that vanishes meanwhile is left out. */
  private async readCgroups(paths: ReadonlyMap<bigint, string>, errors: string[]): Promise<RawCgroup[]> {
    const h = this.hierarchy;
    if (!h) return [];
    const failures: string[] = [];
    const out = await Promise.all(
      [...paths.values()].map(async (path): Promise<RawCgroup | undefined> => {
        const dir = path === '/' ? h.mountPoint : `${h.mountPoint}${path}`;
        try {
          const c = await readCgroupCountersIfPresent(h.version, dir);
          return c && { path, usage: c.usage, max: c.max, kernel: c.kernel };
        } catch (error) {
          failures.push(error instanceof Error ? error.message : String(error));
          return undefined;
        }
      }),
    );
    errors.push(...capped(failures));
    return out.filter((c): c is RawCgroup => c !== undefined);
  }
}

/** Records a failure as a one-line note. */
function note(errors: string[], error: unknown): void {
  errors.push(error instanceof Error ? error.message : String(error));
  return undefined;
}

/** Reads this machine once (opens and closes a {@link Collector}). */
export async function collectMachine(options: CollectOptions = {}): Promise<{ input: InventoryInput; regimeReason: string }> {
  const c = await Collector.open();
  try {
    return { input: await c.collect(options), regimeReason: c.regimeReason };
  } finally {
    c.close();
  }
}
