import { describe, expect, it } from 'vitest';
import { classifyCharge, measuredRegimeOf, type ChargeProbe, type PrechargeProbe } from './probe.js';

describe('the kernel\'s way, decided from what the probes saw', () => {
  it.each([
    [528384, true],
    [532480, true],
    [4096, false],
    [0, false],
    [-8192, false],
    [100_000, undefined],
  ])('a kernel-memory delta of %i for a 129-page map: charged %s', (delta, charged) => {
    expect(classifyCharge(delta, 528384)).toBe(charged);
  });

  const charge = (charged: boolean | undefined): ChargeProbe => ({ ok: true, charged, counter: 'memory.kmem.usage_in_bytes', delta: 528384, expected: 528384, cgroup: '/a/bpfmem-probe-1-00000000/kernel', private: true });
  const pre = (precharged: boolean): PrechargeProbe => ({ ok: true, precharged, limit: 65536, detail: 'x' });
  const failed: PrechargeProbe = { ok: false, reason: 'BPF_MAP_CREATE: EPERM', errno: 'EPERM' };
  const noCgroup: ChargeProbe = { ok: false, reason: 'no memory cgroup' };

  it.each([
    [charge(true), pre(false), 'memcg'],
    [charge(false), pre(false), 'none'],
    [charge(false), pre(true), 'memlock'],
    [charge(undefined), pre(false), undefined],
    [charge(false), failed, undefined],
    [noCgroup, pre(false), undefined],
  ])('%#: regime %s', (c, p, regime) => {
    expect(measuredRegimeOf(c, p).regime).toBe(regime);
  });
});
