import {
  BTF_HEADER_SIZE,
  BTF_INFO_MASK,
  BTF_KIND_MAX,
  BTF_KIND_NAMES,
  BTF_KINDS,
  BTF_MAGIC,
  BTF_MAX_NAME_OFFSET,
  BTF_MAX_TYPE,
  BTF_TYPE_SIZE,
  BTF_VERSION,
  trailerSize,
} from './kinds.js';
import type { BtfResult } from './types.js';

/**
 * The checks of a BTF blob that everything else relies on: after {@link checkBtf} accepted one,
 * every type's bytes lie in the type section, every name offset in the string section (which
 * ends with a NUL), and every type reference names a type that exists. What it cannot rule out
 * cheaply, reference loops (`typedef A → B → A`, `struct S { S s; }`), the queries of btf.ts
 * detect where they walk.
 *
 * The checks follow the kernel's own (kernel/bpf/btf.c: `btf_parse_hdr`, `btf_check_sec_info`,
 * `btf_parse_str_sec`, `btf_check_meta` and the per-kind `check_meta`), with one leniency: a
 * header longer than 24 bytes is accepted and its extra fields ignored, so a newer kernel's
 * header still reads.
 */

/** A checked BTF blob: where things are. Internal to src/btf. */
export interface CheckedBtf {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  /** Absolute offset and length of the string section. */
  readonly strStart: number;
  readonly strLen: number;
  /** `offsets[id]`: absolute offset of type `id`'s `struct btf_type` (index 0, void, unused). */
  readonly offsets: Uint32Array;
  /** `kinds[id]`: its `BTF_KIND_*`. */
  readonly kinds: Uint8Array;
  /** Number of type ids, void included: ids are 0 … count − 1. */
  readonly count: number;
}

const fail = (error: string): BtfResult<never> => ({ ok: false, error });

const INT_SIZES = new Set([1, 2, 4, 8, 16]);
const ENUM_SIZES = new Set([1, 2, 4, 8]);
/** Kinds whose kind_flag means something (uapi/btf.h: "kind_flag, currently used by …"). */
const KFLAG_KINDS = new Set<number>([
  BTF_KINDS.struct,
  BTF_KINDS.union,
  BTF_KINDS.enum,
  BTF_KINDS.fwd,
  BTF_KINDS.enum64,
  BTF_KINDS.decl_tag,
  BTF_KINDS.type_tag,
]);
/** Kinds whose vlen counts trailer records (or, for func, is the linkage); every other kind has vlen 0. */
const VLEN_KINDS = new Set<number>([BTF_KINDS.struct, BTF_KINDS.union, BTF_KINDS.enum, BTF_KINDS.enum64, BTF_KINDS.func_proto, BTF_KINDS.datasec, BTF_KINDS.func]);

const hex = (n: number): string => `0x${n.toString(16)}`;

/** `BTF type 7 (struct)`, for messages: made only on failure (126k types on vmlinux). */
const typeName = (id: number, kind: string): string => `BTF type ${id} (${kind})`;

/** Checks the header and sections of `bytes` and walks its type section once. Never throws. */
export function checkBtf(bytes: Uint8Array): BtfResult<CheckedBtf> {
  if (bytes.byteLength < BTF_HEADER_SIZE) return fail(`not BTF: ${bytes.byteLength} bytes is shorter than the ${BTF_HEADER_SIZE}-byte header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // struct btf_header: u16 magic, u8 version, u8 flags, u32 hdr_len, type_off, type_len, str_off, str_len.
  const magic = view.getUint16(0, true);
  if (magic === 0x9feb) return fail('big-endian BTF (magic 0xeb9f byte-swapped): only little-endian BTF is read');
  if (magic !== BTF_MAGIC) return fail(`not BTF: magic ${hex(magic)}, expected ${hex(BTF_MAGIC)}`);
  const version = view.getUint8(2);
  if (version !== BTF_VERSION) return fail(`BTF version ${version}: only version ${BTF_VERSION} is known`);
  const flags = view.getUint8(3);
  if (flags !== 0) return fail(`BTF header flags ${hex(flags)}: none are defined`);
  const hdrLen = view.getUint32(4, true);
  if (hdrLen < BTF_HEADER_SIZE) return fail(`BTF hdr_len ${hdrLen} is shorter than the ${BTF_HEADER_SIZE}-byte header`);
  if (hdrLen > bytes.byteLength) return fail(`BTF hdr_len ${hdrLen} is beyond the end of the ${bytes.byteLength} bytes`);
  const typeOff = view.getUint32(8, true);
  const typeLen = view.getUint32(12, true);
  const strOff = view.getUint32(16, true);
  const strLen = view.getUint32(20, true);
  // Offsets are relative to the end of the header; JS numbers hold these sums exactly.
  const typeStart = hdrLen + typeOff;
  const typeEnd = typeStart + typeLen;
  const strStart = hdrLen + strOff;
  const strEnd = strStart + strLen;
  if (typeEnd > bytes.byteLength) return fail(`BTF type section (${typeOff}+${typeLen} after the header) runs past the end of the ${bytes.byteLength} bytes`);
  if (strEnd > bytes.byteLength) return fail(`BTF string section (${strOff}+${strLen} after the header) runs past the end of the ${bytes.byteLength} bytes`);
  if (typeOff % 4 !== 0) return fail(`BTF type_off ${typeOff} is not 4-byte aligned`);
  if (typeLen % 4 !== 0) return fail(`BTF type_len ${typeLen} is not a multiple of 4`);
  if (typeLen > 0 && strLen > 0 && typeStart < strEnd && strStart < typeEnd) return fail('BTF type and string sections overlap');
  if (strLen === 0) return fail('BTF string section is empty: it must hold at least the empty string');
  if (strLen - 1 > BTF_MAX_NAME_OFFSET) return fail(`BTF string section of ${strLen} bytes is larger than BTF_MAX_NAME_OFFSET allows`);
  if (bytes[strStart] !== 0) return fail('BTF string section does not start with the empty string');
  if (bytes[strEnd - 1] !== 0) return fail('BTF string section does not end with a NUL: its last string is not terminated');
  return walkTypes(bytes, view, typeStart, typeEnd, strStart, strLen);
}

/** Bit `k` set: kind `k` is in the set (for the walk's per-type checks, without a Set lookup). */
const maskOf = (kinds: ReadonlySet<number>): number => [...kinds].reduce((m, k) => m | (1 << k), 0);
const KFLAG_MASK = maskOf(KFLAG_KINDS);
const VLEN_MASK = maskOf(VLEN_KINDS);

/**
 * The type section as little-endian u32 words: a view of the bytes where they are 4-byte aligned
 * and the host is little-endian (always, in practice), else a converted copy. Every field the
 * walk reads is a u32 at a 4-byte boundary of the section, and typed-array reads keep the walk
 * fast before the JIT has warmed up (25 ms → a few on vmlinux's 126k types, read once per run).
 */
function sectionWords(bytes: Uint8Array, view: DataView, start: number, end: number): Uint32Array {
  const littleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
  if (littleEndian && (bytes.byteOffset + start) % 4 === 0) return new Uint32Array(bytes.buffer, bytes.byteOffset + start, (end - start) / 4);
  const words = new Uint32Array((end - start) / 4);
  for (let i = 0; i < words.length; i++) words[i] = view.getUint32(start + 4 * i, true);
  return words;
}

/** Walks the type section: every type in bounds and well-formed, then every reference in range. */
function walkTypes(bytes: Uint8Array, view: DataView, typeStart: number, typeEnd: number, strStart: number, strLen: number): BtfResult<CheckedBtf> {
  // Every type takes at least 12 bytes, so this bounds the count before anything is allocated.
  const capacity = Math.min(Math.floor((typeEnd - typeStart) / BTF_TYPE_SIZE), BTF_MAX_TYPE) + 1;
  const offsets = new Uint32Array(capacity);
  const kinds = new Uint8Array(capacity);
  const w = sectionWords(bytes, view, typeStart, typeEnd);
  const words = w.length;
  /** The largest type id referenced so far, and by whom (checked once the count is known). */
  let maxRef = 0;
  let maxRefBy = 0;
  let id = 1;
  // `i`: the word index of the type in the section; references are checked inline, as calls
  // per member (a million on vmlinux) cost more than the checks before the JIT warms up.
  let i = 0;
  while (i < words) {
    if (id > BTF_MAX_TYPE) return fail(`BTF has more than BTF_MAX_TYPE (${BTF_MAX_TYPE}) types`);
    if (i + 3 > words) return fail(`BTF type ${id}: its 12-byte header is cut by the end of the type section`);
    const nameOff = w[i] ?? 0;
    const info = w[i + 1] ?? 0;
    const sizeOrType = w[i + 2] ?? 0;
    const kind = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    const kflag = info >>> 31 === 1;
    const kindName = BTF_KIND_NAMES[kind];
    if (kind === 0 || kind > BTF_KIND_MAX || kindName === undefined) return fail(`BTF type ${id}: unknown kind ${kind}`);
    if ((info & ~BTF_INFO_MASK) !== 0) return fail(`BTF type ${id} (${kindName}): reserved bits set in info ${hex(info >>> 0)}`);
    if (kflag && ((KFLAG_MASK >>> kind) & 1) === 0) return fail(`BTF type ${id} (${kindName}): kind_flag is set but means nothing for this kind`);
    if (vlen !== 0 && ((VLEN_MASK >>> kind) & 1) === 0) return fail(`BTF type ${id} (${kindName}): vlen ${vlen} where it must be 0`);
    if (nameOff >= strLen) return fail(`BTF type ${id} (${kindName}): name offset ${nameOff} is beyond the ${strLen}-byte string section`);
    const extra = trailerSize(kind, vlen) ?? 0;
    const body = i + 3;
    if (4 * body + extra > 4 * words) return fail(`BTF type ${id} (${kindName}, vlen ${vlen}): its ${extra} trailing bytes run past the end of the type section`);
    switch (kind) {
      case BTF_KINDS.int: {
        const word = w[body] ?? 0;
        const encoding = (word >>> 24) & 0x0f;
        const offset = (word >>> 16) & 0xff;
        const bits = word & 0xff;
        if (!INT_SIZES.has(sizeOrType)) return fail(`${typeName(id, kindName)}: size ${sizeOrType} is not 1, 2, 4, 8 or 16`);
        // BTF_INT_ENCODING / BTF_INT_OFFSET / BTF_INT_BITS; kernel/bpf/btf.c refuses bits 28–31 (`BTF_INT_MASK`).
        if (word >>> 28 !== 0) return fail(`${typeName(id, kindName)}: reserved bits set in the int word ${hex(word)}`);
        if (encoding & ~0x07) return fail(`${typeName(id, kindName)}: unknown int encoding ${hex(encoding)}`);
        if (bits === 0 || bits > 128 || offset + bits > 8 * sizeOrType) return fail(`${typeName(id, kindName)}: ${bits} bits from bit ${offset} do not fit its ${sizeOrType} bytes`);
        break;
      }
      case BTF_KINDS.float:
        if (![2, 4, 8, 12, 16].includes(sizeOrType)) return fail(`${typeName(id, kindName)}: size ${sizeOrType} is not that of a float`);
        break;
      case BTF_KINDS.ptr:
      case BTF_KINDS.typedef:
      case BTF_KINDS.volatile:
      case BTF_KINDS.const:
      case BTF_KINDS.restrict:
      case BTF_KINDS.type_tag:
      case BTF_KINDS.func:
        if (kind === BTF_KINDS.func && vlen > 2) return fail(`${typeName(id, kindName)}: linkage ${vlen} is not static, global or extern`);
        if (sizeOrType > maxRef) {
          maxRef = sizeOrType;
          maxRefBy = id;
        }
        break;
      case BTF_KINDS.fwd:
        break;
      case BTF_KINDS.array: {
        const elem = w[body] ?? 0;
        const index = w[body + 1] ?? 0;
        if (elem > maxRef) {
          maxRef = elem;
          maxRefBy = id;
        }
        if (index > maxRef) {
          maxRef = index;
          maxRefBy = id;
        }
        break;
      }
      case BTF_KINDS.struct:
      case BTF_KINDS.union:
        for (let k = 0, m = body; k < vlen; k++, m += 3) {
          if ((w[m] ?? 0) >= strLen) return fail(`${typeName(id, kindName)}: member ${k} has a name offset beyond the string section`);
          const t = w[m + 1] ?? 0;
          if (t > maxRef) {
          maxRef = t;
          maxRefBy = id;
        }
        }
        break;
      case BTF_KINDS.enum:
      case BTF_KINDS.enum64: {
        if (!ENUM_SIZES.has(sizeOrType)) return fail(`${typeName(id, kindName)}: size ${sizeOrType} is not 1, 2, 4 or 8`);
        const step = kind === BTF_KINDS.enum ? 2 : 3;
        for (let k = 0, m = body; k < vlen; k++, m += step) {
          if ((w[m] ?? 0) >= strLen) return fail(`${typeName(id, kindName)}: enumerator ${k} has a name offset beyond the string section`);
        }
        break;
      }
      case BTF_KINDS.func_proto:
        if (sizeOrType > maxRef) {
          maxRef = sizeOrType;
          maxRefBy = id;
        }
        for (let k = 0, m = body; k < vlen; k++, m += 2) {
          if ((w[m] ?? 0) >= strLen) return fail(`${typeName(id, kindName)}: parameter ${k} has a name offset beyond the string section`);
          const t = w[m + 1] ?? 0;
          if (t > maxRef) {
          maxRef = t;
          maxRefBy = id;
        }
        }
        break;
      case BTF_KINDS.var: {
        const linkage = w[body] ?? 0;
        if (linkage > 2) return fail(`${typeName(id, kindName)}: linkage ${linkage} is not static, global or extern`);
        if (sizeOrType > maxRef) {
          maxRef = sizeOrType;
          maxRefBy = id;
        }
        break;
      }
      case BTF_KINDS.datasec:
        for (let k = 0, m = body; k < vlen; k++, m += 3) {
          const t = w[m] ?? 0;
          if (t > maxRef) {
          maxRef = t;
          maxRefBy = id;
        }
        }
        break;
      case BTF_KINDS.decl_tag: {
        const component = (w[body] ?? 0) | 0;
        if (component < -1) return fail(`${typeName(id, kindName)}: component_idx ${component} is below -1`);
        if (sizeOrType > maxRef) {
          maxRef = sizeOrType;
          maxRefBy = id;
        }
        break;
      }
      default:
        return fail(`BTF type ${id}: unknown kind ${kind}`);
    }
    offsets[id] = typeStart + 4 * i;
    kinds[id] = kind;
    id++;
    i = body + extra / 4;
  }
  const count = id;
  if (maxRef >= count) return fail(`BTF type ${maxRefBy} refers to type ${maxRef}, but the last type is ${count - 1}`);
  return {
    ok: true,
    value: { bytes, view, strStart, strLen, offsets: offsets.subarray(0, count), kinds: kinds.subarray(0, count), count },
  };
}
