import { stat } from 'node:fs/promises';
import { hostProfile } from '../live/host-profile.js';
import { describeMachine, profileOfMachine, type MachineDescription } from '../live/machine.js';
import { dirOfPath, memoryLine, pathInMount } from '../sys/cgroup/index.js';
import { ancestors } from '../vocab/cgroup-path.js';
import type { MemoryHierarchy } from '../sys/cgroup/index.js';
import type { CgroupCounters } from '../sys/cgroup/index.js';
import { readCgroupCounters, readCgroupFile } from '../sys/cgroup/index.js';
import { countOpenFds, readLimits, readProcCgroup, readStatus } from '../sys/proc/index.js';
import { errnoCode } from '../sys/proc/index.js';
import { BpfmemError } from '../vocab/errors.js';
import type { CgroupLevel, ExplainFacts, TaskFacts } from './facts.js';

/**
 * Reads the facts `explain` reasons from (./facts.ts) off this machine: its profile and regime,
 * a task's RLIMIT_MEMLOCK and capabilities, and every memory cgroup from the task's (or a named
 * one) up to the root. Reads only.
 */


/** A cgroup's counters as explain's {@link CgroupLevel}. */
export function levelOf(path: string, c: CgroupCounters): CgroupLevel {
  const file = c.stat.file;
  return {
    path,
    usage: c.usage,
    max: c.max,
    high: c.version === 2 ? (c.high ?? Number.POSITIVE_INFINITY) : undefined,
    reclaimable: file === undefined ? undefined : Math.max(0, file - (c.stat.shmem ?? 0)),
    failcnt: c.failcnt,
    maxEvents: c.version === 2 ? (c.eventsLocal?.max ?? c.events.max) : undefined,
  };
}

/**
 * The memory cgroups from `path` (relative to the mounted hierarchy's root) up to the root,
 * deepest first. The v2 root has no `memory.current` or `memory.max`: it stands with no usage
 * and no limit. Throws a `BpfmemError` (`input`) when `path` is no memory cgroup.
 */
export async function readCgroupChain(h: MemoryHierarchy, path: string): Promise<CgroupLevel[]> {
  const out: CgroupLevel[] = [];
  for (const p of ancestors(path)) out.push(await readCgroupLevel(h, p));
  return out;
}

/**
 * One memory cgroup of {@link readCgroupChain}'s, alone: what `watch` shows of a paying cgroup
 * (its own usage, limit and failure counters) without reading every ancestor. Throws as it does.
 */
export async function readCgroupLevel(h: MemoryHierarchy, p: string): Promise<CgroupLevel> {
  if (p === '/' && h.version === 2) {
    return { path: '/', usage: undefined, max: Number.POSITIVE_INFINITY, high: Number.POSITIVE_INFINITY, reclaimable: undefined, failcnt: undefined, maxEvents: undefined };
  }
  const dir = dirOfPath(h, p);
  let isDir: boolean;
  try {
    isDir = (await stat(dir)).isDirectory();
  } catch (error) {
    throw new BpfmemError('input', `memory cgroup ${p}: ${errnoCode(error) === 'ENOENT' ? `no such cgroup (no directory ${dir})` : `cannot read ${dir}: ${errnoCode(error) ?? String(error)}`}`);
  }
  // A cgroup's file (`/memory.stat`) is no cgroup.
  if (!isDir) throw new BpfmemError('input', `memory cgroup ${p}: no such cgroup (${dir} is a file of its parent, not a directory)`);
  // v2 memory.stat (page cache here) is flushed lazily; reading cpu.stat flushes the cgroup's
  // rstat, memory included (kernel/cgroup/rstat.c, as src/sys/cgroup/cgroupfs.ts readCounters does).
  if (h.version === 2) await readCgroupFile(dir, 'cpu.stat');
  return levelOf(p, await readCgroupCounters(h.version, dir));
}


/**
 * A process's RLIMIT_MEMLOCK, capabilities, uid and name, its RLIMIT_NOFILE and how many fds it
 * has open (for EMFILE). Throws (`input`) when it does not exist.
 */
export async function readTaskFacts(pid: number, procRoot = '/proc'): Promise<TaskFacts> {
  const [status, limits, openFds] = await Promise.all([readStatus(pid, procRoot), readLimits(pid, procRoot), countOpenFds(pid, procRoot)]);
  if (!status || !limits) throw new BpfmemError('input', `--pid ${pid}: no such process`);
  // A zombie creates nothing, and on cgroup v1 its /proc/PID/cgroup names the root whatever cgroup
  // it was in (kernel/cgroup/cgroup.c proc_cgroup_show: "On traditional hierarchies, all zombie
  // tasks show up as belonging to the root cgroup"): its answer would be the root's, and wrong.
  if (status.state !== undefined && /^[ZX]/.test(status.state)) {
    throw new BpfmemError('input', `--pid ${pid}: process ${pid} (${status.name}) has exited (${status.state}) and creates nothing; give a live process, or --cgroup`);
  }
  const nofile = limits.rows['Max open files'];
  return {
    pid,
    comm: status.name,
    uid: status.uid?.real,
    memlock: limits.memlock,
    capEff: status.capEff,
    ...(nofile && { nofile: { soft: nofile.soft, hard: nofile.hard } }),
    ...(openFds !== undefined && { openFds }),
  };
}

/** Where explain's facts come from: a process (default: this one), or a cgroup with no task. */
export type FactsSource = { readonly pid: number } | { readonly cgroup: string } | { readonly self: true };

/**
 * Reads what `explain` needs: this machine's profile and regime, the task's RLIMIT_MEMLOCK and
 * capabilities (`/proc/PID/limits`, `/proc/PID/status` `CapEff`), and every memory cgroup from
 * the task's (`/proc/PID/cgroup`) or the named one up to the root. Reads only.
 */
export async function readExplainFacts(source: FactsSource, machine?: MachineDescription): Promise<ExplainFacts> {
  const m = machine ?? (await describeMachine());
  // This machine's profile as `estimate` and the live backend see it (with the running kernel's
  // struct sizes from its BTF); a machine described by the caller gets the version's sizes.
  const host = machine ? undefined : hostProfile();
  const profile = host?.profile ?? profileOfMachine(m);
  const base = {
    profile,
    ...(host && { basis: host.basis }),
    regimeReason: m.regimeReason,
    unprivilegedBpfDisabled: m.unprivilegedBpfDisabled,
    bpfJitLimit: m.bpfJitLimit,
    bpfJitEnable: m.bpfJitEnable,
  };
  const pid = 'pid' in source ? source.pid : 'self' in source ? process.pid : undefined;
  const task = pid === undefined ? undefined : await readTaskFacts(pid);
  if (!m.memory.ok) return { ...base, task, chain: [], chainMissing: m.memory.reason };
  const h = m.memory.hierarchy;
  let path: string;
  if ('cgroup' in source) {
    path = source.cgroup;
  } else {
    const entries = await readProcCgroup(pid ?? 'self');
    if (!entries) throw new BpfmemError('input', `--pid ${pid ?? ''}: no such process`);
    const line = memoryLine(entries, h.version);
    if (!line) return { ...base, task, chain: [], chainMissing: `process ${pid ?? ''} is in no memory cgroup of cgroup v${h.version}` };
    if (line.deleted) return { ...base, task, chain: [], chainMissing: `process ${pid ?? ''}'s memory cgroup ${line.path} was removed` };
    const rel = pathInMount(h, line.path);
    if (rel === undefined) return { ...base, task, chain: [], chainMissing: `process ${pid ?? ''}'s memory cgroup ${line.path} is outside the mounted hierarchy (${h.mountPoint})` };
    path = rel;
  }
  return { ...base, task, chain: await readCgroupChain(h, path) };
}
