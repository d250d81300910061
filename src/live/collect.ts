import { stat } from 'node:fs/promises';
import { BpfmemError } from '../vocab/errors.js';
import { elementsFromMemlock, fdinfoMemlock, memlockDependsOnContents, NEEDS_MAP_EXTRA } from '../model/maps/memlock.js';
import { mapTypeById } from '../vocab/maptypes.js';
import type { KernelProfile } from '../vocab/profile.js';
import { hasErrno, mapGetNextId, mapId } from '../sys/bpf/index.js';
import type { MemoryHierarchy } from '../sys/cgroup/index.js';
import { freshenMemoryStats, readCgroupCountersIfPresent, statsFlushOnlyByThreshold } from '../sys/cgroup/index.js';
import { scanHolders, type Holder as SysHolder } from '../sys/iter/index.js';
import { describeMachine, profileOfMachine, withRunningKernelBtf } from './machine.js';
import { isUnavailable, MAP_RECORD, MapIterator, readCgroupIds } from '../sys/iter/index.js';
import { decodeMapRecord, type MapCharge } from '../sys/iter/index.js';
import { listMaps, progIds, readBtfFileSync, readMap, readMapMemlock, readProg, VMLINUX_BTF_PATH, type MapObject, type ProgObject } from '../sys/bpf/index.js';
import { kernelStructOpsById, type KernelStructOps } from '../elf/struct-ops.js';
import { MAP_FLAGS } from '../vocab/flags.js';
import { PinScanner } from '../sys/bpf/index.js';
import { readProcCgroup } from '../sys/proc/index.js';
import { specOf, type Holder, type InventoryInput, type RawCgroup, type RawMap, type RawProg } from '../vocab/inventory.js';

/**
 * Reads this machine into an {@link InventoryInput}: maps (with the cgroup each is charged to,
 * from bpfmem's map iterator), programs, holders, pins and the memory cgroup tree. Everything
 * that cannot be read becomes a note in `errors`, never a crash; objects and processes that
 * come and go during a scan are reported as seen.
 *
 * The map list comes from the iterator when it runs: one pass that names every map with its
 * layout, its payer and, where the kernel keeps a counter bpfmem can read, how many elements it
 * holds (src/sys/iter/mapiter-program.ts), where bpftool opens each map and reads its fdinfo.
 * fdinfo `memlock` is read only for maps whose memory follows contents the iterator could not
 * count (and types whose layout needs a `map_extra` the iterator did not give), plus one map of
 * each layout as a check of the model: a layout whose check fails is read map by map from then
 * on and said in `errors`.
 *
 * A {@link Collector} that scans again (`top`, `serve`) reuses what did not change: a map whose
 * iterator record is the same bytes as at the last scan is the same {@link RawMap} object (a
 * map's type, sizes, name and creator never change, and ids are not reused soon: the kernel
 * allocates them cyclically, kernel/bpf/syscall.c `bpf_map_alloc_id`), and so are holder lists
 * and pins that did not change, so that src/inspect/inventory.ts can reuse its entries in turn.
 */

/** What to read (all by default). */
export interface CollectOptions {
  /**
   * The maps (with the iterator {@link Collector.open} loads unless told not to). `bpfmem
   * progs` reads none: on a node with many maps, reading them took longer than listing the
   * programs (docs/performance.md, session 10).
   */
  readonly maps?: boolean;
  /** The programs: four system calls and an fdinfo read each. `bpfmem maps` reads none. */
  readonly progs?: boolean;
  readonly holders?: boolean;
  readonly pins?: boolean;
  /** The memory cgroup tree's counters (`bpfmem cgroups`, the summary). */
  readonly cgroups?: boolean;
}

/** How many notes of one kind an inventory carries before it says "and N more". */
const MAX_NOTES = 5;
/**
 * Layouts of one map type checked against fdinfo before the model is trusted with the rest of
 * that type: a machine whose maps all differ in `max_entries` would otherwise open every one.
 */
const CHECKS_PER_TYPE = 64;

const layoutKey = (m: RawMap): string => `${m.type}/${m.keySize}/${m.valueSize}/${m.maxEntries}/${m.flags}/${m.mapExtra}/${m.structOpsFuncs ?? ''}/${m.structOpsMembers ?? ''}`;

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

function rawProg(o: ProgObject): RawProg {
  const i = o.info;
  return {
    id: i.id,
    type: i.typeName ?? `unknown(${i.type})`,
    name: i.name,
    tag: i.tag,
    memlock: o.memlock ?? 0,
    insns: i.xlatedProgLen / 8,
    loadTime: i.loadTime,
    uid: i.createdByUid,
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

/** The last scan's records and the maps made of them, by position (undefined: not reusable). */
interface LastScan {
  readonly words: Uint32Array;
  readonly maps: readonly (RawMap | undefined)[];
}

/** Cgroup ids a collector interns before it starts over. */
const MAX_CGROUP_IDS = 16_384;

/** u32 words per iterator record. */
const WORDS = MAP_RECORD.size / 4;

/** Whether record `i` of `a` and record `j` of `b` are the same bytes. */
function sameRecord(a: Uint32Array, i: number, b: Uint32Array, j: number): boolean {
  for (let k = 0; k < WORDS; k++) if (a[i + k] !== b[j + k]) return false;
  return true;
}

/** Whether two lists hold the same elements (by reference), in order. */
function sameList<T>(a: readonly T[] | undefined, b: readonly T[]): boolean {
  if (a === undefined || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * A reader of this machine's BPF objects that keeps its map iterator loaded between scans
 * (`bpfmem top`, `bpfmem serve`) and reuses what did not change. {@link close} releases it.
 */
export class Collector {
  /** Layout → whether fdinfo agreed with the model (checked once per process). */
  private readonly verdicts = new Map<string, boolean>();
  /**
   * One bigint per memory cgroup id: a machine's maps are charged to a few hundred cgroups, and
   * a bigint per map is 24 bytes of heap (2.3 MiB at 100,000 maps, measured in a heap snapshot
   * of `bpfmem serve`). Emptied when it grows past {@link MAX_CGROUP_IDS} (cgroups come and go).
   */
  private readonly cgroupIds = new Map<bigint, bigint>();
  /** Layouts checked per map type. */
  private readonly checked = new Map<number, number>();
  /** The notes of layouts where the model and fdinfo disagreed, said at every scan. */
  private readonly wrongLayouts: string[] = [];
  private last: LastScan | undefined;
  /** Holder lists and holders of the last scan, reused when unchanged. */
  private lastHolders = { maps: new Map<number, readonly Holder[]>(), progs: new Map<number, readonly Holder[]>(), byPid: new Map<number, Holder>() };
  private readonly pins = new PinScanner();
  /** The programs of the last scan, by id, reused while they live. */
  private lastProgs = new Map<number, RawProg>();
  /** struct_ops value type id (kernel BTF) → its struct's functions and members; undefined: not a struct_ops value type. */
  private readonly structOps = new Map<number, KernelStructOps | undefined>();

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
   * Describes the machine, checks that BPF objects can be listed, and loads the map iterator
   * (unless `maps` is false: a collector that will read no maps, whose {@link collect} must
   * then be given `maps: false`). Throws a `BpfmemError` (`system`) with {@link NEEDS_ROOT}
   * when ids cannot be walked.
   */
  static async open(options: Pick<CollectOptions, 'maps'> = {}): Promise<Collector> {
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
    if (options.maps !== false) {
      const it = await MapIterator.open();
      if (isUnavailable(it)) unavailable ??= it.reason;
      else {
        iterator = it;
        unavailable ??= it.chargeUnknown;
      }
    }
    return new Collector(profile, machine.regimeReason, hierarchy, hierarchyMissing, iterator, unavailable);
  }

  /** Reads the machine once. */
  async collect(options: CollectOptions = {}): Promise<InventoryInput> {
    const errors: string[] = [];
    const maps = options.maps === false ? [] : this.readMaps();
    const progs = options.progs === false ? [] : this.readProgs();
    // Cgroup paths name the payers of maps, and the cgroups whose counters are read.
    const wantPaths = options.maps !== false || options.cgroups !== false;
    const [cgroupPaths, holders, pins] = await Promise.all([
      this.hierarchy && wantPaths
        ? readCgroupIds(this.hierarchy).catch((e: unknown) => {
            note(errors, e);
            return undefined;
          })
        : undefined,
      options.holders === false ? undefined : this.readHolders(errors),
      options.pins === false ? undefined : this.scanPins(errors),
    ]);
    const h = this.hierarchy;
    const statsAge = options.cgroups === false || !h || !cgroupPaths ? undefined : await freshenMemoryStats(h.version, h.mountPoint, statsFlushOnlyByThreshold(this.profile.release));
    const cgroups = options.cgroups === false || !h || !cgroupPaths ? undefined : await this.readCgroups(cgroupPaths, errors);
    if (this.hierarchyMissing && options.cgroups !== false) errors.push(`memory cgroups: ${this.hierarchyMissing}`);
    errors.push(...capped(this.wrongLayouts));
    return {
      profile: this.profile,
      maps,
      progs,
      ...(this.chargesUnavailable !== undefined && { chargesUnavailable: this.chargesUnavailable }),
      ...(cgroupPaths && { cgroupPaths }),
      ...(holders && { holders }),
      ...(pins && { pins }),
      ...(cgroups && { cgroups }),
      ...(statsAge !== undefined && { statsAge }),
      errors,
    };
  }

  /**
   * `input` (read with `pins: false`) with the pins of this machine now, and their notes in its
   * errors: for a caller that learns from what it read whether it needs them (the summary).
   */
  async withPins(input: InventoryInput): Promise<InventoryInput> {
    const errors = [...(input.errors ?? [])];
    const pins = await this.scanPins(errors);
    return { ...input, ...(pins && { pins }), errors };
  }

  /** Every pin of every bpffs, by object; undefined (and a note) when they cannot be walked. */
  private scanPins(errors: string[]): Promise<InventoryInput['pins']> {
    return this.pins.scan().then(
      (s) => {
        errors.push(...capped(s.errors.map((e) => `pins: ${e}`)), ...s.cut.map((c) => `pins: ${c}`));
        return s.pins;
      },
      (e: unknown) => {
        note(errors, e);
        return undefined;
      },
    );
  }

  /**
   * Whether the memory cgroup `path` (from the hierarchy's root) exists: true or false, or
   * undefined where there is no memory hierarchy to look in.
   */
  async hasCgroup(path: string): Promise<boolean | undefined> {
    const h = this.hierarchy;
    if (!h) return undefined;
    try {
      return (await stat(path === '/' ? h.mountPoint : `${h.mountPoint}${path}`)).isDirectory();
    } catch {
      return false;
    }
  }

  /** Releases the map iterator. Idempotent. */
  close(): void {
    this.iterator?.close();
    this.iterator = undefined;
  }

  /** The maps, from the iterator where it runs, else by walking ids; fdinfo where needed. */
  private readMaps(): RawMap[] {
    const it = this.iterator;
    if (!it) {
      const out: RawMap[] = [];
      const listed = listMaps((info) => {
        const type = mapTypeById(info.type);
        return type === undefined || memlockDependsOnContents(type, info.mapFlags);
      });
      for (const o of listed) {
        const raw = rawMap(o);
        const m = mapTypeById(raw.type) === 'struct_ops' ? this.withStructOps(raw, o) : this.checked1(raw);
        if (m) out.push(m);
      }
      return out;
    }
    const bytes = it.scanBytes();
    const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const n = words.length / WORDS;
    const charged = this.chargesUnavailable === undefined;
    const hasMapExtra = it.layout.map.mapExtra !== undefined;
    const prev = this.last;
    const pw = prev?.words;
    const pn = pw ? pw.length / WORDS : 0;
    const pmaps = prev?.maps ?? [];
    const out: RawMap[] = [];
    const made: (RawMap | undefined)[] = new Array<RawMap | undefined>(n);
    for (let i = 0, j = 0; i < n; i++) {
      const at = i * WORDS;
      if (pw) {
        // Both scans are in id order: advance the last scan's cursor to this id.
        const id = words[at] ?? 0;
        while (j < pn && (pw[j * WORDS] ?? 0) < id) j++;
        const old = j < pn && pw[j * WORDS] === id && sameRecord(words, at, pw, j * WORDS) ? pmaps[j] : undefined;
        if (old) {
          out.push(old);
          made[i] = old;
          continue;
        }
      }
      const m = this.fromRecord(decodeMapRecord(bytes, view, at * 4, charged), hasMapExtra);
      if (!m) continue; // freed since the scan
      out.push(m.map);
      made[i] = m.reusable ? m.map : undefined;
    }
    this.last = { words, maps: made };
    return out;
  }

  /**
   * The programs, bpfmem's own iterator left out. A program read at the last scan is the same
   * {@link RawProg}, unread: nothing listed changes after a program is loaded (its info, and
   * `prog->pages`, fdinfo's memlock, which only the verifier grows), and ids are not reused soon
   * (kernel/bpf/syscall.c `bpf_prog_alloc_id`, cyclic). A scan then costs one
   * BPF_PROG_GET_NEXT_ID a program, not four system calls and an fdinfo read.
   */
  private readProgs(): RawProg[] {
    const out: RawProg[] = [];
    const seen = new Map<number, RawProg>();
    for (const id of progIds()) {
      if (id === this.iterator?.progId) continue; // bpfmem's own, not the machine's
      const known = this.lastProgs.get(id);
      const read = known === undefined ? readProg(id) : undefined;
      const p = known ?? (read && rawProg(read));
      if (!p) continue; // freed since its id was seen
      out.push(p);
      // One whose fdinfo could not be read is read again at the next scan.
      if (known || read?.memlock !== undefined) seen.set(id, p);
    }
    this.lastProgs = seen;
    return out;
  }

  /** The one bigint of a cgroup id (null as it is). */
  private internCgroupId(id: bigint | null): bigint | null {
    if (typeof id !== 'bigint') return id;
    const known = this.cgroupIds.get(id);
    if (known !== undefined) return known;
    if (this.cgroupIds.size >= MAX_CGROUP_IDS) this.cgroupIds.clear();
    this.cgroupIds.set(id, id);
    return id;
  }

  /**
   * A map of the iterator, with its fdinfo `memlock` where the model cannot compute it;
   * undefined when it was freed meanwhile. `reusable`: the same record means the same map
   * (its memlock does not follow contents the record does not count).
   */
  private fromRecord(r: MapCharge, hasMapExtra: boolean): { map: RawMap; reusable: boolean } | undefined {
    const type = mapTypeById(r.type);
    const cgroupId = this.internCgroupId(r.cgroupId);
    const base: RawMap = {
      id: r.id,
      type: r.type,
      name: r.name,
      keySize: r.keySize,
      valueSize: r.valueSize,
      maxEntries: r.maxEntries,
      flags: r.flags,
      mapExtra: r.mapExtra,
      cgroupId,
    };
    if (type !== undefined && NEEDS_MAP_EXTRA.has(type) && !hasMapExtra) {
      const o = readMap(r.id, true); // map_extra is in the info only
      return o && { map: { ...rawMap(o), cgroupId }, reusable: true };
    }
    if (type === 'struct_ops') {
      // The kernel value type is in the info only (btf_vmlinux_value_type_id); a map's does not change.
      const o = readMap(r.id, true);
      const map = o && this.withStructOps({ ...rawMap(o), cgroupId }, o);
      return map && { map, reusable: true };
    }
    const contents = type !== undefined && memlockDependsOnContents(type, r.flags);
    if (type === undefined || (contents && r.elements === undefined)) {
      // A type bpfmem does not model, or contents the iterator did not count: fdinfo, every scan.
      const memlock = readMapMemlock(r.id);
      if (memlock === null) return undefined;
      return { map: memlock === undefined ? base : { ...base, memlock }, reusable: false };
    }
    const map = this.checked1(contents && r.elements !== undefined ? { ...base, elements: r.elements } : base);
    return map && { map, reusable: this.verdicts.get(layoutKey(map)) !== false };
  }

  /**
   * A struct_ops map with the function pointers and members of its kernel struct, which its memory counts
   * (src/model/maps/struct_ops.ts): read from the kernel's BTF by the map's
   * `btf_vmlinux_value_type_id`, once per value type (the BTF is parsed then dropped: struct_ops
   * maps are few, and serve should not hold 5 MB of types for them). A value type from a module's
   * BTF (`BPF_F_VTYPE_BTF_OBJ_FD`), or one the kernel's BTF does not name, leaves the model
   * without it: fdinfo's memlock, read map by map. Undefined when the map was freed meanwhile.
   */
  private withStructOps(m: RawMap, o: MapObject): RawMap | undefined {
    const id = o.info.btfVmlinuxValueTypeId;
    let ops: KernelStructOps | undefined;
    if (id !== 0 && (m.flags & MAP_FLAGS.vtype_btf_obj_fd) === 0) {
      if (!this.structOps.has(id)) {
        let found: KernelStructOps | undefined;
        try {
          found = kernelStructOpsById(readBtfFileSync(VMLINUX_BTF_PATH), id);
        } catch {
          found = undefined; // no kernel BTF: fdinfo below
        }
        this.structOps.set(id, found);
      }
      ops = this.structOps.get(id);
    }
    if (ops === undefined) {
      if (m.memlock !== undefined) return m;
      const memlock = readMapMemlock(mapId(m.id));
      if (memlock === null) return undefined;
      return memlock === undefined ? m : { ...m, memlock };
    }
    return this.checked1({ ...m, structOpsFuncs: ops.funcs, structOpsMembers: ops.members });
  }

  /**
   * A map whose memlock the model computes (from its layout, and its element count where its
   * memory follows contents), checked: the first map of each layout is read from fdinfo and
   * compared (for counted maps: that fdinfo's memlock is the model's for some count, since the
   * count may change between the iterator and the read). A layout where they differ is read
   * map by map from then on, and said in `errors` (a model bug to report). Undefined when the
   * map was freed meanwhile.
   */
  private checked1(m: RawMap): RawMap | undefined {
    if (m.memlock !== undefined) return m;
    const key = layoutKey(m);
    const verdict = this.verdicts.get(key);
    if (verdict === true) return m;
    if (verdict === undefined && (this.checked.get(m.type) ?? 0) >= CHECKS_PER_TYPE) return m;
    const memlock = readMapMemlock(mapId(m.id));
    if (memlock === null) return undefined;
    if (memlock === undefined) return m;
    if (verdict === undefined) {
      const spec = specOf(m);
      const contents = spec !== undefined && memlockDependsOnContents(spec.type, spec.flags);
      const model = spec ? fdinfoMemlock(spec, contents ? elementsFromMemlock(spec, memlock, this.profile) : 0, this.profile) : undefined;
      const agrees = model === memlock;
      this.verdicts.set(key, agrees);
      this.checked.set(m.type, (this.checked.get(m.type) ?? 0) + 1);
      if (!agrees) {
        const line = `model memlock differs from fdinfo for ${spec?.type ?? m.type} key ${m.keySize} value ${m.valueSize} max ${m.maxEntries}: fdinfo memlock ${memlock}, model ${model ?? '?'} (fdinfo used; please report)`;
        this.wrongLayouts.push(line); // said in every scan's errors (collect)
      }
    }
    return { ...m, memlock };
  }

  /**
   * Holders with their memory cgroups. One {@link Holder} per process and a map's list of them
   * are the same objects as at the last scan when nothing about them changed.
   */
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
    for (const hs of scan.maps.values()) for (const h of hs) pids.add(h.pid);
    for (const hs of scan.progs.values()) for (const h of hs) pids.add(h.pid);
    const cgroupOf = new Map<number, string>();
    await Promise.all(
      [...pids].map(async (pid) => {
        const path = await this.memoryCgroupOf(pid);
        if (path !== undefined) cgroupOf.set(pid, path);
      }),
    );
    const last = this.lastHolders;
    const byPid = new Map<number, Holder>();
    const holderOf = (h: SysHolder): Holder => {
      const known = byPid.get(h.pid);
      if (known) return known;
      const cgroup = cgroupOf.get(h.pid);
      const old = last.byPid.get(h.pid);
      const made: Holder = old && old.comm === h.comm && old.cgroup === cgroup ? old : cgroup === undefined ? { pid: h.pid, comm: h.comm } : { pid: h.pid, comm: h.comm, cgroup };
      byPid.set(h.pid, made);
      return made;
    };
    const self = scan.method === 'iterator' ? process.pid : -1;
    const lists = <K extends number>(m: ReadonlyMap<K, readonly SysHolder[]>, before: ReadonlyMap<number, readonly Holder[]>): Map<number, readonly Holder[]> => {
      const out = new Map<number, readonly Holder[]>();
      for (const [id, hs] of m) {
        const list = hs.filter((h) => h.pid !== self).map(holderOf);
        if (list.length === 0) continue;
        const old = before.get(id);
        out.set(id, old && sameList(old, list) ? old : list);
      }
      return out;
    };
    const maps = lists(scan.maps, last.maps);
    const progs = lists(scan.progs, last.progs);
    this.lastHolders = { maps, progs, byPid };
    return { maps, progs };
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

/**
 * The memory cgroups alone, for `bpfmem cgroups` without root: cgroupfs is world-readable,
 * only the BPF objects need privileges. No map or program is read; `chargesUnavailable` says
 * why the BPF columns are empty.
 */
export async function collectCgroupsOnly(why: string): Promise<{ input: InventoryInput; regimeReason: string }> {
  const machine = await describeMachine();
  const profile = profileOfMachine(machine);
  const errors: string[] = [];
  if (!machine.memory.ok) throw new BpfmemError('system', `no memory cgroups to show: ${machine.memory.reason}`);
  const h = machine.memory.hierarchy;
  const paths = await readCgroupIds(h);
  const statsAge = await freshenMemoryStats(h.version, h.mountPoint, statsFlushOnlyByThreshold(profile.release));
  const failures: string[] = [];
  const read = await Promise.all(
    [...paths.values()].map(async (path): Promise<RawCgroup | undefined> => {
      try {
        const c = await readCgroupCountersIfPresent(h.version, path === '/' ? h.mountPoint : `${h.mountPoint}${path}`);
        return c && { path, usage: c.usage, max: c.max, kernel: c.kernel };
      } catch (error) {
        failures.push(error instanceof Error ? error.message : String(error));
        return undefined;
      }
    }),
  );
  errors.push(...capped(failures));
  return {
    input: { profile, maps: [], progs: [], chargesUnavailable: why, cgroupPaths: paths, cgroups: read.filter((c): c is RawCgroup => c !== undefined), errors, ...(statsAge !== undefined && { statsAge }) },
    regimeReason: machine.regimeReason,
  };
}
