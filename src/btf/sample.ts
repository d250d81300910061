import type { BtfTypeSpec } from './types.js';

/**
 * A small BTF with every kind of include/uapi/linux/btf.h, shaped like the kernel structs bpfmem
 * reads (a `bpf_map` with an anonymous union holding `objcg`, old- and new-style bit fields, a
 * forward-declared `mem_cgroup`): the fixture of src/btf's tests and fuzzing. Ids are the
 * 1-based positions; the comments give each type's id and size.
 */
export const SAMPLE_TYPES: readonly BtfTypeSpec[] = [
  /* 1 */ { kind: 'int', name: 'int', size: 4, signed: true, char: false, bool: false, bitOffset: 0, bits: 32 },
  /* 2 */ { kind: 'int', name: 'unsigned int', size: 4, signed: false, char: false, bool: false, bitOffset: 0, bits: 32 },
  /* 3 */ { kind: 'int', name: 'char', size: 1, signed: false, char: true, bool: false, bitOffset: 0, bits: 8 },
  /* 4 */ { kind: 'int', name: 'long', size: 8, signed: true, char: false, bool: false, bitOffset: 0, bits: 64 },
  /* 5 */ { kind: 'ptr', name: '', type: 0 }, // void *
  /* 6 */ { kind: 'typedef', name: 'u32', type: 2 },
  /* 7 */ { kind: 'const', name: '', type: 6 },
  /* 8 */ { kind: 'volatile', name: '', type: 7 },
  /* 9 */ { kind: 'restrict', name: '', type: 10 },
  /* 10 */ { kind: 'ptr', name: '', type: 12 }, // struct bpf_map *
  /* 11 */ { kind: 'type_tag', name: '__rcu', type: 10, attribute: false },
  /* 12: 56 bytes */ {
    kind: 'struct',
    name: 'bpf_map',
    size: 56,
    kindFlag: false,
    members: [
      { name: 'ops', type: 5, bitOffset: 0, bitfieldSize: 0 },
      { name: 'id', type: 8, bitOffset: 64, bitfieldSize: 0 },
      { name: 'name', type: 13, bitOffset: 96, bitfieldSize: 0 },
      { name: '', type: 14, bitOffset: 256, bitfieldSize: 0 },
      // Old-style bit fields (no kind_flag): the int type 16 says 3 bits.
      { name: 'flags', type: 16, bitOffset: 320, bitfieldSize: 0 },
      { name: 'more', type: 16, bitOffset: 323, bitfieldSize: 0 },
      { name: 'self', type: 11, bitOffset: 384, bitfieldSize: 0 },
    ],
  },
  /* 13: 16 */ { kind: 'array', name: '', type: 3, indexType: 2, nelems: 16 }, // char[16]
  /* 14: 8 */ {
    kind: 'union',
    name: '',
    size: 8,
    kindFlag: false,
    members: [
      { name: 'objcg', type: 15, bitOffset: 0, bitfieldSize: 0 },
      { name: '', type: 17, bitOffset: 0, bitfieldSize: 0 },
    ],
  },
  /* 15 */ { kind: 'ptr', name: '', type: 18 }, // struct obj_cgroup *
  /* 16 */ { kind: 'int', name: 'unsigned int', size: 4, signed: false, char: false, bool: false, bitOffset: 0, bits: 3 },
  /* 17: 8 */ { kind: 'struct', name: '', size: 8, kindFlag: false, members: [{ name: 'memcg', type: 19, bitOffset: 0, bitfieldSize: 0 }] },
  /* 18: 24 */ {
    kind: 'struct',
    name: 'obj_cgroup',
    size: 24,
    kindFlag: true,
    members: [
      { name: 'refcnt', type: 1, bitOffset: 0, bitfieldSize: 0 },
      { name: 'memcg', type: 19, bitOffset: 64, bitfieldSize: 0 },
      { name: 'bits', type: 2, bitOffset: 128, bitfieldSize: 5 },
      { name: 'tail', type: 2, bitOffset: 160, bitfieldSize: 0 },
    ],
  },
  /* 19 */ { kind: 'ptr', name: '', type: 20 },
  /* 20 */ { kind: 'fwd', name: 'mem_cgroup', union: false },
  /* 21: 4 */ {
    kind: 'enum',
    name: 'bpf_map_type',
    size: 4,
    signed: true,
    values: [
      { name: 'BPF_MAP_TYPE_UNSPEC', value: 0 },
      { name: 'BPF_MAP_TYPE_HASH', value: 1 },
      { name: 'NEGATIVE', value: -1 },
    ],
  },
  /* 22: 8 */ {
    kind: 'enum64',
    name: 'big',
    size: 8,
    signed: false,
    values: [
      { name: 'TWO_TO_40', value: 1n << 40n },
      { name: 'ALL_ONES', value: (1n << 64n) - 1n },
    ],
  },
  /* 23: 8 */ { kind: 'float', name: 'double', size: 8 },
  /* 24 */ {
    kind: 'func_proto',
    name: '',
    type: 1,
    params: [
      { name: 'ctx', type: 10 },
      { name: '', type: 0 },
    ],
  },
  /* 25 */ { kind: 'func', name: 'bpf_iter_bpf_map', type: 24, linkage: 'global' },
  /* 26 */ { kind: 'var', name: 'counter', type: 1, linkage: 'global' },
  /* 27: 4 */ { kind: 'datasec', name: '.data', size: 4, vars: [{ type: 26, offset: 0, size: 4 }] },
  /* 28 */ { kind: 'decl_tag', name: 'member_tag', type: 12, componentIdx: 1, attribute: false },
  /* 29 */ { kind: 'decl_tag', name: 'func_tag', type: 25, componentIdx: -1, attribute: false },
  /* 30: 48 */ { kind: 'array', name: '', type: 31, indexType: 2, nelems: 3 }, // int[3][4]
  /* 31: 16 */ { kind: 'array', name: '', type: 1, indexType: 2, nelems: 4 },
  /* 32 */ { kind: 'fwd', name: 'bpf_map', union: false },
  /* 33: 40 */ { kind: 'struct', name: 'nested', size: 40, kindFlag: false, members: [{ name: 'a', type: 34, bitOffset: 64, bitfieldSize: 0 }] },
  /* 34: 32 */ {
    kind: 'struct',
    name: 'outer_a',
    size: 32,
    kindFlag: false,
    members: [
      { name: 'pad', type: 1, bitOffset: 0, bitfieldSize: 0 },
      { name: 'b', type: 36, bitOffset: 128, bitfieldSize: 0 },
    ],
  },
  /* 35: 16 */ {
    kind: 'struct',
    name: 'inner_b',
    size: 16,
    kindFlag: false,
    members: [
      { name: 'x', type: 4, bitOffset: 0, bitfieldSize: 0 },
      { name: 'c', type: 1, bitOffset: 64, bitfieldSize: 0 },
    ],
  },
  /* 36 */ { kind: 'typedef', name: 'inner_b_t', type: 35 },
  /* 37: 8 */ {
    kind: 'union',
    name: 'either',
    size: 8,
    kindFlag: false,
    members: [
      { name: 'l', type: 4, bitOffset: 0, bitfieldSize: 0 },
      { name: 'i', type: 1, bitOffset: 0, bitfieldSize: 0 },
    ],
  },
];
