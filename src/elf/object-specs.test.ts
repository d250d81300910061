import { describe, expect, it } from 'vitest';
import { encodeBtf, parseBtf, type Btf, type BtfTypeSpec } from '../btf/index.js';
import { BpfmemError } from '../vocab/errors.js';
import { estimateMaps } from '../estimate/maps.js';
import { adjustRingbufSize, objectSpecs, type ObjectSpec } from '../estimate/object.js';
import { mapSpec, type MapSpec } from '../vocab/map-spec.js';
import { profileOf } from '../model/profile.js';
import { type KernelProfile } from '../vocab/profile.js';
import { fixtureBytes, toolchain } from '../../test/fixtures/bpf/build.js';
import { parseBpfObject, type BpfObject, type LibbpfGeneration } from './index.js';

/*
 * objectSpecs: from a parsed object to the MapSpecs libbpf creates on a host profile, and the
 * model's memory for them. The memlock tables are what `bpftool -j map show` (libbpf 1.0, Debian's
 * bpftool) and fdinfo after a libbpf 1.1.2 load reported on the 6.18 test machine (2 possible CPUs,
 * 4 KiB pages); test/live/object.test.ts measures them again on every run.
 */

const parse = (name: string, libbpf: LibbpfGeneration = '1.1+'): BpfObject => parseBpfObject(fixtureBytes(name), `/x/${name}.bpf.o`, { libbpf });

const HOST = profileOf({ version: '6.18', cpus: 2 });

/** The kernel's struct_ops value type as 6.18's BTF has it: `bpf_struct_ops_tcp_congestion_ops` (256 bytes), 13 function pointers. */
function kernelBtf(): Btf {
  const fn: BtfTypeSpec[] = [
    { kind: 'int', name: 'int', size: 4, signed: true, char: false, bool: false, bitOffset: 0, bits: 32 },
    { kind: 'func_proto', name: '', type: 1, params: [] },
    { kind: 'ptr', name: '', type: 2 },
  ];
  const members = [
    ...Array.from({ length: 11 }, (_, i) => ({ name: `f${i}`, type: 3, bitOffset: 64 * i, bitfieldSize: 0 })),
    { name: 'name', type: 1, bitOffset: 704, bitfieldSize: 0 },
    { name: 'init', type: 3, bitOffset: 1088, bitfieldSize: 0 },
    { name: 'release', type: 3, bitOffset: 1152, bitfieldSize: 0 },
  ];
  const types: BtfTypeSpec[] = [
    ...fn,
    { kind: 'struct', name: 'tcp_congestion_ops', size: 192, kindFlag: false, members },
    { kind: 'struct', name: 'bpf_struct_ops_tcp_congestion_ops', size: 256, kindFlag: false, members: [{ name: 'data', type: 4, bitOffset: 512, bitfieldSize: 0 }] },
  ];
  const r = parseBtf(encodeBtf(types));
  if (!r.ok) throw new Error(r.error);
  return r.value;
}

const memlocks = (specs: readonly ObjectSpec[], profile: KernelProfile): Record<string, number | string> =>
  Object.fromEntries(estimateMaps(specs.map((s) => ({ name: s.name, spec: s.spec, elements: s.elements })), profile).maps.map((m) => [m.name, m.ok ? m.memlock : m.reason]));

/** fdinfo `memlock` of every map, as loaded on the test machine. */
const MEASURED: Record<string, Record<string, number>> = {
  maps: {
    hash_map: 121504, mmap_array: 12288, array_map: 12600, percpu_hash: 50048, percpu_array: 7480, lru_hash: 328576, lru_percpu: 97280,
    lpm: 0, hash_noprealloc: 263040, queue: 1120, stack: 832, bloom: 1336, stack_trace: 133440, prog_array: 376, perf_events: 328,
    cgroup_array: 344, ringbuf: 78408, ringbuf_odd: 20840, user_ringbuf: 29064, numa_hash: 10304, pinned_by_name: 392, a_very_long_map: 2320,
  },
  storage: { sk_store: 480, task_store: 480, inode_store: 480, cgrp_store: 480, cg_storage: 328, pcpu_cg_storage: 328 },
  netdev: { devmap: 856, devmap_hash: 856, cpumap: 320, xskmap: 336, sockmap: 632, sockhash: 2432, reuseport: 424 },
  map_in_map: { inner_a: 440, inner_b: 440, outer_array: 344, inner_h: 3600, outer_hash: 1552, jump: 344 },
  struct_ops: { bpfmem_cc: 5264 },
};
const MEASURED_DATA: Record<LibbpfGeneration, Record<string, Record<string, number>>> = {
  '1.0': {
    global_data: {
      'global_d.data': 8192, 'global_d.rodata': 8192, '.data.foo': 8192, '.rodata.cfg': 8192, '.data.hid': 8192, '.data.st': 8192,
      'global_d.bss': 8192, '.data.big': 16384, '.rodata.str1.1': 8192, 'global_.kconfig': 8192,
    },
    nobtf: { 'nobtf.data': 8192, 'nobtf.rodata': 8192, 'nobtf.bss': 8192 },
  },
  '1.1+': {
    global_data: {
      'global_d.data': 8192, 'global_d.rodata': 8192, '.data.foo': 8192, '.rodata.cfg': 8192, '.data.hid': 320, '.data.st': 320,
      'global_d.bss': 8192, '.data.big': 16384, '.rodata.str1.1': 328, 'global_.kconfig': 8192,
    },
    nobtf: { 'nobtf.data': 320, 'nobtf.rodata': 320, 'nobtf.bss': 568 },
  },
};

describe.skipIf(!toolchain.ok)('objectSpecs and the model, against what this machine measured', () => {
  it.each(Object.keys(MEASURED))('%s: every map as measured', (name) => {
    for (const libbpf of ['1.0', '1.1+'] as const) {
      expect(memlocks(objectSpecs(parse(name, libbpf), HOST, { kernelBtf: kernelBtf() }), HOST)).toEqual(MEASURED[name]);
    }
  });

  it.each<[LibbpfGeneration, string]>([
    ['1.0', 'global_data'],
    ['1.1+', 'global_data'],
    ['1.0', 'nobtf'],
    ['1.1+', 'nobtf'],
  ])('libbpf %s, %s: mmapable maps take whole pages, others not', (libbpf, name) => {
    expect(memlocks(objectSpecs(parse(name, libbpf), HOST), HOST)).toEqual(MEASURED_DATA[libbpf][name]);
  });
});

describe.skipIf(!toolchain.ok)('objectSpecs on other hosts', () => {
  it('scales per-CPU maps to 192 CPUs exactly as the model does', () => {
    const p192 = profileOf({ version: '6.18', cpus: 192 });
    const specs = objectSpecs(parse('maps'), p192);
    const byName = new Map(specs.map((s) => [s.name, s]));
    const direct: Record<string, MapSpec> = {
      percpu_hash: mapSpec({ type: 'percpu_hash', keySize: 8, valueSize: 8, maxEntries: 512 }),
      percpu_array: mapSpec({ type: 'percpu_array', keySize: 4, valueSize: 24, maxEntries: 128 }),
      lru_percpu: mapSpec({ type: 'lru_percpu_hash', keySize: 4, valueSize: 4, maxEntries: 1000, flags: 2 }),
      perf_events: mapSpec({ type: 'perf_event_array', keySize: 4, valueSize: 4, maxEntries: 192 }),
    };
    const fromObject = memlocks(specs, p192);
    const fromModel = memlocks(Object.entries(direct).map(([name, spec]) => ({ name, spec, elements: 0, loadTime: [], map: byName.get(name)!.map })), p192);
    for (const name of Object.keys(direct)) {
      expect(byName.get(name)?.spec).toEqual(direct[name]);
      expect(fromObject[name]).toBe(fromModel[name]);
    }
    // And they grow with the CPUs: 192 CPUs cost more than the 2 measured here.
    expect(fromObject.percpu_array).toBeGreaterThan(MEASURED.maps!.percpu_array!);
    expect(byName.get('perf_events')?.loadTime.join()).toMatch(/libbpf sets the number of possible CPUs/);
  });

  it('rounds ring buffers to the host page size', () => {
    const p64k = profileOf({ version: '6.18', cpus: 2, pageSize: 65536 });
    const byName = new Map(objectSpecs(parse('maps'), p64k).map((s) => [s.name, s]));
    expect(byName.get('ringbuf')?.spec.maxEntries).toBe(65536);
    expect(byName.get('ringbuf_odd')?.spec.maxEntries).toBe(65536);
    expect(byName.get('ringbuf_odd')?.loadTime.join()).toMatch(/rounds it up to 65536/);
    expect(byName.get('user_ringbuf')?.spec.maxEntries).toBe(65536);
    expect(new Map(objectSpecs(parse('maps'), HOST).map((s) => [s.name, s.spec.maxEntries])).get('ringbuf_odd')).toBe(8192);
  });

  it('drops BPF_F_MMAPABLE before 5.5 and global data before 5.2, as libbpf does', () => {
    const v54 = objectSpecs(parse('global_data'), profileOf({ version: '5.4' }));
    expect(v54.every((s) => (s.spec.flags & (1 << 10)) === 0)).toBe(true);
    expect(v54.find((s) => s.name === 'global_d.data')?.loadTime.join()).toMatch(/BPF_F_MMAPABLE dropped/);
    expect(objectSpecs(parse('global_data'), profileOf({ version: '5.1' }))).toEqual([]);
    expect(objectSpecs(parse('maps'), profileOf({ version: '5.1' }))).toHaveLength(22);
  });

  it('leaves out maps libbpf does not create, and counts the entries it writes', () => {
    expect(objectSpecs(parse('newer'), HOST).map((s) => s.name)).toEqual(['bloom_ulong', 'arena', '.bss.cache', '.bss.quiet', 'linked_cc']);
    const mim = objectSpecs(parse('map_in_map'), HOST);
    expect(mim.map((s) => [s.name, s.elements])).toEqual([
      ['inner_a', 0],
      ['inner_b', 0],
      ['outer_array', 2],
      ['inner_h', 0],
      ['outer_hash', 1],
      ['jump', 1],
    ]);
  });

  it('estimates struct_ops from the object when it has no kernel BTF, and says so', () => {
    const [spec] = objectSpecs(parse('struct_ops'), HOST);
    expect(spec?.spec).toMatchObject({ type: 'struct_ops', valueSize: 128, structOpsFuncs: 3 });
    expect(spec?.loadTime.join()).toMatch(/estimated from the object's struct tcp_congestion_ops/);
    const [exact] = objectSpecs(parse('struct_ops'), HOST, { kernelBtf: kernelBtf() });
    expect(exact?.spec).toMatchObject({ valueSize: 256, structOpsFuncs: 13 });
  });

  it('refuses a map type bpfmem does not know, in one line', () => {
    const obj = parse('maps');
    const odd = { ...obj, maps: [{ ...obj.maps[0]!, type: 99 }] };
    expect(() => objectSpecs(odd, HOST)).toThrow(BpfmemError);
    expect(() => objectSpecs(odd, HOST)).toThrow(/^BPF object [^ ]*maps[^ ]*: map "hash_map": map type 99 is not one bpfmem knows$/);
  });
});

describe('adjust_ringbuf_sz', () => {
  it.each([
    [0, 4096, 0],
    [4096, 4096, 4096],
    [5000, 4096, 8192],
    [3 * 4096, 4096, 16384],
    [65536, 4096, 65536],
    [65536, 65536, 65536],
    [4096, 65536, 65536],
    [0xffffffff, 4096, 0xffffffff],
  ])('%i bytes on %i-byte pages → %i', (size, page, out) => {
    expect(adjustRingbufSize(size, page)).toBe(out);
  });
});

if (!toolchain.ok) console.warn(`BPF fixture tests skipped: ${toolchain.reason}`);
