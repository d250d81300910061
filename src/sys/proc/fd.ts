import { readdir, readlink } from 'node:fs/promises';
import { BpfmemError } from '../../vocab/errors.js';
import { errnoCode, isGone } from './text.js';

/**
 * The kind of BPF object behind an fd, from its `/proc/PID/fd/FD` link. The names are those
 * kernel/bpf passes to `anon_inode_getfd()`: `bpf-map`, `bpf-prog`, `bpf_link`, `bpf_iter`,
 * `btf` (the dash-versus-underscore mix is the kernel's).
 */
export type BpfFdKind = 'map' | 'prog' | 'link' | 'iter' | 'btf';

/** A BPF kind, or `other` for every other file. */
export type FdLinkKind = BpfFdKind | 'other';

const ANON_INODES: ReadonlyMap<string, BpfFdKind> = new Map([
  ['anon_inode:bpf-map', 'map'],
  ['anon_inode:bpf-prog', 'prog'],
  ['anon_inode:bpf_link', 'link'],
  ['anon_inode:bpf_iter', 'iter'],
  ['anon_inode:btf', 'btf'],
]);

/** What kind of file a `/proc/PID/fd/FD` link target names (`anon_inode:bpf-map` → `map`). Never fails. */
export function parseFdLink(target: string): FdLinkKind {
  return ANON_INODES.get(target) ?? 'other';
}

/** One open fd of a process and where it points. */
export interface FdLink {
  readonly fd: number;
  readonly target: string;
  readonly kind: FdLinkKind;
}

/** One BPF object fd of a process. */
export interface BpfFd extends FdLink {
  readonly kind: BpfFdKind;
}

/** The directory operations a scan needs; tests pass their own to stage races. */
export interface FdDirIo {
  readdir(path: string): Promise<string[]>;
  readlink(path: string): Promise<string>;
}

/** Where and how to scan. */
export interface FdScanOptions {
  /** `/proc` unless testing. */
  readonly procRoot?: string;
  readonly io?: FdDirIo;
}

const nodeIo: FdDirIo = { readdir: (p) => readdir(p), readlink: (p) => readlink(p) };

/**
 * Every open fd of a process with its link target, sorted by fd. Tolerant of the races a scan of
 * a live process has: a process that exited (ENOENT, ESRCH on the directory) has no fds, and an fd
 * closed between `readdir` and `readlink` (the scan's own directory fd, always) is skipped. Other
 * failures (EACCES on another user's process without root) throw a `BpfmemError`.
 */
export async function listFdLinks(pid: number | 'self', options: FdScanOptions = {}): Promise<FdLink[]> {
  const io = options.io ?? nodeIo;
  const dir = `${options.procRoot ?? '/proc'}/${pid}/fd`;
  let names: string[];
  try {
    names = await io.readdir(dir);
  } catch (error) {
    if (isGone(error)) return [];
    throw new BpfmemError('system', `listing ${dir}: ${errnoCode(error) ?? String(error)}`, { cause: error });
  }
  const links = await Promise.all(
    names.map(async (name): Promise<FdLink | undefined> => {
      if (!/^\d+$/.test(name)) return undefined;
      try {
        const target = await io.readlink(`${dir}/${name}`);
        return { fd: Number(name), target, kind: parseFdLink(target) };
      } catch (error) {
        if (isGone(error)) return undefined;
        throw new BpfmemError('system', `reading ${dir}/${name}: ${errnoCode(error) ?? String(error)}`, { cause: error });
      }
    }),
  );
  return links.filter((l): l is FdLink => l !== undefined).sort((a, b) => a.fd - b.fd);
}

/** The BPF object fds of a process (maps, programs, links, iterators, BTF), sorted by fd. See {@link listFdLinks}. */
export async function listBpfFds(pid: number | 'self', options: FdScanOptions = {}): Promise<BpfFd[]> {
  const links = await listFdLinks(pid, options);
  return links.filter((l): l is BpfFd => l.kind !== 'other');
}

/**
 * How many fds process `pid` has open (the entries of /proc/PID/fd), or undefined where they
 * cannot be listed: another user's process needs root (ptrace access), a gone one has none.
 */
export async function countOpenFds(pid: number, procRoot = '/proc'): Promise<number | undefined> {
  try {
    return (await readdir(`${procRoot}/${pid}/fd`)).length;
  } catch {
    return undefined;
  }
}
