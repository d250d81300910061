import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAP_FLAGS } from '../vocab/flags.js';
import { MAP_TYPE_NAMES } from '../vocab/maptypes.js';
import { parseMapSpec } from './spec.js';

describe('parseMapSpec: good specs', () => {
  it.each([
    [
      'the four sizes',
      'type=hash,key=4,value=8,max_entries=1000',
      { name: 'map0', spec: { type: 'hash', keySize: 4, valueSize: 8, maxEntries: 1000, flags: 0, mapExtra: 0 } },
    ],
    [
      'sizes with units, flags and a name',
      'type=lru_hash,key=56,value=56,max_entries=64Ki,flags=no_prealloc+numa,name=ct',
      {
        name: 'ct',
        // A name given is also the map's name for the kernel (checked in src/estimate/maps.ts); map0 is a label only.
        kernelName: 'ct',
        spec: { type: 'lru_hash', keySize: 56, valueSize: 56, maxEntries: 65536, flags: MAP_FLAGS.no_prealloc | MAP_FLAGS.numa_node, mapExtra: 0 },
      },
    ],
    [
      'spaces around fields, key_size and value_size',
      ' type = percpu_array , key_size=4, value_size = 1Ki , max_entries=1 ',
      { name: 'map0', spec: { type: 'percpu_array', keySize: 4, valueSize: 1024, maxEntries: 1, flags: 0, mapExtra: 0 } },
    ],
    [
      'map_extra in decimal (bloom filter hashes)',
      'type=bloom_filter,value=8,max_entries=1000,map_extra=5',
      { name: 'map0', spec: { type: 'bloom_filter', keySize: 0, valueSize: 8, maxEntries: 1000, flags: 0, mapExtra: 5 } },
    ],
    [
      'map_extra in hex (arena address) and a flag number',
      'type=arena,max_entries=10,flags=1024,map_extra=0x100000000',
      { name: 'map0', spec: { type: 'arena', keySize: 0, valueSize: 0, maxEntries: 10, flags: MAP_FLAGS.mmapable, mapExtra: 2 ** 32 } },
    ],
    [
      'the kernel enum name and struct_ops_funcs',
      'type=BPF_MAP_TYPE_STRUCT_OPS,key=4,value=256,max_entries=1,struct_ops_funcs=13',
      { name: 'map0', spec: { type: 'struct_ops', keySize: 4, valueSize: 256, maxEntries: 1, flags: 0, mapExtra: 0, structOpsFuncs: 13 } },
    ],
    [
      'struct_ops_members',
      'type=struct_ops,key=4,value=256,max_entries=1,struct_ops_funcs=13,struct_ops_members=18',
      { name: 'map0', spec: { type: 'struct_ops', keySize: 4, valueSize: 256, maxEntries: 1, flags: 0, mapExtra: 0, structOpsFuncs: 13, structOpsMembers: 18 } },
    ],
    [
      'the largest u32 sizes (E2BIG is the model’s call)',
      'type=array,key=4294967295,value=4294967295,max_entries=4294967295',
      { name: 'map0', spec: { type: 'array', keySize: 2 ** 32 - 1, valueSize: 2 ** 32 - 1, maxEntries: 2 ** 32 - 1, flags: 0, mapExtra: 0 } },
    ],
  ])('%s', (_, text, expected) => {
    expect(parseMapSpec(text, 'map0')).toEqual({ ok: true, value: { elements: 0, ...expected } });
  });
});

describe('parseMapSpec: bad specs name the spec and the key', () => {
  it.each([
    ['a misspelt type', 'type=hsh,key=4', '--map "type=hsh,key=4": unknown map type "hsh" (did you mean hash?)'],
    [
      'an unknown type',
      'type=btree',
      `--map "type=btree": unknown map type "btree"; types are bpftool's names: hash, array, percpu_hash, lru_hash, ringbuf, lpm_trie, … (${MAP_TYPE_NAMES.length} in all)`,
    ],
    ['no type', 'key=4,value=4', '--map "key=4,value=4": type is missing (type=hash, type=array, …)'],
    ['an unknown key', 'type=hash,kye=4', '--map "type=hash,kye=4": unknown key "kye" (did you mean key?); keys are type, key, value, max_entries, flags, map_extra, name, struct_ops_funcs, struct_ops_members, elements'],
    ['a key given twice', 'type=hash,key=4,key_size=8', '--map "type=hash,key=4,key_size=8": key given twice'],
    ['a field without =', 'type=hash,4', '--map "type=hash,4": "4" is not key=value'],
    ['an empty field', 'type=hash,,key=4', '--map "type=hash,,key=4": empty field (a comma too many?)'],
    ['an empty spec', '', '--map "": empty field (a comma too many?)'],
    ['a negative size', 'type=hash,key=-4', '--map "type=hash,key=-4": key: expected a size (bytes or 64Ki/8Mi), got "-4"'],
    ['a size that is not one', 'type=hash,value=big', '--map "type=hash,value=big": value: expected a size (bytes or 64Ki/8Mi), got "big"'],
    ['max as a size', 'type=hash,max_entries=max', '--map "type=hash,max_entries=max": max_entries: expected a size (bytes or 64Ki/8Mi), got "max"'],
    [
      'a size beyond u32',
      'type=hash,max_entries=4Gi',
      '--map "type=hash,max_entries=4Gi": max_entries: expected a size up to 4294967295 (a u32 in the kernel), got "4Gi"',
    ],
    [
      'an unknown flag',
      'type=hash,flags=no_prealloc+mmapble',
      '--map "type=hash,flags=no_prealloc+mmapble": flags: unknown map flag "mmapble" (did you mean mmapable?); flags are no_prealloc, no_common_lru, numa_node, rdonly, …',
    ],
    [
      'map_extra beyond 2^53',
      'type=arena,map_extra=9007199254740993',
      '--map "type=arena,map_extra=9007199254740993": map_extra: expected a whole number below 2^53 (decimal or 0x hex), got "9007199254740993"',
    ],
    [
      'struct_ops_funcs on another type',
      'type=hash,struct_ops_funcs=2',
      '--map "type=hash,struct_ops_funcs=2": struct_ops_funcs: applies only to type struct_ops, not hash',
    ],
    [
      'struct_ops_members on another type',
      'type=array,struct_ops_members=18',
      '--map "type=array,struct_ops_members=18": struct_ops_members: applies only to type struct_ops, not array',
    ],
    ['a name with a space', 'type=hash,name=my map', '--map "type=hash,name=my map": name: expected a name of 1–64 characters A–Z a–z 0–9 _ . : -, got "my map"'],
    ['a newline, escaped', 'type=ha\nsh', '--map "type=ha\\nsh": unknown map type "ha\\nsh" (did you mean hash?)'],
  ])('%s', (_, text, message) => {
    expect(parseMapSpec(text, 'map0')).toEqual({ ok: false, error: message });
  });

  it('refuses what is not text, as a JavaScript caller may pass it', () => {
    expect(parseMapSpec(undefined as unknown as string, 'm')).toEqual({ ok: false, error: '--map: expected the spec as text, got nothing' });
  });

  it('cuts a long spec in the message', () => {
    const r = parseMapSpec(`type=hash,name=${'x'.repeat(100)}`, 'map0');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.startsWith('--map "type=hash,name=xxxxxxxxxxxxxxxxxxxxxxxxx…": name:')).toBe(true);
  });
});

describe('parseMapSpec: properties', () => {
  it('never throws, and a refusal is one line that quotes the spec', () => {
    const pieces = fc.constantFrom('type=', 'hash', 'key=', 'value=', 'max_entries=', 'flags=', 'map_extra=', 'name=', ',', '=', '+', '0x', '64Ki', '-1', ' ', '\n', '"');
    const text = fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), fc.array(pieces, { maxLength: 30 }).map((p) => p.join('')));
    fc.assert(
      fc.property(text, (t) => {
        const r = parseMapSpec(t, 'map0');
        if (!r.ok) {
          expect(r.error.startsWith('--map "')).toBe(true);
          expect(r.error).not.toMatch(/[\n\r]/);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('reads back what it is given', () => {
    const u32 = fc.integer({ min: 0, max: 2 ** 32 - 1 });
    const fields = fc.record({
      type: fc.constantFrom(...MAP_TYPE_NAMES),
      key: u32,
      value: u32,
      maxEntries: u32,
      flags: fc.subarray(Object.keys(MAP_FLAGS) as (keyof typeof MAP_FLAGS)[]),
      mapExtra: fc.maxSafeNat(),
    });
    fc.assert(
      fc.property(fields, (f) => {
        const flags = f.flags.length > 0 ? `,flags=${f.flags.join('+')}` : '';
        const text = `type=${f.type},key=${f.key},value=${f.value},max_entries=${f.maxEntries}${flags},map_extra=${f.mapExtra}`;
        expect(parseMapSpec(text, 'm')).toEqual({
          ok: true,
          value: {
          name: 'm',
          elements: 0,
          spec: {
            type: f.type,
            keySize: f.key,
            valueSize: f.value,
            maxEntries: f.maxEntries,
            flags: f.flags.reduce((w, name) => (w | MAP_FLAGS[name]) >>> 0, 0),
            mapExtra: f.mapExtra,
          },
          },
        });
      }),
      { numRuns: 500 },
    );
  });
});

describe('parseMapSpec: elements', () => {
  it('reads how many entries to insert after creation', () => {
    const r = parseMapSpec('type=hash,key=4,value=4,max_entries=1000,flags=no_prealloc,elements=100', 'm');
    expect(r).toMatchObject({ ok: true, value: { elements: 100 } });
  });
  it('refuses a negative count', () => {
    expect(parseMapSpec('type=hash,elements=-1', 'm')).toMatchObject({ ok: false });
  });
});
