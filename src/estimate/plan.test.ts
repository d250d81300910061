import { describe, expect, it } from 'vitest';
import { profileOf } from '../model/profile.js';
import type { MapSpec } from '../vocab/map-spec.js';
import type { MapType } from '../vocab/maptypes.js';
import { LOADERS } from './loaders.js';
import { estimateMaps } from './maps.js';
import { applyPlan, namedSpecs, type PlannedMap, type SetOverride } from './plan.js';
import { specMaps } from './run.js';

const P618 = profileOf({ version: '6.18', cpus: 2, pageSize: 4096 });

/** A map of an object (`source` set), as objectMaps plans it. */
function objectMap(name: string, type: MapType, maxEntries: number, more: Partial<PlannedMap> = {}): PlannedMap {
  const spec: MapSpec = { type, keySize: type.endsWith('storage') ? 4 : 0, valueSize: type.endsWith('storage') ? 8 : 0, maxEntries, flags: 0, mapExtra: 0 };
  return { name, aliases: [], source: 'btf', origin: 'obj.bpf.o', spec, elements: 0, notes: [], kernelName: name, ...more };
}

const set = (name: string, value: number): SetOverride => ({ name, field: 'max_entries', value });
/** The maps after `--set`, as `bpfmem estimate --loader NAME` plans them. */
function planned(maps: readonly PlannedMap[], sets: readonly SetOverride[], loaderName = 'libbpf', pageSize = 4096): PlannedMap[] {
  const l = LOADERS.find((x) => x.name === loaderName);
  if (!l) throw new Error(`no loader ${loaderName}`);
  const r = applyPlan(maps, sets, [], { resizesDataMaps: l.resizesDataMaps, loader: l.name, roundsRingbufs: l.roundsRingbufs, pageSize });
  if (!r.ok) throw new Error(r.error);
  return r.value;
}

describe('--set of a ring buffer size: rounded as libbpf rounds it (bpf_map__set_max_entries → adjust_ringbuf_sz)', () => {
  // Measured by a loader linked with Debian's libbpf 1.1.2 on the 6.18 host (bpf_map__set_max_entries,
  // then fdinfo): 5000 → 8192 (memlock 20840), 5 → 4096 (16728), 12288 → 16384 (29064).
  it.each<[number, number, number]>([
    [5000, 8192, 20840],
    [5, 4096, 16728],
    [12288, 16384, 29064],
    [4096, 4096, 16728],
  ])('ringbuf max_entries=%i is created with %i (memlock %i)', (value, size, memlock) => {
    for (const l of ['libbpf', 'libbpf-1.1', 'libbpf-1.0', 'bpftool-7.1']) {
      const [m] = planned([objectMap('rb', 'ringbuf', 256 * 1024)], [set('rb', value)], l);
      expect(m?.spec.maxEntries).toBe(size);
      expect(m?.decided?.max_entries).toBe('--set');
      const e = estimateMaps(namedSpecs(m ? [m] : []), P618).maps[0];
      expect(e).toMatchObject({ ok: true, memlock });
    }
  });

  it('user_ringbuf too, from libbpf 1.1 (map_is_ringbuf, 9e9bf46c); libbpf 1.0 leaves it to the kernel, which refuses it', () => {
    expect(planned([objectMap('urb', 'user_ringbuf', 0)], [set('urb', 12288)], 'libbpf-1.1')[0]?.spec.maxEntries).toBe(16384);
    expect(planned([objectMap('urb', 'user_ringbuf', 0)], [set('urb', 12288)], 'bpftool-7.1')[0]?.spec.maxEntries).toBe(16384);
    const old = planned([objectMap('urb', 'user_ringbuf', 0)], [set('urb', 12288)], 'libbpf-1.0');
    expect(old[0]?.spec.maxEntries).toBe(12288);
    expect(estimateMaps(namedSpecs(old), P618).maps[0]).toMatchObject({ ok: false, errno: 'EINVAL' });
  });

  it('with the host\'s page size, and the note says what was set and what libbpf made of it', () => {
    const [m] = planned([objectMap('rb', 'ringbuf', 4096, { notes: ['max_entries 5000: libbpf rounds it up to 8192, a power-of-2 number of pages (adjust_ringbuf_sz)'] })], [set('rb', 20000)], 'libbpf', 16384);
    expect(m?.spec.maxEntries).toBe(32768);
    // The object's own size, and its rounding, no longer apply.
    expect(m?.notes).toEqual(['max_entries 20000 (--set), rounded up by libbpf to 32768, a power-of-2 number of pages (bpf_map__set_max_entries: adjust_ringbuf_sz)']);
  });

  it('a --map ring buffer has no loader: the kernel refuses a size that is not whole pages', () => {
    const maps = specMaps(['type=ringbuf,max_entries=4096,name=rb']);
    const [m] = planned(maps, [set('rb', 5000)]);
    expect(m?.spec.maxEntries).toBe(5000);
    expect(estimateMaps(namedSpecs(m ? [m] : []), P618).maps[0]).toMatchObject({ ok: false, errno: 'EINVAL' });
  });
});

describe('local and cgroup storage maps: max_entries 0 is what the kernel wants, not a size left to the loader', () => {
  const storages: MapType[] = ['sk_storage', 'task_storage', 'inode_storage', 'cgrp_storage', 'cgroup_storage', 'percpu_cgroup_storage'];

  it('no note asks for --set NAME.max_entries=N', () => {
    const out = planned([...storages.map((t) => objectMap(t, t, 0)), objectMap('h', 'hash', 0)], []);
    for (const m of out.slice(0, -1)) expect(m.notes.filter((n) => n.includes('max_entries'))).toEqual([]);
    // A hash of max_entries 0 is still flagged.
    expect(out.at(-1)?.notes).toContain('max_entries is 0 in the object: the loader sets it (--set h.max_entries=N)');
    // From --map too.
    const [sk] = planned(specMaps(['type=sk_storage,key=4,value=8,flags=no_prealloc,name=sk']), []);
    expect(sk?.notes).toEqual([]);
  });

  it('--set *.max_entries=N passes them by; naming one sets it, and the kernel refuses it (EINVAL)', () => {
    const all = planned([objectMap('sks', 'sk_storage', 0), objectMap('h', 'hash', 0)], [set('*', 64)]);
    expect(all.map((m) => m.spec.maxEntries)).toEqual([0, 64]);
    const [named] = planned([objectMap('sks', 'sk_storage', 0)], [set('sks', 64)]);
    expect(named?.spec.maxEntries).toBe(64);
  });
});

describe('map names the kernel checks (bpf_obj_name_cpy)', () => {
  it('--map name=my-map: EINVAL naming the character; a label given no name= is not checked', () => {
    const e = estimateMaps(namedSpecs(specMaps(['type=hash,key=4,value=4,max_entries=10,name=my-map', 'type=hash,key=4,value=4,max_entries=10'])), P618);
    expect(e.maps[0]).toMatchObject({ name: 'my-map', ok: false, errno: 'EINVAL', reason: expect.stringMatching(/"-" \(U\+002D\), at byte 3 of the name/) as unknown });
    expect(e.maps[1]).toMatchObject({ name: 'map1', ok: true });
    expect(e.total.memlock).toBe((e.maps[1]?.ok && e.maps[1].memlock) || -1);
  });

  it('a name longer than 15 bytes is cut by libbpf, not refused, and the note says what the kernel keeps', () => {
    const [m] = specMaps(['type=hash,key=4,value=4,max_entries=10,name=a_very_long_label_here']);
    expect(m?.notes).toEqual(['the kernel keeps the first 15 bytes of its name: a_very_long_lab (libbpf_strlcpy in bpf_map_create)']);
    expect(estimateMaps(namedSpecs(m ? [m] : []), P618).maps[0]?.ok).toBe(true);
  });

  it('an object map whose ELF name has an ESC is refused; kernels before 4.15 take no name at all', () => {
    const esc = objectMap('ev\u001b[2J', 'hash', 10, { spec: { type: 'hash', keySize: 4, valueSize: 4, maxEntries: 10, flags: 0, mapExtra: 0 } });
    expect(estimateMaps(namedSpecs([esc]), P618).maps[0]).toMatchObject({ ok: false, errno: 'EINVAL', reason: expect.stringMatching(/U\+001B, at byte 3/) as unknown });
    const old = profileOf({ version: '4.14', cpus: 2, pageSize: 4096, regime: 'memlock' });
    expect(estimateMaps(namedSpecs([esc]), old).maps[0]?.ok).toBe(true);
  });

  it('a map the model refuses keeps the model\'s errno: map_create() checks the name after allocating', () => {
    const e = estimateMaps(namedSpecs(specMaps(['type=percpu_array,key=4,value=40000,max_entries=1,name=bad-name'])), P618);
    expect(e.maps[0]).toMatchObject({ ok: false, errno: 'E2BIG' });
  });
});
