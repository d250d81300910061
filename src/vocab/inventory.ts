import { mapSpec, type MapSpec } from './map-spec.js';
import { mapTypeById } from './maptypes.js';
import type { KernelProfile } from './profile.js';

/**
 * The records an inventory is made of: maps, programs, holders and memory cgroups as the machine
 * (src/live/collect.ts) or a `bpftool -j` dump (src/inspect/from-bpftool.ts) lists them, before
 * the model says anything of them (src/inspect/inventory.ts).
 */

/** A process holding an fd on an object. */
export interface Holder {
  readonly pid: number;
  readonly comm: string;
  /** Its memory cgroup, when read. */
  readonly cgroup?: string;
}

/** A map as the kernel lists it. */
export interface RawMap {
  readonly id: number;
  /** Kernel map type number (-1 where only a name bpfmem does not know was given). */
  readonly type: number;
  /** The source's name for a type bpfmem does not know (a newer bpftool's). */
  readonly typeName?: string;
  readonly name: string;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly flags: number;
  readonly mapExtra: number;
  /** fdinfo `memlock` when it was read. */
  readonly memlock?: number;
  /**
   * struct_ops maps: the function pointers of the kernel struct (`tcp_congestion_ops`: 13), which
   * the map's memory counts; read from the kernel's BTF by its `btf_vmlinux_value_type_id`.
   */
  readonly structOpsFuncs?: number;
  /** struct_ops maps: all members of the kernel struct (18), read with {@link structOpsFuncs}. */
  readonly structOpsMembers?: number;
  /**
   * The elements (devices, sockets) it holds, where they were counted (bpfmem's map iterator):
   * what the memory of a map whose memory follows its contents is computed from.
   */
  readonly elements?: number;
  /**
   * The kernfs id of the memory cgroup it is charged to, where it was read (`0n`: none; `null`:
   * this kernel keeps no such pointer). Inputs made by hand may give
   * {@link InventoryInput.charges} instead.
   */
  readonly cgroupId?: bigint | null;
}

/** A program as the kernel lists it. */
export interface RawProg {
  readonly id: number;
  readonly type: string;
  readonly name: string;
  readonly tag: string;
  readonly memlock: number;
  /** Instructions after the verifier (`xlated_prog_len / 8`). */
  readonly insns: number;
  readonly loadTime?: bigint;
  readonly uid: number;
}

/** A memory cgroup's counters (bytes; `max` Infinity for none). */
export interface RawCgroup {
  readonly path: string;
  readonly usage: number;
  readonly max: number;
  readonly kernel: number | undefined;
}

/** Pinned paths by map id and by program id (src/sys/bpf/pins.ts walks them). */
export interface PinnedPaths {
  readonly maps: ReadonlyMap<number, readonly string[]>;
  readonly progs: ReadonlyMap<number, readonly string[]>;
}

/** Everything read from the machine (or a fixture) that an inventory is made of. */
/** How a bpftool dump was read: its file, and the kernel and CPU count it was read as, and why. */
export interface DumpBasis {
  /** The file (`<stdin>` for `-`). */
  readonly source: string;
  readonly kernel: string;
  readonly cpus: number;
  /** Why that kernel: `memlock` (its maps' memlock fits it), `unchecked`, `unmatched`, `option`. */
  readonly kernelBasis: string;
  /** Why that CPU count: `memlock`, `option`, `machine`. */
  readonly cpusBasis: string;
}

export interface InventoryInput {
  readonly profile: KernelProfile;
  readonly maps: readonly RawMap[];
  readonly progs: readonly RawProg[];
  /**
   * Map id → kernfs id of the cgroup charged (0n / null: nobody), for maps that do not carry
   * their own `cgroupId`; undefined where unknown.
   */
  readonly charges?: ReadonlyMap<number, bigint | null>;
  /** Why the charges are unknown, if they are (then no map's `cgroupId` or `charges` entry is used). */
  readonly chargesUnavailable?: string;
  /** kernfs id → cgroup path (relative to the memory hierarchy's mount). */
  readonly cgroupPaths?: ReadonlyMap<bigint, string>;
  readonly holders?: { readonly maps: ReadonlyMap<number, readonly Holder[]>; readonly progs: ReadonlyMap<number, readonly Holder[]> };
  readonly pins?: PinnedPaths;
  readonly cgroups?: readonly RawCgroup[];
  /** What was read and how, when not this machine (`dump.json, read as kernel 6.18 with 4 CPUs`). */
  readonly source?: string;
  /** A dump's file and the kernel and CPU count it was read as, and why (JSON's `dump`). */
  readonly dump?: DumpBasis;
  /** What could not be read, one line each. */
  readonly errors?: readonly string[];
  /** How fresh the cgroups' `memory.stat` is, where a read cannot make it exact (v2 on 6.16+). */
  readonly statsAge?: string;
}

/** The spec of a listed map, or undefined for a type bpfmem does not know. */
export function specOf(m: RawMap): MapSpec | undefined {
  const type = mapTypeById(m.type);
  if (!type) return undefined;
  return mapSpec({
    type,
    keySize: m.keySize,
    valueSize: m.valueSize,
    maxEntries: m.maxEntries,
    flags: m.flags,
    mapExtra: m.mapExtra,
    ...(m.structOpsFuncs === undefined ? {} : { structOpsFuncs: m.structOpsFuncs }),
    ...(m.structOpsMembers === undefined ? {} : { structOpsMembers: m.structOpsMembers }),
  });
}

