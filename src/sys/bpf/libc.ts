import koffi from 'koffi';

/**
 * The one place that loads libc through koffi, lazily and once. Everything in src/sys that makes
 * a system call goes through the typed functions here; nothing else imports koffi (besides
 * test/live/env.ts, which probes bpf() on its own).
 *
 * koffi facts this module relies on (koffi 3.3, doc/pointers.md, doc/misc.md, src/call.cc):
 * - A `Uint8Array` (or Buffer) passed for a `void *` parameter is passed as a pointer to its
 *   own memory, not a copy, so the kernel's writes land in it (`PushPointer` → `TryPointer`).
 * - `koffi.address(u8)` is the address of a view's bytes (via `napi_get_buffer_info`, which
 *   moves an on-heap typed array's contents off-heap first). V8 never moves an ArrayBuffer's
 *   backing store, so the address stays valid while the view is reachable.
 * - `koffi.errno()` reads the calling thread's `errno`; read it right after a call fails.
 * - Declared return types `int`/`long` come back as JS numbers; koffi types them `any`, so each
 *   wrapper narrows them once, here.
 */

/** The libc functions src/sys uses, with JS types. Pointer parameters take byte views. */
export interface Libc {
  /**
   * `syscall(__NR_bpf, cmd, attr, size)`: the result (fd, 0) or -1 with errno set.
   *
   * Declared with a fixed prototype rather than koffi's variadic `long syscall(long, ...)`:
   * glibc's `syscall()` on x86-64 and arm64 is an assembly stub that moves its integer argument
   * registers into the system call registers, and variadic and fixed integer/pointer arguments
   * travel in the same registers on both ABIs (SysV x86-64, AAPCS64 on Linux). The fixed form
   * saves koffi the per-call parsing of type strings: about 1.8 M against 1.4 M calls/s.
   */
  bpf(cmd: number, attr: Uint8Array, size: number): number;
  close(fd: number): number;
  /** `getrlimit(resource, struct rlimit *)`: two u64 (`rlim_cur`, `rlim_max`) at `out`. */
  getrlimit(resource: number, out: Uint8Array): number;
  setrlimit(resource: number, limits: Uint8Array): number;
  /** `setresuid(ruid, euid, suid)`; `0xffffffff` (`(uid_t) -1`) leaves one unchanged. */
  setresuid(ruid: number, euid: number, suid: number): number;
  socket(domain: number, type: number, protocol: number): number;
  bind(fd: number, addr: Uint8Array, len: number): number;
  /** `getsockname(fd, addr, socklen_t *len)`: `len` is a 4-byte in/out view. */
  getsockname(fd: number, addr: Uint8Array, len: Uint8Array): number;
  setsockopt(fd: number, level: number, name: number, value: Uint8Array, len: number): number;
  /** `sched_setaffinity(pid, cpusetsize, mask)`. */
  schedSetaffinity(pid: number, size: number, mask: Uint8Array): number;
  /** `prctl(option, arg2, 0, 0, 0)`: the options bpfmem uses take one argument. */
  prctl(option: number, arg2: number): number;
  /**
   * `mmap(NULL, length, prot, MAP_SHARED, fd, offset)` of a BPF map (an mmapable array, a ring
   * buffer): a view of the kernel's pages, or undefined with errno set (MAP_FAILED).
   */
  mmapShared(fd: number, length: number, prot: number, offset: number): MappedMemory | undefined;
  /**
   * Faults `length` bytes of fresh anonymous memory in and unmaps them: `mmap(NULL, length,
   * PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0)`, then `munmap`.
   * 0, or -1 with errno set.
   */
  touchAnonymous(length: number): number;
  /**
   * `malloc_trim(0)` (glibc): gives the free memory at the top of each malloc arena, and whole
   * free pages inside them, back to the kernel. 1 when some was released, 0 when none; undefined
   * where the C library has no such function (musl).
   */
  mallocTrim(): number | undefined;
  /** `fcntl(fd, cmd, arg)` with an int argument (F_GETFD, F_SETFD): the result, or -1 with errno set. */
  fcntl(fd: number, cmd: number, arg: number): number;
  /**
   * `execve(path, argv, envp)`: replaces this process's image (the same pid, its open fds but
   * those marked close-on-exec). Returns only when that failed: -1 with errno set.
   */
  execve(path: string, argv: readonly string[], env: readonly string[]): number;
}

/** Memory mapped from a file descriptor: a view of it, and the call that unmaps it. */
export interface MappedMemory {
  /** The mapped bytes (koffi.view: no copy; reads see the kernel's writes). */
  readonly buffer: ArrayBuffer;
  /** munmap(2): 0, or -1 with errno set. The buffer must not be used after. */
  unmap(): number;
}

/** `PROT_READ`, `PROT_WRITE` (include/uapi/asm-generic/mman-common.h). */
export const PROT_READ = 0x1;
export const PROT_WRITE = 0x2;
/** `MAP_SHARED`. */
const MAP_SHARED = 0x01;
/** `MAP_PRIVATE`, `MAP_ANONYMOUS`, `MAP_POPULATE` (x86-64 values). */
const MAP_PRIVATE = 0x02;
const MAP_ANONYMOUS = 0x20;
const MAP_POPULATE = 0x8000;
/** `MAP_FAILED`, `(void *)-1`. */
const MAP_FAILED = 0xffff_ffff_ffff_ffffn;

/** `__NR_bpf` per architecture (arch/x86/entry/syscalls/syscall_64.tbl; include/uapi/asm-generic/unistd.h). */
const NR_BPF: Readonly<Partial<Record<NodeJS.Architecture, number>>> = {
  x64: 321,
  arm64: 280,
  riscv64: 280,
  loong64: 280,
};

/** The bpf(2) system call number of this machine, or undefined where bpfmem does not know it. */
export function bpfSyscallNumber(arch: NodeJS.Architecture = process.arch): number | undefined {
  return NR_BPF[arch];
}

/** Narrows a value koffi returned for an `int`/`long` result. */
function int(value: unknown, what: string): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  throw new TypeError(`koffi returned ${typeof value} for ${what}`);
}

let cached: Libc | undefined;

/** libc's functions, loaded on first use. Throws where libc or bpf(2) is not available. */
export function libc(): Libc {
  if (cached) return cached;
  if (process.platform !== 'linux') throw new Error(`bpf() needs Linux, not ${process.platform}`);
  const nr = bpfSyscallNumber();
  if (nr === undefined) throw new Error(`the bpf() system call number of ${process.arch} is not known to bpfmem`);
  const lib = koffi.load('libc.so.6');
  const syscall = lib.func('long syscall(long nr, int cmd, void *attr, unsigned int size)');
  const close = lib.func('int close(int fd)');
  const getrlimit = lib.func('int getrlimit(int resource, void *rlim)');
  const setrlimit = lib.func('int setrlimit(int resource, void *rlim)');
  const setresuid = lib.func('int setresuid(uint32_t ruid, uint32_t euid, uint32_t suid)');
  const socket = lib.func('int socket(int domain, int type, int protocol)');
  const bind = lib.func('int bind(int fd, void *addr, unsigned int len)');
  const getsockname = lib.func('int getsockname(int fd, void *addr, void *len)');
  const setsockopt = lib.func('int setsockopt(int fd, int level, int name, void *value, unsigned int len)');
  const schedSetaffinity = lib.func('int sched_setaffinity(int pid, size_t size, void *mask)');
  const prctl = lib.func('int prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4, unsigned long arg5)');
  const mmap = lib.func('void *mmap(void *addr, size_t length, int prot, int flags, int fd, long offset)');
  const munmap = lib.func('int munmap(void *addr, size_t length)');
  // fcntl(2) is variadic in C: declared so, each call gives its argument's type.
  const fcntl = lib.func('int fcntl(int fd, int cmd, ...)');
  const execve = lib.func('int execve(const char *path, const char **argv, const char **envp)');
  let trim: ((pad: number) => unknown) | null | undefined;
  cached = {
    bpf: (cmd, attr, size) => int(syscall(nr, cmd, attr, size), 'syscall'),
    close: (fd) => int(close(fd), 'close'),
    getrlimit: (resource, out) => int(getrlimit(resource, out), 'getrlimit'),
    setrlimit: (resource, limits) => int(setrlimit(resource, limits), 'setrlimit'),
    setresuid: (ruid, euid, suid) => int(setresuid(ruid, euid, suid), 'setresuid'),
    socket: (domain, type, protocol) => int(socket(domain, type, protocol), 'socket'),
    bind: (fd, addr, len) => int(bind(fd, addr, len), 'bind'),
    getsockname: (fd, addr, len) => int(getsockname(fd, addr, len), 'getsockname'),
    setsockopt: (fd, level, name, value, len) => int(setsockopt(fd, level, name, value, len), 'setsockopt'),
    schedSetaffinity: (pid, size, mask) => int(schedSetaffinity(pid, size, mask), 'sched_setaffinity'),
    prctl: (option, arg2) => int(prctl(option, arg2, 0, 0, 0), 'prctl'),
    touchAnonymous: (length) => {
      const ptr: unknown = mmap(null, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
      if (ptr === null || koffi.address(ptr) === MAP_FAILED) return -1;
      return int(munmap(ptr, length), 'munmap');
    },
    mallocTrim: () => {
      if (trim === undefined) {
        try {
          trim = lib.func('int malloc_trim(size_t pad)');
        } catch {
          trim = null; // not glibc
        }
      }
      return trim === null ? undefined : int(trim(0), 'malloc_trim');
    },
    fcntl: (fd, cmd, arg) => int(fcntl(fd, cmd, 'int', arg), 'fcntl'),
    // koffi passes a JS array of strings as a C array of pointers to copies of them; execve
    // wants each list ended by a null pointer.
    execve: (path, argv, env) => int(execve(path, [...argv, null], [...env, null]), 'execve'),
    mmapShared: (fd, length, prot, offset) => {
      const ptr: unknown = mmap(null, length, prot, MAP_SHARED, fd, offset);
      if (ptr === null || koffi.address(ptr) === MAP_FAILED) return undefined;
      let mapped = true;
      return {
        buffer: koffi.view(ptr, length),
        unmap: () => {
          if (!mapped) return 0;
          mapped = false;
          return int(munmap(ptr, length), 'munmap');
        },
      };
    },
  };
  return cached;
}

/** The `errno` the last failed libc call left. */
export function lastErrno(): number {
  return koffi.errno();
}

/**
 * The address of a view's first byte, for the u64 pointer fields of `union bpf_attr`. The
 * caller keeps `bytes` reachable until the system call that uses the address returns.
 * An empty view has no storage to point at: its address is 0 (NULL).
 */
export function addressOf(bytes: Uint8Array): bigint {
  return bytes.byteLength === 0 ? 0n : koffi.address(bytes);
}
