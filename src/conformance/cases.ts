import type { KernelStructOps } from '../elf/struct-ops.js';
import { MAP_FLAGS } from '../vocab/flags.js';
import { mapTypeExists } from '../model/maps/index.js';
import { mapSpec, type MapSpec } from '../vocab/map-spec.js';
import type { MapType } from '../vocab/maptypes.js';
import type { KernelProfile } from '../vocab/profile.js';

/**
 * The conformance grid: map specs across types, key and value sizes, max_entries from 1 to
 * millions and flags, each created (and, where memory grows with contents, filled) on the
 * kernel and on the model. Only types this kernel can create without special hardware or BTF.
 */
export interface GridCase {
  /** A stable name: `hash k8 v64 max65536 no_prealloc +10000 softirq`. */
  readonly id: string;
  readonly spec: MapSpec;
  /** Inserts after creation, from the creating task or from softirq (a socket filter). */
  readonly inserts?: { readonly count: number; readonly context: 'task' | 'softirq' };
  /** In the `--quick` grid too. */
  readonly quick: boolean;
}

/** A limit-boundary case: the largest size that fits under `max` bytes, on both sides. */
export interface BoundaryCase {
  readonly id: string;
  /** The cgroup's memory.max. */
  readonly max: number;
  /** What grows: the map's max_entries at creation, or the number of inserts. */
  readonly grows: 'max_entries' | 'inserts';
  readonly spec: MapSpec;
  /** For `max_entries`: candidates are `step × k`; ringbufs grow by powers of two. */
  readonly step: number;
  readonly quick: boolean;
}

/** Types the grid leaves out, and why. */
export const NOT_IN_GRID: Readonly<Partial<Record<MapType, string>>> = {
  sk_storage: 'needs BTF key and value types',
  inode_storage: 'needs BTF key and value types',
  task_storage: 'needs BTF key and value types',
  cgrp_storage: 'needs BTF key and value types',
  struct_ops: 'only tcp_congestion_ops, and only where the kernel BTF has it (ConformanceSetup.structOps)',
  xskmap: 'created, but its entries need AF_XDP sockets',
};

const NP = MAP_FLAGS.no_prealloc;

function name(spec: MapSpec, extra = ''): string {
  const parts: string[] = [spec.type];
  if (spec.keySize) parts.push(`k${spec.keySize}`);
  if (spec.valueSize) parts.push(`v${spec.valueSize}`);
  parts.push(`max${spec.maxEntries}`);
  if (spec.flags & NP) parts.push('no_prealloc');
  if (spec.flags & MAP_FLAGS.no_common_lru) parts.push('no_common_lru');
  if (spec.flags & MAP_FLAGS.mmapable) parts.push('mmapable');
  if (spec.mapExtra) parts.push(`extra${spec.mapExtra}`);
  return parts.join(' ') + extra;
}

function c(spec: MapSpec, quick: boolean, inserts?: GridCase['inserts']): GridCase {
  const extra = inserts ? ` +${inserts.count} ${inserts.context}` : '';
  return { id: name(spec, extra), spec, quick, ...(inserts ? { inserts } : {}) };
}

/**
 * Every grid case this kernel can run; `quick` picks a subset that still covers every type.
 * `structOps`: the kernel's tcp_congestion_ops, whose value size and function count only its
 * BTF says; without it the grid has no struct_ops case.
 */
export function gridCases(profile: KernelProfile, quick: boolean, structOps?: KernelStructOps): GridCase[] {
  const all: GridCase[] = [];
  const hashes = ['hash', 'percpu_hash', 'lru_hash', 'lru_percpu_hash'] as const;
  for (const type of hashes) {
    for (const [k, v, max, q] of [
      [4, 8, 1, true],
      [4, 8, 1000, false],
      [16, 64, 65536, true],
      [8, 1000, 10000, false],
      [8, 8, 1_000_000, false],
    ] as const) {
      all.push(c(mapSpec({ type, keySize: k, valueSize: v, maxEntries: max }), q && type === 'hash'));
    }
  }
  all.push(c(mapSpec({ type: 'lru_hash', keySize: 4, valueSize: 8, maxEntries: 1001, flags: MAP_FLAGS.no_common_lru }), true));
  all.push(c(mapSpec({ type: 'lru_percpu_hash', keySize: 4, valueSize: 8, maxEntries: 7, flags: MAP_FLAGS.no_common_lru }), false));
  // No-prealloc hash maps: memory follows the contents (bpf_mem_alloc on 6.1+).
  for (const [type, k, v, max, count, context, q] of [
    ['hash', 8, 64, 65536, 10000, 'task', true],
    ['hash', 8, 64, 65536, 10000, 'softirq', true],
    ['hash', 8, 1000, 100000, 5000, 'task', false],
    ['hash', 8, 248, 65536, 10000, 'task', true],
    ['hash', 4, 4, 1000, 500, 'softirq', false],
    ['percpu_hash', 4, 256, 10000, 2000, 'task', true],
    ['percpu_hash', 16, 8, 10000, 3000, 'softirq', false],
  ] as const) {
    all.push(c(mapSpec({ type, keySize: k, valueSize: v, maxEntries: max, flags: NP }), q, { count, context }));
  }
  // rhash (7.2+): bpf_mem_alloc elements; bucket tables (the first one sized by the map_extra hint,
  // 1 MiB for 65535; grown by the deferred worker as elements come) are charged to nobody.
  for (const [k, v, max, extra, count, context, q] of [
    [8, 64, 65536, 0, 10000, 'task', true],
    [16, 248, 100000, 65535, 3000, 'task', true],
    [4, 4, 1000, 100, 500, 'softirq', true],
    [8, 1000, 100000, 0, 5000, 'task', false],
  ] as const) {
    all.push(c(mapSpec({ type: 'rhash', keySize: k, valueSize: v, maxEntries: max, flags: NP, mapExtra: extra }), q, { count, context }));
  }
  for (const [v, max, q] of [
    [4, 1, true],
    [64, 1000, false],
    [4096, 100, true],
    [8, 1_000_000, false],
    [13, 4_000_000, false],
  ] as const) {
    all.push(c(mapSpec({ type: 'array', keySize: 4, valueSize: v, maxEntries: max }), q));
    all.push(c(mapSpec({ type: 'percpu_array', keySize: 4, valueSize: v, maxEntries: Math.min(max, 100_000) }), q && v === 4));
  }
  all.push(c(mapSpec({ type: 'array', keySize: 4, valueSize: 64, maxEntries: 100000, flags: MAP_FLAGS.mmapable }), true));
  for (const type of ['prog_array', 'perf_event_array', 'cgroup_array'] as const) {
    all.push(c(mapSpec({ type, keySize: 4, valueSize: 4, maxEntries: 1000 }), type === 'prog_array'));
  }
  all.push(c(mapSpec({ type: 'array_of_maps', keySize: 4, valueSize: 4, maxEntries: 1000 }), true));
  all.push(c(mapSpec({ type: 'hash_of_maps', keySize: 4, valueSize: 4, maxEntries: 1000 }), true));
  for (const [k, v, count, q] of [
    [8, 8, 1000, true],
    [20, 16, 3000, false],
  ] as const) {
    all.push(c(mapSpec({ type: 'lpm_trie', keySize: k, valueSize: v, maxEntries: 100000, flags: NP }), q, { count, context: 'task' }));
  }
  all.push(c(mapSpec({ type: 'lpm_trie', keySize: 8, valueSize: 8, maxEntries: 100000, flags: NP }), false, { count: 2000, context: 'softirq' }));
  for (const type of ['queue', 'stack'] as const) {
    all.push(c(mapSpec({ type, valueSize: 64, maxEntries: 65536 }), type === 'queue'));
  }
  for (const [size, q] of [
    [4096, true],
    [1 << 20, false],
    [16 << 20, false],
  ] as const) {
    all.push(c(mapSpec({ type: 'ringbuf', maxEntries: size }), q));
    all.push(c(mapSpec({ type: 'user_ringbuf', maxEntries: size }), q));
  }
  all.push(c(mapSpec({ type: 'bloom_filter', valueSize: 8, maxEntries: 65536, mapExtra: 5 }), true));
  all.push(c(mapSpec({ type: 'bloom_filter', valueSize: 16, maxEntries: 1_000_000, mapExtra: 3 }), false));
  all.push(c(mapSpec({ type: 'devmap', keySize: 4, valueSize: 4, maxEntries: 64 }), true, { count: 2, context: 'task' }));
  all.push(c(mapSpec({ type: 'devmap_hash', keySize: 4, valueSize: 4, maxEntries: 1000 }), true, { count: 100, context: 'task' }));
  all.push(c(mapSpec({ type: 'cpumap', keySize: 4, valueSize: 4, maxEntries: profile.possibleCpus }), true));
  all.push(c(mapSpec({ type: 'xskmap', keySize: 4, valueSize: 4, maxEntries: 1000 }), false));
  all.push(c(mapSpec({ type: 'sockmap', keySize: 4, valueSize: 4, maxEntries: 1000 }), true));
  all.push(c(mapSpec({ type: 'sockhash', keySize: 4, valueSize: 4, maxEntries: 1000 }), true, { count: 50, context: 'task' }));
  all.push(c(mapSpec({ type: 'reuseport_sockarray', keySize: 4, valueSize: 4, maxEntries: 1000 }), false));
  all.push(c(mapSpec({ type: 'stack_trace', keySize: 4, valueSize: 1016, maxEntries: 1000 }), true));
  all.push(c(mapSpec({ type: 'cgroup_storage', keySize: 16, valueSize: 64 }), true));
  all.push(c(mapSpec({ type: 'percpu_cgroup_storage', keySize: 16, valueSize: 64 }), false));
  all.push(c(mapSpec({ type: 'arena', maxEntries: 16, flags: MAP_FLAGS.mmapable, mapExtra: 0 }), false));
  // insn_array (6.19+): one bpf_map_area_alloc(); updates write in place (zero values: orig_off 0).
  all.push(c(mapSpec({ type: 'insn_array', keySize: 4, valueSize: 16, maxEntries: 1 }), true));
  all.push(c(mapSpec({ type: 'insn_array', keySize: 4, valueSize: 16, maxEntries: 100_000 }), true, { count: 1000, context: 'task' }));
  if (structOps) {
    const spec = mapSpec({
      type: 'struct_ops',
      keySize: 4,
      valueSize: structOps.valueSize,
      maxEntries: 1,
      structOpsFuncs: structOps.funcs,
      structOpsMembers: structOps.members,
      structOpsType: structOps.type,
    });
    all.push({ ...c(spec, true), id: `struct_ops ${structOps.type} v${structOps.valueSize} funcs${structOps.funcs}` });
  }
  return all.filter((g) => mapTypeExists(g.spec.type, profile) && (!quick || g.quick));
}

/** The limit-boundary cases: sizes whose charge steps by at least a page near the limit. */
export function boundaryCases(profile: KernelProfile, quick: boolean): BoundaryCase[] {
  const MiB = 1024 * 1024;
  const all: BoundaryCase[] = [
    { id: 'array v4096 under 8 MiB', max: 8 * MiB, grows: 'max_entries', spec: mapSpec({ type: 'array', keySize: 4, valueSize: 4096 }), step: 1, quick: true },
    { id: 'hash k8 v4000 under 8 MiB', max: 8 * MiB, grows: 'max_entries', spec: mapSpec({ type: 'hash', keySize: 8, valueSize: 4000 }), step: 1, quick: true },
    { id: 'queue v4096 under 4 MiB', max: 4 * MiB, grows: 'max_entries', spec: mapSpec({ type: 'queue', valueSize: 4096 }), step: 1, quick: false },
    { id: 'ringbuf under 6 MiB', max: 6 * MiB, grows: 'max_entries', spec: mapSpec({ type: 'ringbuf', maxEntries: 4096 }), step: 0, quick: true },
    {
      id: 'no-prealloc hash v1000 inserts under 8 MiB',
      max: 8 * MiB,
      grows: 'inserts',
      spec: mapSpec({ type: 'hash', keySize: 8, valueSize: 1000, maxEntries: 100000, flags: NP }),
      step: 1,
      quick: true,
    },
  ];
  return all.filter((b) => mapTypeExists(b.spec.type, profile) && (!quick || b.quick));
}
