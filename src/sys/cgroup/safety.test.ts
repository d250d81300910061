import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  checkPrefix,
  checkStaleTarget,
  checkWriteTarget,
  isNormalizedAbsolute,
  ownedRootName,
  parseOwnedRootName,
  parseRelPath,
} from './safety.js';

const ROOT = '/sys/fs/cgroup/memory/process_api/abc/bpfmem-live-4242-0badc0de';

describe('parseRelPath', () => {
  it.each([
    ['/', []],
    ['/pods', ['pods']],
    ['/pods/agent', ['pods', 'agent']],
    ['/kubepods.slice/user@1000.service/cri-containerd-0a1b.scope', ['kubepods.slice', 'user@1000.service', 'cri-containerd-0a1b.scope']],
    ['/a:b/c+d', ['a:b', 'c+d']],
  ])('accepts %j', (path, names) => {
    expect(parseRelPath(path)).toEqual({ ok: true, value: names });
  });

  it.each([
    ['pods/agent', /not absolute/],
    ['', /not absolute/],
    ['/pods/', /ends with \//],
    ['//pods', /empty name/],
    ['/pods//agent', /empty name/],
    ['/..', /contains \.\./],
    ['/pods/../../etc', /contains \.\./],
    ['/pods/./agent', /contains \./],
    ['/pods agent', /character other than/],
    ['/pods\nagent', /character other than/],
    ['/pods\0', /character other than/],
    ['/é', /character other than/],
    [`/${'a'.repeat(256)}`, /longer than 255/],
    ['/memory.limit_in_bytes', /interface file/],
    ['/pods/cgroup.procs', /interface file/],
    ['/tasks', /interface file/],
  ])('refuses %j, naming it', (path, reason) => {
    const r = parseRelPath(path);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error).toMatch(reason);
      expect(r.error).toContain(JSON.stringify(path.length > 60 ? `${path.slice(0, 60)}…` : path));
    }
  });
});

describe('checkWriteTarget', () => {
  it.each([`${ROOT}/pods`, `${ROOT}/pods/agent`, `${ROOT}/a.b`])('allows %s', (target) => {
    expect(checkWriteTarget(ROOT, target)).toBeUndefined();
  });

  it.each([
    [ROOT, /not strictly below the owned root/],
    [`${ROOT}-evil/pods`, /not strictly below/],
    ['/sys/fs/cgroup/memory/process_api/abc', /not strictly below/],
    ['/sys/fs/cgroup/memory', /not strictly below/],
    ['/sys/fs/cgroup/memory/other/pods', /not strictly below/],
    [`${ROOT}/pods/../../x`, /not a normalized absolute path/],
    [`${ROOT}/../x`, /not a normalized absolute path/],
    [`${ROOT}/./pods`, /not a normalized absolute path/],
    [`${ROOT}//pods`, /not a normalized absolute path/],
    [`${ROOT}/pods/`, /not a normalized absolute path/],
    ['relative/pods', /not a normalized absolute path/],
  ])('refuses %s, naming it', (target, reason) => {
    const why = checkWriteTarget(ROOT, target);
    expect(why).toMatch(reason);
    expect(why).toContain(JSON.stringify(target));
  });

  it('refuses everything without an owned root', () => {
    expect(checkWriteTarget(undefined, `${ROOT}/pods`)).toMatch(/no owned root/);
  });

  it('refuses everything under an owned root that is not normalized', () => {
    expect(checkWriteTarget(`${ROOT}/../x`, `${ROOT}/../x/pods`)).toMatch(/owned root .* is not a normalized absolute path/);
  });

  it('allows only what normalizes to a place strictly below the root (property)', () => {
    const name = fc.constantFrom('pods', 'agent', '..', '.', '', 'x y', 'bpfmem-live-4242-0badc0de');
    fc.assert(
      fc.property(fc.array(name, { maxLength: 6 }), (names) => {
        const target = `${ROOT}/${names.join('/')}`;
        const allowed = checkWriteTarget(ROOT, target) === undefined;
        const resolved = `/${target.split('/').filter(Boolean).reduce<string[]>((acc, n) => (n === '..' ? acc.slice(0, -1) : n === '.' ? acc : [...acc, n]), []).join('/')}`;
        if (allowed) {
          expect(resolved).toBe(target);
          expect(resolved.startsWith(`${ROOT}/`)).toBe(true);
        }
      }),
    );
  });
});

describe('owned-root names', () => {
  it('round-trip', () => {
    expect(parseOwnedRootName(ownedRootName('live', 4242, '0badc0de'))).toEqual({ prefix: 'live', pid: 4242, random: '0badc0de' });
    expect(parseOwnedRootName(ownedRootName('conf_grid2', 1, 'ffffffff'))).toEqual({ prefix: 'conf_grid2', pid: 1, random: 'ffffffff' });
  });
  it.each([['bpfmem-live-4242'], ['bpfmem-live-x-0badc0de'], ['bpfmem-Live-1-0badc0de'], ['bpfmem-live-1-0badc0d'], ['xbpfmem-live-1-0badc0de'], ['bpfmem-live-0-0badc0de']])(
    'do not match %j',
    (name) => {
      expect(parseOwnedRootName(name)).toBeUndefined();
    },
  );
  it.each([['live'], ['conf_grid'], ['a1']])('prefix %j is fine', (p) => {
    expect(checkPrefix(p)).toBeUndefined();
  });
  it.each([[''], ['a-b'], ['A'], ['_a'], ['a_'], ['a__b'], ['x'.repeat(25)], ['a/b']])('prefix %j is refused', (p) => {
    expect(checkPrefix(p)).toMatch(/prefix/);
  });
});

describe('checkStaleTarget', () => {
  const OWN = '/sys/fs/cgroup/memory/process_api/abc';
  const dead = (): boolean => false;
  it.each([`${OWN}/bpfmem-live-77-0badc0de`, `${OWN}/bpfmem-live-77-0badc0de/pods/agent`])('allows %s of a dead process', (target) => {
    expect(checkStaleTarget(OWN, 'live', target, dead)).toBeUndefined();
  });
  it.each([
    [`${OWN}/bpfmem-live-77-0badc0de`, 'live', () => true, /process 77 that made it is alive/],
    [`${OWN}/bpfmem-other-77-0badc0de`, 'live', dead, /not a bpfmem-live-PID-RANDOM directory/],
    [`${OWN}/pods`, 'live', dead, /not a bpfmem-live/],
    [OWN, 'live', dead, /not a normalized path below/],
    [`${OWN}/bpfmem-live-77-0badc0de/../x`, 'live', dead, /not a normalized path below/],
    ['/sys/fs/cgroup/memory/other/bpfmem-live-77-0badc0de', 'live', dead, /not a normalized path below/],
  ])('refuses %s', (target, prefix, alive, reason) => {
    expect(checkStaleTarget(OWN, prefix, target, alive)).toMatch(reason);
  });
});

describe('isNormalizedAbsolute', () => {
  it.each([
    ['/', true],
    ['/a/b', true],
    ['/a/b/', false],
    ['/a//b', false],
    ['/a/./b', false],
    ['/a/../b', false],
    ['a/b', false],
    ['/a\0', false],
  ])('%j → %s', (path, expected) => {
    expect(isNormalizedAbsolute(path)).toBe(expected);
  });
});
