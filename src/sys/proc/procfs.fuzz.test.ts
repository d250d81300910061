import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fileText, mutated } from '../../../test/fixtures/proc/fuzz.js';
import { fdinfoFixtureNames, readProcFixture } from '../../../test/fixtures/proc/index.js';
import { parseLimits, parseMeminfo, parseStatus } from './procfs.js';
import { parseCmdline } from './cmdline.js';
import { parseProcCgroup } from './pid-cgroup.js';
import { parseFdLink } from './fd.js';
import { fdinfoMemlock, parseFdinfo } from './fdinfo.js';
import type { Result } from '../../vocab/result.js';

/**
 * Fuzzing the procfs parsers with arbitrary text and with captured files edited at random. The
 * properties: a parser never throws, gives the same answer twice, and when it accepts the text,
 * what it returns keeps its promises (kinds match the lines, numbers are safe integers).
 */

const RUNS = { numRuns: 400 };

function stable<T>(parse: (text: string) => T): (text: string) => T {
  return (text) => {
    const a = parse(text);
    expect(parse(text)).toEqual(a);
    return a;
  };
}

const isCount = (n: number | undefined): boolean => n === undefined || (Number.isSafeInteger(n) && n >= 0);

describe('parseFdinfo', () => {
  const seeds = fdinfoFixtureNames().map(readProcFixture);
  const check = (text: string): void => {
    const r = stable(parseFdinfo)(text);
    // The light reader of memlock agrees wherever the full parser accepts the text.
    const memlock = { map: fdinfoMemlock(text, 'map'), prog: fdinfoMemlock(text, 'prog') };
    for (const n of [memlock.map, memlock.prog]) expect(isCount(n)).toBe(true);
    if (r.ok) {
      const v = r.value;
      expect(memlock.map).toBe(v.kind === 'map' ? v.memlock : undefined);
      expect(memlock.prog).toBe(v.kind === 'prog' ? v.memlock : undefined);
    }
    if (!r.ok) {
      expect(r.error.length).toBeGreaterThan(0);
      return;
    }
    const has = (key: string): boolean => text.split('\n').some((l) => l.startsWith(`${key}:`));
    const info = r.value;
    expect(info.kind === 'map').toBe(has('map_type'));
    expect(info.kind === 'prog').toBe(has('prog_type'));
    expect(info.kind === 'link').toBe(has('link_type'));
    for (const n of [info.pos, info.flags, info.mntId, info.ino]) expect(isCount(n)).toBe(true);
    if (info.kind === 'map') {
      for (const n of [info.mapType, info.keySize, info.valueSize, info.maxEntries, info.memlock, info.mapId]) expect(isCount(n)).toBe(true);
      expect(info.mapFlags).toBeLessThanOrEqual(0xffffffff);
    }
  };
  it('never throws on arbitrary text', () => {
    fc.assert(fc.property(fileText(), check), RUNS);
  });
  it('never throws on edited captures', () => {
    fc.assert(fc.property(mutated(seeds), check), RUNS);
  });
});

describe('the other procfs parsers', () => {
  const cases: readonly [string, (text: string) => Result<unknown>, readonly string[]][] = [
    ['parseProcCgroup', parseProcCgroup, [readProcFixture('self-cgroup.txt'), '0::/a (deleted)\n']],
    ['parseStatus', parseStatus, [readProcFixture('self-status.txt')]],
    ['parseMeminfo', parseMeminfo, [readProcFixture('meminfo.txt')]],
    ['parseLimits', parseLimits, [readProcFixture('self-limits.txt')]],
  ];
  it.each(cases)('%s never throws on arbitrary or edited text', (_, parse, seeds) => {
    fc.assert(
      fc.property(fc.oneof(fileText(), mutated(seeds)), (text) => {
        const r = stable(parse)(text);
        if (!r.ok) expect(r.error.length).toBeGreaterThan(0);
      }),
      RUNS,
    );
  });

  it('parseStatus keeps its promises when it accepts text', () => {
    fc.assert(
      fc.property(mutated([readProcFixture('self-status.txt')]), (text) => {
        const r = parseStatus(text);
        if (r.ok) {
          expect(isCount(r.value.pid)).toBe(true);
          for (const n of Object.values(r.value.memory)) expect(n % 1024).toBe(0);
        }
      }),
      RUNS,
    );
  });

  it('parseLimits gives numbers or Infinity', () => {
    fc.assert(
      fc.property(mutated([readProcFixture('self-limits.txt')]), (text) => {
        const r = parseLimits(text);
        if (r.ok) for (const row of Object.values(r.value.rows)) for (const n of [row.soft, row.hard]) expect(n === Infinity || isCount(n)).toBe(true);
      }),
      RUNS,
    );
  });

  it('parseCmdline never throws and never reads past a bare --', () => {
    fc.assert(
      fc.property(fc.oneof(fileText(), mutated([readProcFixture('cmdline.txt')])), (text) => {
        const c = stable(parseCmdline)(text);
        // `--=x` is a parameter (kernel/params.c stops only at a `--` without a value).
        expect(c.params.every((p) => !(p.key === '--' && p.value === undefined))).toBe(true);
        expect(c.memory.nobpf).toBe(c.memory.options.includes('nobpf'));
      }),
      RUNS,
    );
  });

  it('parseFdLink never throws', () => {
    fc.assert(
      fc.property(fileText(), (text) => {
        expect(['map', 'prog', 'link', 'iter', 'btf', 'other']).toContain(parseFdLink(text));
      }),
      RUNS,
    );
  });
});
