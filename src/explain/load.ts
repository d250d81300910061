import type { Btf } from '../btf/index.js';
import type { BpfObject } from '../elf/index.js';
import { objectMaps, objectProgs } from '../estimate/object-plan.js';
import { namedSpecs, type PlannedMap } from '../estimate/plan.js';
import type { LinuxErrno } from '../vocab/errno.js';
import { explain, type Explanation } from './explain.js';
import type { ExplainFacts } from './facts.js';

/**
 * The explain use case for a load: maps and programs from objects (as libbpf would create them
 * on the machine the facts describe) and from specs, programs by instruction count and bytes
 * needed besides, explained against the facts. Pure: the caller reads the objects and the facts.
 */

/** What is to be loaded. */
export interface LoadRequest {
  readonly objects: readonly { readonly path: string; readonly obj: BpfObject }[];
  /** `--map` specs, parsed. */
  readonly maps: readonly PlannedMap[];
  /** `--prog` instruction counts. */
  readonly progs: readonly number[];
  /** Bytes needed besides (`--need`). */
  readonly need: number;
  /** A failure that already happened (`--errno`). */
  readonly errno: LinuxErrno | undefined;
  /** The kernel's BTF, for the value size of an object's struct_ops maps. */
  readonly kernelBtf?: Btf | undefined;
}


/** The explanation, and the program names in its order ('' for `--prog`). */
export function explainLoad(facts: ExplainFacts, req: LoadRequest): { explanation: Explanation; progNames: string[] } {
  const objectSpecs = req.objects.flatMap(({ path, obj }) => objectMaps(obj, path, facts.profile, req.kernelBtf));
  const objectProgsList = req.objects.flatMap(({ path, obj }) => objectProgs(obj, path));
  const maps = namedSpecs([...objectSpecs, ...req.maps]);
  const explanation = explain(facts, { maps, progs: [...objectProgsList.map((g) => g.insns), ...req.progs], extraBytes: req.need, errno: req.errno });
  return { explanation, progNames: [...objectProgsList.map((g) => g.name), ...req.progs.map(() => '')] };
}
