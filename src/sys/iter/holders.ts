import { describeErrno, SyscallError } from '../bpf/error.js';
import { mapId, progId, type MapId, type ProgId } from '../bpf/types.js';
import { scanHolderIterator, type FopsSource, type HolderIterOptions } from './holders-iter.js';
import { scanProcHolders, type ProcHoldersIo } from './holders-proc.js';
import type { HolderRecord } from './holders-record.js';

/** Where the iterator's `f_op` addresses came from (holders-iter.ts). */
export type { FopsSource } from './holders-iter.js';

/**
 * Which processes hold which BPF maps and programs: the `pids` of `bpftool map show`, answered
 * by a BPF `iter/task_file` program where the kernel allows it (holders-iter.ts, one pass over
 * every open file in the kernel) and by /proc otherwise (holders-proc.ts).
 *
 * A holder is a process with an open fd on the object. Pins (pins.ts), links and maps used by
 * a loaded program also keep objects alive without any holder.
 */

/** One process holding an object. */
export interface Holder {
  /**
   * The process id (thread group id). The iterator reports `task->tgid`, the id in the initial
   * pid namespace; /proc reports ids in the namespace of its mount. They differ only when
   * bpfmem runs inside a pid namespace of its own (a container).
   */
  readonly pid: number;
  /** The comm of the process's main thread (`/proc/PID/comm`), at most 15 bytes. */
  readonly comm: string;
  /** Its lowest fd on the object. */
  readonly fd: number;
  /** All its fds on the object, ascending (a process may open one object many times). */
  readonly fds: readonly number[];
}

/** How {@link scanHolders} found the holders. */
export type HolderMethod = 'iterator' | 'procfs';

/** Options of {@link scanHolders}. */
export interface ScanHoldersOptions extends HolderIterOptions {
  /**
   * `auto` (default): the iterator, and /proc where it cannot load. `iterator` and `procfs`
   * force one way; a forced iterator that fails throws.
   */
  readonly method?: 'auto' | HolderMethod;
  /** /proc for the procfs method (tests). */
  readonly procRoot?: string;
  /** File operations of the procfs method (tests). */
  readonly io?: ProcHoldersIo;
}

/** What {@link scanHolders} found. */
export interface HolderScan {
  readonly method: HolderMethod;
  /** Holders of each map, by map id (ascending), each list by pid. Maps without holders are absent. */
  readonly maps: ReadonlyMap<MapId, readonly Holder[]>;
  /** Holders of each program, by program id. The scan's own iterator program is left out. */
  readonly progs: ReadonlyMap<ProgId, readonly Holder[]>;
  /** What could not be read (EACCES on another user's process without root …), one line each. */
  readonly errors: readonly string[];
  /** Why the iterator was not used, when `auto` fell back to /proc. */
  readonly fallbackReason?: string;
  /** Iterator only: where the `bpf_map_fops`/`bpf_prog_fops` addresses came from. */
  readonly fopsSource?: FopsSource;
}

interface Acc {
  comm: string;
  fds: number[];
}

/**
 * Groups holder records by object and process: one {@link Holder} per (id, pid), keeping every
 * fd, as bpftool's pids.c `add_ref` keeps one entry per (id, pid). Records with id 0 (an object
 * torn down under the iterator) are dropped. Pure.
 */
export function groupHolders(records: readonly HolderRecord[]): { maps: Map<MapId, Holder[]>; progs: Map<ProgId, Holder[]> } {
  const byKind = { map: new Map<number, Map<number, Acc>>(), prog: new Map<number, Map<number, Acc>>() };
  for (const r of records) {
    if (r.id === 0) continue;
    const table = byKind[r.kind];
    let pids = table.get(r.id);
    if (pids === undefined) table.set(r.id, (pids = new Map<number, Acc>()));
    const acc = pids.get(r.tgid);
    if (acc === undefined) pids.set(r.tgid, { comm: r.comm, fds: [r.fd] });
    else if (!acc.fds.includes(r.fd)) acc.fds.push(r.fd);
  }
  const finish = <K extends number>(table: Map<number, Map<number, Acc>>, brand: (n: number) => K): Map<K, Holder[]> =>
    new Map(
      [...table.entries()]
        .sort(([a], [b]) => a - b)
        .map(([id, pids]) => [
          brand(id),
          [...pids.entries()]
            .sort(([a], [b]) => a - b)
            .map(([pid, { comm, fds }]) => {
              const sorted = [...fds].sort((a, b) => a - b);
              return { pid, comm, fd: sorted[0] ?? 0, fds: sorted };
            }),
        ]),
    );
  return { maps: finish(byKind.map, mapId), progs: finish(byKind.prog, progId) };
}

function describe(error: unknown): string {
  if (error instanceof SyscallError) return `${error.cmd}: ${describeErrno(error.errno)}`;
  return error instanceof Error ? error.message : String(error);
}

/**
 * Every process holding a BPF map or program, by object id. With `method: 'auto'` (default)
 * the `iter/task_file` program is tried first and /proc is the fallback, with the reason in
 * `fallbackReason`. Never throws for processes or fds that vanish during the scan; throws a
 * `BpfmemError` only for a forced method that cannot run, or an unreadable /proc.
 */
export async function scanHolders(options: ScanHoldersOptions = {}): Promise<HolderScan> {
  const method = options.method ?? 'auto';
  let fallbackReason: string | undefined;
  if (method !== 'procfs') {
    try {
      const scan = await scanHolderIterator(options);
      return { method: 'iterator', ...groupHolders(scan.records), errors: [], fopsSource: scan.fopsSource };
    } catch (error) {
      if (method === 'iterator') throw error;
      fallbackReason = `the task_file iterator did not run: ${describe(error)}`;
    }
  }
  const scan = await scanProcHolders({
    ...(options.procRoot !== undefined && { procRoot: options.procRoot }),
    ...(options.io !== undefined && { io: options.io }),
  });
  return { method: 'procfs', ...groupHolders(scan.records), errors: scan.errors, ...(fallbackReason !== undefined && { fallbackReason }) };
}
