/**
 * The errno values that BPF and cgroup operations return, by name. `ENOTSUPP` (524) is the
 * kernel-internal value that bpf() leaks to user space (include/linux/errno.h); it is not
 * `EOPNOTSUPP` (95).
 */
export const ERRNO = Object.freeze({
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  EINVAL: 22,
  ENOSPC: 28,
  ERANGE: 34,
  EDEADLK: 35,
  ETIMEDOUT: 110,
  E2BIG: 7,
  ENOBUFS: 105,
  EOPNOTSUPP: 95,
  EBADFD: 77,
  ENOTSUPP: 524,
} as const);

/** An errno name. */
export type Errno = keyof typeof ERRNO;

/** Whether `name` is an errno name bpfmem knows. */
export function isErrno(name: string): name is Errno {
  return Object.hasOwn(ERRNO, name);
}

/** The errno name for a number, if bpfmem knows it. */
export function errnoName(n: number): Errno | undefined {
  for (const [name, value] of Object.entries(ERRNO)) {
    if (value === n && isErrno(name)) return name;
  }
  return undefined;
}

/** A refused operation: the errno the kernel returns and a reason a person can act on. */
export interface Failure {
  readonly ok: false;
  readonly errno: Errno;
  readonly reason: string;
}

/** Builds a {@link Failure}. */
export function fail(errno: Errno, reason: string): Failure {
  return { ok: false, errno, reason };
}
