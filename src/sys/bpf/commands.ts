import { BpfmemError } from '../../vocab/errors.js';
import { ERRNO } from '../../vocab/errno.js';
import { MAP_TYPES, type MapType } from '../../vocab/maptypes.js';
import { INSN_SIZE } from '../../asm/assemble.js';
import { encodeBtf } from '../../btf/index.js';
import {
  AttrBuffer,
  getFdByIdAttr,
  getNextIdAttr,
  INFO_LEN_OFFSET,
  iterCreateAttr,
  linkCreateAttr,
  mapCreateAttr,
  mapElemAttr,
  ID_SIZE,
  NEXT_ID_OFFSET,
  OBJ_INFO_SIZE,
  objInfoAttr,
  objPathAttr,
  PROG_LOAD_LOG_TRUE_SIZE,
  progLoadAttr,
  rawTracepointOpenAttr,
  progTestRunAttr,
} from './attr.js';
import { SyscallError } from './error.js';
import { MAP_INFO_SIZE, parseMapInfo, parseProgInfo, PROG_INFO_MAP_IDS, PROG_INFO_NR_MAP_IDS, PROG_INFO_SIZE, type MapInfo, type ProgInfo } from './info.js';
import { addressOf, lastErrno, libc, PROT_READ, PROT_WRITE, type MappedMemory } from './libc.js';
import { bpfSyscall, tryBpfSyscall } from './syscall.js';
import { ATTACH_TYPES, mapId, progId, UPDATE_FLAGS, type AttachType, type BpfCommand, type MapId, type ProgId, type UpdateFlag } from './types.js';
import { PROG_TYPES, type ProgType } from '../../vocab/progtypes.js';

/**
 * The bpf(2) commands bpfmem uses, with JS types: byte views for keys and values, branded ids,
 * parsed info structs. Every function here makes exactly the system calls its name says (plus
 * a retry with a verifier log when a program load fails) and throws {@link SyscallError} for
 * failures other than the "not found" answers it returns as values.
 *
 * File descriptors returned here are the caller's to close ({@link closeFd} in syscall.ts); the
 * kernel opens every BPF fd with O_CLOEXEC, so child processes never inherit them.
 */

/** A zeroed view whose backing store is off the V8 heap (its address never moves). */
function scratch(size: number): Uint8Array {
  return new Uint8Array(new ArrayBuffer(size));
}

/** A NUL-terminated copy of a string, for `char *` fields (license, pathname). */
function cString(s: string): Uint8Array {
  const encoded = new TextEncoder().encode(s);
  if (encoded.includes(0)) throw new BpfmemError('input', `"${s}" contains a NUL byte`);
  const out = scratch(encoded.length + 1);
  out.set(encoded);
  return out;
}

/** The `enum bpf_map_type` value of a type name or number. */
function mapTypeValue(type: MapType | number): number {
  return typeof type === 'number' ? type : MAP_TYPES[type].id;
}

/** Options of {@link mapCreate}: the BPF_MAP_CREATE fields bpfmem sets. */
export interface MapCreateOptions {
  /** A map type by bpftool's name, or any `enum bpf_map_type` value (to probe refusals). */
  readonly type: MapType | number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  /** `map_flags` (MAP_FLAGS of src/vocab/flags.ts). */
  readonly flags?: number;
  /** `map_extra`: bloom filter hash count, arena address. */
  readonly mapExtra?: bigint | number;
  /** At most 15 of `[A-Za-z0-9_.]`. */
  readonly name?: string;
  /** The inner map template of `array_of_maps` and `hash_of_maps`. */
  readonly innerMapFd?: number;
  readonly numaNode?: number;
  readonly btfFd?: number;
  readonly btfKeyTypeId?: number;
  readonly btfValueTypeId?: number;
  readonly btfVmlinuxValueTypeId?: number;
}

/** BPF_MAP_CREATE: a new map's fd. */
export function mapCreate(o: MapCreateOptions): number {
  return bpfSyscall(
    'BPF_MAP_CREATE',
    mapCreateAttr({
      mapType: mapTypeValue(o.type),
      keySize: o.keySize,
      valueSize: o.valueSize,
      maxEntries: o.maxEntries,
      ...(o.flags !== undefined && { mapFlags: o.flags }),
      ...(o.mapExtra !== undefined && { mapExtra: o.mapExtra }),
      ...(o.name !== undefined && { name: o.name }),
      ...(o.innerMapFd !== undefined && { innerMapFd: o.innerMapFd }),
      ...(o.numaNode !== undefined && { numaNode: o.numaNode }),
      ...(o.btfFd !== undefined && { btfFd: o.btfFd }),
      ...(o.btfKeyTypeId !== undefined && { btfKeyTypeId: o.btfKeyTypeId }),
      ...(o.btfValueTypeId !== undefined && { btfValueTypeId: o.btfValueTypeId }),
      ...(o.btfVmlinuxValueTypeId !== undefined && { btfVmlinuxValueTypeId: o.btfVmlinuxValueTypeId }),
    }),
  );
}

/** The buffers among `views` (an absent key points at nothing), for bpfSyscall's `pointees`. */
function pointees(...views: (Uint8Array | undefined)[]): Uint8Array[] {
  return views.filter((v): v is Uint8Array => v !== undefined);
}

/** The address of a key, or NULL for none (queue and stack maps have no keys). */
function keyAddress(key: Uint8Array | undefined): bigint {
  return key === undefined ? 0n : addressOf(key);
}

/**
 * BPF_MAP_UPDATE_ELEM: sets `key` to `value` (for queue and stack maps, `key` undefined pushes).
 * `key` and `value` must be the map's key_size and value size (for per-CPU maps,
 * `round_up(value_size, 8) × possible CPUs`): the kernel reads that many bytes. `noexist` fails
 * with EEXIST for a present key, `exist` with ENOENT for an absent one; a full hash map answers
 * E2BIG, an array index out of range E2BIG too.
 */
export function mapUpdate(fd: number, key: Uint8Array | undefined, value: Uint8Array, flags: UpdateFlag = 'any'): void {
  bpfSyscall('BPF_MAP_UPDATE_ELEM', mapElemAttr({ mapFd: fd, key: keyAddress(key), value: addressOf(value), flags: UPDATE_FLAGS[flags] }), ...pointees(key, value));
}

/**
 * BPF_MAP_LOOKUP_ELEM: the value of `key` (`valueSize` bytes, see {@link mapUpdate}), or
 * undefined where the key is absent (ENOENT). For queue and stack maps, `key` undefined peeks.
 */
export function mapLookup(fd: number, key: Uint8Array | undefined, valueSize: number): Uint8Array | undefined {
  const value = scratch(valueSize);
  const r = tryBpfSyscall('BPF_MAP_LOOKUP_ELEM', mapElemAttr({ mapFd: fd, key: keyAddress(key), value: addressOf(value) }), ...pointees(key, value));
  if (r.ok) return value;
  if (r.errno === ERRNO.ENOENT) return undefined;
  throw new SyscallError('BPF_MAP_LOOKUP_ELEM', r.errno);
}

/** BPF_MAP_DELETE_ELEM: whether `key` was there (false for ENOENT). Arrays refuse with EINVAL. */
export function mapDelete(fd: number, key: Uint8Array): boolean {
  const r = tryBpfSyscall('BPF_MAP_DELETE_ELEM', mapElemAttr({ mapFd: fd, key: addressOf(key) }), key);
  if (r.ok) return true;
  if (r.errno === ERRNO.ENOENT) return false;
  throw new SyscallError('BPF_MAP_DELETE_ELEM', r.errno);
}

/**
 * BPF_MAP_GET_NEXT_KEY: the key after `key` (the first key for undefined), or undefined at the
 * end (ENOENT). A key that is not in a hash map restarts at the first key, as the kernel does.
 */
export function mapGetNextKey(fd: number, key: Uint8Array | undefined, keySize: number): Uint8Array | undefined {
  const next = scratch(keySize);
  const r = tryBpfSyscall('BPF_MAP_GET_NEXT_KEY', mapElemAttr({ mapFd: fd, key: keyAddress(key), value: addressOf(next) }), ...pointees(key, next));
  if (r.ok) return next;
  if (r.errno === ERRNO.ENOENT) return undefined;
  throw new SyscallError('BPF_MAP_GET_NEXT_KEY', r.errno);
}

/** Options of {@link progLoad}. */
export interface ProgLoadOptions {
  /** A program type by bpftool's name, or any `enum bpf_prog_type` value. */
  readonly type: ProgType | number;
  /** Encoded instructions (src/asm `assemble`), 8 bytes a slot. */
  readonly insns: Uint8Array;
  /** `GPL` (or a GPL-compatible licence) unlocks GPL-only helpers. */
  readonly license: string;
  readonly name?: string;
  readonly expectedAttachType?: AttachType | number;
  /** `attach_btf_id`: the BTF type a tracing program attaches to (btf.ts `findBtfTypeId`). */
  readonly attachBtfId?: number;
  /** `attach_btf_obj_fd`: a module's BTF; 0 (default) is vmlinux. */
  readonly attachBtfObjFd?: number;
  readonly progFlags?: number;
  /** Ask for a verifier log from the start (1 = basic, 2 = verbose); by default one is taken only after a failure. */
  readonly logLevel?: number;
}

/** A program load the verifier refused, with its log. */
export class VerifierError extends SyscallError {
  constructor(
    errno: number,
    /** The verifier's whole log (level 1). */
    readonly log: string,
  ) {
    super('BPF_PROG_LOAD', errno, summarizeLog(log));
  }
}

/**
 * The lines of a verifier log worth a one-line message: the first three and, for longer logs,
 * the last three (the verifier states the refusal at the end, before "processed N insns").
 */
export function summarizeLog(log: string): string {
  const lines = log.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  if (lines.length <= 6) return lines.join(' | ');
  return [...lines.slice(0, 3), `… ${lines.length - 6} lines …`, ...lines.slice(-3)].join(' | ');
}

const LOG_SIZE = 64 * 1024;
const LOG_SIZE_MAX = 16 * 1024 * 1024;

/**
 * BPF_PROG_LOAD: a new program's fd. Loads without a verifier log; if the kernel refuses with
 * EINVAL or EACCES (the verifier's answers), loads again with a level-1 log and throws a
 * {@link VerifierError} whose message carries the log's first and last lines.
 */
/** Loads refused with EAGAIN (a signal came during verification) are tried this often in all. */
const PROG_LOAD_ATTEMPTS = 5;

export function progLoad(o: ProgLoadOptions): number {
  if (o.insns.byteLength === 0 || o.insns.byteLength % INSN_SIZE !== 0) {
    throw new BpfmemError('input', `BPF_PROG_LOAD: ${o.insns.byteLength} bytes of instructions is not a whole, non-zero number of slots`);
  }
  const license = cString(o.license);
  const load = (logLevel: number, log: Uint8Array | undefined): { fd: number } | { errno: number; logTrueSize: number } => {
    const attr = progLoadAttr({
      progType: typeof o.type === 'number' ? o.type : PROG_TYPES[o.type],
      insnCnt: o.insns.byteLength / INSN_SIZE,
      insns: addressOf(o.insns),
      license: addressOf(license),
      ...(log !== undefined && { logLevel, logSize: log.byteLength, logBuf: addressOf(log) }),
      ...(o.name !== undefined && { name: o.name }),
      ...(o.expectedAttachType !== undefined && {
        expectedAttachType: typeof o.expectedAttachType === 'number' ? o.expectedAttachType : ATTACH_TYPES[o.expectedAttachType],
      }),
      ...(o.attachBtfId !== undefined && { attachBtfId: o.attachBtfId }),
      ...(o.attachBtfObjFd !== undefined && { attachBtfObjFd: o.attachBtfObjFd }),
      ...(o.progFlags !== undefined && { progFlags: o.progFlags }),
    });
    // The verifier gives up with EAGAIN when a signal is pending (kernel/bpf/verifier.c do_check:
    // `if (signal_pending(current)) return -EAGAIN`): a profiler's SIGPROF or a timer is enough.
    // libbpf retries such loads (bpf.c sys_bpf_prog_load, PROG_LOAD_ATTEMPTS 5); so does bpfmem.
    const held = pointees(o.insns, license, log);
    let r = tryBpfSyscall('BPF_PROG_LOAD', attr, ...held);
    for (let attempt = 1; !r.ok && r.errno === ERRNO.EAGAIN && attempt < PROG_LOAD_ATTEMPTS; attempt++) r = tryBpfSyscall('BPF_PROG_LOAD', attr, ...held);
    if (r.ok) return { fd: r.value };
    return { errno: r.errno, logTrueSize: new DataView(attr.buffer).getUint32(PROG_LOAD_LOG_TRUE_SIZE, true) };
  };
  const requested = o.logLevel ?? 0;
  const level = requested > 0 ? requested : 1;
  let log = requested > 0 ? scratch(LOG_SIZE) : undefined;
  let r = load(requested, log);
  if ('fd' in r) return r.fd;
  if (log === undefined) {
    if (r.errno !== ERRNO.EINVAL && r.errno !== ERRNO.EACCES) throw new SyscallError('BPF_PROG_LOAD', r.errno);
    log = scratch(LOG_SIZE);
    r = load(level, log);
  }
  // ENOSPC: the log did not fit (and replaces the verifier's errno: kernel/bpf/verifier.c,
  // bpf_vlog_finalize); 6.4+ kernels say how much it needed in log_true_size.
  if (!('fd' in r) && r.errno === ERRNO.ENOSPC && r.logTrueSize > log.byteLength && r.logTrueSize <= LOG_SIZE_MAX) {
    log = scratch(r.logTrueSize);
    r = load(level, log);
  }
  if ('fd' in r) return r.fd;
  const end = log.indexOf(0);
  throw new VerifierError(r.errno, new TextDecoder().decode(log.subarray(0, end < 0 ? log.length : end)));
}

/**
 * Attribute buffers reused by the commands an inventory runs once per object (GET_NEXT_ID,
 * GET_FD_BY_ID, OBJ_GET_INFO_BY_FD): a fresh ArrayBuffer per call halves the call rate. Safe
 * because bpf() calls here are synchronous and JS runs one at a time per thread (a worker
 * thread gets its own module instance); no buffer outlives the call that fills it.
 */
const idAttr = new AttrBuffer(ID_SIZE);
const idView = new DataView(idAttr.bytes.buffer);
const infoAttr = new AttrBuffer(OBJ_INFO_SIZE);
const infoView = new DataView(infoAttr.bytes.buffer);
// Zeroed before each use: the kernel reads counts such as nr_map_ids from the buffer as input,
// and refuses non-zero bytes past its own struct (bpf_check_uarg_tail_zero).
const mapInfoBuf = scratch(MAP_INFO_SIZE);
const progInfoBuf = scratch(PROG_INFO_SIZE);
/** Addresses of the two info buffers, taken once (they never move). */
let infoAddresses: { map: bigint; prog: bigint } | undefined;
const infoAddress = (which: 'map' | 'prog'): bigint => (infoAddresses ??= { map: addressOf(mapInfoBuf), prog: addressOf(progInfoBuf) })[which];

function getNextId(cmd: BpfCommand, start: number): number | undefined {
  const r = tryBpfSyscall(cmd, getNextIdAttr(start, idAttr));
  if (r.ok) return idView.getUint32(NEXT_ID_OFFSET, true);
  if (r.errno === ERRNO.ENOENT) return undefined;
  throw new SyscallError(cmd, r.errno);
}

/** BPF_MAP_GET_NEXT_ID: the smallest map id above `start` (0 for the first), or undefined after the last. Needs CAP_SYS_ADMIN. */
export function mapGetNextId(start: MapId | 0): MapId | undefined {
  const id = getNextId('BPF_MAP_GET_NEXT_ID', start);
  return id === undefined ? undefined : mapId(id);
}

/** BPF_PROG_GET_NEXT_ID: the smallest program id above `start`, or undefined after the last. Needs CAP_SYS_ADMIN. */
export function progGetNextId(start: ProgId | 0): ProgId | undefined {
  const id = getNextId('BPF_PROG_GET_NEXT_ID', start);
  return id === undefined ? undefined : progId(id);
}

/** BPF_MAP_GET_FD_BY_ID: a new fd for the map with `id` (ENOENT once it is freed). `openFlags`: BPF_F_RDONLY / BPF_F_WRONLY. */
export function mapGetFdById(id: MapId, openFlags = 0): number {
  return bpfSyscall('BPF_MAP_GET_FD_BY_ID', getFdByIdAttr(id, openFlags, idAttr));
}

/** BPF_PROG_GET_FD_BY_ID: a new fd for the program with `id`. */
export function progGetFdById(id: ProgId): number {
  return bpfSyscall('BPF_PROG_GET_FD_BY_ID', getFdByIdAttr(id, 0, idAttr));
}

/** BPF_OBJ_GET_INFO_BY_FD into `info` (at `address`); returns the bytes the kernel filled. */
function objInfo(fd: number, info: Uint8Array, address: bigint = addressOf(info), ...more: Uint8Array[]): number {
  bpfSyscall('BPF_OBJ_GET_INFO_BY_FD', objInfoAttr(fd, info.byteLength, address, infoAttr), info, ...more);
  return infoView.getUint32(INFO_LEN_OFFSET, true);
}

/** BPF_OBJ_GET_INFO_BY_FD on a map fd: `struct bpf_map_info`. EINVAL if `fd` is not a map. */
export function mapInfo(fd: number): MapInfo {
  mapInfoBuf.fill(0);
  return parseMapInfo(mapInfoBuf, objInfo(fd, mapInfoBuf, infoAddress('map')));
}

/** BPF_OBJ_GET_INFO_BY_FD on a program fd: `struct bpf_prog_info` without its arrays. */
export function progInfo(fd: number): ProgInfo {
  progInfoBuf.fill(0);
  return parseProgInfo(progInfoBuf, objInfo(fd, progInfoBuf, infoAddress('prog')));
}

/** The ids of the maps a program uses (`map_ids` of `struct bpf_prog_info`): two info calls. */
export function progMapIds(fd: number): MapId[] {
  const count = progInfo(fd).nrMapIds;
  if (count === 0) return [];
  const ids = scratch(count * 4);
  const info = scratch(PROG_INFO_SIZE);
  const view = new DataView(info.buffer);
  view.setUint32(PROG_INFO_NR_MAP_IDS, count, true);
  view.setBigUint64(PROG_INFO_MAP_IDS, addressOf(ids), true);
  objInfo(fd, info, addressOf(info), ids);
  // The kernel copies min(count asked, count it has) ids and reports how many it has.
  const n = Math.min(count, view.getUint32(PROG_INFO_NR_MAP_IDS, true));
  const idView = new DataView(ids.buffer);
  return Array.from({ length: n }, (_, i) => mapId(idView.getUint32(i * 4, true)));
}

/** BPF_OBJ_PIN: pins a map, program or link at `path` on a bpffs mount. EEXIST if taken. */
export function objPin(fd: number, path: string): void {
  const pathname = cString(path);
  bpfSyscall('BPF_OBJ_PIN', objPathAttr(addressOf(pathname), fd), pathname);
}

/** BPF_OBJ_GET: a new fd for the object pinned at `path`. `fileFlags`: BPF_F_RDONLY / BPF_F_WRONLY. */
export function objGet(path: string, fileFlags = 0): number {
  const pathname = cString(path);
  return bpfSyscall('BPF_OBJ_GET', objPathAttr(addressOf(pathname), 0, fileFlags), pathname);
}

/** Options of {@link linkCreate}. */
export interface LinkCreateOptions {
  readonly progFd: number;
  readonly attachType: AttachType | number;
  readonly targetFd?: number;
  readonly flags?: number;
  readonly targetBtfId?: number;
  /** `union bpf_iter_link_info` for iterators that take one (a map element iterator's map fd). */
  readonly iterInfo?: Uint8Array;
}

/**
 * BPF_LINK_CREATE: a link fd. For an iterator, `attachType: 'trace_iter'` and a tracing program
 * loaded with `expectedAttachType: 'trace_iter'` and the `bpf_iter_*` function's BTF id.
 */
export function linkCreate(o: LinkCreateOptions): number {
  return bpfSyscall(
    'BPF_LINK_CREATE',
    linkCreateAttr({
      progFd: o.progFd,
      attachType: typeof o.attachType === 'number' ? o.attachType : ATTACH_TYPES[o.attachType],
      ...(o.targetFd !== undefined && { targetFd: o.targetFd }),
      ...(o.flags !== undefined && { flags: o.flags }),
      ...(o.targetBtfId !== undefined && { targetBtfId: o.targetBtfId }),
      ...(o.iterInfo !== undefined && { iterInfo: addressOf(o.iterInfo), iterInfoLen: o.iterInfo.byteLength }),
    }),
    ...pointees(o.iterInfo),
  );
}

/** BPF_ITER_CREATE: an fd whose `read()` runs the iterator program of `linkFd` (a seq_file). */
export function iterCreate(linkFd: number): number {
  return bpfSyscall('BPF_ITER_CREATE', iterCreateAttr(linkFd));
}

/**
 * BPF_RAW_TRACEPOINT_OPEN with no name: attaches a tracing program loaded with `attach_btf_id`
 * (fentry, fexit, fmod_ret) to the function it was loaded for, and returns the link's fd;
 * closing the last fd detaches it (kernel/bpf/syscall.c `bpf_raw_tp_link_attach` →
 * `bpf_tracing_prog_attach`, 5.5+; the same call on every kernel since, where BPF_LINK_CREATE
 * for tracing programs came later). EBUSY: the function has no ftrace site.
 */
export function rawTracepointOpen(progFd: number): number {
  return bpfSyscall('BPF_RAW_TRACEPOINT_OPEN', rawTracepointOpenAttr(progFd));
}

/**
 * `mmap(2)` of a map's memory, shared with the kernel: an array created with BPF_F_MMAPABLE
 * (5.5+; its values laid end to end from offset 0, each rounded up to 8 bytes), or the pages of
 * a ring buffer (kernel/bpf/ringbuf.c `ringbuf_map_mmap_kern`: the consumer page read-write at
 * offset 0, the producer page and the data, mapped twice, read-only after it). Throws a
 * {@link SyscallError} (`mmap`) when the kernel refuses.
 */
export function mapMmap(fd: number, offset: number, length: number, writable: boolean): MappedMemory {
  const m = libc().mmapShared(fd, length, writable ? PROT_READ | PROT_WRITE : PROT_READ, offset);
  if (m === undefined) throw new SyscallError('mmap', lastErrno());
  return m;
}

/**
 * BPF_PROG_TEST_RUN: runs a program `repeat` times on a copy of `data` (a packet for socket
 * filters) in the kernel, and returns its last return value and the mean time of one run in
 * nanoseconds (kernel/bpf/test_run.c `bpf_test_timer`, preemption off during the runs).
 */
export function progTestRun(progFd: number, data: Uint8Array, repeat: number): { retval: number; durationNs: number } {
  const attr = progTestRunAttr(progFd, addressOf(data), data.byteLength, repeat);
  bpfSyscall('BPF_PROG_TEST_RUN', attr, data);
  const view = new DataView(attr.buffer);
  return { retval: view.getUint32(4, true), durationNs: view.getUint32(36, true) };
}

/**
 * BPF_BTF_LOAD of an encoded BTF blob (src/btf encodeBtf): btf 0 (pointer), btf_log_buf 8,
 * btf_size 16, btf_log_size 20, btf_log_level 24 (include/uapi/linux/bpf.h). Its fd. A struct_ops
 * map wants one with its btf_vmlinux_value_type_id (kernel/bpf/syscall.c map_create reads
 * btf_fd whenever a BTF type id is given), though its value type is the kernel's.
 */
function btfLoad(blob: Uint8Array): number {
  const bytes = new Uint8Array(new ArrayBuffer(blob.byteLength));
  bytes.set(blob);
  const attr = new Uint8Array(new ArrayBuffer(32));
  const view = new DataView(attr.buffer);
  view.setBigUint64(0, addressOf(bytes), true);
  view.setUint32(16, bytes.byteLength, true);
  return bpfSyscall('BPF_BTF_LOAD', attr, bytes);
}

/**
 * A loaded BTF object holding one `int`: the btf_fd of a struct_ops map whose value type is the
 * kernel's (what an object's own BTF is to libbpf). BTF is not charged to a memory cgroup
 * (kernel/bpf/btf.c allocates it without __GFP_ACCOUNT). Its fd.
 */
export function loadPlaceholderBtf(): number {
  return btfLoad(encodeBtf([{ kind: 'int', name: 'int', size: 4, signed: true, char: false, bool: false, bitOffset: 0, bits: 32 }]));
}
