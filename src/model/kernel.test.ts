import { describe, expect, it } from 'vitest';
import { type KnownSnapshot as Snapshot, must } from '../vocab/backend.js';
import { MAX_SIMULATED_INSERTS, ModelKernel } from './kernel.js';
import { mapSpec, type MapSpec } from '../vocab/map-spec.js';
import { profileOf, type ProfileInput } from './profile.js';
import { MAP_FLAGS } from '../vocab/flags.js';

const INF = Number.POSITIVE_INFINITY;
const MiB = 1024 * 1024;
const PAGE = 4096;

function kernel(input: Partial<ProfileInput> = {}): ModelKernel {
  return new ModelKernel(profileOf({ version: '6.18', cpus: 2, cgroup: 1, ...input }));
}

const cg = (s: Snapshot, path: string) => {
  const c = s.cgroups.find((x) => x.path === path);
  if (!c) throw new Error(`no cgroup ${path}`);
  return c;
};
const mapOf = (s: Snapshot, name: string) => {
  const m = s.maps.find((x) => x.name === name);
  if (!m) throw new Error(`no map ${name}`);
  return m;
};

const array = (value: number, max: number): MapSpec => mapSpec({ type: 'array', keySize: 4, valueSize: value, maxEntries: max });
const noPreallocHash = (key: number, value: number, max: number): MapSpec =>
  mapSpec({ type: 'hash', keySize: key, valueSize: value, maxEntries: max, flags: MAP_FLAGS.no_prealloc });

describe('memcg charging', () => {
  it('charges a small map as one slab object, rounded up to a page per objcg, on every ancestor', () => {
    const k = kernel();
    must(k.createCgroup('/a', { max: INF, high: INF }));
    must(k.createCgroup('/a/b', { max: MiB, high: INF }));
    must(k.startTask('t', { cgroup: '/a/b', uid: 0 }));
    // array v4 max 1: sizeof(bpf_array) 312 + 8 = 320 bytes, kmalloc-512, plus the objcg
    // pointer; and the creator's fd: a struct file from the filp cache (192 B) and its dentry
    // (192 B), each with its pointer.
    must(k.createMap('t', 'm', array(4, 1)));
    const s = k.snapshot();
    expect(cg(s, '/a/b').bpf).toBe(512 + 8 + 192 + 8 + 192 + 8);
    expect(cg(s, '/a/b').kernel).toBe(PAGE);
    // The page counters took a whole batch (64 pages); 63 wait in this CPU's stock.
    expect(cg(s, '/a/b').usage).toBe(64 * PAGE);
    expect(cg(s, '/a/b').stock).toBe(63 * PAGE);
    expect(cg(s, '/a').usage).toBe(64 * PAGE);
    expect(cg(s, '/').usage).toBe(64 * PAGE);
    k.drainStocks();
    expect(cg(k.snapshot(), '/a/b').usage).toBe(PAGE);
    expect(cg(k.snapshot(), '/').usage).toBe(PAGE);
    expect(cg(s, '/a').bpf).toBe(0);
    expect(mapOf(s, 'm')).toMatchObject({ memlock: 320, charged: 920, chargedTo: '/a/b' });
  });

  it('fails at the first ancestor over its limit, counting failcnt there only', () => {
    const k = kernel();
    must(k.createCgroup('/a', { max: MiB, high: INF }));
    must(k.createCgroup('/a/b', { max: 10 * MiB, high: INF }));
    must(k.startTask('t', { cgroup: '/a/b', uid: 0 }));
    // 4096 × 300 bytes: vmalloc of 301 pages, over /a's 256 pages.
    const o = k.createMap('t', 'big', array(4096, 300));
    expect(o).toMatchObject({ ok: false, errno: 'ENOMEM' });
    expect(o.ok ? '' : o.reason).toMatch(/^\/a is at 0 B of 1\.0 MiB; creating map "big" needs 1\.2 MiB/);
    const s = k.snapshot();
    expect(cg(s, '/a').failcnt).toBeGreaterThan(0);
    expect(cg(s, '/a/b').failcnt).toBe(0);
    expect(cg(s, '/a').usage).toBe(0);
    // vmalloc charged page by page up to the limit before failing: the watermark shows it.
    expect(cg(s, '/a').peak).toBe(MiB);
    expect(cg(s, '/a').events.max).toBe(18);
  });

  it('charges the per-CPU values of a per-CPU array to nobody on 6.0+, to the creator on 5.11–5.19', () => {
    const spec = mapSpec({ type: 'percpu_array', keySize: 4, valueSize: 64, maxEntries: 1000 });
    // The creator's fd is a struct file in the cache-aligned `filp` cache: 192 bytes on 6.18, 256
    // with the sizes 5.15 takes (Debian's 5.10 build, the nearest below whose BTF was read).
    for (const [version, charged, filp] of [
      ['6.18', false, 192],
      ['5.15', true, 256],
    ] as const) {
      const k = kernel({ version });
      must(k.createCgroup('/p', { max: INF, high: INF }));
      must(k.startTask('t', { cgroup: '/p', uid: 0 }));
      must(k.createMap('t', 'pc', spec));
      const m = mapOf(k.snapshot(), 'pc');
      const values = 64 * 2 * 1000; // value × possible CPUs × entries
      // The pointer array, 312 (320 on 5.10) + 8 × 1000 bytes, is a kmalloc above 8 KiB: 4 whole
      // pages; and the creator's fd, its struct file and dentry (192 B), 8 bytes more each.
      const pointers = 4 * PAGE + filp + 8 + 192 + 8;
      if (charged) {
        // Per-CPU memory is charged with one objcg pointer per 4 bytes of unit: 64 / 4 × 8 more.
        expect(m.charged).toBe(pointers + 1000 * (values / 1000 + (64 / 4) * 8));
        expect(m.uncharged).toBe(0);
      } else {
        expect(m.charged).toBe(pointers);
        expect(m.uncharged).toBe(values);
      }
    }
  });
});

describe('updates', () => {
  it('charges inserts from softirq to the map\'s cgroup, not the interrupted task\'s', () => {
    const k = kernel();
    must(k.createCgroup('/agent', { max: INF, high: INF }));
    must(k.createCgroup('/web', { max: INF, high: INF }));
    must(k.startTask('agent', { cgroup: '/agent', uid: 0 }));
    must(k.startTask('web', { cgroup: '/web', uid: 0 }));
    must(k.createMap('agent', 'h', noPreallocHash(4, 4, 1000)));
    const before = cg(k.snapshot(), '/agent').bpf;
    must(k.updateMap('h', 100, 'softirq', 0));
    must(k.updateMap('h', 100, { task: 'web' }, 1));
    const s = k.snapshot();
    expect(cg(s, '/agent').bpf).toBeGreaterThan(before);
    // web pays only for its own fd on the map (a struct file and its dentry), nothing of the elements.
    expect(cg(s, '/web').bpf).toBe(192 + 8 + 192 + 8);
    expect(mapOf(s, 'h').elements).toBe(200);
  });

  it('simulates at most MAX_SIMULATED_INSERTS inserts that allocate in a run: past them it refuses at once, changing nothing', () => {
    const k = kernel();
    must(k.createCgroup('/agent', { max: INF, high: INF }));
    must(k.startTask('agent', { cgroup: '/agent', uid: 0 }));
    must(k.createMap('agent', 'h', noPreallocHash(4, 4, 2 ** 25)));
    must(k.updateMap('h', 1000, { task: 'agent' }, 0));
    const before = k.snapshot();
    expect(() => k.updateMap('h', MAX_SIMULATED_INSERTS, { task: 'agent' }, 0)).toThrow(
      'inserting 16777216 elements into map h: the model simulates inserts that allocate one by one, at most 16777216 in a run (1000 so far)',
    );
    expect(k.snapshot()).toEqual(before);
    // Inserts that allocate nothing are not counted: an LRU hash takes any number, evicting.
    must(k.createMap('agent', 'lru', mapSpec({ type: 'lru_hash', keySize: 4, valueSize: 8, maxEntries: 16 })));
    must(k.updateMap('lru', 2 ** 40, { task: 'agent' }, 0));
  });

  it('simulates bpf_mem_alloc: prefill 4 per CPU, refill a batch of 48 below the low watermark', () => {
    const k = kernel();
    must(k.createCgroup('/a', { max: INF, high: INF }));
    must(k.startTask('t', { cgroup: '/a', uid: 0 }));
    must(k.createMap('t', 'h', noPreallocHash(4, 4, 1000)));
    // elem_size 48 + 8 + 8 = 64, +8 llist_node = 72 → kmalloc-96, +8 objcg pointer = 104 B.
    const object = 104;
    const afterCreate = mapOf(k.snapshot(), 'h').charged;
    must(k.updateMap('h', 1, 'softirq', 0));
    const afterOne = mapOf(k.snapshot(), 'h').charged;
    // CPU 0 dropped to 3 free (< 32) and refilled (96 - 32) / 4 * 3 = 48 objects.
    expect(afterOne - afterCreate).toBe(48 * object);
    // 51 free now: 19 more inserts leave 32, the 20th goes below the low watermark again.
    must(k.updateMap('h', 19, 'softirq', 0));
    expect(mapOf(k.snapshot(), 'h').charged).toBe(afterOne);
    must(k.updateMap('h', 1, 'softirq', 0));
    expect(mapOf(k.snapshot(), 'h').charged).toBe(afterOne + 48 * object);
  });

  it('lets GFP_ATOMIC element charges exceed memory.max on 5.11–5.19 and fails GFP_NOWAIT on 6.0+', () => {
    const spec = noPreallocHash(8, 1000, 100000);
    for (const version of ['5.15', '6.18']) {
      const k = kernel({ version });
      must(k.createCgroup('/a', { max: 4 * MiB, high: INF }));
      must(k.startTask('t', { cgroup: '/a', uid: 0 }));
      must(k.createMap('t', 'h', spec));
      const o = k.updateMap('h', 5000, 'softirq', 0);
      const a = cg(k.snapshot(), '/a');
      if (version === '5.15') {
        expect(o.ok).toBe(true);
        expect(a.usage).toBeGreaterThan(4 * MiB);
        expect(a.events.max).toBeGreaterThan(0);
      } else {
        expect(o).toMatchObject({ ok: false, errno: 'ENOMEM' });
        expect(o.applied).toBeGreaterThan(0);
        expect(o.applied).toBeLessThan(5000);
        expect(a.usage).toBeLessThanOrEqual(4 * MiB);
      }
    }
  });

  it('lets sockhash and xskmap elements (GFP_ATOMIC in every era) exceed memory.max on 6.0+ too', () => {
    for (const spec of [
      mapSpec({ type: 'sockhash', keySize: 4, valueSize: 4, maxEntries: 100000 }),
      mapSpec({ type: 'xskmap', keySize: 4, valueSize: 4, maxEntries: 100000 }),
    ]) {
      const k = kernel({ version: '6.18' });
      must(k.createCgroup('/a', { max: 4 * MiB, high: INF }));
      must(k.startTask('t', { cgroup: '/a', uid: 0 }));
      must(k.createMap('t', 'm', spec));
      const o = k.updateMap('m', 90000, 'softirq', 0);
      const a = cg(k.snapshot(), '/a');
      expect(o, spec.type).toMatchObject({ ok: true, applied: 90000 });
      expect(a.usage, spec.type).toBeGreaterThan(4 * MiB);
      expect(a.events.max, spec.type).toBeGreaterThan(0);
    }
  });
});

describe('cgroups', () => {
  it('reparents a removed cgroup\'s charges to its parent without changing the parent\'s usage', () => {
    for (const [version, chargedTo, removed] of [
      ['6.18', '/pods', false],
      ['5.15', '/pods/agent', true],
    ] as const) {
      const k = kernel({ version });
      must(k.createCgroup('/pods', { max: INF, high: INF }));
      must(k.createCgroup('/pods/agent', { max: INF, high: INF }));
      must(k.createCgroup('/pods/next', { max: INF, high: INF }));
      must(k.startTask('t', { cgroup: '/pods/agent', uid: 0 }));
      must(k.createMap('t', 'h', noPreallocHash(8, 100, 10000)));
      must(k.updateMap('h', 1000, 'softirq', 0));
      const before = k.snapshot();
      expect(k.removeCgroup('/pods/agent')).toMatchObject({ ok: false, errno: 'EBUSY' });
      must(k.moveTask('t', '/pods/next'));
      must(k.removeCgroup('/pods/agent'));
      const after = k.snapshot();
      // Offlining drains the removed cgroup's stock; what was charged for real stays.
      expect(cg(after, '/pods').usage - cg(after, '/pods').stock).toBe(cg(before, '/pods').usage - cg(before, '/pods').stock);
      expect(cg(after, '/pods').kernel).toBe(cg(before, '/pods').kernel);
      expect(cg(after, '/pods').bpf).toBe(cg(before, '/pods/agent').bpf);
      expect(after.cgroups.map((c) => c.path)).not.toContain('/pods/agent');
      expect(mapOf(after, 'h')).toMatchObject({ chargedTo, chargedToRemoved: removed });
      must(k.updateMap('h', 1000, 'softirq', 0));
      expect(cg(k.snapshot(), '/pods').bpf).toBeGreaterThan(cg(after, '/pods').bpf);
    }
  });

  it('keeps tasks out of inner cgroups on v2 ("no internal processes")', () => {
    const k = kernel({ cgroup: 2 });
    must(k.createCgroup('/pods', { max: INF, high: INF }));
    must(k.createCgroup('/pods/a', { max: INF, high: INF }));
    expect(k.startTask('t', { cgroup: '/pods', uid: 0 })).toMatchObject({ ok: false, errno: 'EBUSY' });
    must(k.startTask('t', { cgroup: '/pods/a', uid: 0 }));
    expect(k.createCgroup('/pods/a/b', { max: INF, high: INF })).toMatchObject({ ok: false, errno: 'EBUSY' });
  });

  it('counts an oom event before every memcg OOM kill (kernel lab: 6.1 and 6.12 on cgroup v2)', () => {
    for (const version of ['6.1', '6.12']) {
      const k = kernel({ version, cgroup: 2 });
      must(k.createCgroup('/l', { max: 16 * MiB, high: INF }));
      must(k.startTask('u', { cgroup: '/l', uid: 0 }));
      // A creation refused at memory.max (vmalloc, __GFP_RETRY_MAYFAIL): 18 max events, no OOM.
      expect(k.createMap('u', 'big', array(4096, 4096))).toMatchObject({ ok: false, errno: 'ENOMEM' });
      expect(cg(k.snapshot(), '/l').events).toEqual({ high: 0, max: 18, oom: 0, oom_kill: 0 });
      // A task faulting past it: mem_cgroup_oom() counts MEMCG_OOM, then the kill MEMCG_OOM_KILL.
      expect(k.allocMemory('u', 32 * MiB)).toMatchObject({ ok: false, killed: true });
      expect(cg(k.snapshot(), '/l').events).toMatchObject({ oom: 1, oom_kill: 1 });
    }
  });

  it('counts two refused order-0 charges for a vmalloc area refused on 7.x (kernel lab: 7.2.13, 36 max events)', () => {
    for (const [version, seeded, max] of [
      ['6.18', 0, 18],
      ['7.2.13', 0, 36],
      // One page left after the high-order fill: the bulk call takes it, the fallback is refused.
      ['7.2.13', PAGE, 18],
    ] as const) {
      const k = kernel({ version, cgroup: 2 });
      must(k.createCgroup('/l', { max: 16 * MiB, high: INF }));
      k.seed('/l', seeded);
      must(k.startTask('u', { cgroup: '/l', uid: 0 }));
      expect(k.createMap('u', 'big', array(4096, 4096))).toMatchObject({ ok: false, errno: 'ENOMEM' });
      expect(cg(k.snapshot(), '/l').events, `${version}, ${seeded} bytes seeded`).toEqual({ high: 0, max, oom: 0, oom_kill: 0 });
    }
  });

  it('moves a task without moving what it allocated', () => {
    const k = kernel();
    must(k.createCgroup('/a', { max: INF, high: INF }));
    must(k.createCgroup('/b', { max: INF, high: INF }));
    must(k.startTask('t', { cgroup: '/a', uid: 0 }));
    must(k.allocMemory('t', 10 * PAGE));
    must(k.createMap('t', 'm', array(8, 1000)));
    must(k.moveTask('t', '/b'));
    const s = k.snapshot();
    expect(cg(s, '/a').stat.anon).toBe(10 * PAGE);
    expect(cg(s, '/b').usage).toBe(0);
    expect(mapOf(s, 'm').chargedTo).toBe('/a');
  });
});

describe('legacy memlock regime', () => {
  it('shares one locked_vm per uid and refuses with EPERM against the caller\'s RLIMIT_MEMLOCK', () => {
    const k = kernel({ version: '5.10' });
    must(k.startTask('a', { cgroup: '/', uid: 1000, memlock: 64 * 1024 }));
    must(k.startTask('b', { cgroup: '/', uid: 1000, memlock: 64 * 1024 }));
    must(k.startTask('c', { cgroup: '/', uid: 1001, memlock: 64 * 1024 }));
    // bpf_array 312 + 10 × 4096 = 41272 bytes → 11 pages precharged.
    must(k.createMap('a', 'm1', array(4096, 10)));
    expect(k.snapshot().users).toEqual([{ uid: 1000, lockedVm: 11 * PAGE }]);
    expect(k.mapMemlock('m1')).toBe(11 * PAGE);
    const o = k.createMap('b', 'm2', array(4096, 10));
    expect(o).toMatchObject({ ok: false, errno: 'EPERM' });
    expect(o.ok ? '' : o.reason).toContain('uid 1000 has 44.0 KiB locked');
    must(k.createMap('c', 'm3', array(4096, 10)));
    must(k.close('map', 'm1'));
    must(k.createMap('b', 'm2', array(4096, 10)));
    // BPF is not charged to memory cgroups before 5.11.
    expect(cg(k.snapshot(), '/').usage).toBe(0);
  });

  it('setCredentials: new objects go to the new uid against the new limit; old ones stay with their user', () => {
    const k = kernel({ version: '5.10' });
    must(k.startTask('a', { cgroup: '/', uid: 1000, memlock: 64 * 1024 }));
    must(k.createMap('a', 'm1', array(4096, 10)));
    expect(k.createMap('a', 'm2', array(4096, 10))).toMatchObject({ ok: false, errno: 'EPERM' });
    must(k.setCredentials('a', { memlock: 128 * 1024 }));
    must(k.createMap('a', 'm2', array(4096, 10)));
    must(k.setCredentials('a', { uid: 1001, memlock: 64 * 1024 }));
    must(k.createMap('a', 'm3', array(4096, 10)));
    expect(k.snapshot().users).toEqual([
      { uid: 1000, lockedVm: 22 * PAGE },
      { uid: 1001, lockedVm: 11 * PAGE },
    ]);
    must(k.close('map', 'm1'));
    expect(k.snapshot().users).toContainEqual({ uid: 1000, lockedVm: 11 * PAGE });
    expect(k.setCredentials('nobody', { uid: 1 })).toMatchObject({ ok: false, errno: 'ESRCH' });
  });

  it('precharges each cgroup storage made at attach to the map\'s user and its memlock (5.10), EPERM at the limit; not on 5.11+', () => {
    const shared = mapSpec({ type: 'cgroup_storage', keySize: 16, valueSize: 64, maxEntries: 0 });
    const percpu = mapSpec({ type: 'percpu_cgroup_storage', keySize: 16, valueSize: 2048, maxEntries: 0 });
    const k = kernel({ version: '5.10', cpus: 4 });
    must(k.startTask('a', { cgroup: '/', uid: 1000, memlock: 64 * 1024 }));
    must(k.createMap('a', 's', shared));
    must(k.createMap('a', 'p', percpu));
    // bpf_cgroup_storage_calculate_size(): a page for the shared storage with its 64-byte value;
    // round_up(2048, 8) × 4 CPUs = 2 pages for the per-CPU one; the maps' structs a page each.
    must(k.updateMap('s', 3, { task: 'a' }, 0));
    must(k.updateMap('p', 2, { task: 'a' }, 0));
    expect(k.mapMemlock('s')).toBe(4 * PAGE);
    expect(k.mapMemlock('p')).toBe(5 * PAGE);
    expect(k.snapshot().users).toEqual([{ uid: 1000, lockedVm: 9 * PAGE }]);
    const o = k.updateMap('s', 10, { task: 'a' }, 0);
    expect(o).toMatchObject({ ok: false, errno: 'EPERM', applied: 7 });
    expect(k.snapshot().users).toEqual([{ uid: 1000, lockedVm: 16 * PAGE }]);
    must(k.close('map', 's'));
    must(k.close('map', 'p'));
    expect(k.snapshot().users.filter((u) => u.lockedVm > 0)).toEqual([]);
    const now = kernel({ version: '5.15', cpus: 4 });
    must(now.startTask('a', { cgroup: '/', uid: 1000, memlock: 64 * 1024 }));
    must(now.createMap('a', 's', shared));
    const empty = now.mapMemlock('s');
    must(now.updateMap('s', 100, { task: 'a' }, 0));
    expect(now.mapMemlock('s')).toBe(empty);
    expect(now.snapshot().users.filter((u) => u.lockedVm > 0)).toEqual([]);
  });

  it('devmap answers EINVAL, not EPERM, when its precharge passes RLIMIT_MEMLOCK (dev_map_init_map)', () => {
    const k = kernel({ version: '5.10' });
    must(k.startTask('a', { cgroup: '/', uid: 1000, memlock: 4096 }));
    const big = mapSpec({ type: 'devmap_hash', keySize: 4, valueSize: 4, maxEntries: 1000 });
    expect(k.createMap('a', 'd', big)).toMatchObject({ ok: false, errno: 'EINVAL' });
    expect(k.createMap('a', 'h', mapSpec({ type: 'hash', keySize: 4, valueSize: 4, maxEntries: 1000 }))).toMatchObject({ ok: false, errno: 'EPERM' });
    must(k.setCredentials('a', { memlock: 8192 }));
    must(k.createMap('a', 'd', big));
  });

  it('charges programs by pages of instructions in both regimes', () => {
    for (const version of ['5.10', '6.18']) {
      const k = kernel({ version });
      must(k.createCgroup('/a', { max: INF, high: INF }));
      must(k.startTask('t', { cgroup: '/a', uid: 0, memlock: INF }));
      must(k.loadProg('t', 'p', 4096));
      const s = k.snapshot();
      const p = s.progs[0];
      expect(p?.memlock).toBe(36864); // round_up(96 + 8 × 4096, 4096), measured on 6.18
      if (version === '5.10') expect(s.users).toEqual([{ uid: 0, lockedVm: 36864 }]);
      else expect(p?.charged).toBeGreaterThanOrEqual(36864);
    }
  });
});

describe('a task frees only what it has', () => {
  it('freeing more than it allocated frees what it had, and says so', () => {
    const k = kernel();
    must(k.createCgroup('/a', { max: INF, high: INF }));
    must(k.startTask('t', { cgroup: '/a', uid: 0 }));
    must(k.allocMemory('t', 1 * MiB));
    const freed = k.allocMemory('t', -5 * MiB);
    expect(freed).toEqual({ ok: true, detail: 't had only 1.0 MiB of its own memory to free' });
    expect(k.snapshot().cgroups.find((c) => c.path === '/a')?.stat.anon).toBe(0);
    // Freeing exactly what it has says nothing more.
    must(k.allocMemory('t', 1 * MiB));
    expect(k.allocMemory('t', -1 * MiB)).toEqual({ ok: true });
  });
});

describe('a path made again and removed again is another cgroup', () => {
  /** A map made by a task in /pods/ct, then /pods/ct removed: the task moved to /pods first. */
  function madeAndRemoved(k: ModelKernel, map: string): string | undefined {
    must(k.createCgroup('/pods/ct', { max: INF, high: INF }));
    must(k.moveTask('t', '/pods/ct'));
    must(k.createMap('t', map, array(64, 16)));
    must(k.moveTask('t', '/pods'));
    const r = k.removeCgroup('/pods/ct');
    expect(r.ok).toBe(true);
    return r.ok ? r.detail : undefined;
  }

  it('5.15: two dying cgroups of one path count twice, and the second removal names only its own map', () => {
    const k = kernel({ version: '5.15' });
    must(k.createCgroup('/pods', { max: INF, high: INF }));
    must(k.startTask('t', { cgroup: '/pods', uid: 0 }));
    expect(madeAndRemoved(k, 'first')).toMatch(/maps first hold it/);
    expect(madeAndRemoved(k, 'second')).toMatch(/maps second hold it/);
    const s = k.snapshot();
    expect([cg(s, '/pods').dyingDescendants, cg(s, '/').dyingDescendants]).toEqual([2, 2]);
  });

  it('6.18: removing a parent names the maps reparented to it from a child removed before', () => {
    const k = kernel();
    must(k.createCgroup('/pods', { max: INF, high: INF }));
    must(k.startTask('t', { cgroup: '/pods', uid: 0 }));
    expect(madeAndRemoved(k, 'm')).toBe('charges of maps m now go to /pods (objcg reparented)');
    must(k.moveTask('t', '/'));
    expect(k.removeCgroup('/pods')).toEqual({ ok: true, detail: 'charges of maps m now go to / (objcg reparented)' });
  });
});

describe('deletes from a preallocated map', () => {
  it('move only the count, whatever it is: 300 rounds of 100,000,000 inserts and deletes end where they began', () => {
    // One by one, each delete of 100,000,000 took half a second: a scenario of a few KB ran for half an hour.
    const k = kernel();
    must(k.createCgroup('/a', { max: INF, high: INF }));
    must(k.startTask('t', { cgroup: '/a', uid: 0 }));
    must(k.createMap('t', 'h', mapSpec({ type: 'hash', keySize: 4, valueSize: 4, maxEntries: 100_000_000 })));
    const before = k.snapshot().cgroups.find((c) => c.path === '/a')?.stat;
    for (let i = 0; i < 300; i++) {
      expect(k.updateMap('h', 100_000_000, { task: 't' }, 0)).toMatchObject({ ok: true, applied: 100_000_000 });
      expect(k.deleteFromMap('h', 100_000_000, 0)).toMatchObject({ ok: true, applied: 100_000_000 });
    }
    expect(k.deleteFromMap('h', 1, 0)).toMatchObject({ ok: false, errno: 'ENOENT', applied: 0 });
    expect(k.snapshot().cgroups.find((c) => c.path === '/a')?.stat).toEqual(before);
  });
});

describe('freeing everything', () => {
  it('returns every counter to zero', () => {
    const k = kernel();
    must(k.createCgroup('/a', { max: INF, high: INF }));
    must(k.startTask('t', { cgroup: '/a', uid: 0 }));
    must(k.createMap('t', 'h', noPreallocHash(16, 64, 10000)));
    must(k.updateMap('h', 3000, 'softirq', 1));
    must(k.deleteFromMap('h', 1000, 0));
    must(k.createMap('t', 'r', mapSpec({ type: 'ringbuf', maxEntries: 64 * 1024 })));
    must(k.loadProg('t', 'p', 100));
    must(k.allocMemory('t', 5 * MiB));
    must(k.close('map', 'h'));
    must(k.close('map', 'r'));
    must(k.close('prog', 'p'));
    must(k.allocMemory('t', -5 * MiB));
    k.drainStocks();
    for (const c of k.snapshot().cgroups) {
      expect(c).toMatchObject({ usage: 0, kernel: 0, bpf: 0, stat: { slab: 0, percpu: 0, vmalloc: 0, anon: 0 } });
    }
  });
});
