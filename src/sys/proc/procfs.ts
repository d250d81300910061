import { readFile } from 'node:fs/promises';
import { BpfmemError } from '../../vocab/errors.js';
import {
  emptyRecord,
  errnoCode,
  isGone,
  linesOf,
  parsed,
  parseError,
  parseUnsigned,
  show,
  type Parsed,
} from './text.js';

/**
 * Parsers of the `/proc` files bpfmem reads besides fdinfo (`procfs-fdinfo.ts`) and the fd
 * links (`procfs-fd.ts`), each with a thin reader. Parsers take text and never throw.
 */

// ---------------------------------------------------------------------------------------------
// /proc/PID/cgroup

/** One line of `/proc/PID/cgroup`: `4:memory:/a/b` (v1) or `0::/a` (v2). */
export interface ProcCgroupEntry {
  /** The hierarchy id; 0 is the v2 (unified) hierarchy. */
  readonly hierarchyId: number;
  /** The controllers bound to that hierarchy (`memory`, `cpu,cpuacct`, `name=systemd`); none on v2. */
  readonly controllers: readonly string[];
  /** The cgroup path inside that hierarchy, as seen from this cgroup namespace. */
  readonly path: string;
  /** The process is a zombie whose cgroup was removed: the kernel appends ` (deleted)`. */
  readonly deleted: boolean;
}

/** Parses `/proc/PID/cgroup` (cgroup-v2.rst "Processes"; v1 lines as cgroups(7) describes). */
export function parseProcCgroup(text: string): Parsed<readonly ProcCgroupEntry[]> {
  const out: ProcCgroupEntry[] = [];
  for (const [i, line] of linesOf(text).entries()) {
    const m = /^(\d+):([^:]*):(\/.*)$/.exec(line);
    if (!m) return parseError(`/proc/PID/cgroup line ${i + 1} is not "ID:CONTROLLERS:/PATH": ${show(line)}`);
    const id = parseUnsigned(m[1] ?? '');
    if (id === undefined) return parseError(`/proc/PID/cgroup line ${i + 1}: bad hierarchy id ${show(m[1] ?? '')}`);
    const rawPath = m[3] ?? '/';
    const deleted = rawPath.endsWith(' (deleted)');
    out.push({
      hierarchyId: id,
      controllers: (m[2] ?? '') === '' ? [] : (m[2] ?? '').split(','),
      path: deleted ? rawPath.slice(0, -' (deleted)'.length) : rawPath,
      deleted,
    });
  }
  if (out.length === 0) return parseError('/proc/PID/cgroup is empty');
  return parsed(out);
}

/** Reads `/proc/PID/cgroup`; undefined if the process is gone. */
export async function readProcCgroup(pid: number | 'self' = 'self', procRoot = '/proc'): Promise<readonly ProcCgroupEntry[] | undefined> {
  return readPerProcess(`${procRoot}/${pid}/cgroup`, parseProcCgroup);
}

// ---------------------------------------------------------------------------------------------
// /proc/PID/status

/** The four ids of a `Uid:` or `Gid:` line. */
export interface StatusIds {
  readonly real: number;
  readonly effective: number;
  readonly saved: number;
  readonly fs: number;
}

/** `/proc/PID/status` (proc(5)), with the fields bpfmem uses typed and all of them raw. */
export interface ProcStatus {
  /** `Name`: the command (`comm`), up to 15 bytes, with the kernel's escapes. */
  readonly name: string;
  /** `State`, such as `S (sleeping)`. */
  readonly state: string | undefined;
  readonly tgid: number | undefined;
  readonly pid: number;
  readonly ppid: number | undefined;
  readonly uid: StatusIds | undefined;
  readonly gid: StatusIds | undefined;
  readonly threads: number | undefined;
  /** `VmRSS` in bytes (undefined for kernel threads). */
  readonly vmRss: number | undefined;
  /** `VmLck` in bytes: this process's `mm->locked_vm` (mlock), not the user's. */
  readonly vmLck: number | undefined;
  /** Every `… kB` line (`VmPeak`, `VmRSS`, `RssAnon`, `VmPTE`, `HugetlbPages`, …) in bytes. */
  readonly memory: Readonly<Record<string, number>>;
  /** `CapEff`: the effective capability mask. */
  readonly capEff: bigint | undefined;
  /** Every line, value trimmed. */
  readonly fields: Readonly<Record<string, string>>;
}

function ids(text: string | undefined): StatusIds | undefined {
  if (text === undefined) return undefined;
  const parts = text.split(/\s+/).map((p) => parseUnsigned(p));
  const [real, effective, saved, fs] = parts;
  if (parts.length !== 4 || real === undefined || effective === undefined || saved === undefined || fs === undefined) {
    return undefined;
  }
  return { real, effective, saved, fs };
}

/** `KEY:\tVALUE` lines (status, meminfo): the values trimmed; a line without a colon is an error. */
function colonFields(text: string, what: string): Parsed<Record<string, string>> {
  const out = emptyRecord<string>();
  for (const [i, line] of linesOf(text).entries()) {
    const colon = line.indexOf(':');
    if (colon <= 0) return parseError(`${what} line ${i + 1} is not "Key: value": ${show(line)}`);
    const key = line.slice(0, colon);
    if (Object.hasOwn(out, key)) return parseError(`${what} line ${i + 1} repeats ${show(key)}`);
    out[key] = line.slice(colon + 1).trim();
  }
  return parsed(out);
}

/** `123 kB` → bytes. */
function kB(text: string): number | undefined {
  const m = /^(\d+) kB$/.exec(text);
  const n = m ? parseUnsigned(m[1] ?? '') : undefined;
  return n === undefined ? undefined : n * 1024;
}

/** Parses `/proc/PID/status`. `Name` and `Pid` are required; a malformed typed field is an error. */
export function parseStatus(text: string): Parsed<ProcStatus> {
  const f = colonFields(text, '/proc/PID/status');
  if (!f.ok) return f;
  const fields = f.value;
  const name = fields['Name'];
  if (name === undefined) return parseError('/proc/PID/status has no Name: line');
  const pid = parseUnsigned(fields['Pid'] ?? '');
  if (pid === undefined) return parseError(`/proc/PID/status Pid: is ${show(fields['Pid'] ?? '(missing)')}`);
  const memory = emptyRecord<number>();
  for (const [key, value] of Object.entries(fields)) {
    const bytes = kB(value);
    if (bytes !== undefined) memory[key] = bytes;
  }
  const optNumber = (key: string): Parsed<number | undefined> => {
    const raw = fields[key];
    if (raw === undefined) return parsed(undefined);
    const n = parseUnsigned(raw);
    return n === undefined ? parseError(`/proc/PID/status ${key}: is ${show(raw)}, not a number`) : parsed(n);
  };
  const tgid = optNumber('Tgid');
  const ppid = optNumber('PPid');
  const threads = optNumber('Threads');
  for (const r of [tgid, ppid, threads]) if (!r.ok) return r;
  const uid = ids(fields['Uid']);
  const gid = ids(fields['Gid']);
  if (fields['Uid'] !== undefined && !uid) return parseError(`/proc/PID/status Uid: is ${show(fields['Uid'])}, not four ids`);
  if (fields['Gid'] !== undefined && !gid) return parseError(`/proc/PID/status Gid: is ${show(fields['Gid'])}, not four ids`);
  const capRaw = fields['CapEff'];
  if (capRaw !== undefined && !/^[0-9a-f]{1,16}$/.test(capRaw)) {
    return parseError(`/proc/PID/status CapEff: is ${show(capRaw)}, not a hex mask`);
  }
  return parsed({
    name,
    state: fields['State'],
    tgid: tgid.ok ? tgid.value : undefined,
    pid,
    ppid: ppid.ok ? ppid.value : undefined,
    uid,
    gid,
    threads: threads.ok ? threads.value : undefined,
    vmRss: memory['VmRSS'],
    vmLck: memory['VmLck'],
    memory,
    capEff: capRaw === undefined ? undefined : BigInt(`0x${capRaw}`),
    fields,
  });
}

/** Reads `/proc/PID/status`; undefined if the process is gone. */
export async function readStatus(pid: number | 'self' = 'self', procRoot = '/proc'): Promise<ProcStatus | undefined> {
  return readPerProcess(`${procRoot}/${pid}/status`, parseStatus);
}

// ---------------------------------------------------------------------------------------------
// /proc/meminfo

/**
 * Parses `/proc/meminfo`: `kB` values in bytes, unitless ones (`HugePages_Total`) as they are.
 * `Percpu` is where per-CPU BPF memory that no memory cgroup pays for still shows up.
 */
export function parseMeminfo(text: string): Parsed<Readonly<Record<string, number>>> {
  const f = colonFields(text, '/proc/meminfo');
  if (!f.ok) return f;
  const out = emptyRecord<number>();
  for (const [key, value] of Object.entries(f.value)) {
    const n = kB(value) ?? parseUnsigned(value);
    if (n === undefined) return parseError(`/proc/meminfo ${key}: is ${show(value)}, not "N kB" or N`);
    out[key] = n;
  }
  if (out['MemTotal'] === undefined) return parseError('/proc/meminfo has no MemTotal: line');
  return parsed(out);
}

/** Reads `/proc/meminfo`. */
export async function readMeminfo(procRoot = '/proc'): Promise<Readonly<Record<string, number>>> {
  return readMachineFile(`${procRoot}/meminfo`, parseMeminfo);
}

// ---------------------------------------------------------------------------------------------
// /proc/PID/limits

/** A resource limit: soft and hard, `Infinity` for `unlimited`. */
export interface Rlimit {
  readonly soft: number;
  readonly hard: number;
}

/** One row of `/proc/PID/limits`. */
export interface LimitRow extends Rlimit {
  /** `bytes`, `seconds`, …; empty for the nice and realtime priorities. */
  readonly units: string;
}

/** `/proc/PID/limits`: every row by its name, and RLIMIT_MEMLOCK. */
export interface ProcLimits {
  /** Rows by name as printed (`Max locked memory`, `Max open files`, …). */
  readonly rows: Readonly<Record<string, LimitRow>>;
  /** The `Max locked memory` row: RLIMIT_MEMLOCK, what pre-5.11 kernels charged BPF against. */
  readonly memlock: Rlimit | undefined;
}

const limitValue = (text: string): number | undefined => (text === 'unlimited' ? Number.POSITIVE_INFINITY : parseUnsigned(text));

/**
 * Parses `/proc/PID/limits` (fs/proc/base.c `proc_pid_limits()`: a header, then one row per
 * resource, the name padded to 25 columns, soft, hard and units padded to 20 and 10).
 */
export function parseLimits(text: string): Parsed<ProcLimits> {
  const rows = emptyRecord<LimitRow>();
  for (const [i, line] of linesOf(text).entries()) {
    if (line.startsWith('Limit ') || line.trim() === '') continue;
    const m = /^(\S+(?: \S+)*)\s{2,}(\S+)\s+(\S+)(?:\s+(\S+))?\s*$/.exec(line);
    const soft = m ? limitValue(m[2] ?? '') : undefined;
    const hard = m ? limitValue(m[3] ?? '') : undefined;
    if (!m || soft === undefined || hard === undefined) {
      return parseError(`/proc/PID/limits line ${i + 1} is not "Name  soft  hard  units": ${show(line)}`);
    }
    rows[m[1] ?? ''] = { soft, hard, units: m[4] ?? '' };
  }
  if (Object.keys(rows).length === 0) return parseError('/proc/PID/limits has no rows');
  const memlock = rows['Max locked memory'];
  return parsed({ rows, memlock: memlock ? { soft: memlock.soft, hard: memlock.hard } : undefined });
}

/** Reads `/proc/PID/limits`; undefined if the process is gone. */
export async function readLimits(pid: number | 'self' = 'self', procRoot = '/proc'): Promise<ProcLimits | undefined> {
  return readPerProcess(`${procRoot}/${pid}/limits`, parseLimits);
}

// ---------------------------------------------------------------------------------------------
// /proc/cmdline

/** One kernel parameter: `key=value`, or a bare `key`. */
export interface KernelParam {
  readonly key: string;
  readonly value: string | undefined;
}

/** The kernel command line, with the options that decide memory-cgroup accounting. */
export interface KernelCmdline {
  /** The kernel's parameters in order (what follows `--` goes to init and is not here). */
  readonly params: readonly KernelParam[];
  /**
   * `cgroup.memory=` options, from every occurrence (mm/memcontrol.c `cgroup_memory()` reads a
   * comma-separated list and each call adds to the last): `nosocket`, `nokmem` (no kernel
   * memory is charged, so BPF is not either) and `nobpf` (6.3+: BPF only).
   */
  readonly memory: {
    readonly nobpf: boolean;
    readonly nokmem: boolean;
    readonly nosocket: boolean;
    readonly options: readonly string[];
  };
  /** `cgroup_disable=` controllers (`memory` turns the memory controller off entirely). */
  readonly cgroupDisable: readonly string[];
  /** `cgroup_no_v1=` controllers (or `all`): kept off cgroup v1 hierarchies. */
  readonly cgroupNoV1: readonly string[];
}

/**
 * Splits a kernel command line the way lib/cmdline.c `next_arg()` does: on spaces, with double
 * quotes grouping (`opt="a b"`, `"opt=a b"`), up to a bare `--`. Never fails.
 */
export function parseCmdline(text: string): KernelCmdline {
  const params: KernelParam[] = [];
  let i = 0;
  const s = text.replace(/\n$/, '');
  while (i < s.length) {
    while (i < s.length && /\s/.test(s.charAt(i))) i++;
    if (i >= s.length) break;
    let token = '';
    let quoted = false;
    while (i < s.length && (quoted || !/\s/.test(s.charAt(i)))) {
      const c = s.charAt(i);
      if (c === '"') quoted = !quoted;
      else token += c;
      i++;
    }
    if (token === '--') break;
    const eq = token.indexOf('=');
    params.push(eq < 0 ? { key: token, value: undefined } : { key: token.slice(0, eq), value: token.slice(eq + 1) });
  }
  const listOf = (key: string): string[] =>
    params.filter((p) => p.key === key && p.value !== undefined).flatMap((p) => (p.value ?? '').split(',').filter((x) => x !== ''));
  const memory = listOf('cgroup.memory');
  return {
    params,
    memory: {
      nobpf: memory.includes('nobpf'),
      nokmem: memory.includes('nokmem'),
      nosocket: memory.includes('nosocket'),
      options: memory,
    },
    cgroupDisable: listOf('cgroup_disable'),
    cgroupNoV1: listOf('cgroup_no_v1'),
  };
}

/** Reads `/proc/cmdline`. */
export async function readCmdline(procRoot = '/proc'): Promise<KernelCmdline> {
  return readMachineFile(`${procRoot}/cmdline`, (text) => parsed(parseCmdline(text)));
}

// ---------------------------------------------------------------------------------------------
// readers

/** A per-process file: undefined when the process is gone; other failures throw. */
async function readPerProcess<T>(path: string, parse: (text: string) => Parsed<T>): Promise<T | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (isGone(error)) return undefined;
    throw new BpfmemError('system', `reading ${path}: ${errnoCode(error) ?? String(error)}`, { cause: error });
  }
  return unwrap(path, parse(text));
}

/** A machine-wide file: every failure throws. */
async function readMachineFile<T>(path: string, parse: (text: string) => Parsed<T>): Promise<T> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new BpfmemError('system', `reading ${path}: ${errnoCode(error) ?? String(error)}`, { cause: error });
  }
  return unwrap(path, parse(text));
}

function unwrap<T>(path: string, result: Parsed<T>): T {
  if (!result.ok) throw new BpfmemError('system', `${path}: ${result.error}`);
  return result.value;
}
