import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { NamedSpec } from '../estimate/maps.js';
import type { LinuxErrno } from '../vocab/errno.js';
import { MAP_FLAGS } from '../vocab/flags.js';
import { mapSpec } from '../vocab/map-spec.js';
import { makeProfile } from '../model/profile.js';
import { type CgroupVersion, type Regime } from '../vocab/profile.js';
import { CAP } from '../vocab/caps.js';
import { explain, exitStatusOf, type Explanation } from './explain.js';
import type { CgroupLevel, ExplainFacts, ExplainRequest, TaskFacts } from './facts.js';

const KiB = 1024;
const MiB = 1024 * 1024;
const INF = Number.POSITIVE_INFINITY;
/** Every capability bit of this host's root (CapEff 000001fffeffffff: all but CAP_SYS_RESOURCE). */
const ROOT_CAPS = 0x1fffeffffffn;

function profile(version: string, cgroup: CgroupVersion = 1, regime?: Regime) {
  const p = makeProfile({ version, cpus: 2, pageSize: 4096, cgroup, ...(regime && { regime }) });
  if (!p.ok) throw new Error(p.error);
  return p.value;
}

function level(path: string, usage: number | undefined, max = INF, more: Partial<CgroupLevel> = {}): CgroupLevel {
  return { path, usage, max, high: undefined, reclaimable: 0, failcnt: 0, maxEvents: undefined, ...more };
}

function task(more: Partial<TaskFacts> = {}): TaskFacts {
  return { pid: 4242, comm: 'loader', uid: 1000, memlock: { soft: 8 * MiB, hard: 8 * MiB }, capEff: ROOT_CAPS, ...more };
}

function facts(more: Partial<ExplainFacts> = {}): ExplainFacts {
  return {
    profile: profile('6.18'),
    regimeReason: 'kernel 6.18 charges BPF maps and programs to the creator\'s memory cgroup',
    task: task(),
    chain: [level('/a/b', 10 * MiB), level('/a', 99 * MiB, 100 * MiB), level('/', 2048 * MiB)],
    unprivilegedBpfDisabled: 2,
    bpfJitLimit: 528482304,
    bpfJitEnable: 1,
    ...more,
  };
}

/** An array of `bytes` of values (4 KiB each). */
const arrayMap = (bytes: number, name = 'data'): NamedSpec => ({ name, spec: mapSpec({ type: 'array', keySize: 4, valueSize: 4096, maxEntries: bytes / 4096 }) });

function request(more: Partial<ExplainRequest> = {}): ExplainRequest {
  return { maps: [], progs: [], extraBytes: 0, errno: undefined, ...more };
}

const causeOf = (e: Explanation, kind: string) => e.causes.filter((c) => c.kind === kind);

describe('explain: memory cgroups (memcg regime)', () => {
  it("says why a v1 root's usage can be below a child's, only where it is", () => {
    const note = /^on cgroup v1 the root's USAGE is the kernel's estimate/;
    const below = explain(facts({ chain: [level('/a', 3000 * MiB), level('/', 2048 * MiB)] }), request({ extraBytes: MiB }));
    expect(below.notes.filter((n) => note.test(n))).toHaveLength(1);
    expect(explain(facts(), request({ extraBytes: MiB })).notes.some((n) => note.test(n))).toBe(false);
    const v2 = explain(facts({ profile: profile('6.18', 2), chain: [level('/a', 3000 * MiB), level('/', 2048 * MiB)] }), request({ extraBytes: MiB }));
    expect(v2.notes.some((n) => note.test(n))).toBe(false);
  });

  it('names the deepest cgroup without room, by how much, and what to change (v1)', () => {
    const e = explain(facts(), request({ maps: [arrayMap(3 * MiB)] }));
    const need = e.need.counted;
    // 312 + 3 MiB of values, vmalloc'd: 769 pages, plus the fd's struct file.
    expect(need).toBeGreaterThan(3 * MiB);
    expect(need).toBeLessThan(3 * MiB + 8 * KiB);
    expect(e.verdict).toEqual({ kind: 'short', limit: 'memory.limit_in_bytes', cgroup: '/a', headroom: 1 * MiB, short: need - 1 * MiB });
    expect(e.advice[0]).toContain("raise /a's memory.limit_in_bytes by");
    expect(e.advice[0]).toContain('or free');
    expect(exitStatusOf(e)).toBe(1);
  });

  it('fits, with what is left under the tightest limit', () => {
    const e = explain(facts(), request({ maps: [arrayMap(256 * KiB)] }));
    expect(e.verdict).toMatchObject({ kind: 'fits', limit: 'memory.limit_in_bytes', cgroup: '/a', reclaim: 0 });
    if (e.verdict.kind !== 'fits') throw new Error('not fits');
    expect(e.verdict.headroom).toBe(1 * MiB - e.need.counted);
    expect(exitStatusOf(e)).toBe(0);
  });

  it('names memory.max on cgroup v2, treats memory.high as a throttle, and a v2 root without counters', () => {
    const f = facts({
      profile: profile('6.18', 2),
      chain: [level('/pods/agent', 100 * MiB, 512 * MiB, { high: 101 * MiB }), level('/pods', 100 * MiB), level('/', undefined)],
    });
    const e = explain(f, request({ maps: [arrayMap(2 * MiB)] }));
    expect(e.verdict).toMatchObject({ kind: 'fits', limit: 'memory.max', cgroup: '/pods/agent' });
    expect(e.levels[0]?.overHigh).toBe(true);
    expect(e.notes.join('\n')).toMatch(/usage would pass memory.high .* throttled/);
    expect(e.levels[2]).toMatchObject({ path: '/', headroom: INF, short: 0 });
  });

  it('stops at the deepest short cgroup, and says every short one needs room', () => {
    const f = facts({ chain: [level('/a/b', 30 * MiB, 31 * MiB), level('/a', 99 * MiB, 100 * MiB), level('/', 1)] });
    const e = explain(f, request({ extraBytes: 4 * MiB }));
    expect(e.verdict).toMatchObject({ kind: 'short', cgroup: '/a/b', short: 3 * MiB });
    expect(e.advice).toHaveLength(3);
    expect(e.advice[2]).toMatch(/raising \/a\/b alone is not enough/);
  });

  it('counts page cache the kernel reclaims before refusing a creation', () => {
    const f = facts({ chain: [level('/a', 99 * MiB, 100 * MiB, { reclaimable: 50 * MiB }), level('/', 1)] });
    const e = explain(f, request({ extraBytes: 4 * MiB }));
    expect(e.verdict).toMatchObject({ kind: 'fits', reclaim: 3 * MiB, headroom: 0 });
    expect(e.notes.join('\n')).toMatch(/holds 50.0 MiB of page cache: map creation reclaims it/);
    // Not enough cache: short, and the cgroup named.
    const g = explain(facts({ chain: [level('/a', 99 * MiB, 100 * MiB, { reclaimable: 2 * MiB }), level('/', 1)] }), request({ extraBytes: 4 * MiB }));
    expect(g.verdict).toMatchObject({ kind: 'short', cgroup: '/a', short: 3 * MiB });
  });

  it('a task in the root memory cgroup is never charged', () => {
    const e = explain(facts({ chain: [level('/', 3000 * MiB)] }), request({ extraBytes: 64 * MiB }));
    expect(e.verdict).toMatchObject({ kind: 'fits', limit: undefined, headroom: INF });
    expect(e.notes.join('\n')).toMatch(/root memory cgroup, which is never charged/);
  });

  it('cannot tell without the cgroups', () => {
    const e = explain(facts({ chain: [], chainMissing: 'cgroup2 at /sys/fs/cgroup has no memory controller' }), request({ extraBytes: MiB }));
    expect(e.verdict).toEqual({ kind: 'unknown', reason: 'cgroup2 at /sys/fs/cgroup has no memory controller' });
    expect(exitStatusOf(e)).toBe(1);
  });

  it('says when per-CPU memory no cgroup pays for matters (6.0+), and not on 5.15 where it is charged', () => {
    const percpu: NamedSpec = { name: 'stats', spec: mapSpec({ type: 'percpu_array', keySize: 4, valueSize: 64, maxEntries: 100_000 }) };
    const e = explain(facts(), request({ maps: [percpu] }));
    // 64 × 2 CPUs × 100000 values: on 6.18 none of it is charged.
    expect(e.need.uncharged).toBe(12_800_000);
    expect(e.notes.join('\n')).toMatch(/12\.2 MiB is allocated at creation but charged to no memory cgroup on 6\.18, .* 12\.2 MiB made inside map_alloc\(\) by the map's allocation helpers, .*: percpu values 12\.2 MiB$/m);
    const old = explain(facts({ profile: profile('5.15') }), request({ maps: [percpu] }));
    expect(old.need.uncharged).toBe(0);
    expect(old.verdict).toMatchObject({ kind: 'short', cgroup: '/a' });
  });

  it('warns when the need is within the per-CPU charge stock of the headroom', () => {
    // 64 pages × 4 KiB × 2 CPUs = 512 KiB of stock either way.
    const e = explain(facts(), request({ extraBytes: 1 * MiB - 100 * KiB }));
    expect(e.notes.join('\n')).toMatch(/\/a is within 512.0 KiB of the need/);
  });

  it('gives the same explanation for the same facts', () => {
    const r = request({ maps: [arrayMap(3 * MiB)], errno: 'ENOMEM' });
    expect(explain(facts(), r)).toEqual(explain(facts(), r));
  });
});

describe('explain: RLIMIT_MEMLOCK (memlock regime, before 5.11)', () => {
  const old = (t: TaskFacts | undefined) =>
    facts({ profile: profile('5.10'), regimeReason: 'kernel 5.10 predates memcg accounting of BPF (5.11)', task: t });

  it('fits under the soft limit, and says the uid\'s locked_vm cannot be read', () => {
    const e = explain(old(task({ memlock: { soft: 8 * MiB, hard: 8 * MiB } })), request({ maps: [arrayMap(1 * MiB)] }));
    // 5.10 precharges round_up(312 + 1 MiB, 4 KiB): 257 pages.
    expect(e.need.counted).toBe(257 * 4096);
    expect(e.verdict).toEqual({ kind: 'fits', limit: 'RLIMIT_MEMLOCK', cgroup: undefined, headroom: 8 * MiB - 257 * 4096, reclaim: 0 });
    expect(e.notes.join('\n')).toMatch(/uid 1000's locked_vm, shared by every process of uid 1000/);
    expect(e.notes.join('\n')).toMatch(/memory cgroups do not limit BPF/);
  });

  it('is short over the soft limit: raise it within the hard limit', () => {
    const e = explain(old(task({ memlock: { soft: 64 * KiB, hard: 8 * MiB } })), request({ maps: [arrayMap(1 * MiB)] }));
    expect(e.verdict).toEqual({ kind: 'short', limit: 'RLIMIT_MEMLOCK', cgroup: undefined, headroom: 64 * KiB, short: 257 * 4096 - 64 * KiB });
    expect(e.advice[0]).toMatch(/its hard limit 8.0 MiB allows it/);
    expect(e.advice[0]).toContain('prlimit --pid 4242 --memlock=1052672:8388608');
  });

  it('over the hard limit: needs CAP_SYS_RESOURCE, which the task lacks', () => {
    const e = explain(old(task({ memlock: { soft: 64 * KiB, hard: 64 * KiB }, capEff: ROOT_CAPS })), request({ maps: [arrayMap(1 * MiB)] }));
    expect(e.verdict).toMatchObject({ kind: 'short', limit: 'RLIMIT_MEMLOCK' });
    expect(e.advice[0]).toMatch(/needs CAP_SYS_RESOURCE \(the task lacks it\)/);
  });

  it('unlimited fits; without a task it cannot tell', () => {
    expect(explain(old(task({ memlock: { soft: INF, hard: INF } })), request({ extraBytes: 64 * MiB })).verdict).toMatchObject({ kind: 'fits', headroom: INF });
    expect(explain(old(undefined), request({ extraBytes: MiB })).verdict).toMatchObject({ kind: 'unknown' });
  });
});

describe('explain: regime none, refusals, privileges', () => {
  it('regime none counts nothing', () => {
    const e = explain(facts({ profile: profile('6.18', 1, 'none'), regimeReason: 'cgroup.memory=nobpf' }), request({ extraBytes: 64 * GiB() }));
    expect(e.verdict).toMatchObject({ kind: 'fits', limit: undefined });
    expect(e.notes).toContain('cgroup.memory=nobpf');
  });

  it('a spec the kernel refuses is refused, whatever the room', () => {
    const bad: NamedSpec = { name: 'h', spec: mapSpec({ type: 'hash', keySize: 4, valueSize: 8, maxEntries: 16, flags: MAP_FLAGS.no_common_lru }) };
    const e = explain(facts(), request({ maps: [bad] }));
    expect(e.verdict).toMatchObject({ kind: 'refused', errno: 'EINVAL' });
    expect(exitStatusOf(e)).toBe(1);
  });

  it('a task without CAP_BPF is refused when unprivileged BPF is disabled', () => {
    const e = explain(facts({ task: task({ capEff: 0n }) }), request({ maps: [arrayMap(4096)] }));
    expect(e.verdict).toEqual({ kind: 'refused', errno: 'EPERM', reason: 'map data: kernel.unprivileged_bpf_disabled is 2 and the task has neither CAP_BPF nor CAP_SYS_ADMIN' });
  });

  it('network maps need CAP_NET_ADMIN (or CAP_SYS_ADMIN on 6.9+); LRU maps need CAP_BPF', () => {
    const devmap: NamedSpec = { name: 'tx', spec: mapSpec({ type: 'devmap', keySize: 4, valueSize: 4, maxEntries: 64 }) };
    const lru: NamedSpec = { name: 'lru', spec: mapSpec({ type: 'lru_hash', keySize: 4, valueSize: 4, maxEntries: 64 }) };
    const bpfOnly = task({ capEff: 1n << BigInt(CAP.CAP_BPF) });
    expect(explain(facts({ task: bpfOnly }), request({ maps: [devmap] })).verdict).toMatchObject({ kind: 'refused', errno: 'EPERM', reason: expect.stringMatching(/devmap maps need CAP_NET_ADMIN/) as unknown });
    expect(explain(facts({ task: bpfOnly }), request({ maps: [lru] })).verdict.kind).toBe('fits');
    const unprivileged = facts({ task: task({ capEff: 0n }), unprivilegedBpfDisabled: 0 });
    expect(explain(unprivileged, request({ maps: [lru] })).verdict).toMatchObject({ kind: 'refused', reason: expect.stringMatching(/lru_hash maps need CAP_BPF/) as unknown });
    expect(explain(unprivileged, request({ maps: [arrayMap(4096)] })).verdict.kind).toBe('fits');
  });
});

function GiB(): number {
  return 1024 * MiB;
}

describe('explain --errno: the causes that fit the evidence', () => {
  const run = (errno: LinuxErrno, f: ExplainFacts = facts(), more: Partial<ExplainRequest> = {}) => explain(f, request({ errno, maps: [arrayMap(3 * MiB)], ...more }));

  it('ENOMEM: the cgroup without room is likely, with its failcnt; RLIMIT_MEMLOCK ruled out', () => {
    const f = facts({ chain: [level('/a/b', 10 * MiB), level('/a', 99 * MiB, 100 * MiB, { failcnt: 279 }), level('/', 1)] });
    const e = run('ENOMEM', f);
    const memcg = causeOf(e, 'memcg-max');
    expect(memcg[0]).toMatchObject({ status: 'likely' });
    expect(memcg[0]?.text).toMatch(/^memory.limit_in_bytes of \/a: at 99.0 MiB of 100.0 MiB \(1.0 MiB free\); the 3.0 MiB charged does not fit by 2.0 MiB$/);
    expect(memcg[0]?.evidence[0]).toBe('memory.failcnt of /a is 279: charges have hit its limit');
    expect(causeOf(e, 'rlimit-memlock')[0]?.status).toBe('ruled out');
    expect(e.causes[0]?.status).toBe('likely');
    expect(exitStatusOf(e)).toBe(0);
  });

  it('ENOMEM on v2: a cgroup with room now but max events is possible; nothing likely exits 1', () => {
    const f = facts({ profile: profile('6.18', 2), chain: [level('/svc', 10 * MiB, 512 * MiB, { maxEvents: 3, failcnt: undefined }), level('/', undefined)] });
    const e = run('ENOMEM', f);
    expect(causeOf(e, 'memcg-max')[0]).toMatchObject({ status: 'possible' });
    expect(causeOf(e, 'memcg-max')[0]?.evidence[0]).toBe('memory.events.local max of /svc is 3: usage has reached its limit');
    expect(causeOf(e, 'allocator')[0]?.status).toBe('possible');
    expect(exitStatusOf(e)).toBe(1);
  });

  it('ENOMEM with room everywhere and no limit hit: the memory cgroups are ruled out', () => {
    const f = facts({ chain: [level('/a', 10 * MiB, 512 * MiB), level('/', 1)] });
    expect(causeOf(run('ENOMEM', f), 'memcg-max')[0]).toMatchObject({ status: 'ruled out' });
    expect(causeOf(run('ENOMEM', facts({ chain: [level('/', 1)] })), 'memcg-root')[0]).toMatchObject({ status: 'ruled out' });
  });

  it('EPERM before 5.11: RLIMIT_MEMLOCK is likely over the soft limit, possible under it', () => {
    const f = (soft: number) => facts({ profile: profile('5.10'), task: task({ memlock: { soft, hard: INF } }) });
    expect(causeOf(run('EPERM', f(64 * KiB)), 'rlimit-memlock')[0]).toMatchObject({ status: 'likely' });
    const under = causeOf(run('EPERM', f(64 * MiB)), 'rlimit-memlock')[0];
    expect(under).toMatchObject({ status: 'possible' });
    expect(under?.evidence[0]).toMatch(/uid 1000's locked_vm .* cannot be read/);
  });

  it('EPERM on 6.18: RLIMIT_MEMLOCK ruled out; missing capabilities likely; LSMs always possible', () => {
    const e = run('EPERM', facts({ task: task({ capEff: 0n }) }));
    expect(causeOf(e, 'rlimit-memlock')[0]?.status).toBe('ruled out');
    expect(causeOf(e, 'permission')[0]).toMatchObject({ status: 'likely', text: expect.stringMatching(/unprivileged_bpf_disabled is 2/) as unknown });
    expect(causeOf(e, 'lsm')[0]?.status).toBe('possible');
    const root = run('EPERM');
    expect(causeOf(root, 'permission')[0]?.status).toBe('ruled out');
    expect(exitStatusOf(root)).toBe(1);
  });

  it('EPERM and ENOTSUPP with programs: bpf_jit_limit for unprivileged loaders only', () => {
    const unpriv = facts({ task: task({ capEff: 0n }), unprivilegedBpfDisabled: 0 });
    const e = explain(unpriv, request({ errno: 'ENOTSUPP', progs: [100] }));
    expect(causeOf(e, 'bpf-jit-limit')[0]).toMatchObject({ status: 'possible', text: expect.stringMatching(/^bpf_jit_limit 504.0 MiB/) as unknown });
    expect(causeOf(explain(facts(), request({ errno: 'EPERM', progs: [100] })), 'bpf-jit-limit')[0]?.status).toBe('ruled out');
  });

  it('E2BIG: the spec (per-CPU value over 32 KiB) and the program size for unprivileged loaders', () => {
    const big: NamedSpec = { name: 'pc', spec: mapSpec({ type: 'percpu_hash', keySize: 4, valueSize: 40_000, maxEntries: 16 }) };
    const e = explain(facts(), request({ errno: 'E2BIG', maps: [big] }));
    expect(causeOf(e, 'spec')[0]).toMatchObject({ status: 'likely', text: expect.stringMatching(/per-CPU limit of 32768/) as unknown });
    const unpriv = facts({ task: task({ capEff: 0n }), unprivilegedBpfDisabled: 0 });
    const p = explain(unpriv, request({ errno: 'E2BIG', progs: [5000] }));
    expect(causeOf(p, 'program-size')[0]).toMatchObject({ status: 'likely' });
    expect(causeOf(p, 'attr-size')[0]?.status).toBe('possible');
  });

  it('EINVAL: a refused spec is likely; a valid one leaves what the model does not check', () => {
    const bad: NamedSpec = { name: 'a', spec: mapSpec({ type: 'array', keySize: 4, valueSize: 8, maxEntries: 16, flags: MAP_FLAGS.no_prealloc }) };
    const e = explain(facts(), request({ errno: 'EINVAL', maps: [bad] }));
    expect(causeOf(e, 'spec')[0]).toMatchObject({ status: 'likely' });
    expect(exitStatusOf(e)).toBe(0);
    const ok = run('EINVAL');
    expect(causeOf(ok, 'spec')[0]?.status).toBe('ruled out');
    expect(causeOf(ok, 'other-attributes')[0]?.status).toBe('possible');
    expect(exitStatusOf(ok)).toBe(1);
  });

  it('a refused spec with another errno than the one seen is only possible', () => {
    const lru: NamedSpec = { name: 'l', spec: mapSpec({ type: 'lru_hash', keySize: 4, valueSize: 4, maxEntries: 10, flags: MAP_FLAGS.no_prealloc }) };
    expect(causeOf(explain(facts(), request({ errno: 'ENOTSUPP', maps: [lru] })), 'spec')[0]?.status).toBe('likely');
    expect(causeOf(explain(facts(), request({ errno: 'ENOMEM', maps: [lru] })), 'spec')[0]).toMatchObject({ status: 'possible', text: expect.stringMatching(/ENOTSUPP, not ENOMEM/) as unknown });
  });

  it('an errno with no BPF memory cause says so', () => {
    expect(causeOf(run('EBADF'), 'unknown-errno')[0]?.status).toBe('possible');
  });

  it('any errno of Linux: one line saying what it means and that bpfmem has no specific explanation; exit 1', () => {
    for (const errno of ['EINTR', 'ENODEV', 'ELOOP', 'EOVERFLOW', 'ENXIO', 'EOPNOTSUPP'] as const) {
      const e = run(errno);
      expect(e.causes.filter((c) => c.kind !== 'spec')).toHaveLength(1);
      expect(causeOf(e, 'unknown-errno')[0]).toMatchObject({ status: 'possible' });
      expect(exitStatusOf(e)).toBe(1);
    }
    expect(causeOf(run('EINTR'), 'unknown-errno')[0]?.text).toBe('bpf(2) failed with EINTR (4, Interrupted system call): bpfmem has no specific explanation of it from BPF_MAP_CREATE or BPF_PROG_LOAD');
  });

  it('EMFILE: each map and program is an fd of the loader, up to its RLIMIT_NOFILE', () => {
    const at = (open: number, soft = 1024) => causeOf(run('EMFILE', facts({ task: task({ nofile: { soft, hard: 4096 }, openFds: open }) })), 'rlimit-nofile')[0];
    // 1024 open of 1024: the next fd is EMFILE (fs/file.c alloc_fd).
    expect(at(1024)).toMatchObject({ status: 'likely', text: 'RLIMIT_NOFILE of process 4242: 1024 fds open of 1024; the map or program takes 1 more' });
    expect(at(1024)?.fix).toMatch(/ulimit -n.*its hard limit is 4096$/);
    expect(exitStatusOf(run('EMFILE', facts({ task: task({ nofile: { soft: 64, hard: 64 }, openFds: 64 }) })))).toBe(0);
    expect(at(10)).toMatchObject({ status: 'possible', text: expect.stringMatching(/10 fds open of 1024, room for 1014 more now/) as unknown });
    // Unread fds, no limit read, no task: possible, saying what is missing.
    expect(causeOf(run('EMFILE', facts({ task: task({ nofile: { soft: 1024, hard: 4096 } }) })), 'rlimit-nofile')[0]?.evidence[0]).toMatch(/could not be listed/);
    expect(causeOf(run('EMFILE'), 'rlimit-nofile')[0]).toMatchObject({ status: 'possible', evidence: ['/proc/4242/limits has no "Max open files"'] });
    expect(causeOf(run('EMFILE', facts({ task: undefined })), 'rlimit-nofile')[0]).toMatchObject({ status: 'possible', evidence: ['no task given: use --pid'] });
  });

  it('ENFILE: fs.file-max, which does not apply with CAP_SYS_ADMIN', () => {
    expect(causeOf(run('ENFILE'), 'file-max')[0]?.status).toBe('ruled out');
    expect(causeOf(run('ENFILE', facts({ task: task({ capEff: 0n }) })), 'file-max')[0]).toMatchObject({ status: 'possible', fix: expect.stringMatching(/fs\.file-max/) as unknown });
  });
});

describe('explain: invariants over random cgroup chains', () => {
  const chainArb = fc
    .array(fc.record({ usage: fc.integer({ min: 0, max: 2 ** 34 }), max: fc.option(fc.integer({ min: 0, max: 2 ** 34 }), { nil: undefined }), cache: fc.integer({ min: 0, max: 2 ** 30 }) }), { minLength: 1, maxLength: 6 })
    .map((xs) => [
      ...xs.map((x, i) => level(`/${xs.slice(0, xs.length - i).map((_, j) => `c${j}`).join('/')}`, x.usage, x.max ?? INF, { reclaimable: x.cache })),
      level('/', 0),
    ]);

  it('short exactly when some cgroup lacks room that page cache does not cover, at the deepest such one', () => {
    fc.assert(
      fc.property(chainArb, fc.integer({ min: 1, max: 2 ** 33 }), (chain, bytes) => {
        const e = explain(facts({ chain }), request({ extraBytes: bytes }));
        const need = e.need.counted;
        const blocking = chain.filter((c) => c.path !== '/' && c.usage !== undefined && Number.isFinite(c.max) && need > c.max - c.usage && need - (c.max - c.usage) > (c.reclaimable ?? 0));
        if (blocking.length === 0) {
          expect(e.verdict.kind).toBe('fits');
          expect(exitStatusOf(e)).toBe(0);
        } else {
          const first = blocking[0];
          expect(e.verdict).toMatchObject({ kind: 'short', cgroup: first?.path, short: need - ((first?.max ?? 0) - (first?.usage ?? 0)) });
          expect(e.advice.length).toBeGreaterThanOrEqual(blocking.length);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('explain reasons purely', () => {
  it('imports no Node built-in, no kernel door (sys/, live/) and no face, but in read-facts.ts, its one reader of the machine', () => {
    const dir = import.meta.dirname;
    const sources = readdirSync(dir).filter((n) => n.endsWith('.ts') && !n.endsWith('.test.ts') && n !== 'read-facts.ts');
    expect(sources.length).toBeGreaterThan(5);
    for (const name of sources) {
      const imports = [...readFileSync(join(dir, name), 'utf8').matchAll(/ from '([^']+)';$/gm)].map((m) => m[1] ?? '');
      expect(imports.filter((i) => i.startsWith('node:') || /\/(sys|live|cli|server|web|bin)\//.test(i)), name).toEqual([]);
      expect(imports.length, name).toBeGreaterThan(0);
    }
  });
});
