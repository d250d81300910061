import type { Btf } from '../btf/index.js';
import { kernelStructOps } from '../elf/struct-ops.js';
import type { BpfObject, ObjectMap } from '../elf/index.js';
import { BpfmemError } from '../vocab/errors.js';
import { mapTypeById, type MapType } from '../vocab/maptypes.js';
import type { MapSpec } from '../vocab/map-spec.js';
import type { KernelProfile } from '../vocab/profile.js';
import { roundUp } from '../vocab/units.js';
import { atLeast } from '../vocab/kernel-version.js';
import { U32_MAX } from '../vocab/limits.js';

/**
 * From a parsed BPF object to the map specs libbpf would hand to BPF_MAP_CREATE on a host of a
 * given profile: what libbpf settles at load from the host (possible CPUs, page size, kernel
 * features) is settled here from the profile instead. Pure.
 */

/** A map the object will create, as a spec for the model. */
export interface ObjectSpec {
  /** The name the kernel will know (≤ 15 bytes). */
  readonly name: string;
  readonly spec: MapSpec;
  /** Entries libbpf inserts at load (`values = { … }` slots of map-in-map and prog_array maps). */
  readonly elements: number;
  /** What was settled at load for this profile, and what the estimate rests on, one phrase each. */
  readonly loadTime: readonly string[];
  readonly map: ObjectMap;
}

/** Options of {@link objectSpecs}. */
export interface ObjectSpecOptions {
  /**
   * The target kernel's BTF (`/sys/kernel/btf/vmlinux`): struct_ops maps then get the kernel's
   * value type size and function count. Without it they are estimated from the object's struct.
   */
  readonly kernelBtf?: Btf;
  /**
   * The ring buffer types the loader rounds up to a power-of-2 number of pages (src/estimate/loaders.ts
   * `roundsRingbufs`); both by default, as libbpf ≥ 1.1 does.
   */
  readonly roundsRingbufs?: readonly MapType[];
}

/** What libbpf ≥ 1.1 rounds (adjust_ringbuf_sz, map_is_ringbuf). */
export const RINGBUFS: readonly MapType[] = ['ringbuf', 'user_ringbuf'];

/** `BPF_F_MMAPABLE`. */
const BPF_F_MMAPABLE = 1 << 10;
/** `SMP_CACHE_BYTES` on x86-64: `____cacheline_aligned_in_smp` of `struct bpf_struct_ops_<name>`'s data. */
const CACHE_LINE = 64;

/**
 * The MapSpecs libbpf would create on a host of `profile`, in libbpf's order. Left out: maps
 * libbpf does not create (`SEC("?.struct_ops")`, global data on kernels before 5.2, where
 * `FEAT_GLOBAL_DATA` is missing) and map-in-map inner templates (freed during the load).
 *
 * @throws BpfmemError('input') for a map type bpfmem does not know
 */
export function objectSpecs(obj: BpfObject, profile: KernelProfile, options: ObjectSpecOptions = {}): ObjectSpec[] {
  const out: ObjectSpec[] = [];
  for (const map of obj.maps) {
    if (!map.autocreate) continue;
    const internal = map.source === 'data' || map.source === 'kconfig';
    // bpf_object__create_maps: "skip creating global data maps" without FEAT_GLOBAL_DATA (5.2).
    if (internal && !atLeast(profile.version, 5, 2)) continue;
    const type = mapTypeById(map.type);
    if (type === undefined) throw new BpfmemError('input', `BPF object ${obj.source}: map "${map.symbol}": map type ${map.type} is not one bpfmem knows`);
    const notes = [...map.loadTime.filter((n) => !n.startsWith('max_entries'))];
    let { maxEntries, flags, valueSize } = map;
    let structOps: Pick<MapSpec, 'structOpsFuncs' | 'structOpsMembers'> = {};
    if (type === 'perf_event_array' && maxEntries === 0) {
      maxEntries = profile.possibleCpus;
      notes.push('max_entries 0: libbpf sets the number of possible CPUs (map_set_def_max_entries)');
    } else if (type === 'ringbuf' || type === 'user_ringbuf') {
      if ((options.roundsRingbufs ?? RINGBUFS).includes(type)) {
        const adjusted = adjustRingbufSize(maxEntries, profile.pageSize);
        if (adjusted !== maxEntries) notes.push(`max_entries ${maxEntries}: libbpf rounds it up to ${adjusted}, a power-of-2 number of pages (adjust_ringbuf_sz)`);
        maxEntries = adjusted;
      } else if (maxEntries !== adjustRingbufSize(maxEntries, profile.pageSize)) {
        notes.push(`max_entries ${maxEntries}: this loader does not round a ${type} size up to whole pages (adjust_ringbuf_sz takes user_ringbuf from libbpf 1.1)`);
      }
    } else {
      notes.push(...map.loadTime.filter((n) => n.startsWith('max_entries')));
    }
    // bpf_object__sanitize_maps: no FEAT_ARRAY_MMAP (5.5) → global data maps lose BPF_F_MMAPABLE.
    if (internal && (flags & BPF_F_MMAPABLE) !== 0 && !atLeast(profile.version, 5, 5)) {
      flags &= ~BPF_F_MMAPABLE;
      notes.push('BPF_F_MMAPABLE dropped by libbpf: arrays are mmapable from 5.5 (bpf_object__sanitize_maps)');
    }
    if (type === 'struct_ops' && map.structOps) {
      const kernel = options.kernelBtf ? kernelStructOps(options.kernelBtf, map.structOps.typeName) : undefined;
      if (kernel) {
        valueSize = kernel.valueSize;
        structOps = { structOpsFuncs: kernel.funcs, structOpsMembers: kernel.members };
      } else {
        valueSize = roundUp(profile.structs.bpf_struct_ops_value + map.valueSize, CACHE_LINE);
        structOps = { structOpsFuncs: map.structOps.funcs, structOpsMembers: map.structOps.members };
        notes.push(
          `value size ${valueSize} and ${map.structOps.funcs} functions estimated from the object's struct ${map.structOps.typeName}${options.kernelBtf ? ', which the kernel BTF given does not have' : ''}: the kernel's own may differ`,
        );
      }
    }
    const spec: MapSpec = {
      type,
      keySize: map.keySize,
      valueSize,
      maxEntries,
      flags,
      mapExtra: map.mapExtra,
      ...structOps,
    };
    out.push({ name: map.name, spec, elements: map.initialEntries, loadTime: notes, map });
  }
  return out;
}

/**
 * `adjust_ringbuf_sz()` of libbpf: a ring buffer's size must be a power-of-2 multiple of the
 * page size; libbpf rounds a size that is not up to the next such, and leaves 0 (and sizes it
 * cannot round within u32) to the kernel to refuse.
 */
export function adjustRingbufSize(size: number, pageSize: number): number {
  if (size === 0) return 0;
  const pages = size / pageSize;
  if (Number.isInteger(pages) && (pages & (pages - 1)) === 0) return size;
  for (let mul = 1; mul <= Math.floor(U32_MAX / pageSize); mul *= 2) {
    if (mul * pageSize > size) return mul * pageSize;
  }
  return size;
}
