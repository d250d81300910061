import { parseBtf } from '../btf/index.js';
import { readVmlinuxBtfBytes, VMLINUX_BTF_PATH, vmlinuxBtfIdentity } from '../sys/bpf/index.js';
import { cacheDir, cacheEntry, readCacheFile, writeCacheFile } from '../sys/file/index.js';
import { structSizesFromBtf, STRUCT_READERS } from '../vocab/btf-sizes.js';
import type { StructSizes } from '../vocab/profile.js';
import type { Result } from '../vocab/result.js';

/**
 * The running kernel's struct sizes, from its own BTF (`/sys/kernel/btf/vmlinux`), so that every
 * command is exact for the kernel it runs on (src/vocab/btf-sizes.ts). Parsing the 5.5 MB BTF
 * takes 60–140 ms cold, more than the rest of `bpfmem estimate`; the sizes are cached in
 * bpfmem's cache directory under the BTF's identity (release, build, size, a hash of both
 * ends: src/sys/bpf/vmlinux.ts `vmlinuxBtfIdentity`), and worked out again on any doubt.
 */

/** The sizes this kernel's BTF gives (the rest keep the version's defaults). */
export type KernelSizes = Partial<StructSizes>;

/** Cache file format version: bump when the readers of src/vocab/btf-sizes.ts change meaning. */
const FORMAT = 2;

const cacheName = (pageSize: number): string => `btf-sizes-v${FORMAT}-${pageSize}.json`;

/** A cached entry, if it is for this identity and well formed (exported for tests). */
export function sizesFromCache(text: string | undefined, identity: string): KernelSizes | undefined {
  const sizes = cacheEntry(text, identity)?.['sizes'];
  if (typeof sizes !== 'object' || sizes === null) return undefined;
  const out: Partial<Record<keyof StructSizes, number>> = {};
  for (const [key, n] of Object.entries(sizes)) {
    if (!Object.hasOwn(STRUCT_READERS, key) || typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) return undefined;
    out[key as keyof StructSizes] = n;
  }
  return out;
}

let memo: { pageSize: number; result: Result<KernelSizes> } | undefined;

/**
 * This kernel's struct sizes, or why there are none (no BTF, unreadable). Read once per process.
 */
export function runningKernelSizes(pageSize: number): Result<KernelSizes> {
  if (memo?.pageSize === pageSize) return memo.result;
  const result = readKernelSizes(pageSize);
  memo = { pageSize, result };
  return result;
}

/**
 * Reads the sizes from the cache in `dir`, or from the BTF at `path` (then writes the cache).
 * Not memoized: {@link runningKernelSizes} is.
 */
export function readKernelSizes(pageSize: number, path = VMLINUX_BTF_PATH, dir = cacheDir()): Result<KernelSizes> {
  const identity = vmlinuxBtfIdentity(path);
  if (identity === undefined) return { ok: false, error: `no ${path} (a kernel built without CONFIG_DEBUG_INFO_BTF, or not Linux)` };
  const cached = sizesFromCache(readCacheFile(cacheName(pageSize), dir), identity);
  if (cached) return { ok: true, value: cached };
  const bytes = readVmlinuxBtfBytes(path);
  if (!bytes.ok) return bytes;
  const btf = parseBtf(bytes.value, {});
  if (!btf.ok) return { ok: false, error: `${path}: ${btf.error}` };
  const { sizes } = structSizesFromBtf(btf.value, pageSize);
  writeCacheFile(cacheName(pageSize), `${JSON.stringify({ identity, sizes })}\n`, dir);
  return { ok: true, value: sizes };
}
