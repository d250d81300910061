import { BpfmemError } from '../../vocab/errors.js';
import { errnoName, type Errno } from '../../vocab/errno.js';
import type { BpfCommand } from './types.js';

/** System calls other than bpf(2) that src/sys makes through libc. */
export type LibcCall = 'close' | 'getrlimit' | 'setrlimit' | 'setresuid' | 'socket' | 'bind' | 'getsockname' | 'setsockopt' | 'sched_setaffinity' | 'mmap' | 'munmap';

/**
 * What each errno means, as glibc's `strerror()` says it; ENOTSUPP (524) is kernel-internal
 * (include/linux/errno.h) and glibc only says "Unknown error 524", so it gets the kernel's words.
 */
const DESCRIPTIONS: Readonly<Record<Errno, string>> = {
  EPERM: 'Operation not permitted',
  ENOENT: 'No such file or directory',
  ESRCH: 'No such process',
  EBADF: 'Bad file descriptor',
  EAGAIN: 'Resource temporarily unavailable',
  ENOMEM: 'Cannot allocate memory',
  EACCES: 'Permission denied',
  EFAULT: 'Bad address',
  EBUSY: 'Device or resource busy',
  EEXIST: 'File exists',
  EINVAL: 'Invalid argument',
  ENOSPC: 'No space left on device',
  ERANGE: 'Numerical result out of range',
  EDEADLK: 'Resource deadlock avoided',
  ETIMEDOUT: 'Connection timed out',
  E2BIG: 'Argument list too long',
  ENOBUFS: 'No buffer space available',
  EOPNOTSUPP: 'Operation not supported',
  EBADFD: 'File descriptor in bad state',
  ENOTSUPP: 'Operation is not supported',
};

/** `ENOMEM (Cannot allocate memory)`, or `errno 99` for an errno bpfmem has no name for. */
export function describeErrno(errno: number): string {
  const name = errnoName(errno);
  return name === undefined ? `errno ${errno}` : `${name} (${DESCRIPTIONS[name]})`;
}

/**
 * A system call the kernel refused: which call (`BPF_MAP_CREATE`, `setsockopt`, …) and the
 * errno, translated once here. `errnoName` is undefined for an errno bpfmem has no name for.
 * The message is one line: `BPF_MAP_CREATE: ENOMEM (Cannot allocate memory)`, followed by
 * `: detail` when there is more to say (the verifier's first lines for BPF_PROG_LOAD).
 */
export class SyscallError extends BpfmemError {
  readonly errnoName: Errno | undefined;

  constructor(
    readonly cmd: BpfCommand | LibcCall,
    readonly errno: number,
    readonly detail?: string,
  ) {
    super('system', `${cmd}: ${describeErrno(errno)}${detail === undefined || detail === '' ? '' : `: ${detail}`}`);
    this.errnoName = errnoName(errno);
  }
}

/** Whether `error` is a {@link SyscallError} with errno `name`. */
export function hasErrno(error: unknown, name: Errno): error is SyscallError {
  return error instanceof SyscallError && error.errnoName === name;
}
