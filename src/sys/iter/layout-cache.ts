import { vmlinuxBtf, vmlinuxBtfIdentity } from '../bpf/vmlinux.js';
import { cacheEntry, readCacheFile, writeCacheFile } from '../file/cache.js';
import type { Btf } from '../../btf/index.js';
import { err, ok, type Result } from '../../vocab/result.js';
import { readMapIterLayout, type CountField, type MapIterLayout } from './mapiter-layout.js';
import { readTaskFileLayout, type TaskFileLayout } from './holders-prog.js';

/**
 * The offsets both iterators are built from, cached under the identity of the running kernel's
 * BTF (src/sys/bpf/vmlinux.ts `vmlinuxBtfIdentity`: release, build, size, a hash of both ends),
 * as src/live/kernel-sizes.ts caches struct sizes. Reading and indexing the 5.5 MB BTF cost
 * 150 ms of every `bpfmem maps` here (read 70, parse 45, name index 40); the cache file is
 * 1 KiB. Anything doubtful is a miss: a file of another identity, of another format, or with a
 * value that is not what a layout holds is ignored and the layouts are worked out from the BTF
 * again (and written back). A program the kernel refuses with cached offsets is retried with
 * offsets read from the BTF ({@link freshIterLayouts}).
 */

/** Both layouts, or why each cannot be had on this kernel. */
export interface IterLayouts {
  readonly map: Result<MapIterLayout>;
  readonly taskFile: Result<TaskFileLayout>;
  /** Whether they came from the cache file (a refusal then deserves a second try from the BTF). */
  readonly cached: boolean;
}

/** Cache file format version: bump when a layout's fields change meaning. */
const FORMAT = 1;
const CACHE_NAME = `iter-layouts-v${FORMAT}.json`;

/** Both layouts from a parsed BTF. */
export function iterLayoutsOf(btf: Btf): Omit<IterLayouts, 'cached'> {
  const map = readMapIterLayout(btf);
  let taskFile: Result<TaskFileLayout>;
  try {
    taskFile = ok(readTaskFileLayout(btf));
  } catch (error) {
    taskFile = err(error instanceof Error ? error.message : String(error));
  }
  return { map: map.ok ? ok(map.value) : err(map.error), taskFile };
}

// ---------------------------------------------------------------------------------------------
// Checking a cached value: every number a layout holds is an offset, a size or a BTF id.

type Check = (v: unknown) => boolean;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
/** A non-negative int32: an offset or a BTF id. */
const nat: Check = (v) => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 2 ** 31;
/** An offset from a pointer, which may be negative (a counter before the embedded map). */
const int: Check = (v) => typeof v === 'number' && Number.isInteger(v) && Math.abs(v) < 2 ** 31;
const width: Check = (v) => v === 1 || v === 2 || v === 4 || v === 8;
const scalar: Check = (v) => isObject(v) && nat(v['offset']) && width(v['size']);
const array = (each: Check): Check => (v) => Array.isArray(v) && v.every(each);
const optional = (check: Check): Check => (v) => v === undefined || check(v);
/** An object with exactly these keys, each passing its check. */
const shape =
  (checks: Readonly<Record<string, Check>>): Check =>
  (v) =>
    isObject(v) && Object.keys(v).every((k) => Object.hasOwn(checks, k)) && Object.entries(checks).every(([k, c]) => c(v[k]));

const MAP_FIELDS: Readonly<Record<keyof MapIterLayout['map'], Check>> = {
  id: scalar,
  type: scalar,
  keySize: scalar,
  valueSize: scalar,
  maxEntries: scalar,
  flags: scalar,
  name: nat,
  mapExtra: optional(nat),
};
const countField = shape({ mapTypes: array(nat), offset: int, size: (v) => v === 4 || v === 8, what: (v) => typeof v === 'string' } satisfies Record<keyof CountField, Check>);
const chargeChain: Check = (v) =>
  isObject(v) &&
  ((v['via'] === 'none' && shape({ via: () => true, reason: (r) => typeof r === 'string' })(v)) ||
    ((v['via'] === 'objcg' || v['via'] === 'memcg') && shape({ via: () => true, hops: array(nat), id: scalar })(v)));
const mapLayout = shape({
  attachBtfId: nat,
  ctxMeta: nat,
  ctxMap: nat,
  metaSeq: nat,
  map: shape(MAP_FIELDS),
  charge: chargeChain,
  counts: shape({ sumElemCount: optional(nat), fields: array(countField) }),
} satisfies Record<keyof MapIterLayout, Check>);
const taskFileLayout = shape({
  attachBtfId: nat,
  file: shape({ f_op: nat, private_data: nat }),
  task: shape({ tgid: nat, group_leader: nat, comm: nat }),
  bpfMap: shape({ id: nat }),
  bpfProg: shape({ aux: nat }),
  bpfProgAux: shape({ id: nat }),
} satisfies Record<keyof TaskFileLayout, Check>);
/** A cached `Result` of a layout. */
const result = (value: Check): Check => (v) => isObject(v) && ((v['ok'] === true && value(v['value'])) || (v['ok'] === false && typeof v['error'] === 'string'));
const cacheFile = shape({ identity: (v) => typeof v === 'string', map: result(mapLayout), taskFile: result(taskFileLayout) });

/** The layouts a cache file holds for `identity`, if it is well formed. Pure. */
export function parseLayoutCache(text: string | undefined, identity: string): Omit<IterLayouts, 'cached'> | undefined {
  const value = cacheEntry(text, identity);
  if (value === undefined || !cacheFile(value)) return undefined;
  return { map: value['map'] as Result<MapIterLayout>, taskFile: value['taskFile'] as Result<TaskFileLayout> };
}

/** The text of a cache file. */
export function layoutCacheText(identity: string, layouts: Omit<IterLayouts, 'cached'>): string {
  return `${JSON.stringify({ identity, map: layouts.map, taskFile: layouts.taskFile })}\n`;
}

// ---------------------------------------------------------------------------------------------

let memo: Promise<IterLayouts> | undefined;

/** From the running kernel's BTF, written to the cache. */
async function fromBtf(identity: string | undefined): Promise<IterLayouts> {
  let btf: Btf;
  try {
    btf = await vmlinuxBtf();
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    return { map: err(why), taskFile: err(why), cached: false };
  }
  const layouts = iterLayoutsOf(btf);
  if (identity !== undefined) writeCacheFile(CACHE_NAME, layoutCacheText(identity, layouts));
  return { ...layouts, cached: false };
}

/**
 * The layouts of the running kernel: from the cache when it holds them for this BTF, else from
 * the BTF (read and parsed once per process). Never rejects: a kernel without BTF gives the
 * reason in both.
 */
export function iterLayouts(): Promise<IterLayouts> {
  memo ??= Promise.resolve().then(() => {
    const identity = vmlinuxBtfIdentity();
    const cached = identity === undefined ? undefined : parseLayoutCache(readCacheFile(CACHE_NAME), identity);
    return cached ? { ...cached, cached: true } : fromBtf(identity);
  });
  return memo;
}

/**
 * The layouts read from the BTF again (and cached anew), after the kernel refused a program
 * built from cached ones. Later {@link iterLayouts} calls give these.
 */
export function freshIterLayouts(): Promise<IterLayouts> {
  memo = fromBtf(vmlinuxBtfIdentity());
  return memo;
}
