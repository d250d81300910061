import type { MapType } from './maptypes.js';

/**
 * A map as BPF_MAP_CREATE describes it: the fields of `union bpf_attr` that decide its memory.
 * Sizes in bytes; `flags` is the `map_flags` word (see `flags.ts`).
 */
export interface MapSpec {
  readonly type: MapType;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly flags: number;
  /** `map_extra`: bloom filter hash count (low 4 bits), arena start address. */
  readonly mapExtra: number;
  /**
   * struct_ops only: how many function pointers the kernel value type has (13 for
   * `tcp_congestion_ops`); the kernel takes it from BTF.
   */
  readonly structOpsFuncs?: number;
  /**
   * struct_ops only: how many members the kernel struct has, functions and data (18 for
   * `tcp_congestion_ops`), which kernels before 6.13 size the map's links by; the model takes
   * {@link structOpsFuncs} where it is not given.
   */
  readonly structOpsMembers?: number;
  /**
   * struct_ops only: the kernel struct (`tcp_congestion_ops`), whose `bpf_struct_ops_<name>` a
   * live backend finds in the kernel's BTF to create the map. The model needs only
   * {@link structOpsFuncs}, {@link structOpsMembers} and the value size.
   */
  readonly structOpsType?: string;
}

/** A spec with defaults for what a person leaves out. */
export function mapSpec(
  fields: Pick<MapSpec, 'type'> & Partial<Omit<MapSpec, 'type'>>,
): MapSpec {
  return {
    keySize: 0,
    valueSize: 0,
    maxEntries: 0,
    flags: 0,
    mapExtra: 0,
    ...fields,
  };
}
