import type { KernelVersion } from './kernel-version.js';

/**
 * The words every layer uses for a kernel: its accounting regime, its cgroup version, the eras
 * of its behaviour and the sizes of its structs. Types only: the model decides them
 * (src/model/profile.ts `makeProfile`), the live side reads them off the machine
 * (src/live/machine.ts), the kernel door (src/sys) speaks of cgroup versions.
 */

/**
 * How BPF memory is accounted:
 * - `memcg`: charged to memory cgroups (5.11+);
 * - `memlock`: precharged to the creating user's `locked_vm` against RLIMIT_MEMLOCK (≤ 5.10);
 * - `none`: not accounted at all (`cgroup.memory=nobpf` on 6.3+, or `cgroup.memory=nokmem`).
 */
export type Regime = 'memcg' | 'memlock' | 'none';

/** The cgroup hierarchy version the memory controller is mounted on. */
export type CgroupVersion = 1 | 2;

/**
 * The architectures whose accounting the model knows (Node's `x64` is `x86_64`). They differ in
 * `KMALLOC_MIN_SIZE` (see {@link KernelProfile.kmallocMinSize}); struct sizes come from the BTF.
 */
export type Arch = 'x86_64' | 'arm64';

/**
 * Kernel behaviours that changed between versions and change results. Each follows the
 * version; the regime is separate (a what-if such as "6.18 with the old memlock rule" keeps
 * the version's struct sizes).
 */
export interface Eras {
  /**
   * What fdinfo `memlock` reports: the pages precharged to `locked_vm` (≤ 5.10), the
   * `bpf_map_memory_footprint()` estimate (5.11–6.3), or `map->ops->map_mem_usage()` (6.4+).
   */
  readonly fdinfoMemlock: 'precharge' | 'footprint' | 'mem_usage';
  /**
   * How a map holds its cgroup: `memcg` pins the `mem_cgroup` (5.11–5.19; a removed cgroup
   * lives on as a dying memcg that keeps being charged), `objcg` holds an `obj_cgroup` that is
   * reparented when the cgroup is removed (6.0+, "bpf: reparent bpf maps on memcg offlining").
   */
  readonly mapCgroupRef: 'memcg' | 'objcg';
  /**
   * GFP of update-time element allocations: `atomic` (GFP_ATOMIC, force-charged past
   * `memory.max`, 5.11–5.19) or `nowait` (GFP_NOWAIT, fails with ENOMEM; commit ace2bee839e0
   * "bpf: Make non-preallocated allocation low priority", 6.0).
   */
  readonly updateGfp: 'atomic' | 'nowait';
  /**
   * Where no-prealloc hash elements come from: `kmalloc` per element through
   * `bpf_map_kmalloc_node()` (5.11–6.0) or the `bpf_mem_alloc` per-CPU caches (6.1+,
   * "bpf: Convert hash map to bpf_mem_alloc").
   */
  readonly noPreallocAllocator: 'kmalloc' | 'bpf_mem_alloc';
  /**
   * Whether allocations made through the map helpers (`bpf_map_alloc_percpu()`,
   * `bpf_map_kmalloc_node()`, …) inside `map_alloc()` are charged to the creator. On 5.11–5.19
   * `map->memcg` is still NULL there and `set_active_memcg(NULL)` changes nothing, so the
   * creator pays. On 6.0+ `bpf_map_get_memcg()` returns `root_mem_cgroup` for a NULL objcg and
   * the charge is skipped: measured on 6.1, 6.12 and 6.18 (docs/kernel-facts.md §1.5).
   */
  readonly createTimeMapHelpersCharged: boolean;
  /** `MEMCG_CHARGE_BATCH` in pages: 32 before 6.1, 64 since. */
  readonly memcgChargeBatchPages: number;
  /**
   * `NR_MEMCG_STOCK`: how many memcgs one CPU's charge stock holds: 7 (6.18's BTF shows
   * `cached[7]`), 1 in older kernels; the multi-memcg stock is taken to start with 6.16 [U].
   */
  readonly memcgStockSlots: number;
  /** The default RLIMIT_MEMLOCK: 64 KiB before 5.16, 8 MiB since ("Increase default MLOCK_LIMIT to 8 MiB"). */
  readonly defaultMemlockRlimit: number;
}


/** Everything about a kernel that the model's results depend on. */
export interface KernelProfile {
  /** The release as given (`6.18`, `6.18.44-fc-v782`). */
  readonly release: string;
  readonly version: KernelVersion;
  /** `num_possible_cpus()`: per-CPU memory is allocated for every possible CPU. */
  readonly possibleCpus: number;
  readonly pageSize: number;
  readonly arch: Arch;
  /**
   * `KMALLOC_MIN_SIZE`, the smallest kmalloc size class: 8 on x86-64, and on arm64 since 6.5;
   * 128 (`ARCH_DMA_MINALIGN`) on arm64 before, where the 96- and 192-byte classes are not used
   * either (src/model/slab.ts). A live profile reads it from the machine's slab caches.
   */
  readonly kmallocMinSize: number;
  readonly cgroupVersion: CgroupVersion;
  readonly regime: Regime;
  readonly eras: Eras;
  readonly structs: StructSizes;
}


/**
 * Sizes of kernel structures that the accounting depends on. They change with version and
 * config, so they are parameters of the {@link KernelProfile}, never constants in formulas.
 * Defaults are those read from the BTF of the 6.18 x86_64 test kernel (docs/kernel-facts.md §1.2).
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
  /** `struct bpf_insn_array` (6.19+): the map, a use count, the `ips` pointer; the values follow. */
  readonly bpf_insn_array: number;
  /** `struct bpf_rhtab` (7.2+): the map, its `struct rhashtable` and `struct bpf_mem_alloc`. */
  readonly bpf_rhtab: number;
  /** `struct rhtab_elem`: the `rhash_head`; key and value follow, 8-aligned. */
  readonly rhtab_elem: number;
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
  /**
   * The object size of the `dentry` slab cache (`sizeof(struct dentry)`, 192 on x86-64 from 5.10
   * to 7.2): every fd of a map or program has one of its own, charged to the task that opened it
   * (fs/anon_inodes.c → fs/file_table.c alloc_file_pseudo() → d_alloc_pseudo(); fs/dcache.c
   * makes the cache with SLAB_ACCOUNT, in 5.10 as in 7.2).
   */
  readonly dentry: number;
  /** `sizeof(void *)`. */
  readonly pointer: number;
  /** `LLIST_NODE_SZ` of bpf_mem_alloc. */
  readonly llist_node: number;
  /** `HASHTAB_MAP_LOCK_COUNT` ints per CPU counted by htab_map_mem_usage(). */
  readonly htab_map_lock_count: number;
}

/**
 * What a profile describes and where each part came from: this machine (every command's default)
 * or a what-if an option asked for. Output says it first (`this kernel: 6.18.44, sizes from its
 * BTF` or `what-if: kernel 6.1, sizes of Debian's 6.1 cloud kernel`).
 */
export interface ProfileBasis {
  /** `this-kernel`: the running kernel; `what-if`: an option or a file named another. */
  readonly kind: 'this-kernel' | 'what-if';
  /** Where the struct sizes came from: the running kernel's BTF, a BTF file, or the model's defaults for the version. */
  readonly sizes: 'kernel-btf' | 'btf-file' | 'defaults';
  /** Where the possible CPUs came from. */
  readonly cpus: 'machine' | 'option' | 'default';
  /** The first line of output: what this is and where its parts came from. */
  readonly line: string;
  /** Why the running kernel's BTF was not used, when it was not. */
  readonly note?: string;
}

/**
 * The architecture as a profile line says it: `arm64 (kmalloc from 128 B)`, `x86_64`. Empty for
 * x86-64 with its 8-byte kmalloc minimum unless `always`: lines that describe a what-if show the
 * architecture only where it changes a number.
 */
export function archText(p: Pick<KernelProfile, 'arch' | 'kmallocMinSize'>, always = false): string {
  if (!always && p.arch === 'x86_64' && p.kmallocMinSize === 8) return '';
  return p.kmallocMinSize === 8 ? p.arch : `${p.arch} (kmalloc from ${p.kmallocMinSize} B)`;
}
