import { describe, expect, it } from 'vitest';
import { cli } from './run.js';
import { formatEta } from '../../src/cli/watch.js';

/** `--arm-below` of watch and serve (src/watch/arming.ts): a bad size is one line and status 2, before anything is read or attached. */
describe('watch and serve --arm-below', () => {
  it.each([
    ['watch', '12Q'],
    ['watch', '-5MiB'],
    ['serve', 'max'],
    ['serve', '2TiB'],
  ])('%s --arm-below %s: one line naming it, status 2', async (command, value) => {
    const r = await cli([command, '--arm-below', value]);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`bpfmem: --arm-below "${value}": expected a size from 0 to 1Ti, such as 4096, 64Ki, 512Mi or 2G\n`);
  });

  it.each(['watch', 'serve'])('%s --always with --arm-below: one line, status 2', async (command) => {
    const r = await cli([command, '--always', '--arm-below', '1MiB']);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe('bpfmem: --arm-below and --always cannot be given together\n');
  });

  it.each([
    [['watch', '--no-trace', '--always'], '--always is about the hooks: no use with --no-trace, which attaches none'],
    [['watch', '--no-trace', '--all-hooks', '--arm-below', '1Mi'], '--all-hooks and --arm-below are about the hooks: no use with --no-trace, which attaches none'],
    [['serve', '--no-watch', '--arm-below', '1Mi'], "--arm-below is about the watch's hooks: no use with --no-watch, which attaches none"],
    [['watch', '-d'], '--interval needs a value: --interval <duration>'],
  ])('bpfmem %j: one line, status 2, before anything is read or attached', async (args, message) => {
    const r = await cli(args);
    expect([r.status, r.stdout, r.stderr]).toEqual([2, '', `bpfmem: ${message}\n`]);
  });
});

describe('formatEta: each unit from where the one below rounds to its end', () => {
  it.each([
    [undefined, '-'],
    [Infinity, '-'],
    [-3, '0s'],
    [42, '42s'],
    [119.4, '119s'],
    [119.6, '2m'],
    [7169, '119m'],
    [7199, '2.0h'],
    [172_619, '47.9h'],
    [172_799, '2.0d'],
    [432_000, '5.0d'],
  ])('%s s is %s', (s, text) => {
    expect(formatEta(s)).toBe(text);
  });
});
