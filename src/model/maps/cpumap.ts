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
        ? fail('E2BIG', `${spec.type}: max_entries ${spec.maxEntries} is over NR_CPUS (${NR_CPUS} assumed) (E2BIG)`)
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
 * An update creates a `struct bpf_cpu_map_entry` (`bpf_map_kmalloc_node()`, map memcg). Its
 * per-CPU bulk queue (`bpf_map_alloc_percpu()`), its `ptr_ring` of `qsize` pointers and the
 * kthread also belong to it but depend on the value's qsize and on structs the profile lacks;
 * they are not modelled. [U]
 */
function elements(spec: MapSpec, profile: KernelProfile): ElementModel {
  return {
    capacity: spec.maxEntries,
    whenFull: { errno: 'E2BIG' },
    allocs: [alloc(profile, 'bpf_cpu_map_entry', 'kmalloc', 'map', profile.structs.bpf_cpu_map_entry)],
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
