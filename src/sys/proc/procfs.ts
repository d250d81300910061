import { readFile } from 'node:fs/promises';
import { BpfmemError } from '../../vocab/errors.js';
import { emptyRecord, errnoCode, isGone, linesOf, parseSigned, parseUnsigned, show } from './text.js';
import { parseProcCgroup, type ProcCgroupEntry } from './pid-cgroup.js';
import { parseCmdline, type KernelCmdline } from './cmdline.js';
import type { Rlimit } from '../../vocab/rlimit.js';
import { ok, err, type Result } from '../../vocab/result.js';

/**
 * Parsers of the `/proc` files bpfmem reads besides fdinfo (`fdinfo.ts`) and the fd
 * links (`fd.ts`), each with a thin reader. Parsers take text and never throw.
 */

// ---------------------------------------------------------------------------------------------
// /proc/PID/cgroup

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
function colonFields(text: string, what: string): Result<Record<string, string>> {
  const out = emptyRecord<string>();
  for (const [i, line] of linesOf(text).entries()) {
    const colon = line.indexOf(':');
    if (colon <= 0) return err(`${what} line ${i + 1} is not "Key: value": ${show(line)}`);
    const key = line.slice(0, colon);
    if (Object.hasOwn(out, key)) return err(`${what} line ${i + 1} repeats ${show(key)}`);
    out[key] = line.slice(colon + 1).trim();
  }
  return ok(out);
}

/** `123 kB` → bytes. */
function kB(text: string): number | undefined {
  const m = /^(\d+) kB$/.exec(text);
  const n = m ? parseUnsigned(m[1] ?? '') : undefined;
  return n === undefined ? undefined : n * 1024;
}

/** Parses `/proc/PID/status`. `Name` and `Pid` are required; a malformed typed field is an error. */
export function parseStatus(text: string): Result<ProcStatus> {
  const f = colonFields(text, '/proc/PID/status');
  if (!f.ok) return f;
  const fields = f.value;
  const name = fields['Name'];
  if (name === undefined) return err('/proc/PID/status has no Name: line');
  const pid = parseUnsigned(fields['Pid'] ?? '');
  if (pid === undefined) return err(`/proc/PID/status Pid: is ${show(fields['Pid'] ?? '(missing)')}`);
  const memory = emptyRecord<number>();
  for (const [key, value] of Object.entries(fields)) {
    const bytes = kB(value);
    if (bytes !== undefined) memory[key] = bytes;
  }
  const optNumber = (key: string): Result<number | undefined> => {
    const raw = fields[key];
    if (raw === undefined) return ok(undefined);
    const n = parseUnsigned(raw);
    return n === undefined ? err(`/proc/PID/status ${key}: is ${show(raw)}, not a number`) : ok(n);
  };
  const tgid = optNumber('Tgid');
  const ppid = optNumber('PPid');
  const threads = optNumber('Threads');
  for (const r of [tgid, ppid, threads]) if (!r.ok) return r;
  const uid = ids(fields['Uid']);
  const gid = ids(fields['Gid']);
  if (fields['Uid'] !== undefined && !uid) return err(`/proc/PID/status Uid: is ${show(fields['Uid'])}, not four ids`);
  if (fields['Gid'] !== undefined && !gid) return err(`/proc/PID/status Gid: is ${show(fields['Gid'])}, not four ids`);
  const capRaw = fields['CapEff'];
  if (capRaw !== undefined && !/^[0-9a-f]{1,16}$/.test(capRaw)) {
    return err(`/proc/PID/status CapEff: is ${show(capRaw)}, not a hex mask`);
  }
  return ok({
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
export function parseMeminfo(text: string): Result<Readonly<Record<string, number>>> {
  const f = colonFields(text, '/proc/meminfo');
  if (!f.ok) return f;
  const out = emptyRecord<number>();
  for (const [key, value] of Object.entries(f.value)) {
    const n = kB(value) ?? parseUnsigned(value);
    if (n === undefined) return err(`/proc/meminfo ${key}: is ${show(value)}, not "N kB" or N`);
    out[key] = n;
  }
  if (out['MemTotal'] === undefined) return err('/proc/meminfo has no MemTotal: line');
  return ok(out);
}

/** Reads `/proc/meminfo`. */
export async function readMeminfo(procRoot = '/proc'): Promise<Readonly<Record<string, number>>> {
  return readMachineFile(`${procRoot}/meminfo`, parseMeminfo);
}

// ---------------------------------------------------------------------------------------------
// /proc/PID/limits


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
export function parseLimits(text: string): Result<ProcLimits> {
  const rows = emptyRecord<LimitRow>();
  for (const [i, line] of linesOf(text).entries()) {
    if (line.startsWith('Limit ') || line.trim() === '') continue;
    const m = /^(\S+(?: \S+)*)\s{2,}(\S+)\s+(\S+)(?:\s+(\S+))?\s*$/.exec(line);
    const soft = m ? limitValue(m[2] ?? '') : undefined;
    const hard = m ? limitValue(m[3] ?? '') : undefined;
    if (!m || soft === undefined || hard === undefined) {
      return err(`/proc/PID/limits line ${i + 1} is not "Name  soft  hard  units": ${show(line)}`);
    }
    rows[m[1] ?? ''] = { soft, hard, units: m[4] ?? '' };
  }
  if (Object.keys(rows).length === 0) return err('/proc/PID/limits has no rows');
  const memlock = rows['Max locked memory'];
  return ok({ rows, memlock: memlock ? { soft: memlock.soft, hard: memlock.hard } : undefined });
}

/** Reads `/proc/PID/limits`; undefined if the process is gone. */
export async function readLimits(pid: number | 'self' = 'self', procRoot = '/proc'): Promise<ProcLimits | undefined> {
  return readPerProcess(`${procRoot}/${pid}/limits`, parseLimits);
}

// ---------------------------------------------------------------------------------------------
// /proc/cmdline

/** Reads `/proc/cmdline`. */
export async function readCmdline(procRoot = '/proc'): Promise<KernelCmdline> {
  return readMachineFile(`${procRoot}/cmdline`, (text) => ok(parseCmdline(text)));
}

// ---------------------------------------------------------------------------------------------
// readers

/** A per-process file: undefined when the process is gone; other failures throw. */
async function readPerProcess<T>(path: string, parse: (text: string) => Result<T>): Promise<T | undefined> {
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
async function readMachineFile<T>(path: string, parse: (text: string) => Result<T>): Promise<T> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new BpfmemError('system', `reading ${path}: ${errnoCode(error) ?? String(error)}`, { cause: error });
  }
  return unwrap(path, parse(text));
}

function unwrap<T>(path: string, result: Result<T>): T {
  if (!result.ok) throw new BpfmemError('system', `${path}: ${result.error}`);
  return result.value;
}

/** A number a `/proc/sys` (or sysfs) file holds, or undefined where it cannot be read or is no number. */
export async function readNumberFile(path: string): Promise<number | undefined> {
  try {
    return parseSigned((await readFile(path, 'utf8')).trim());
  } catch {
    return undefined;
  }
}
