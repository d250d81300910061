import { BpfmemError } from '../../vocab/errors.js';
import { BPF_OBJ_NAME_LEN } from './types.js';

/**
 * Typed builders of `union bpf_attr` for each bpf(2) command. Pure: pointers come in as
 * addresses (bigint), so layouts are tested without a kernel; commands.ts supplies real
 * addresses. Offsets are those of include/uapi/linux/bpf.h (`union bpf_attr`, 8-byte aligned,
 * `__aligned_u64` pointers) as cilium/ebpf internal/sys/types.go lays them out (`MapCreateAttr`,
 * `MapUpdateElemAttr`, `ProgLoadAttr`, `ObjPinAttr`, `LinkCreateIterAttr`, `IterCreateAttr`, …).
 *
 * Each buffer is as long as the last field its command uses: the kernel zero-fills the rest of
 * its union (kernel/bpf/syscall.c: `memset(&attr, 0, sizeof(attr))` then `copy_from_bpfptr`).
 */

/** A zeroed attribute buffer with little-endian writers at byte offsets. */
export class AttrBuffer {
  readonly bytes: Uint8Array;
  private readonly view: DataView;

  constructor(size: number) {
    // An explicit ArrayBuffer: its backing store is off the V8 heap and never moves.
    this.bytes = new Uint8Array(new ArrayBuffer(size));
    this.view = new DataView(this.bytes.buffer);
  }

  /** Zeroes the buffer, to build another attribute of the same command in it. */
  reset(): this {
    this.bytes.fill(0);
    return this;
  }

  /** Writes a `__u32`; throws for a value that does not fit. */
  u32(offset: number, value: number): this {
    if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff) {
      throw new BpfmemError('input', `bpf_attr: ${value} at offset ${offset} is not a u32`);
    }
    this.view.setUint32(offset, value, true);
    return this;
  }

  /** Writes a `__u64` or `__aligned_u64` pointer. */
  u64(offset: number, value: bigint | number): this {
    const v = BigInt(value);
    if (v < 0n || v > 0xffff_ffff_ffff_ffffn) throw new BpfmemError('input', `bpf_attr: ${v} at offset ${offset} is not a u64`);
    this.view.setBigUint64(offset, v, true);
    return this;
  }

  /** Writes an object name into `char name[BPF_OBJ_NAME_LEN]` (see {@link encodeObjName}). */
  name(offset: number, name: string): this {
    this.bytes.set(encodeObjName(name), offset);
    return this;
  }
}

/**
 * An object name as the kernel accepts it in `map_name`/`prog_name` (kernel/bpf/syscall.c:
 * `bpf_obj_name_cpy`): ASCII letters, digits, `_` and `.`, at most 15 bytes so that a NUL fits
 * in `BPF_OBJ_NAME_LEN`. Throws a {@link BpfmemError} (`input`) otherwise.
 */
export function encodeObjName(name: string): Uint8Array {
  if (!/^[A-Za-z0-9_.]*$/.test(name)) {
    throw new BpfmemError('input', `BPF object name "${name}": only letters, digits, "_" and "." are allowed`);
  }
  if (name.length > BPF_OBJ_NAME_LEN - 1) {
    throw new BpfmemError('input', `BPF object name "${name}": longer than ${BPF_OBJ_NAME_LEN - 1} characters`);
  }
  const out = new Uint8Array(BPF_OBJ_NAME_LEN);
  for (let i = 0; i < name.length; i++) out[i] = name.charCodeAt(i);
  return out;
}

/** Fields of BPF_MAP_CREATE; absent fields are zero. */
export interface MapCreateFields {
  readonly mapType: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly mapFlags?: number;
  readonly innerMapFd?: number;
  readonly numaNode?: number;
  readonly name?: string;
  readonly mapIfindex?: number;
  readonly btfFd?: number;
  readonly btfKeyTypeId?: number;
  readonly btfValueTypeId?: number;
  readonly btfVmlinuxValueTypeId?: number;
  readonly mapExtra?: bigint | number;
}

/**
 * BPF_MAP_CREATE: map_type 0, key_size 4, value_size 8, max_entries 12, map_flags 16,
 * inner_map_fd 20, numa_node 24, map_name 28–43, map_ifindex 44, btf_fd 48, btf_key_type_id 52,
 * btf_value_type_id 56, btf_vmlinux_value_type_id 60, map_extra 64 (u64; 5.16+). 72 bytes.
 */
export const MAP_CREATE_SIZE = 72;

/** The attribute of BPF_MAP_CREATE. */
export function mapCreateAttr(f: MapCreateFields): Uint8Array {
  const a = new AttrBuffer(MAP_CREATE_SIZE)
    .u32(0, f.mapType)
    .u32(4, f.keySize)
    .u32(8, f.valueSize)
    .u32(12, f.maxEntries)
    .u32(16, f.mapFlags ?? 0)
    .u32(20, f.innerMapFd ?? 0)
    .u32(24, f.numaNode ?? 0)
    .u32(44, f.mapIfindex ?? 0)
    .u32(48, f.btfFd ?? 0)
    .u32(52, f.btfKeyTypeId ?? 0)
    .u32(56, f.btfValueTypeId ?? 0)
    .u32(60, f.btfVmlinuxValueTypeId ?? 0)
    .u64(64, f.mapExtra ?? 0);
  if (f.name !== undefined) a.name(28, f.name);
  return a.bytes;
}

/**
 * BPF_MAP_LOOKUP_ELEM, _UPDATE_ELEM, _DELETE_ELEM, _GET_NEXT_KEY: map_fd 0, key 8 (pointer),
 * value / next_key 16 (pointer), flags 24 (u64). 32 bytes.
 */
export const MAP_ELEM_SIZE = 32;

/** Fields of the map element commands; `value` is `next_key` for BPF_MAP_GET_NEXT_KEY. */
export interface MapElemFields {
  readonly mapFd: number;
  readonly key: bigint;
  readonly value?: bigint;
  readonly flags?: bigint | number;
}

/** The attribute of the map element commands. */
export function mapElemAttr(f: MapElemFields): Uint8Array {
  return new AttrBuffer(MAP_ELEM_SIZE)
    .u32(0, f.mapFd)
    .u64(8, f.key)
    .u64(16, f.value ?? 0n)
    .u64(24, f.flags ?? 0).bytes;
}

/** Fields of BPF_PROG_LOAD; absent fields are zero. */
export interface ProgLoadFields {
  readonly progType: number;
  readonly insnCnt: number;
  readonly insns: bigint;
  readonly license: bigint;
  readonly logLevel?: number;
  readonly logSize?: number;
  readonly logBuf?: bigint;
  readonly kernVersion?: number;
  readonly progFlags?: number;
  readonly name?: string;
  readonly progIfindex?: number;
  readonly expectedAttachType?: number;
  readonly attachBtfId?: number;
  /** `attach_btf_obj_fd` (or `attach_prog_fd`): 0 attaches to vmlinux BTF. */
  readonly attachBtfObjFd?: number;
}

/**
 * BPF_PROG_LOAD: prog_type 0, insn_cnt 4, insns 8 (pointer), license 16 (pointer), log_level 24,
 * log_size 28, log_buf 32 (pointer), kern_version 40, prog_flags 44, prog_name 48–63,
 * prog_ifindex 64, expected_attach_type 68, prog_btf_fd 72, func_info_rec_size 76, func_info 80,
 * func_info_cnt 88, line_info_rec_size 92, line_info 96, line_info_cnt 104, attach_btf_id 108,
 * attach_btf_obj_fd / attach_prog_fd 112, core_relo_cnt 116, fd_array 120, core_relos 128,
 * core_relo_rec_size 136, log_true_size 140 (written back by 6.4+). 144 bytes.
 */
export const PROG_LOAD_SIZE = 144;
/** Offset of `log_true_size`, which 6.4+ kernels fill in with the log size the verifier needed. */
export const PROG_LOAD_LOG_TRUE_SIZE = 140;

/** The attribute of BPF_PROG_LOAD. */
export function progLoadAttr(f: ProgLoadFields): Uint8Array {
  const a = new AttrBuffer(PROG_LOAD_SIZE)
    .u32(0, f.progType)
    .u32(4, f.insnCnt)
    .u64(8, f.insns)
    .u64(16, f.license)
    .u32(24, f.logLevel ?? 0)
    .u32(28, f.logSize ?? 0)
    .u64(32, f.logBuf ?? 0n)
    .u32(40, f.kernVersion ?? 0)
    .u32(44, f.progFlags ?? 0)
    .u32(64, f.progIfindex ?? 0)
    .u32(68, f.expectedAttachType ?? 0)
    .u32(108, f.attachBtfId ?? 0)
    .u32(112, f.attachBtfObjFd ?? 0);
  if (f.name !== undefined) a.name(48, f.name);
  return a.bytes;
}

/**
 * BPF_{MAP,PROG,LINK,BTF}_GET_NEXT_ID and _GET_FD_BY_ID: start_id / map_id / prog_id 0,
 * next_id 4 (written by the kernel), open_flags 8. 12 bytes.
 */
export const ID_SIZE = 12;
/** Offset of `next_id`, where BPF_*_GET_NEXT_ID writes its answer. */
export const NEXT_ID_OFFSET = 4;

/**
 * The attribute of BPF_*_GET_NEXT_ID (`startId` 0 finds the first id). Hot loops pass `into`, an
 * {@link AttrBuffer} of {@link ID_SIZE} bytes to reuse: allocating an ArrayBuffer per call costs
 * as much as the system call.
 */
export function getNextIdAttr(startId: number, into: AttrBuffer = new AttrBuffer(ID_SIZE)): Uint8Array {
  return into.reset().u32(0, startId).bytes;
}

/**
 * The attribute of BPF_*_GET_FD_BY_ID; `openFlags` may be `BPF_F_RDONLY` (1 << 3) or
 * `BPF_F_WRONLY` (1 << 4) for maps. `into` as for {@link getNextIdAttr}.
 */
export function getFdByIdAttr(id: number, openFlags = 0, into: AttrBuffer = new AttrBuffer(ID_SIZE)): Uint8Array {
  return into.reset().u32(0, id).u32(8, openFlags).bytes;
}

/** BPF_OBJ_GET_INFO_BY_FD: bpf_fd 0, info_len 4 (in: buffer size; out: bytes written), info 8 (pointer). 16 bytes. */
export const OBJ_INFO_SIZE = 16;
/** Offset of `info_len`, which the kernel lowers to the size of its own struct. */
export const INFO_LEN_OFFSET = 4;

/** The attribute of BPF_OBJ_GET_INFO_BY_FD; `into` as for {@link getNextIdAttr}, of {@link OBJ_INFO_SIZE} bytes. */
export function objInfoAttr(fd: number, infoLen: number, info: bigint, into: AttrBuffer = new AttrBuffer(OBJ_INFO_SIZE)): Uint8Array {
  return into.reset().u32(0, fd).u32(4, infoLen).u64(8, info).bytes;
}

/** BPF_OBJ_PIN and BPF_OBJ_GET: pathname 0 (pointer to a NUL-terminated path), bpf_fd 8, file_flags 12. 16 bytes. */
export const OBJ_PATH_SIZE = 16;

/** The attribute of BPF_OBJ_PIN (`fd` the object) or BPF_OBJ_GET (`fd` 0, `fileFlags` RDONLY/WRONLY). */
export function objPathAttr(pathname: bigint, fd: number, fileFlags = 0): Uint8Array {
  return new AttrBuffer(OBJ_PATH_SIZE).u64(0, pathname).u32(8, fd).u32(12, fileFlags).bytes;
}

/** Fields of BPF_LINK_CREATE as far as iterators and BTF-attached programs need them. */
export interface LinkCreateFields {
  readonly progFd: number;
  readonly targetFd?: number;
  readonly attachType: number;
  readonly flags?: number;
  /** `target_btf_id` (shares its place with `iter_info`; give one or the other). */
  readonly targetBtfId?: number;
  /** `iter_info`: a pointer to `union bpf_iter_link_info` (a map fd for map element iterators …). */
  readonly iterInfo?: bigint;
  readonly iterInfoLen?: number;
}

/**
 * BPF_LINK_CREATE: prog_fd 0, target_fd 4, attach_type 8, flags 12, then a union at 16:
 * `target_btf_id` (u32) or `iter_info` (pointer) with `iter_info_len` at 24. 32 bytes.
 */
export const LINK_CREATE_SIZE = 32;

/** The attribute of BPF_LINK_CREATE. */
export function linkCreateAttr(f: LinkCreateFields): Uint8Array {
  if (f.targetBtfId !== undefined && f.iterInfo !== undefined) {
    throw new BpfmemError('input', 'BPF_LINK_CREATE: target_btf_id and iter_info share a field; give one');
  }
  const a = new AttrBuffer(LINK_CREATE_SIZE)
    .u32(0, f.progFd)
    .u32(4, f.targetFd ?? 0)
    .u32(8, f.attachType)
    .u32(12, f.flags ?? 0);
  if (f.targetBtfId !== undefined) a.u32(16, f.targetBtfId);
  if (f.iterInfo !== undefined) a.u64(16, f.iterInfo).u32(24, f.iterInfoLen ?? 0);
  return a.bytes;
}

/** BPF_ITER_CREATE: link_fd 0, flags 4. 8 bytes. */
export const ITER_CREATE_SIZE = 8;

/** The attribute of BPF_ITER_CREATE. */
export function iterCreateAttr(linkFd: number, flags = 0): Uint8Array {
  return new AttrBuffer(ITER_CREATE_SIZE).u32(0, linkFd).u32(4, flags).bytes;
}

/** BPF_RAW_TRACEPOINT_OPEN: name 0 (pointer; NULL for fentry/fexit/fmod_ret, which attach where they were loaded for), prog_fd 8. 16 bytes. */
export const RAW_TRACEPOINT_OPEN_SIZE = 16;

/** The attribute of BPF_RAW_TRACEPOINT_OPEN for a program that names its target at load (`attach_btf_id`). */
export function rawTracepointOpenAttr(progFd: number, name = 0n): Uint8Array {
  return new AttrBuffer(RAW_TRACEPOINT_OPEN_SIZE).u64(0, name).u32(8, progFd).bytes;
}

/**
 * BPF_PROG_TEST_RUN: prog_fd 0, retval 4 (out), data_size_in 8, data_size_out 12, data_in 16
 * (pointer), data_out 24 (pointer), repeat 32, duration 36 (out: mean nanoseconds per run). 40 bytes.
 */
export const PROG_TEST_RUN_SIZE = 40;

/** The attribute of BPF_PROG_TEST_RUN with input data and no output buffer. */
export function progTestRunAttr(progFd: number, dataIn: bigint, dataSizeIn: number, repeat: number): Uint8Array {
  return new AttrBuffer(PROG_TEST_RUN_SIZE).u32(0, progFd).u32(8, dataSizeIn).u64(16, dataIn).u32(32, repeat).bytes;
}
