import { readFileSync } from 'node:fs';
import { mapGetFdById, mapGetNextId, mapInfo, progGetFdById, progGetNextId, progInfo } from './commands.js';
import { hasErrno } from './error.js';
import type { MapInfo, ProgInfo } from './info.js';
import { closeFd } from './syscall.js';
import type { MapId, ProgId } from './types.js';
import { fdinfoMemlock } from '../proc/fdinfo.js';

/**
 * Every BPF map and program on the machine, by walking the kernel's ids (BPF_MAP_GET_NEXT_ID,
 * BPF_MAP_GET_FD_BY_ID, BPF_OBJ_GET_INFO_BY_FD, `/proc/self/fdinfo`), as bpftool does. Objects
 * that disappear between two calls are skipped, not errors: the walk reports what it saw.
 */

/** A map as the kernel describes it, with fdinfo `memlock` when it was read. */
export interface MapObject {
  readonly info: MapInfo;
  /** fdinfo `memlock`; undefined when not asked for (`memlock: false`) or gone meanwhile. */
  readonly memlock: number | undefined;
}

/** A program as the kernel describes it, with fdinfo `memlock` (`info.verifiedInsns` is the verifier's count, 5.16+). */
export interface ProgObject {
  readonly info: ProgInfo;
  readonly memlock: number | undefined;
}

/** The fdinfo of one of this process's fds (synchronous: it is a small procfs read); undefined when unreadable. */
function fdinfoOf(fd: number): string | undefined {
  try {
    return readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
  } catch {
    return undefined;
  }
}

/** A map or program fd's fdinfo `memlock`. */
function memlockOf(fd: number, kind: 'map' | 'prog'): number | undefined {
  const text = fdinfoOf(fd);
  return text === undefined ? undefined : fdinfoMemlock(text, kind);
}

/**
 * `read(fd)` on an fd of the object with this id, closed after; undefined when the object was
 * freed since its id was seen (ENOENT), which a walk of ids skips rather than fails on.
 */
function withObject<I, T>(getFd: (id: I) => number, id: I, read: (fd: number) => T): T | undefined {
  let fd: number;
  try {
    fd = getFd(id);
  } catch (error) {
    if (hasErrno(error, 'ENOENT')) return undefined;
    throw error;
  }
  try {
    return read(fd);
  } finally {
    closeFd(fd);
  }
}

/**
 * One map by id, with fdinfo `memlock` when `memlock`; undefined when it was freed meanwhile
 * (or its id was never a map's).
 */
export function readMap(id: MapId, memlock: boolean | ((info: MapInfo) => boolean)): MapObject | undefined {
  return withObject(mapGetFdById, id, (fd) => {
    const info = mapInfo(fd);
    const wanted = typeof memlock === 'function' ? memlock(info) : memlock;
    return { info, memlock: wanted ? memlockOf(fd, 'map') : undefined };
  });
}

/**
 * A map's fdinfo `memlock` by id, without its info: null when it was freed meanwhile, undefined
 * when fdinfo has no `memlock` (kernels before 4.10). Two syscalls and a procfs read; an
 * inventory that has each map's layout from the map iterator needs no more.
 */
export function readMapMemlock(id: MapId): number | undefined | null {
  const read = withObject(mapGetFdById, id, (fd) => ({ memlock: memlockOf(fd, 'map') }));
  return read === undefined ? null : read.memlock;
}

/**
 * The maps alive now. `memlock` says for which maps fdinfo is read: all (`true`), none, or a
 * predicate on the map's info (an inventory reads it only where the model cannot tell).
 */
export function listMaps(memlock: boolean | ((info: MapInfo) => boolean) = true): MapObject[] {
  const out: MapObject[] = [];
  for (let id = mapGetNextId(0); id !== undefined; id = mapGetNextId(id)) {
    const m = readMap(id, memlock);
    if (m) out.push(m);
  }
  return out;
}

/** The ids of the programs alive now, in order (one BPF_PROG_GET_NEXT_ID each). */
export function progIds(): ProgId[] {
  const out: ProgId[] = [];
  for (let id = progGetNextId(0); id !== undefined; id = progGetNextId(id)) out.push(id);
  return out;
}

/** One program by id, with fdinfo `memlock`; undefined when it was freed meanwhile. */
export function readProg(id: ProgId): ProgObject | undefined {
  return withObject(progGetFdById, id, (fd) => {
    return { info: progInfo(fd), memlock: memlockOf(fd, 'prog') };
  });
}

/** The programs alive now, with fdinfo `memlock`. */
export function listProgs(): ProgObject[] {
  const out: ProgObject[] = [];
  for (const id of progIds()) {
    const p = readProg(id);
    if (p) out.push(p);
  }
  return out;
}
