import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { must } from '../../src/vocab/backend.js';
import { LiveBackend } from '../../src/live/backend.js';
import { MAP_FLAGS } from '../../src/vocab/flags.js';
import { mapSpec, type MapSpec } from '../../src/vocab/map-spec.js';
import { readMemoryHierarchy } from '../../src/sys/cgroup/mount.js';
import { pathInMount } from '../../src/sys/cgroup/paths.js';
import { cli, specText } from '../cli/run.js';
import { readFileSync } from 'node:fs';
import { parseBpfObject } from '../../src/elf/index.js';
import { estimateMaps } from '../../src/estimate/maps.js';
import { objectSpecs } from '../../src/estimate/object.js';
import { vmlinuxBtf } from '../../src/sys/bpf/vmlinux.js';
import { buildFixture, toolchain } from '../fixtures/bpf/build.js';
import { liveEnv } from './env.js';

const MiB = 1024 * 1024;
const INF = Number.POSITIVE_INFINITY;

/** An array map of `mib` MiB of 4 KiB values: one vmalloc area, charged to its creator's cgroup. */
const array = (mib: number): MapSpec => mapSpec({ type: 'array', keySize: 4, valueSize: 4096, maxEntries: (mib * MiB) / 4096 });

interface ExplainJson {
  verdict: { kind: string; limit?: string; cgroup?: string | null; short?: number; errno?: string };
  cgroups: { path: string; max: number | null; headroom: number | null; failcnt: number | null }[];
  need: { counted: number };
  causes: { kind: string; status: string; text: string; evidence: string[] }[];
}

/** `bpfmem explain ARGS --json` in this process, on this machine. */
async function explain(args: readonly string[]): Promise<{ status: number; out: ExplainJson; stderr: string }> {
  const run = await cli(['explain', ...args, '--json']);
  // A refusal before any verdict (bad arguments, the machine unreadable) prints one line and no JSON.
  const out = run.stdout === '' ? { verdict: { kind: 'error' }, cgroups: [], need: { counted: 0 }, causes: [] } : (JSON.parse(run.stdout) as ExplainJson);
  return { status: run.status, out, stderr: run.stderr };
}

if (liveEnv.ok && !toolchain.ok) console.warn(`live explain --object test skipped: ${toolchain.reason}`);

describe.skipIf(!liveEnv.ok)('bpfmem explain against the running kernel', () => {
  let b: LiveBackend;
  /** The owned root as a path from the memory hierarchy's root, as explain names cgroups. */
  let root = '';
  const pid = (task: string): string => String(b.pidOf(task) ?? 0);

  beforeAll(async () => {
    b = await LiveBackend.create({ prefix: 'explain' });
    const found = await readMemoryHierarchy();
    if (!found.ok) throw new Error(found.reason);
    const own = pathInMount(found.hierarchy, found.hierarchy.ownPath) ?? found.hierarchy.ownPath;
    root = `${own === '/' ? '' : own}${b.root.slice(found.hierarchy.ownDir.length)}`;
    // (a) a task in a cgroup with a small limit.
    must(await b.createCgroup('/small', { max: 48 * MiB, high: INF }));
    must(await b.startTask('a', { cgroup: '/small', uid: 0 }));
    // (b) a task whose cgroup has no limit, below a parent that another task nearly fills.
    must(await b.createCgroup('/full', { max: 64 * MiB, high: INF }));
    must(await b.createCgroup('/full/filler', { max: INF, high: INF }));
    must(await b.createCgroup('/full/victim', { max: INF, high: INF }));
    must(await b.startTask('filler', { cgroup: '/full/filler', uid: 0 }));
    must(await b.startTask('victim', { cgroup: '/full/victim', uid: 0 }));
    must(await b.createMap('filler', 'ballast', array(40)));
  }, 120_000);

  afterAll(async () => {
    await b.dispose();
  }, 60_000);

  it('(a) names the task\'s own cgroup when its limit is too small, and the kernel agrees (ENOMEM)', async () => {
    const spec = array(64);
    const r = await explain(['--pid', pid('a'), '--map', specText(spec, 0, 'big')]);
    expect(r.status).toBe(1);
    const limit = b.profile.cgroupVersion === 1 ? 'memory.limit_in_bytes' : 'memory.max';
    expect(r.out.verdict).toMatchObject({ kind: 'short', limit, cgroup: `${root}/small` });
    expect(r.out.cgroups[0]).toMatchObject({ path: `${root}/small`, max: 48 * MiB });
    expect(await b.createMap('a', 'big', spec)).toMatchObject({ ok: false, errno: 'ENOMEM' });
  });

  it('(a) after the failure, --errno ENOMEM finds the same cgroup likely (v1: with its failcnt)', async () => {
    const r = await explain(['--pid', pid('a'), '--map', specText(array(64), 0, 'big'), '--errno', 'ENOMEM']);
    expect(r.status).toBe(0);
    const likely = r.out.causes.filter((c) => c.status === 'likely');
    expect(likely.map((c) => c.kind)).toEqual(['memcg-max']);
    expect(likely[0]?.text).toContain(`of ${root}/small:`);
    if (b.profile.cgroupVersion === 1) expect(likely[0]?.evidence[0]).toMatch(new RegExp(`^memory.failcnt of ${root}/small is [1-9]`));
  });

  it('(a) a map explain says fits does fit', async () => {
    const spec = array(2);
    const r = await explain(['--pid', pid('a'), '--map', specText(spec, 0, 'small')]);
    expect(r.status).toBe(0);
    expect(r.out.verdict).toMatchObject({ kind: 'fits', cgroup: `${root}/small` });
    must(await b.createMap('a', 'small', spec));
    must(await b.close('map', 'small'));
  });

  it('(b) names the nearly full parent, not the task\'s unlimited cgroup, and the kernel agrees (ENOMEM)', async () => {
    const spec = array(32);
    const r = await explain(['--pid', pid('victim'), '--map', specText(spec, 0, 'lookup')]);
    expect(r.status).toBe(1);
    expect(r.out.cgroups.slice(0, 2).map((c) => [c.path, c.max])).toEqual([
      [`${root}/full/victim`, null],
      [`${root}/full`, 64 * MiB],
    ]);
    expect(r.out.verdict).toMatchObject({ kind: 'short', cgroup: `${root}/full` });
    // The filler's 40 MiB and both workers' own memory leave less than 24 MiB: 8 MiB short or more.
    expect(r.out.verdict.short).toBeGreaterThan(8 * MiB);
    expect(await b.createMap('victim', 'lookup', spec)).toMatchObject({ ok: false, errno: 'ENOMEM' });
    // --cgroup names the same limit without a task.
    const byPath = await explain(['--cgroup', `${root}/full/victim`, '--map', specText(spec, 0, 'lookup')]);
    expect(byPath.out.verdict).toMatchObject({ kind: 'short', cgroup: `${root}/full` });
  });

  it('(c) a spec the kernel rejects for its flags: refused with EINVAL, and the kernel agrees', async () => {
    const spec = mapSpec({ type: 'hash', keySize: 4, valueSize: 8, maxEntries: 16, flags: MAP_FLAGS.no_common_lru });
    const r = await explain(['--pid', pid('a'), '--map', specText(spec, 0, 'bad')]);
    expect(r.status).toBe(1);
    expect(r.out.verdict).toMatchObject({ kind: 'refused', errno: 'EINVAL' });
    expect(await b.createMap('a', 'bad', spec)).toMatchObject({ ok: false, errno: 'EINVAL' });
    const why = await explain(['--pid', pid('a'), '--map', specText(spec, 0, 'bad'), '--errno', 'EINVAL']);
    expect(why.status).toBe(0);
    expect(why.out.causes[0]).toMatchObject({ kind: 'spec', status: 'likely' });
  });

  it.skipIf(!toolchain.ok)('--object: an object\'s maps and programs, counted for this machine, against the same limits', async () => {
    const obj = buildFixture('maps');
    const fits = await explain(['--pid', pid('a'), '--object', obj]);
    expect(fits.status).toBe(0);
    expect(fits.out.verdict).toMatchObject({ kind: 'fits', cgroup: `${root}/small` });
    // What estimate FILE.o gives for this machine's profile is what explain counts.
    const specs = objectSpecs(parseBpfObject(new Uint8Array(readFileSync(obj)), obj), b.profile, { kernelBtf: await vmlinuxBtf() });
    const progs = parseBpfObject(new Uint8Array(readFileSync(obj)), obj).progs.map((p) => p.insns);
    const model = estimateMaps(specs.map((s) => ({ name: s.name, spec: s.spec, elements: s.elements })), b.profile, progs);
    expect(fits.out.need.counted).toBe(model.total.charged);
    // With 47 MiB more the need passes 48 MiB: the task's own cgroup stops it, whatever its usage.
    const short = await explain(['--pid', pid('a'), '--object', obj, '--need', '47Mi']);
    expect(short.status).toBe(1);
    expect(short.out.verdict).toMatchObject({ kind: 'short', cgroup: `${root}/small` });
  });

  it('a process that does not exist is one line, exit 2', async () => {
    const r = await explain(['--pid', '4194304', '--need', '1Mi']);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe('bpfmem: --pid 4194304: no such process\n');
  });

  it.each([
    ['/bpfmem-no-such-cgroup', /^bpfmem: memory cgroup \/bpfmem-no-such-cgroup: no such cgroup \(no directory [^\n]+\)\n$/],
    // A file of the root cgroup, on v1 and v2 alike.
    ['/cgroup.procs', /^bpfmem: memory cgroup \/cgroup\.procs: no such cgroup \([^\n]+ is a file of its parent, not a directory\)\n$/],
  ])('--cgroup %s, which is no cgroup: one line, exit 2', async (path, said) => {
    const r = await explain(['--cgroup', path, '--need', '1Mi']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(said);
  });
});
