import { existsSync } from 'node:fs';
import { release } from 'node:os';
import { describe, expect, it } from 'vitest';
import { encodeBtf, parseBtf, type Btf, type BtfMember, type BtfTypeSpec } from '../../btf/index.js';
import { readVmlinuxBtf, VMLINUX_BTF_PATH } from '../bpf/vmlinux.js';
import { readMapIterLayout } from './mapiter-layout.js';

/**
 * The iterator's layout from BTF: on made-up kernels of each era (objcg 6.0+, memcg 5.11–5.19,
 * none before), on broken ones, and on the running kernel (docs/kernel-facts.md §8's offsets).
 */

const m = (name: string, type: number, byte: number): BtfMember => ({ name, type, bitOffset: 8 * byte, bitfieldSize: 0 });

/** Types 1–… of a made-up kernel; `bpf_map` members chosen per era. */
function kernel(era: 'objcg' | 'memcg' | 'none', edit: (types: BtfTypeSpec[]) => void = () => undefined): Btf {
  const types: BtfTypeSpec[] = [
    /* 1 */ { kind: 'int', name: 'unsigned int', size: 4, signed: false, char: false, bool: false, bitOffset: 0, bits: 32 },
    /* 2 */ { kind: 'int', name: 'long long unsigned int', size: 8, signed: false, char: false, bool: false, bitOffset: 0, bits: 64 },
    /* 3 */ { kind: 'int', name: 'char', size: 1, signed: false, char: true, bool: false, bitOffset: 0, bits: 8 },
    /* 4 */ { kind: 'array', name: '', type: 3, indexType: 1, nelems: 16 },
    /* 5 */ { kind: 'typedef', name: 'u32', type: 1 },
    /* 6 */ { kind: 'enum', name: 'bpf_map_type', size: 4, signed: false, values: [{ name: 'BPF_MAP_TYPE_HASH', value: 1 }] },
    /* 7 */ {
      kind: 'struct',
      name: 'bpf_map',
      size: 200,
      kindFlag: false,
      members: [
        m('map_type', 6, 24),
        m('key_size', 5, 28),
        m('value_size', 5, 32),
        m('max_entries', 5, 36),
        m('map_flags', 5, 48),
        m('id', 5, 52),
        m('name', 4, 100),
        ...(era === 'objcg' ? [m('objcg', 8, 128)] : era === 'memcg' ? [m('memcg', 10, 120)] : []),
      ],
    },
    /* 8 */ { kind: 'ptr', name: '', type: 9 },
    /* 9 */ { kind: 'struct', name: 'obj_cgroup', size: 48, kindFlag: false, members: [m('memcg', 10, 24)] },
    /* 10 */ { kind: 'ptr', name: '', type: 11 },
    /* 11 */ { kind: 'struct', name: 'mem_cgroup', size: 2000, kindFlag: false, members: [m('pad', 2, 0), m('css', 12, 64)] },
    /* 12 */ { kind: 'struct', name: 'cgroup_subsys_state', size: 200, kindFlag: false, members: [m('cgroup', 13, 8)] },
    /* 13 */ { kind: 'ptr', name: '', type: 14 },
    /* 14 */ { kind: 'struct', name: 'cgroup', size: 1000, kindFlag: false, members: [m('kn', 15, 300)] },
    /* 15 */ { kind: 'ptr', name: '', type: 16 },
    /* 16 */ { kind: 'struct', name: 'kernfs_node', size: 128, kindFlag: false, members: [m('id', 2, 80)] },
    /* 17 */ { kind: 'struct', name: 'bpf_iter__bpf_map', size: 16, kindFlag: false, members: [m('meta', 18, 0), m('map', 20, 8)] },
    /* 18 */ { kind: 'ptr', name: '', type: 19 },
    /* 19 */ { kind: 'struct', name: 'bpf_iter_meta', size: 24, kindFlag: false, members: [m('seq', 21, 0)] },
    /* 20 */ { kind: 'ptr', name: '', type: 7 },
    /* 21 */ { kind: 'ptr', name: '', type: 0 },
    /* 22 */ { kind: 'func_proto', name: '', type: 0, params: [] },
    /* 23 */ { kind: 'func', name: 'bpf_iter_bpf_map', type: 22, linkage: 'global' },
  ];
  edit(types);
  const r = parseBtf(encodeBtf(types));
  if (!r.ok) throw new Error(r.error);
  return r.value;
}

/** Replaces member `name` of struct `id` (1-based) in place. */
function member(types: BtfTypeSpec[], id: number, name: string, replace: Partial<BtfMember>): void {
  const t = types[id - 1];
  if (t?.kind !== 'struct') throw new Error(`type ${id} is not a struct`);
  types[id - 1] = { ...t, members: t.members.map((x) => (x.name === name ? { ...x, ...replace } : x)) };
}

const BASE = {
  attachBtfId: 23,
  ctxMeta: 0,
  ctxMap: 8,
  metaSeq: 0,
  map: {
    id: { offset: 52, size: 4 },
    type: { offset: 24, size: 4 },
    keySize: { offset: 28, size: 4 },
    valueSize: { offset: 32, size: 4 },
    maxEntries: { offset: 36, size: 4 },
    flags: { offset: 48, size: 4 },
    name: 100,
  },
  counts: { fields: [] },
};

describe('readMapIterLayout', () => {
  it('6.0+: follows map->objcg → memcg → css.cgroup → kn → id', () => {
    expect(readMapIterLayout(kernel('objcg'))).toEqual({
      ok: true,
      value: { ...BASE, charge: { via: 'objcg', hops: [128, 24, 72, 300], id: { offset: 80, size: 8 } } },
    });
  });

  it('5.11–5.19: follows map->memcg → css.cgroup → kn → id', () => {
    expect(readMapIterLayout(kernel('memcg'))).toEqual({
      ok: true,
      value: { ...BASE, charge: { via: 'memcg', hops: [120, 72, 300], id: { offset: 80, size: 8 } } },
    });
  });

  it('before 5.11: says the kernel keeps no charge pointer', () => {
    expect(readMapIterLayout(kernel('none'))).toMatchObject({ ok: true, value: { charge: { via: 'none', reason: expect.stringMatching(/neither objcg \(6\.0\+\) nor memcg/) as unknown } } });
  });

  it.each([
    ['no bpf_iter_bpf_map (before 5.8)', (t: BtfTypeSpec[]) => { t[22] = { kind: 'fwd', name: 'gone', union: false }; }, /no bpf_iter_bpf_map function.*5\.8/],
    ['a renamed field', (t: BtfTypeSpec[]) => { member(t, 7, 'key_size', { name: 'keysize' }); }, /no member "key_size" in struct bpf_map/],
    ['a bit field', (t: BtfTypeSpec[]) => { member(t, 7, 'id', { bitOffset: 8 * 52 + 3 }); }, /bpf_map\.id is a bit field/],
    ['a name that is not char[16]', (t: BtfTypeSpec[]) => { member(t, 7, 'name', { type: 1 }); }, /bpf_map.name is not char\[16\]/],
    ['objcg that is not a pointer', (t: BtfTypeSpec[]) => { member(t, 7, 'objcg', { type: 2 }); }, /bpf_map\.objcg is a int, not a pointer/],
    ['an id that is a pointer', (t: BtfTypeSpec[]) => { member(t, 16, 'id', { type: 21 }); }, /kernfs_node\.id is a ptr, not an integer/],
  ])('refuses %s', (_, edit, error) => {
    expect(readMapIterLayout(kernel('objcg', edit))).toEqual({ ok: false, error: expect.stringMatching(error) as unknown });
  });
});

describe.skipIf(!existsSync(VMLINUX_BTF_PATH) || !release().startsWith('6.18.'))('readMapIterLayout on the running 6.18 kernel', () => {
  it('has docs/kernel-facts.md §8\'s offsets', async () => {
    const layout = readMapIterLayout(await readVmlinuxBtf());
    expect(layout).toMatchObject({
      ok: true,
      value: {
        ctxMeta: 0,
        ctxMap: 8,
        metaSeq: 0,
        map: { id: { offset: 92, size: 4 } },
        // bpf_map.objcg 128, obj_cgroup.memcg 16, mem_cgroup.css.cgroup 0, cgroup.kn 256; kernfs_node.id 96 (u64).
        charge: { via: 'objcg', hops: [128, 16, 0, 256], id: { offset: 96, size: 8 } },
      },
    });
  });
});
