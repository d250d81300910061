import { SyscallError } from '../bpf/error.js';
import { lastErrno, libc } from '../bpf/libc.js';

/**
 * CPU affinity of the calling process (sched_setaffinity(2)). Per-CPU allocator caches
 * (bpf_mem_alloc) and the CPU that runs a loopback packet's softirq follow the CPU a task runs
 * on, so live operations pin themselves to the CPU the scenario names.
 */

/** A `cpu_set_t` of 1024 CPUs with one bit set. */
export function cpuMask(cpu: number): Uint8Array {
  if (!Number.isInteger(cpu) || cpu < 0 || cpu >= 1024) throw new RangeError(`CPU ${cpu} is not 0–1023`);
  const mask = new Uint8Array(128);
  mask[cpu >> 3] = 1 << (cpu & 7);
  return mask;
}

/** Pins the calling process (all its threads' future scheduling of the main thread) to `cpu`. */
export function setAffinity(cpu: number): void {
  const mask = cpuMask(cpu);
  if (libc().schedSetaffinity(0, mask.length, mask) !== 0) throw new SyscallError('sched_setaffinity', lastErrno());
}
