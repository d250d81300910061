import { describe, expect, it } from 'vitest';
import { profileOf } from './profile.js';
import { sumUncharged, unchargedReasons } from './uncharged.js';

describe('uncharged bytes, by why nobody pays', () => {
  it('sums by payer and allocation, largest first', () => {
    expect(
      sumUncharged([
        { what: 'pcount', payer: 'none', bytes: 256 },
        { what: 'percpu values', payer: 'map', bytes: 4096 },
        { what: 'pcount', payer: 'none', bytes: 256 },
      ]),
    ).toEqual([
      { what: 'percpu values', payer: 'map', bytes: 4096 },
      { what: 'pcount', payer: 'none', bytes: 512 },
    ]);
  });

  it('a line per reason, naming the kernel version where the helpers charge nobody', () => {
    const lines = unchargedReasons(
      [
        { what: 'percpu values', payer: 'map', bytes: 2 * 1024 * 1024 },
        { what: 'trampoline image', payer: 'none', bytes: 4096 },
        { what: 'nothing', payer: 'none', bytes: 0 },
      ],
      profileOf({ version: '6.1', cpus: 2 }),
    );
    expect(lines).toEqual([
      "2.0 MiB made inside map_alloc() by the map's allocation helpers, which charge no cgroup there on 6.1 (the creator on 5.11–5.19): percpu values 2.0 MiB",
      '4.0 KiB allocated without __GFP_ACCOUNT, charged to no cgroup on any kernel: trampoline image 4.0 KiB',
    ]);
    expect(unchargedReasons([], profileOf({ version: '6.1', cpus: 2 }))).toEqual([]);
  });
});
