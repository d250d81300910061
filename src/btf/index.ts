/**
 * A BTF reader (include/uapi/linux/btf.h): {@link parseBtf} checks a blob and gives a
 * {@link Btf} to ask for types, sizes and member offsets; {@link encodeBtf} writes one (for
 * tests, and for BTF bpfmem makes itself). Pure: no Node built-ins, runs in a browser too.
 */
export { parseBtf, Btf, type ParseBtfOptions } from './btf.js';
export { encodeBtf } from './encode.js';
export { BTF_KINDS, BTF_KIND_NAMES, BTF_MAGIC, type BtfKind, type BtfLinkage } from './kinds.js';
export type * from './types.js';
