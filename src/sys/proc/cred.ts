import { SyscallError } from '../bpf/error.js';
import { lastErrno, libc } from '../bpf/libc.js';

/** `(uid_t) -1`: setresuid(2) leaves that id unchanged. */
const UNCHANGED = 0xffff_ffff;

/**
 * Sets the real uid of this process, keeping the effective and saved uids (and so, for root, every
 * capability: kernel/sys.c `__sys_setresuid()`, security/commoncap.c `cap_emulate_setxuid()` drops
 * capabilities only when all three uids leave 0). The real uid is the user the kernel charged BPF
 * to before 5.11: `bpf_map_charge_init()` (kernel/bpf/syscall.c, 5.10) precharges
 * `get_current_user()`, the `user_struct` of the credentials' real uid (`set_user()` switches it
 * when the real uid changes), so a root process that takes another real uid is that user for the
 * memlock regime while it may still call bpf(). glibc applies it to every thread of the process.
 */
export function setRealUid(uid: number): void {
  if (!Number.isSafeInteger(uid) || uid < 0 || uid >= UNCHANGED) throw new RangeError(`uid ${uid} is not a uid`);
  if (libc().setresuid(uid, UNCHANGED, UNCHANGED) < 0) throw new SyscallError('setresuid', lastErrno());
}
