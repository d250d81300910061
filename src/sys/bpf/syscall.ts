import { SyscallError } from './error.js';
import { lastErrno, libc } from './libc.js';
import { BPF_CMD, type BpfCommand } from './types.js';

export { SyscallError, describeErrno, hasErrno } from './error.js';
export type { LibcCall } from './error.js';

/** The outcome of one system call as a value: its result, or the errno it failed with. */
export type SyscallResult = { readonly ok: true; readonly value: number } | { readonly ok: false; readonly errno: number };

/**
 * bpf(cmd, attr, attr.length) without throwing: `{ ok: true, value }` (an fd or 0) or
 * `{ ok: false, errno }`. For hot loops and probes that expect failures (ENOENT at the end of
 * a walk); everything else uses {@link bpfSyscall}.
 *
 * The kernel copies `min(size, sizeof(union bpf_attr))` bytes and requires any bytes beyond its
 * own union to be zero (kernel/bpf/syscall.c: `bpf_check_uarg_tail_zero`), so an attribute
 * buffer sized to the last field a command uses works on older and newer kernels alike.
 */
export function tryBpfSyscall(cmd: BpfCommand, attr: Uint8Array): SyscallResult {
  const value = libc().bpf(BPF_CMD[cmd], attr, attr.byteLength);
  return value < 0 ? { ok: false, errno: lastErrno() } : { ok: true, value };
}

/**
 * bpf(cmd, attr, attr.length): the result (an fd or 0), or a thrown {@link SyscallError} named
 * after the command (`BPF_MAP_CREATE: ENOMEM (Cannot allocate memory)`).
 */
export function bpfSyscall(cmd: BpfCommand, attr: Uint8Array): number {
  const value = libc().bpf(BPF_CMD[cmd], attr, attr.byteLength);
  if (value < 0) throw new SyscallError(cmd, lastErrno());
  return value;
}

/**
 * Closes a file descriptor (a map, program, link or socket). Throws a {@link SyscallError}
 * (`close`) on failure; EBADF means it was not open, a bug in the caller.
 */
export function closeFd(fd: number): void {
  if (libc().close(fd) < 0) throw new SyscallError('close', lastErrno());
}
