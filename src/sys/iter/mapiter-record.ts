import { BPF_OBJ_NAME_LEN, mapId, type MapId } from '../bpf/types.js';
import { ok, err, type Result } from '../../vocab/result.js';


/**
 * The fixed binary record the map iterator program writes for each map with `bpf_seq_write`
 * (mapiter-program.ts), and its parser. Native byte order (little-endian on every host bpfmem
 * runs on: the program stores registers as the CPU does).
 *
 * | offset | field | |
 * |---|---|---|
 * | 0 | id | u32 |
 * | 4 | map_type | u32 |
 * | 8 | key_size | u32 |
 * | 12 | value_size | u32 |
 * | 16 | max_entries | u32 |
 * | 20 | map_flags | u32 |
 * | 24 | kernfs id of the charged memory cgroup | u64, 0: none |
 * | 32 | name | char[16] |
 */
export const MAP_RECORD = {
  id: 0,
  type: 4,
  keySize: 8,
  valueSize: 12,
  maxEntries: 16,
  flags: 20,
  cgroupId: 24,
  name: 32,
  size: 32 + BPF_OBJ_NAME_LEN,
} as const;

/** One map as the iterator saw it, and the memory cgroup it is charged to. */
export interface MapCharge {
  readonly id: MapId;
  /** `enum bpf_map_type` (src/vocab/maptypes.ts `mapTypeById` names it). */
  readonly type: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  /** `map_flags`. */
  readonly flags: number;
  readonly name: string;
  /**
   * The kernfs id of the memory cgroup the map is charged to: the inode number of that cgroup's
   * directory in the memory hierarchy ({@link readCgroupIds} maps it to a path). `0n`: charged
   * to no memory cgroup (a NULL link: created from the root memory cgroup, or kmem accounting
   * off). `null`: this kernel keeps no such pointer (see `NoChargeChain`).
   */
  readonly cgroupId: bigint | null;
}

/**
 * Parses the iterator's output: a whole number of {@link MAP_RECORD} records. `charged: false`
 * (a kernel with no charge chain) makes every `cgroupId` null. Never throws.
 */
export function parseMapRecords(bytes: Uint8Array, charged = true): Result<MapCharge[]> {
  if (bytes.byteLength % MAP_RECORD.size !== 0) {
    return err(`map iterator output of ${bytes.byteLength} bytes is not a whole number of ${MAP_RECORD.size}-byte records`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: MapCharge[] = [];
  for (let at = 0; at < bytes.byteLength; at += MAP_RECORD.size) {
    const u32 = (off: number): number => view.getUint32(at + off, true);
    out.push({
      id: mapId(u32(MAP_RECORD.id)),
      type: u32(MAP_RECORD.type),
      keySize: u32(MAP_RECORD.keySize),
      valueSize: u32(MAP_RECORD.valueSize),
      maxEntries: u32(MAP_RECORD.maxEntries),
      flags: u32(MAP_RECORD.flags),
      name: objName(bytes, at + MAP_RECORD.name),
      cgroupId: charged ? view.getBigUint64(at + MAP_RECORD.cgroupId, true) : null,
    });
  }
  return ok(out);
}

/** `char name[BPF_OBJ_NAME_LEN]` up to its NUL (the kernel allows only `[A-Za-z0-9_.]`). */
function objName(bytes: Uint8Array, at: number): string {
  let s = '';
  for (let i = at; i < at + BPF_OBJ_NAME_LEN; i++) {
    const c = bytes[i] ?? 0;
    if (c === 0) break;
    s += String.fromCharCode(c);
  }
  return s;
}
