import { describe, expect, it } from 'vitest';
import { BpfmemError } from '../vocab/errors.js';
import { ensureMemlock, planMemlock, type MemlockPlanInput } from './memlock.js';

const KiB = 1024;
const MiB = 1024 * 1024;
const INF = Number.POSITIVE_INFINITY;
const OLD = { precharged: true, reason: 'this kernel precharges BPF maps against RLIMIT_MEMLOCK' };
const NEW = { precharged: false, reason: 'this kernel does not count BPF against RLIMIT_MEMLOCK' };

const input = (more: Partial<MemlockPlanInput>): MemlockPlanInput => ({ regime: OLD, current: { soft: 64 * KiB, hard: 64 * KiB }, capSysResource: true, bytes: INF, ...more });

describe('planMemlock: raise RLIMIT_MEMLOCK only where the kernel counts BPF against it', () => {
  it('leaves it alone on a kernel that charges memory cgroups, however low it is', () => {
    const plan = planMemlock(input({ regime: NEW, current: { soft: 0, hard: 0 }, capSysResource: false }));
    expect(plan).toMatchObject({ action: 'keep', reason: expect.stringMatching(/does not limit BPF here; left as it is$/) as unknown });
  });

  it('leaves it alone where it is already high enough', () => {
    expect(planMemlock(input({ current: { soft: INF, hard: INF } })).action).toBe('keep');
    expect(planMemlock(input({ current: { soft: 64 * MiB, hard: INF }, bytes: 32 * MiB })).action).toBe('keep');
  });

  it('raises only the soft limit when the hard limit allows it (no privilege needed)', () => {
    const plan = planMemlock(input({ current: { soft: 64 * KiB, hard: 8 * MiB }, bytes: 4 * MiB, capSysResource: false }));
    expect(plan).toEqual({ action: 'raise', to: { soft: 4 * MiB, hard: 8 * MiB }, reason: `${OLD.reason}: raised the soft RLIMIT_MEMLOCK from 64.0 KiB to 4.0 MiB` });
  });

  it('raises both to unlimited by default with CAP_SYS_RESOURCE (or when it is unknown: setrlimit decides)', () => {
    expect(planMemlock(input({}))).toMatchObject({ action: 'raise', to: { soft: INF, hard: INF } });
    expect(planMemlock(input({ capSysResource: undefined }))).toMatchObject({ action: 'raise', to: { soft: INF, hard: INF } });
  });

  it('fails in one line above the hard limit without CAP_SYS_RESOURCE (this host: hard 8 MiB, no CAP_SYS_RESOURCE)', () => {
    const plan = planMemlock(input({ current: { soft: 8 * MiB, hard: 8 * MiB }, capSysResource: false }));
    expect(plan.action).toBe('fail');
    if (plan.action !== 'fail') return;
    expect(plan.message).toContain('above the hard limit 8.0 MiB, which needs CAP_SYS_RESOURCE, which this process lacks');
    expect(plan.message).toContain('ask for at most 8.0 MiB');
    expect(plan.message).not.toContain('\n');
  });

  it('planMemlock refuses a bad size as ensureMemlock does, not plans to keep it', () => {
    for (const bytes of [0, -1, 1.5, Number.NaN]) {
      expect(() => planMemlock(input({ regime: OLD, current: { soft: 0, hard: 0 }, capSysResource: true, bytes }))).toThrow(/^planMemlock: bytes .* is not a whole number of bytes/);
    }
  });

  it('refuses a bad size before touching anything', async () => {
    for (const bytes of [0, -1, 1.5, Number.NaN]) {
      const run = ensureMemlock({ bytes });
      await expect(run).rejects.toBeInstanceOf(BpfmemError);
      await expect(run).rejects.toThrow(/^ensureMemlock: bytes .* is not a whole number of bytes/);
    }
  });
});
