import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { must } from '../../src/vocab/backend.js';
import { LiveBackend } from '../../src/live/backend.js';
import { MAP_FLAGS } from '../../src/vocab/flags.js';
import { mapSpec } from '../../src/vocab/map-spec.js';
import { MAP_TYPES } from '../../src/vocab/maptypes.js';
import { closeFd, mapCreate, mapInfo } from '../../src/sys/bpf/index.js';
import { readMemoryHierarchy, type MemoryHierarchy } from '../../src/sys/cgroup/mount.js';
import { isUnavailable, MapIterator, readCgroupIds, readMapCharges, type MapCharge, MAP_RECORD } from '../../src/sys/iter/mapiter.js';
import { liveEnv } from './env.js';

/**
 * "Which memory cgroup is each map charged to", read from the running kernel by the iterator
 * bpfmem builds from BTF: a map of this process, a map created by a task in cgroup A, the same
 * map after the task moved to B and A was removed (charges reparented to A's parent), and one
 * scan over 10,000 maps, timed. Maps of other tasks live in the live backend's workers, in
 * cgroups under its owned root, which it removes.
 */

const MiB = 1024 * 1024;
const INF = Number.POSITIVE_INFINITY;

const hasBpftool = (() => {
  try {
    execFileSync('bpftool', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    console.warn('the bpftool cross-check of the map iterator is skipped: no bpftool on PATH');
    return false;
  }
})();

/** The inode of a directory, as the kernfs id the iterator reports. */
const inode = (dir: string): bigint => statSync(dir, { bigint: true }).ino;

describe.skipIf(!liveEnv.ok)('the map iterator on the running kernel', () => {
  let it0: MapIterator;
  let hierarchy: MemoryHierarchy;
  let b: LiveBackend;
  /** The owned root as a path relative to the hierarchy's mount (what readCgroupIds gives). */
  let rootPath = '';

  const scan = (): MapCharge[] => it0.scan();
  const find = (id: number): MapCharge | undefined => scan().find((m) => m.id === id);

  beforeAll(async () => {
    const found = await readMemoryHierarchy();
    if (!found.ok) throw new Error(found.reason);
    hierarchy = found.hierarchy;
    const opened = await MapIterator.open();
    if (isUnavailable(opened)) throw new Error(opened.reason);
    it0 = opened;
    b = await LiveBackend.create({ prefix: 'mapiter' });
    rootPath = b.root.slice(hierarchy.mountPoint.length);
  }, 60_000);

  afterAll(async () => {
    it0.close();
    await b.dispose();
  }, 60_000);

  it('lists a map this process creates, with its id, type, sizes, flags and name, charged to this process\'s cgroup', async () => {
    const fd = mapCreate({ type: 'hash', keySize: 12, valueSize: 40, maxEntries: 321, flags: MAP_FLAGS.no_prealloc, name: 'mapiter_own' });
    const id = mapInfo(fd).id;
    try {
      expect(find(id)).toEqual({
        id,
        type: MAP_TYPES.hash.id,
        keySize: 12,
        valueSize: 40,
        maxEntries: 321,
        flags: MAP_FLAGS.no_prealloc,
        name: 'mapiter_own',
        mapExtra: 0,
        // An empty no-prealloc hash: the iterator reads its element counter (0).
        elements: 0,
        cgroupId: inode(hierarchy.ownDir),
      });
      const ids = await readCgroupIds(hierarchy);
      expect(ids.get(inode(hierarchy.ownDir))).toBe(hierarchy.ownPath);
    } finally {
      closeFd(fd);
    }
    // Freed with its last fd (kernel/bpf/syscall.c: bpf_map_put frees the id at once): gone.
    expect(find(id)).toBeUndefined();
  });

  it('lists every map once, in id order', () => {
    const ids = scan().map((m) => m.id);
    expect(ids).toEqual([...new Set(ids)].sort((x, y) => x - y));
  });

  it.skipIf(!hasBpftool)('lists every map bpftool lists', () => {
    // Other processes may create and free maps meanwhile: a map seen by both scans lived
    // through bpftool's walk, so bpftool must list it.
    const before = new Set(scan().map((m) => m.id));
    const fromBpftool = new Set((JSON.parse(execFileSync('bpftool', ['-j', 'map', 'show'], { encoding: 'utf8' })) as { id: number }[]).map((m) => m.id));
    const stable = scan().filter((m) => before.has(m.id));
    expect(stable.filter((m) => !fromBpftool.has(m.id))).toEqual([]);
  });

  it('reports the cgroup of the task that created a map (A), which readCgroupIds maps back to A', async () => {
    must(await b.createCgroup('/a', { max: 256 * MiB, high: INF }));
    must(await b.createCgroup('/b', { max: 256 * MiB, high: INF }));
    must(await b.startTask('creator', { cgroup: '/a', uid: 0 }));
    must(await b.createMap('creator', 'charged_a', mapSpec({ type: 'array', keySize: 4, valueSize: 64, maxEntries: 1000 })));
    const id = (await b.snapshot()).maps.find((m) => m.name === 'charged_a')?.id;
    expect(id).toBeDefined();
    const a = inode(`${b.root}/a`);
    const m = find(id!);
    expect(m).toMatchObject({ type: MAP_TYPES.array.id, keySize: 4, valueSize: 64, maxEntries: 1000, name: 'charged_a', cgroupId: a });
    // kn->id is the inode of the cgroup's directory (cgroup v1 here; docs/kernel-facts.md §8).
    const ids = await readCgroupIds(hierarchy);
    expect(ids.get(a)).toBe(`${rootPath}/a`);
    expect(ids.get(inode(`${b.root}/b`))).toBe(`${rootPath}/b`);
    // readMapCharges (one scan: BTF, load, link, read, close) says the same.
    const once = await readMapCharges();
    expect(Array.isArray(once) && once.find((x) => x.id === id)?.cgroupId).toBe(a);
  });

  it('after the creator moves to B and A is removed, reports A\'s parent (objcg reparenting, 6.0+)', async () => {
    const id = (await b.snapshot()).maps.find((m) => m.name === 'charged_a')?.id;
    const a = inode(`${b.root}/a`);
    must(await b.moveTask('creator', '/b'));
    // Moving the task moves no charge: the map stays charged to A.
    expect(find(id!)?.cgroupId).toBe(a);
    must(await b.removeCgroup('/a'));
    // The memcg goes offline asynchronously after rmdir (css_killed_work_fn → mem_cgroup_css_offline
    // → memcg_reparent_objcgs); wait for the objcg to point at the parent.
    const parent = inode(b.root);
    let now = find(id!)?.cgroupId;
    for (let i = 0; i < 100 && now !== parent; i++) {
      await new Promise((r) => setTimeout(r, 50));
      now = find(id!)?.cgroupId;
    }
    expect(now).toBe(parent);
    const ids = await readCgroupIds(hierarchy);
    expect(ids.get(parent)).toBe(rootPath);
    expect(ids.has(a)).toBe(false);
  });

  it('scans 10,000 maps (timed, not asserted)', async () => {
    const N = 10_000;
    must(await b.createCgroup('/bulk', { max: 1024 * MiB, high: INF }));
    must(await b.startTask('bulk', { cgroup: '/bulk', uid: 0 }));
    const made = performance.now();
    for (let i = 0; i < N; i++) must(await b.createMap('bulk', `bulk${i}`, mapSpec({ type: 'array', keySize: 4, valueSize: 8, maxEntries: 1 })));
    const createMs = performance.now() - made;
    const bulk = inode(`${b.root}/bulk`);
    const times: number[] = [];
    let maps: MapCharge[] = [];
    for (let i = 0; i < 7; i++) {
      const start = performance.now();
      maps = scan();
      times.push(performance.now() - start);
    }
    expect(maps.length).toBeGreaterThanOrEqual(N);
    expect(maps.filter((m) => m.cgroupId === bulk)).toHaveLength(N);
    const oneShot = performance.now();
    const once = await readMapCharges();
    const oneShotMs = performance.now() - oneShot;
    expect(Array.isArray(once) && once.length).toBeGreaterThanOrEqual(N);
    const idsStart = performance.now();
    await readCgroupIds(hierarchy);
    const idsMs = performance.now() - idsStart;
    let bpftoolMs: number | undefined;
    try {
      const start = performance.now();
      execFileSync('bpftool', ['-j', 'map', 'show'], { maxBuffer: 256 * MiB, stdio: ['ignore', 'pipe', 'ignore'] });
      bpftoolMs = performance.now() - start;
    } catch {
      bpftoolMs = undefined;
    }
    const sorted = [...times].sort((x, y) => x - y);
    console.log(
      `map iterator, ${maps.length} maps (${maps.length * MAP_RECORD.size} bytes): scan ${sorted[0]!.toFixed(1)} ms min, ${sorted[3]!.toFixed(1)} ms median, ${sorted[6]!.toFixed(1)} ms max of 7; ` +
        `readMapCharges (BTF parse + load + link + scan + close) ${oneShotMs.toFixed(1)} ms; readCgroupIds ${idsMs.toFixed(1)} ms; ` +
        `bpftool -j map show ${bpftoolMs === undefined ? 'unavailable' : `${bpftoolMs.toFixed(0)} ms wall`}; creating the maps took ${(createMs / 1000).toFixed(1)} s`,
    );
    must(await b.stopTask('bulk'));
  }, 300_000);
});
