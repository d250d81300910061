import { mapTypeModel } from '../model/maps/index.js';
import type { MapSpec } from '../vocab/map-spec.js';
import { cacheShape, percpuCacheSlack } from '../model/memalloc.js';
import { chargeBytes } from '../model/memcg.js';
import type { KernelProfile } from '../vocab/profile.js';

/**
 * The charge tolerance: the model reads counters as if per-CPU stocks were drained; the
 * kernel's objcg stock keeps less than a page of charged bytes per CPU, and the creating task's
 * fd (a `struct file` from an accounted cache, the fd table) costs up to two pages more.
 */
export function tolerance(profile: KernelProfile): { bytes: number; why: string } {
  const pages = profile.possibleCpus + 2;
  return {
    bytes: pages * profile.pageSize,
    why:
      `${pages} pages: < 1 page of objcg stock per possible CPU (${profile.possibleCpus}) + 2 pages for the fd's struct file and fd table; ` +
      'maps with per-CPU bpf_mem_alloc caches also allow a high watermark of objects (refills of per-CPU objects fail while the per-CPU allocator has no populated space); ' +
      'scenarios also allow 32 KiB per task (a live task is a process: it faults pages and page tables of its own as it works), 1 KiB per BPF object ' +
      `and ${Math.round(cgroupAllowance(profile) / 1024)} KiB per cgroup (its struct mem_cgroup and per-CPU statistics, charged to its parent, not modelled); ` +
      'limit boundaries: every creation probe predicted (allowing one page either way of the base read: the probe task may fault a page of its own, a page of another CPU\'s charge stock may not be drained yet, a page may be an objcg\'s pre-charged remainder; and the probe task faulting one page after a creation that filled the cgroup to the page, which kills it), inserts within the elements the per-CPU object stocks hold',
  };
}

/**
 * What a new cgroup costs its parent: mm/memcontrol.c `mem_cgroup_css_alloc()` allocates the
 * child's `struct mem_cgroup`, its per-node info and its per-CPU statistics under
 * `set_active_memcg(parent)`, so they are charged to the parent (6.1 and 6.12 read, the same in
 * 6.18). The model leaves this out. Measured in the kernel lab on 6.12, 2 possible CPUs, cgroup
 * v2: two child cgroups added 20,480 bytes of `kernel` to their parent (`slab` 5,144, `percpu`
 * 12,160, the rest the objcg stock's page rounding), so 4 KiB plus 3 KiB per possible CPU a cgroup.
 */
export function cgroupAllowance(profile: KernelProfile): number {
  return 4096 + 3072 * profile.possibleCpus;
}

/** The tolerance of one case: the base, plus the per-CPU cache slack of maps with per-CPU allocators. */
export function caseTolerance(spec: MapSpec, profile: KernelProfile, base: number): number {
  const elements = mapTypeModel(spec.type).elements(mapTypeModel(spec.type).normalize(spec, profile), profile);
  return base + ('capacity' in elements ? percpuCacheSlack(elements.memAllocs, profile) : 0);
}


/**
 * How many inserts an inserts-boundary may differ by: the elements that the per-CPU object
 * stocks (less than a page of charged bytes per CPU, not modelled) can hold.
 */
export function insertTolerance(spec: MapSpec, profile: KernelProfile): number {
  const model = mapTypeModel(spec.type);
  const elements = model.elements(model.normalize(spec, profile), profile);
  if (!('capacity' in elements)) return 0;
  let perInsert = 0;
  for (const u of elements.memAllocs) for (const c of cacheShape(u, profile).charges) perInsert += chargeBytes(c, profile.pageSize);
  return perInsert === 0 ? 0 : Math.ceil((profile.possibleCpus * profile.pageSize) / perInsert);
}
