import { release } from 'node:os';
import { describe, expect, it } from 'vitest';
import { readProcFixture } from '../../test/fixtures/proc/index.js';
import { parseKernelVersion, type KernelVersion } from '../vocab/kernel-version.js';
import { describeMachine, readKernelProfile } from './machine.js';
import { regimeOf } from './kernel-facts.js';
import { parseCmdline } from '../sys/proc/cmdline.js';

const v = (text: string): KernelVersion => {
  const version = parseKernelVersion(text);
  if (!version) throw new Error(text);
  return version;
};

describe('regimeOf', () => {
  it.each([
    ['6.18', 'the 6.18 capture', readProcFixture('cmdline.txt'), 'memcg', /charges BPF/],
    ['6.18', 'no command line', undefined, 'memcg', /charges BPF/],
    ['6.18', 'nobpf', 'cgroup.memory=nobpf', 'none', /nobpf: BPF maps and programs are not charged/],
    ['6.3', 'nobpf on 6.3', 'cgroup.memory=nobpf', 'none', /nobpf/],
    ['6.2', 'nobpf before 6.3', 'cgroup.memory=nobpf', 'memcg', /ignored by kernel 6.2/],
    ['5.15', 'nokmem', 'cgroup.memory=nosocket,nokmem', 'none', /nokmem/],
    ['6.1', 'cgroup_disable=memory', 'cgroup_disable=memory', 'none', /controller is off/],
    ['5.10', 'nokmem before 5.11', 'cgroup.memory=nokmem', 'memlock', /predates memcg accounting/],
    ['5.11', 'the first memcg kernel', '', 'memcg', /charges BPF/],
    ['4.19', 'an old kernel', 'quiet', 'memlock', /RLIMIT_MEMLOCK/],
    ['6.18', 'nobpf after --', 'quiet -- cgroup.memory=nobpf', 'memcg', /charges BPF/],
  ])('%s with %s → %s', (version, _, cmdline, regime, reason) => {
    const r = regimeOf(v(version), cmdline === undefined ? undefined : parseCmdline(cmdline));
    expect(r.regime).toBe(regime);
    expect(r.reason).toMatch(reason);
  });
});

describe('this machine', () => {
  it('describes itself', async () => {
    const m = await describeMachine();
    expect(m.release).toBe(release());
    expect(m.possibleCpus).toBeGreaterThanOrEqual(1);
    expect([4096, 16384, 65536]).toContain(m.pageSize);
    expect(m.cmdline?.params.length).toBeGreaterThan(0);
    if (m.memory.ok) expect(m.cgroupVersion).toBe(m.memory.hierarchy.version);
    expect(m.memlock?.soft).toBeGreaterThanOrEqual(0);
    expect(m.regimeReason).not.toBe('');
  });

  it('has a kernel profile that agrees with its description', async () => {
    const [m, p] = await Promise.all([describeMachine(), readKernelProfile()]);
    expect(p.release).toBe(m.release);
    expect(p.possibleCpus).toBe(m.possibleCpus);
    expect(p.pageSize).toBe(m.pageSize);
    expect(p.cgroupVersion).toBe(m.cgroupVersion);
    expect(p.regime).toBe(m.regime);
  });
});
