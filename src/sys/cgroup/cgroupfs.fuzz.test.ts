import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readV1Fixture, type V1FixtureDir } from '../../../test/fixtures/cgroup-v1/index.js';
import { readV2Fixture } from '../../../test/fixtures/cgroup-v2/index.js';
import { fileText, mutated } from '../../../test/fixtures/proc/fuzz.js';
import { readProcFixture } from '../../../test/fixtures/proc/index.js';
import { findMemoryHierarchy, parseMountinfo } from './mount.js';
import {
  countersFromFiles,
  parseCgroupStat,
  parseCounter,
  parseEvents,
  parseLimit,
  parseMemoryStat,
  parseOomControl,
  COUNTER_FILES,
} from './parse.js';
import { checkWriteTarget, parseRelPath } from './safety.js';
import type { Result } from '../../vocab/result.js';

/**
 * Fuzzing the cgroupfs parsers and path rules with arbitrary text and with captured (v1) or
 * hand-made (v2) files edited at random: never a throw, the same answer twice, and accepted
 * values that keep their promises.
 */

const RUNS = { numRuns: 400 };
const v1 = (dir: V1FixtureDir, name: string): string => readV1Fixture(dir, name) ?? '';
const v2 = (name: string): string => readV2Fixture('6.18/pods/agent', name) ?? '';

describe('file parsers', () => {
  const cases: readonly [string, (text: string) => Result<unknown>, readonly string[]][] = [
    ['parseLimit', parseLimit, ['max\n', '9223372036854771712\n', '67108864\n']],
    ['parseCounter', parseCounter, ['8650752\n']],
    ['parseMemoryStat', parseMemoryStat, [v1('array-8mib', 'memory.stat'), v1('own', 'memory.stat'), v2('memory.stat')]],
    ['parseEvents', parseEvents, [v2('memory.events')]],
    ['parseOomControl', parseOomControl, [v1('limit-hit', 'memory.oom_control')]],
    ['parseCgroupStat', parseCgroupStat, [v2('cgroup.stat')]],
    ['parseMountinfo', parseMountinfo, [readProcFixture('self-mountinfo.txt')]],
  ];
  it.each(cases)('%s never throws on arbitrary or edited text', (_, parse, seeds) => {
    fc.assert(
      fc.property(fc.oneof(fileText(), mutated(seeds)), (text) => {
        const r = parse(text);
        expect(parse(text)).toEqual(r);
        if (!r.ok) expect(r.error.length).toBeGreaterThan(0);
      }),
      RUNS,
    );
  });

  it('parseLimit gives a whole number of bytes or Infinity', () => {
    fc.assert(
      fc.property(fc.oneof(fileText(), fc.bigInt({ min: 0n, max: 2n ** 64n }).map((n) => `${n}\n`)), (text) => {
        const r = parseLimit(text);
        if (r.ok) expect(r.value === Infinity || (Number.isSafeInteger(r.value) && r.value >= 0)).toBe(true);
      }),
      RUNS,
    );
  });
});

describe('countersFromFiles', () => {
  it('never throws on v1 or v2 directories with edited files', () => {
    const version = fc.constantFrom(1 as const, 2 as const);
    fc.assert(
      fc.property(version, fc.dictionary(fc.constantFrom(...COUNTER_FILES[1], ...COUNTER_FILES[2]), fc.oneof(fileText(), mutated([v2('memory.stat'), v1('empty', 'memory.stat'), '0\n', 'max\n']))), (ver, files) => {
        const r = countersFromFiles(ver, (n) => files[n]);
        if (r.ok) {
          expect(Number.isSafeInteger(r.value.usage)).toBe(true);
          expect(r.value.max === Infinity || Number.isSafeInteger(r.value.max)).toBe(true);
          if (ver === 1) expect(r.value.high).toBeUndefined();
          else expect(r.value.failcnt).toBeUndefined();
        }
      }),
      RUNS,
    );
  });
});

describe('findMemoryHierarchy', () => {
  it('never throws, and what it finds is below its mount point', () => {
    const mountinfo = fc.oneof(fileText(), mutated([readProcFixture('self-mountinfo.txt'), readV2Fixture(undefined, 'proc-self-mountinfo.txt') ?? '']));
    const cgroup = fc.oneof(fileText(), mutated([readProcFixture('self-cgroup.txt'), readV2Fixture(undefined, 'proc-self-cgroup.txt') ?? '']));
    fc.assert(
      fc.property(mountinfo, cgroup, fc.option(fc.constantFrom('memory\n', 'cpu io memory\n', 'cpu\n', '')), (m, c, controllers) => {
        const r = findMemoryHierarchy(m, c, controllers ?? undefined);
        if (r.ok) expect(r.hierarchy.ownDir.startsWith(r.hierarchy.mountPoint)).toBe(true);
        else expect(r.reason.length).toBeGreaterThan(0);
      }),
      RUNS,
    );
  });
});

describe('path rules', () => {
  const ROOT = '/sys/fs/cgroup/memory/own/bpfmem-fuzz-1-0badc0de';
  it('an accepted relative path always resolves strictly below the owned root (or to it)', () => {
    const segment = fc.oneof(fc.constantFrom('..', '.', '', 'pods', 'a b', 'memory.max', '%2e%2e'), fc.string({ maxLength: 8 }));
    const path = fc.oneof(fileText(), fc.array(segment, { maxLength: 5 }).map((s) => `/${s.join('/')}`));
    fc.assert(
      fc.property(path, (p) => {
        const r = parseRelPath(p);
        if (!r.ok) return;
        const dir = r.value.length === 0 ? ROOT : `${ROOT}/${r.value.join('/')}`;
        if (r.value.length > 0) expect(checkWriteTarget(ROOT, dir)).toBeUndefined();
        expect(r.value.every((n) => n !== '..' && n !== '.' && n !== '' && !n.includes('/'))).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });
});
