import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { explainCommand, explanationText, type ExplainDeps } from '../../src/cli/explain.js';
import { specMaps } from '../../src/estimate/run.js';
import { explainLoad } from '../../src/explain/load.js';
import { probeCommand } from '../../src/cli/probe.js';
import type { CgroupLevel, ExplainFacts } from '../../src/explain/facts.js';
import { makeProfile } from '../../src/model/profile.js';
import type { FactsSource } from '../../src/explain/read-facts.js';
import type { ProbeReport } from '../../src/live/probe.js';
import { buildFixture, toolchain } from '../fixtures/bpf/build.js';
import { textWidth } from '../../src/cli/table.js';
import { cli, onTerminal, tableLines, type CliRun } from './run.js';

const MiB = 1024 * 1024;
const INF = Number.POSITIVE_INFINITY;

/**
 * Runs `bpfmem ARGS` as src/cli/main.ts runs it, with explain and probe given hand-made facts
 * instead of this machine's.
 */
function run(args: readonly string[], deps: Partial<ExplainDeps> & { probe?: () => Promise<ProbeReport> } = {}): Promise<CliRun> {
  return cli(args, {}, (ctx) => [
    explainCommand(ctx, { readFacts: deps.readFacts ?? (() => Promise.resolve(facts())) }),
    probeCommand(ctx, { run: deps.probe ?? (() => Promise.resolve(report())) }),
  ]);
}

function level(path: string, usage: number | undefined, max = INF, more: Partial<CgroupLevel> = {}): CgroupLevel {
  return { path, usage, max, high: undefined, reclaimable: 0, failcnt: 0, maxEvents: undefined, ...more };
}

function facts(chain: CgroupLevel[] = [level('/pods/agent', 10 * MiB), level('/pods', 60 * MiB, 64 * MiB, { failcnt: 7 }), level('/', 900 * MiB)]): ExplainFacts {
  const profile = makeProfile({ version: '6.18.44', cpus: 2, pageSize: 4096, cgroup: 1 });
  if (!profile.ok) throw new Error(profile.error);
  return {
    profile: profile.value,
    regimeReason: 'kernel 6.18.44 charges BPF maps and programs to the creator\'s memory cgroup',
    task: { pid: 4242, comm: 'agent', uid: 0, memlock: { soft: 8 * MiB, hard: 8 * MiB }, capEff: 0x1fffeffffffn },
    chain,
    unprivilegedBpfDisabled: 2,
    bpfJitLimit: 528482304,
    bpfJitEnable: 1,
  };
}

const ARRAY_8M = 'type=array,key=4,value=4096,max_entries=2048,name=big';
const ARRAY_1M = 'type=array,key=4,value=4096,max_entries=256,name=small';

describe('bpfmem explain: argument mistakes are one line and exit 2', () => {
  it.each([
    [['explain', '--pid', 'abc', '--need', '1Mi'], /^bpfmem: --pid "abc": expected a process id/],
    [['explain', '--pid', '1', '--cgroup', '/a', '--need', '1Mi'], /^bpfmem: explain: give --pid or --cgroup, not both/],
    [['explain'], /^bpfmem: explain: give what is needed: --map SPEC/],
    [['explain', '--map', 'type=hsh,key=4'], /^bpfmem: --map "type=hsh,key=4": unknown map type "hsh" \(did you mean hash\?\)/],
    [['explain', '--need', '0'], /^bpfmem: --need "0": expected a size/],
    [['explain', '--need', '1Mi', '--errno', 'EWHAT'], /^bpfmem: --errno "EWHAT": expected an errno/],
    [['explain', '--need', '1Mi', '--errno', '0'], /^bpfmem: --errno "0": expected an errno/],
    [['explain', '--need', '1Mi', '--errno', '999'], /^bpfmem: --errno "999": expected an errno/],
    [['explain', '--need', '1Mi', '--errno', '0x0c'], /^bpfmem: --errno "0x0c": expected an errno/],
    [['explain', '--need', '1Mi', '--errno', '1e1'], /^bpfmem: --errno "1e1": expected an errno/],
    [['explain', '--cgroup', 'pods', '--need', '1Mi'], /^bpfmem: --cgroup "pods": not absolute/],
    [['explain', '--prog', 'many', '--need', '1'], /^bpfmem: --prog "many": expected a number of instructions/],
    [['explain', '--need', '1Mi', '--bogus'], /^bpfmem: unknown option '--bogus'/],
  ])('%j', async (args, message) => {
    const r = await run(args);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  it('any arguments give 0, 1 or 2, and a 2 comes with one line on stderr (fuzz)', async () => {
    const word = fc.oneof(
      fc.constantFrom('--pid', '--cgroup', '--map', '--need', '--errno', '--prog', '--json', 'ENOMEM', '1Mi', '/pods', '42', ARRAY_1M, 'type=hash'),
      fc.string({ maxLength: 20 }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(word, { maxLength: 7 }), async (words) => {
        const r = await run(['explain', ...words]);
        expect([0, 1, 2]).toContain(r.status);
        if (r.status === 2) {
          expect(r.stderr).toMatch(/^bpfmem: /);
          expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
        }
      }),
      { numRuns: 1500 },
    );
  });
});

describe('bpfmem explain on hand-made facts', () => {
  it('reads the task given, the cgroup given, or this process', async () => {
    const seen: FactsSource[] = [];
    const readFacts = (s: FactsSource) => {
      seen.push(s);
      return Promise.resolve(facts());
    };
    await run(['explain', '--pid', '77', '--need', '1'], { readFacts });
    await run(['explain', '--cgroup', '/pods/', '--need', '1'], { readFacts });
    await run(['explain', '--need', '1'], { readFacts });
    expect(seen).toEqual([{ pid: 77 }, { cgroup: '/pods' }, { self: true }]);
  });

  it('names the cgroup that stops it, the shortfall and the fix; exit 1', async () => {
    const r = await run(['explain', '--map', ARRAY_8M]);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('process 4242 (agent), uid 0; memory cgroup /pods/agent');
    expect(r.stdout).toMatch(/^\s+60\.0 MiB\s+64\.0 MiB\s+4\.0 MiB\s+4\.0 MiB\s+\/pods {2}← stops it$/m);
    expect(r.stdout).toMatch(/does not fit: 4.0 MiB short under the memory.limit_in_bytes of \/pods \(4.0 MiB\s+free\)/);
    expect(r.stdout).toMatch(/raise \/pods's memory.limit_in_bytes by 4.0 MiB \(to 68.0 MiB\)/);
  });

  it('--json: the verdict, every cgroup and the need, with null for no limit', async () => {
    const r = await run(['explain', '--map', ARRAY_8M, '--json']);
    expect(r.status).toBe(1);
    const j = JSON.parse(r.stdout) as {
      verdict: { kind: string; cgroup: string; short: number };
      cgroups: { path: string; max: number | null; headroom: number | null; failcnt: number }[];
      need: { counted: number; maps: { name: string; charged: number }[] };
      task: { cap_eff: string; memlock: { soft: number } };
      causes: unknown[];
      kernel: Record<string, unknown>;
    };
    // The kernel as every command's JSON gives it, with the regime's reason.
    expect(Object.keys(j.kernel)).toEqual(['version', 'release', 'cpus', 'page_size', 'arch', 'kmalloc_min_size', 'cgroup', 'regime', 'eras', 'regime_reason']);
    expect(j.verdict).toMatchObject({ kind: 'short', cgroup: '/pods' });
    expect(j.verdict.short).toBe(j.need.counted - 4 * MiB);
    expect(j.cgroups.map((c) => [c.path, c.max, c.headroom])).toEqual([
      ['/pods/agent', null, null],
      ['/pods', 64 * MiB, 4 * MiB],
      ['/', null, null],
    ]);
    expect(j.need.maps[0]?.name).toBe('big');
    expect(j.task).toMatchObject({ cap_eff: '0x1fffeffffff', memlock: { soft: 8 * MiB } });
    expect(j.causes).toEqual([]);
  });

  it('a task in the root memory cgroup needs memory charged to no cgroup, and says so', async () => {
    const r = await run(['explain', '--map', ARRAY_1M], { readFacts: () => Promise.resolve(facts([level('/', 900 * MiB)])) });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^needs \S+ \S+ charged to no cgroup \(the root memory cgroup never is\)$/m);
    const child = await run(['explain', '--map', ARRAY_1M]);
    expect(child.stdout).toMatch(/^needs \S+ \S+ charged to the memory cgroup$/m);
  });

  it('fits: exit 0, with the room left', async () => {
    const r = await run(['explain', '--map', ARRAY_1M]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^fits: .* left under the memory.limit_in_bytes of\s+\/pods$/m);
  });

  it('--errno takes any errno of Linux (EMFILE, ENOTSUP, 19, …): a specific cause where bpfmem knows one, else one line; exit by the causes', async () => {
    for (const errno of ['EMFILE', 'ENODEV', 'ELOOP', 'EINTR', 'ENOTSUP', '4', '6', '19', '23', '24', '40', '75']) {
      const r = await run(['explain', '--map', ARRAY_1M, '--errno', errno]);
      expect({ errno, status: r.status, stderr: r.stderr }).toEqual({ errno, status: 1, stderr: '' });
    }
    const emfile = await run(['explain', '--map', ARRAY_1M, '--errno', 'EMFILE'], { readFacts: () => Promise.resolve({ ...facts(), task: { ...facts().task!, nofile: { soft: 1024, hard: 4096 }, openFds: 1024 } }) });
    expect(emfile.status).toBe(0);
    expect(emfile.stdout.replace(/\s+/g, ' ')).toContain('likely RLIMIT_NOFILE of process 4242: 1024 fds open of 1024; the map or program takes 1 more');
    const eloop = JSON.parse((await run(['explain', '--map', ARRAY_1M, '--errno', '40', '--json'])).stdout) as { errno: string; causes: { kind: string; status: string; text: string }[] };
    expect(eloop.errno).toBe('ELOOP');
    expect(eloop.causes).toContainEqual(expect.objectContaining({ kind: 'unknown-errno', status: 'possible', text: 'bpf(2) failed with ELOOP (40, Too many levels of symbolic links): bpfmem has no specific explanation of it from BPF_MAP_CREATE or BPF_PROG_LOAD' }));
  });

  it('a map name the kernel refuses (bpf_obj_name_cpy): refused with EINVAL naming the character, exit 1', async () => {
    const r = await run(['explain', '--map', 'type=hash,key=4,value=4,max_entries=10,name=my-map']);
    expect(r.status).toBe(1);
    expect(r.stdout.replace(/\s+/g, ' ')).toContain('the kernel would refuse it with EINVAL: map my-map: the kernel takes only letters, digits, _ and . in a map name (bpf_obj_name_cpy, kernel/bpf/syscall.c): "-" (U+002D), at byte 3 of the name, is none of them');
  });

  it('a spec the kernel refuses: exit 1 with its errno', async () => {
    const r = await run(['explain', '--map', 'type=array,key=4,value=8,max_entries=16,flags=no_prealloc']);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/the kernel would refuse it with EINVAL: map map0: array does not take flag\s+no_prealloc/);
  });

  it('--errno ENOMEM: the full cgroup is the likely cause, with its failcnt: exit 0', async () => {
    const r = await run(['explain', '--map', ARRAY_8M, '--errno', 'enomem']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^ENOMEM: what could have caused it$/m);
    expect(r.stdout).toMatch(/^likely {5}memory.limit_in_bytes of \/pods:/m);
    expect(r.stdout).toContain('memory.failcnt of /pods is 7: charges have hit its limit');
    expect(r.stdout).toMatch(/^ruled out {2}RLIMIT_MEMLOCK: exceeding it fails with EPERM/m);
  });

  it('--errno with no likely cause: exit 1, and says so', async () => {
    const r = await run(['explain', '--map', ARRAY_1M, '--errno', 'EPERM']);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/no cause bpfmem can check fits the evidence for EPERM/);
    const j = JSON.parse((await run(['explain', '--map', ARRAY_1M, '--errno', 'EPERM', '--json'])).stdout) as { errno: string; causes: { kind: string; status: string }[] };
    expect(j.errno).toBe('EPERM');
    expect(j.causes.map((c) => [c.kind, c.status])).toEqual([
      ['lsm', 'possible'],
      ['rlimit-memlock', 'ruled out'],
      ['permission', 'ruled out'],
    ]);
  });

  it('keeps its lines within 80 columns (long cgroup paths aside)', async () => {
    const r = await run(['explain', '--map', ARRAY_8M, '--map', 'type=percpu_array,key=4,value=64,max_entries=100000', '--errno', 'ENOMEM']);
    for (const line of r.stdout.split('\n')) if (!line.includes('/pods')) expect(line.length).toBeLessThanOrEqual(80);
  });
});

function report(more: Partial<ProbeReport> = {}): ProbeReport {
  return {
    machine: {
      release: '6.18.44-fc-v657',
      version: { major: 6, minor: 18, patch: 44 },
      possibleCpus: 2,
      pageSize: 4096,
      arch: 'x86_64',
      kmallocMinSize: 8,
      cmdline: { params: [], memory: { nobpf: false, nokmem: false, nosocket: false, options: [] }, cgroupDisable: [], cgroupNoV1: [] },
      memory: { ok: true, hierarchy: { version: 1, mountPoint: '/sys/fs/cgroup/memory', ownPath: '/process_api/c19', ownDir: '/sys/fs/cgroup/memory/process_api/c19' } },
      cgroupVersion: 1,
      memlock: { soft: 8 * MiB, hard: 8 * MiB },
      unprivilegedBpfDisabled: 2,
      bpfJitEnable: 1,
      bpfJitLimit: 528482304,
      regime: 'memcg',
      regimeReason: 'kernel 6.18.44 charges BPF maps and programs to the creator\'s memory cgroup',
    },
    onlineCpus: 2,
    bpfJitHarden: 0,
    btfBytes: 5515646,
    capEff: 0x1fffeffffffn,
    charge: { ok: true, charged: true, counter: 'memory.kmem.usage_in_bytes', delta: 528384, expected: 528384, cgroup: '/process_api/c19/bpfmem-probe-1-00000000/kernel', private: true },
    precharge: { ok: true, precharged: false, limit: 65536, detail: 'created' },
    measuredRegime: 'memcg',
    measuredReason: 'memory.kmem.usage_in_bytes grew by 528384 bytes',
    libbpf: { memcg: true, detail: 'a socket filter calling bpf_ktime_get_coarse_ns() (5.11) loaded', wouldRaise: false },
    cilium: { memcg: true, detail: 'a 1-entry array was created with RLIMIT_MEMLOCK 0', wouldRaise: false },
    features: [
      { feature: 'arena', what: 'arena maps', state: 'refused', errno: 'EPERM', detail: 'BPF_MAP_CREATE of a one-page arena: EPERM, although a plain array map was created: this kernel refuses arena maps' },
      { feature: 'fentry', what: 'fentry programs', state: 'ok', detail: 'BPF_PROG_LOAD of a fentry program on bpf_fentry_test1: loaded' },
    ],
    memlockBefore: { soft: 8 * MiB, hard: 8 * MiB },
    memlockAfter: { soft: 8 * MiB, hard: 8 * MiB },
    ...more,
  };
}

/** `bpfmem ARGS` on hand-made facts, its output on a terminal of `columns`. */
const explainOnTerminal = (args: readonly string[], columns: number, chain: CgroupLevel[]): Promise<CliRun> =>
  onTerminal(args, columns, (ctx) => [explainCommand(ctx, { readFacts: () => Promise.resolve(facts(chain)) })]);

describe('bpfmem explain on a terminal: the tables fit its width, as maps and cgroups do', () => {
  const pod = '/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0f1c2d3e_1111_2222_3333_444455556666.slice';
  const container = `${pod}/cri-containerd-${'3a9d2c1b'.repeat(8)}.scope`;
  const chain = [level(container, 10 * MiB), level(pod, 60 * MiB, 64 * MiB, { failcnt: 7 }), level('/kubepods.slice', 900 * MiB), level('/', 900 * MiB)];
  const args = ['explain', '--map', ARRAY_8M, '--map', 'type=hash,key=4,value=8,max_entries=1000,name=flows', '--prog', '4096'];

  it('the cgroups on the way: paths lose their middle and keep `← stops it`; the objects fit too', async () => {
    const r = await explainOnTerminal(args, 60, chain);
    expect(r.status).toBe(1);
    const levels = tableLines(r.stdout, /^\s*USAGE /);
    expect(levels).toHaveLength(5);
    const objects = tableLines(r.stdout, /^OBJECT /);
    expect(objects).toHaveLength(4);
    for (const l of [...levels, ...objects]) expect(textWidth(l), l).toBeLessThanOrEqual(60);
    expect(levels[0]).toMatch(/^\s+USAGE\s+LIMIT\s+FREE\s+SHORT\s+CGROUP$/);
    expect(levels[2]).toMatch(/^\s+60\.0 MiB\s+64\.0 MiB\s+4\.0 MiB\s+4\.1 MiB {2}\/kubepods\.…← stops it$/);
    expect(levels[4]).toMatch(/^\s*900\.0 MiB\s+max\s+-\s+\/$/);
    // Into a pipe, whole rows, as before.
    const piped = await run(args, { readFacts: () => Promise.resolve(facts(chain)) });
    expect(piped.stdout).toContain(`4.1 MiB  ${pod}  ← stops it\n`);
    expect(piped.stdout).toContain(`${container}\n`);
  });

  it('narrower: the columns that fit whole, then …', async () => {
    const r = await explainOnTerminal(args, 40, chain);
    for (const l of [...tableLines(r.stdout, /^\s*USAGE /), ...tableLines(r.stdout, /^OBJECT /)]) expect(textWidth(l), l).toBeLessThanOrEqual(40);
    expect(tableLines(r.stdout, /^OBJECT /)[1]).toMatch(/^big\s+array\s+8\.0 MiB {2}…$/);
  });
});

describe('bpfmem explain in colour', () => {
  const COLOUR = {
    bold: (s: string) => `\u001b[1m${s}\u001b[22m`,
    dim: (s: string) => `\u001b[2m${s}\u001b[22m`,
    ok: (s: string) => `\u001b[32m${s}\u001b[39m`,
    bad: (s: string) => `\u001b[31m${s}\u001b[39m`,
    warn: (s: string) => `\u001b[33m${s}\u001b[39m`,
  };
  const text = (chain?: CgroupLevel[], maps: string[] = []): string => {
    const { explanation, progNames } = explainLoad(facts(chain), { objects: [], maps: specMaps(maps), progs: [], need: MiB, errno: undefined, kernelBtf: undefined });
    return explanationText(explanation, COLOUR, progNames);
  };

  it('the verdict is coloured, not its colour shown as text (\\x1b[32mfits)', () => {
    const fits = text([level('/pods/agent', 10 * MiB), level('/', 900 * MiB)]);
    expect(fits).toContain('\n\u001b[32mfits\u001b[39m: no memory cgroup on the way has a limit\n');
    expect(fits).not.toContain('\\x1b');
    const short = text(undefined, [ARRAY_8M]);
    // eslint-disable-next-line no-control-regex
    expect(short).toMatch(/\n\u001b\[31mdoes not fit\u001b\[39m: [\d.]+ MiB short under the memory\.limit_in_bytes of \/pods/);
    expect(short).not.toContain('\\x1b');
  });
});

describe('bpfmem probe on a hand-made report', () => {
  it('prints the three ways and the settings, exit 0', async () => {
    const r = await run(['probe']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^regime memcg by the kernel's way; the version and command line say the same/m);
    expect(r.stdout).toMatch(/^kernel: a map's charge {2}yes {4}memory.kmem.usage_in_bytes of a cgroup made for/m);
    expect(r.stdout).toMatch(/^libbpf {18}yes/m);
    expect(r.stdout).toMatch(/^cilium\/ebpf {13}yes/m);
    expect(r.stdout).toContain('RLIMIT_MEMLOCK 8.0 MiB soft, 8.0 MiB hard: does not limit BPF here');
    expect(r.stdout).toContain('no CAP_SYS_RESOURCE');
    expect(r.stdout).toMatch(/^arena maps: refused by this kernel \(BPF_MAP_CREATE of a one-page arena: EPERM/m);
    expect(r.stdout).toMatch(/^allowed: fentry programs$/m);
    for (const line of r.stdout.split('\n')) if (!line.includes('/process_api')) expect(line.length).toBeLessThanOrEqual(80);
  });

  it('--json: the regime three ways, the rlimit, and null where nothing was read', async () => {
    const j = JSON.parse((await run(['probe', '--json'], { probe: () => Promise.resolve(report({ btfBytes: undefined })) })).stdout) as Record<string, Record<string, unknown>>;
    expect(j['regime']).toMatchObject({ by_version: 'memcg', measured: 'memcg', libbpf: 'memcg', cilium: 'memcg' });
    expect(j['memlock']).toEqual({ soft: 8 * MiB, hard: 8 * MiB, matters: false, restored: true });
    expect(j['btf']).toEqual({ path: '/sys/kernel/btf/vmlinux', bytes: null });
    expect(j['capabilities']).toMatchObject({ eff: '0x1fffeffffff' });
    expect(j['features']).toMatchObject({ arena: { state: 'refused', errno: 'EPERM' }, fentry: { state: 'ok', errno: null } });
    expect(j['kernel_way']).toMatchObject({ charge: { ok: true, charged: true, delta: 528384 }, precharge: { ok: true, precharged: false } });
  });

  it('says when the ways disagree (cgroup.memory=nobpf: libbpf and cilium/ebpf still say memcg)', async () => {
    const r = await run(['probe'], {
      probe: () =>
        Promise.resolve(
          report({
            charge: { ok: true, charged: false, counter: 'memory.kmem.usage_in_bytes', delta: 0, expected: 528384, cgroup: '/x', private: true },
            measuredRegime: 'none',
          }),
        ),
    });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^regime none by the kernel's way; the version and command line say memcg/m);
  });

  it('exit 1 when the kernel\'s way could not decide or RLIMIT_MEMLOCK was not put back', async () => {
    const unknown = await run(['probe'], {
      probe: () =>
        Promise.resolve(
          report({
            charge: { ok: false, reason: 'creating the probe map: BPF_MAP_CREATE: EPERM (Operation not permitted)', errno: 'EPERM' },
            measuredRegime: undefined,
            measuredReason: 'creating the probe map: BPF_MAP_CREATE: EPERM (Operation not permitted)',
          }),
        ),
    });
    expect(unknown.status).toBe(1);
    expect(unknown.stdout).toMatch(/^regime unknown by the kernel's way \(creating the probe map: BPF_MAP_CREATE:\s+EPERM/m);
    expect(unknown.stdout).toMatch(/by the version and command line: memcg/);
    expect(unknown.stdout).toMatch(/the probes need bpf\(\): run bpfmem probe as root/);
    const r = await run(['probe'], { probe: () => Promise.resolve(report({ memlockAfter: { soft: 0, hard: 8 * MiB } })) });
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/NOT\s+restored: now 0 B \/ 8.0 MiB/);
  });
});

if (!toolchain.ok) console.warn(`explain --object tests skipped: ${toolchain.reason}`);

describe.skipIf(!toolchain.ok)('bpfmem explain --object FILE.o', () => {
  const obj = (name: string): string => (toolchain.ok ? buildFixture(name) : '');
  interface NeedJson {
    need: { counted: number; charged: number; memlock: number; maps: { name: string }[]; progs: unknown[] };
    verdict: { kind: string; cgroup?: string; short?: number };
  }

  it('needs what `bpfmem estimate FILE.o` gives for this kernel: every map and program of the object', async () => {
    const r = await run(['explain', '--object', obj('maps'), '--json']);
    const out = JSON.parse(r.stdout) as NeedJson;
    const est = await cli(['estimate', obj('maps'), '--kernel', '6.18.44', '--cpus', '2', '--page-size', '4096', '--json']);
    const e = JSON.parse(est.stdout) as { maps: { name: string }[]; progs: unknown[]; total: { charged: number; memlock: number } };
    expect(out.need.maps.map((m) => m.name)).toEqual(e.maps.map((m) => m.name));
    expect(out.need.progs).toHaveLength(e.progs.length);
    expect(out.need).toMatchObject({ counted: e.total.charged, charged: e.total.charged, memlock: e.total.memlock });
    // About 1.2 MiB fits in the 4 MiB left under /pods, the tightest limit on the way.
    expect(out.verdict).toMatchObject({ kind: 'fits', cgroup: '/pods' });
    expect(r.status).toBe(0);
  });

  it('adds --map and --need to the object, and names the limit that stops them', async () => {
    const r = await run(['explain', '--object', obj('maps'), '--map', ARRAY_8M, '--need', '1Mi', '--json']);
    const out = JSON.parse(r.stdout) as NeedJson;
    const alone = JSON.parse((await run(['explain', '--object', obj('maps'), '--json'])).stdout) as NeedJson;
    expect(out.need.maps.map((m) => m.name)).toEqual([...alone.need.maps.map((m) => m.name), 'big']);
    expect(out.verdict).toMatchObject({ kind: 'short', cgroup: '/pods' });
    expect(r.status).toBe(1);
  });

  it.each<[string, string, RegExp]>([
    ['a missing file', '/nonexistent/x.bpf.o', /^bpfmem: BPF object \/nonexistent\/x\.bpf\.o: cannot read \(no such file\)\n$/],
    ['a text file', 'package.json', /^bpfmem: package\.json: not an ELF file/],
  ])('%s is one line naming the file, exit 2, before the machine is read', async (_what, path, message) => {
    let read = false;
    const r = await run(['explain', '--object', path], {
      readFacts: () => {
        read = true;
        return Promise.resolve(facts());
      },
    });
    expect(r.stderr).toMatch(message);
    expect(r.status).toBe(2);
    expect(read).toBe(false);
  });
});
