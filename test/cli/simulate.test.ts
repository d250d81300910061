import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { chapterText } from '../../src/cli/demo.js';
import type { Style } from '../../src/cli/io.js';
import { bothText, runJson, runText } from '../../src/cli/render/simulate.js';
import { textWidth } from '../../src/cli/table.js';
import { ModelBackend } from '../../src/model/backend.js';
import { profileOf } from '../../src/model/profile.js';
import { runScenario } from '../../src/scenario/run.js';
import type { Scenario } from '../../src/scenario/types.js';
import { mapSpec } from '../../src/vocab/map-spec.js';
import type { Regime } from '../../src/vocab/profile.js';
import { cli, onTerminal, tableLines } from './run.js';

const SCENARIOS = join(import.meta.dirname, '../../scenarios');

interface RunJson {
  regime: string;
  steps: { index: number; op: string; ok: boolean; errno?: string; reason?: string; detail?: string; summary?: string; cgroup?: string; task?: string }[];
  cgroups: Record<
    string,
    { usage: number; stock: number; kernel: number; max: number | null; failcnt: number; bpf: number; bpf_objects: Record<string, number>; dying_descendants: number }
  >;
  users: Record<string, { locked_vm: number }>;
  maps: Record<string, { memlock: number; charged: number; charged_to: string | null; charged_to_removed: boolean }>;
}

/** This machine's BTF, which the --btf test reads; without it the test is reported as skipped, and why. */
const vmlinux = '/sys/kernel/btf/vmlinux';
const btfSkip = existsSync(vmlinux) ? undefined : `no ${vmlinux} (a kernel built without CONFIG_DEBUG_INFO_BTF)`;
if (btfSkip) console.warn(`simulate --btf test skipped: ${btfSkip}`);

const tempDirs: string[] = [];
afterAll(async () => {
  await Promise.all(tempDirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function scenarioFile(text: string | Uint8Array): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'bpfmem-test-'));
  tempDirs.push(dir);
  const file = join(dir, 'scenario.yaml');
  await writeFile(file, text);
  return file;
}

/** A FIFO no one writes to: a reader that opened it and waited would hang the test. */
async function fifo(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'bpfmem-test-'));
  tempDirs.push(dir);
  const path = join(dir, 'no-writer.yaml');
  execFileSync('mkfifo', [path]);
  return path;
}

describe('bpfmem simulate', () => {
  it('runs the issue\'s example and gives the documented JSON shape', async () => {
    const run = await cli(['simulate', join(SCENARIOS, 'example.yaml'), '--json']);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const out = JSON.parse(run.stdout) as RunJson;
    expect(out.regime).toBe('memcg');
    expect(out.steps.map((s) => [s.index, s.op, s.ok])).toEqual([
      [0, 'create_map', true],
      [1, 'update', true],
      [2, 'move_task', true],
      [3, 'remove_cgroup', true],
      [4, 'close', true],
    ]);
    // /pods/agent was removed: left out. Everything was freed: nothing left anywhere.
    expect(Object.keys(out.cgroups)).toEqual(['/', '/pods']);
    // What is left in /pods is per-CPU charge stock (as memory.current would show), no kernel memory.
    expect(out.cgroups['/pods']).toMatchObject({ kernel: 0, bpf: 0, max: null });
    expect(out.cgroups['/pods']?.usage).toBe(out.cgroups['/pods']?.stock);
    expect(out.users).toEqual({ '0': { locked_vm: 0 } });
    expect(out.maps).toEqual({});
  });

  it('reports where a map is charged after its cgroup is removed: the parent since 6.0, the dying cgroup on 5.11–5.19', async () => {
    const text = (version: string): string => `
kernel: { version: "${version}", cpus: 4 }
cgroups:
  /pods/agent: { max: 256Mi }
tasks:
  agent: { cgroup: /pods/agent }
steps:
  - create_map: { task: agent, name: ct, type: lru_hash, key: 56, value: 56, max_entries: 65536 }
  - move_task: { task: agent, cgroup: /pods }
  - remove_cgroup: { cgroup: /pods/agent }
`;
    const [now, old] = await Promise.all(['6.18', '5.15'].map(async (v) => cli(['simulate', await scenarioFile(text(v)), '--json'])));
    for (const r of [now, old]) expect(r?.status).toBe(0);
    const a = JSON.parse(now?.stdout ?? '') as RunJson;
    const b = JSON.parse(old?.stdout ?? '') as RunJson;
    // 6.18: the objcg is reparented; the map is charged to /pods, and nothing is left dying.
    expect(a.maps['ct']).toMatchObject({ charged_to: '/pods', charged_to_removed: false });
    expect(a.cgroups['/pods']).toMatchObject({ dying_descendants: 0 });
    expect(a.steps[2]?.detail).toBe('charges of maps ct now go to /pods (objcg reparented)');
    // 5.15: the map pins the removed cgroup (map->memcg), which stays as a dying descendant of
    // /pods and /; the path is left out of cgroups, and its charges count in /pods's bpf_objects.
    expect(b.maps['ct']).toMatchObject({ charged_to: '/pods/agent', charged_to_removed: true });
    expect(Object.keys(b.cgroups)).toEqual(['/', '/pods']);
    expect(b.cgroups['/']).toMatchObject({ dying_descendants: 1 });
    expect(b.cgroups['/pods']).toMatchObject({ dying_descendants: 1 });
    expect(b.steps[2]?.detail).toBe('/pods/agent stays as a dying memory cgroup: maps ct hold it (map->memcg); its charges now count in /pods');
    // Either way /pods holds the map's bytes.
    for (const r of [a, b]) {
      expect(r.cgroups['/pods']?.bpf).toBeGreaterThan(65536 * (48 + 56 + 56));
      expect(r.cgroups['/pods']?.bpf_objects).toEqual({ 'map:ct': r.maps['ct']?.charged });
    }
  });

  it('a removed cgroup whose path a later step reuses: charged_to names the dying one on 5.15, the new cgroup holds none of the map (docs/cli.md)', async () => {
    const text = (version: string): string => `
kernel: { version: "${version}", cpus: 2 }
cgroups:
  /pods/agent: {}
tasks:
  agent: { cgroup: /pods/agent }
steps:
  - create_map: { task: agent, name: ct, type: hash, key: 8, value: 64, max_entries: 1000, flags: no_prealloc }
  - update: { map: ct, count: 100 }
  - move_task: { task: agent, cgroup: /pods }
  - remove_cgroup: { cgroup: /pods/agent }
  - create_cgroup: { cgroup: /pods/agent }
  - move_task: { task: agent, cgroup: /pods/agent }
  - update: { map: ct, count: 100 }
  - load_prog: { task: agent, name: p, insns: 10 }
`;
    const json = async (v: string): Promise<RunJson> => JSON.parse((await cli(['simulate', await scenarioFile(text(v)), '--json'])).stdout) as RunJson;
    const [old, now] = await Promise.all([json('5.15'), json('6.18')]);
    // 5.15: the map names the removed /pods/agent; cgroups["/pods/agent"] is the new one, with
    // only the program loaded there since; the map's bytes, the 100 elements inserted after the
    // removal too, count in /pods.
    expect(old.maps['ct']).toMatchObject({ charged_to: '/pods/agent', charged_to_removed: true });
    expect(old.cgroups['/pods/agent']).toMatchObject({ bpf_objects: { 'prog:p': expect.any(Number) as unknown }, dying_descendants: 0 });
    expect(old.cgroups['/pods']).toMatchObject({ bpf_objects: { 'map:ct': old.maps['ct']?.charged }, dying_descendants: 1 });
    expect(old.steps[6]?.detail).toBe("charged to /pods/agent (removed), the map's cgroup (updates ran as task agent)");
    // 6.18: the map's charges went to /pods at the removal, and stay there.
    expect(now.maps['ct']).toMatchObject({ charged_to: '/pods', charged_to_removed: false });
    expect(now.cgroups['/pods']).toMatchObject({ bpf_objects: { 'map:ct': now.maps['ct']?.charged }, dying_descendants: 0 });
    expect(Object.keys(now.cgroups['/pods/agent']?.bpf_objects ?? {})).toEqual(['prog:p']);
  });

  it('--regime both runs memcg and memlock side by side', async () => {
    const run = await cli(['simulate', join(SCENARIOS, 'shared-budget.yaml'), '--regime', 'both', '--json']);
    expect(run.status).toBe(0);
    const out = JSON.parse(run.stdout) as { regime: string; runs: { memcg: RunJson; memlock: RunJson } };
    expect(out.regime).toBe('both');
    expect(out.runs.memlock.steps[2]).toMatchObject({ ok: false, errno: 'EPERM' });
    expect(out.runs.memcg.steps.every((s) => s.ok)).toBe(true);
    expect(out.runs.memlock.users['1000']?.locked_vm).toBeGreaterThan(0);
    expect(out.runs.memcg.users['1000']?.locked_vm).toBe(0);
    const text = await cli(['simulate', join(SCENARIOS, 'shared-budget.yaml'), '--regime', 'both']);
    expect(text.stdout).toMatch(/create stats \(lru_hash, 40000\) as exporter\s+✓\s+✗ EPERM/);
    // The maps: a column per run, as the steps have, then who pays in the memcg run.
    expect(text.stdout).toMatch(/^MAP +MEMCG +MEMLOCK +CHARGED TO$/m);
    expect(text.stdout).toMatch(/^stats +\S+ MiB +- +\/system\/exporter$/m);
    // The scenario is 5.10's: the memcg run is 5.11's, and the text says so (the JSON's profile shows it).
    const note = "note: kernel 5.10 has no memcg accounting of BPF (added in 5.11): the memcg run is kernel 5.11's\n";
    expect(text.stdout.endsWith(note)).toBe(true);
    expect((await cli(['simulate', join(SCENARIOS, 'shared-budget.yaml'), '--regime', 'memcg'])).stdout.endsWith(note)).toBe(true);
    expect((await cli(['simulate', join(SCENARIOS, 'shared-budget.yaml')])).stdout).not.toContain('note: kernel 5.10');
    expect((out.runs.memcg as RunJson & { kernel: { version: string } }).kernel.version).toBe('5.11');
  });

  it('--regime memcg or none on a kernel before 5.11 runs as 5.11, the first that has either, and says so', async () => {
    const file = await scenarioFile(
      'kernel: { version: "5.4", cpus: 2 }\ncgroups: { /a: { max: 64Mi } }\ntasks: { t: { cgroup: /a } }\nsteps:\n  - create_map: { task: t, name: h, type: hash, key: 4, value: 8, max_entries: 1000 }\n',
    );
    for (const regime of ['memcg', 'none']) {
      const run = await cli(['simulate', file, '--regime', regime]);
      expect(run.stderr).toBe('');
      expect(run.status).toBe(0);
      expect(run.stdout.split('\n')[0]).toBe(`${file}: kernel 5.11, 2 possible CPUs, 4 KiB pages, cgroup v1, regime ${regime}`);
      const lacks = regime === 'memcg' ? 'memcg accounting of BPF (added in 5.11)' : 'regime none (before 5.11 BPF is precharged to RLIMIT_MEMLOCK, whatever the cgroups)';
      expect(run.stdout.endsWith(`note: kernel 5.4 has no ${lacks}: the ${regime} run is kernel 5.11's\n`)).toBe(true);
      const out = JSON.parse((await cli(['simulate', file, '--regime', regime, '--json'])).stdout) as RunJson & { kernel: { version: string; regime: string } };
      expect(out.kernel).toMatchObject({ version: '5.11', regime });
    }
    // Under none nothing is charged for the map's memory; under memcg /a pays for it.
    const charged = async (regime: string): Promise<number | undefined> => (JSON.parse((await cli(['simulate', file, '--regime', regime, '--json'])).stdout) as RunJson).maps['h']?.charged;
    expect(await charged('memcg')).toBeGreaterThan(await charged('none') ?? Infinity);
    // Its own regime, memlock, keeps the kernel and needs no note.
    const own = await cli(['simulate', file]);
    expect(own.stdout.split('\n')[0]).toMatch(/: kernel 5\.4, .*regime memlock$/);
    expect(own.stdout).not.toContain('note:');
  });

  it('names the full cgroup in an ENOMEM', async () => {
    const run = await cli(['simulate', join(SCENARIOS, 'limit.yaml'), '--json']);
    const out = JSON.parse(run.stdout) as RunJson;
    const failed = out.steps.filter((s) => !s.ok);
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ index: 2, errno: 'ENOMEM' });
    expect(failed[0]?.reason).toMatch(/^\/kubepods\/pod-agent\/agent is at 203\.4 MiB of 256\.0 MiB; creating map "ct" needs 88\.0 MiB$/);
  });

  it('kernel.arch arm64 before 6.5: no kmalloc cache below 128 B, said in the first line, the same charge as estimate --arch', async () => {
    const text = (arch: string): string =>
      `kernel: { version: "5.15", arch: ${arch} }\ncgroups: { /a: {} }\ntasks: { t: { cgroup: /a } }\nsteps:\n  - create_map: { task: t, name: h, type: hash, key: 8, value: 24, max_entries: 10000, flags: no_prealloc }\n  - update: { map: h, count: 1000 }\n`;
    const own = async (arch: string): Promise<string> => {
      const run = await cli(['simulate', await scenarioFile(text(arch))]);
      expect(run.status).toBe(0);
      if (arch === 'arm64') expect(run.stdout.split('\n')[0]).toMatch(/: kernel 5\.15, 2 possible CPUs, 4 KiB pages, arm64 \(kmalloc from 128 B\), cgroup v1, regime memcg$/);
      else expect(run.stdout.split('\n')[0]).not.toMatch(/x86_64|kmalloc/);
      return run.stdout.split('\n').find((l) => l.startsWith('/a '))?.trim().split(/ {2,}/)[5] ?? '';
    };
    expect(await own('arm64')).toBe('390.4 KiB');
    expect(await own('x86_64')).toBe('359.1 KiB');
    const estimate = await cli(['estimate', '--map', 'type=hash,key=8,value=24,max_entries=10000,flags=no_prealloc,elements=1000', '--kernel', '5.15', '--arch', 'arm64', '--cpus', '2']);
    expect(estimate.stdout).toContain('390.4 KiB');
  });

  it.skipIf(btfSkip !== undefined)('--btf takes struct sizes from a kernel\'s BTF: the same memlock as estimate --btf', async () => {
    const spec = 'type=hash,key=4,value=8,max_entries=100000';
    const file = await scenarioFile(
      'kernel: { version: "6.18", cpus: 2 }\ncgroups: { /a: {} }\ntasks: { t: { cgroup: /a } }\n' +
        'steps:\n  - create_map: { task: t, name: h, type: hash, key: 4, value: 8, max_entries: 100000 }\n',
    );
    const memlockOf = async (args: string[]): Promise<number | undefined> => (JSON.parse((await cli(['simulate', file, '--json', ...args])).stdout) as RunJson).maps['h']?.memlock;
    const estimated = JSON.parse((await cli(['estimate', '--map', spec, '--kernel', '6.18', '--cpus', '2', '--btf', vmlinux, '--json'])).stdout) as { maps: { memlock: number }[] };
    // With the running kernel's sizes, the simulated map has the memlock estimate --btf gives
    // (which test/cli/estimate.test.ts and the live tests tie to the kernel).
    expect(await memlockOf(['--btf', vmlinux])).toBe(estimated.maps[0]?.memlock);
    expect(await memlockOf([])).toBeGreaterThan(0);
    // The output says the sizes are the file's, in text and JSON (and not without --btf).
    const text = (await cli(['simulate', file, '--btf', vmlinux])).stdout.split('\n')[0];
    expect(text).toMatch(/: kernel 6\.18, 2 possible CPUs, .*, sizes from \/sys\/kernel\/btf\/vmlinux$/);
    expect((await cli(['simulate', file])).stdout.split('\n')[0]).not.toContain('sizes from');
    expect(JSON.parse((await cli(['simulate', file, '--json', '--btf', vmlinux])).stdout)).toMatchObject({ sizes_from: vmlinux });
    const bad = await cli(['simulate', file, '--btf', 'package.json']);
    expect(bad.stderr).toMatch(/^bpfmem: BTF file package\.json: not BTF/);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.status).toBe(2);
  });

  it.each([
    ['a missing file', ['simulate', '/nonexistent/x.yaml'], /^bpfmem: scenario \/nonexistent\/x\.yaml: cannot read \(no such file\)\n$/],
    ['no file', ['simulate'], /^bpfmem: missing required argument 'file'\n$/],
    ['two files', ['simulate', 'a.yaml', 'b.yaml'], /^bpfmem: simulate takes 1 argument \(got 2\)\n$/],
    ['a bad regime', ['simulate', 'x.yaml', '--regime', 'rlimit'], /^bpfmem: --regime "rlimit": expected one of memcg, memlock, none, both\n$/],
  ])('%s is a usage error: one line, exit 2', async (_what, args, message) => {
    const run = await cli(args);
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stdout).toBe('');
  });

  it.each<[string, () => Promise<string>, (path: string) => string]>([
    ['a FIFO', fifo, (p) => `scenario ${p}: is a FIFO, not a regular file (simulate reads a pipe as standard input: simulate -)`],
    ['/dev/zero', () => Promise.resolve('/dev/zero'), (p) => `scenario ${p}: is a character device, not a regular file`],
    ['a directory', () => Promise.resolve(SCENARIOS), (p) => `scenario ${p}: is a directory, not a regular file`],
    ['bytes that are not UTF-8', () => scenarioFile(Buffer.from([0x74, 0x61, 0x73, 0x6b, 0x73, 0x3a, 0x20, 0xff, 0xfe, 0x0a])), (p) => `scenario ${p}: not UTF-8 text`],
  ])('%s is refused by the bounded reader, at once: one line, exit 2', async (_what, make, message) => {
    const path = await make();
    const run = await cli(['simulate', path]);
    expect(run.stderr).toBe(`bpfmem: ${message(path)}\n`);
    expect(run.status).toBe(2);
    expect(run.stdout).toBe('');
  });

  it.each([
    ['an unknown key', 'steps:\n  - create_map: { task: t, name: m, type: hash, sise: 4 }\ntasks: { t: {} }', /:2: steps\[0\]\.create_map\.sise: unknown key; expected one of task, name, type, key, value/],
    ['a negative size', 'tasks: { t: {} }\nsteps:\n  - create_map: { task: t, name: m, type: hash, key: -4 }', /:3: steps\[0\]\.create_map\.key: /],
    ['an unknown map type', 'tasks: { t: {} }\nsteps:\n  - create_map: { task: t, name: m, type: hashmap }', /unknown map type "hashmap"/],
    ['a missing task', 'steps:\n  - alloc: { task: ghost, bytes: 4Ki }', /:2: steps\[0\]\.alloc\.task: no task "ghost"/],
    ['an alias cycle', 'a: &x [*x]', /:1: /],
    ['a CPU past the kernel\'s', 'kernel: { version: "6.18" }\ntasks: { t: {} }\nsteps:\n  - create_map: { task: t, name: m, type: hash, key: 4, value: 4, max_entries: 8 }\n  - update: { map: m, cpu: 8191 }', /:5: steps\[1\]\.update\.cpu: cpu 8191 is not a possible CPU: kernel 6\.18 has 2 possible CPUs \(CPUs 0 to 1\): kernel\.cpus is not given, and 2 is the model's default\n$/],
    ['a CPU past this machine\'s', 'tasks: { t: {} }\nsteps:\n  - create_map: { task: t, name: m, type: hash, key: 4, value: 4, max_entries: 8 }\n  - update: { map: m, cpu: 8191 }', /:4: steps\[1\]\.update\.cpu: cpu 8191 is not a possible CPU: this machine has \d+ possible CPUs \(CPUs 0 to \d+\) and the scenario runs on its kernel; set kernel\.cpus for another count\n$/],
    ['more inserts than the model simulates', 'kernel: { version: "6.18", cpus: 2 }\ntasks: { t: {} }\nsteps:\n  - create_map: { task: t, name: m, type: hash, key: 4, value: 8, max_entries: 30000000, flags: no_prealloc }\n  - update: { map: m, count: 20000000 }', /: steps\[1\]\.update: inserting 20000000 elements into map m: the model simulates inserts that allocate one by one, at most 16777216 in a run\n$/],
  ])('a scenario with %s fails with one line naming the file, line and key, exit 2', async (_what, text, message) => {
    const file = await scenarioFile(text);
    const run = await cli(['simulate', file]);
    expect(run.status).toBe(2);
    expect(run.stderr.startsWith(`bpfmem: ${file}:`)).toBe(true);
    expect(run.stderr).toMatch(message);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('setup the model refuses: what failed is named, and runs side by side are joined on the step', () => {
  /**
   * A scenario whose setup fails, built without the parser (which may refuse a file of it): the
   * cgroup /x/y, whose parent /x is not listed, and on cgroup v2 a task in /a, which has the
   * child /a/b ("no internal processes"); then one step.
   */
  const scenario: Scenario = {
    source: 's.yaml',
    kernel: { version: '6.18' },
    cgroups: ['/a', '/a/b', '/x/y'].map((path) => ({ path, max: Infinity, high: Infinity })),
    tasks: [
      { name: 't', cgroup: '/a', uid: 0, capIpcLock: false },
      { name: 'u', cgroup: '/a/b', uid: 0, capIpcLock: false },
    ],
    steps: [{ op: 'create_map', index: 0, task: 'u', name: 'm', spec: mapSpec({ type: 'hash', keySize: 4, valueSize: 4, maxEntries: 8 }) }],
  };
  const run = (cgroup: 1 | 2, regime: Regime) => runScenario(scenario, new ModelBackend(profileOf({ version: '6.18', cpus: 2, cgroup, regime })));
  const plain: Style = { bold: (t) => t, dim: (t) => t, ok: (t) => t, bad: (t) => t, warn: (t) => t };
  const cannotPut = 'EBUSY: cannot put t in /a: it has child';

  it('the JSON step of a setup failure has its summary and target; the text says setup, never -1', async () => {
    const r = await run(2, 'memcg');
    expect(runJson(r)['steps']).toEqual([
      { index: -1, op: 'setup', summary: 'create cgroup /x/y', target: { cgroup: '/x/y' }, ok: false, errno: 'ENOENT', reason: 'cannot create /x/y: its parent /x does not exist' },
      { index: -1, op: 'setup', summary: 'start task t in /a', target: { task: 't', cgroup: '/a' }, ok: false, errno: 'EBUSY', reason: expect.stringMatching(/^cannot put t in \/a: it has child cgroups/) as unknown },
      { index: 0, op: 'create_map', ok: true },
    ]);
    expect(runText(r, 's.yaml', plain)).toMatch(/^setup ✗ create cgroup \/x\/y\n.*\nsetup ✗ start task t in \/a\n/m);
    const both = bothText(r, await run(2, 'memlock'), 's.yaml', plain);
    expect(both).not.toMatch(/-1/);
    expect(both).toContain(`\n  setup (start task t in /a) memcg: ${cannotPut}`);
    expect(both).toContain(`\n  setup (start task t in /a) memlock: ${cannotPut}`);
  });

  it('--regime both and the demo: a setup failure in one run only shifts no step of the other', async () => {
    // cgroup v1 has no "no internal processes": t starts there; /x/y fails in both.
    const v2 = await run(2, 'memcg');
    const v1 = await run(1, 'memlock');
    const both = bothText(v2, v1, 's.yaml', plain);
    expect(tableLines(both, /^ *# +STEP/).map((l) => l.trimEnd())).toEqual([
      '    #  STEP                     MEMCG     MEMLOCK',
      'setup  create cgroup /x/y       ✗ ENOENT  ✗ ENOENT',
      'setup  start task t in /a       ✗ EBUSY',
      '    0  create m (hash, 8) as u  ✓         ✓',
    ]);
    expect(both.match(/^ {2}setup \(start task t in \/a\)/gm)).toEqual(['  setup (start task t in /a)']);
    // The other way round: the rows are the same, the runs' columns swapped.
    expect(tableLines(bothText(v1, v2, 's.yaml', plain), /^ *# +STEP/).map((l) => l.trimEnd())[2]).toBe('setup  start task t in /a                 ✗ EBUSY');
    const chapter = chapterText(1, 'title', 's.yaml', 'what it shows', ['v2', 'v1'], [v2, v1], 'lesson', plain);
    expect(tableLines(chapter, /^ {3}STEP/).map((l) => l.trimEnd())).toEqual([
      '   STEP                       V2        V1',
      '   setup: create cgroup /x/y  ✗ ENOENT  ✗ ENOENT',
      '   setup: start task t in /a  ✗ EBUSY',
      '   create m (hash, 8) as u    ✓         ✓',
    ]);
  });
});

describe('bpfmem simulate on a terminal: the tables fit its width, as maps and cgroups do', () => {
  const limit = join(SCENARIOS, 'limit.yaml');

  it('one regime: the cgroups and maps tables, paths elided in their middle, the columns that fit whole, then …', async () => {
    const run = await onTerminal(['simulate', limit], 40);
    expect(run.status).toBe(0);
    const cgroups = tableLines(run.stdout, /^CGROUP /);
    expect(cgroups).toHaveLength(5);
    const maps = tableLines(run.stdout, /^MAP /);
    expect(maps).toHaveLength(3);
    for (const l of [...cgroups, ...maps]) expect(textWidth(l), l).toBeLessThanOrEqual(40);
    expect(cgroups[0]).toMatch(/^CGROUP\s+USAGE\s+MAX {2}…$/);
    expect(cgroups[4]).toMatch(/^\/kubep…agent\s+247\.4 MiB\s+256\.0 MiB {2}…$/);
    // Into a pipe, whole rows, as before.
    const piped = await cli(['simulate', limit]);
    expect(piped.stdout).toMatch(/^\/kubepods\/pod-agent\/agent\s+247\.4 MiB\s+256\.0 MiB\s+256\.0 MiB\s+18\s+55\.0 MiB\s+55\.4 MiB$/m);
    expect(piped.stdout).toMatch(/^flows\s+hash\s+0\s+11\.0 MiB\s+11\.0 MiB\s+72 B\s+\/kubepods\/pod-agent\/agent$/m);
  });

  it('--regime both: the steps, cgroups, users and maps tables', async () => {
    const run = await onTerminal(['simulate', limit, '--regime', 'both'], 50);
    expect(run.status).toBe(0);
    const steps = tableLines(run.stdout, /^# {2}STEP/);
    expect(steps).toHaveLength(5);
    const tables = [steps, tableLines(run.stdout, /^CGROUP /), tableLines(run.stdout, /^UID /), tableLines(run.stdout, /^MAP /)];
    for (const l of tables.flat()) expect(textWidth(l), l).toBeLessThanOrEqual(50);
    // A step's summary loses its end; its outcome under each regime stays.
    expect(steps[3]).toMatch(/^2 {2}create ct \(lru_hash, .*…\s+✗ ENOMEM\s+✗ EPERM/);
    const piped = await cli(['simulate', limit, '--regime', 'both']);
    expect(piped.stdout).toMatch(/^2 {2}create ct \(lru_hash, 524288\) as agent\s+✗ ENOMEM\s+✗ EPERM$/m);
  });
});

describe('bpfmem demo', () => {
  it('tells its six chapters from the scenarios: a row per step with each run\'s outcome, and the lesson --json gives', async () => {
    const run = await cli(['demo']);
    expect(run.status).toBe(0);
    expect(run.stderr).toBe('');
    const out = JSON.parse((await cli(['demo', '--json'])).stdout) as { chapters: { title: string; scenario: string; lesson: string; runs: Record<string, RunJson> }[] };
    const texts = run.stdout.split(/^(?=\d+\. )/m).slice(1);
    expect(texts).toHaveLength(6);
    texts.forEach((text, i) => {
      const chapter = out.chapters[i];
      expect(chapter).toBeDefined();
      if (!chapter) return;
      expect(text.startsWith(`${i + 1}. ${chapter.title}\n   ${chapter.scenario}: `)).toBe(true);
      // The steps table: a column per run, a row per step of the file (none has a setup failure).
      const labels = Object.keys(chapter.runs);
      const rows = tableLines(text, /^ {3}STEP /);
      expect(rows[0]?.trim().split(/ {2,}/)).toEqual(['STEP', ...labels.map((l) => l.toUpperCase())]);
      for (const r of Object.values(chapter.runs)) expect(rows).toHaveLength(1 + r.steps.length);
      // Each run's outcome of each step, in its column.
      rows.slice(1).forEach((row, j) => {
        const cells = row.trim().split(/ {2,}/).slice(1);
        expect(cells).toEqual(Object.values(chapter.runs).map((r) => (r.steps[j]?.ok ? '✓' : `✗ ${r.steps[j]?.errno ?? ''}`)));
      });
      // The lesson, wrapped at 80 columns: the words --json gives.
      const lesson = text.slice(text.indexOf('   → ')).split('\n\n')[0]?.split('\n').map((l) => l.trim()).join(' ');
      expect(lesson).toBe(`→ ${chapter.lesson}`);
    });
    expect(run.stdout).toMatch(/refused with EPERM/);
    expect(run.stdout).toMatch(/ENOMEM: \/kubepods\/pod-agent\/agent is at/);
    // People's output fits 80 columns.
    for (const line of run.stdout.split('\n')) expect(Array.from(line).length).toBeLessThanOrEqual(80);
  });

  it('--json carries every run', async () => {
    const run = await cli(['demo', '--json']);
    const out = JSON.parse(run.stdout) as { chapters: { scenario: string; runs: Record<string, RunJson> }[] };
    expect(out.chapters).toHaveLength(6);
    expect(Object.keys(out.chapters[3]?.runs ?? {})).toEqual(['6.18/2', '6.18/192', '5.15/192']);
  });
});

describe('bpfmem', () => {
  it('prints help with --help and exits 0', async () => {
    const run = await cli(['--help']);
    expect(run.status).toBe(0);
    expect(run.stdout).toMatchSnapshot();
  });

  it('--version prints the package version', async () => {
    const { version } = (await import('../../package.json', { with: { type: 'json' } })).default;
    const run = await cli(['--version']);
    expect(run.stdout.trim()).toBe(version);
  });

  it('an unknown command is a usage error with a suggestion', async () => {
    const run = await cli(['simulat']);
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/^bpfmem: unknown command "simulat"/);
  });
});
