import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { libc } from '../bpf/libc.js';

/**
 * Giving memory back after a scan, for the long-running faces (`bpfmem serve`).
 *
 * A scan of 100,000 maps leaves tens of MiB of garbage in the V8 heap and in malloc's arenas
 * (the iterator's buffer, decoded records, the metrics text). V8 collects it when its heuristics
 * say so and keeps the pages it grew into; glibc keeps freed chunks in its per-thread arenas. Both
 * are resident memory that the exporter's users pay for on every node. Measured with
 * `bench/inventory.ts` (docs/performance.md): a full collection and `malloc_trim(0)` after each
 * scan took serve's RSS at 100,000 maps from 2,755 to 1,288 bytes a map.
 */

let gc: (() => void) | null | undefined;

/**
 * V8's full collection, where it can be had: `--expose-gc` set at run time makes the next new
 * context get a global `gc` (the flag is read when a context is created, not at start only).
 * Null where this V8 refuses.
 */
function fullGc(): (() => void) | null {
  if (gc !== undefined) return gc;
  try {
    setFlagsFromString('--expose-gc');
    const f: unknown = runInNewContext('gc');
    gc = typeof f === 'function' ? (f as () => void) : null;
  } catch {
    gc = null;
  }
  return gc;
}

/** What {@link releaseMemory} did. */
export interface Released {
  readonly collected: boolean;
  /** Whether malloc_trim ran (glibc only; `koffi` already loaded libc for bpf()). */
  readonly trimmed: boolean;
}

/**
 * Collects the whole V8 heap, then trims malloc's arenas. Blocks for the collection: 31–39 ms
 * with 200,000 small objects live (38 MiB of heap), where a scan of 100,000 maps takes ~340 ms.
 * Never throws.
 */
export function releaseMemory(): Released {
  const collect = fullGc();
  collect?.();
  let trimmed = false;
  try {
    trimmed = libc().mallocTrim() !== undefined;
  } catch {
    // No libc through koffi (not Linux): the collection alone.
  }
  return { collected: collect !== null, trimmed };
}

/** `PR_SET_THP_DISABLE` (include/uapi/linux/prctl.h), since 3.15. */
const PR_SET_THP_DISABLE = 41;

/**
 * Keeps the calling process's own anonymous memory in 4 KiB pages: no transparent huge page is
 * faulted in for it from now on (prctl(2) PR_SET_THP_DISABLE; the kernel checks the mm's
 * MMF_DISABLE_THP at each fault, and khugepaged does not collapse its ranges).
 *
 * A live task is a Node.js process in a memory cgroup whose usage bpfmem compares with the
 * model to the page. Debian's kernels are built with THP `always` (CONFIG_TRANSPARENT_HUGEPAGE_ALWAYS=y
 * in the cloud images of the kernel lab), so one fault of the task's heap in a fresh 2 MiB range
 * charges 2 MiB to its cgroup at once. Measured in a CI run of the lab on 6.18.15: a
 * no-prealloc hash under 8 MiB held 2,030 elements where the model said 3,048, 1,018 elements of
 * 2,056 bytes short: one huge page, faulted by the idle creator while another task inserted.
 * Returns false where the kernel refuses (errno left set).
 */
export function noHugePages(): boolean {
  return libc().prctl(PR_SET_THP_DISABLE, 1) === 0;
}
