import { describe, expect, it } from 'vitest';
import { assemble, disassemble } from '../../asm/index.js';
import { encodeBtf, parseBtf, type BtfTypeSpec } from '../../btf/index.js';
import { HOOKS, planHooks } from './hooks.js';
import { BUCKET_ERRNOS, bucketName, decodeEvent, ERRNO_BUCKETS, EVENT_SIZE, readSlots, SLOT, SLOTS } from './layout.js';
import { buildHookProgram } from './program.js';

/**
 * A kernel's BTF in miniature: `struct bpf_map` with `id` at 92 (6.18's offset), a storage map
 * embedding it at 16, and the functions of three hooks (an int one, a pointer one, one whose
 * first argument is no map).
 */
const TYPES: BtfTypeSpec[] = [
  /* 1 */ { kind: 'int', name: 'int', size: 4, signed: true, char: false, bool: false, bitOffset: 0, bits: 32 },
  /* 2 */ { kind: 'int', name: 'unsigned int', size: 4, signed: false, char: false, bool: false, bitOffset: 0, bits: 32 },
  /* 3 */ { kind: 'struct', name: 'bpf_map', size: 256, kindFlag: false, members: [{ name: 'id', type: 2, bitOffset: 92 * 8, bitfieldSize: 0 }] },
  /* 4 */ { kind: 'ptr', name: '', type: 3 },
  /* 5 */ { kind: 'ptr', name: '', type: 0 },
  /* 6 */ { kind: 'func_proto', name: '', type: 1, params: [{ name: 'map', type: 4 }, { name: 'key', type: 5 }, { name: 'value', type: 5 }, { name: 'flags', type: 2 }] },
  /* 7 */ { kind: 'func', name: 'htab_map_update_elem', type: 6, linkage: 'static' },
  /* 8 */ { kind: 'struct', name: 'bpf_local_storage_map', size: 512, kindFlag: false, members: [{ name: 'map', type: 3, bitOffset: 16 * 8, bitfieldSize: 0 }] },
  /* 9 */ { kind: 'ptr', name: '', type: 8 },
  /* 10 */ {
    kind: 'func_proto',
    name: '',
    type: 5,
    params: [{ name: 'owner', type: 5 }, { name: 'smap', type: 9 }, { name: 'value', type: 5 }, { name: 'map_flags', type: 2 }, { name: 'gfp', type: 2 }],
  },
  /* 11 */ { kind: 'func', name: 'bpf_local_storage_update', type: 10, linkage: 'static' },
  /* 12 */ { kind: 'func_proto', name: '', type: 1, params: [{ name: 'x', type: 5 }] },
  /* 13 */ { kind: 'func', name: 'trie_update_elem', type: 12, linkage: 'static' },
];

const btf = (() => {
  const r = parseBtf(encodeBtf(TYPES));
  if (!r.ok) throw new Error(r.error);
  return r.value;
})();

describe('planHooks', () => {
  it('takes from BTF what each hook needs, and says why the others cannot be hooked', () => {
    const plan = planHooks(btf);
    if ('error' in plan) throw new Error(plan.error);
    expect(plan.mapIdOffset).toBe(92);
    expect(plan.targets.map((t) => [t.spec.fn, t.btfId, t.nargs, t.returns, t.idOffset])).toEqual([
      ['htab_map_update_elem', 7, 4, 'int', 92],
      ['bpf_local_storage_update', 11, 5, 'ptr', 16 + 92],
    ]);
    const absent = new Map(plan.absent.map((a) => [a.spec.fn, a.reason]));
    expect(absent.get('trie_update_elem')).toBe('its argument 1 is not a struct bpf_map * on this kernel');
    expect(absent.get('bpf_map_update_value')).toMatch(/not a function in this kernel's BTF/);
    // Off by default: the array hooks are not even looked at.
    expect(absent.has('array_map_update_elem')).toBe(false);
    expect(HOOKS.filter((h) => !h.byDefault).map((h) => h.fn)).toEqual(['array_map_update_elem', 'bpf_percpu_array_update']);
    const all = planHooks(btf, 'all');
    if ('error' in all) throw new Error(all.error);
    expect(all.absent.some((a) => a.spec.fn === 'array_map_update_elem')).toBe(true);
  });

  it('refuses a BTF without bpf_map.id', () => {
    const r = parseBtf(encodeBtf([TYPES[0] as BtfTypeSpec]));
    if (!r.ok) throw new Error(r.error);
    expect(planHooks(r.value)).toMatchObject({ error: expect.stringMatching(/no bpf_map.id/) as unknown });
  });

  it('names every program within the 15 characters of BPF_OBJ_NAME_LEN, each once', () => {
    for (const h of HOOKS) expect(`bpfmem_w_${h.short}`.length).toBeLessThanOrEqual(15);
    expect(new Set(HOOKS.map((h) => h.short)).size).toBe(HOOKS.length);
  });
});

describe('buildHookProgram', () => {
  const plan = planHooks(btf);
  if ('error' in plan) throw new Error(plan.error);
  const [htab, storage] = plan.targets;
  if (!htab || !storage) throw new Error('no targets');
  const maps = { slots: 3, hooks: 4, events: 5 };

  it('returns at once on success: the return value read as a 32-bit int', () => {
    const insns = disassemble(assemble(buildHookProgram(htab, 0, maps, { cmpxchg: true })));
    // r7 = ctx[4] (the return of a 4-argument function); if (s32)w7 >= 0 goto out.
    expect(insns[0]).toMatchObject({ opcode: { class: 'ldx', size: 'dw' }, dst: 7, src: 1, off: 32 });
    expect(insns[1]).toMatchObject({ opcode: { class: 'jmp32', op: 'jsge', source: 'k' }, dst: 7, imm: 0 });
    // The map id at the BTF's offset from the first argument.
    expect(insns.find((i) => i.opcode.class === 'ldx' && i.dst === 8 && i.src === 8)).toMatchObject({ off: 92 });
    const last = insns.at(-1);
    expect(last?.opcode).toMatchObject({ class: 'jmp', op: 'exit' });
  });

  it('tests a pointer return for ERR_PTR and reads the map inside the storage map', () => {
    const insns = disassemble(assemble(buildHookProgram(storage, 1, maps, { cmpxchg: true })));
    expect(insns[0]).toMatchObject({ off: 40 });
    expect(insns[1]).toMatchObject({ opcode: { class: 'jmp', op: 'jlt', source: 'k' }, imm: -4095 });
    expect(insns.find((i) => i.opcode.class === 'ldx' && i.dst === 8 && i.src === 1)).toMatchObject({ off: 8 });
    expect(insns.find((i) => i.opcode.class === 'ldx' && i.dst === 8 && i.src === 8)).toMatchObject({ off: 108 });
  });

  it('claims slots with BPF_CMPXCHG, or with a plain store for 5.10', () => {
    const cmpxchg = (o: boolean): number => disassemble(assemble(buildHookProgram(htab, 0, maps, { cmpxchg: o }))).filter((i) => i.opcode.class === 'stx' && i.opcode.mode === 'atomic' && i.imm === 0xf1).length;
    expect(cmpxchg(true)).toBe(1);
    expect(cmpxchg(false)).toBe(0);
  });

  it('leaves out the ring buffer when there is none', () => {
    const calls = (events: number | undefined): number[] =>
      disassemble(assemble(buildHookProgram(htab, 0, { ...maps, events }, { cmpxchg: true })))
        .filter((i) => i.opcode.class === 'jmp' && i.opcode.op === 'call')
        .map((i) => i.imm);
    expect(calls(5)).toEqual([1, 1, 5, 8, 14, 130]);
    expect(calls(undefined)).toEqual([1, 1]);
  });
});

describe('layout', () => {
  it('has 15 named errnos and one bucket for the rest', () => {
    expect(ERRNO_BUCKETS).toHaveLength(15);
    expect(BUCKET_ERRNOS[0]).toBe(12);
    expect(bucketName(0)).toBe('ENOMEM');
    expect(bucketName(15)).toBe('other');
  });

  it('reads claimed slots from the words the kernel shares', () => {
    const words = new BigUint64Array((SLOTS * SLOT.size) / 8);
    const per = SLOT.size / 8;
    words[3 * per] = 0xdead_0000_0000_0000n | 77n; // the pad is not the id
    words[3 * per + 1] = 2n;
    words[3 * per + SLOT.type / 8] = 5n; // ENOMEM
    words[3 * per + SLOT.sys / 8 + 1] = 9n; // E2BIG
    const slots = readSlots(words);
    expect(slots).toHaveLength(1);
    expect(slots[0]).toMatchObject({ mapId: 77, collisions: 2 });
    expect(slots[0]?.type[0]).toBe(5);
    expect(slots[0]?.sys[1]).toBe(9);
  });

  it('decodes an event', () => {
    const v = new DataView(new ArrayBuffer(EVENT_SIZE + 8));
    v.setBigUint64(8, 123n, true);
    v.setUint32(16, 42, true);
    v.setUint32(20, 12, true);
    v.setUint32(24, 3, true);
    v.setUint32(28, 1, true);
    v.setBigUint64(32, (4242n << 32n) | 4243n, true);
    expect(decodeEvent(v, 8)).toEqual({ ktimeNs: 123n, mapId: 42, errno: 12, hook: 3, cpu: 1, pid: 4242 });
  });
});
