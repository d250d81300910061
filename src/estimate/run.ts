import type { Btf } from '../btf/index.js';
import { kernelName, type BpfObject } from '../elf/index.js';
import { elementsFromMemlock, memlockDependsOnContents } from '../model/maps/memlock.js';
import { formatVersion } from '../vocab/kernel-version.js';
import { BpfmemError } from '../vocab/errors.js';
import { specOf, type RawMap } from '../vocab/inventory.js';
import type { KernelProfile, Regime } from '../vocab/profile.js';
import { estimateMaps, type Estimate, type ProgEstimate } from './maps.js';
import { objectMaps, objectProgs, type PlannedProg } from './object-plan.js';
import { applyPlan, namedSpecs, type FillOverride, type PlannedMap, type SetOverride } from './plan.js';
import { parseMapSpec } from './spec.js';
import { DEFAULT_LOADER, type Loader } from './loaders.js';

/**
 * The estimate use case, for `bpfmem estimate` and the library: maps and programs from objects,
 * `--map` specs, `--prog` counts and a bpftool dump, with what the loader decides set by the
 * user, estimated for one profile or several (one per possible-CPU count), and fitted against a
 * limit in the regime's own terms. Pure: the caller reads the files and the machine.
 */

/** What to estimate. */
export interface EstimateRequest {
  /** Parsed objects and the files they came from. */
  readonly objects: readonly { readonly path: string; readonly obj: BpfObject }[];
  /** `--map` specs as typed. */
  readonly maps: readonly string[];
  /** `--prog` instruction counts. */
  readonly progs: readonly number[];
  /** The maps of a bpftool dump, as read (see {@link dumpMaps}). */
  readonly dump?: readonly PlannedMap[];
  readonly sets: readonly SetOverride[];
  readonly fills: readonly FillOverride[];
  /** One profile per host to estimate for (several: `--cpus 2,64,192`). */
  readonly profiles: readonly KernelProfile[];
  /** The target kernel's BTF, for struct_ops value sizes. */
  readonly kernelBtf?: Btf | undefined;
  /** A memory cgroup limit (memcg) or RLIMIT_MEMLOCK (memlock) to fit under. */
  readonly limit?: number | undefined;
  /** The loader assumed for the objects (`--loader`; the newest libbpf by default). The objects must have been read as its generation. */
  readonly loader?: Loader;
}

/** Whether an estimate fits under a limit, in the regime's own terms. */
export interface Fit {
  readonly limit: number;
  readonly regime: Regime;
  /** Bytes counted against the limit: charged (memcg) or memlock (memlock); 0 for none. */
  readonly need: number;
  readonly fits: boolean;
  readonly headroom: number;
}

/** One estimate per profile, with the plan each rests on. */
export interface EstimateResult {
  readonly runs: readonly Estimate[];
  /** The maps estimated, per profile (what libbpf settles at load may differ by CPU count). */
  readonly plans: readonly (readonly PlannedMap[])[];
  readonly progs: readonly PlannedProg[];
  /** The loader assumed for the objects. */
  readonly loader: Loader;
  /** Per profile and program: its estimate at the most instructions the verifier may leave (`maxInsns`). */
  readonly progsMax: readonly (readonly ProgEstimate[])[];
  /** Per profile and map: whether its memory follows the number of possible CPUs. */
  readonly cpuBound: readonly (readonly boolean[])[];
  /** Per profile, when a limit was given. */
  readonly fits: readonly Fit[] | undefined;
  /** The kernel would refuse a map or program, or it does not fit: worth a non-zero status. */
  readonly failed: boolean;
}

/** Whether an estimate fits under `limit`. */
export function fit(e: Estimate, limit: number): Fit {
  const regime = e.profile.regime;
  const progs = e.progs.reduce((s, p) => s + (regime === 'memlock' ? p.memlock : p.charged), 0);
  const need = regime === 'memcg' ? e.total.charged + progs : regime === 'memlock' ? e.total.memlock + progs : 0;
  return { limit, regime, need, fits: need <= limit, headroom: limit - need };
}

/** The maps of `--map` specs. Throws (`input`) for a spec that does not parse. */
export function specMaps(texts: readonly string[]): PlannedMap[] {
  return texts.map((text, i) => {
    const r = parseMapSpec(text, `map${i}`);
    if (!r.ok) throw new BpfmemError('input', r.error);
    const parsed = r.value;
    // Entries inserted are said in a note (the table has no column for them: it would pass 80 columns).
    const notes = parsed.elements > 0 ? [`${parsed.elements} entries (elements=)`] : [];
    const kept = parsed.kernelName === undefined ? parsed.kernelName : kernelName(parsed.kernelName);
    if (kept !== undefined && kept !== parsed.kernelName) notes.push(`the kernel keeps the first 15 bytes of its name: ${kept} (libbpf_strlcpy in bpf_map_create)`);
    return {
      name: parsed.name,
      aliases: [],
      origin: '--map',
      spec: parsed.spec,
      elements: parsed.elements,
      notes,
      decided: { key_size: '--map', value_size: '--map', max_entries: '--map', flags: '--map', elements: '--map' },
      ...(parsed.kernelName !== undefined && { kernelName: parsed.kernelName }),
    };
  });
}

/**
 * The maps of a bpftool dump: their layouts, and for maps whose memory follows their contents,
 * the entries their memlock shows, read under `host`: the profile of the kernel and CPU count the
 * dump was taken on (src/inspect/from-bpftool.ts inferDumpHost), not the one estimated for.
 */
export function dumpMaps(raw: readonly RawMap[], path: string, host: KernelProfile): PlannedMap[] {
  const where = `kernel ${formatVersion(host.version)}, ${host.possibleCpus} CPUs`;
  return raw.map((m) => {
    const spec = specOf(m);
    if (!spec) throw new BpfmemError('input', `${path}: map ${m.id} (${m.name || 'no name'}) has a type bpfmem does not know: ${m.typeName ?? m.type}`);
    const elements = memlockDependsOnContents(spec.type, spec.flags) && m.memlock !== undefined ? elementsFromMemlock(spec, m.memlock, host) : 0;
    return {
      name: m.name || `id${m.id}`,
      aliases: [`id${m.id}`],
      origin: path,
      spec,
      elements,
      decided: { key_size: 'dump', value_size: 'dump', max_entries: 'dump', flags: 'dump', elements: 'dump' },
      notes: elements > 0 ? [`${elements} entries, from its memlock on the dump's host (${where})`] : [],
    };
  });
}

/** Entries a map is given to tell whether its memory follows the number of CPUs. */
const CPU_BOUND_ELEMENTS = 4096;

/**
 * Runs the estimate. Throws a `BpfmemError` (`usage`) when there is nothing to estimate or a
 * `--set`/`--fill` names no map, (`input`) for a bad spec.
 */
export function runEstimate(req: EstimateRequest): EstimateResult {
  if (req.profiles.length === 0) throw new BpfmemError('usage', '--cpus: give at least one count');
  const fixed = [...specMaps(req.maps), ...(req.dump ?? [])];
  const progs: PlannedProg[] = [
    ...req.objects.flatMap(({ path, obj }) => objectProgs(obj, path)),
    ...req.progs.map((insns) => ({ name: '', origin: '--prog', section: '', insns, notes: [] })),
  ];
  if (req.objects.length === 0 && fixed.length === 0 && progs.length === 0) {
    throw new BpfmemError('usage', 'estimate: give a BPF object (bpfmem estimate prog.bpf.o), --map SPEC (e.g. --map type=hash,key=4,value=8,max_entries=1000), --prog INSNS or --from-bpftool FILE');
  }
  const loader = req.loader ?? DEFAULT_LOADER;
  // What libbpf settles at load (perf_event_array entries, ring buffer sizes) follows each profile.
  const plans = req.profiles.map((p) => {
    const planned = [...req.objects.flatMap(({ path, obj }) => objectMaps(obj, path, p, req.kernelBtf, loader.roundsRingbufs)), ...fixed];
    const plan = applyPlan(planned, req.sets, req.fills, { resizesDataMaps: loader.resizesDataMaps, loader: loader.name, roundsRingbufs: loader.roundsRingbufs, pageSize: p.pageSize });
    if (!plan.ok) throw new BpfmemError('usage', plan.error);
    return plan.value;
  });
  const runs = req.profiles.map((p, i) => estimateMaps(namedSpecs(plans[i] ?? []), p, progs.map((g) => g.insns)));
  const progsMax = req.profiles.map((p) => estimateMaps([], p, progs.map((g) => g.maxInsns ?? g.insns)).progs);
  // Which maps the number of possible CPUs sizes: the same maps on one more CPU, compared. A few
  // thousand entries show it as well as millions (per-CPU values and caches show at the first
  // few), and cost no second simulation of millions of inserts.
  const cpuBound = req.profiles.map((p, i) => {
    const few = namedSpecs(plans[i] ?? []).map((m) => ({ ...m, elements: Math.min(m.elements ?? 0, CPU_BOUND_ELEMENTS) }));
    const fewHere = estimateMaps(few, p);
    const more = estimateMaps(few, { ...p, possibleCpus: p.possibleCpus + 1 });
    return (runs[i]?.maps ?? []).map((full, j) => {
      const m = fewHere.maps[j];
      const o = more.maps[j];
      return full.ok && m?.ok === true && o?.ok === true && m.charged + m.uncharged !== o.charged + o.uncharged;
    });
  });
  const fits = req.limit === undefined ? undefined : runs.map((e) => fit(e, req.limit ?? 0));
  const refused = runs.some((e) => e.maps.some((m) => !m.ok) || e.progs.some((p) => !p.ok));
  return { runs, plans, progs, progsMax, loader, cpuBound, fits, failed: refused || (fits?.some((f) => !f.fits) ?? false) };
}
