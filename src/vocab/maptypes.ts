/** Freezes an object and each of its values: exported tables are shared by every caller. */
function freezeEach<T extends Record<string, object>>(table: T): T {
  for (const v of Object.values(table)) Object.freeze(v);
  return Object.freeze(table);
}

/**
 * BPF map types by bpftool's names, with the kernel's `enum bpf_map_type` value and the release
 * that added each (include/uapi/linux/bpf.h; bpftool's `map_type_name[]`).
 */
export const MAP_TYPES = freezeEach({
  hash: { id: 1, since: '3.19' },
  array: { id: 2, since: '3.19' },
  prog_array: { id: 3, since: '4.2' },
  perf_event_array: { id: 4, since: '4.3' },
  percpu_hash: { id: 5, since: '4.6' },
  percpu_array: { id: 6, since: '4.6' },
  stack_trace: { id: 7, since: '4.6' },
  cgroup_array: { id: 8, since: '4.8' },
  lru_hash: { id: 9, since: '4.10' },
  lru_percpu_hash: { id: 10, since: '4.10' },
  lpm_trie: { id: 11, since: '4.11' },
  array_of_maps: { id: 12, since: '4.12' },
  hash_of_maps: { id: 13, since: '4.12' },
  devmap: { id: 14, since: '4.14' },
  sockmap: { id: 15, since: '4.14' },
  cpumap: { id: 16, since: '4.15' },
  xskmap: { id: 17, since: '4.18' },
  sockhash: { id: 18, since: '4.18' },
  cgroup_storage: { id: 19, since: '4.19' },
  reuseport_sockarray: { id: 20, since: '4.19' },
  percpu_cgroup_storage: { id: 21, since: '4.20' },
  queue: { id: 22, since: '4.20' },
  stack: { id: 23, since: '4.20' },
  sk_storage: { id: 24, since: '5.2' },
  devmap_hash: { id: 25, since: '5.4' },
  struct_ops: { id: 26, since: '5.6' },
  ringbuf: { id: 27, since: '5.8' },
  inode_storage: { id: 28, since: '5.10' },
  task_storage: { id: 29, since: '5.11' },
  bloom_filter: { id: 30, since: '5.16' },
  user_ringbuf: { id: 31, since: '6.1' },
  cgrp_storage: { id: 32, since: '6.2' },
  arena: { id: 33, since: '6.9' },
  // "bpf, x86: add new map type: instructions array" (Anton Protopopov, commit b4ce5923e780):
  // mainline 6.19; libbpf makes one per `.jumptables` (tools/lib/bpf/libbpf.c, 7.2).
  insn_array: { id: 34, since: '6.19' },
  // kernel/bpf/hashtab.c `rhtab_map_ops` (Meta, the "rhash" series; v7 posted 2026-06-05, after
  // the 7.1 merge window): first in 7.2, read in Debian's linux-source-7.2 (7.2.13).
  rhash: { id: 35, since: '7.2' },
} as const satisfies Record<string, { id: number; since: string }>);

/** A map type, by bpftool's name. */
export type MapType = keyof typeof MAP_TYPES;

/** Every map type name, in kernel enum order. */
export const MAP_TYPE_NAMES: readonly MapType[] = Object.freeze(Object.keys(MAP_TYPES) as MapType[]);

/** Whether `name` is a map type bpfmem knows. */
export function isMapType(name: string): name is MapType {
  return Object.hasOwn(MAP_TYPES, name);
}

/** Map types by `enum bpf_map_type` value (an inventory asks once per map). */
const BY_ID: readonly (MapType | undefined)[] = MAP_TYPE_NAMES.reduce<(MapType | undefined)[]>((a, t) => {
  a[MAP_TYPES[t].id] = t;
  return a;
}, []);

/** The map type of a kernel `enum bpf_map_type` value. */
export function mapTypeById(id: number): MapType | undefined {
  return Number.isInteger(id) && id >= 0 ? BY_ID[id] : undefined;
}

/** Map types whose values are per CPU (`bpf_map_value_size()` multiplies by possible CPUs). */
export const PERCPU_MAP_TYPES: ReadonlySet<MapType> = new Set<MapType>([
  'percpu_hash',
  'lru_percpu_hash',
  'percpu_array',
  'percpu_cgroup_storage',
]);

/** Map types whose values are file descriptors on the syscall side (value size 4). */
export const FD_MAP_TYPES: ReadonlySet<MapType> = new Set<MapType>([
  'prog_array',
  'perf_event_array',
  'cgroup_array',
  'array_of_maps',
  'hash_of_maps',
]);
