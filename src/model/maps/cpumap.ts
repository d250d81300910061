import { fail, type Failure } from '../../vocab/errno.js';
import type { MapFlag } from '../../vocab/flags.js';
import type { KernelProfile } from '../../vocab/profile.js';
import type { Alloc, ElementModel, MapTypeModel } from './alloc.js';
import { alloc, checkFlags, einval, firstFailure, finishModel, mapStructAlloc, since } from './common.js';
import type { MapSpec } from '../../vocab/map-spec.js';

/*
 * kernel/bpf/cpumap.c: a `struct bpf_cpu_map` with one entry pointer per CPU slot; each entry
 * (`struct bpf_cpu_map_entry` with a kthread, a ptr_ring and per-CPU bulk queues) is created on
 * update.
 */

/** cpumap.c: cpu_map_alloc() accepts only `BPF_F_NUMA_NODE`. */
const CPUMAP_FLAGS: readonly MapFlag[] = ['numa_node'];

/**
 * `NR_CPUS` (CONFIG_NR_CPUS), the kernel's bound on `max_entries`. Not in the profile: 8192 is
 * the Debian/Fedora x86_64 value (MAXSMP); the 6.18 test host has 256. [I]
 */
const NR_CPUS = 8192;

/** `sizeof(struct list_head)`: the per-CPU flush list of 5.4–5.5. */
const LIST_HEAD_SIZE = 16;

/**
 * `sizeof(struct xdp_bulk_queue)` (kernel/bpf/cpumap.c): `void *q[CPU_MAP_BULK_SIZE]` (8
 * pointers), a `list_head flush_node`, the entry pointer and an `unsigned int count`, 92 bytes
 * padded to 96 on 64-bit. The same layout in 5.4, Debian's 6.1.192 and 6.12.118; 96 in this
 * project's 6.18.44 host BTF too, where a 5th member, `local_lock_t bq_lock` at byte 92, fits the
 * padding (without PREEMPT_RT or lock debugging). Not among the profile's BTF-read sizes, so
 * fixed here [I for 6.19–7.2].
 */
const XDP_BULK_QUEUE_SIZE = 96;

/**
 * `sizeof(struct ptr_ring)` (include/linux/ptr_ring.h): three `____cacheline_aligned_in_smp`
 * groups (producer, consumer, size/batch/queue), 192 bytes with 64-byte cache lines and no
 * spinlock debugging: Debian's 6.1.192 and 6.12.118 source, the 6.18.44 host's BTF. [I for 7.x]
 */
const PTR_RING_SIZE = 192;

/** cpumap.c: cpu_map_alloc()'s checks. */
function check(spec: MapSpec, profile: KernelProfile): Failure | undefined {
  // `struct bpf_cpumap_val`: 4 bytes (qsize), or 8 (qsize + program fd, 5.9+ [I]).
  const sizes = since(profile, 5, 9) ? [4, 8] : [4];
  return firstFailure(
    () => (spec.maxEntries === 0 ? einval(spec, 'max_entries must be non-zero') : undefined),
    () => (spec.keySize !== 4 ? einval(spec, `key_size must be 4 (a CPU number), not ${spec.keySize}`) : undefined),
    () =>
      !sizes.includes(spec.valueSize)
        ? einval(spec, `value_size must be ${sizes.join(' or ')} (struct bpf_cpumap_val), not ${spec.valueSize}`)
        : undefined,
    () => checkFlags(spec, profile, CPUMAP_FLAGS),
    () =>
      spec.maxEntries > NR_CPUS
        ? fail('E2BIG', `${spec.type}: max_entries ${spec.maxEntries} is over NR_CPUS (${NR_CPUS} assumed)`)
        : undefined,
  );
}

/** cpumap.c: cpu_map_mem_usage(): entries created on update are not counted. */
function memUsage(spec: MapSpec, _elements: number, profile: KernelProfile): number {
  return profile.structs.bpf_cpu_map + spec.maxEntries * profile.structs.pointer;
}

/**
 * cpumap.c (5.x): `max_entries * sizeof(entry *)`, plus before 5.6 the per-CPU flush state
 * (a bitmap per CPU before 5.4, a `list_head` per CPU in 5.4–5.5). [U] boundaries.
 */
function legacyCost(spec: MapSpec, profile: KernelProfile): number {
  const np = profile.possibleCpus;
  let cost = spec.maxEntries * profile.structs.pointer;
  if (!since(profile, 5, 4)) cost += Math.ceil(spec.maxEntries / 64) * 8 * np;
  else if (!since(profile, 5, 6)) cost += LIST_HEAD_SIZE * np;
  return cost;
}

function createAllocs(spec: MapSpec, profile: KernelProfile): readonly Alloc[] {
  return [
    mapStructAlloc(profile, 'bpf_cpu_map', profile.structs.bpf_cpu_map),
    alloc(profile, 'cpu_map', 'area', 'current', spec.maxEntries * profile.structs.pointer),
  ];
}

/**
 * cpumap.c: __cpu_map_entry_alloc(), run by an update with a non-zero qsize (the new entry
 * replaces the old one, which a workqueue frees later), makes three accounted allocations,
 * charged to the map's memcg from 5.11 (e88cc05b61f3 "bpf: Refine memcg-based memory accounting
 * for cpumap maps"; the same calls in Debian's 6.1.192 and 6.12.118):
 * - the `struct bpf_cpu_map_entry`, `bpf_map_kmalloc_node()`: whole pages over 8 KiB, as on the
 *   6.18.44 host whose BTF has 16752 bytes (order 3, 32 KiB);
 * - the per-CPU bulk queue, `bpf_map_alloc_percpu(map, sizeof(struct xdp_bulk_queue),
 *   sizeof(void *), gfp)`, charged like every per-CPU allocation of the model (src/model/slab.ts
 *   percpuCharge(), mm/percpu.c pcpu_obj_full_size()): 96 bytes on every possible CPU plus 24
 *   obj_exts pointers, 384 B on 2 CPUs, 6336 B on 64;
 * - the `struct ptr_ring`, `bpf_map_kmalloc_node(map, sizeof(*rcpu->queue))`: kmalloc-192.
 * The ring's array, ptr_ring_init() → kvmalloc_array(qsize, sizeof(void *), GFP_KERNEL |
 * __GFP_NOWARN | __GFP_ZERO), has no __GFP_ACCOUNT and is charged to nobody; its size (the
 * value's qsize) is not in the spec, so it is left out. The kthread (kthread_create_on_node()) is
 * forked by kthreadd, in the root cgroup. Before 5.11 the same allocations (kzalloc_node(),
 * __alloc_percpu_gfp()) were charged to nobody: {@link alloc} makes every payer `none` there.
 * Measured on the 6.18.44 host (2 CPUs, cgroup v1 kmem, 200 entries updated by one process):
 * 1628 pages, 33,341 B per entry, for qsize 64 and 8192 alike; the model says 32768 + 384 + 200 =
 * 33,352.
 */
function elements(spec: MapSpec, profile: KernelProfile): ElementModel {
  return {
    capacity: spec.maxEntries,
    whenFull: { errno: 'E2BIG' },
    allocs: [
      alloc(profile, 'bpf_cpu_map_entry', 'kmalloc', 'map', profile.structs.bpf_cpu_map_entry),
      alloc(profile, 'bulkq', 'percpu', 'map', XDP_BULK_QUEUE_SIZE),
      alloc(profile, 'ptr_ring', 'kmalloc', 'map', PTR_RING_SIZE),
    ],
    memAllocs: [],
    deletable: true,
  };
}

/** `BPF_MAP_TYPE_CPUMAP`. */
export const cpumapModel: MapTypeModel = finishModel({
  check,
  normalize: (spec) => spec,
  memUsage,
  legacyCost,
  createAllocs,
  elements,
});
