import { BpfmemError } from '../vocab/errors.js';
import { linuxErrnoByName, linuxErrnoByNumber, type LinuxErrno } from '../vocab/errno.js';
import { parseSize, SIZE_EXAMPLES } from '../vocab/units.js';

/**
 * Parsers of `bpfmem explain`'s arguments. Each returns the value or throws a one-line
 * `BpfmemError` (code `usage`) that quotes the argument and says what was expected.
 */

const quote = (s: string): string => JSON.stringify(s.length > 60 ? `${s.slice(0, 60)}…` : s);

/**
 * `--errno EPERM`, `eperm`, `12`, `-12`, `ENOTSUP`: any errno of Linux (x86-64), by name (an
 * alias gives its canonical name: ENOTSUP is EOPNOTSUPP) or by decimal number, as a failed call
 * returns it (-12) or errno holds it (12). Not 0, hex, exponents or a number no errno has.
 */
export function parseErrnoArg(text: string): LinuxErrno {
  const t = text.trim();
  const byName = linuxErrnoByName(t.toUpperCase());
  if (byName) return byName;
  if (/^-?[1-9][0-9]{0,3}$/.test(t)) {
    const name = linuxErrnoByNumber(Math.abs(Number(t)));
    if (name) return name;
  }
  throw new BpfmemError('usage', `--errno ${quote(text)}: expected an errno such as EPERM, ENOMEM, E2BIG or EINVAL, or its number (1–133, 524 for ENOTSUPP): not one Linux has`);
}

/** PID_MAX_LIMIT of 64-bit kernels (include/linux/threads.h): 4 × 1024 × 1024. */
const PID_MAX_LIMIT = 4 * 1024 * 1024;

/** `--pid 1234`: a process id. */
export function parsePidArg(text: string): number {
  if (!/^[1-9][0-9]{0,6}$/.test(text) || Number(text) > PID_MAX_LIMIT) {
    throw new BpfmemError('usage', `--pid ${quote(text)}: expected a process id (a whole number from 1 to ${PID_MAX_LIMIT})`);
  }
  return Number(text);
}

/**
 * `--cgroup /kubepods/pod1`: a cgroup path from the memory hierarchy's root, normalized (a
 * trailing `/` is dropped). Refuses relative paths, `.` and `..`, empty names (`//`), control
 * characters and paths longer than PATH_MAX.
 */
export function parseCgroupArg(text: string): string {
  const bad = (why: string): never => {
    throw new BpfmemError('usage', `--cgroup ${quote(text)}: ${why}; expected a cgroup path from the memory hierarchy's root, like /system.slice or /kubepods/pod1`);
  };
  if (!text.startsWith('/')) bad('not absolute');
  if (text.length > 4096) bad('longer than 4096 characters');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(text)) bad('it has control characters');
  const path = text.length > 1 ? text.replace(/\/$/, '') : text;
  if (path === '/') return path;
  const names = path.slice(1).split('/');
  if (names.some((n) => n === '')) bad('it has an empty name (//)');
  if (names.some((n) => n === '.' || n === '..')) bad('it has . or ..');
  return path;
}

/** `--need 64Mi`: the bytes needed, a size from 1 byte up. */
export function parseNeedArg(text: string): number {
  const n = parseSize(text);
  if (n === undefined || !Number.isFinite(n) || n < 1) {
    throw new BpfmemError('usage', `--need ${quote(text)}: expected a size ${SIZE_EXAMPLES}`);
  }
  return n;
}
