import { describe, expect, it } from 'vitest';
import { HOOKS } from '../sys/trace/index.js';
import { formatBytes } from '../vocab/units.js';
import { Arming, DEFAULT_ARM_BELOW, DEFAULT_HOLD_MS, DISARM_FACTOR, describeArming, hookArmed, type ArmingInput } from './arming.js';

const MiB = 1024 * 1024;
const opts = { mode: 'headroom' as const, armBelow: DEFAULT_ARM_BELOW, holdMs: DEFAULT_HOLD_MS };

/** A machine: a hash in /pod-a, an LRU hash and an LPM trie in /pod-b, an array charged to nobody known. */
function machine(at: number, a: { headroom: number; failed?: number }, b: { headroom: number; failed?: number }): ArmingInput {
  return {
    at,
    regime: 'memcg',
    maps: [
      { type: 'hash', cgroup: '/pod-a' },
      { type: 'lru_hash', cgroup: '/pod-b' },
      { type: 'lpm_trie', cgroup: '/pod-b' },
      { type: 'array', cgroup: undefined },
    ],
    cgroups: [
      { path: '/pod-a', headroom: a.headroom, failed: a.failed ?? 0 },
      { path: '/pod-b', headroom: b.headroom, failed: b.failed ?? 0 },
    ],
  };
}

/** The hooks a decision arms, by function. */
const armedFns = (d: ReturnType<Arming['decide']>): string[] => HOOKS.filter((h) => h.byDefault && hookArmed(h, d)).map((h) => h.fn);

describe('arming on headroom (src/watch/arming.ts)', () => {
  it('arms nothing while every paying cgroup has room, or no limit', () => {
    const arming = new Arming(opts);
    const d = arming.decide(machine(0, { headroom: Infinity }, { headroom: 1024 * MiB }));
    expect(d.cgroups).toEqual([]);
    expect(armedFns(d)).toEqual([]);
    expect(describeArming(d, { armed: 0, ready: 22 }, formatBytes)).toBe('hooks detached: no memory cgroup paying for BPF maps has less than 64.0 MiB of room on its path (--arm-below)');
  });

  it("arms only the types of the maps charged to a cgroup below --arm-below, and bpf_map_update_value with them", () => {
    const arming = new Arming(opts);
    const d = arming.decide(machine(0, { headroom: Infinity }, { headroom: 4 * MiB }));
    expect(d.cgroups).toEqual([{ path: '/pod-b', headroom: 4 * MiB, why: 'headroom', types: ['lpm_trie', 'lru_hash'] }]);
    expect(armedFns(d)).toEqual(['htab_lru_map_update_elem', 'trie_update_elem', 'bpf_map_update_value']);
    expect(describeArming(d, { armed: 3, ready: 22 }, formatBytes)).toBe('hooks armed 3 of 22, for /pod-b (4.0 MiB left: lpm_trie, lru_hash)');
  });

  it('escapes a cgroup path in its line: anyone who may create a cgroup names it', () => {
    const hostile = '/pod\u001b[H\u001b[2Jx\u001b[41mRED';
    const d = new Arming(opts).decide({ at: 0, regime: 'memcg', maps: [{ type: 'hash', cgroup: hostile }], cgroups: [{ path: hostile, headroom: MiB, failed: 0 }] });
    const line = describeArming(d, { armed: 2, ready: 22 }, formatBytes);
    expect(line).toBe('hooks armed 2 of 22, for /pod\\x1b[H\\x1b[2Jx\\x1b[41mRED (1.0 MiB left: hash)');
    expect(line).not.toContain('\u001b');
  });

  it('arms a cgroup whose failure counter moved, whatever its room', () => {
    const arming = new Arming(opts);
    const d = arming.decide(machine(0, { headroom: 900 * MiB, failed: 2 }, { headroom: Infinity }));
    expect(d.cgroups.map((c) => [c.path, c.why])).toEqual([['/pod-a', 'failed']]);
    expect(armedFns(d)).toEqual(['htab_map_update_elem', 'bpf_map_update_value']);
  });

  it('disarms with hysteresis: only at DISARM_FACTOR × --arm-below of room and holdMs after the cgroup was last near its limit', () => {
    const arming = new Arming(opts);
    const below = DEFAULT_ARM_BELOW - MiB;
    const between = DEFAULT_ARM_BELOW * DISARM_FACTOR - MiB;
    const above = DEFAULT_ARM_BELOW * DISARM_FACTOR;
    expect(arming.decide(machine(0, { headroom: below }, { headroom: Infinity })).cgroups.map((c) => c.why)).toEqual(['headroom']);
    // Room came back, but not past the disarm level: held.
    expect(arming.decide(machine(DEFAULT_HOLD_MS * 2, { headroom: between }, { headroom: Infinity })).cgroups.map((c) => c.why)).toEqual(['hold']);
    // Past the disarm level, but too soon after it was last below: held.
    const t = DEFAULT_HOLD_MS * 3;
    expect(arming.decide(machine(t, { headroom: below }, { headroom: Infinity })).cgroups.map((c) => c.why)).toEqual(['headroom']);
    expect(arming.decide(machine(t + DEFAULT_HOLD_MS - 1, { headroom: above }, { headroom: Infinity })).cgroups.map((c) => c.why)).toEqual(['hold']);
    // Both: disarmed, and a later frame with room keeps it so.
    const off = arming.decide(machine(t + DEFAULT_HOLD_MS, { headroom: above }, { headroom: Infinity }));
    expect(off.cgroups).toEqual([]);
    expect(armedFns(off)).toEqual([]);
    expect(arming.decide(machine(t + DEFAULT_HOLD_MS + 1, { headroom: between }, { headroom: Infinity })).cgroups).toEqual([]);
  });

  it('forgets a cgroup that no longer pays for a map', () => {
    const arming = new Arming(opts);
    arming.decide(machine(0, { headroom: MiB }, { headroom: Infinity }));
    const gone = arming.decide({ at: 1, regime: 'memcg', maps: [], cgroups: [] });
    expect(gone.cgroups).toEqual([]);
    // Back with room: not held from before.
    expect(arming.decide(machine(2, { headroom: DEFAULT_ARM_BELOW + MiB }, { headroom: Infinity })).cgroups).toEqual([]);
  });

  it('keeps every hook attached with --always, and in the memlock regime (updates charge no limit there)', () => {
    const always = new Arming({ ...opts, mode: 'always' }).decide(machine(0, { headroom: Infinity }, { headroom: Infinity }));
    expect(always.mode).toBe('always');
    expect(armedFns(always)).toEqual(HOOKS.filter((h) => h.byDefault).map((h) => h.fn));
    const memlock = new Arming(opts).decide({ ...machine(0, { headroom: Infinity }, { headroom: Infinity }), regime: 'memlock' });
    expect(memlock.mode).toBe('memlock');
    expect(armedFns(memlock)).toHaveLength(HOOKS.filter((h) => h.byDefault).length);
  });

  it('a custom --arm-below of 0 arms only on a moving failure counter', () => {
    const arming = new Arming({ ...opts, armBelow: 0 });
    expect(arming.decide(machine(0, { headroom: 0 }, { headroom: Infinity })).cgroups).toEqual([]);
    expect(arming.decide(machine(1, { headroom: 0, failed: 1 }, { headroom: Infinity })).cgroups.map((c) => c.path)).toEqual(['/pod-a']);
  });
});
