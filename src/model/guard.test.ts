import { describe, expect, it } from 'vitest';
import { ModelKernel } from './kernel.js';
import { makeProfile, profileOf } from './profile.js';
import { STRUCT_SIZES_6_18 } from './structs.js';
import { mapSpec, type MapSpec } from '../vocab/map-spec.js';
import { MAP_TYPES } from '../vocab/maptypes.js';
import { ERRNO } from '../vocab/errno.js';
import { must } from '../vocab/backend.js';
import { BpfmemError } from '../vocab/errors.js';

const INF = Number.POSITIVE_INFINITY;

function ready(): ModelKernel {
  const k = new ModelKernel(profileOf({ version: '6.18', cpus: 2, cgroup: 2 }));
  must(k.createCgroup('/a', { max: INF, high: INF }));
  must(k.startTask('t', { cgroup: '/a', uid: 0 }));
  must(k.createMap('t', 'm', mapSpec({ type: 'hash', keySize: 8, valueSize: 8, maxEntries: 100 })));
  return k;
}

/** Calls `f` and returns the BpfmemError it threw (failing the test if it threw none or another). */
function thrown(f: () => unknown): BpfmemError {
  try {
    f();
  } catch (e) {
    if (e instanceof BpfmemError) return e;
    throw e;
  }
  throw new Error('expected a BpfmemError');
}

describe("the model's API refuses numbers the kernel has no meaning for", () => {
  it.each([Number.NaN, -1, 1.5, INF, '3' as unknown as number])('an element count of %s', (count) => {
    const k = ready();
    const e = thrown(() => k.updateMap('m', count, { task: 't' }, 0));
    expect(e.code).toBe('input');
    expect(e.message).toContain('element count');
    expect(e.message).toContain(String(count));
    // Nothing changed: the map still holds no element, and a good call still works.
    expect(k.snapshot().maps.find((m) => m.name === 'm')?.elements).toBe(0);
    expect(k.updateMap('m', 3, { task: 't' }, 0).ok).toBe(true);
  });

  it('a cpu the profile does not have, and a context that is not one', () => {
    const k = ready();
    expect(thrown(() => k.updateMap('m', 1, { task: 't' }, 2)).message).toBe('cpu: expected a whole number from 0 to 1, got 2');
    expect(thrown(() => k.deleteFromMap('m', 1, -1)).code).toBe('input');
    expect(thrown(() => k.updateMap('m', 1, 'nmi' as never, 0)).message).toContain('"nmi"');
  });

  it('a limit that is neither bytes nor Infinity; Infinity itself is "max"', () => {
    const k = ready();
    expect(thrown(() => k.setLimit('/a', { max: Number.NaN })).message).toBe('memory limit max: expected a whole number from 0 to 9007199254740991, got NaN');
    expect(thrown(() => k.setLimit('/a', { high: -4096 })).code).toBe('input');
    expect(k.setLimit('/a', { max: INF, high: 1 << 20 }).ok).toBe(true);
  });

  it('a map spec whose fields BPF_MAP_CREATE cannot hold', () => {
    const k = ready();
    const good = mapSpec({ type: 'array', keySize: 4, valueSize: 8, maxEntries: 4 });
    const bad: [Partial<MapSpec> | null, RegExp][] = [
      [{ maxEntries: 2 ** 32 }, /^max_entries: expected a whole number from 0 to 4294967295, got 4294967296$/],
      [{ valueSize: Number.NaN }, /^value size: .*got NaN$/],
      [{ keySize: -4 }, /^key size: .*got -4$/],
      [{ type: 'hashmap' as never }, /map type "hashmap" is not one bpfmem knows/],
    ];
    for (const [patch, message] of bad) {
      expect(thrown(() => k.createMap('t', 'x', { ...good, ...patch })).message).toMatch(message);
    }
    expect(thrown(() => k.createMap('t', 'x', null as never)).code).toBe('input');
    // Nothing half-made: the name is still free.
    expect(k.createMap('t', 'x', good).ok).toBe(true);
  });

  it('an allocation of a fraction of a byte, and a program of NaN instructions', () => {
    const k = ready();
    expect(thrown(() => k.allocMemory('t', 0.5)).code).toBe('input');
    expect(thrown(() => k.loadProg('t', 'p', Number.NaN)).message).toMatch(/^instruction count: .*got NaN$/);
  });
});

describe("the model's API refuses cgroup paths, kinds and objects that are not what it takes", () => {
  it.each(['//z', 'a/b', 'nowhere', '/a/', '/a/../b', '', 42 as unknown as string])('the cgroup path %j, before anything changes', (path) => {
    const k = ready();
    const before = JSON.stringify(k.snapshot());
    for (const call of [
      () => k.createCgroup(path, { max: INF, high: INF }),
      () => k.setLimit(path, { max: 4096 }),
      () => k.removeCgroup(path),
      () => k.startTask('u', { cgroup: path, uid: 0 }),
      () => k.moveTask('t', path),
    ]) {
      const e = thrown(call);
      expect(e.code).toBe('input');
      expect(e.message).toMatch(/cgroup/);
    }
    expect(JSON.stringify(k.snapshot())).toBe(before);
  });

  it('limits that are missing, a close of a kind that is neither map nor prog, memory locked by an unknown way, no profile', () => {
    const k = ready();
    expect(thrown(() => k.createCgroup('/b', undefined as never)).message).toBe('cgroup /b: limits: expected { max, high } (bytes, Infinity for none), got nothing');
    expect(thrown(() => k.createCgroup('/b', { max: INF } as never)).message).toMatch(/^memory limit high: /);
    expect(thrown(() => k.close('x' as never, 'm')).message).toBe('close: kind: expected "map" or "prog", got "x"');
    expect(k.snapshot().maps.map((m) => m.name)).toEqual(['m']);
    expect(thrown(() => k.lockMemory('t', 4096, 'x' as never)).message).toBe('locked memory via: expected "mlock" or "io_uring", got "x"');
    expect(thrown(() => new ModelKernel(undefined as never)).message).toMatch(/^ModelKernel: expected a kernel profile/);
    expect(k.snapshot().cgroups.map((c) => c.path)).toEqual(['/', '/a']);
  });
});

describe('profiles from code are checked like profiles from text', () => {
  it.each([
    [{ version: 6.18 }, /kernel version 6.18 is not text/],
    [{ version: '6.18', regime: 'rlimit' }, /regime "rlimit" is not memcg, memlock or none/],
    [{ version: '6.18', cgroup: 3 }, /cgroup version 3 is not 1 or 2/],
    [{ version: '6.18', structs: { bpf_nothing: 1 } }, /struct bpf_nothing is not one whose size the model uses/],
    [{ version: '6.18', structs: { bpf_array: -1 } }, /struct bpf_array size: expected a whole number from 0 to \d+, got -1/],
  ])('%j', (input, message) => {
    const r = makeProfile(input as never);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(message);
    expect(thrown(() => profileOf(input as never)).code).toBe('input');
  });

  it('null is refused, not read', () => {
    expect(makeProfile(null as never).ok).toBe(false);
  });
});

describe("the model's tables cannot be changed by a caller", () => {
  it('struct sizes, map types and errno numbers are frozen', () => {
    expect(Object.isFrozen(STRUCT_SIZES_6_18)).toBe(true);
    expect(Object.isFrozen(MAP_TYPES)).toBe(true);
    expect(Object.values(MAP_TYPES).every((t) => Object.isFrozen(t))).toBe(true);
    expect(Object.isFrozen(ERRNO)).toBe(true);
    expect(() => {
      (STRUCT_SIZES_6_18 as { bpf_array: number }).bpf_array = 1;
    }).toThrow(TypeError);
    // A profile's structs are its own copy: changing it does not reach the table.
    const p = profileOf({ version: '6.18' });
    (p.structs as { bpf_array: number }).bpf_array = 1;
    expect(STRUCT_SIZES_6_18.bpf_array).toBe(312);
    expect(profileOf({ version: '6.18' }).structs.bpf_array).toBe(312);
  });
});
