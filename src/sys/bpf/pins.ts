import { readlinkSync } from 'node:fs';
import { lstat, readdir, readFile } from 'node:fs/promises';
import { BpfmemError } from '../../vocab/errors.js';
import { SyscallError } from './error.js';
import { mapInfo, objGet, progInfo } from './commands.js';
import { closeFd } from './syscall.js';
import { parseMountinfo, type MountEntry } from '../cgroup/mount.js';
import { parseFdLink } from '../proc/fd.js';
import { parseFdinfo } from '../proc/fdinfo.js';
import { errnoCode, isGone } from '../proc/text.js';
import { ok, type Result } from '../../vocab/result.js';

/**
 * Pinned BPF objects: the files of every bpf filesystem (bpffs) mounted in this mount
 * namespace, opened with BPF_OBJ_GET and identified by id, like bpftool's `-f` (common.c
 * `build_pinned_obj_table`, which walks the bpffs mounts of /proc/mounts with nftw). A pin keeps
 * its object alive with no process holding it; the paths say who to ask about it.
 */

/** The kind of a pinned object (kernel/bpf/inode.c `enum bpf_type`). */
export type PinKind = 'map' | 'prog' | 'link';

/** A pinned object's key: `map:12`, `prog:7`, `link:3`. */
export type PinKey = `${PinKind}:${number}`;

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
  /** Directory entries looked at, over all mounts (default 100,000). */
  readonly maxEntries?: number;
}

/** Options of {@link walkPins}. */
export interface WalkPinsOptions extends WalkBounds {
  /** Opens and identifies one regular file (default {@link identifyPin}). */
  readonly identify?: (path: string) => PinIdentity | Promise<PinIdentity>;
}

/** What a walk found. */
export interface PinScan {
  /** Paths of each pinned object, in walk order (sorted names, depth first). */
  readonly pins: ReadonlyMap<PinKey, readonly string[]>;
  /** The directories walked (bpffs mount points, or the roots given). */
  readonly roots: readonly string[];
  /** Where a bound cut the walk, one line each; empty when the walk was complete. */
  readonly cut: readonly string[];
  /** What could not be read or opened, one line each. */
  readonly errors: readonly string[];
}

const DEFAULT_DEPTH = 16;
const DEFAULT_ENTRIES = 100_000;

/** `BPF_F_RDONLY` (include/uapi/linux/bpf.h): the pin is only looked at. */
const BPF_F_RDONLY = 1 << 3;

function describe(error: unknown): string {
  if (error instanceof SyscallError) return error.message;
  return errnoCode(error) ?? (error instanceof Error ? error.message : String(error));
}

/** The id of a link fd, from `/proc/self/fdinfo/FD` (`link_id:`): bpfmem has no link info call. */
function linkIdOf(fd: number): Promise<number | undefined> {
  return readFile(`/proc/self/fdinfo/${fd}`, 'utf8').then((text) => {
    const info = parseFdinfo(text);
    return info.ok && info.value.kind === 'link' ? info.value.linkId : undefined;
  });
}

/**
 * Opens a bpffs file with BPF_OBJ_GET and says what it is. Maps are opened read-only; programs
 * ignore the flags; links refuse anything but read-write with EINVAL (kernel/bpf/inode.c
 * `bpf_obj_do_get` → `bpf_link_new_fd` only for `O_RDWR`), so EINVAL is retried without flags.
 * The kind comes from the fd's `/proc/self/fd` link (`anon_inode:bpf-map` …): OBJ_GET_INFO_BY_FD
 * answers for any kind of object, so a map-info call cannot tell a map from a program. The fd is
 * closed before returning.
 */
export async function identifyPin(path: string): Promise<PinIdentity> {
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
        const id = await linkIdOf(fd);
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
 * Walks directories standing for bpffs mounts and identifies every regular file in them
 * (a pin is a regular file: kernel/bpf/inode.c `bpf_mkobj_ops` makes `S_IFREG` inodes).
 * Symbolic links are not followed, nor directories on another device (a mount below the
 * root: if it is a bpffs, it is walked as a root of its own). Entries that vanish during the
 * walk are skipped; bounds cut it and say where in `cut`. Throws for nothing on the way.
 */
export async function walkPins(roots: readonly string[], options: WalkPinsOptions = {}): Promise<PinScan> {
  const maxDepth = options.maxDepth ?? DEFAULT_DEPTH;
  const maxEntries = options.maxEntries ?? DEFAULT_ENTRIES;
  const identify = options.identify ?? identifyPin;
  const pins = new Map<PinKey, string[]>();
  const cut: string[] = [];
  const errors: string[] = [];
  // An object, so that the checker sees `walk` change it across awaits.
  const progress = { entries: 0, stopped: false };

  const walk = async (dir: string, depth: number, dev: number): Promise<void> => {
    let names: string[];
    try {
      names = (await readdir(dir)).sort();
    } catch (error) {
      if (!isGone(error)) errors.push(`${dir}: ${describe(error)}`);
      return;
    }
    for (const name of names) {
      if (progress.stopped) return;
      if (++progress.entries > maxEntries) {
        progress.stopped = true;
        cut.push(`stopped after ${maxEntries} entries, at ${dir}/${name}`);
        return;
      }
      const path = `${dir}/${name}`;
      let st;
      try {
        st = await lstat(path);
      } catch (error) {
        if (!isGone(error)) errors.push(`${path}: ${describe(error)}`);
        continue;
      }
      if (st.isDirectory()) {
        if (st.dev !== dev) continue;
        if (depth + 1 > maxDepth) {
          cut.push(`${path}: deeper than ${maxDepth} directories, not walked`);
          continue;
        }
        await walk(path, depth + 1, dev);
      } else if (st.isFile()) {
        const found = await identify(path);
        switch (found.kind) {
          case 'gone':
            break;
          case 'error':
            errors.push(found.why);
            break;
          case 'map':
          case 'prog':
          case 'link': {
            const key: PinKey = `${found.kind}:${found.id}`;
            const paths = pins.get(key);
            if (paths === undefined) pins.set(key, [path]);
            else paths.push(path);
            break;
          }
        }
      }
      // Symbolic links and anything else: not followed, not pins.
    }
  };

  for (const root of roots) {
    if (progress.stopped) break;
    let st;
    try {
      st = await lstat(root);
    } catch (error) {
      if (!isGone(error)) errors.push(`${root}: ${describe(error)}`);
      continue;
    }
    if (!st.isDirectory()) {
      errors.push(`${root}: not a directory`);
      continue;
    }
    await walk(root.replace(/\/+$/, '') || '/', 0, st.dev);
  }
  return { pins, roots, cut, errors };
}

/** Options of {@link scanPins}. */
export interface ScanPinsOptions extends WalkPinsOptions {
  /** The mountinfo to read bpffs mounts from (default `/proc/self/mountinfo`). */
  readonly mountinfoPath?: string;
}

/**
 * Every pinned map, program and link in the bpf filesystems mounted in this mount namespace,
 * by `kind:id`. Throws a `BpfmemError` (`system`) only when mountinfo cannot be read or parsed;
 * everything found on the way is in the result's `cut` and `errors`.
 */
export async function scanPins(options: ScanPinsOptions = {}): Promise<PinScan> {
  const path = options.mountinfoPath ?? '/proc/self/mountinfo';
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new BpfmemError('system', `reading ${path}: ${describe(error)}`, { cause: error });
  }
  const mounts = findBpfMounts(text);
  if (!mounts.ok) throw new BpfmemError('system', `${path}: ${mounts.error}`);
  return walkPins(
    mounts.value.map((m) => m.mountPoint),
    options,
  );
}
