import { describe, expect, it } from 'vitest';
import { ERRNO, LINUX_ERRNO, describeErrno, linuxErrnoByName, linuxErrnoByNumber } from './errno.js';

describe('the errno tables', () => {
  it('every errno bpfmem models is a Linux errno of the same number', () => {
    for (const [name, n] of Object.entries(ERRNO)) expect([name, linuxErrnoByName(name) && LINUX_ERRNO[linuxErrnoByName(name) ?? 'EPERM'][0]]).toEqual([name, n]);
  });

  it('numbers are unique, 1–133 but 41 and 58 (include/uapi/asm-generic/errno*.h), and ENOTSUPP 524', () => {
    const numbers = Object.values(LINUX_ERRNO).map(([n]) => n);
    expect(new Set(numbers).size).toBe(numbers.length);
    expect(numbers.sort((a, b) => a - b)).toEqual([...Array.from({ length: 133 }, (_, i) => i + 1).filter((n) => n !== 41 && n !== 58), 524]);
    expect(linuxErrnoByNumber(41)).toBeUndefined();
  });

  it('says a name, its number and what it means', () => {
    expect(describeErrno('EMFILE')).toBe('EMFILE (24, Too many open files)');
    expect(linuxErrnoByName('ENOTSUP')).toBe('EOPNOTSUPP');
    expect(linuxErrnoByName('hasOwnProperty')).toBeUndefined();
  });
});
