import type { Btf } from '../../btf/index.js';
import { readSync } from 'node:fs';
import { assemble, type ProgramItem } from '../../asm/index.js';
import { BpfmemError } from '../../vocab/errors.js';
import { iterLayouts } from './layout-cache.js';
import { iterCreate, linkCreate, mapCreate, progInfo, progLoad } from '../bpf/commands.js';
import { closeFd } from '../bpf/syscall.js';
import type { ProgId } from '../bpf/types.js';
import { readKallsyms } from './kallsyms.js';
import { buildCalibrationProgram, buildHolderProgram, readTaskFileLayout, type BpfFops, type TaskFileLayout } from './holders-prog.js';
import { parseCalibrationRecords, parseHolderRecords, type HolderRecord } from './holders-record.js';
import { errnoCode } from '../proc/text.js';
import { joinChunks } from '../file/chunks.js';

/**
 * Runs the holder programs of holders-prog.ts: load (BPF_PROG_LOAD, tracing, `trace_iter`),
 * BPF_LINK_CREATE, BPF_ITER_CREATE, read to the end, close, as bpftool's pids.c
 * `build_obj_refs_table` does with its skeleton. Nothing is left open or pinned afterwards.
 */

/** Where the `f_op` addresses the holder program compares against came from. */
export type FopsSource = 'kallsyms' | 'calibrated';

/** What the holder program needs, read once per process (the kernel does not change under it). */
export interface HolderIterSetup {
  readonly layout: TaskFileLayout;
  readonly fops: BpfFops;
  readonly fopsSource: FopsSource;
  /** Why /proc/kallsyms did not give the addresses, when they were calibrated instead. */
  readonly kallsymsNote?: string;
}

/** Options of {@link holderIterSetup}; any of them bypasses the per-process cache. */
export interface HolderIterOptions {
  /** BTF of the running kernel, parsed or raw (default: /sys/kernel/btf/vmlinux). */
  readonly btf?: Btf | Uint8Array;
  /** Where to read kernel symbols (default /proc/kallsyms). */
  readonly kallsymsPath?: string;
}

/** Bound on what one iterator may return: 8 M holder records. */
const MAX_OUTPUT = 256 * 1024 * 1024;
/** How many EAGAIN answers in a row a read accepts (see {@link readIterator}). */
const MAX_EAGAIN = 1000;

/**
 * Reads an iterator fd (BPF_ITER_CREATE) to its end. The kernel answers EAGAIN when it walked
 * `MAX_ITER_OBJECTS` (1,000,000) objects without output in one read (kernel/bpf/bpf_iter.c
 * `bpf_seq_read`); the read is then repeated, as bpftool's pids.c does.
 */
export function readIterator(fd: number, limit = MAX_OUTPUT): Uint8Array {
  const chunks: Uint8Array[] = [];
  let total = 0;
  const buf = new Uint8Array(64 * 1024);
  for (let again = 0; ; ) {
    let n: number;
    try {
      n = readSync(fd, buf);
    } catch (error) {
      if (errnoCode(error) === 'EAGAIN' && ++again < MAX_EAGAIN) continue;
      throw new BpfmemError('system', `reading a BPF iterator: ${errnoCode(error) ?? String(error)}`, { cause: error });
    }
    again = 0;
    if (n === 0) break;
    total += n;
    if (total > limit) throw new BpfmemError('system', `a BPF iterator returned more than ${limit} bytes`);
    chunks.push(buf.slice(0, n));
  }
  return joinChunks(chunks);
}

/**
 * Loads `program` as an `iter/task_file` program, runs it once over every task and file, and
 * closes everything. `withProg` runs with the program fd open, before the read (calibration
 * needs the fd; the holder scan needs the program's own id to leave it out).
 */
function runTaskFileIterator<T>(layout: TaskFileLayout, program: readonly ProgramItem[], name: string, withProg: (progFd: number) => T): { bytes: Uint8Array; before: T } {
  const prog = progLoad({ type: 'tracing', insns: assemble(program), license: 'GPL', name, expectedAttachType: 'trace_iter', attachBtfId: layout.attachBtfId });
  try {
    const before = withProg(prog);
    const link = linkCreate({ progFd: prog, attachType: 'trace_iter' });
    try {
      const iter = iterCreate(link);
      try {
        return { bytes: readIterator(iter), before };
      } finally {
        closeFd(iter);
      }
    } finally {
      closeFd(link);
    }
  } finally {
    closeFd(prog);
  }
}

/**
 * The `f_op` addresses of a map file and a program file, learnt from this process's own fds:
 * it creates a one-element array map, loads the calibration program (so it holds a program fd
 * too) and reads which `f_op` each fd has.
 */
export function calibrateFops(layout: TaskFileLayout): BpfFops {
  const map = mapCreate({ type: 'array', keySize: 4, valueSize: 4, maxEntries: 1, name: 'bpfmem_calib' });
  try {
    const { bytes, before: prog } = runTaskFileIterator(layout, buildCalibrationProgram(layout), 'bpfmem_calib', (fd) => fd);
    const records = parseCalibrationRecords(bytes);
    const fop = (fd: number): bigint | undefined => records.find((r) => r.fd === fd)?.fop;
    const fops = { map: fop(map), prog: fop(prog) };
    if (fops.map === undefined || fops.prog === undefined || fops.map === 0n || fops.prog === 0n || fops.map === fops.prog) {
      throw new BpfmemError('system', `calibrating the holder iterator: no distinct f_op for map fd ${map} and program fd ${prog} among ${records.length} files of this process`);
    }
    return { map: fops.map, prog: fops.prog };
  } finally {
    closeFd(map);
  }
}

/** The `f_op` addresses from /proc/kallsyms, or why it does not list them. */
async function fromKallsyms(path: string | undefined): Promise<BpfFops | string> {
  const kallsyms = await readKallsyms(['bpf_map_fops', 'bpf_prog_fops'], path);
  if (!kallsyms.ok) return kallsyms.reason;
  const map = kallsyms.symbols.get('bpf_map_fops');
  const prog = kallsyms.symbols.get('bpf_prog_fops');
  if (map?.ok === true && prog?.ok === true) return { map: map.address, prog: prog.address };
  return `kallsyms: bpf_map_fops ${map?.ok === false ? map.reason : 'found'}, bpf_prog_fops ${prog?.ok === false ? prog.reason : 'found'}`;
}

/**
 * The layout and addresses. Calibration comes first: it needs only the iterator the scan needs
 * anyway and costs one pass over open files, where reading /proc/kallsyms (100k+ lines,
 * generated on read) took 0.1 s here, and kernels without CONFIG_KALLSYMS_ALL list no
 * `bpf_map_fops` at all. kallsyms is the fallback, or first when a `kallsymsPath` is given.
 */
async function setUp(options: HolderIterOptions): Promise<HolderIterSetup> {
  const layout = options.btf !== undefined ? readTaskFileLayout(options.btf) : await cachedLayout();
  if (options.kallsymsPath !== undefined) {
    const fops = await fromKallsyms(options.kallsymsPath);
    if (typeof fops !== 'string') return { layout, fops, fopsSource: 'kallsyms' };
    return { layout, fops: calibrateFops(layout), fopsSource: 'calibrated', kallsymsNote: fops };
  }
  try {
    return { layout, fops: calibrateFops(layout), fopsSource: 'calibrated' };
  } catch (error) {
    const fops = await fromKallsyms(undefined);
    if (typeof fops === 'string') throw error;
    return { layout, fops, fopsSource: 'kallsyms' };
  }
}

/** The running kernel's layout, cached by its BTF's identity (layout-cache.ts). */
async function cachedLayout(): Promise<TaskFileLayout> {
  const layouts = await iterLayouts();
  if (!layouts.taskFile.ok) throw new BpfmemError('system', layouts.taskFile.error);
  return layouts.taskFile.value;
}

let cached: Promise<HolderIterSetup> | undefined;

/**
 * The BTF layout and `f_op` addresses, read once per process. Addresses come from
 * {@link calibrateFops}, else /proc/kallsyms (see `setUp`). A failure is not cached.
 */
export function holderIterSetup(options: HolderIterOptions = {}): Promise<HolderIterSetup> {
  if (options.btf !== undefined || options.kallsymsPath !== undefined) return setUp(options);
  cached ??= setUp(options).catch((error: unknown) => {
    cached = undefined;
    throw error;
  });
  return cached;
}

/** What one run of the holder iterator saw. */
export interface HolderIterScan {
  /** Every map and program file of every process, the scan's own program left out. */
  readonly records: readonly HolderRecord[];
  /** The id of the holder program itself, which held a program fd in this process during the scan. */
  readonly ownProgId: ProgId;
  readonly fopsSource: FopsSource;
  readonly kallsymsNote?: string;
}

/**
 * Runs the holder program once. Throws a `SyscallError` or `BpfmemError` where it cannot load
 * (no BTF, a kernel without task_file iterators, not privileged) or run.
 */
export async function scanHolderIterator(options: HolderIterOptions = {}): Promise<HolderIterScan> {
  const setup = await holderIterSetup(options);
  const { bytes, before: ownProgId } = runTaskFileIterator(setup.layout, buildHolderProgram(setup.layout, setup.fops), 'bpfmem_holders', (fd) => progInfo(fd).id);
  const records = parseHolderRecords(bytes).filter((r) => !(r.kind === 'prog' && r.id === ownProgId));
  return {
    records,
    ownProgId,
    fopsSource: setup.fopsSource,
    ...(setup.kallsymsNote !== undefined && { kallsymsNote: setup.kallsymsNote }),
  };
}
