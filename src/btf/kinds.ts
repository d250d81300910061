/**
 * Numbers of the BTF format, from include/uapi/linux/btf.h: the header, the `btf_type` info
 * word, the kinds, and the limits the kernel's own checker (kernel/bpf/btf.c) enforces.
 */

/** `BTF_MAGIC`, as a little-endian u16. Read byte-swapped (0x9feb) it is big-endian BTF. */
export const BTF_MAGIC = 0xeb9f;
/** `BTF_VERSION`. */
export const BTF_VERSION = 1;
/** `sizeof(struct btf_header)`: magic, version, flags, hdr_len, type_off, type_len, str_off, str_len. */
export const BTF_HEADER_SIZE = 24;
/** `sizeof(struct btf_type)`: name_off, info, size/type. */
export const BTF_TYPE_SIZE = 12;
/** `BTF_MAX_TYPE`: the largest type id. */
export const BTF_MAX_TYPE = 0x000fffff;
/** `BTF_MAX_NAME_OFFSET`: the largest offset into the string section. */
export const BTF_MAX_NAME_OFFSET = 0x00ffffff;
/** `BTF_MAX_VLEN`: members, enumerators or parameters of one type. */
export const BTF_MAX_VLEN = 0xffff;
/**
 * The bits of `btf_type.info` that mean something: vlen (0–15), kind (24–28), kind_flag (31).
 * kernel/bpf/btf.c (`BTF_INFO_MASK`) refuses a type with any other bit set, and so do we.
 */
export const BTF_INFO_MASK = 0x9f00ffff;

/** `BTF_KIND_*` of include/uapi/linux/btf.h, by lower-case name. */
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

/** A BTF kind by its lower-case uapi name (`BTF_KIND_FUNC_PROTO` is `func_proto`). */
export type BtfKind = keyof typeof BTF_KINDS;

/** `BTF_KIND_MAX` on the kernels this reader knows (6.0+: `BTF_KIND_ENUM64`). */
export const BTF_KIND_MAX = BTF_KINDS.enum64;

/** Kind names by number (index 0, `BTF_KIND_UNKN`, is only ever type 0, void). */
export const BTF_KIND_NAMES: readonly (BtfKind | undefined)[] = (() => {
  const names: (BtfKind | undefined)[] = [undefined];
  for (const [name, n] of Object.entries(BTF_KINDS) as [BtfKind, number][]) names[n] = name;
  return names;
})();

/** `BTF_INT_SIGNED`, `BTF_INT_CHAR`, `BTF_INT_BOOL`: the encoding bits of an int. */
export const BTF_INT_ENCODING = { signed: 1, char: 2, bool: 4 } as const;

/** `BTF_FUNC_STATIC`, `BTF_FUNC_GLOBAL`, `BTF_FUNC_EXTERN` (a func's vlen) and `BTF_VAR_*` (a var's linkage). */
export const BTF_LINKAGES = ['static', 'global', 'extern'] as const;

/** Linkage of a func or var. */
export type BtfLinkage = (typeof BTF_LINKAGES)[number];

/**
 * Bytes that follow the 12-byte `struct btf_type` of a kind, given its vlen (the trailer layouts
 * commented in uapi/btf.h), or undefined for a kind this reader does not know.
 */
export function trailerSize(kind: number, vlen: number): number | undefined {
  switch (kind) {
    case BTF_KINDS.int: // u32: encoding << 24 | offset << 16 | bits
    case BTF_KINDS.var: // struct btf_var { u32 linkage }
    case BTF_KINDS.decl_tag: // struct btf_decl_tag { s32 component_idx }
      return 4;
    case BTF_KINDS.array: // struct btf_array { type, index_type, nelems }
      return 12;
    case BTF_KINDS.struct:
    case BTF_KINDS.union: // struct btf_member { name_off, type, offset }[vlen]
    case BTF_KINDS.datasec: // struct btf_var_secinfo { type, offset, size }[vlen]
    case BTF_KINDS.enum64: // struct btf_enum64 { name_off, val_lo32, val_hi32 }[vlen]
      return 12 * vlen;
    case BTF_KINDS.enum: // struct btf_enum { name_off, s32 val }[vlen]
    case BTF_KINDS.func_proto: // struct btf_param { name_off, type }[vlen]
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
