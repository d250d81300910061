import { describe, expect, it } from 'vitest';
import { must } from '../vocab/backend.js';
import { MAP_FLAGS } from '../vocab/flags.js';
import { mapSpec } from '../vocab/map-spec.js';
import { ModelKernel } from './kernel.js';
import { kmallocMinSizeFor, makeProfile, profileOf, type ProfileInput } from './profile.js';
import { kmallocClass, kmallocClasses } from './slab.js';
import { parseKernelVersion } from '../vocab/kernel-version.js';

const v = (s: string) => {
  const parsed = parseKernelVersion(s);
  if (!parsed) throw new Error(s);
  return parsed;
};

describe('kmalloc size classes', () => {
  it('are 8, 16, 32, 64, 96, 128, 192, then powers of two to two pages with KMALLOC_MIN_SIZE 8 (x86-64)', () => {
    expect(kmallocClasses(4096)).toEqual([8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192]);
    expect([1, 8, 9, 65, 96, 97, 129, 193, 8192].map((n) => kmallocClass(n, 4096))).toEqual([8, 8, 16, 96, 96, 128, 192, 256, 8192]);
    expect(kmallocClass(8193, 4096)).toBeUndefined();
  });

  it('start at 128 and have no 96 or 192 with KMALLOC_MIN_SIZE 128 (arm64 before 6.5)', () => {
    expect(kmallocClasses(4096, 128)).toEqual([128, 256, 512, 1024, 2048, 4096, 8192]);
    expect([1, 72, 96, 128, 129, 192, 193].map((n) => kmallocClass(n, 4096, 128))).toEqual([128, 128, 128, 128, 256, 256, 256]);
  });

  it('keep 192 but not 96 with a minimum of 64 (setup_kmalloc_cache_index_table())', () => {
    expect(kmallocClasses(4096, 64)).toEqual([64, 128, 192, 256, 512, 1024, 2048, 4096, 8192]);
    expect([72, 96, 160].map((n) => kmallocClass(n, 4096, 64))).toEqual([128, 128, 192]);
  });

  it('agree with kmallocClass for every size up to two pages', () => {
    for (const min of [8, 64, 128]) {
      const classes = kmallocClasses(4096, min);
      for (let n = 1; n <= 8192; n++) expect(kmallocClass(n, 4096, min)).toBe(classes.find((c) => c >= n));
    }
  });
});

describe('KMALLOC_MIN_SIZE of a profile', () => {
  it('is 8 on x86-64, 128 on arm64 before 6.5 and 8 since', () => {
    expect(kmallocMinSizeFor('x86_64', v('5.10'))).toBe(8);
    expect(kmallocMinSizeFor('arm64', v('5.10'))).toBe(128);
    expect(kmallocMinSizeFor('arm64', v('6.4.16'))).toBe(128);
    expect(kmallocMinSizeFor('arm64', v('6.5'))).toBe(8);
    expect(profileOf({ version: '6.1', arch: 'arm64' })).toMatchObject({ arch: 'arm64', kmallocMinSize: 128 });
    expect(profileOf({ version: '6.1' })).toMatchObject({ arch: 'x86_64', kmallocMinSize: 8 });
  });

  it('refuses an arch or minimum the model does not know, naming it', () => {
    expect(makeProfile({ version: '6.1', arch: 'ppc64' as never })).toEqual({ ok: false, error: 'arch "ppc64" is not x86_64 or arm64' });
    expect(makeProfile({ version: '6.1', kmallocMinSize: 100 })).toEqual({ ok: false, error: 'kmalloc minimum size 100 is not one of 8, 16, 32, 64, 128, 256' });
  });

  it('charges an arm64 5.15 no-prealloc hash insert a 128-byte object where x86-64 takes 96', () => {
    // An element is htab_elem 48 + key 8 + value 24 = 80 bytes, one bpf_map_kmalloc_node() each
    // before 6.1: kmalloc-96 on x86-64, kmalloc-128 on arm64.
    const perInsert = (arch: ProfileInput['arch']) => {
      const k = new ModelKernel(profileOf({ version: '5.15', cpus: 2, cgroup: 2, ...(arch && { arch }) }));
      must(k.createCgroup('/a', { max: Infinity, high: Infinity }));
      must(k.startTask('t', { cgroup: '/a', uid: 0 }));
      must(k.createMap('t', 'h', mapSpec({ type: 'hash', keySize: 8, valueSize: 24, maxEntries: 10_000, flags: MAP_FLAGS.no_prealloc })));
      const bpfOf = () => k.snapshot().cgroups.find((c) => c.path === '/a')?.bpf ?? NaN;
      const before = bpfOf();
      must(k.updateMap('h', 1000, { task: 't' }, 0));
      return (bpfOf() - before) / 1000;
    };
    expect(perInsert('arm64') - perInsert('x86_64')).toBe(128 - 96);
  });
});
