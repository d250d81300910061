import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BpfmemError } from '../vocab/errors.js';
import { parseCgroupArg, parseErrnoArg, parseNeedArg, parsePidArg } from './args.js';

describe('explain arguments', () => {
  it.each([
    ['EPERM', 'EPERM'],
    ['enomem', 'ENOMEM'],
    [' E2BIG ', 'E2BIG'],
    ['22', 'EINVAL'],
    ['-12', 'ENOMEM'],
    ['524', 'ENOTSUPP'],
    // Every errno of Linux, by name or number (x86-64: asm-generic numbering).
    ['EMFILE', 'EMFILE'],
    ['enodev', 'ENODEV'],
    ['ELOOP', 'ELOOP'],
    ['EINTR', 'EINTR'],
    ['EHWPOISON', 'EHWPOISON'],
    ['4', 'EINTR'],
    ['6', 'ENXIO'],
    ['19', 'ENODEV'],
    ['23', 'ENFILE'],
    ['24', 'EMFILE'],
    ['-24', 'EMFILE'],
    ['40', 'ELOOP'],
    ['75', 'EOVERFLOW'],
    ['133', 'EHWPOISON'],
    // Aliases: glibc's ENOTSUP is EOPNOTSUPP (95), not the kernel's ENOTSUPP (524); the kernel's own.
    ['ENOTSUP', 'EOPNOTSUPP'],
    ['95', 'EOPNOTSUPP'],
    ['EWOULDBLOCK', 'EAGAIN'],
    ['EDEADLOCK', 'EDEADLK'],
  ])('--errno %j is %s', (text, errno) => {
    expect(parseErrnoArg(text)).toBe(errno);
  });

  it.each(['EWHAT', '', '0', '-0', '99999', '999', '41', '58', '134', '512', '0x0c', '1e1', '1e3', '12.0', 'ENOMEM,EPERM', 'toString', '__proto__'])('--errno %j is refused in one line', (text) => {
    expect(() => parseErrnoArg(text)).toThrow(/^--errno ".*": expected an errno such as EPERM/);
  });

  it.each([
    ['1', 1],
    ['4194304', 4194304],
  ])('--pid %j', (text, pid) => {
    expect(parsePidArg(text)).toBe(pid);
  });

  it.each(['0', '-1', '4194305', '12a', ' 12', '', '0x10'])('--pid %j is refused', (text) => {
    expect(() => parsePidArg(text)).toThrow(/^--pid ".*": expected a process id/);
  });

  it.each([
    ['/', '/'],
    ['/kubepods', '/kubepods'],
    ['/kubepods/pod1/', '/kubepods/pod1'],
    ['/system.slice/a@b.service', '/system.slice/a@b.service'],
  ])('--cgroup %j is %j', (text, path) => {
    expect(parseCgroupArg(text)).toBe(path);
  });

  it.each([
    ['kubepods', /not absolute/],
    ['/a/../b', /\. or \.\./],
    ['/a//b', /empty name/],
    ['/a\nb', /control characters/],
    [`/${'x'.repeat(5000)}`, /longer than 4096/],
  ])('--cgroup %j is refused', (text, why) => {
    expect(() => parseCgroupArg(text)).toThrow(why);
  });

  it.each([
    ['4096', 4096],
    ['64Ki', 65536],
    ['1.5Mi', 1572864],
  ])('--need %j', (text, n) => {
    expect(parseNeedArg(text)).toBe(n);
  });

  it.each(['0', 'max', '-1', '1.2.3', 'lots'])('--need %j is refused', (text) => {
    expect(() => parseNeedArg(text)).toThrow(/^--need ".*": expected a size/);
  });

  it('any string gives a value or one line of BpfmemError (usage), never anything else', () => {
    const parsers = [parseErrnoArg, parsePidArg, parseCgroupArg, parseNeedArg];
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.stringMatching(/^[-/0-9a-zA-Z.]{0,12}$/)), fc.integer({ min: 0, max: 3 }), (text, which) => {
        const parse = parsers[which];
        if (!parse) return;
        try {
          parse(text);
        } catch (error) {
          expect(error).toBeInstanceOf(BpfmemError);
          expect((error as BpfmemError).code).toBe('usage');
          expect((error as BpfmemError).message).not.toContain('\n');
          expect((error as BpfmemError).message.length).toBeLessThan(600);
        }
      }),
      { numRuns: 5000 },
    );
  });
});
