import { describe, expect, it } from 'vitest';
import { BpfmemError, exitCodeOf } from '../../vocab/errors.js';
import { describeErrno, hasErrno, SyscallError } from './error.js';

describe('SyscallError', () => {
  it.each([
    ['BPF_MAP_CREATE', 12, 'BPF_MAP_CREATE: ENOMEM (Cannot allocate memory)', 'ENOMEM'],
    ['BPF_MAP_CREATE', 524, 'BPF_MAP_CREATE: ENOTSUPP (Operation is not supported)', 'ENOTSUPP'],
    ['BPF_MAP_CREATE', 7, 'BPF_MAP_CREATE: E2BIG (Argument list too long)', 'E2BIG'],
    ['BPF_MAP_CREATE', 1, 'BPF_MAP_CREATE: EPERM (Operation not permitted)', 'EPERM'],
    ['setsockopt', 95, 'setsockopt: EOPNOTSUPP (Operation not supported)', 'EOPNOTSUPP'],
    ['close', 99, 'close: errno 99', undefined],
  ] as const)('%s errno %d reads "%s"', (cmd, errno, message, name) => {
    const error = new SyscallError(cmd, errno);
    expect(error.message).toBe(message);
    expect(error.errnoName).toBe(name);
    expect(error.cmd).toBe(cmd);
    expect(error.errno).toBe(errno);
  });

  it('is a system BpfmemError (exit status 1)', () => {
    const error = new SyscallError('BPF_PROG_LOAD', 13, 'R0 !read_ok');
    expect(error).toBeInstanceOf(BpfmemError);
    expect(error.code).toBe('system');
    expect(exitCodeOf(error)).toBe(1);
    expect(error.message).toBe('BPF_PROG_LOAD: EACCES (Permission denied): R0 !read_ok');
  });

  it('is matched by name with hasErrno', () => {
    expect(hasErrno(new SyscallError('BPF_MAP_LOOKUP_ELEM', 2), 'ENOENT')).toBe(true);
    expect(hasErrno(new SyscallError('BPF_MAP_LOOKUP_ELEM', 2), 'EINVAL')).toBe(false);
    expect(hasErrno(new Error('ENOENT'), 'ENOENT')).toBe(false);
  });

  it('distinguishes ENOTSUPP (524) from EOPNOTSUPP (95)', () => {
    expect(describeErrno(524)).not.toBe(describeErrno(95));
  });
});
