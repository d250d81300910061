import { MAX_SIMULATED_INSERTS, ModelKernel } from '../model/kernel.js';
import { wholeArg } from '../model/guard.js';
import { BpfmemError } from '../vocab/errors.js';
import type { Errno } from '../vocab/errno.js';
import type { MapSpec } from '../vocab/map-spec.js';
import type { KernelProfile } from '../vocab/profile.js';
import { atLeast } from '../vocab/kernel-version.js';
import { kernelNameRefusal } from '../elf/names.js';
import type { UnchargedPart } from '../model/uncharged.js';

/** A map to estimate, by name, with how many entries are inserted after creation. */
export interface NamedSpec {
  /** Its label in the output. */
  readonly name: string;
  readonly spec: MapSpec;
  readonly elements?: number;
  /**
   * The name the loader hands BPF_MAP_CREATE (libbpf's `map->name`, cut to 15 bytes on the way;
   * a `--map name=`), which the kernel checks; absent when none is given (the map is nameless).
   */
  readonly kernelName?: string;
}

/** What one map costs after creation (and `elements` inserts) on a profile. */
export type MapEstimate =
  | {
      readonly name: string;
      readonly type: string;
      readonly ok: true;
      /** Entries inserted after creation. */
      readonly elements: number;
      /** fdinfo `memlock` after creation and the inserts. */
      readonly memlock: number;
      /** Bytes the creator's memory cgroup is charged (0 when the regime charges no cgroup). */
      readonly charged: number;
      /** Bytes allocated at creation that no memory cgroup pays for. */
      readonly uncharged: number;
      /** The same, allocation by allocation, with why nobody pays. */
      readonly unchargedParts: readonly UnchargedPart[];
      /** max_entries as the kernel keeps it (rounded for no_common_lru). */
      readonly maxEntries: number;
    }
  | {
      readonly name: string;
      readonly type: string;
      readonly ok: false;
      readonly errno: Errno;
      readonly reason: string;
    };

/** What a program of `insns` instructions (after the verifier) costs. */
export interface ProgEstimate {
  readonly insns: number;
  readonly ok: boolean;
  /** fdinfo `memlock`: its pages. */
  readonly memlock: number;
  /** Bytes charged to the loader's memory cgroup (program, aux, per-CPU stats). */
  readonly charged: number;
  readonly errno?: Errno;
  readonly reason?: string;
}

/** Estimates of several maps and programs, and their totals (of what the kernel would create). */
export interface Estimate {
  readonly profile: KernelProfile;
  readonly maps: readonly MapEstimate[];
  readonly progs: readonly ProgEstimate[];
  readonly total: { readonly memlock: number; readonly charged: number; readonly uncharged: number };
}

/** Every estimated map's uncharged allocations. */
export function unchargedOf(e: Estimate): UnchargedPart[] {
  return e.maps.flatMap((m) => (m.ok ? m.unchargedParts : []));
}

const CGROUP = '/bpfmem-estimate';

/** Inserts `elements` into a map the estimate made; a count past what the model simulates is the input's fault, named by the map's name. */
function fill(kernel: ModelKernel, id: string, name: string, elements: number): ReturnType<ModelKernel['updateMap']> {
  try {
    return kernel.updateMap(id, elements, { task: 'estimator' }, 0);
  } catch (error) {
    if (!(error instanceof BpfmemError) || error.code !== 'input') throw error;
    throw new BpfmemError('input', `map ${name}: ${elements} entries: more than the model simulates (${MAX_SIMULATED_INSERTS} inserts that allocate, one by one)`);
  }
}

/**
 * Estimates maps by creating them in the model: one task in a cgroup without limit creates
 * each map, and what fdinfo and memcg would show is read back. The estimate is exactly what
 * the model would do, so `estimate` and `simulate` never disagree.
 */
export function estimateMaps(specs: readonly NamedSpec[], profile: KernelProfile, progs: readonly number[] = []): Estimate {
  const kernel = new ModelKernel(profile);
  kernel.createCgroup(CGROUP, { max: Number.POSITIVE_INFINITY, high: Number.POSITIVE_INFINITY });
  kernel.startTask('estimator', { cgroup: CGROUP, uid: 0, memlock: Number.POSITIVE_INFINITY });
  const maps: MapEstimate[] = [];
  const total = { memlock: 0, charged: 0, uncharged: 0 };
  const ids = new Set<string>();
  specs.forEach(({ name, spec, elements = 0, kernelName }, i) => {
    wholeArg(`map ${name}: elements`, elements);
    // Names need not be unique on the command line; the model's names must be. Its reasons name
    // the map by them (`map flows is full`): the name itself where it is the first of that name.
    let id = name;
    for (let k = i + 1; ids.has(id); k++) id = `${name} #${k}`;
    ids.add(id);
    const created = kernel.createMap('estimator', id, spec);
    if (!created.ok) {
      maps.push({ name, type: spec.type, ok: false, errno: created.errno, reason: created.reason });
      return;
    }
    // map_create() checks the name once the map is allocated (bpf_obj_name_cpy), and frees it
    // on EINVAL; kernels before 4.15 have no map_name, and libbpf passes none to them (FEAT_PROG_NAME).
    const badName = kernelName === undefined || !atLeast(profile.version, 4, 15) ? undefined : kernelNameRefusal(kernelName);
    if (badName !== undefined) {
      kernel.close('map', id);
      maps.push({ name, type: spec.type, ok: false, errno: 'EINVAL', reason: badName });
      return;
    }
    if (elements > 0) {
      const filled = fill(kernel, id, name, elements);
      if (!filled.ok) {
        kernel.close('map', id);
        maps.push({ name, type: spec.type, ok: false, errno: filled.errno, reason: `inserting ${elements} entries: ${filled.reason}` });
        return;
      }
    }
    const state = kernel.mapState(id);
    const unchargedParts = kernel.mapUncharged(id);
    if (!state || !unchargedParts) throw new Error(`model lost map ${id}`);
    kernel.close('map', id);
    maps.push({
      name,
      type: spec.type,
      ok: true,
      elements: state.elements,
      memlock: state.memlock,
      charged: state.charged,
      uncharged: state.uncharged,
      unchargedParts,
      maxEntries: state.maxEntries,
    });
    total.memlock += state.memlock;
    total.charged += state.charged;
    total.uncharged += state.uncharged;
  });
  const progResults: ProgEstimate[] = progs.map((insns, i) => {
    const id = `prog${i}`;
    const loaded = kernel.loadProg('estimator', id, insns);
    if (!loaded.ok) return { insns, ok: false, memlock: 0, charged: 0, errno: loaded.errno, reason: loaded.reason };
    const state = kernel.progState(id);
    kernel.close('prog', id);
    const memlock = state?.memlock ?? 0;
    const charged = state?.charged ?? 0;
    total.memlock += memlock;
    total.charged += charged;
    return { insns, ok: true, memlock, charged };
  });
  return { profile, maps, progs: progResults, total };
}
