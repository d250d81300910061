import { describe, expect, it } from 'vitest';
import { defaultStructSizes, defaultStructSizesName, STRUCT_SIZES_5_10, STRUCT_SIZES_6_1, STRUCT_SIZES_6_12, STRUCT_SIZES_6_16, STRUCT_SIZES_6_18, STRUCT_SIZES_7_2 } from './structs.js';
import { parseKernelVersion, type KernelVersion } from '../vocab/kernel-version.js';

/**
 * The model's fixture sizes (what a profile holds when no BTF is read) are those docs/kernel-facts.md
 * §1.2 wrote down for 6.18 on x86_64. Pure: the running kernel's own sizes are checked against
 * bpftool in src/sys/bpf/vmlinux.test.ts, and they may differ from these (6.18.44-fc: bpf_htab 896).
 */
describe('fixture struct sizes', () => {
  it('are those of docs/kernel-facts.md §1.2 (6.18, x86_64)', () => {
    expect(STRUCT_SIZES_6_18).toEqual({
      bpf_map: 296,
      bpf_htab: 832,
      htab_elem: 48,
      htab_bucket: 16,
      bpf_array: 312,
      lpm_trie: 400,
      lpm_trie_node: 24,
      bpf_queue_stack: 312,
      bpf_ringbuf_map: 304,
      // consumer_pos at +4096 in a 4 KiB page: RINGBUF_PGOFF 1.
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
      // Not in 6.18 (insn_array 6.19, rhash 7.2): `struct bpf_map` plus 7.2's tails, for 6.19–7.1.
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
  });

  it('a version takes the sizes of the nearest kernel below it whose BTF was read', () => {
    const v = (s: string): KernelVersion => {
      const version = parseKernelVersion(s);
      if (!version) throw new Error(s);
      return version;
    };
    expect(defaultStructSizes(v('7.3.1'))).toBe(STRUCT_SIZES_7_2);
    expect(defaultStructSizes(v('7.2.13'))).toBe(STRUCT_SIZES_7_2);
    expect(defaultStructSizes(v('7.1.0'))).toBe(STRUCT_SIZES_6_18);
    expect(defaultStructSizes(v('6.18.0'))).toBe(STRUCT_SIZES_6_18);
    // 6.15–6.17 share 6.16's hash table (no map_locked since 6.15), not 6.12's.
    expect(defaultStructSizes(v('6.17.0'))).toBe(STRUCT_SIZES_6_16);
    expect(defaultStructSizes(v('6.15.0'))).toBe(STRUCT_SIZES_6_16);
    expect(STRUCT_SIZES_6_16.bpf_htab).toBe(STRUCT_SIZES_6_18.bpf_htab);
    expect(defaultStructSizes(v('6.14.0'))).toBe(STRUCT_SIZES_6_12);
    expect(defaultStructSizes(v('6.12.117'))).toBe(STRUCT_SIZES_6_12);
    expect(defaultStructSizes(v('6.6.0'))).toBe(STRUCT_SIZES_6_1);
    expect(defaultStructSizes(v('6.1.0'))).toBe(STRUCT_SIZES_6_1);
    // Before 6.15 struct bpf_htab held 8 map_locked pointers more (kernel-lab.md, 6.12.117).
    expect(STRUCT_SIZES_6_12.bpf_htab - STRUCT_SIZES_6_18.bpf_htab).toBe(64);
    // The 6.19/7.2 types: what follows `struct bpf_map` is the same in the 6.18 table as in 7.2's BTF.
    expect(STRUCT_SIZES_7_2.bpf_insn_array - STRUCT_SIZES_7_2.bpf_map).toBe(STRUCT_SIZES_6_18.bpf_insn_array - STRUCT_SIZES_6_18.bpf_map);
    expect(STRUCT_SIZES_7_2.bpf_rhtab - STRUCT_SIZES_7_2.bpf_map).toBe(STRUCT_SIZES_6_18.bpf_rhtab - STRUCT_SIZES_6_18.bpf_map);
    expect(defaultStructSizes(v('5.15.0'))).toBe(STRUCT_SIZES_5_10);
    expect(defaultStructSizes(v('5.10.0'))).toBe(STRUCT_SIZES_5_10);
    expect(defaultStructSizes(v('4.19.0'))).toBe(STRUCT_SIZES_5_10);
    expect(defaultStructSizesName(v('5.10.0'))).toBe("Debian's 5.10 cloud kernel");
    // 5.10's struct bpf_htab has no map_locked array yet, and its LPM trie nodes are 16 bytes larger.
    expect(STRUCT_SIZES_5_10.bpf_htab).toBe(640);
    expect(STRUCT_SIZES_5_10.lpm_trie_node - STRUCT_SIZES_6_18.lpm_trie_node).toBe(16);
  });
});
