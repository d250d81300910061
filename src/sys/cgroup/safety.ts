import { posix } from 'node:path';
import { show } from '../proc/text.js';
import { ok, err, type Result } from '../../vocab/result.js';

/**
 * The rules that keep bpfmem's cgroup writes inside what it created. Pure functions, so the
 * rules are tested without a kernel; `CgroupFs` calls them before every write.
 *
 * - Writes (mkdir, rmdir, limits, moving tasks) go only to directories strictly below an owned
 *   root: `<own memory cgroup>/bpfmem-<prefix>-<pid>-<random>`, made by `createOwnedRoot()`.
 * - Paths given by callers are relative to the owned root (`/pods/agent`), absolute, normalized,
 *   with names of `A–Z a–z 0–9 . _ - @ : +` (the scenario format's cgroup path rule).
 * - The resolved directory is checked again as an absolute path before the write.
 */

/** The longest prefix accepted in an owned root's name. */
export const MAX_PREFIX_LENGTH = 24;

/**
 * Checks a prefix for owned-root names: lowercase letters and digits, `_` between them, so the
 * name `bpfmem-<prefix>-<pid>-<random>` splits on `-` unambiguously. Returns an error message.
 */
export function checkPrefix(prefix: string): string | undefined {
  if (prefix.length === 0 || prefix.length > MAX_PREFIX_LENGTH || !/^[a-z0-9]+(?:_[a-z0-9]+)*$/.test(prefix)) {
    return `owned-root prefix ${show(prefix)} is not 1–${MAX_PREFIX_LENGTH} characters of a–z 0–9 and inner _`;
  }
  return undefined;
}

/** The directory name of an owned root. */
export function ownedRootName(prefix: string, pid: number, random: string): string {
  return `bpfmem-${prefix}-${pid}-${random}`;
}

/** What an owned root's name says. */
export interface OwnedRootName {
  readonly prefix: string;
  readonly pid: number;
  readonly random: string;
}

/** Splits `bpfmem-<prefix>-<pid>-<random>`; undefined for any other name. */
export function parseOwnedRootName(name: string): OwnedRootName | undefined {
  const m = /^bpfmem-([a-z0-9]+(?:_[a-z0-9]+)*)-([1-9]\d{0,9})-([0-9a-f]{8})$/.exec(name);
  if (!m) return undefined;
  return { prefix: m[1] ?? '', pid: Number(m[2]), random: m[3] ?? '' };
}

/**
 * Checks a cgroup path relative to the owned root (`/`, `/pods`, `/pods/agent`) and returns its
 * names (`[]` for `/`). Refuses, naming the path: not starting with `/`, a trailing `/`, empty,
 * `.` or `..` names, other characters, names over 255 bytes, and names of interface files
 * (`memory.*`, `cgroup.*`, `tasks`, `notify_on_release`, …).
 */
export function parseRelPath(path: string): Result<readonly string[]> {
  const q = show(path);
  if (!path.startsWith('/')) return err(`cgroup path ${q} is not absolute within the owned root (start it with /)`);
  if (path === '/') return ok([]);
  if (path.endsWith('/')) return err(`cgroup path ${q} is not normalized: it ends with /`);
  if (path.length > 4096) return err(`cgroup path ${q} is longer than 4096 characters`);
  const names = path.slice(1).split('/');
  for (const name of names) {
    if (name === '') return err(`cgroup path ${q} is not normalized: it has an empty name (//)`);
    if (name === '.' || name === '..') return err(`cgroup path ${q} contains ${name}: paths must be normalized`);
    if (name.length > 255) return err(`cgroup path ${q} has a name longer than 255 characters`);
    if (!/^[A-Za-z0-9._@:+-]+$/.test(name)) {
      return err(`cgroup path ${q} has a character other than A–Z a–z 0–9 . _ - @ : +`);
    }
    if (/^(?:memory|cgroup|cpu|io|pids|hugetlb|rdma|misc)\./.test(name) || INTERFACE_FILES.has(name)) {
      return err(`cgroup path ${q} names an interface file (${name}), not a cgroup`);
    }
  }
  return ok(names);
}

/** v1 core files without a `cgroup.` prefix. */
const INTERFACE_FILES = new Set(['tasks', 'notify_on_release', 'release_agent']);

/** Whether `path` is absolute and already in the form `path.posix.normalize` gives, without a trailing `/`. */
export function isNormalizedAbsolute(path: string): boolean {
  return path.startsWith('/') && posix.normalize(path) === path && (path === '/' || !path.endsWith('/')) && !path.includes('\0');
}

/**
 * The last check before a write: `target` (an absolute directory) must be normalized and strictly
 * below `ownedRoot`. Returns an error message naming the target, or undefined when allowed.
 */
export function checkWriteTarget(ownedRoot: string | undefined, target: string): string | undefined {
  if (ownedRoot === undefined) return `refusing to write ${show(target, 200)}: no owned root (call createOwnedRoot first)`;
  if (!isNormalizedAbsolute(ownedRoot)) return `refusing to write ${show(target, 200)}: the owned root ${show(ownedRoot, 200)} is not a normalized absolute path`;
  if (!isNormalizedAbsolute(target) || target.split('/').some((n) => n === '..' || n === '.')) {
    return `refusing to write ${show(target, 200)}: not a normalized absolute path`;
  }
  if (!target.startsWith(`${ownedRoot}/`)) {
    return `refusing to write ${show(target, 200)}: it is not strictly below the owned root ${ownedRoot}`;
  }
  return undefined;
}

/**
 * The check for `cleanStale()`: `target` must be a stale owned root directly in the own cgroup
 * `ownDir` (or below one), of `prefix`, whose creating process is not alive. Returns an error
 * message, or undefined when allowed.
 */
export function checkStaleTarget(ownDir: string, prefix: string, target: string, isAlive: (pid: number) => boolean): string | undefined {
  if (!isNormalizedAbsolute(target) || !target.startsWith(`${ownDir}/`)) {
    return `refusing to remove ${show(target, 200)}: not a normalized path below ${ownDir}`;
  }
  const first = target.slice(ownDir.length + 1).split('/')[0] ?? '';
  const name = parseOwnedRootName(first);
  if (!name || name.prefix !== prefix) return `refusing to remove ${show(target, 200)}: ${first} is not a bpfmem-${prefix}-PID-RANDOM directory`;
  if (isAlive(name.pid)) return `refusing to remove ${show(target, 200)}: process ${name.pid} that made it is alive`;
  return undefined;
}
