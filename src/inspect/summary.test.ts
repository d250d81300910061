import { describe, expect, it } from 'vitest';
import { profileOf } from '../model/profile.js';
import { MAP_TYPES } from '../vocab/maptypes.js';
import type { InventoryInput, RawMap } from '../vocab/inventory.js';
import { buildInventory } from './inventory.js';
import { summaryJson } from './json.js';
import { needsPins, payerNotHolder, summarize } from './summary.js';

/**
 * The `payer-not-holder` warning and the pins it needs: a map whose payer none of its holders is
 * in is worth a warning unless it is pinned (a pin outlives its creator). The summary reads pins
 * only when some map would be warned about (`needsPins`), and its JSON then says
 * `"pinned": null` for the largest maps, as the listings do when they did not look.
 */

const raw = (id: number): RawMap => ({ id, type: MAP_TYPES.array.id, name: `m${id}`, keySize: 4, valueSize: 8, maxEntries: 16, flags: 0, mapExtra: 0 });

const base = (maps: readonly number[], holderCgroup: (id: number) => string): InventoryInput => ({
  profile: profileOf({ version: '6.18', cpus: 2 }),
  maps: maps.map(raw),
  progs: [],
  charges: new Map(maps.map((id) => [id, 11n] as const)),
  cgroupPaths: new Map([
    [1n, '/'],
    [11n, '/pods/a'],
    [12n, '/pods/b'],
  ]),
  holders: { maps: new Map(maps.map((id) => [id, [{ pid: 100 + id, comm: 'agent', cgroup: holderCgroup(id) }]] as const)), progs: new Map() },
  errors: [],
});

// Maps 1 and 2 are held from /pods/b but charged to /pods/a; 2 is pinned. Map 3 is held where it is charged.
const input = base([1, 2, 3], (id) => (id === 3 ? '/pods/a' : '/pods/b'));
const pins = { maps: new Map([[2, ['/sys/fs/bpf/two']]]), progs: new Map<number, string[]>() };

describe('payer-not-holder and the pins it needs', () => {
  it('with pins: the unpinned map held elsewhere is warned about, the pinned one is not', () => {
    const inv = buildInventory({ ...input, pins });
    expect(payerNotHolder(inv).map((m) => m.id)).toEqual([1]);
    expect(needsPins(inv)).toBe(false);
    const w = summarize(inv).warnings.filter((x) => x.kind === 'payer-not-holder');
    expect(w).toEqual([{ kind: 'payer-not-holder', text: '1 map is charged to a cgroup that none of its holders is in (the creator moved or passed the fd on)' }]);
  });

  it('without pins: both held elsewhere are candidates, so the pins are needed', () => {
    const inv = buildInventory(input);
    expect(payerNotHolder(inv).map((m) => m.id)).toEqual([1, 2]);
    expect(needsPins(inv)).toBe(true);
  });

  it('needs no pins when every map is held where it is charged', () => {
    const inv = buildInventory(base([3, 4], () => '/pods/a'));
    expect(payerNotHolder(inv)).toEqual([]);
    expect(needsPins(inv)).toBe(false);
    expect(summarize(inv).warnings.map((w) => w.kind)).not.toContain('payer-not-holder');
  });

  it('summary JSON: pinned is null for the largest maps where pins were not looked for, the paths where they were', () => {
    const pinned = (inv: ReturnType<typeof buildInventory>) => (summaryJson(inv, summarize(inv), {})['largest_maps'] as { id: number; pinned: unknown }[]).map((m) => [m.id, m.pinned]);
    expect(pinned(buildInventory(input))).toEqual([
      [1, null],
      [2, null],
      [3, null],
    ]);
    expect(pinned(buildInventory({ ...input, pins }))).toEqual([
      [1, []],
      [2, ['/sys/fs/bpf/two']],
      [3, []],
    ]);
  });
});
