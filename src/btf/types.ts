import type { BtfLinkage } from './kinds.js';

/**
 * BTF types as values: one interface per kind of include/uapi/linux/btf.h, with the trailer
 * decoded (members, enumerators, parameters) and names as strings. `id` is the type id (ids
 * count from 1 in the order of the type section; 0 is void). Type references are ids.
 */

/** Type 0: `void`, which the type section never lists. */
export interface BtfVoid {
  readonly kind: 'void';
  readonly id: 0;
  readonly name: '';
}

/** `BTF_KIND_INT`: `size` bytes holding `bits` bits from `bitOffset` (a bit field's base type may be narrower than its storage). */
export interface BtfInt {
  readonly kind: 'int';
  readonly id: number;
  readonly name: string;
  readonly size: number;
  readonly signed: boolean;
  readonly char: boolean;
  readonly bool: boolean;
  readonly bitOffset: number;
  readonly bits: number;
}

/** `BTF_KIND_FLOAT`. */
export interface BtfFloat {
  readonly kind: 'float';
  readonly id: number;
  readonly name: string;
  readonly size: number;
}

/** `BTF_KIND_PTR`: a pointer to `type` (0: `void *`). */
export interface BtfPtr {
  readonly kind: 'ptr';
  readonly id: number;
  readonly name: string;
  readonly type: number;
}

/** `BTF_KIND_ARRAY`: `nelems` elements of `type` (0 elements: a flexible array member). */
export interface BtfArray {
  readonly kind: 'array';
  readonly id: number;
  readonly name: string;
  readonly type: number;
  readonly indexType: number;
  readonly nelems: number;
}

/** A `struct btf_member`. */
export interface BtfMember {
  /** Empty for an anonymous struct or union member. */
  readonly name: string;
  readonly type: number;
  /** Offset from the start of the struct, in bits. */
  readonly bitOffset: number;
  /** Width of a bit field, when the struct has kind_flag set; 0 otherwise. */
  readonly bitfieldSize: number;
}

/** `BTF_KIND_STRUCT` or `BTF_KIND_UNION`. */
export interface BtfComposite {
  readonly kind: 'struct' | 'union';
  readonly id: number;
  readonly name: string;
  readonly size: number;
  /**
   * kind_flag: member offsets hold a bit field size in bits 24–31 and the bit offset in bits
   * 0–23 (uapi/btf.h, `BTF_MEMBER_BITFIELD_SIZE`); without it a bit field is told by its int type.
   */
  readonly kindFlag: boolean;
  readonly members: readonly BtfMember[];
}

/** An enumerator of `BTF_KIND_ENUM` (s32 or u32 value) or `BTF_KIND_ENUM64` (64 bits). */
export interface BtfEnumerator<V> {
  readonly name: string;
  readonly value: V;
}

/** `BTF_KIND_ENUM`: values as stored (as u32 for an unsigned enum, s32 for a signed one). */
export interface BtfEnum {
  readonly kind: 'enum';
  readonly id: number;
  readonly name: string;
  readonly size: number;
  /** kind_flag: the values are signed. */
  readonly signed: boolean;
  readonly values: readonly BtfEnumerator<number>[];
}

/** `BTF_KIND_ENUM64`. */
export interface BtfEnum64 {
  readonly kind: 'enum64';
  readonly id: number;
  readonly name: string;
  readonly size: number;
  readonly signed: boolean;
  readonly values: readonly BtfEnumerator<bigint>[];
}

/** `BTF_KIND_FWD`: a declared, not defined, struct (or union, with kind_flag). */
export interface BtfFwd {
  readonly kind: 'fwd';
  readonly id: number;
  readonly name: string;
  readonly union: boolean;
}

/** `BTF_KIND_TYPEDEF` and the modifiers `VOLATILE`, `CONST`, `RESTRICT`: another name or qualifier for `type`. */
export interface BtfTypeRef {
  readonly kind: 'typedef' | 'volatile' | 'const' | 'restrict';
  readonly id: number;
  readonly name: string;
  readonly type: number;
}

/** `BTF_KIND_TYPE_TAG`: `type` annotated with `name` (`__rcu`, `__user`, `__percpu`). */
export interface BtfTypeTag {
  readonly kind: 'type_tag';
  readonly id: number;
  readonly name: string;
  readonly type: number;
  /** kind_flag (6.14+): an `__attribute__` rather than a `btf_type_tag`. */
  readonly attribute: boolean;
}

/** `BTF_KIND_DECL_TAG`: `name` attached to `type`, or to its member/parameter `componentIdx` (-1: the whole). */
export interface BtfDeclTag {
  readonly kind: 'decl_tag';
  readonly id: number;
  readonly name: string;
  readonly type: number;
  readonly componentIdx: number;
  readonly attribute: boolean;
}

/** `BTF_KIND_FUNC`: a function named `name` of prototype `type`; its vlen is the linkage. */
export interface BtfFunc {
  readonly kind: 'func';
  readonly id: number;
  readonly name: string;
  readonly type: number;
  readonly linkage: BtfLinkage;
}

/** A `struct btf_param` (a last one with no name and type 0 is `...`). */
export interface BtfParam {
  readonly name: string;
  readonly type: number;
}

/** `BTF_KIND_FUNC_PROTO`: returns `type` (0: void). */
export interface BtfFuncProto {
  readonly kind: 'func_proto';
  readonly id: number;
  readonly name: string;
  readonly type: number;
  readonly params: readonly BtfParam[];
}

/** `BTF_KIND_VAR`: a global or static variable. */
export interface BtfVar {
  readonly kind: 'var';
  readonly id: number;
  readonly name: string;
  readonly type: number;
  readonly linkage: BtfLinkage;
}

/** A `struct btf_var_secinfo`. */
export interface BtfVarSecinfo {
  readonly type: number;
  readonly offset: number;
  readonly size: number;
}

/** `BTF_KIND_DATASEC`: an ELF section of variables (`.data`, `.bss`, `.data..percpu`). */
export interface BtfDatasec {
  readonly kind: 'datasec';
  readonly id: number;
  readonly name: string;
  readonly size: number;
  readonly vars: readonly BtfVarSecinfo[];
}

/** Any BTF type, told apart by `kind`. */
export type BtfType =
  | BtfVoid
  | BtfInt
  | BtfFloat
  | BtfPtr
  | BtfArray
  | BtfComposite
  | BtfEnum
  | BtfEnum64
  | BtfFwd
  | BtfTypeRef
  | BtfTypeTag
  | BtfDeclTag
  | BtfFunc
  | BtfFuncProto
  | BtfVar
  | BtfDatasec;

/** A type without its id: what {@link encodeBtf} takes (ids follow from the order). */
export type BtfTypeSpec = BtfType extends infer T ? (T extends BtfVoid ? never : T extends { readonly id: number } ? Omit<T, 'id'> : never) : never;

/** A result as a value, like `Parsed` of src/sys: the value, or why there is none. */
export type BtfResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

/** Where a member lies in its outermost struct ({@link Btf.memberOffset}). */
export type BtfMemberLocation =
  /** A whole-byte member: `offsetof()`. */
  | { readonly bitfield: false; readonly offset: number; readonly type: number }
  /** A bit field: `bits` wide from `bitOffset` bits into the struct. */
  | { readonly bitfield: true; readonly bitOffset: number; readonly bits: number; readonly type: number };
