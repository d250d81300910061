import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { closeFd, mapCreate } from '../../src/sys/bpf/index.js';
import { MAP_FLAGS } from '../../src/vocab/flags.js';
import type { MapType } from '../../src/vocab/maptypes.js';
import { cli } from '../cli/run.js';
import { liveEnv } from './env.js';

/**
 * `bpfmem estimate` with no --kernel and no --btf describes this machine (src/live/host-profile.ts):
 * its version, its BTF's struct sizes, its possible CPUs. Random map specs are created here with
 * bpf(2) and estimated without options; every fdinfo memlock must be the estimate, byte for byte.
 */

interface Spec {
  readonly type: MapType;
  readonly key: number;
  readonly value: number;
  readonly max: number;
  readonly flags: number;
}

const pow2 = fc.integer({ min: 0, max: 16 }).map((e) => 2 ** e);
const spec: fc.Arbitrary<Spec> = fc.oneof(
  fc.record({
    type: fc.constantFrom<MapType>('hash', 'lru_hash', 'percpu_hash', 'lru_percpu_hash'),
    key: fc.integer({ min: 1, max: 64 }),
    value: fc.integer({ min: 1, max: 256 }),
    max: fc.integer({ min: 1, max: 20_000 }),
    flags: fc.constant(0),
  }),
  fc.record({ type: fc.constant<MapType>('hash'), key: fc.integer({ min: 1, max: 64 }), value: fc.integer({ min: 1, max: 256 }), max: fc.integer({ min: 1, max: 20_000 }), flags: fc.constant(MAP_FLAGS.no_prealloc) }),
  fc.record({ type: fc.constantFrom<MapType>('array', 'percpu_array'), key: fc.constant(4), value: fc.integer({ min: 1, max: 512 }), max: fc.integer({ min: 1, max: 20_000 }), flags: fc.constant(0) }),
  fc.record({ type: fc.constantFrom<MapType>('queue', 'stack'), key: fc.constant(0), value: fc.integer({ min: 1, max: 256 }), max: fc.integer({ min: 1, max: 5000 }), flags: fc.constant(0) }),
  fc.record({ type: fc.constant<MapType>('ringbuf'), key: fc.constant(0), value: fc.constant(0), max: pow2.map((p) => p * 4096), flags: fc.constant(0) }),
  fc.record({ type: fc.constant<MapType>('lpm_trie'), key: fc.integer({ min: 5, max: 20 }), value: fc.integer({ min: 1, max: 64 }), max: fc.integer({ min: 1, max: 1000 }), flags: fc.constant(MAP_FLAGS.no_prealloc) }),
  fc.record({ type: fc.constant<MapType>('stack_trace'), key: fc.constant(4), value: fc.constantFrom(8, 64, 1016), max: fc.integer({ min: 1, max: 2000 }), flags: fc.constant(0) }),
);

/** fdinfo `memlock` of an open map fd of this process. */
const memlockOf = (fd: number): number => Number(/^memlock:\s+(\d+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1]);

describe.skipIf(!liveEnv.ok)('bpfmem estimate describes the kernel it runs on', () => {
  it('gives the memlock this kernel shows for 40 random map specs, with no --kernel or --btf', async () => {
    const specs = fc.sample(spec, { numRuns: 40, seed: 20261204 });
    const made: { spec: Spec; memlock: number }[] = [];
    for (const s of specs) {
      const fd = mapCreate({ type: s.type, keySize: s.key, valueSize: s.value, maxEntries: s.max, flags: s.flags });
      try {
        made.push({ spec: s, memlock: memlockOf(fd) });
      } finally {
        closeFd(fd);
      }
    }
    const args = made.flatMap(({ spec: s }, i) => ['--map', `type=${s.type},key=${s.key},value=${s.value},max_entries=${s.max},flags=${s.flags},name=m${i}`]);
    const run = await cli(['estimate', '--json', ...args]);
    expect(run.stderr).toBe('');
    const out = JSON.parse(run.stdout) as { profile: { basis: { kind: string } }; maps: { name: string; memlock: number }[] };
    expect(out.profile.basis.kind).toBe('this-kernel');
    expect(out.maps.map((m) => m.memlock)).toEqual(made.map((m) => m.memlock));
  });
});
