import { describe, expect, it } from 'vitest';
import { parseKernelVersion } from './kernel-version.js';

describe('parseKernelVersion', () => {
  it.each([
    ['6.18', [6, 18, 0]],
    ['6.18.44', [6, 18, 44]],
    ['6.18.44-fc-v782', [6, 18, 44]],
    ['5.10.0-28-amd64', [5, 10, 0]],
    ['3.10.0-1160.el7.x86_64', [3, 10, 0]],
    ['6.1.0+', [6, 1, 0]],
    ['6.8.0_rc1', [6, 8, 0]],
    // Long-term kernels pass KERNEL_VERSION's 255 in their patch level; uname says so.
    ['4.19.325', [4, 19, 325]],
    ['4.9.337-1', [4, 9, 337]],
    ['6.18.99999', [6, 18, 99999]],
    ['255.255', [255, 255, 0]],
  ])('%j is %j', (release, [major, minor, patch]) => {
    expect(parseKernelVersion(release)).toEqual({ major, minor, patch });
  });

  it.each([
    // A patch level past 5 digits was read as a suffix: 6.18.
    '6.18.999999999999999999',
    '6.18.123456',
    '6.18.123456-foo',
    // KERNEL_VERSION's minor and major are 8 bits.
    '6.256',
    '256.1',
    '1234.1',
    '6.9999999999999999999',
    '99999999999999999999.1',
    '6',
    '6.x',
    'v6.18',
    '',
  ])('%j is refused', (release) => {
    expect(parseKernelVersion(release)).toBeUndefined();
  });
});
