import { MAP_TYPE_NAMES, MAP_TYPES, type MapType } from '../../vocab/maptypes.js';
import { BPF_OBJ_NAME_LEN, BPF_TAG_SIZE, mapId, progId, type MapId, type ProgId } from './types.js';
import { progTypeById, type ProgType } from '../../vocab/progtypes.js';

/**
 * Parsers of what BPF_OBJ_GET_INFO_BY_FD writes: `struct bpf_map_info` and
 * `struct bpf_prog_info` of include/uapi/linux/bpf.h (both `__attribute__((aligned(8)))`).
 * Pure: they take the bytes and the length the kernel reported, so older kernels' shorter
 * structs parse too (fields beyond `infoLen` read as zero, as the kernel leaves them).
 */

/**
 * `struct bpf_map_info`: type 0, id 4, key_size 8, value_size 12, max_entries 16, map_flags 20,
 * name 24–39, ifindex 40, btf_vmlinux_value_type_id 44, netns_dev 48, netns_ino 56, btf_id 64,
 * btf_key_type_id 68, btf_value_type_id 72, btf_vmlinux_id 76, map_extra 80, hash 88,
 * hash_size 96, pad. 104 bytes (cilium/ebpf `MapInfo`).
 */
export const MAP_INFO_SIZE = 104;

/** What the kernel says about a map (`struct bpf_map_info`). */
export interface MapInfo {
  /** `enum bpf_map_type` value. */
  readonly type: number;
  /** bpftool's name of the type; undefined for a type newer than bpfmem. */
  readonly typeName: MapType | undefined;
  readonly id: MapId;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly mapFlags: number;
  readonly name: string;
  readonly ifindex: number;
  readonly btfVmlinuxValueTypeId: number;
  readonly netnsDev: bigint;
  readonly netnsIno: bigint;
  readonly btfId: number;
  readonly btfKeyTypeId: number;
  readonly btfValueTypeId: number;
  readonly btfVmlinuxId: number;
  readonly mapExtra: bigint;
}

/**
 * `struct bpf_prog_info` through `attach_btf_id`: type 0, id 4, tag 8–15, jited_prog_len 16,
 * xlated_prog_len 20, jited_prog_insns 24, xlated_prog_insns 32, load_time 40,
 * created_by_uid 48, nr_map_ids 52, map_ids 56, name 64–79, ifindex 80, gpl_compatible:1 84,
 * netns_dev 88, netns_ino 96, nr_jited_ksyms 104, nr_jited_func_lens 108, jited_ksyms 112,
 * jited_func_lens 120, btf_id 128, func_info_rec_size 132, func_info 136, nr_func_info 144,
 * nr_line_info 148, line_info 152, jited_line_info 160, nr_jited_line_info 168,
 * line_info_rec_size 172, jited_line_info_rec_size 176, nr_prog_tags 180, prog_tags 184,
 * run_time_ns 192, run_cnt 200, recursion_misses 208, verified_insns 216, attach_btf_obj_id 220,
 * attach_btf_id 224, pad. 232 bytes (cilium/ebpf `ProgInfo`).
 */
export const PROG_INFO_SIZE = 232;
/** Offsets of `nr_map_ids` and `map_ids`, to ask for a program's map ids. */
export const PROG_INFO_NR_MAP_IDS = 52;
export const PROG_INFO_MAP_IDS = 56;

/** What the kernel says about a program (`struct bpf_prog_info`). Pointer fields are left out. */
export interface ProgInfo {
  /** `enum bpf_prog_type` value. */
  readonly type: number;
  /** bpftool's name of the type; undefined for a type newer than bpfmem. */
  readonly typeName: ProgType | undefined;
  readonly id: ProgId;
  /** The tag as bpftool prints it: 16 lower-case hex digits. */
  readonly tag: string;
  readonly jitedProgLen: number;
  readonly xlatedProgLen: number;
  /** When it was loaded, in ns since boot (`ktime_get_boottime_ns`). */
  readonly loadTime: bigint;
  readonly createdByUid: number;
  readonly nrMapIds: number;
  readonly name: string;
  readonly ifindex: number;
  readonly gplCompatible: boolean;
  readonly netnsDev: bigint;
  readonly netnsIno: bigint;
  readonly nrJitedKsyms: number;
  readonly nrJitedFuncLens: number;
  readonly btfId: number;
  readonly funcInfoRecSize: number;
  readonly nrFuncInfo: number;
  readonly nrLineInfo: number;
  readonly nrJitedLineInfo: number;
  readonly lineInfoRecSize: number;
  readonly jitedLineInfoRecSize: number;
  readonly nrProgTags: number;
  /** Run time and count: non-zero only while `kernel.bpf_stats_enabled` is on. */
  readonly runTimeNs: bigint;
  readonly runCnt: bigint;
  readonly recursionMisses: bigint;
  readonly verifiedInsns: number;
  readonly attachBtfObjId: number;
  readonly attachBtfId: number;
}

/** Map type names indexed by `enum bpf_map_type` value (mapTypeById without the scan: info runs once per map). */
const MAP_TYPE_BY_ID: readonly (MapType | undefined)[] = (() => {
  const out: (MapType | undefined)[] = [];
  for (const name of MAP_TYPE_NAMES) out[MAP_TYPES[name].id] = name;
  return out;
})();

/**
 * A reader of the first `infoLen` bytes: fields past what the kernel filled read as zero, and
 * fields past the buffer too. Plain functions over a DataView: parsing runs once per object of
 * an inventory, so it avoids copies and closures.
 */
class Reader {
  private readonly view: DataView;
  constructor(
    private readonly bytes: Uint8Array,
    private readonly end: number,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  u32(off: number): number {
    return off + 4 <= this.end ? this.view.getUint32(off, true) : 0;
  }
  u64(off: number): bigint {
    return off + 8 <= this.end ? this.view.getBigUint64(off, true) : 0n;
  }
  name(off: number): string {
    return off + BPF_OBJ_NAME_LEN <= this.end ? decodeObjName(this.bytes.subarray(off, off + BPF_OBJ_NAME_LEN)) : '';
  }
  hex(off: number, len: number): string {
    if (off + len > this.end) return '0'.repeat(2 * len);
    let s = '';
    for (let i = off; i < off + len; i++) s += HEX[this.bytes[i] ?? 0] ?? '';
    return s;
  }
}

const HEX: readonly string[] = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));

/** A NUL-terminated `char name[BPF_OBJ_NAME_LEN]` as a string (the kernel allows only ASCII there). */
export function decodeObjName(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return String.fromCharCode(...(end < 0 ? bytes : bytes.subarray(0, end)));
}

/** Parses `struct bpf_map_info` from the first `infoLen` bytes. */
export function parseMapInfo(bytes: Uint8Array, infoLen = bytes.length): MapInfo {
  const r = new Reader(bytes, Math.min(infoLen, bytes.length));
  const type = r.u32(0);
  return {
    type,
    typeName: MAP_TYPE_BY_ID[type],
    id: mapId(r.u32(4)),
    keySize: r.u32(8),
    valueSize: r.u32(12),
    maxEntries: r.u32(16),
    mapFlags: r.u32(20),
    name: r.name(24),
    ifindex: r.u32(40),
    btfVmlinuxValueTypeId: r.u32(44),
    netnsDev: r.u64(48),
    netnsIno: r.u64(56),
    btfId: r.u32(64),
    btfKeyTypeId: r.u32(68),
    btfValueTypeId: r.u32(72),
    btfVmlinuxId: r.u32(76),
    mapExtra: r.u64(80),
  };
}

/** Parses `struct bpf_prog_info` from the first `infoLen` bytes. */
export function parseProgInfo(bytes: Uint8Array, infoLen = bytes.length): ProgInfo {
  const r = new Reader(bytes, Math.min(infoLen, bytes.length));
  const type = r.u32(0);
  return {
    type,
    typeName: progTypeById(type),
    id: progId(r.u32(4)),
    tag: r.hex(8, BPF_TAG_SIZE),
    jitedProgLen: r.u32(16),
    xlatedProgLen: r.u32(20),
    loadTime: r.u64(40),
    createdByUid: r.u32(48),
    nrMapIds: r.u32(52),
    name: r.name(64),
    ifindex: r.u32(80),
    // `__u32 gpl_compatible:1` is the lowest bit of the word on little-endian hosts.
    gplCompatible: (r.u32(84) & 1) === 1,
    netnsDev: r.u64(88),
    netnsIno: r.u64(96),
    nrJitedKsyms: r.u32(104),
    nrJitedFuncLens: r.u32(108),
    btfId: r.u32(128),
    funcInfoRecSize: r.u32(132),
    nrFuncInfo: r.u32(144),
    nrLineInfo: r.u32(148),
    nrJitedLineInfo: r.u32(168),
    lineInfoRecSize: r.u32(172),
    jitedLineInfoRecSize: r.u32(176),
    nrProgTags: r.u32(180),
    runTimeNs: r.u64(192),
    runCnt: r.u64(200),
    recursionMisses: r.u64(208),
    verifiedInsns: r.u32(216),
    attachBtfObjId: r.u32(220),
    attachBtfId: r.u32(224),
  };
}
