import { atLeast, type KernelVersion } from './version.js';

/**
 * Sizes of kernel structures that the accounting depends on. They change with version and
 * config, so they are parameters of the {@link KernelProfile}, never constants in formulas.
 * Defaults are those read from the BTF of the 6.18 x86_64 test kernel (kernel-facts.md §1.2).
 */
export interface StructSizes {
  readonly bpf_map: number;
  readonly bpf_htab: number;
  readonly htab_elem: number;
  /** `struct bucket` of hashtab.c. */
  readonly htab_bucket: number;
  readonly bpf_array: number;
  readonly lpm_trie: number;
  readonly lpm_trie_node: number;
  readonly bpf_queue_stack: number;
  readonly bpf_ringbuf_map: number;
  /** `offsetof(struct bpf_ringbuf, consumer_pos)`: the meta pages before the data pages. */
  readonly bpf_ringbuf_meta_pages: number;
  readonly bpf_bloom_filter: number;
  readonly bpf_dtab: number;
  readonly bpf_dtab_netdev: number;
  readonly bpf_cpu_map: number;
  readonly bpf_cpu_map_entry: number;
  readonly xsk_map: number;
  readonly xsk_map_node: number;
  readonly bpf_stab: number;
  readonly bpf_shtab: number;
  readonly bpf_shtab_bucket: number;
  readonly bpf_shtab_elem: number;
  readonly reuseport_array: number;
  readonly bpf_cgroup_storage_map: number;
  readonly bpf_cgroup_storage: number;
  readonly bpf_local_storage_map: number;
  readonly bpf_local_storage_map_bucket: number;
  readonly bpf_local_storage_elem: number;
  readonly bpf_local_storage: number;
  readonly bpf_struct_ops_map: number;
  readonly bpf_struct_ops_value: number;
  readonly bpf_arena: number;
  readonly bpf_stack_map: number;
  readonly stack_map_bucket: number;
  /** `offsetof(struct bpf_prog, insns)`. */
  readonly bpf_prog_insns_offset: number;
  readonly bpf_prog: number;
  readonly bpf_prog_aux: number;
  /** `struct bpf_prog_stats` (per CPU). */
  readonly bpf_prog_stats: number;
  readonly bpf_mem_cache: number;
  readonly user_struct: number;
  /**
   * The object size of the `filp` slab cache (`sizeof(struct file)` 184, cache-line aligned):
   * every fd of a map or program holds one, charged to the task that opened it (SLAB_ACCOUNT).
   */
  readonly filp: number;
  /** `sizeof(void *)`. */
  readonly pointer: number;
  /** `LLIST_NODE_SZ` of bpf_mem_alloc. */
  readonly llist_node: number;
  /** `HASHTAB_MAP_LOCK_COUNT` ints per CPU counted by htab_map_mem_usage(). */
  readonly htab_map_lock_count: number;
}

/** The 6.18 x86_64 sizes, read from `/sys/kernel/btf/vmlinux` (kernel-facts.md §1.2). */
export const STRUCT_SIZES_6_18: StructSizes = {
  bpf_map: 296,
  bpf_htab: 832,
  htab_elem: 48,
  htab_bucket: 16,
  bpf_array: 312,
  lpm_trie: 400,
  lpm_trie_node: 24,
  bpf_queue_stack: 312,
  bpf_ringbuf_map: 304,
  bpf_ringbuf_meta_pages: 1,
  bpf_bloom_filter: 312,
  bpf_dtab: 344,
  bpf_dtab_netdev: 64,
  bpf_cpu_map: 304,
  bpf_cpu_map_entry: 360,
  xsk_map: 304,
  xsk_map_node: 32,
  bpf_stab: 376,
  bpf_shtab: 384,
  bpf_shtab_bucket: 16,
  bpf_shtab_elem: 48,
  reuseport_array: 296,
  bpf_cgroup_storage_map: 328,
  bpf_cgroup_storage: 104,
  bpf_local_storage_map: 448,
  bpf_local_storage_map_bucket: 16,
  bpf_local_storage_elem: 128,
  bpf_local_storage: 176,
  bpf_struct_ops_map: 512,
  bpf_struct_ops_value: 64,
  bpf_arena: 400,
  bpf_stack_map: 320,
  stack_map_bucket: 16,
  bpf_prog_insns_offset: 96,
  bpf_prog: 96,
  bpf_prog_aux: 1304,
  bpf_prog_stats: 32,
  bpf_mem_cache: 208,
  user_struct: 128,
  filp: 192,
  pointer: 8,
  llist_node: 8,
  htab_map_lock_count: 8,
};

/**
 * Default struct sizes for a kernel version: the 6.18 sizes, adjusted where a difference is
 * known. Exact sizes for another kernel come from its BTF (`--btf`); these are the fallback.
 */
export function defaultStructSizes(version: KernelVersion): StructSizes {
  if (atLeast(version, 6, 15)) return STRUCT_SIZES_6_18;
  // Before "bpf: Convert hashtab.c to rqspinlock" (6.15) `struct bpf_htab` also held
  // `int __percpu *map_locked[HASHTAB_MAP_LOCK_COUNT]`: 8 pointers, 64 bytes. Measured on
  // Debian's 6.12.117: hash k4 v8 max 100000 memlock 8,498,256 vs 8,498,192 on 6.18
  // (kernel-lab.md), which is exactly that difference.
  return { ...STRUCT_SIZES_6_18, bpf_htab: STRUCT_SIZES_6_18.bpf_htab + 64 };
}
