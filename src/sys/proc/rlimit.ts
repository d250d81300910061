import { SyscallError } from '../bpf/error.js';
import { lastErrno, libc } from '../bpf/libc.js';
import type { Rlimit } from '../../vocab/rlimit.js';

/**
 * RLIMIT_MEMLOCK of this process, through getrlimit(2)/setrlimit(2). Before 5.11 (the `memlock`
 * regime) every BPF map and program precharged the creating user's `locked_vm` against it;
 * since 5.11 it no longer limits BPF (kernel/bpf/syscall.c lost `bpf_map_charge_memlock`).
 */

/** `RLIMIT_MEMLOCK` (include/uapi/asm-generic/resource.h). */
export const RLIMIT_MEMLOCK = 8;

/** `RLIM_INFINITY` as `rlim_t` (u64 on 64-bit Linux): all ones. */
const RLIM_INFINITY = 0xffff_ffff_ffff_ffffn;


/** `struct rlimit` (two `rlim_t`, `rlim_cur` then `rlim_max`) as a {@link Rlimit}. */
export function decodeRlimit(bytes: Uint8Array): Rlimit {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const limit = (v: bigint): number => (v === RLIM_INFINITY ? Infinity : Number(v));
  return { soft: limit(view.getBigUint64(0, true)), hard: limit(view.getBigUint64(8, true)) };
}

/** A {@link Rlimit} as `struct rlimit`. Throws a RangeError for a negative or fractional limit. */
export function encodeRlimit(limit: Rlimit): Uint8Array {
  const out = new Uint8Array(new ArrayBuffer(16));
  const view = new DataView(out.buffer);
  const value = (n: number): bigint => {
    if (n === Infinity) return RLIM_INFINITY;
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`rlimit ${n} is not a byte count`);
    return BigInt(n);
  };
  view.setBigUint64(0, value(limit.soft), true);
  view.setBigUint64(8, value(limit.hard), true);
  return out;
}

/** RLIMIT_MEMLOCK of this process, in bytes (`ulimit -l` shows KiB). */
export function getRlimitMemlock(): Rlimit {
  const out = new Uint8Array(new ArrayBuffer(16));
  if (libc().getrlimit(RLIMIT_MEMLOCK, out) < 0) throw new SyscallError('getrlimit', lastErrno());
  return decodeRlimit(out);
}

/**
 * Sets RLIMIT_MEMLOCK of this process. Lowering is always allowed; raising the hard limit needs
 * CAP_SYS_RESOURCE (EPERM otherwise), and soft above hard is EINVAL.
 */
export function setRlimitMemlock(soft: number, hard: number): void {
  if (libc().setrlimit(RLIMIT_MEMLOCK, encodeRlimit({ soft, hard })) < 0) throw new SyscallError('setrlimit', lastErrno());
}
