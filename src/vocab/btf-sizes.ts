import type { Btf, BtfComposite } from '../btf/index.js';
import type { KernelProfile, StructSizes } from './profile.js';

/**
 * The model's struct sizes (src/model/structs.ts) read from a kernel's own BTF, so that estimate
 * and simulate are exact for kernels whose sizes were never written down: `bpf_map` is 296 bytes
 * on 6.18 but 248 on 6.1 and 6.12, `lpm_trie_node` 24 on 6.18 but 40 on 6.12 (kernel-lab.md).
 * Era behaviours (fdinfo formula, allocators, charge batches) still follow the version: BTF gives
 * sizes, not code. Pure: takes a parsed {@link Btf}, no I/O.
 */

/** How one struct size is read from BTF: a struct's size, a member's offset, or a computation. */
type Reader = (btf: Btf, pageSize: number) => number | undefined;

const size =
  (name: string): Reader =>
  (btf) =>
    btf.structSize(name);

/** The struct of a name that has all of `members` (vmlinux has several `struct bucket`s). */
function structWith(btf: Btf, name: string, members: readonly string[]): BtfComposite | undefined {
  for (const t of btf.findAllByName(name, 'struct')) {
    if (t.kind === 'struct' && members.every((m) => t.members.some((x) => x.name === m))) return t;
  }
  return undefined;
}

/** `offsetof(struct name, member)` in bytes, undefined where there is no such whole-byte member. */
function offsetOf(btf: Btf, name: string, member: string): number | undefined {
  const at = btf.memberOffset(name, member);
  return at.ok && !at.value.bitfield ? at.value.offset : undefined;
}

/** The cache line the `filp` cache aligns to (SLAB_HWCACHE_ALIGN; x86-64 `L1_CACHE_BYTES`). */
const CACHE_LINE = 64;

/**
 * Where each size comes from. Names are the kernel's; where a struct name is shared by several
 * files, the members tell them apart. Sizes no BTF holds (`#define`s) are read from the struct
 * that uses them, or left to the version's default.
 */
export const STRUCT_READERS: { readonly [K in keyof StructSizes]: Reader } = {
  bpf_map: size('bpf_map'),
  bpf_htab: size('bpf_htab'),
  htab_elem: size('htab_elem'),
  // kernel/bpf/hashtab.c `struct bucket { struct hlist_nulls_head head; raw_spinlock_t raw_lock | rqspinlock_t raw_lock; }`
  htab_bucket: (btf) => structWith(btf, 'bucket', ['head', 'raw_lock'])?.size,
  bpf_array: size('bpf_array'),
  lpm_trie: size('lpm_trie'),
  lpm_trie_node: size('lpm_trie_node'),
  bpf_queue_stack: size('bpf_queue_stack'),
  bpf_ringbuf_map: size('bpf_ringbuf_map'),
  // kernel/bpf/ringbuf.c: RINGBUF_PGOFF = offsetof(struct bpf_ringbuf, consumer_pos) >> PAGE_SHIFT.
  bpf_ringbuf_meta_pages: (btf, pageSize) => {
    const at = offsetOf(btf, 'bpf_ringbuf', 'consumer_pos');
    return at === undefined ? undefined : Math.floor(at / pageSize);
  },
  bpf_bloom_filter: size('bpf_bloom_filter'),
  bpf_dtab: size('bpf_dtab'),
  bpf_dtab_netdev: size('bpf_dtab_netdev'),
  bpf_cpu_map: size('bpf_cpu_map'),
  bpf_cpu_map_entry: size('bpf_cpu_map_entry'),
  xsk_map: size('xsk_map'),
  xsk_map_node: size('xsk_map_node'),
  bpf_stab: size('bpf_stab'),
  bpf_shtab: size('bpf_shtab'),
  bpf_shtab_bucket: size('bpf_shtab_bucket'),
  bpf_shtab_elem: size('bpf_shtab_elem'),
  reuseport_array: size('reuseport_array'),
  bpf_cgroup_storage_map: size('bpf_cgroup_storage_map'),
  bpf_cgroup_storage: size('bpf_cgroup_storage'),
  bpf_local_storage_map: size('bpf_local_storage_map'),
  bpf_local_storage_map_bucket: size('bpf_local_storage_map_bucket'),
  bpf_local_storage_elem: size('bpf_local_storage_elem'),
  bpf_local_storage: size('bpf_local_storage'),
  bpf_struct_ops_map: size('bpf_struct_ops_map'),
  bpf_struct_ops_value: size('bpf_struct_ops_value'),
  bpf_arena: size('bpf_arena'),
  bpf_insn_array: size('bpf_insn_array'),
  bpf_rhtab: size('bpf_rhtab'),
  rhtab_elem: size('rhtab_elem'),
  bpf_stack_map: size('bpf_stack_map'),
  stack_map_bucket: size('stack_map_bucket'),
  bpf_prog_insns_offset: (btf) => offsetOf(btf, 'bpf_prog', 'insns'),
  bpf_prog: size('bpf_prog'),
  bpf_prog_aux: size('bpf_prog_aux'),
  bpf_prog_stats: size('bpf_prog_stats'),
  bpf_mem_cache: size('bpf_mem_cache'),
  user_struct: size('user_struct'),
  // fs/file_table.c files_init(): kmem_cache_create("filp", sizeof(struct file), 0,
  // SLAB_HWCACHE_ALIGN | … | SLAB_ACCOUNT): objects are cache-line aligned.
  filp: (btf) => {
    const s = btf.structSize('file');
    return s === undefined ? undefined : Math.ceil(s / CACHE_LINE) * CACHE_LINE;
  },
  // fs/dcache.c dcache_init(): KMEM_CACHE_USERCOPY(dentry, … | SLAB_ACCOUNT, d_iname): aligned
  // to the struct's own alignment, so objects of sizeof(struct dentry).
  dentry: size('dentry'),
  pointer: (btf) => btf.pointerSize,
  llist_node: size('llist_node'),
  // HASHTAB_MAP_LOCK_COUNT is a #define; before 6.15 `struct bpf_htab` held
  // `int __percpu *map_locked[HASHTAB_MAP_LOCK_COUNT]`, whose length says it. Since the
  // rqspinlock conversion the array is gone, but htab_map_mem_usage() still counts the define
  // (docs/kernel-facts.md §1.3): the version's default stays.
  htab_map_lock_count: (btf) => {
    const htab = btf.findByName('bpf_htab', 'struct');
    if (htab?.kind !== 'struct') return undefined;
    const member = htab.members.find((m) => m.name === 'map_locked');
    if (member === undefined) return undefined;
    const t = btf.resolve(member.type);
    return t.ok && t.value.kind === 'array' ? t.value.nelems : undefined;
  },
};

/** What a BTF says of the model's struct sizes. */
export interface BtfStructSizes {
  /** The sizes this BTF gives. */
  readonly sizes: Partial<StructSizes>;
  /** The sizes it does not (a struct this kernel lacks, e.g. `bpf_arena` before 6.9): the defaults stay. */
  readonly missing: readonly (keyof StructSizes)[];
}

/** Reads every size of {@link StructSizes} that `btf` describes. */
export function structSizesFromBtf(btf: Btf, pageSize: number): BtfStructSizes {
  const sizes: Partial<Record<keyof StructSizes, number>> = {};
  const missing: (keyof StructSizes)[] = [];
  for (const key of Object.keys(STRUCT_READERS) as (keyof StructSizes)[]) {
    const value = STRUCT_READERS[key](btf, pageSize);
    if (value === undefined || !Number.isSafeInteger(value) || value < 0) missing.push(key);
    else sizes[key] = value;
  }
  return { sizes, missing };
}

/**
 * A profile whose struct sizes are those of `btf` where it has them (the rest keep the profile's
 * own, i.e. the version's defaults). Version, eras, CPUs, page size, regime are unchanged.
 */
export function profileWithBtf(profile: KernelProfile, btf: Btf): KernelProfile {
  const { sizes } = structSizesFromBtf(btf, profile.pageSize);
  return { ...profile, structs: { ...profile.structs, ...sizes } };
}
