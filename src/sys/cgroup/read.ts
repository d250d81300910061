import { access, readdir } from 'node:fs/promises';
import { BpfmemError } from '../../vocab/errors.js';
import type { CgroupVersion } from '../../vocab/profile.js';
import { COUNTER_FILES, countersFromFiles, type CgroupCounters } from './parse.js';
import { errnoCode, linesOf, parseUnsigned } from '../proc/text.js';
import { readInputFile } from '../file/read.js';

/**
 * Reads of any memory cgroup directory, given as an absolute path in the mounted hierarchy.
 * Reads are allowed anywhere (inspecting the machine needs them); writes live in `cgroupfs.ts`
 * behind the owned-root rules.
 */

/** The most bytes read of one cgroup file (v1's `memory.stat` is about 2 KiB, v2's 5). */
const CGROUP_FILE_LIMIT = 1 << 20;
const UTF8 = new TextDecoder();

/**
 * A file's text, or undefined when it does not exist (a file the version or kernel lacks).
 * Read synchronously: the kernel makes a cgroupfs file's text in one go, and libuv's threadpool
 * costs an open, fstat, read and close round trip for each of the ten files of a cgroup (3.5 ms
 * of a 10,000-map rescan here for three cgroups, against 0.7–1.1 ms read in place). Read as any
 * input file is ({@link readInputFile}): bounded by {@link CGROUP_FILE_LIMIT}, opened without
 * waiting, and anything but a regular file (a FIFO or a device put in a hierarchy's place) refused.
 */
export async function readCgroupFile(dir: string, name: string): Promise<string | undefined> {
  return Promise.resolve(readCgroupFileSync(dir, name));
}

/** {@link readCgroupFile}, synchronously. */
export function readCgroupFileSync(dir: string, name: string): string | undefined {
  try {
    return UTF8.decode(readInputFile(`${dir}/${name}`, { limit: CGROUP_FILE_LIMIT, what: 'cgroup file', code: 'system' }));
  } catch (error) {
    if (error instanceof BpfmemError && errnoCode(error.cause) === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * Reads a memory cgroup's counters. The files are read one after the other, not atomically:
 * under load `usage` may be newer than `peak` (the v1 fixture `array-8mib` shows usage above
 * max_usage for that reason). Throws a `BpfmemError` when the directory is not a memory cgroup.
 */
export async function readCgroupCounters(version: CgroupVersion, dir: string): Promise<CgroupCounters> {
  const names = COUNTER_FILES[version];
  const texts = await Promise.all(names.map((n) => readCgroupFile(dir, n)));
  const byName = new Map<string, string>();
  names.forEach((n, i) => {
    const t = texts[i];
    if (t !== undefined) byName.set(n, t);
  });
  const r = countersFromFiles(version, (n) => byName.get(n));
  if (!r.ok) throw new BpfmemError('system', `${dir}: ${r.error}`);
  return r.value;
}

/**
 * How fresh the `memory.stat` numbers of a v2 hierarchy are, after making them as fresh as a read
 * can: before 6.16, reading the root's `cpu.stat` flushes every cgroup's statistics, memory
 * included (src/sys/cgroup/cgroupfs.ts `readCounters()` says how), so what follows is exact at the
 * time of the read. On 6.16+ no read forces a memory flush, and bpfmem writes to no cgroup it did
 * not create: `memory.stat` is then as of the kernel's last flush, which its periodic work makes
 * every 2 s at the latest (mm/memcontrol.c `flush_memcg_stats_dwork()`, `FLUSH_TIME = 2 * HZ`),
 * or sooner past a threshold of updates. v1 counts kernel memory in a page counter
 * (`memory.kmem.usage_in_bytes`), exact at any read. Returns undefined when exact, else a note.
 */
export async function freshenMemoryStats(version: CgroupVersion, mountPoint: string, flushOnlyByThreshold: boolean): Promise<string | undefined> {
  if (version === 1) return undefined;
  if (!flushOnlyByThreshold) {
    await readCgroupFile(mountPoint, 'cpu.stat').catch(() => undefined);
    return undefined;
  }
  return 'memory.stat (kernel memory) is as of the kernel\'s last statistics flush, at most 2 s old on this kernel (6.16+ flushes memory statistics on its own schedule)';
}

/**
 * A memory cgroup's counters, or undefined when its directory no longer exists (removed while
 * a tree was being read). Other failures throw as {@link readCgroupCounters} does.
 */
export async function readCgroupCountersIfPresent(version: CgroupVersion, dir: string): Promise<CgroupCounters | undefined> {
  try {
    return await readCgroupCounters(version, dir);
  } catch (error) {
    try {
      await access(dir);
    } catch {
      return undefined;
    }
    throw error;
  }
}

/** Parses `cgroup.procs` (or `tasks`): one pid per line. Undefined for text that is not that. */
export function parsePids(text: string): number[] | undefined {
  const out: number[] = [];
  for (const line of linesOf(text)) {
    const pid = parseUnsigned(line.trim());
    if (pid === undefined) return undefined;
    out.push(pid);
  }
  return out;
}

/** The processes in a cgroup itself (not below it), from `cgroup.procs`, deduplicated and sorted. */
export async function readCgroupProcs(dir: string): Promise<number[]> {
  const text = await readCgroupFile(dir, 'cgroup.procs');
  if (text === undefined) throw new BpfmemError('system', `${dir} is not a cgroup: it has no cgroup.procs`);
  const pids = parsePids(text);
  if (!pids) throw new BpfmemError('system', `${dir}/cgroup.procs is not one pid per line`);
  return [...new Set(pids)].sort((a, b) => a - b);
}

/** The names of a cgroup's child cgroups (its subdirectories), sorted. */
export async function readChildNames(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    return entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  } catch (error) {
    throw new BpfmemError('system', `listing ${dir}: ${errnoCode(error) ?? String(error)}`, { cause: error });
  }
}

/**
 * Every cgroup directory at and below `dir`, children before parents (the order rmdir needs).
 * A child removed while the tree is read is left out (only `dir` itself missing is an error).
 */
export async function readSubtreePostOrder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of await readChildNames(dir)) {
    try {
      out.push(...(await readSubtreePostOrder(`${dir}/${name}`)));
    } catch (error) {
      if (error instanceof BpfmemError && errnoCode(error.cause) === 'ENOENT') continue;
      throw error;
    }
  }
  out.push(dir);
  return out;
}
