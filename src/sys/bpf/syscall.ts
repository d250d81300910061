import { SyscallError } from './error.js';
import { lastErrno, libc } from './libc.js';
import { BPF_CMD, type BpfCommand } from './types.js';

export { SyscallError, describeErrno, hasErrno } from './error.js';
export type { LibcCall } from './error.js';

/**
 * Keeps the buffers an attribute points to (keys, values, paths, instructions, logs) reachable
 * until the kernel has returned. A `union bpf_attr` carries their addresses as plain u64s, which
 * V8 knows nothing of: a view whose last JavaScript use was `addressOf(view)` is garbage from
 * then on, and a collection triggered by any allocation before the call (the attribute's own)
 * frees its backing store, so the kernel reads whatever lies there. Seen here: BPF_OBJ_PIN
 * failed with EPERM for about one pin in 5,000, strace showing `pathname="rK\\220&"`. The callers
 * pass the buffers as arguments after the attribute (so they are live until the call), and
 * reading the list after the system call keeps it, and them, live until the kernel returns: a
 * store to module state after an opaque call is neither removed nor moved before it. Nothing is
 * kept longer than the call.
 */
let pointeesSeen = 0;
function keptUntilHere(pointees: readonly Uint8Array[]): void {
  pointeesSeen = pointees.length;
}

/** How many buffers the last call held (for tests). */
export const lastPointeeCount = (): number => pointeesSeen;

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
 *
 * `pointees`: every buffer whose address `attr` holds, passed as arguments so that they stay
 * reachable from their `addressOf` to the kernel's return (see {@link keptUntilHere}).
 */
export function tryBpfSyscall(cmd: BpfCommand, attr: Uint8Array, ...pointees: Uint8Array[]): SyscallResult {
  const value = libc().bpf(BPF_CMD[cmd], attr, attr.byteLength);
  keptUntilHere(pointees);
  return value < 0 ? { ok: false, errno: lastErrno() } : { ok: true, value };
}

/**
 * bpf(cmd, attr, attr.length): the result (an fd or 0), or a thrown {@link SyscallError} named
 * after the command (`BPF_MAP_CREATE: ENOMEM (Cannot allocate memory)`). `pointees` as for
 * {@link tryBpfSyscall}.
 */
export function bpfSyscall(cmd: BpfCommand, attr: Uint8Array, ...pointees: Uint8Array[]): number {
  const value = libc().bpf(BPF_CMD[cmd], attr, attr.byteLength);
  keptUntilHere(pointees);
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
