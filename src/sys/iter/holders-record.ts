import { BpfmemError } from '../../vocab/errors.js';

/**
 * The records the holder iterators (holders-prog.ts) write with `bpf_seq_write`, and their
 * parsers. Pure: bytes in, values out. The layouts are bpfmem's own (the kernel only copies the
 * bytes); they follow bpftool's `struct pid_iter_entry` (src/skeleton/pid_iter.h: pid, id, comm)
 * with the fd and the object kind added, since bpfmem asks for maps and programs in one pass.
 */

/**
 * One open BPF map or program file of a task, as the `iter/task_file` program reports it:
 * `u32 tgid @0, u32 fd @4, u32 kind @8, u32 id @12, char comm[16] @16`: 32 bytes.
 */
export const HOLDER_RECORD_SIZE = 32;
/** Offsets in a holder record. */
export const HOLDER_RECORD = { tgid: 0, fd: 4, kind: 8, id: 12, comm: 16 } as const;
/** `TASK_COMM_LEN` (include/linux/sched.h): a comm is 15 bytes and a NUL. */
export const TASK_COMM_LEN = 16;

/** The `kind` word of a holder record. */
export const HOLDER_KIND = { map: 1, prog: 2 } as const;

/** What a holder record holds. */
export type HolderKind = keyof typeof HOLDER_KIND;

/** One decoded holder record. */
export interface HolderRecord {
  /** `task->tgid`: the process (in the initial pid namespace, as the kernel stores it). */
  readonly tgid: number;
  readonly fd: number;
  readonly kind: HolderKind;
  /**
   * `bpf_map->id` or `bpf_prog->aux->id`; 0 where the program's `bpf_probe_read_kernel` failed
   * (an object being torn down), which callers skip.
   */
  readonly id: number;
  /** `task->group_leader->comm`, decoded as UTF-8 up to its NUL. */
  readonly comm: string;
}

/**
 * One calibration record: `u32 fd @0, u32 pad, u64 f_op @8`: 16 bytes, the `file->f_op` of one
 * of the reading process's own fds (holders-prog.ts `buildCalibrationProgram`).
 */
export const CALIBRATION_RECORD_SIZE = 16;

/** One decoded calibration record. */
export interface CalibrationRecord {
  readonly fd: number;
  /** The address of the file's `struct file_operations`. */
  readonly fop: bigint;
}

const utf8 = new TextDecoder();

/** A NUL-terminated byte string of at most `bytes.length` bytes (the kernel's `comm`), as UTF-8. */
export function decodeCString(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return utf8.decode(end < 0 ? bytes : bytes.subarray(0, end));
}

function checkWhole(bytes: Uint8Array, size: number, what: string): DataView {
  if (bytes.byteLength % size !== 0) {
    throw new BpfmemError('system', `${what}: ${bytes.byteLength} bytes is not a whole number of ${size}-byte records`);
  }
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

const KIND_BY_WORD = new Map<number, HolderKind>([
  [HOLDER_KIND.map, 'map'],
  [HOLDER_KIND.prog, 'prog'],
]);

/**
 * Decodes the output of the holder iterator. Throws a `BpfmemError` (`system`) for a length
 * that is not a whole number of records or an unknown kind word: either means the program and
 * this parser disagree, a bug, not a race.
 */
export function parseHolderRecords(bytes: Uint8Array): HolderRecord[] {
  const view = checkWhole(bytes, HOLDER_RECORD_SIZE, 'holder iterator output');
  const out: HolderRecord[] = [];
  for (let at = 0; at < bytes.byteLength; at += HOLDER_RECORD_SIZE) {
    const word = view.getUint32(at + HOLDER_RECORD.kind, true);
    const kind = KIND_BY_WORD.get(word);
    if (kind === undefined) throw new BpfmemError('system', `holder iterator record ${at / HOLDER_RECORD_SIZE}: unknown kind ${word}`);
    out.push({
      tgid: view.getUint32(at + HOLDER_RECORD.tgid, true),
      fd: view.getUint32(at + HOLDER_RECORD.fd, true),
      kind,
      id: view.getUint32(at + HOLDER_RECORD.id, true),
      comm: decodeCString(bytes.subarray(at + HOLDER_RECORD.comm, at + HOLDER_RECORD.comm + TASK_COMM_LEN)),
    });
  }
  return out;
}

/** Decodes the output of the calibration iterator. Throws like {@link parseHolderRecords}. */
export function parseCalibrationRecords(bytes: Uint8Array): CalibrationRecord[] {
  const view = checkWhole(bytes, CALIBRATION_RECORD_SIZE, 'calibration iterator output');
  const out: CalibrationRecord[] = [];
  for (let at = 0; at < bytes.byteLength; at += CALIBRATION_RECORD_SIZE) {
    out.push({ fd: view.getUint32(at, true), fop: view.getBigUint64(at + 8, true) });
  }
  return out;
}

/** Encodes one holder record (the inverse of {@link parseHolderRecords}; for tests and fixtures). */
export function encodeHolderRecord(r: HolderRecord | (Omit<HolderRecord, 'kind'> & { readonly kind: number })): Uint8Array {
  const out = new Uint8Array(HOLDER_RECORD_SIZE);
  const view = new DataView(out.buffer);
  view.setUint32(HOLDER_RECORD.tgid, r.tgid, true);
  view.setUint32(HOLDER_RECORD.fd, r.fd, true);
  view.setUint32(HOLDER_RECORD.kind, typeof r.kind === 'number' ? r.kind : HOLDER_KIND[r.kind], true);
  view.setUint32(HOLDER_RECORD.id, r.id, true);
  out.set(new TextEncoder().encode(r.comm).subarray(0, TASK_COMM_LEN - 1), HOLDER_RECORD.comm);
  return out;
}
