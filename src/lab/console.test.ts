import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BpfmemError } from '../vocab/errors.js';
import { encodeError, encodeResult, parseConsole, parseProgress, progressLine } from './console.js';

const payload = JSON.stringify({ version: 1, kernel: { release: '6.12.117+deb12-cloud-amd64' }, text: 'é ✓ '.repeat(50) });

describe('the serial console protocol', () => {
  it('carries a result between boot noise and kernel messages', () => {
    const lines = encodeResult(payload).split('\n');
    // A kernel message between two data lines, escape sequences before the first marker.
    lines.splice(2, 0, '[   42.000000] Memory cgroup out of memory: Killed process 163 (node)');
    const console = `\x1b[2J SeaBIOS\r\nbpfmem-lab: conformance 0/37\r\n\x1b[0m${lines.join('\r\n')}[   76.887347] reboot: Power down\r\n`;
    expect(parseConsole(console)).toEqual({ kind: 'result', payload });
  });

  it('reports the guest\'s own error line, and nothing when there is nothing', () => {
    expect(parseConsole(`boot\n${encodeError('no memory cgroup:\ncgroup2 lacks memory')}`)).toEqual({ kind: 'error', message: 'no memory cgroup: cgroup2 lacks memory' });
    expect(parseConsole('Kernel panic - not syncing: VFS\n')).toEqual({ kind: 'none' });
  });

  it.each([
    ['a line cut off', (s: string) => s.replace(/^(BPFMEM-LAB 1 .{10}).*$/m, '$1')],
    ['a character changed', (s: string) => s.replace(/^(BPFMEM-LAB 0 )./m, (_m, p: string) => `${p}${s.includes(`${p}A`) ? 'B' : 'A'}`)],
    ['a line lost', (s: string) => s.replace(/^BPFMEM-LAB 1 .*\n/m, '')],
    ['no end marker', (s: string) => s.replace(/^BPFMEM-LAB-END\n/m, '')],
    ['a garbled header', (s: string) => s.replace(/^BPFMEM-LAB-BEGIN \d+/m, 'BPFMEM-LAB-BEGIN x')],
  ])('refuses a result with %s, in one line', (_, garble) => {
    const error = (() => {
      try {
        parseConsole(garble(encodeResult(payload)));
        return undefined;
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(BpfmemError);
    expect((error as BpfmemError).message).not.toContain('\n');
  });

  it('decodes any payload with any noise lines between its lines (property)', () => {
    const noise = fc.string({ maxLength: 60 }).filter((s) => !s.includes('BPFMEM-LAB') && !/[\r\n]/.test(s));
    fc.assert(
      fc.property(fc.string({ maxLength: 400 }), fc.array(fc.tuple(fc.nat(), noise), { maxLength: 6 }), (p, inserts) => {
        const lines = encodeResult(p).split('\n');
        for (const [at, n] of inserts) lines.splice(at % lines.length, 0, n);
        expect(parseConsole(lines.join('\n'))).toEqual({ kind: 'result', payload: p });
      }),
      { numRuns: 2000 },
    );
  });

  it('never fails on arbitrary console text except with a one-line BpfmemError (fuzz)', () => {
    const piece = fc.oneof(fc.string({ maxLength: 30 }), fc.constantFrom('BPFMEM-LAB-BEGIN 3 ', 'BPFMEM-LAB 0 QUJD', 'BPFMEM-LAB-END', 'BPFMEM-LAB-ERROR x', '\n', '\r\n', 'a'.repeat(64)));
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 30 }), (parts) => {
        try {
          const r = parseConsole(parts.join(''));
          expect(['result', 'error', 'none']).toContain(r.kind);
        } catch (e) {
          expect(e).toBeInstanceOf(BpfmemError);
          expect((e as BpfmemError).message).not.toContain('\n');
        }
      }),
      { numRuns: 5000 },
    );
  });

  it('reads back the progress lines a guest prints, cases then checks, and not a line cut short', () => {
    const console =
      progressLine('conformance', 35, 36, 39.71, 'no-prealloc hash v1000 inserts under 8 MiB') +
      '[   49.1] random: crng init done\r\n' +
      progressLine('conformance', 36, 36, 40.7, '') +
      progressLine('check', 0, 5, 41.02, 'counters') +
      'bpfmem-lab: check 1/5';
    expect(progressLine('check', 0, 5, 41.02, 'counters')).toBe('bpfmem-lab: check 0/5 41.0s counters\n');
    expect(parseProgress(console)).toEqual([
      { phase: 'conformance', done: 35, total: 36 },
      { phase: 'conformance', done: 36, total: 36 },
      { phase: 'check', done: 0, total: 5 },
    ]);
  });
});
