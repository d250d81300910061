import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkCpioPath, cpioArchive, type CpioEntry } from './cpio.js';

/** GNU cpio, the independent reader of our archives (Debian package cpio). */
const gnuCpio = (() => {
  try {
    execFileSync('cpio', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
if (!gnuCpio) console.warn('the GNU cpio cross-check is skipped: no cpio on PATH (Debian package cpio)');

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Reads a newc archive back: [mode, name, data] per entry (the trailer included). */
function decode(bytes: Uint8Array): [number, string, string][] {
  const ascii = new TextDecoder('latin1');
  const out: [number, string, string][] = [];
  let at = 0;
  for (;;) {
    const head = ascii.decode(bytes.subarray(at, at + 110));
    expect(head.slice(0, 6)).toBe('070701');
    const field = (i: number): number => Number.parseInt(head.slice(6 + 8 * i, 14 + 8 * i), 16);
    const [mode, size, nameSize] = [field(1), field(6), field(11)];
    const name = new TextDecoder().decode(bytes.subarray(at + 110, at + 110 + nameSize - 1));
    at += 110 + nameSize;
    at += (4 - (at % 4)) % 4;
    const data = new TextDecoder().decode(bytes.subarray(at, at + size));
    at += size;
    at += (4 - (at % 4)) % 4;
    out.push([mode, name, data]);
    if (name === 'TRAILER!!!') break;
  }
  expect(at).toBe(bytes.length);
  return out;
}

describe('cpio newc', () => {
  const entries: CpioEntry[] = [
    { kind: 'dir', path: 'bin', mode: 0o755 },
    { kind: 'file', path: 'bin/hello', mode: 0o755, data: text('#!/bin/sh\necho hi\n') },
    { kind: 'file', path: 'empty', mode: 0o644, data: new Uint8Array(0) },
    { kind: 'symlink', path: 'sh', target: 'bin/hello' },
  ];

  it('writes headers, names and data 4-byte aligned, ending with the trailer', () => {
    expect(decode(cpioArchive(entries))).toEqual([
      [0o040755, 'bin', ''],
      [0o100755, 'bin/hello', '#!/bin/sh\necho hi\n'],
      [0o100644, 'empty', ''],
      [0o120777, 'sh', 'bin/hello'],
      [0, 'TRAILER!!!', ''],
    ]);
  });

  it.skipIf(!gnuCpio)('is what GNU cpio unpacks', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bpfmem-cpio-'));
    try {
      execFileSync('cpio', ['-i', '--quiet', '-d'], { cwd: dir, input: cpioArchive(entries) });
      expect(readFileSync(join(dir, 'bin/hello'), 'utf8')).toBe('#!/bin/sh\necho hi\n');
      expect(statSync(join(dir, 'bin/hello')).mode & 0o777).toBe(0o755);
      expect(readFileSync(join(dir, 'empty'), 'utf8')).toBe('');
      expect(readlinkSync(join(dir, 'sh'))).toBe('bin/hello');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each(['', '/abs', 'a/', 'a//b', 'a/../b', './a', 'a\0b'])('refuses the path %j', (path) => {
    expect(checkCpioPath(path)).toBeDefined();
    expect(() => cpioArchive([{ kind: 'dir', path, mode: 0o755 }])).toThrow(/cpio path/);
  });

  it('round-trips any files (property)', () => {
    const name = fc.stringMatching(/^[a-z0-9._-]{1,12}$/).filter((n) => n !== '.' && n !== '..');
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(name, fc.string({ maxLength: 40 })), { selector: (t) => t[0], maxLength: 8 }), (files) => {
        const got = decode(cpioArchive(files.map(([p, d]) => ({ kind: 'file', path: p, mode: 0o644, data: text(d) }))));
        expect(got.slice(0, -1)).toEqual(files.map(([p, d]) => [0o100644, p, d]));
      }),
      { numRuns: 2000 },
    );
  });
});
