import { describe, expect, it } from 'vitest';
import { must } from '../../vocab/backend.js';
import { mapSpec } from '../../vocab/map-spec.js';
import { ModelKernel } from '../kernel.js';
import { profileOf } from '../profile.js';
import type { ElementModel } from './alloc.js';
import { fdinfoMemlock } from './memlock.js';
import { mapTypeModel } from './index.js';

const spec = mapSpec({ type: 'cpumap', keySize: 4, valueSize: 4, maxEntries: 2 });

function elementModel(version: string, cpus = 2): ElementModel {
  const e = mapTypeModel('cpumap').elements(spec, profileOf({ version, cpus }));
  if ('ok' in e) throw new Error(e.reason);
  return e;
}

/** What `count` updates charge the map's cgroup, on a kernel with this entry size. */
function entryCharge(cpus: number, entrySize: number, count = 2): number {
  const k = new ModelKernel(profileOf({ version: '6.18.44', cpus, cgroup: 1, structs: { bpf_cpu_map_entry: entrySize } }));
  must(k.createCgroup('/a', { max: Number.POSITIVE_INFINITY, high: Number.POSITIVE_INFINITY }));
  must(k.startTask('t', { cgroup: '/a', uid: 0 }));
  must(k.createMap('t', 'm', spec));
  const before = k.mapState('m')?.charged ?? Number.NaN;
  must(k.updateMap('m', count, { task: 't' }, 0));
  return ((k.mapState('m')?.charged ?? Number.NaN) - before) / count;
}

describe('cpumap entries (kernel/bpf/cpumap.c __cpu_map_entry_alloc())', () => {
  it('allocate the entry, the per-CPU bulk queue and the ptr_ring through the map (5.11+)', () => {
    const shown = (e: ElementModel) => e.allocs.map((a) => `${a.what} ${a.shape} ${a.payer} ${a.size}`);
    expect(shown(elementModel('6.18'))).toEqual([
      'bpf_cpu_map_entry kmalloc map 360',
      'bulkq percpu map 96',
      'ptr_ring kmalloc map 192',
    ]);
    expect(shown(elementModel('5.11')).map((s) => s.split(' ')[2])).toEqual(['map', 'map', 'map']);
  });

  it('charge nobody on 5.10, whose precharge counts only the entry pointers', () => {
    expect(elementModel('5.10').allocs.every((a) => a.payer === 'none')).toBe(true);
    // cpu_map_alloc() (5.6–5.10): bpf_map_charge_init(max_entries * sizeof(entry *)), one page.
    expect(fdinfoMemlock(spec, 2, profileOf({ version: '5.10', cpus: 2 }))).toBe(4096);
  });

  it('charge 33,352 B each on the 6.18.44 host (16752-byte entry, 2 CPUs; measured 33,341)', () => {
    // order-3 pages for the entry, 96·2 + 24·8 for the bulk queue, kmalloc-192 + objcg pointer.
    expect(entryCharge(2, 16752)).toBe(32768 + 384 + 200);
  });

  it('grow with the possible CPUs through the per-CPU bulk queue', () => {
    expect(entryCharge(64, 16752)).toBe(32768 + 96 * 64 + 24 * 8 + 200);
    // a 360-byte entry (the calibration kernel's BTF) is a kmalloc-512 object
    expect(entryCharge(2, 360)).toBe(520 + 384 + 200);
  });

  it('leave fdinfo memlock alone: cpu_map_mem_usage() counts no entry', () => {
    const k618 = profileOf({ version: '6.18', cpus: 2 });
    expect(fdinfoMemlock(spec, 2, k618)).toBe(fdinfoMemlock(spec, 0, k618));
  });
});
