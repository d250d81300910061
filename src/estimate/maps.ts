import { ModelKernel } from '../model/kernel.js';
import type { Errno } from '../model/errno.js';
import type { MapSpec } from '../model/maps/spec.js';
import type { KernelProfile } from '../model/profile.js';

/** A map to estimate, by name. */
export interface NamedSpec {
  readonly name: string;
  readonly spec: MapSpec;
}

/** What one map costs right after creation on a profile. */
export type MapEstimate =
  | {
      readonly name: string;
      readonly type: string;
      readonly ok: true;
      /** fdinfo `memlock` right after creation. */
      readonly memlock: number;
      /** Bytes the creator's memory cgroup is charged at creation (0 when the regime charges no cgroup). */
      readonly charged: number;
      /** Bytes allocated at creation that no memory cgroup pays for. */
      readonly uncharged: number;
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

/** Estimates of several maps and their totals (of the maps the kernel would create). */
export interface Estimate {
  readonly profile: KernelProfile;
  readonly maps: readonly MapEstimate[];
  readonly total: { readonly memlock: number; readonly charged: number; readonly uncharged: number };
}

const CGROUP = '/bpfmem-estimate';

/**
 * Estimates maps by creating them in the model: one task in a cgroup without limit creates
 * each map, and what fdinfo and memcg would show is read back. The estimate is exactly what
 * the model would do, so `estimate` and `simulate` never disagree.
 */
export function estimateMaps(specs: readonly NamedSpec[], profile: KernelProfile): Estimate {
  const kernel = new ModelKernel(profile);
  kernel.createCgroup(CGROUP, { max: Number.POSITIVE_INFINITY, high: Number.POSITIVE_INFINITY });
  kernel.startTask('estimator', { cgroup: CGROUP, uid: 0, memlock: Number.POSITIVE_INFINITY });
  const maps: MapEstimate[] = [];
  const total = { memlock: 0, charged: 0, uncharged: 0 };
  specs.forEach(({ name, spec }, i) => {
    // Names need not be unique on the command line; the model's names must be.
    const id = `${i}:${name}`;
    const created = kernel.createMap('estimator', id, spec);
    if (!created.ok) {
      maps.push({ name, type: spec.type, ok: false, errno: created.errno, reason: created.reason });
      return;
    }
    const state = kernel.snapshot().maps.find((m) => m.name === id);
    if (!state) throw new Error(`model lost map ${id}`);
    kernel.close('map', id);
    maps.push({
      name,
      type: spec.type,
      ok: true,
      memlock: state.memlock,
      charged: state.charged,
      uncharged: state.uncharged,
      maxEntries: state.maxEntries,
    });
    total.memlock += state.memlock;
    total.charged += state.charged;
    total.uncharged += state.uncharged;
  });
  return { profile, maps, total };
}
