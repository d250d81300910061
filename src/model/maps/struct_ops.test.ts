import { describe, expect, it } from 'vitest';
import { mapSpec } from '../../vocab/map-spec.js';
import { profileOf } from '../profile.js';
import type { Alloc } from './alloc.js';
import { fdinfoMemlock } from './memlock.js';
import { checkMapCreate, mapTypeModel } from './index.js';
import { ModelKernel } from '../kernel.js';

/** tcp_congestion_ops: `bpf_struct_ops_tcp_congestion_ops` is 256 bytes, 13 function pointers. */
const tcp = (funcs = 13) => mapSpec({ type: 'struct_ops', keySize: 4, valueSize: 256, maxEntries: 1, structOpsFuncs: funcs });
const k = (version: string) => profileOf({ version, cpus: 4 });
const memlock = (version: string, funcs = 13) => fdinfoMemlock(tcp(funcs), 0, k(version));
const shown = (allocs: readonly Alloc[]) => allocs.map((a) => `${a.what} ${a.shape} ${a.payer} ${a.size}`);

describe('struct_ops fdinfo memlock (kernel/bpf/bpf_struct_ops.c bpf_struct_ops_map_mem_usage())', () => {
  it('6.4–6.8: btf_type_vlen(vt) = 3 links (refcnt, state, data), whatever the functions', () => {
    // Debian 6.1's bpf_struct_ops_map (448 B): 448 + 256 − 64 + 256 + 3·8 + 4096
    expect(memlock('6.4')).toBe(5016);
    expect(memlock('6.8')).toBe(5016);
    expect(memlock('6.8', 40)).toBe(5016);
    // 6.6 LTS never took the funcs_cnt/ksyms backport
    expect(memlock('6.6.100')).toBe(5016);
  });

  it('6.9 to 6.12.1: 2 links (common, data)', () => {
    expect(memlock('6.9')).toBe(5008);
    expect(memlock('6.11.10')).toBe(5008);
    // Debian 6.12's sizes (bpf_struct_ops_map 512 B): 704 + 256 + 2·8 + 4096
    expect(memlock('6.12')).toBe(5072);
    expect(memlock('6.12.1')).toBe(5072);
  });

  it('funcs_cnt · (link + ksym) from 6.13, 6.12.2 and 6.11.11 (821a3fa32bbe + 7c8ce4ffb684 backported)', () => {
    expect(memlock('6.12.2')).toBe(5264);
    expect(memlock('6.12.118+deb12-amd64')).toBe(5264); // Debian's 6.12 (the lab's)
    expect(memlock('6.11.11')).toBe(448 + 256 - 64 + 256 + 13 * 16 + 4096);
    expect(memlock('6.13')).toBe(5264);
    expect(memlock('6.18')).toBe(5264); // measured on the 6.18.44 host: 5264
    expect(memlock('6.18', 40)).toBe(5264 + 27 * 16);
    expect(memlock('7.2')).toBe(5264);
  });

  it('accepts the spec on every version it models', () => {
    for (const v of ['6.4', '6.9', '6.12', '6.12.118', '6.18']) expect(checkMapCreate(tcp(), k(v)), v).toBeUndefined();
  });
});

describe('struct_ops creation (bpf_struct_ops_map_alloc())', () => {
  const allocs = (version: string) => shown(mapTypeModel('struct_ops').createAllocs(tcp(), k(version)));

  it('before 6.9: links, no ksyms, and the one-page trampoline image charged to nobody', () => {
    expect(allocs('6.8')).toEqual([
      'bpf_struct_ops_map + kvalue area current 640',
      'uvalue area current 256',
      'links area current 104',
      'trampoline image pages none 4096',
    ]);
    expect(allocs('5.10')).toEqual([
      'bpf_struct_ops_map + kvalue area none 576',
      'uvalue area none 256',
      'progs area none 104',
      'trampoline image pages none 4096',
    ]);
  });

  it('from 6.9 no image at creation (187e2af05abe: pages allocated on update); ksyms with the backport', () => {
    expect(allocs('6.12')).toEqual(['bpf_struct_ops_map + kvalue area current 704', 'uvalue area current 256', 'links area current 104']);
    expect(allocs('6.12.118')).toEqual([
      'bpf_struct_ops_map + kvalue area current 704',
      'uvalue area current 256',
      'links area current 104',
      'ksyms area current 104',
    ]);
  });

  it('before 6.13 (and 6.12.2) sizes the links by all members of the kernel struct, from then by its functions (821a3fa32bbe)', () => {
    const withMembers = mapSpec({ ...tcp(), structOpsMembers: 18 });
    const links = (version: string) =>
      shown(mapTypeModel('struct_ops').createAllocs(withMembers, k(version))).filter((a) => a.startsWith('links') || a.startsWith('progs'));
    expect(links('5.10')).toEqual(['progs area none 144']);
    expect(links('6.8')).toEqual(['links area current 144']);
    expect(links('6.12.1')).toEqual(['links area current 144']);
    expect(links('6.12.2')).toEqual(['links area current 104']);
    expect(links('6.18')).toEqual(['links area current 104']);
  });

  it('charges the kmalloc size of 18 links (192 B) where 13 (104 → 128 B) would be 64 B short', () => {
    const charged = (spec: ReturnType<typeof tcp>, version: string) => {
      const kernel = new ModelKernel(k(version));
      kernel.createCgroup('/t', { max: Number.POSITIVE_INFINITY, high: Number.POSITIVE_INFINITY });
      kernel.startTask('t', { cgroup: '/t', uid: 0, memlock: Number.POSITIVE_INFINITY });
      expect(kernel.createMap('t', 'cc', spec).ok).toBe(true);
      return kernel.mapState('cc')?.charged ?? 0;
    };
    expect(charged(mapSpec({ ...tcp(), structOpsMembers: 18 }), '6.8') - charged(tcp(), '6.8')).toBe(64);
    // From 6.13 the links are the functions', whatever the members.
    expect(charged(mapSpec({ ...tcp(), structOpsMembers: 18 }), '6.18') - charged(tcp(), '6.18')).toBe(0);
  });
});

describe('struct_ops memlock precharge before 5.11 (bpf_map_charge_init of map_total_size)', () => {
  it('counts a pointer per member of the kernel struct', () => {
    // 576 + 4 + 18·8 = 724 → one page; the page count is what RLIMIT_MEMLOCK sees.
    const legacy = (spec: ReturnType<typeof tcp>) => mapTypeModel('struct_ops').legacyCost(spec, k('5.10'));
    expect(legacy(mapSpec({ ...tcp(), structOpsMembers: 18 })) - legacy(tcp())).toBe(5 * 8);
  });
});
