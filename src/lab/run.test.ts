import { describe, expect, it } from 'vitest';
import { encodeResult } from './console.js';
import { diedBeforeGuest } from './run.js';

describe('a boot that died before the guest started', () => {
  // The console's end in the CI run where a 6.12 boot panicked under TCG, 2 s in.
  const panic = [
    '[    2.169732] PKRU: 55555554',
    '[    2.174887] Kernel panic - not syncing: Fatal exception in interrupt',
    '[    5.249226] Shutting down cpus with NMI',
    '[    5.251886] Kernel Offset: 0x24e00000 from 0xffffffff81000000 (relocation range: 0xffffffff80000000-0xffffffffbfffffff)',
  ].join('\r\n');

  it('is a kernel panic with no line of the guest: booted again', () => {
    expect(diedBeforeGuest(`SeaBIOS\r\n${panic}\r\n`)).toBe(true);
  });

  it('is not a panic once the guest ran (its progress or its result is on the console): that is a result to report', () => {
    expect(diedBeforeGuest(`bpfmem-lab: conformance 3/37 12.0s memlock hash\r\n${panic}\r\n`)).toBe(false);
    expect(diedBeforeGuest(`${encodeResult('{}')}\r\n${panic}\r\n`)).toBe(false);
  });

  it('is not a console without a panic (a guest that hung or timed out)', () => {
    expect(diedBeforeGuest('SeaBIOS\r\n[    1.0] Run /init as init process\r\n')).toBe(false);
  });
});
