import { describe, expect, it } from 'vitest';
import type { CgroupLevel } from '../explain/index.js';
import type { FailureSample, MapFailures } from '../live/watch.js';
import { profileOf } from '../model/profile.js';
import type { BucketName } from '../sys/trace/index.js';
import { ancestors } from '../vocab/cgroup-path.js';
import type { Holder, InventoryInput, RawCgroup, RawMap } from '../vocab/inventory.js';
import { MAP_TYPES } from '../vocab/maptypes.js';
import { WatchSession, type WatchParts } from './session.js';

/**
 * WatchSession.frame on a made-up machine (WatchSession.over: a collector, a tracer and cgroup
 * files that are plain objects): which rows a map's failures make, their deltas, maps made after
 * the scan and maps gone, bpfmem's own maps, the paying cgroups' counters across a re-created
 * cgroup, and names from the machine carried as they are.
 */

const P612 = profileOf({ version: '6.12', cpus: 4 });
const MiB = 1024 * 1024;

/** A machine: its maps (each charged to a cgroup path or none), cgroups and counters, and what the hooks counted. */
class Machine {
  maps: { id: number; name?: string; type?: number; cgroup?: string; holders?: Holder[] }[] = [];
  cgroups = new Map<string, { usage: number; max: number; failcnt?: number }>([['/', { usage: 0, max: Number.POSITIVE_INFINITY }]]);
  /** Kernfs ids by path: a re-created cgroup gets a new one. */
  readonly ids = new Map<string, bigint>();
  #nextKn = 100n;
  /** Per map id: the type's hooks' and bpf_map_update_value's counts by errno. */
  readonly counts = new Map<number, { type: Map<BucketName, number>; sys: Map<BucketName, number> }>();
  /** What forgetGone would free. */
  forgotten: number[] = [];
  ownMaps: number[] = [];

  cgroup(path: string, c: { usage: number; max: number; failcnt?: number }, recreate = false): void {
    this.cgroups.set(path, c);
    if (recreate || !this.ids.has(path)) this.ids.set(path, this.#nextKn++);
  }

  count(id: number, table: 'type' | 'sys', errno: BucketName, n: number): void {
    const c = this.counts.get(id) ?? { type: new Map<BucketName, number>(), sys: new Map<BucketName, number>() };
    c[table].set(errno, n);
    this.counts.set(id, c);
  }

  input(): InventoryInput {
    const raw = this.maps.map(
      (m): RawMap => ({
        id: m.id,
        type: m.type ?? MAP_TYPES.hash.id,
        name: m.name ?? `m${m.id}`,
        keySize: 8,
        valueSize: 1000,
        maxEntries: 10_000,
        flags: 0,
        mapExtra: 0,
        cgroupId: m.cgroup === undefined ? 0n : (this.ids.get(m.cgroup) ?? 0n),
      }),
    );
    const cgroups = [...this.cgroups].map(([path, c]): RawCgroup => ({ path, usage: c.usage, max: c.max, kernel: undefined }));
    return {
      profile: P612,
      maps: raw,
      progs: [],
      cgroupPaths: new Map([...this.ids].map(([p, kn]) => [kn, p])),
      cgroups,
      holders: { maps: new Map(this.maps.map((m) => [m.id, m.holders ?? []])), progs: new Map() },
      errors: [],
    };
  }

  level(path: string): CgroupLevel {
    const c = this.cgroups.get(path);
    if (!c) throw new Error(`memory cgroup ${path}: no such cgroup`);
    return { path, usage: path === '/' ? undefined : c.usage, max: c.max, high: Number.POSITIVE_INFINITY, reclaimable: undefined, failcnt: c.failcnt, maxEvents: undefined };
  }

  sample(): FailureSample {
    const maps = [...this.counts].map(([mapId, c]): MapFailures => ({ mapId, byErrno: new Map(c.type), syscallByErrno: new Map(c.sys) }));
    return { time: new Date('2026-12-04T18:00:00Z'), maps, hooks: [], events: [] };
  }

  parts(): WatchParts {
    return {
      collector: { profile: P612, regimeReason: 'made up', collect: () => Promise.resolve(this.input()), close: () => undefined },
      watch: {
        hooks: [{ fn: 'htab_map_update_elem', types: ['hash'], paths: ['prog', 'sys'], table: 'type', state: 'attached', index: 0, armed: true }],
        refusedAll: undefined,
        attached: true,
        arm: () => ({ armed: [], disarmed: [] }),
        sample: () => this.sample(),
        forgetGone: (live) => {
          this.forgotten.push(...[...this.counts.keys()].filter((id) => !live.has(id)));
        },
        ownIds: { progs: [], maps: this.ownMaps },
        close: () => undefined,
      },
      notAttempted: undefined,
      cgroups: { chain: (path) => Promise.resolve(ancestors(path).map((p) => this.level(p))), level: (path) => Promise.resolve(this.level(path)) },
    };
  }
}

const rowsOf = (f: Awaited<ReturnType<WatchSession['frame']>>['frame'], id: number) => f.failures.filter((r) => r.map.id === id).map((r) => ({ errno: r.errno, count: r.count, recent: r.recent, seenBy: r.seenBy, type: r.map.type }));

describe('WatchSession.frame', () => {
  it('counts each failure since the last frame, with the map, its holders and the cgroup charged for it', async () => {
    const m = new Machine();
    m.cgroup('/pod-a', { usage: 4 * MiB, max: 4 * MiB, failcnt: 0 });
    m.maps = [{ id: 7, name: 'flows', cgroup: '/pod-a', holders: [{ pid: 42, comm: 'agent' }] }];
    m.count(7, 'type', 'ENOMEM', 10);
    const s = WatchSession.over(m.parts());
    const a = (await s.frame()).frame;
    expect(a.failures).toHaveLength(1);
    expect(a.failures[0]).toMatchObject({ map: { id: 7, name: 'flows', type: 'hash', holders: [{ pid: 42, comm: 'agent' }] }, errno: 'ENOMEM', count: 10, recent: 10, seenBy: 'type', cgroup: { path: '/pod-a', headroom: 0 } });
    expect(a.failures[0]?.verdict).toMatchObject({ kind: 'short', cgroup: '/pod-a', headroom: 0 });
    m.count(7, 'type', 'ENOMEM', 25);
    expect(rowsOf((await s.frame()).frame, 7)).toEqual([{ errno: 'ENOMEM', count: 25, recent: 15, seenBy: 'type', type: 'hash' }]);
    expect(rowsOf((await s.frame()).frame, 7)).toEqual([{ errno: 'ENOMEM', count: 25, recent: 0, seenBy: 'type', type: 'hash' }]);
  });

  it("shows one row per map and errno, whose count never goes down: the larger of the type's hooks' count and bpf_map_update_value's", async () => {
    const m = new Machine();
    m.cgroup('/pod-a', { usage: MiB, max: 4 * MiB });
    m.maps = [{ id: 7, cgroup: '/pod-a' }];
    const s = WatchSession.over(m.parts());
    // bpf(2) refusals while only bpf_map_update_value was attached, then one the type's hook saw.
    m.count(7, 'sys', 'E2BIG', 300);
    expect(rowsOf((await s.frame()).frame, 7)).toEqual([{ errno: 'E2BIG', count: 300, recent: 300, seenBy: 'syscall', type: 'hash' }]);
    m.count(7, 'type', 'E2BIG', 1);
    expect(rowsOf((await s.frame()).frame, 7)).toEqual([{ errno: 'E2BIG', count: 300, recent: 0, seenBy: 'syscall', type: 'hash' }]);
    // The type's hooks overtake (programs' refusals too): their count, and the row stays one.
    m.count(7, 'type', 'E2BIG', 450);
    m.count(7, 'sys', 'E2BIG', 320);
    expect(rowsOf((await s.frame()).frame, 7)).toEqual([{ errno: 'E2BIG', count: 450, recent: 150, seenBy: 'type', type: 'hash' }]);
    // A refusal raised before the type's function (a frozen map: EPERM) only bpf_map_update_value sees: shown beside the type's rows.
    m.count(7, 'sys', 'EPERM', 3);
    const rows = rowsOf((await s.frame()).frame, 7);
    expect(rows).toContainEqual({ errno: 'EPERM', count: 3, recent: 3, seenBy: 'syscall', type: 'hash' });
    expect(rows).toContainEqual({ errno: 'E2BIG', count: 450, recent: 0, seenBy: 'type', type: 'hash' });
    expect(rows).toHaveLength(2);
  });

  it('leaves a map made after the scan out until a scan lists it (neither gone nor forgotten); a map the scan should have listed is gone', async () => {
    const m = new Machine();
    m.cgroup('/pod-a', { usage: MiB, max: 4 * MiB });
    m.maps = [{ id: 5, cgroup: '/pod-a' }, { id: 7, cgroup: '/pod-a' }];
    m.count(7, 'type', 'ENOMEM', 2);
    m.count(6, 'type', 'ENOMEM', 4); // below the highest id scanned, not listed: deleted
    m.count(9, 'type', 'ENOMEM', 8); // above it: made since the scan
    const s = WatchSession.over(m.parts());
    const a = (await s.frame()).frame;
    expect(a.failures.map((r) => [r.map.id, r.map.type])).toEqual([
      [6, 'gone'],
      [7, 'hash'],
    ]);
    expect(m.forgotten).toEqual([6]);
    // The next scan lists map 9: its row, under its own type, with every failure since the watch began as new.
    m.maps.push({ id: 9, name: 'late', cgroup: '/pod-a' });
    m.count(9, 'type', 'ENOMEM', 11);
    expect(rowsOf((await s.frame()).frame, 9)).toEqual([{ errno: 'ENOMEM', count: 11, recent: 11, seenBy: 'type', type: 'hash' }]);
    // Deleted again: the highest id scanned so far is 9, so now it is gone, its count kept.
    m.maps = m.maps.filter((x) => x.id !== 9);
    m.forgotten = [];
    const c = (await s.frame()).frame;
    expect(rowsOf(c, 9)).toEqual([{ errno: 'ENOMEM', count: 11, recent: 0, seenBy: 'type', type: 'gone' }]);
    expect(m.forgotten).toEqual([6, 9]);
  });

  it("leaves bpfmem's own maps out, as its programs: its cgroup pays for nothing and arms nothing", async () => {
    const m = new Machine();
    m.cgroup('/pod-a', { usage: MiB, max: 1024 * MiB });
    m.cgroup('/bpfmem', { usage: MiB, max: 2 * MiB });
    m.maps = [
      { id: 7, cgroup: '/pod-a' },
      { id: 100, name: 'bpfmem_wslots', type: MAP_TYPES.array.id, cgroup: '/bpfmem' },
      { id: 101, name: 'bpfmem_whooks', type: MAP_TYPES.array.id, cgroup: '/bpfmem' },
      { id: 102, name: 'bpfmem_wevents', type: MAP_TYPES.ringbuf.id, cgroup: '/bpfmem' },
    ];
    m.ownMaps = [100, 101, 102];
    const { inventory, frame } = await WatchSession.over(m.parts()).frame();
    expect(inventory.maps.map((x) => x.id)).toEqual([7]);
    expect(frame.payers.map((p) => p.path)).toEqual(['/pod-a']);
    expect(frame.arming?.cgroups.map((c) => c.path)).toEqual([]);
    expect(frame.arming?.types).toEqual(new Set());
  });

  it("gives a paying cgroup's counters since the last frame and since the first, and starts them again for a re-created cgroup", async () => {
    const m = new Machine();
    m.cgroup('/svc', { usage: MiB, max: 1024 * MiB, failcnt: 10 });
    m.maps = [{ id: 7, cgroup: '/svc' }];
    const s = WatchSession.over(m.parts());
    const counters = async () => {
      const p = (await s.frame()).frame.payers.find((x) => x.path === '/svc');
      return p && { failcnt: p.failcnt, recent: p.failcntRecent, run: p.failcntRun };
    };
    expect(await counters()).toEqual({ failcnt: 10, recent: undefined, run: 0 });
    m.cgroup('/svc', { usage: MiB, max: 1024 * MiB, failcnt: 15 });
    expect(await counters()).toEqual({ failcnt: 15, recent: 5, run: 5 });
    // systemd restarts the service: a new cgroup at the same path, its failcnt from 0.
    m.cgroup('/svc', { usage: MiB, max: 1024 * MiB, failcnt: 2 }, true);
    expect(await counters()).toEqual({ failcnt: 2, recent: undefined, run: 0 });
    m.cgroup('/svc', { usage: MiB, max: 1024 * MiB, failcnt: 4 });
    expect(await counters()).toEqual({ failcnt: 4, recent: 2, run: 2 });
    // Re-created again, its counter already past the old one by the next frame: its kernfs id says so.
    m.cgroup('/svc', { usage: MiB, max: 1024 * MiB, failcnt: 9 }, true);
    expect(await counters()).toEqual({ failcnt: 9, recent: undefined, run: 0 });
    // A cgroup that stops paying is forgotten: when it pays again, it starts again.
    const maps = m.maps;
    m.maps = [];
    expect(await counters()).toBeUndefined();
    m.maps = maps;
    m.cgroup('/svc', { usage: MiB, max: 1024 * MiB, failcnt: 12 });
    expect(await counters()).toEqual({ failcnt: 12, recent: undefined, run: 0 });
  });

  it('carries names from the machine as they are, control characters and all (the terminal escapes them)', async () => {
    const evil = '/pod-\u001b[2J\u001b]0;owned\u0007\r\n\u0000x';
    const m = new Machine();
    m.cgroup(evil, { usage: 4 * MiB, max: 4 * MiB, failcnt: 1 });
    m.maps = [{ id: 7, name: 'm\u001b[31m', cgroup: evil, holders: [{ pid: 42, comm: 'a\u001b[2Jb' }] }];
    m.count(7, 'type', 'ENOMEM', 1);
    const { frame } = await WatchSession.over(m.parts()).frame();
    expect(frame.payers.map((p) => p.path)).toEqual([evil]);
    expect(frame.failures[0]?.cgroup?.path).toBe(evil);
    expect(frame.failures[0]?.map).toMatchObject({ name: 'm\u001b[31m', holders: [{ pid: 42, comm: 'a\u001b[2Jb' }] });
    expect(frame.failures[0]?.verdict).toMatchObject({ kind: 'short', cgroup: evil });
    expect(frame.arming?.cgroups.map((c) => c.path)).toEqual([evil]);
  });
});
