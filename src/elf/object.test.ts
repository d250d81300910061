import { describe, expect, it } from 'vitest';
import { BpfmemError } from '../vocab/errors.js';
import { MAP_TYPES, type MapType } from '../vocab/maptypes.js';
import { MAP_FLAGS, type MapFlag } from '../vocab/flags.js';
import { fixtureBytes, toolchain } from '../../test/fixtures/bpf/build.js';
import { parseBpfObject, type LibbpfGeneration, type ObjectMap } from './index.js';

/*
 * Every map of every compiled fixture (test/fixtures/bpf/*.bpf.c), field by field, as libbpf reads
 * it. The same objects are loaded by Debian's bpftool (libbpf generation `1.0`) and by libbpf
 * 1.1.2 (`1.1+`) in test/live/object.test.ts, which checks these fields against the kernel's.
 */

/** [kernel name, symbol, source, type, key, value, max_entries, flags, map_extra, initial entries]. */
type Row = readonly [string, string, ObjectMap['source'], MapType, number, number, number, string, number?, number?];

function rows(maps: readonly ObjectMap[]): Row[] {
  return maps.map((m) => {
    const type = Object.entries(MAP_TYPES).find(([, t]) => t.id === m.type)?.[0] as MapType;
    const flags = (Object.entries(MAP_FLAGS) as [MapFlag, number][]).filter(([, bit]) => m.flags & bit).map(([n]) => n).join('+');
    return [m.name, m.symbol, m.source, type, m.keySize, m.valueSize, m.maxEntries, flags, m.mapExtra, m.initialEntries];
  });
}

const full = (r: Row): Row => [r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8] ?? 0, r[9] ?? 0];

const parse = (name: string, libbpf: LibbpfGeneration = '1.1+') => parseBpfObject(fixtureBytes(name), `test/fixtures/bpf/.build/${name}.bpf.o`, { libbpf });

const MMAP = 'mmapable';
const RO = 'rdonly_prog';
const RO_MMAP = 'rdonly_prog+mmapable';

const GLOBAL_DATA: Record<LibbpfGeneration, readonly Row[]> = {
  '1.1+': [
    ['global_d.data', '.data', 'data', 'array', 4, 8, 1, MMAP],
    ['global_d.rodata', '.rodata', 'data', 'array', 4, 4, 1, RO_MMAP],
    ['.data.foo', '.data.foo', 'data', 'array', 4, 4, 1, MMAP],
    ['.rodata.cfg', '.rodata.cfg', 'data', 'array', 4, 4, 1, RO_MMAP],
    // Only a hidden global, or only statics: nothing a skeleton exposes, so not mmapable.
    ['.data.hid', '.data.hid', 'data', 'array', 4, 4, 1, ''],
    ['.data.st', '.data.st', 'data', 'array', 4, 4, 1, ''],
    ['global_d.bss', '.bss', 'data', 'array', 4, 128, 1, MMAP],
    ['.data.big', '.data.big', 'data', 'array', 4, 10000, 1, MMAP],
    // String literals: no DATASEC in BTF.
    ['.rodata.str1.1', '.rodata.str1.1', 'data', 'array', 4, 9, 1, RO],
    // u64 CONFIG_NR_CPUS at 0, int CONFIG_HZ at 8, u32 LINUX_KERNEL_VERSION at 12, bool at 16: 17 bytes.
    ['global_.kconfig', '.kconfig', 'kconfig', 'array', 4, 17, 1, RO_MMAP],
  ],
  '1.0': [
    ['global_d.data', '.data', 'data', 'array', 4, 8, 1, MMAP],
    ['global_d.rodata', '.rodata', 'data', 'array', 4, 4, 1, RO_MMAP],
    ['.data.foo', '.data.foo', 'data', 'array', 4, 4, 1, MMAP],
    ['.rodata.cfg', '.rodata.cfg', 'data', 'array', 4, 4, 1, RO_MMAP],
    ['.data.hid', '.data.hid', 'data', 'array', 4, 4, 1, MMAP],
    ['.data.st', '.data.st', 'data', 'array', 4, 4, 1, MMAP],
    ['global_d.bss', '.bss', 'data', 'array', 4, 128, 1, MMAP],
    ['.data.big', '.data.big', 'data', 'array', 4, 10000, 1, MMAP],
    ['.rodata.str1.1', '.rodata.str1.1', 'data', 'array', 4, 9, 1, RO_MMAP],
    ['global_.kconfig', '.kconfig', 'kconfig', 'array', 4, 17, 1, RO_MMAP],
  ],
};

const MAPS: readonly Row[] = [
  ['hash_map', 'hash_map', 'btf', 'hash', 4, 48, 1000, ''],
  ['mmap_array', 'mmap_array', 'btf', 'array', 4, 8, 1000, MMAP],
  ['array_map', 'array_map', 'btf', 'array', 4, 48, 256, ''],
  ['percpu_hash', 'percpu_hash', 'btf', 'percpu_hash', 8, 8, 512, ''],
  ['percpu_array', 'percpu_array', 'btf', 'percpu_array', 4, 24, 128, ''],
  ['lru_hash', 'lru_hash', 'btf', 'lru_hash', 4, 8, 4096, ''],
  ['lru_percpu', 'lru_percpu', 'btf', 'lru_percpu_hash', 4, 4, 1000, 'no_common_lru'],
  ['lpm', 'lpm', 'btf', 'lpm_trie', 8, 8, 255, 'no_prealloc'],
  ['hash_noprealloc', 'hash_noprealloc', 'btf', 'hash', 4, 8, 10000, 'no_prealloc'],
  ['queue', 'queue', 'btf', 'queue', 0, 8, 100, ''],
  ['stack', 'stack', 'btf', 'stack', 0, 8, 64, ''],
  ['bloom', 'bloom', 'btf', 'bloom_filter', 0, 4, 1000, '', 3],
  ['stack_trace', 'stack_trace', 'btf', 'stack_trace', 4, 1016, 128, ''],
  ['prog_array', 'prog_array', 'btf', 'prog_array', 4, 4, 8, ''],
  ['perf_events', 'perf_events', 'btf', 'perf_event_array', 4, 4, 0, ''],
  ['cgroup_array', 'cgroup_array', 'btf', 'cgroup_array', 4, 4, 4, ''],
  ['ringbuf', 'ringbuf', 'btf', 'ringbuf', 0, 0, 65536, ''],
  ['ringbuf_odd', 'ringbuf_odd', 'btf', 'ringbuf', 0, 0, 5000, ''],
  ['user_ringbuf', 'user_ringbuf', 'btf', 'user_ringbuf', 0, 0, 16384, ''],
  ['numa_hash', 'numa_hash', 'btf', 'hash', 8, 16, 100, 'numa_node'],
  ['pinned_by_name', 'pinned_by_name', 'btf', 'array', 4, 4, 10, ''],
  ['a_very_long_map', 'a_very_long_map_name_indeed', 'btf', 'hash', 4, 4, 16, ''],
];

const STORAGE: readonly Row[] = [
  ['sk_store', 'sk_store', 'btf', 'sk_storage', 4, 8, 0, 'no_prealloc'],
  ['task_store', 'task_store', 'btf', 'task_storage', 4, 16, 0, 'no_prealloc'],
  ['inode_store', 'inode_store', 'btf', 'inode_storage', 4, 8, 0, 'no_prealloc'],
  ['cgrp_store', 'cgrp_store', 'btf', 'cgrp_storage', 4, 8, 0, 'no_prealloc'],
  ['cg_storage', 'cg_storage', 'btf', 'cgroup_storage', 16, 8, 0, ''],
  ['pcpu_cg_storage', 'pcpu_cg_storage', 'btf', 'percpu_cgroup_storage', 8, 4, 0, ''],
];

const NETDEV: readonly Row[] = [
  ['devmap', 'devmap', 'btf', 'devmap', 4, 4, 64, ''],
  ['devmap_hash', 'devmap_hash', 'btf', 'devmap_hash', 4, 8, 64, ''],
  ['cpumap', 'cpumap', 'btf', 'cpumap', 4, 8, 2, ''],
  ['xskmap', 'xskmap', 'btf', 'xskmap', 4, 4, 4, ''],
  ['sockmap', 'sockmap', 'btf', 'sockmap', 4, 8, 32, ''],
  ['sockhash', 'sockhash', 'btf', 'sockhash', 4, 8, 128, ''],
  ['reuseport', 'reuseport', 'btf', 'reuseport_sockarray', 4, 8, 16, ''],
];

const MAP_IN_MAP: readonly Row[] = [
  ['inner_a', 'inner_a', 'btf', 'array', 4, 8, 16, ''],
  ['inner_b', 'inner_b', 'btf', 'array', 4, 8, 16, ''],
  // `.values = { [0] = &inner_a, [2] = &inner_b }`: two slots filled at load.
  ['outer_array', 'outer_array', 'btf', 'array_of_maps', 4, 4, 4, '', 0, 2],
  ['inner_h', 'inner_h', 'btf', 'hash', 4, 4, 32, ''],
  ['outer_hash', 'outer_hash', 'btf', 'hash_of_maps', 4, 4, 8, '', 0, 1],
  ['jump', 'jump', 'btf', 'prog_array', 4, 4, 4, '', 0, 1],
];

const STRUCT_OPS: readonly Row[] = [['bpfmem_cc', 'bpfmem_cc', 'struct_ops', 'struct_ops', 4, 40, 1, '']];

const NOBTF: Record<LibbpfGeneration, readonly Row[]> = {
  '1.1+': [
    ['nobtf.data', '.data', 'data', 'array', 4, 4, 1, ''],
    ['nobtf.rodata', '.rodata', 'data', 'array', 4, 4, 1, RO],
    ['nobtf.bss', '.bss', 'data', 'array', 4, 256, 1, ''],
  ],
  '1.0': [
    ['nobtf.data', '.data', 'data', 'array', 4, 4, 1, MMAP],
    ['nobtf.rodata', '.rodata', 'data', 'array', 4, 4, 1, RO_MMAP],
    ['nobtf.bss', '.bss', 'data', 'array', 4, 256, 1, MMAP],
  ],
};

const LEGACY: readonly Row[] = [
  ['legacy_array', 'legacy_array', 'legacy', 'array', 4, 32, 64, ''],
  ['legacy_hash', 'legacy_hash', 'legacy', 'hash', 4, 8, 512, 'no_prealloc'],
];

const NEWER: readonly Row[] = [
  ['bloom_ulong', 'bloom_ulong', 'btf', 'bloom_filter', 0, 8, 100, '', 5],
  ['arena', 'arena', 'btf', 'arena', 0, 0, 4, MMAP, 2 ** 30],
  ['.bss.cache', '.bss.cache', 'data', 'array', 4, 4096, 1, MMAP],
  ['.bss.quiet', '.bss.quiet', 'data', 'array', 4, 4, 1, ''],
  ['linked_cc', 'linked_cc', 'struct_ops', 'struct_ops', 4, 40, 1, 'link'],
  ['optional_cc', 'optional_cc', 'struct_ops', 'struct_ops', 4, 40, 1, ''],
];

describe.skipIf(!toolchain.ok)('compiled fixtures, map by map', () => {
  const same = (name: string, libbpf: LibbpfGeneration, expected: readonly Row[]): void => {
    expect(rows(parse(name, libbpf).maps)).toEqual(expected.map(full));
  };

  it.each<LibbpfGeneration>(['1.1+', '1.0'])('global data and kconfig, libbpf %s', (libbpf) => {
    same('global_data', libbpf, GLOBAL_DATA[libbpf]);
  });
  it.each<LibbpfGeneration>(['1.1+', '1.0'])('global data without BTF, libbpf %s', (libbpf) => {
    same('nobtf', libbpf, NOBTF[libbpf]);
  });
  it.each<[string, readonly Row[]]>([
    ['maps', MAPS],
    ['storage', STORAGE],
    ['netdev', NETDEV],
    ['map_in_map', MAP_IN_MAP],
    ['struct_ops', STRUCT_OPS],
    ['legacy', LEGACY],
  ])('%s, the same with either libbpf', (name, expected) => {
    same(name, '1.1+', expected);
    same(name, '1.0', expected);
  });

  it('newer: .bss.*, __ulong, an arena, .struct_ops.link and ?.struct_ops (libbpf 1.1+)', () => {
    const obj = parse('newer');
    expect(rows(obj.maps)).toEqual(NEWER.map(full));
    expect(obj.maps.map((m) => m.autocreate)).toEqual([true, true, true, true, true, false]);
    expect(obj.maps.find((m) => m.name === 'linked_cc')?.structOps).toEqual({ typeName: 'tcp_congestion_ops', funcs: 3, members: 4 });
  });

  it('newer: libbpf 1.0 does not read __ulong, and says so in one line', () => {
    expect(() => {
      parse('newer', '1.0');
    }).toThrow(BpfmemError);
    expect(() => {
      parse('newer', '1.0');
    }).toThrow(/map "bloom_ulong": "map_extra": expected a pointer to an array \(__uint\), got an enum$/);
  });

  it('keeps what else the definitions say: numa node, pinning, the inner map, struct_ops', () => {
    const maps = new Map(parse('maps').maps.map((m) => [m.name, m]));
    expect(maps.get('numa_hash')?.numaNode).toBe(0);
    expect(maps.get('pinned_by_name')?.pinning).toBe('by_name');
    const outer = parse('map_in_map').maps.find((m) => m.name === 'outer_hash');
    expect(outer?.inner).toMatchObject({ name: 'outer_hash.inne', symbol: 'outer_hash.inner', type: MAP_TYPES.hash.id, keySize: 4, valueSize: 4, maxEntries: 32 });
    expect(parse('struct_ops').maps[0]?.structOps).toEqual({ typeName: 'tcp_congestion_ops', funcs: 3, members: 4 });
  });

  it.each([
    ['perf_events', /max_entries 0: libbpf sets the number of possible CPUs/],
    ['ringbuf_odd', /max_entries 5000: libbpf rounds a ring buffer up/],
    ['pinned_by_name', /pinned by name: libbpf reuses a map already pinned/],
  ])('says what is settled at load for %s', (name, note) => {
    expect(parse('maps').maps.find((m) => m.name === name)?.loadTime.join('; ')).toMatch(note);
  });

  it('says a legacy object is refused by libbpf 1.0+', () => {
    for (const m of parse('legacy').maps) expect(m.loadTime[0]).toMatch(/libbpf 1\.0\+ refuses the object/);
  });

  it.each<[string, readonly [string, string, number][], number]>([
    ['maps', [['lookup_hash', 'socket', 11], ['pass', 'xdp', 2], ['tc_ok', 'tc', 9]], 0],
    ['map_in_map', [['tail', 'socket', 2], ['entry', 'socket', 18]], 0],
    ['struct_ops', [['bpfmem_ssthresh', 'struct_ops/bpfmem_ssthresh', 2], ['bpfmem_cong_avoid', 'struct_ops/bpfmem_cong_avoid', 1], ['bpfmem_undo_cwnd', 'struct_ops/bpfmem_undo_cwnd', 2]], 0],
  ])('programs of %s: name, section, instructions', (name, progs, subprogs) => {
    const obj = parse(name);
    expect(obj.progs.map((p) => [p.name, p.section, p.insns])).toEqual(progs);
    expect(obj.subprogs).toBe(subprogs);
  });

  it('names global data maps after the object name it is given', () => {
    const bytes = fixtureBytes('global_data');
    const names = (source: string, objectName?: string) => parseBpfObject(bytes, source, objectName === undefined ? {} : { objectName }).maps.map((m) => m.name);
    expect(names('/x/my_object_name.bpf.o').slice(0, 2)).toEqual(['my_objec.data', 'my_objec.rodata']);
    expect(names('/x/p.o').at(-1)).toBe('p.kconfig');
    expect(names('stdin', 'from_opts').slice(0, 2)).toEqual(['from_opt.data', 'from_opt.rodata']);
  });
});

if (!toolchain.ok) console.warn(`BPF fixture tests skipped: ${toolchain.reason}`);
