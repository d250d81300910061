import { readFile } from 'node:fs/promises';
import { BpfmemError } from '../../errors.js';

/**
 * Just enough of BTF to find a type id by name: what BTF-attached program loads need
 * (`attach_btf_id` of the `bpf_iter_bpf_map` function for a map iterator, say). The layout is
 * that of include/uapi/linux/btf.h (`struct btf_header`, `struct btf_type` and the per-kind
 * trailers); a full BTF parser belongs in its own module.
 */

/** `BTF_KIND_*` values of include/uapi/linux/btf.h. */
export const BTF_KINDS = {
  int: 1,
  ptr: 2,
  array: 3,
  struct: 4,
  union: 5,
  enum: 6,
  fwd: 7,
  typedef: 8,
  volatile: 9,
  const: 10,
  restrict: 11,
  func: 12,
  func_proto: 13,
  var: 14,
  datasec: 15,
  float: 16,
  decl_tag: 17,
  type_tag: 18,
  enum64: 19,
} as const;

/** A BTF kind by its lower-case uapi name. */
export type BtfKind = keyof typeof BTF_KINDS;

/** `BTF_MAGIC`. */
const BTF_MAGIC = 0xeb9f;

/** Bytes that follow the 12-byte `struct btf_type` of each kind, given its vlen (uapi/btf.h comments). */
function trailer(kind: number, vlen: number): number | undefined {
  switch (kind) {
    case BTF_KINDS.int: // u32 encoding
    case BTF_KINDS.var: // struct btf_var
    case BTF_KINDS.decl_tag: // struct btf_decl_tag
      return 4;
    case BTF_KINDS.array: // struct btf_array
      return 12;
    case BTF_KINDS.struct:
    case BTF_KINDS.union: // struct btf_member[vlen]
    case BTF_KINDS.datasec: // struct btf_var_secinfo[vlen]
    case BTF_KINDS.enum64: // struct btf_enum64[vlen]
      return 12 * vlen;
    case BTF_KINDS.enum: // struct btf_enum[vlen]
    case BTF_KINDS.func_proto: // struct btf_param[vlen]
      return 8 * vlen;
    case BTF_KINDS.ptr:
    case BTF_KINDS.fwd:
    case BTF_KINDS.typedef:
    case BTF_KINDS.volatile:
    case BTF_KINDS.const:
    case BTF_KINDS.restrict:
    case BTF_KINDS.func:
    case BTF_KINDS.float:
    case BTF_KINDS.type_tag:
      return 0;
    default:
      return undefined;
  }
}

/** One `struct btf_type` as the walk sees it. */
interface BtfTypeRef {
  readonly id: number;
  readonly kind: number;
  readonly vlen: number;
  readonly kindFlag: boolean;
  readonly nameOff: number;
  /** Byte offset of the `struct btf_type` in the blob. */
  readonly at: number;
}

/** The sections of a BTF blob, checked. */
function sections(btf: Uint8Array): { view: DataView; typeStart: number; typeEnd: number; strStart: number; strEnd: number } {
  const view = new DataView(btf.buffer, btf.byteOffset, btf.byteLength);
  if (btf.byteLength < 24 || view.getUint16(0, true) !== BTF_MAGIC) throw new BpfmemError('input', 'not BTF: bad magic');
  // struct btf_header: magic, version, flags, hdr_len 4, type_off 8, type_len 12, str_off 16, str_len 20.
  const hdrLen = view.getUint32(4, true);
  const typeStart = hdrLen + view.getUint32(8, true);
  const typeEnd = typeStart + view.getUint32(12, true);
  const strStart = hdrLen + view.getUint32(16, true);
  const strEnd = strStart + view.getUint32(20, true);
  if (typeEnd > btf.byteLength || strEnd > btf.byteLength) throw new BpfmemError('input', 'not BTF: sections beyond the end');
  return { view, typeStart, typeEnd, strStart, strEnd };
}

/** Whether the string at `off` of the string section is `wanted` (NUL-terminated). */
function nameIs(btf: Uint8Array, strStart: number, strEnd: number, off: number, wanted: Uint8Array): boolean {
  const at = strStart + off;
  if (off === 0 || at + wanted.length >= strEnd) return false;
  for (let i = 0; i < wanted.length; i++) if (btf[at + i] !== wanted[i]) return false;
  return btf[at + wanted.length] === 0;
}

/** The first type for which `match` holds, walking the type section in id order (ids count from 1). */
function findType(btf: Uint8Array, match: (t: BtfTypeRef) => boolean): BtfTypeRef | undefined {
  const { view, typeStart, typeEnd } = sections(btf);
  let id = 1;
  for (let at = typeStart; at < typeEnd; id++) {
    const info = view.getUint32(at + 4, true);
    // BTF_INFO_KIND / BTF_INFO_VLEN / BTF_INFO_KFLAG (uapi/btf.h): kind in bits 24–30, vlen in
    // bits 0–23, kind_flag in bit 31 (6.18's kinds and vlens fit the older, narrower masks too).
    const t: BtfTypeRef = { id, kind: (info >>> 24) & 0x7f, vlen: info & 0xffffff, kindFlag: info >>> 31 === 1, nameOff: view.getUint32(at, true), at };
    if (match(t)) return t;
    const extra = trailer(t.kind, t.vlen);
    if (extra === undefined) throw new BpfmemError('input', `BTF type ${id}: unknown kind ${t.kind}`);
    at += 12 + extra;
  }
  return undefined;
}

/**
 * The id of the first type of `kind` named `name` in a raw BTF blob (`/sys/kernel/btf/vmlinux`),
 * or undefined. Throws a {@link BpfmemError} (`input`) for bytes that are not BTF or hold a
 * kind bpfmem cannot skip.
 */
export function findBtfTypeId(btf: Uint8Array, name: string, kind: BtfKind): number | undefined {
  const { strStart, strEnd } = sections(btf);
  const wanted = new TextEncoder().encode(name);
  return findType(btf, (t) => t.kind === BTF_KINDS[kind] && nameIs(btf, strStart, strEnd, t.nameOff, wanted))?.id;
}

/**
 * The byte offset of `member` in the struct named `struct` (`offsetof`), or undefined where
 * there is no such struct or member, or the member is a bit field. Members of anonymous inner
 * structs and unions are not searched.
 */
export function findBtfMemberOffset(btf: Uint8Array, struct: string, member: string): number | undefined {
  const { view, strStart, strEnd } = sections(btf);
  const structName = new TextEncoder().encode(struct);
  const memberName = new TextEncoder().encode(member);
  const t = findType(btf, (t) => t.kind === BTF_KINDS.struct && nameIs(btf, strStart, strEnd, t.nameOff, structName));
  if (t === undefined) return undefined;
  for (let i = 0; i < t.vlen; i++) {
    // struct btf_member: name_off 0, type 4, offset 8 (bits; with kind_flag, bitfield size in bits 24–31).
    const at = t.at + 12 + i * 12;
    if (!nameIs(btf, strStart, strEnd, view.getUint32(at, true), memberName)) continue;
    const raw = view.getUint32(at + 8, true);
    const bitfieldSize = t.kindFlag ? raw >>> 24 : 0;
    const bits = t.kindFlag ? raw & 0xffffff : raw;
    return bitfieldSize !== 0 || bits % 8 !== 0 ? undefined : bits / 8;
  }
  return undefined;
}

/** The kernel's own BTF, `/sys/kernel/btf/vmlinux` (CONFIG_DEBUG_INFO_BTF). */
export async function readVmlinuxBtf(path = '/sys/kernel/btf/vmlinux'): Promise<Uint8Array> {
  return new Uint8Array(await readFile(path));
}
