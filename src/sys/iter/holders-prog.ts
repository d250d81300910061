import type { Btf } from '../../btf/index.js';
import {
  alu64Imm,
  call,
  exit,
  ja,
  jmpImm,
  jmpReg,
  label,
  ldImm64,
  ldxMem,
  mov64Imm,
  mov64Reg,
  R0,
  R1,
  R10,
  R2,
  R3,
  R6,
  R7,
  R8,
  stMem,
  stxMem,
  type ProgramItem,
} from '../../asm/index.js';
import { BpfmemError } from '../../vocab/errors.js';
import { findBtfMemberOffset, findBtfTypeId } from '../bpf/btf.js';
import { CALIBRATION_RECORD_SIZE, HOLDER_KIND, HOLDER_RECORD, HOLDER_RECORD_SIZE, TASK_COMM_LEN } from './holders-record.js';

/**
 * The `iter/task_file` programs bpfmem builds at run time to find who holds which BPF map and
 * program: bpftool's src/skeleton/pid_iter.bpf.c (libbpf/bpftool; tools/bpf/bpftool in the
 * kernel tree) written with src/asm instead of clang and CO-RE, so the field offsets come from
 * the running kernel's BTF here (`findBtfMemberOffset`) rather than from relocations.
 *
 * Pure: the layout is read from BTF bytes the caller passes, and the programs are instruction
 * lists; holders-iter.ts loads and runs them.
 */

/** Where the programs find what they read, from the running kernel's BTF. */
export interface TaskFileLayout {
  /** BTF id of the function `bpf_iter_task_file`: the program's `attach_btf_id`. */
  readonly attachBtfId: number;
  readonly file: { readonly f_op: number; readonly private_data: number };
  readonly task: { readonly tgid: number; readonly group_leader: number; readonly comm: number };
  readonly bpfMap: { readonly id: number };
  readonly bpfProg: { readonly aux: number };
  readonly bpfProgAux: { readonly id: number };
}

/**
 * The context of an `iter/task_file` program, `struct bpf_iter__task_file` (kernel/bpf/task_iter.c):
 * `meta`, `task` and `file` are `__bpf_md_ptr`s (8 bytes each, inside anonymous unions, so a
 * member lookup by name does not see them), `fd` is `u32 __aligned(8)`. The verifier checks
 * every context load against these offsets (`btf_ctx_access`: argument n is at 8 × n), so they
 * are ABI; the BTF offset of `fd` is checked against them all the same.
 */
export const TASK_FILE_CTX = { meta: 0, task: 8, fd: 16, file: 24 } as const;
/** `struct bpf_iter_meta` (include/linux/bpf.h): `seq` is its first member, a `__bpf_md_ptr`. */
const META_SEQ = 0;

/**
 * Reads the {@link TaskFileLayout} from BTF, parsed or raw (`/sys/kernel/btf/vmlinux`). Throws a
 * `BpfmemError` (`system`) naming the first member or type the kernel's BTF does not have (a
 * kernel without task_file iterators, 5.8+, has no `bpf_iter_task_file`).
 */
export function readTaskFileLayout(btf: Btf | Uint8Array): TaskFileLayout {
  const member = (struct: string, name: string): number => {
    const off = findBtfMemberOffset(btf, struct, name);
    if (off === undefined) throw new BpfmemError('system', `kernel BTF has no member ${name} of struct ${struct}`);
    return off;
  };
  const attachBtfId = findBtfTypeId(btf, 'bpf_iter_task_file', 'func');
  if (attachBtfId === undefined) throw new BpfmemError('system', 'kernel BTF has no function bpf_iter_task_file (task_file iterators are 5.8+)');
  const fd = findBtfMemberOffset(btf, 'bpf_iter__task_file', 'fd');
  if (fd !== undefined && fd !== TASK_FILE_CTX.fd) {
    throw new BpfmemError('system', `kernel BTF puts bpf_iter__task_file.fd at ${fd}, not ${TASK_FILE_CTX.fd}: a context layout bpfmem does not know`);
  }
  return {
    attachBtfId,
    file: { f_op: member('file', 'f_op'), private_data: member('file', 'private_data') },
    task: { tgid: member('task_struct', 'tgid'), group_leader: member('task_struct', 'group_leader'), comm: member('task_struct', 'comm') },
    bpfMap: { id: member('bpf_map', 'id') },
    bpfProg: { aux: member('bpf_prog', 'aux') },
    bpfProgAux: { id: member('bpf_prog_aux', 'id') },
  };
}

/** The addresses of `bpf_map_fops` and `bpf_prog_fops` (kernel/bpf/syscall.c): what `file->f_op` of a map or program file is. */
export interface BpfFops {
  readonly map: bigint;
  readonly prog: bigint;
}

/** Stack slots (offsets from R10) of the holder program. */
const REC = -HOLDER_RECORD_SIZE; // the record, fp-32 … fp-1
const AUX = REC - 8; // a scratch u64 for prog->aux, fp-40

/** Writes the 8-byte-aligned `size` bytes at `fp + at` to the iterator's seq_file. Clobbers R1–R5. */
function seqWrite(at: number, size: number): ProgramItem[] {
  return [
    ldxMem('dw', R1, R6, TASK_FILE_CTX.meta), // ctx->meta
    ldxMem('dw', R1, R1, META_SEQ), // meta->seq
    mov64Reg(R2, R10),
    alu64Imm('add', R2, at),
    mov64Imm(R3, size),
    call('seq_write'),
  ];
}

/** `bpf_probe_read_kernel(fp + dst, size, R3)`: R3 already holds the kernel address. Clobbers R1–R5. */
function probeRead(dst: number, size: number): ProgramItem[] {
  return [mov64Reg(R1, R10), alu64Imm('add', R1, dst), mov64Imm(R2, size), call('probe_read_kernel')];
}

/**
 * The holder program: for every file of every task the iterator visits, if `file->f_op` is
 * `bpf_map_fops` or `bpf_prog_fops`, writes one 32-byte record (holders-record.ts): tgid, fd,
 * kind, the object's id and `task->group_leader->comm`. As in bpftool's pid_iter.bpf.c:
 * `task->tgid` for the pid, `((struct bpf_map *)file->private_data)->id` and
 * `((struct bpf_prog *)file->private_data)->aux->id` through `bpf_probe_read_kernel` (the
 * verifier types a `void *` member as a scalar, so it cannot be dereferenced directly), and
 * the comm with `bpf_probe_read_kernel_str`. `task` and `file` themselves are BTF pointers,
 * read with plain loads (the verifier turns them into faulting-safe PROBE_MEM loads).
 *
 * Threads: the kernel's task_file iterator already skips a thread that shares its leader's fd
 * table (kernel/bpf/task_iter.c `task_seq_get_next(…, skip_if_dup_files = true)`:
 * `!thread_group_leader(task) && task->files == task->group_leader->files`), and, like
 * bpftool, the record carries `task->tgid`, never the thread id, so a thread with a table of
 * its own reports under its process.
 */
export function buildHolderProgram(layout: TaskFileLayout, fops: BpfFops): ProgramItem[] {
  return [
    mov64Reg(R6, R1),
    ldxMem('dw', R7, R6, TASK_FILE_CTX.task),
    jmpImm('jeq', R7, 0, 'out'),
    ldxMem('dw', R8, R6, TASK_FILE_CTX.file),
    jmpImm('jeq', R8, 0, 'out'),
    // The zeroed record: the verifier wants every byte bpf_seq_write reads to be written.
    stMem('dw', R10, REC, 0),
    stMem('dw', R10, REC + 8, 0),
    stMem('dw', R10, REC + 16, 0),
    stMem('dw', R10, REC + 24, 0),
    ldxMem('dw', R2, R8, layout.file.f_op),
    ldImm64(R3, fops.map),
    jmpReg('jeq', R2, R3, 'map'),
    ldImm64(R3, fops.prog),
    jmpReg('jeq', R2, R3, 'prog'),
    ja('out'),

    label('map'),
    stMem('w', R10, REC + HOLDER_RECORD.kind, HOLDER_KIND.map),
    ldxMem('dw', R3, R8, layout.file.private_data), // struct bpf_map *
    alu64Imm('add', R3, layout.bpfMap.id),
    ...probeRead(REC + HOLDER_RECORD.id, 4),
    ja('common'),

    label('prog'),
    stMem('w', R10, REC + HOLDER_RECORD.kind, HOLDER_KIND.prog),
    stMem('dw', R10, AUX, 0),
    ldxMem('dw', R3, R8, layout.file.private_data), // struct bpf_prog *
    alu64Imm('add', R3, layout.bpfProg.aux),
    ...probeRead(AUX, 8),
    ldxMem('dw', R3, R10, AUX), // struct bpf_prog_aux *
    alu64Imm('add', R3, layout.bpfProgAux.id),
    ...probeRead(REC + HOLDER_RECORD.id, 4),

    label('common'),
    ldxMem('w', R2, R7, layout.task.tgid),
    stxMem('w', R10, R2, REC + HOLDER_RECORD.tgid),
    ldxMem('w', R2, R6, TASK_FILE_CTX.fd),
    stxMem('w', R10, R2, REC + HOLDER_RECORD.fd),
    ldxMem('dw', R3, R7, layout.task.group_leader),
    alu64Imm('add', R3, layout.task.comm),
    mov64Reg(R1, R10),
    alu64Imm('add', R1, REC + HOLDER_RECORD.comm),
    mov64Imm(R2, TASK_COMM_LEN),
    call('probe_read_kernel_str'),
    ...seqWrite(REC, HOLDER_RECORD_SIZE),

    label('out'),
    mov64Imm(R0, 0),
    exit(),
  ];
}

/**
 * The calibration program: for every file of the process that reads the iterator (its tgid is
 * `bpf_get_current_pid_tgid() >> 32`: the iterator runs in the reader's `read()`), writes a
 * 16-byte record `fd, f_op`. Reading it while holding one map fd and one program fd of its own
 * tells bpfmem the addresses of `bpf_map_fops` and `bpf_prog_fops` where /proc/kallsyms does
 * not list them (kernels without CONFIG_KALLSYMS_ALL list text symbols only).
 */
export function buildCalibrationProgram(layout: TaskFileLayout): ProgramItem[] {
  const rec = -CALIBRATION_RECORD_SIZE;
  return [
    mov64Reg(R6, R1),
    ldxMem('dw', R7, R6, TASK_FILE_CTX.task),
    jmpImm('jeq', R7, 0, 'out'),
    ldxMem('dw', R8, R6, TASK_FILE_CTX.file),
    jmpImm('jeq', R8, 0, 'out'),
    call('get_current_pid_tgid'),
    alu64Imm('rsh', R0, 32),
    ldxMem('w', R2, R7, layout.task.tgid),
    jmpReg('jne', R2, R0, 'out'),
    stMem('dw', R10, rec, 0),
    ldxMem('w', R2, R6, TASK_FILE_CTX.fd),
    stxMem('w', R10, R2, rec),
    ldxMem('dw', R2, R8, layout.file.f_op),
    stxMem('dw', R10, R2, rec + 8),
    ...seqWrite(rec, CALIBRATION_RECORD_SIZE),
    label('out'),
    mov64Imm(R0, 0),
    exit(),
  ];
}
