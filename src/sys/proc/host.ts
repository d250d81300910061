import { closeSync, existsSync, openSync, readFileSync, readSync } from 'node:fs';

// These read a few bytes of procfs and sysfs, synchronously: the CLI reads them once at its
// start, where loading node:fs/promises alone took longer than the reads (bench/estimate.ts).

/**
 * Parses a kernel CPU list (`/sys/devices/system/cpu/possible`: `0-1`, `0-3,8-11`, `0`) into
 * the number of CPUs it names. Returns undefined for text that is not such a list.
 */
export function parseCpuList(text: string): number | undefined {
  const t = text.trim();
  if (t === '') return undefined;
  let n = 0;
  for (const part of t.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) return undefined;
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo) return undefined;
    n += hi - lo + 1;
  }
  return n;
}

/** `num_possible_cpus()` of this machine: per-CPU BPF memory is allocated for each. */
export function readPossibleCpus(path = '/sys/devices/system/cpu/possible'): number | undefined {
  try {
    return parseCpuList(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Parses the first `KernelPageSize:` of `/proc/PID/smaps` into bytes. */
export function parseKernelPageSize(smaps: string): number | undefined {
  const m = /^KernelPageSize:\s+(\d+) kB$/m.exec(smaps);
  return m ? Number(m[1]) * 1024 : undefined;
}

/** The page size of this machine, from `/proc/self/smaps`. */
export function readPageSize(path = '/proc/self/smaps'): number | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    // The first mapping's block is enough; do not read the whole file.
    const buf = Buffer.alloc(4096);
    const bytesRead = readSync(fd, buf, 0, buf.length, 0);
    return parseKernelPageSize(buf.subarray(0, bytesRead).toString('utf8'));
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * `KMALLOC_MIN_SIZE` of this kernel: the smallest `kmalloc-N` cache SLUB publishes in sysfs
 * (8 on x86-64; 128 on arm64 before 6.5; since 6.5 the minimum alignment chosen at boot, whose
 * smaller caches are never created: mm/slab_common.c `new_kmalloc_cache()`). Undefined where
 * the kernel has no SLUB sysfs (`CONFIG_SLUB_SYSFS=n`) or it cannot be read.
 */
export function readKmallocMinSize(dir = '/sys/kernel/slab'): number | undefined {
  for (const size of [8, 16, 32, 64, 128, 256]) {
    if (existsSync(`${dir}/kmalloc-${size}`)) return size;
  }
  return undefined;
}
