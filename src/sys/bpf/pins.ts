import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { BpfmemError } from '../../vocab/errors.js';
import { SyscallError } from './error.js';
import { mapInfo, objGet, progInfo } from './commands.js';
import { closeFd } from './syscall.js';
import { parseMountinfo, type MountEntry } from '../cgroup/mount.js';
import { parseFdLink } from '../proc/fd.js';
import { parseFdinfo } from '../proc/fdinfo.js';
import { errnoCode, isGone } from '../proc/text.js';
import { ok, type Result } from '../../vocab/result.js';
import type { PinnedPaths } from '../../vocab/inventory.js';

/**
 * Pinned BPF objects: the files of every bpf filesystem (bpffs) mounted in this mount
 * namespace, opened with BPF_OBJ_GET and identified by id, like bpftool's `-f` (common.c
 * `build_pinned_obj_table`, which walks the bpffs mounts of /proc/mounts with nftw). A pin keeps
 * its object alive with no process holding it; the paths say who to ask about it.
 *
 * A {@link PinScanner} walks again cheaply: a directory whose modification and change times are
 * those of its last listing, listed more than a second after its last change, has the same
 * entries (kernel/bpf/inode.c `bpf_mkobj_ops`, `simple_unlink` and `simple_rename` set both times
 * of the directory they change), so its pins are taken as they were; a changed directory is
 * listed again and only files with a new inode number are opened (a pin's inode is bound to its
 * object for its whole life). Opening a pin costs four system calls; 100,000 of them are seconds.
 */

/** The kind of a pinned object (kernel/bpf/inode.c `enum bpf_type`). */
export type PinKind = 'map' | 'prog' | 'link';

/** What opening one bpffs file found. */
export type PinIdentity =
  | { readonly kind: PinKind; readonly id: number }
  /** It vanished between the directory read and the open. */
  | { readonly kind: 'gone' }
  /** It could not be opened or identified; `why` is one line. */
  | { readonly kind: 'error'; readonly why: string };

/**
 * The mounts of type `bpf` in mountinfo text, one per filesystem view: a second mount of the
 * same device and root (a bind mount of the whole bpffs) shows the same pins and is left out.
 * A bind mount of a subdirectory has another root and is kept (its paths open the same objects).
 */
export function findBpfMounts(mountinfo: string): Result<readonly MountEntry[]> {
  const mounts = parseMountinfo(mountinfo);
  if (!mounts.ok) return mounts;
  const seen = new Set<string>();
  const out: MountEntry[] = [];
  for (const m of mounts.value) {
    if (m.fsType !== 'bpf') continue;
    const key = `${m.device} ${m.root}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(m);
  }
  return ok(out);
}

/** Bounds of a walk. */
export interface WalkBounds {
  /** Directories below a mount point descended into (default 16; the mount point is depth 0). */
  readonly maxDepth?: number;
  /** Directory entries looked at, over all mounts (default 2,000,000). */
  readonly maxEntries?: number;
}

/** Options of {@link walkPins}. */
export interface WalkPinsOptions extends WalkBounds {
  /** Opens and identifies one regular file (default {@link identifyPin}). */
  readonly identify?: (path: string) => PinIdentity;
}

/** Pinned paths by object id, of each kind (an inventory's, and links); each object's paths in walk order (sorted names, depth first). */
export interface PinsById extends PinnedPaths {
  readonly links: ReadonlyMap<number, readonly string[]>;
}

/** What a walk found. */
export interface PinScan {
  readonly pins: PinsById;
  /** The directories walked (bpffs mount points, or the roots given). */
  readonly roots: readonly string[];
  /** Where a bound cut the walk, one line each; empty when the walk was complete. */
  readonly cut: readonly string[];
  /** What could not be read or opened, one line each. */
  readonly errors: readonly string[];
}

const DEFAULT_DEPTH = 16;
const DEFAULT_ENTRIES = 2_000_000;
/** Pins opened between two turns of the event loop (a server answers meanwhile). */
const YIELD_EVERY = 2000;
/**
 * A directory listed less than this long after its last change may change again within the
 * same timestamp tick (coarse clock): it is listed again at the next scan.
 */
const SETTLED_NS = 1_000_000_000n;

/** `BPF_F_RDONLY` (include/uapi/linux/bpf.h): the pin is only looked at. */
const BPF_F_RDONLY = 1 << 3;

function describe(error: unknown): string {
  if (error instanceof SyscallError) return error.message;
  return errnoCode(error) ?? (error instanceof Error ? error.message : String(error));
}

/** The id of a link fd, from `/proc/self/fdinfo/FD` (`link_id:`): bpfmem has no link info call. */
function linkIdOf(fd: number): number | undefined {
  const info = parseFdinfo(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
  return info.ok && info.value.kind === 'link' ? info.value.linkId : undefined;
}

/**
 * Opens a bpffs file with BPF_OBJ_GET and says what it is. Maps are opened read-only; programs
 * ignore the flags; links refuse anything but read-write with EINVAL (kernel/bpf/inode.c
 * `bpf_obj_do_get` → `bpf_link_new_fd` only for `O_RDWR`), so EINVAL is retried without flags.
 * The kind comes from the fd's `/proc/self/fd` link (`anon_inode:bpf-map` …): OBJ_GET_INFO_BY_FD
 * answers for any kind of object, so a map-info call cannot tell a map from a program. The fd is
 * closed before returning.
 */
export function identifyPin(path: string): PinIdentity {
  let fd: number;
  try {
    try {
      fd = objGet(path, BPF_F_RDONLY);
    } catch (error) {
      if (!(error instanceof SyscallError && error.errnoName === 'EINVAL')) throw error;
      fd = objGet(path, 0);
    }
  } catch (error) {
    if (error instanceof SyscallError && error.errnoName === 'ENOENT') return { kind: 'gone' };
    return { kind: 'error', why: `${path}: ${describe(error)}` };
  }
  try {
    const target = readlinkSync(`/proc/self/fd/${fd}`);
    // kernel/bpf/syscall.c names a link's anon inode `bpf_link` when it is created
    // (`bpf_link_prime`) but `bpf-link` when an fd is made for an existing link
    // (`bpf_link_new_fd`: BPF_OBJ_GET, BPF_LINK_GET_FD_BY_ID); procfs-fd.ts knows the first.
    const kind = target === 'anon_inode:bpf-link' ? 'link' : parseFdLink(target);
    switch (kind) {
      case 'map':
        return { kind, id: mapInfo(fd).id };
      case 'prog':
        return { kind, id: progInfo(fd).id };
      case 'link': {
        const id = linkIdOf(fd);
        return id === undefined ? { kind: 'error', why: `${path}: a link whose fdinfo has no link_id` } : { kind, id };
      }
      case 'iter':
      case 'btf':
      case 'other':
        return { kind: 'error', why: `${path}: BPF_OBJ_GET gave a ${kind} fd, not a map, program or link` };
    }
  } catch (error) {
    return { kind: 'error', why: `${path}: ${describe(error)}` };
  } finally {
    closeFd(fd);
  }
}

/**
 * A directory as last listed. A node with 100,000 pins keeps this between scans, so an entry
 * costs its path string and 16 bytes of typed arrays, and no object, name or map entry of its
 * own: those (an object for the file, one for what it is, its name, a `kind:id` key) held 336
 * bytes a pin at 100,000 pins, and `serve`'s V8 heap in use fell from 74.6 to 58.1 MiB without
 * them (docs/performance.md).
 */
interface SeenDir {
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
  readonly ino: bigint;
  /** When it was listed (its clock: CLOCK_REALTIME, as its times). */
  readonly listedNs: bigint;
  /** Its entries' paths (`dir/name`), in name order. */
  readonly paths: readonly string[];
  /** Per entry: {@link DIR}, {@link OTHER}, or a regular file's inode number. */
  readonly kinds: Float64Array;
  /** Per entry: what opening the file found ({@link packFound}); {@link UNOPENED} until then. */
  readonly found: Float64Array;
  /** Why a file could not be opened or identified, by entry index. */
  readonly why: Map<number, string>;
}

/** {@link SeenDir.kinds} of a directory and of anything neither a directory nor a regular file. */
const DIR = -1;
const OTHER = -2;
/** {@link SeenDir.found} of a file not opened yet, one that vanished, one that failed. */
const UNOPENED = -1;
const GONE = -2;
const FAILED = -3;
const KINDS: readonly PinKind[] = ['map', 'prog', 'link'];

/** An object found as one number: its id times 4 plus its kind's index (ids are u32: exact in a double). */
function packFound(found: PinIdentity): number {
  if (found.kind === 'gone') return GONE;
  if (found.kind === 'error') return FAILED;
  return found.id * 4 + KINDS.indexOf(found.kind);
}

const yieldToLoop = (): Promise<void> =>
  new Promise((resolve) => {
    setImmediate(resolve);
  });

/**
 * Walks bpffs directories and remembers what it found, so that the next walk opens only new
 * pins (see the module's comment). One per reader that scans again (`serve`, `top`).
 */
export class PinScanner {
  #dirs = new Map<string, SeenDir>();
  /** The last walk's paths, whose arrays a walk gives again for an object whose paths did not change. */
  #lists: PinsById = { maps: new Map(), progs: new Map(), links: new Map() };
  /** The last walk, its roots and bounds: the answer again when no directory changed since. */
  #last: { scan: PinScan; key: string } | undefined;

  constructor(private readonly identify: (path: string) => PinIdentity = identifyPin) {}

  /** Every pin in the bpf filesystems mounted in this mount namespace (see {@link scanPins}). */
  async scan(options: ScanPinsOptions = {}): Promise<PinScan> {
    return this.walk((await bpfMountPoints(options.mountinfoPath)).map((m) => m.mountPoint), options);
  }

  /**
   * Walks directories standing for bpffs mounts and identifies every regular file in them
   * (a pin is a regular file: kernel/bpf/inode.c `bpf_mkobj_ops` makes `S_IFREG` inodes).
   * Symbolic links are not followed, nor directories on another device (a mount below the
   * root: if it is a bpffs, it is walked as a root of its own). Entries that vanish during the
   * walk are skipped; bounds cut it and say where in `cut`. Throws for nothing on the way.
   */
  async walk(roots: readonly string[], bounds: WalkBounds = {}): Promise<PinScan> {
    const maxDepth = bounds.maxDepth ?? DEFAULT_DEPTH;
    const maxEntries = bounds.maxEntries ?? DEFAULT_ENTRIES;
    const before = this.#dirs;
    const key = JSON.stringify([roots, maxDepth, maxEntries]);
    // Nothing changed in any directory walked last time: nothing to walk (a directory is added
    // or removed only in one of them, which changes its times).
    if (this.#last?.key === key && [...before].every(([dir, d]) => settled(dir, d))) return this.#last.scan;
    const seen = new Map<string, SeenDir>();
    // By kind, in KINDS's order (packFound's kind index).
    const found = { maps: new Map<number, string[]>(), progs: new Map<number, string[]>(), links: new Map<number, string[]>() };
    const byKind = [found.maps, found.progs, found.links] as const;
    const cut: string[] = [];
    const errors: string[] = [];
    const progress = { entries: 0, opened: 0, stopped: false };
    const nowNs = (): bigint => BigInt(Date.now()) * 1_000_000n;
    /** `fn()`, or undefined when it failed: a vanished path is no error, anything else is noted. */
    const attempt = <T>(path: string, fn: () => T): T | undefined => {
      try {
        return fn();
      } catch (error) {
        if (!isGone(error)) errors.push(`${path}: ${describe(error)}`);
        return undefined;
      }
    };

    /** A directory's entries: as last listed when it did not change since, else listed now. */
    const list = (dir: string): SeenDir | undefined => {
      const st = attempt(dir, () => lstatSync(dir, { bigint: true }));
      if (st === undefined) return undefined;
      const old = before.get(dir);
      if (old && unchanged(old, st)) return old;
      const listedNs = nowNs();
      const entries = attempt(dir, () => readdirSync(dir, { withFileTypes: true }));
      if (entries === undefined) return undefined;
      entries.sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
      const paths: string[] = [];
      const kinds: number[] = [];
      for (const e of entries) {
        const path = `${dir}/${e.name}`;
        let kind = e.isDirectory() ? DIR : OTHER;
        if (e.isFile()) {
          const ino = attempt(path, () => lstatSync(path).ino);
          if (ino === undefined) continue;
          kind = ino;
        }
        paths.push(path);
        kinds.push(kind);
      }
      const d: SeenDir = { mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, ino: st.ino, listedNs, paths, kinds: Float64Array.from(kinds), found: new Float64Array(paths.length).fill(UNOPENED), why: new Map() };
      // What the last listing found, for the files still there with the same inode (a pin's
      // inode is its object's for life); both listings are in name order. Failures are tried again.
      if (old) {
        for (let i = 0, j = 0; i < paths.length && j < old.paths.length; ) {
          const p = paths[i] as string;
          const q = old.paths[j] as string;
          if (p < q) i++;
          else if (p > q) j++;
          else {
            const f = old.found[j] as number;
            if ((d.kinds[i] as number) >= 0 && d.kinds[i] === old.kinds[j] && f !== FAILED) d.found[i] = f;
            i++;
            j++;
          }
        }
      }
      return d;
    };

    const walk = async (dir: string, depth: number, dev: bigint): Promise<void> => {
      const d = list(dir);
      if (!d) return;
      seen.set(dir, d);
      for (let i = 0; i < d.paths.length; i++) {
        const path = d.paths[i] as string;
        if (progress.stopped) return;
        if (++progress.entries > maxEntries) {
          progress.stopped = true;
          cut.push(`stopped after ${maxEntries} entries, at ${path}`);
          return;
        }
        const kind = d.kinds[i] as number;
        if (kind >= 0) {
          let f = d.found[i] as number;
          if (f === UNOPENED) {
            const identity = this.identify(path);
            f = d.found[i] = packFound(identity);
            if (identity.kind === 'error') d.why.set(i, identity.why);
            if (++progress.opened % YIELD_EVERY === 0) await yieldToLoop();
          }
          if (f === FAILED) errors.push(d.why.get(i) ?? `${path}: could not be identified`);
          else if (f >= 0) {
            const byId = byKind[f % 4] as Map<number, string[]>;
            const id = Math.floor(f / 4);
            const paths = byId.get(id);
            if (paths === undefined) byId.set(id, [path]);
            else paths.push(path);
          }
        } else if (kind === DIR) {
          const st = attempt(path, () => lstatSync(path, { bigint: true }));
          if (st === undefined) continue;
          if (st.dev !== dev) continue;
          if (depth + 1 > maxDepth) {
            cut.push(`${path}: deeper than ${maxDepth} directories, not walked`);
            continue;
          }
          await walk(path, depth + 1, dev);
        }
        // Symbolic links and anything else: not followed, not pins.
      }
    };

    for (const root of roots) {
      if (progress.stopped) break;
      const st = attempt(root, () => lstatSync(root, { bigint: true }));
      if (st === undefined) continue;
      if (!st.isDirectory()) {
        errors.push(`${root}: not a directory`);
        continue;
      }
      await walk(root.replace(/\/+$/, '') || '/', 0, st.dev);
    }
    this.#dirs = seen;
    // An object's list of paths is the same array as at the last walk when it did not change.
    const same = (byId: Map<number, readonly string[]>, last: ReadonlyMap<number, readonly string[]>): ReadonlyMap<number, readonly string[]> => {
      for (const [id, paths] of byId) {
        const old = last.get(id);
        if (old !== undefined && old !== paths && old.length === paths.length && old.every((p, i) => p === paths[i])) byId.set(id, old);
      }
      return byId;
    };
    const last = this.#lists;
    this.#lists = { maps: same(found.maps, last.maps), progs: same(found.progs, last.progs), links: same(found.links, last.links) };
    const scan = { pins: this.#lists, roots, cut, errors };
    this.#last = { scan, key };
    return scan;
  }
}

/** Whether a directory's times say it is as it was listed, and was listed a while after it last changed. */
function unchanged(d: SeenDir, st: { readonly ino: bigint; readonly mtimeNs: bigint; readonly ctimeNs: bigint }): boolean {
  return d.ino === st.ino && d.mtimeNs === st.mtimeNs && d.ctimeNs === st.ctimeNs && d.listedNs - st.mtimeNs > SETTLED_NS;
}

/** {@link unchanged} for a directory by path (false when it is gone). */
function settled(dir: string, d: SeenDir): boolean {
  try {
    return unchanged(d, lstatSync(dir, { bigint: true }));
  } catch {
    return false;
  }
}

/** One walk with nothing remembered (see {@link PinScanner.walk}). */
export function walkPins(roots: readonly string[], options: WalkPinsOptions = {}): Promise<PinScan> {
  return new PinScanner(options.identify).walk(roots, options);
}

/** Options of {@link scanPins}. */
export interface ScanPinsOptions extends WalkPinsOptions {
  /** The mountinfo to read bpffs mounts from (default `/proc/self/mountinfo`). */
  readonly mountinfoPath?: string;
}

/** The bpffs mounts of this mount namespace. */
async function bpfMountPoints(mountinfoPath = '/proc/self/mountinfo'): Promise<readonly MountEntry[]> {
  let text: string;
  try {
    text = await readFile(mountinfoPath, 'utf8');
  } catch (error) {
    throw new BpfmemError('system', `reading ${mountinfoPath}: ${describe(error)}`, { cause: error });
  }
  const mounts = findBpfMounts(text);
  if (!mounts.ok) throw new BpfmemError('system', `${mountinfoPath}: ${mounts.error}`);
  return mounts.value;
}

/**
 * Every pinned map, program and link in the bpf filesystems mounted in this mount namespace,
 * by `kind:id`. Throws a `BpfmemError` (`system`) only when mountinfo cannot be read or parsed;
 * everything found on the way is in the result's `cut` and `errors`.
 */
export async function scanPins(options: ScanPinsOptions = {}): Promise<PinScan> {
  return new PinScanner(options.identify).scan(options);
}
