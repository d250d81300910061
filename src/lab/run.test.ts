import { afterAll, describe, expect, it } from 'vitest';
import { encodeResult } from './console.js';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bootGuest, diedBeforeGuest, noResult } from './run.js';

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

describe('bootGuest: a boot that hangs before the guest starts is tried once more', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  /** A stand-in for qemu: the first boot prints the firmware's banner and hangs, the next starts the guest. */
  function fakeQemu(hangs: number): { program: string; boots: () => number } {
    const dir = mkdtempSync(join(tmpdir(), 'bpfmem-fake-qemu-'));
    dirs.push(dir);
    const count = join(dir, 'boots');
    writeFileSync(count, '');
    const program = join(dir, 'qemu');
    writeFileSync(
      program,
      `#!/bin/sh\necho x >> ${count}\nn=$(wc -l < ${count})\nif [ "$n" -le ${hangs} ]; then echo 'SeaBIOS'; exec sleep 30; fi\necho 'bpfmem-lab: conformance starting'\n`,
      { mode: 0o755 },
    );
    return { program, boots: () => readFileSync(count, 'utf8').split('\n').filter(Boolean).length };
  }
  const options = (qemu: string) => ({ vmlinuz: '/k', initrd: '/i', cpus: 1, memoryMiB: 64, timeoutSeconds: 20, qemu, start: { marker: 'bpfmem-lab:', seconds: 1 } });

  it('boots again when no guest line came in time, and says so', async () => {
    const q = fakeQemu(1);
    const { booted, failedBoots } = await bootGuest(options(q.program));
    expect(q.boots()).toBe(2);
    expect(booted).toMatchObject({ stalled: false, timedOut: false });
    expect(booted.console).toContain('bpfmem-lab: conformance starting');
    expect(failedBoots).toEqual([expect.stringMatching(/^no guest line within 1 s: SeaBIOS/)]);
  });

  it('gives up after the second hang, with the boot marked stalled', async () => {
    const q = fakeQemu(5);
    const { booted, failedBoots } = await bootGuest(options(q.program));
    expect(q.boots()).toBe(2);
    expect(booted.stalled).toBe(true);
    expect(failedBoots).toHaveLength(1);
  });
});

describe('noResult: why a guest gave no result, for both labs', () => {
  const booted = { console: 'SeaBIOS\r\nBooting from ROM...\r\n', seconds: 180, exit: 'SIGKILL', timedOut: false, stalled: true };
  it('names the hang, the boot before it and the console', () => {
    expect(noResult(booted, ['no guest line within 180 s: SeaBIOS'], 600).message).toBe(
      'the guest did not start within 180 s, after a boot that died or hung before the guest started (no guest line within 180 s: SeaBIOS); its console ended with: SeaBIOS | Booting from ROM...',
    );
  });
  it('a timeout and a qemu that ended are told apart', () => {
    expect(noResult({ ...booted, stalled: false, timedOut: true }, [], 600).message).toMatch(/^the guest did not finish within 600 s \(--timeout\); /);
    expect(noResult({ ...booted, stalled: false, exit: 1 }, [], 600).message).toMatch(/^the guest printed no result \(qemu status 1\); /);
  });
});
