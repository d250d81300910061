import { describe, expect, it } from 'vitest';
import { parseBtf, type Btf } from './btf.js';
import { encodeBtf } from './encode.js';
import { SAMPLE_TYPES } from './sample.js';
import type { BtfResult, BtfTypeSpec } from './types.js';

/** Queries of a parsed BTF, on the sample of sample.ts (ids in its comments) and on hostile blobs. */

function parsed(types: readonly BtfTypeSpec[], options: { pointerSize?: 4 | 8 } = {}): Btf {
  const r = parseBtf(encodeBtf(types), options);
  if (!r.ok) throw new Error(r.error);
  return r.value;
}

function value<T>(r: BtfResult<T>): T {
  if (!r.ok) throw new Error(r.error);
  return r.value;
}

const btf = parsed(SAMPLE_TYPES);

const int = (name: string, size: number, bits = size * 8): BtfTypeSpec => ({ kind: 'int', name, size, signed: true, char: false, bool: false, bitOffset: 0, bits });

describe('typeById', () => {
  it('decodes every kind with its trailer', () => {
    expect(btf.typeById(0)).toEqual({ kind: 'void', id: 0, name: '' });
    expect(btf.typeById(3)).toEqual({ kind: 'int', id: 3, name: 'char', size: 1, signed: false, char: true, bool: false, bitOffset: 0, bits: 8 });
    expect(btf.typeById(13)).toEqual({ kind: 'array', id: 13, name: '', type: 3, indexType: 2, nelems: 16 });
    expect(btf.typeById(18)).toMatchObject({ kind: 'struct', name: 'obj_cgroup', kindFlag: true, members: [{}, {}, { name: 'bits', bitOffset: 128, bitfieldSize: 5 }, {}] });
    expect(btf.typeById(21)).toMatchObject({ kind: 'enum', signed: true, values: [{ value: 0 }, { value: 1 }, { name: 'NEGATIVE', value: -1 }] });
    expect(btf.typeById(22)).toMatchObject({ kind: 'enum64', values: [{ value: 1n << 40n }, { value: 2n ** 64n - 1n }] });
    expect(btf.typeById(24)).toMatchObject({ kind: 'func_proto', type: 1, params: [{ name: 'ctx', type: 10 }, { name: '', type: 0 }] });
    expect(btf.typeById(25)).toEqual({ kind: 'func', id: 25, name: 'bpf_iter_bpf_map', type: 24, linkage: 'global' });
    expect(btf.typeById(27)).toMatchObject({ kind: 'datasec', name: '.data', vars: [{ type: 26, offset: 0, size: 4 }] });
    expect(btf.typeById(29)).toMatchObject({ kind: 'decl_tag', componentIdx: -1 });
    expect(btf.typeById(11)).toMatchObject({ kind: 'type_tag', name: '__rcu', type: 10 });
  });

  it('gives the same object when asked twice (decoded once)', () => {
    expect(btf.typeById(12)).toBe(btf.typeById(12));
  });

  it.each([-1, 1.5, Number.NaN, SAMPLE_TYPES.length + 1])('is undefined for id %s', (id) => {
    expect(btf.typeById(id)).toBeUndefined();
    expect(btf.kindOf(id)).toBeUndefined();
    expect(btf.nameOf(id)).toBeUndefined();
  });

  it('counts void as a type', () => {
    expect(btf.count).toBe(SAMPLE_TYPES.length + 1);
    expect([...btf.types()].map((t) => t.id)).toEqual(Array.from({ length: btf.count }, (_, i) => i));
  });
});

describe('findByName', () => {
  it.each([
    ['int', undefined, 1],
    ['unsigned int', 'int', 2],
    ['bpf_map', undefined, 12],
    ['bpf_map', 'struct', 12],
    ['bpf_map', 'fwd', 32],
    ['bpf_iter_bpf_map', 'func', 25],
    ['__rcu', 'type_tag', 11],
    ['.data', 'datasec', 27],
  ] as const)('finds %s (%s) as type %d', (name, kind, id) => {
    expect(btf.findByName(name, kind)?.id).toBe(id);
  });

  it.each([
    ['bpf_map', 'union'],
    ['bpf_', undefined],
    ['bpf_map_', undefined],
    ['', undefined],
    ['nonexistent', undefined],
  ] as const)('finds nothing for %j (%s)', (name, kind) => {
    expect(btf.findByName(name, kind)).toBeUndefined();
  });

  it('lists every type of a name in id order', () => {
    expect(btf.findAllByName('bpf_map').map((t) => t.id)).toEqual([12, 32]);
    expect(btf.findAllByName('unsigned int', 'int').map((t) => t.id)).toEqual([2, 16]);
  });
});

describe('resolve', () => {
  it.each([
    [8, 2], // volatile const u32 → unsigned int
    [6, 2],
    [9, 10], // restrict → the pointer (pointers are not skipped)
    [11, 10], // __rcu → the pointer
    [36, 35],
    [12, 12],
    [0, 0],
  ])('type %d stands for type %d', (id, target) => {
    expect(value(btf.resolve(id)).id).toBe(target);
  });

  it('reports a loop of typedefs', () => {
    const looped = parsed([
      { kind: 'typedef', name: 'A', type: 2 },
      { kind: 'typedef', name: 'B', type: 3 },
      { kind: 'const', name: '', type: 1 },
    ]);
    for (const id of [1, 2, 3]) expect(looped.resolve(id)).toEqual({ ok: false, error: expect.stringMatching(/loop/) as unknown });
  });
});

describe('sizeOf', () => {
  it.each([
    [1, 4],
    [3, 1],
    [5, 8],
    [8, 4],
    [10, 8],
    [12, 56],
    [13, 16],
    [14, 8],
    [21, 4],
    [22, 8],
    [23, 8],
    [26, 4],
    [27, 4],
    [30, 48],
    [31, 16],
  ])('sizeof type %d is %d', (id, size) => {
    expect(btf.sizeOf(id)).toEqual({ ok: true, value: size });
  });

  it('takes the pointer size as a parameter', () => {
    const small = parsed(SAMPLE_TYPES, { pointerSize: 4 });
    expect(small.pointerSize).toBe(4);
    expect(small.sizeOf(10)).toEqual({ ok: true, value: 4 });
  });

  it('guesses the pointer size from long, as libbpf does', () => {
    expect(btf.pointerSize).toBe(8);
    expect(parsed([int('long', 4), { kind: 'ptr', name: '', type: 1 }]).sizeOf(2)).toEqual({ ok: true, value: 4 });
    expect(parsed([{ kind: 'ptr', name: '', type: 0 }]).pointerSize).toBe(8);
  });

  it.each([
    [0, /void has no size/],
    [20, /fwd has no size/],
    [24, /func_proto has no size/],
    [25, /func has no size/],
    [28, /decl_tag has no size/],
    [99, /no BTF type 99/],
  ])('type %d has no size', (id, error) => {
    expect(btf.sizeOf(id)).toEqual({ ok: false, error: expect.stringMatching(error) as unknown });
  });

  it('reports an array that contains itself', () => {
    const looped = parsed([
      { kind: 'array', name: '', type: 2, indexType: 3, nelems: 2 },
      { kind: 'typedef', name: 'again', type: 1 },
      int('int', 4),
    ]);
    expect(looped.sizeOf(1)).toEqual({ ok: false, error: expect.stringMatching(/loop/) as unknown });
  });

  it('refuses sizes beyond 2^53 bytes', () => {
    const huge = parsed([
      int('long', 8),
      { kind: 'array', name: '', type: 1, indexType: 1, nelems: 0xffffffff },
      { kind: 'array', name: '', type: 2, indexType: 1, nelems: 0xffffffff },
    ]);
    expect(huge.sizeOf(2)).toEqual({ ok: true, value: 8 * 0xffffffff });
    expect(huge.sizeOf(3)).toEqual({ ok: false, error: expect.stringMatching(/2\^53/) as unknown });
  });
});

describe('memberOffset', () => {
  it.each([
    ['bpf_map', 'ops', 0, 5],
    ['bpf_map', 'id', 8, 8],
    ['bpf_map', 'name', 12, 13],
    ['bpf_map', 'objcg', 32, 15], // in the anonymous union
    ['bpf_map', 'memcg', 32, 19], // in an anonymous struct in the anonymous union
    ['bpf_map', 'self', 48, 11],
    ['obj_cgroup', 'memcg', 8, 19],
    ['obj_cgroup', 'tail', 20, 2],
    ['nested', 'a', 8, 34],
    ['nested', 'a.b', 24, 36],
    ['nested', 'a.b.c', 32, 1], // through the typedef inner_b_t
    ['either', 'i', 0, 1],
  ])('%s.%s is at byte %d (type %d)', (struct, path, offset, type) => {
    expect(btf.memberOffset(struct, path)).toEqual({ ok: true, value: { bitfield: false, offset, type } });
  });

  it('takes the struct by id too', () => {
    expect(btf.memberOffset(12, 'id')).toEqual({ ok: true, value: { bitfield: false, offset: 8, type: 8 } });
    expect(btf.memberOffset(36, 'c')).toEqual({ ok: true, value: { bitfield: false, offset: 8, type: 1 } });
  });

  it.each([
    ['bpf_map', 'flags', 320, 3, 16], // old style: the int type is 3 bits wide
    ['bpf_map', 'more', 323, 3, 16],
    ['obj_cgroup', 'bits', 128, 5, 2], // kind_flag: the member says 5 bits
  ])('reports %s.%s as a bit field at bit %d, %d bits', (struct, path, bitOffset, bits, type) => {
    expect(btf.memberOffset(struct, path)).toEqual({ ok: true, value: { bitfield: true, bitOffset, bits, type } });
  });

  it.each([
    ['bpf_map', 'nope', /bpf_map\.nope: no member "nope" in struct bpf_map/],
    ['bpf_map', 'objcg.memcg', /bpf_map\.objcg\.memcg: objcg is a ptr, not a struct or union/],
    ['bpf_map', 'id.x', /id is a int/],
    ['bpf_map', 'flags.x', /a bit field has no members/],
    ['bpf_map', 'a..b', /empty step/],
    ['bpf_map', '', /empty step/],
    ['mem_cgroup', 'css', /no struct or union named "mem_cgroup"/],
    ['nested', 'a.b.nope', /no member "nope" in struct inner_b/],
  ])('%s.%s is an error', (struct, path, error) => {
    expect(btf.memberOffset(struct, path)).toEqual({ ok: false, error: expect.stringMatching(error) as unknown });
  });

  it('reports a struct that contains itself through anonymous members', () => {
    const looped = parsed([{ kind: 'struct', name: 'S', size: 8, kindFlag: false, members: [{ name: '', type: 2, bitOffset: 0, bitfieldSize: 0 }] }, {
      kind: 'union', name: '', size: 8, kindFlag: false, members: [{ name: '', type: 1, bitOffset: 0, bitfieldSize: 0 }],
    }]);
    expect(looped.memberOffset('S', 'x')).toEqual({ ok: false, error: expect.stringMatching(/contains itself/) as unknown });
  });

  it('searches an anonymous type shared by two members (as BTF dedup makes them) once, not as a loop', () => {
    const shared = parsed([
      int('int', 4),
      { kind: 'struct', name: '', size: 0, kindFlag: false, members: [] },
      {
        kind: 'struct',
        name: 'S',
        size: 8,
        kindFlag: false,
        members: [
          { name: '', type: 2, bitOffset: 0, bitfieldSize: 0 },
          { name: '', type: 2, bitOffset: 0, bitfieldSize: 0 },
          { name: 'x', type: 1, bitOffset: 32, bitfieldSize: 0 },
        ],
      },
    ]);
    expect(shared.memberOffset('S', 'x')).toEqual({ ok: true, value: { bitfield: false, offset: 4, type: 1 } });
  });

  it('stops at anonymous members nested more than 64 deep', () => {
    const depth = 100;
    const chain: BtfTypeSpec[] = Array.from({ length: depth }, (_, i) => ({
      kind: 'struct',
      name: i === 0 ? 'outer' : '',
      size: 4,
      kindFlag: false,
      members: [{ name: i === depth - 1 ? 'leaf' : '', type: i === depth - 1 ? depth + 1 : i + 2, bitOffset: 0, bitfieldSize: 0 }],
    }));
    const deep = parsed([...chain, int('int', 4)]);
    expect(deep.memberOffset('outer', 'leaf')).toEqual({ ok: false, error: expect.stringMatching(/more than 64 deep/) as unknown });
  });
});

describe('structSize', () => {
  it.each([
    ['bpf_map', 56],
    ['obj_cgroup', 24],
    ['either', undefined], // a union
    ['mem_cgroup', undefined], // only declared
  ])('sizeof(struct %s) is %s', (name, size) => {
    expect(btf.structSize(name)).toBe(size);
  });
});
