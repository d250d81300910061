import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fdinfoMemlock } from '../model/maps/memlock.js';
import { profileOf } from '../model/profile.js';
import type { MapSpec } from '../vocab/map-spec.js';
import { MAP_TYPES } from '../vocab/maptypes.js';
import type { RawMap } from '../vocab/inventory.js';
import type { KernelProfile } from '../vocab/profile.js';
import { dumpMaps } from '../estimate/run.js';
import { parseBpftoolMaps } from './bpftool.js';
import { dumpCandidates, inferDumpHost, rawMapsOf, readDumpAs } from './from-bpftool.js';

/**
 * Which kernel and CPU count a bpftool dump was taken on, from its maps' memlock
 * (`estimate --from-bpftool` reads what a map holds under them, not under the kernel it
 * estimates for).
 */

/** The calibration host: 6.18 with 2 possible CPUs (docs/kernel-facts.md §0). */
const HERE = profileOf({ version: '6.18.44-fc-v1300', cpus: 2 });

let nextId = 1;
/** A map as a dump of a host of `profile` prints it, with `elements` inserted. */
function printed(spec: MapSpec, elements: number, profile: KernelProfile): RawMap {
  return {
    id: nextId++,
    type: MAP_TYPES[spec.type].id,
    name: spec.type.slice(0, 15),
    keySize: spec.keySize,
    valueSize: spec.valueSize,
    maxEntries: spec.maxEntries,
    flags: spec.flags,
    mapExtra: 0,
    memlock: fdinfoMemlock(spec, elements, profile),
  };
}

const spec = (type: MapSpec['type'], keySize: number, valueSize: number, maxEntries: number, flags = 0): MapSpec => ({ type, keySize, valueSize, maxEntries, flags, mapExtra: 0 });
const PCPU = spec('percpu_array', 4, 8, 16);
const HASH = spec('hash', 4, 8, 100);
const ARRAY = spec('array', 4, 64, 128);
const FILLED = spec('hash', 4, 8, 1000, 1);

describe('inferDumpHost', () => {
  it('finds the kernel and CPU count a dump was printed on among the candidates, whatever comes first', () => {
    const there = profileOf({ version: '6.12', cpus: 64 });
    const dump = [printed(PCPU, 0, there), printed(HASH, 0, there), printed(ARRAY, 0, there), printed(FILLED, 300, there)];
    const host = inferDumpHost(dump, dumpCandidates([HERE], HERE.pageSize));
    expect(host).toMatchObject({ basis: 'memlock', cpusFromDump: true, checked: 3, fit: 3 });
    expect([host.profile.release, host.profile.possibleCpus]).toEqual(['6.12', 64]);
    // What the no-prealloc hash holds is read under that host: 300, as printed.
    expect(dumpMaps(dump, 'dump.json', host.profile)[3]?.elements).toBe(300);
    const read = readDumpAs(dump, 'd.json', { machine: HERE, options: { kernel: '--kernel', cpus: '--cpus' } });
    expect(read).toMatchObject({ ok: true, value: { kernelBasis: 'memlock', cpusBasis: 'memlock', line: "d.json, read as kernel 6.12 (as its maps' memlock says) with 64 possible CPUs (as its maps' memlock says)" } });
  });

  it('prefers the first candidate where several fit', () => {
    const dump = [printed(PCPU, 0, HERE), printed(ARRAY, 0, HERE)];
    const host = inferDumpHost(dump, dumpCandidates([HERE], HERE.pageSize));
    expect(host.profile.release).toBe(HERE.release);
    expect(host.profile.possibleCpus).toBe(2);
    const read = readDumpAs(dump, 'd.json', { machine: HERE, options: { kernel: '--kernel', cpus: '--cpus' } });
    expect(read.ok && read.value.line).toBe("d.json, read as kernel 6.18.44 (this machine's, as its maps' memlock says) with 2 possible CPUs (as its maps' memlock says)");
  });

  it('reads the CPU count from a hash whose memlock counts its per-CPU extra elements, with no per-CPU map', () => {
    const there = profileOf({ version: '6.18', cpus: 12 });
    const host = inferDumpHost([printed(HASH, 0, there)], [HERE]);
    expect(host).toMatchObject({ basis: 'memlock', cpusFromDump: true });
    expect(host.profile.possibleCpus).toBe(12);
  });

  it('says when no map tells kernels apart, and when none fits', () => {
    const unchecked = inferDumpHost([printed(FILLED, 10, HERE)], [HERE]);
    expect(unchecked).toMatchObject({ basis: 'unchecked', cpusFromDump: false, checked: 0 });
    const options = { kernel: '--dump-kernel', cpus: '--dump-cpus' };
    const read = readDumpAs([printed(FILLED, 10, HERE)], 'd.json', { machine: HERE, options });
    expect(read.ok && read.value.line).toBe("d.json, read as kernel 6.18.44 (this machine's, as no map's memlock tells kernels apart; give --dump-kernel) with 2 possible CPUs (this machine's; give --dump-cpus)");
    const odd = { ...printed(ARRAY, 0, HERE), memlock: 12_345 };
    const unmatched = inferDumpHost([odd, printed(PCPU, 0, HERE)], dumpCandidates([HERE], HERE.pageSize));
    expect(unmatched).toMatchObject({ basis: 'unmatched', checked: 2, fit: 1 });
    const odd2 = [odd, printed(PCPU, 0, HERE)];
    const closest = readDumpAs(odd2, 'd.json', { machine: HERE, options: { kernel: '--kernel', cpus: '--cpus' } });
    expect(closest.ok && closest.value.line).toMatch(/^d\.json, read as kernel \S+ \(the closest: 1 of 2 map layouts fit its memlock; give --kernel\) with /);
    // Named by an option: as given, and said where the memlock does not fit it.
    const given = readDumpAs(odd2, 'd.json', { machine: HERE, kernel: HERE, cpus: 4, options: { kernel: '--kernel', cpus: '--cpus' } });
    expect(given).toMatchObject({ ok: true, value: { kernelBasis: 'option', cpusBasis: 'option', line: 'd.json, read as kernel 6.18.44 (as given, though 1 of 2 map layouts fit its memlock) with 4 possible CPUs (as given)' } });
    expect(readDumpAs(odd2, 'd.json', { machine: HERE, cpus: 9000, options: { kernel: '--kernel', cpus: '--cpus' } })).toEqual({ ok: false, error: '--cpus 9000: cpus 9000 is not a number of possible CPUs (1–8192)' });
  });

  it('reads a captured dump (test/fixtures/bpftool/map-show-filled.json) as the host it was captured on, with the 500 entries it held', () => {
    const maps = rawMapsOf(parseBpftoolMaps(readFileSync('test/fixtures/bpftool/map-show-filled.json'), 'map-show-filled.json'));
    // Whatever kernel is estimated for: the dump's own host is found among the candidates.
    for (const target of [profileOf({ version: '6.1', cpus: 192 }), profileOf({ version: '5.10', cpus: 4 }), HERE]) {
      const host = inferDumpHost(maps, dumpCandidates([target, HERE], HERE.pageSize));
      expect([host.basis, host.profile.release, host.profile.possibleCpus]).toEqual(['memlock', HERE.release, 2]);
      expect(dumpMaps(maps, 'map-show-filled.json', host.profile).map((m) => m.elements)).toEqual([500, 0]);
    }
  });
});
