import type { StructSizes } from '../vocab/profile.js';
import { atLeast, type KernelVersion } from '../vocab/kernel-version.js';


/** The 6.18 x86_64 sizes, read from `/sys/kernel/btf/vmlinux` (docs/kernel-facts.md §1.2). */
export const STRUCT_SIZES_6_18: StructSizes = Object.freeze({
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
  // 6.18 has neither insn_array (6.19) nor rhash (7.2): `struct bpf_map` plus the 7.2 tails
  // (bpf_insn_array: 16 bytes; bpf_rhtab: rhashtable 160 + bpf_mem_alloc 80 + 8), the defaults
  // of 6.19–7.1 when no BTF is given [I].
  bpf_insn_array: 312,
  bpf_rhtab: 544,
  rhtab_elem: 8,
  bpf_stack_map: 320,
  stack_map_bucket: 16,
  bpf_prog_insns_offset: 96,
  bpf_prog: 96,
  bpf_prog_aux: 1304,
  bpf_prog_stats: 32,
  bpf_mem_cache: 208,
  user_struct: 128,
  filp: 192,
  dentry: 192,
  pointer: 8,
  llist_node: 8,
  htab_map_lock_count: 8,
});

/**
 * Debian 12's 6.1 cloud kernel (linux-image-6.1.0-57-cloud-amd64), read from the `.BTF` section
 * of its vmlinux (the lab's image, decompressed) with bpfmem's BTF reader (src/vocab/btf-sizes.ts):
 * the sizes that differ from 6.18. The same sizes the guest reported of itself in the kernel lab
 * (docs/kernel-lab.md). 6.1 has no arena: `bpf_arena` keeps the 6.18 size, never used there.
 */
export const STRUCT_SIZES_6_1: StructSizes = Object.freeze({
  ...STRUCT_SIZES_6_18,
  bpf_map: 256,
  bpf_array: 320,
  lpm_trie: 320,
  lpm_trie_node: 40,
  bpf_queue_stack: 320,
  bpf_ringbuf_map: 320,
  bpf_bloom_filter: 320,
  bpf_dtab: 320,
  bpf_dtab_netdev: 72,
  bpf_cpu_map: 320,
  bpf_cpu_map_entry: 144,
  xsk_map: 320,
  bpf_stab: 320,
  bpf_shtab: 320,
  reuseport_array: 256,
  bpf_cgroup_storage_map: 320,
  bpf_local_storage_map: 320,
  bpf_local_storage: 168,
  bpf_struct_ops_map: 448,
  bpf_prog_insns_offset: 72,
  bpf_prog: 72,
  bpf_prog_aux: 1080,
  bpf_mem_cache: 128,
  user_struct: 144,
  filp: 256,
});

/** Debian's 6.12 cloud kernel (linux-image-6.12.117+deb12-cloud-amd64), read as {@link STRUCT_SIZES_6_1}. */
export const STRUCT_SIZES_6_12: StructSizes = Object.freeze({
  ...STRUCT_SIZES_6_18,
  bpf_map: 248,
  // Before "bpf: Convert hashtab.c to rqspinlock" (6.15) `struct bpf_htab` also held
  // `int __percpu *map_locked[HASHTAB_MAP_LOCK_COUNT]`: 8 pointers, 64 bytes.
  bpf_htab: 896,
  bpf_array: 264,
  lpm_trie: 288,
  lpm_trie_node: 40,
  bpf_queue_stack: 264,
  bpf_ringbuf_map: 256,
  bpf_bloom_filter: 264,
  bpf_dtab: 296,
  bpf_cpu_map: 256,
  bpf_cpu_map_entry: 136,
  xsk_map: 256,
  bpf_stab: 328,
  bpf_shtab: 336,
  reuseport_array: 248,
  bpf_cgroup_storage_map: 280,
  bpf_local_storage_map: 432,
  bpf_arena: 336,
  bpf_stack_map: 288,
  bpf_prog_insns_offset: 72,
  bpf_prog: 72,
  bpf_prog_aux: 1128,
  bpf_mem_cache: 224,
  user_struct: 136,
});

/**
 * Debian 13's 6.16 cloud kernel (linux-image-6.16.12+deb13-cloud-amd64), read as
 * {@link STRUCT_SIZES_6_1} (zstd): after the rqspinlock conversion (6.15), so no `map_locked`
 * array in `struct bpf_htab`, but with `struct bpf_map` 48 bytes smaller than 6.18's.
 */
export const STRUCT_SIZES_6_16: StructSizes = Object.freeze({
  ...STRUCT_SIZES_6_18,
  bpf_map: 248,
  bpf_array: 264,
  lpm_trie: 352,
  bpf_queue_stack: 264,
  bpf_ringbuf_map: 256,
  bpf_bloom_filter: 264,
  bpf_dtab: 296,
  bpf_cpu_map: 256,
  xsk_map: 256,
  bpf_stab: 328,
  bpf_shtab: 336,
  reuseport_array: 248,
  bpf_cgroup_storage_map: 280,
  bpf_local_storage_map: 400,
  bpf_arena: 352,
  bpf_stack_map: 272,
  bpf_prog_insns_offset: 72,
  bpf_prog: 72,
  bpf_prog_aux: 1160,
});

/**
 * Debian's 7.2 cloud kernel from sid (linux-binary-7.2.13+deb14-cloud-amd64), read as
 * {@link STRUCT_SIZES_6_1} (zstd). Against 6.18: `struct bpf_htab` 64 bytes larger again (with
 * no `map_locked` array), `bpf_local_storage_map` 144 bytes smaller, `bpf_arena` 104 larger.
 * Its BTF (`bpftool btf dump file vmlinux`) also gives the two types 6.18 lacks:
 * `struct bpf_insn_array` 304, `struct bpf_rhtab` 536, `struct rhtab_elem` 8.
 */
export const STRUCT_SIZES_7_2: StructSizes = Object.freeze({
  ...STRUCT_SIZES_6_18,
  bpf_map: 288,
  bpf_htab: 896,
  bpf_array: 304,
  lpm_trie: 408,
  bpf_queue_stack: 304,
  bpf_ringbuf_map: 296,
  bpf_bloom_filter: 304,
  bpf_dtab: 336,
  bpf_cpu_map: 296,
  xsk_map: 296,
  bpf_stab: 368,
  bpf_shtab: 376,
  reuseport_array: 288,
  bpf_cgroup_storage_map: 320,
  bpf_local_storage_map: 304,
  bpf_local_storage: 184,
  bpf_arena: 504,
  bpf_insn_array: 304,
  bpf_rhtab: 536,
  bpf_stack_map: 328,
  bpf_prog_aux: 1320,
  bpf_mem_cache: 224,
  user_struct: 136,
});

/**
 * Debian 11's 5.10 cloud kernel (linux-image-5.10.0-46-cloud-amd64), read as
 * {@link STRUCT_SIZES_6_1} (its image's payload is lz4). 5.10 has no bloom filter, arena or
 * `bpf_mem_alloc`, and its `struct bpf_htab` no `map_locked` array (5.11): those keep the 6.18
 * sizes, which no 5.10 map uses. What the 5.10 precharge formulas use differs most in
 * `lpm_trie_node` (40 bytes, 24 on 6.18): per entry of an LPM trie's max_entries.
 */
export const STRUCT_SIZES_5_10: StructSizes = Object.freeze({
  ...STRUCT_SIZES_6_18,
  bpf_map: 256,
  bpf_htab: 640,
  bpf_array: 320,
  lpm_trie: 320,
  lpm_trie_node: 40,
  bpf_queue_stack: 320,
  bpf_ringbuf_map: 320,
  bpf_dtab: 320,
  bpf_dtab_netdev: 72,
  bpf_cpu_map: 320,
  bpf_cpu_map_entry: 112,
  xsk_map: 320,
  bpf_stab: 320,
  bpf_shtab: 320,
  reuseport_array: 256,
  bpf_cgroup_storage_map: 320,
  bpf_local_storage_map: 320,
  bpf_local_storage: 168,
  bpf_struct_ops_map: 384,
  bpf_prog_insns_offset: 56,
  bpf_prog: 56,
  bpf_prog_aux: 632,
  bpf_prog_stats: 16,
  filp: 256,
});

/**
 * Default struct sizes for a kernel version: those of the nearest kernel below it whose BTF was
 * read (5.10, 6.1, 6.12 and 7.2: Debian's cloud builds; 6.18: the kernel of docs/kernel-facts.md's
 * measurements), 5.10's for any older version, and 6.16's (Debian's) for 6.15–6.17, which
 * share its hash table without `map_locked` where 6.12 has one. Sizes depend on the build's
 * configuration too (Debian's 6.18.15 has a `bpf_map` of 288 bytes, the calibration kernel 296,
 * this project's 6.18.44 host an `lpm_trie` of 416 where the calibration kernel has 400), so exact sizes for a given kernel come from
 * its BTF (`--btf`, and the running kernel's own on a live machine); these are the fallback.
 */
export function defaultStructSizes(version: KernelVersion): StructSizes {
  if (atLeast(version, 7, 2)) return STRUCT_SIZES_7_2;
  if (atLeast(version, 6, 18)) return STRUCT_SIZES_6_18;
  if (atLeast(version, 6, 15)) return STRUCT_SIZES_6_16;
  if (atLeast(version, 6, 12)) return STRUCT_SIZES_6_12;
  if (atLeast(version, 6, 1)) return STRUCT_SIZES_6_1;
  return STRUCT_SIZES_5_10;
}

/** What {@link defaultStructSizes} gives for a version, in words (`Debian's 6.12 cloud kernel`). */
export function defaultStructSizesName(version: KernelVersion): string {
  if (atLeast(version, 7, 2)) return "Debian's 7.2 cloud kernel";
  if (atLeast(version, 6, 18)) return 'the 6.18 kernel bpfmem was calibrated on';
  if (atLeast(version, 6, 15)) return "Debian's 6.16 cloud kernel";
  if (atLeast(version, 6, 12)) return "Debian's 6.12 cloud kernel";
  if (atLeast(version, 6, 1)) return "Debian's 6.1 cloud kernel";
  return "Debian's 5.10 cloud kernel";
}
