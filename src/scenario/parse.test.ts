import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAP_FLAGS } from '../vocab/flags.js';
import { formatPath, formatScenarioError, parseScenario, SCENARIO_LIMITS, utf8Length } from './parse.js';
import { yamlMessage } from './parse-yaml.js';
import { runScenario } from './run.js';
import { ModelBackend } from '../model/backend.js';
import { makeProfile } from '../model/profile.js';
import type { Scenario } from './types.js';

const SOURCE = 'scenarios/x.yaml';

/** Parses text that must be good. */
function good(text: string): Scenario {
  const r = parseScenario(text, SOURCE);
  if (!r.ok) throw new Error(`expected a scenario, got: ${formatScenarioError(r.error)}`);
  return r.scenario;
}

/** The one-line error of text that must be bad. */
function bad(text: string): string {
  const r = parseScenario(text, SOURCE);
  if (r.ok) throw new Error('expected an error, got a scenario');
  return formatScenarioError(r.error);
}

/** The example of the issue ("Scenarios and the CLI"). */
const ISSUE_EXAMPLE = `kernel: { version: "6.18", cpus: 64 }
cgroups:
  /pods/agent: { max: 256Mi }
tasks:
  agent: { cgroup: /pods/agent, uid: 0, memlock: 8Mi }
steps:
  - create_map: { task: agent, name: ct, type: lru_hash, key: 56, value: 56, max_entries: 524288 }
  - update: { map: ct, count: 100000, context: softirq }
  - move_task: { task: agent, cgroup: /pods }
  - remove_cgroup: { cgroup: /pods/agent }
  - close: { map: ct }
`;

describe('parseScenario: good files', () => {
  it('reads the example of the issue, with implied parents, defaults and bytes', () => {
    expect(good(ISSUE_EXAMPLE)).toEqual({
      source: SOURCE,
      kernel: { version: '6.18', cpus: 64 },
      cgroups: [
        { path: '/pods', max: Infinity, high: Infinity },
        { path: '/pods/agent', max: 256 * 2 ** 20, high: Infinity },
      ],
      tasks: [{ name: 'agent', cgroup: '/pods/agent', uid: 0, memlock: 8 * 2 ** 20, capIpcLock: false }],
      steps: [
        {
          op: 'create_map',
          index: 0,
          task: 'agent',
          name: 'ct',
          spec: { type: 'lru_hash', keySize: 56, valueSize: 56, maxEntries: 524288, flags: 0, mapExtra: 0 },
        },
        { op: 'update', index: 1, map: 'ct', count: 100000, context: 'softirq', cpu: 0 },
        { op: 'move_task', index: 2, task: 'agent', cgroup: '/pods' },
        { op: 'remove_cgroup', index: 3, cgroup: '/pods/agent' },
        { op: 'close', index: 4, kind: 'map', name: 'ct' },
      ],
    } satisfies Scenario);
  });

  it('reads the same scenario written as JSON', () => {
    const json = JSON.stringify({
      kernel: { version: '6.18', cpus: 64 },
      cgroups: { '/pods/agent': { max: '256Mi' } },
      tasks: { agent: { cgroup: '/pods/agent', uid: 0, memlock: '8Mi' } },
      steps: [
        { create_map: { task: 'agent', name: 'ct', type: 'lru_hash', key: 56, value: 56, max_entries: 524288 } },
        { update: { map: 'ct', count: 100000, context: 'softirq' } },
        { move_task: { task: 'agent', cgroup: '/pods' } },
        { remove_cgroup: { cgroup: '/pods/agent' } },
        { close: { map: 'ct' } },
      ],
    });
    expect(good(json)).toEqual(good(ISSUE_EXAMPLE));
  });

  it.each([
    ['no kernel: the kernel of the machine that runs it', '{}', {}],
    ['an empty mapping: likewise', 'kernel: {}', {}],
    ['a version string', 'kernel: "5.10.0-28-amd64"', { version: '5.10.0-28-amd64' }],
    ['a bare number read as written, not as 6.1', 'kernel: 6.10', { version: '6.10' }],
    ['a bare number inside the mapping', 'kernel: { version: 6.10 }', { version: '6.10' }],
    [
      'every key of the mapping',
      'kernel: { version: "5.10", cpus: 192, page_size: 64Ki, regime: memlock, cgroup: 1, arch: arm64 }',
      { version: '5.10', cpus: 192, pageSize: 65536, regime: 'memlock', cgroup: 1, arch: 'arm64' },
    ],
    ['a what-if regime on a new kernel', 'kernel: { version: "6.18", regime: none }', { version: '6.18', regime: 'none' }],
  ])('kernel: %s', (_, text, kernel) => {
    expect(good(text).kernel).toEqual(kernel);
  });

  it('implies parents and orders cgroups parents first, name by name', () => {
    const s = good(`
kernel: { version: "6.18", cgroup: 2 }
cgroups:
  /b/c: { max: 1Mi }
  /a/x/y:
  /a: { max: max, high: 512Ki }
  /a-b: {}
`);
    expect(s.cgroups).toEqual([
      { path: '/a', max: Infinity, high: 512 * 1024 },
      { path: '/a/x', max: Infinity, high: Infinity },
      { path: '/a/x/y', max: Infinity, high: Infinity },
      { path: '/a-b', max: Infinity, high: Infinity },
      { path: '/b', max: Infinity, high: Infinity },
      { path: '/b/c', max: 1024 * 1024, high: Infinity },
    ]);
  });

  it('fills task defaults: the root cgroup, uid 0, the kernel default memlock, no CAP_IPC_LOCK', () => {
    const s = good(`
tasks:
  a:
  b: { uid: 1000, memlock: unlimited, cap_ipc_lock: true, cgroup: / }
`);
    expect(s.tasks).toEqual([
      { name: 'a', cgroup: '/', uid: 0, capIpcLock: false },
      { name: 'b', cgroup: '/', uid: 1000, memlock: Infinity, capIpcLock: true },
    ]);
  });

  it('fills step defaults: the creator as update context, count 1, cpu 0, mlock via mlock', () => {
    const s = good(`
kernel: { version: "6.18", cpus: 4 }
tasks: { loader: {}, other: {} }
steps:
  - create_map: { task: loader, name: m, type: hash, key: 4, value: 8, max_entries: 16 }
  - update: { map: m }
  - update: { map: m, context: other, cpu: 3, count: 1Ki }
  - update: { map: m, context: irq }
  - delete: { map: m }
  - mlock: { task: other, bytes: 4Ki }
  - mlock: { task: other, bytes: 4Ki, via: io_uring }
`);
    expect(s.steps.slice(1)).toEqual([
      { op: 'update', index: 1, map: 'm', count: 1, context: { task: 'loader' }, cpu: 0 },
      { op: 'update', index: 2, map: 'm', count: 1024, context: { task: 'other' }, cpu: 3 },
      { op: 'update', index: 3, map: 'm', count: 1, context: 'irq', cpu: 0 },
      { op: 'delete', index: 4, map: 'm', count: 1, cpu: 0 },
      { op: 'mlock', index: 5, task: 'other', bytes: 4096, via: 'mlock' },
      { op: 'mlock', index: 6, task: 'other', bytes: 4096, via: 'io_uring' },
    ]);
  });

  it.each([
    ['a + string', 'no_prealloc+numa'],
    ['a | string with bpf_f_ names', 'BPF_F_NO_PREALLOC|BPF_F_NUMA_NODE'],
    ['a list', '[no_prealloc, numa_node]'],
    ['a number', String(MAP_FLAGS.no_prealloc | MAP_FLAGS.numa_node)],
  ])('reads map flags as %s', (_, flags) => {
    const s = good(`
tasks: { t: {} }
steps:
  - create_map: { task: t, name: m, type: hash, key: 4, value: 4, max_entries: 1, flags: ${flags} }
`);
    expect(s.steps[0]).toMatchObject({ spec: { flags: MAP_FLAGS.no_prealloc | MAP_FLAGS.numa_node } });
  });

  it('reads map_extra in hex, struct_ops_funcs on struct_ops, and the kernel enum name of a type', () => {
    const s = good(`
tasks: { t: {} }
steps:
  - create_map: { task: t, name: arena, type: arena, max_entries: 100, flags: mmapable, map_extra: "0x100000000" }
  - create_map: { task: t, name: cc, type: BPF_MAP_TYPE_STRUCT_OPS, key: 4, value: 256, max_entries: 1, struct_ops_funcs: 13 }
  - create_map: { task: t, name: cc18, type: struct_ops, key: 4, value: 256, max_entries: 1, struct_ops_funcs: 13, struct_ops_members: 18 }
`);
    expect(s.steps.map((step) => (step.op === 'create_map' ? step.spec : undefined))).toEqual([
      { type: 'arena', keySize: 0, valueSize: 0, maxEntries: 100, flags: MAP_FLAGS.mmapable, mapExtra: 2 ** 32 },
      { type: 'struct_ops', keySize: 4, valueSize: 256, maxEntries: 1, flags: 0, mapExtra: 0, structOpsFuncs: 13 },
      { type: 'struct_ops', keySize: 4, valueSize: 256, maxEntries: 1, flags: 0, mapExtra: 0, structOpsFuncs: 13, structOpsMembers: 18 },
    ]);
  });

  it('follows cgroups, tasks, maps and programs through the steps', () => {
    const s = good(`
description: >
  A cgroup made, used, emptied, removed and made again.
kernel: { version: "6.18", cgroup: 2 }
cgroups: { /pods: {} }
tasks: { t: {} }
steps:
  - create_cgroup: { cgroup: /pods/a, max: 64Mi }
  - move_task: { task: t, cgroup: /pods/a }
  - load_prog: { task: t, name: p, insns: 4096 }
  - alloc: { task: t, bytes: 1Mi }
  - free: { task: t, bytes: 1Mi }
  - set_limit: { cgroup: /pods/a, high: 32Mi }
  - move_task: { task: t, cgroup: / }
  - remove_cgroup: { cgroup: /pods/a }
  - create_cgroup: { cgroup: /pods/a }
  - close: { prog: p }
`);
    expect(s.description).toBe('A cgroup made, used, emptied, removed and made again.');
    expect(s.steps).toEqual([
      { op: 'create_cgroup', index: 0, cgroup: '/pods/a', max: 64 * 2 ** 20, high: Infinity },
      { op: 'move_task', index: 1, task: 't', cgroup: '/pods/a' },
      { op: 'load_prog', index: 2, task: 't', name: 'p', insns: 4096 },
      { op: 'alloc', index: 3, task: 't', bytes: 2 ** 20 },
      { op: 'free', index: 4, task: 't', bytes: 2 ** 20 },
      { op: 'set_limit', index: 5, cgroup: '/pods/a', high: 32 * 2 ** 20 },
      { op: 'move_task', index: 6, task: 't', cgroup: '/' },
      { op: 'remove_cgroup', index: 7, cgroup: '/pods/a' },
      { op: 'create_cgroup', index: 8, cgroup: '/pods/a', max: Infinity, high: Infinity },
      { op: 'close', index: 9, kind: 'prog', name: 'p' },
    ]);
  });

  it('expands anchors and aliases into copies', () => {
    const s = good(`
tasks: { t: {} }
steps:
  - create_map: &big { task: t, name: a, type: hash, key: 4, value: 8, max_entries: 64Ki }
  - update: &fill { map: a, count: 64Ki }
  - update: *fill
`);
    expect(s.steps[1]).toEqual({ ...s.steps[2], index: 1 });
  });

  it('accepts a map and a program of the same name: close says which', () => {
    const s = good(`
tasks: { t: {} }
steps:
  - create_map: { task: t, name: x, type: array, key: 4, value: 4, max_entries: 1 }
  - load_prog: { task: t, name: x, insns: 10 }
  - close: { prog: x }
  - close: { map: x }
`);
    expect(s.steps.map((step) => step.op)).toEqual(['create_map', 'load_prog', 'close', 'close']);
  });

  it('reads names that YAML would make numbers or booleans as written: task 007, map 1.50, a description of 42', () => {
    const s = good(`
description: 42
tasks: { 007: {}, true: {} }
steps:
  - create_map: { task: 007, name: 1.50, type: array, key: 4, value: 4, max_entries: 1 }
  - update: { map: 1.50, context: true }
  - close: { map: 1.50 }
`);
    expect(s.description).toBe('42');
    expect(s.tasks.map((t) => t.name)).toEqual(['007', 'true']);
    expect(s.steps[0]).toMatchObject({ op: 'create_map', task: '007', name: '1.50' });
    expect(s.steps[1]).toMatchObject({ op: 'update', map: '1.50', context: { task: 'true' } });
  });

  it('reads a section with nothing after it, or null, as left out: kernel:, description:, description: null, kernel: ~', () => {
    expect(good('description:\nkernel:\ncgroups:\ntasks:\nsteps:\n')).toEqual({ source: SOURCE, kernel: {}, cgroups: [], tasks: [], steps: [] });
    expect(good('description: null\nkernel: ~\n')).toEqual({ source: SOURCE, kernel: {}, cgroups: [], tasks: [], steps: [] });
  });

  it('reads a name written null or ~ as written, as a key and as a value', () => {
    const s = good(`
tasks: { null: {}, NULL: {} }
steps:
  - create_map: { task: null, name: Null, type: array, key: 4, value: 4, max_entries: 1 }
  - update: { map: Null, context: NULL }
`);
    expect(s.tasks.map((t) => t.name)).toEqual(['null', 'NULL']);
    expect(s.steps[0]).toMatchObject({ task: 'null', name: 'Null' });
    expect(s.steps[1]).toMatchObject({ map: 'Null', context: { task: 'NULL' } });
    expect(bad('tasks: { ~: {} }')).toBe(`${SOURCE}:1: tasks["~"]: expected a task name of 1–64 characters A–Z a–z 0–9 _ . -, got "~"`);
    expect(bad(withMap('  - update: { map: }'))).toBe(`${SOURCE}:5: steps[1].update.map: expected a name, got null`);
  });

  it('reads kernel.cgroup written as text, as cpus and uid are', () => {
    expect(good('kernel: { version: "6.18", cgroup: "2", cpus: "4" }').kernel).toEqual({ version: '6.18', cgroup: 2, cpus: 4 });
    expect(bad('kernel: { version: "6.18", cgroup: "3" }')).toBe(`${SOURCE}:1: kernel.cgroup: expected 1 or 2 (the cgroup version), got "3"`);
    expect(bad('kernel: { version: "6.18", cgroup: 1.5 }')).toBe(`${SOURCE}:1: kernel.cgroup: expected 1 or 2 (the cgroup version), got 1.5`);
  });

  it('checks a step\'s cpu and memory.high against the machine the file runs on when it names no kernel version', () => {
    const host = () => ({ release: '6.12.0', possibleCpus: 8, cgroupVersion: 2 as const });
    const text = withMapNoKernel('  - update: { map: m, cpu: 7 }');
    expect(parseScenario(text, SOURCE, { host }).ok).toBe(true);
    const past = parseScenario(withMapNoKernel('  - update: { map: m, cpu: 8 }'), SOURCE, { host });
    expect(past.ok ? '' : formatScenarioError(past.error)).toBe(
      `${SOURCE}:4: steps[1].update.cpu: cpu 8 is not a possible CPU: this machine has 8 possible CPUs (CPUs 0 to 7) and the scenario runs on its kernel; set kernel.cpus for another count`,
    );
    expect(parseScenario(`cgroups: { /a: { high: 1Mi } }\n${withMapNoKernel('')}`, SOURCE, { host }).ok).toBe(true);
    const v1 = parseScenario(`cgroups: { /a: { high: 1Mi } }\n${withMapNoKernel('')}`, SOURCE, { host: () => ({ ...host(), cgroupVersion: 1 as const }) });
    expect(v1.ok ? '' : formatScenarioError(v1.error)).toMatch(/memory\.high exists only on cgroup v2 \(the scenario runs on this machine's kernel, whose memory controller is on cgroup v1; set kernel\.cgroup: 2\)$/);
    // A file that names its kernel is not asked about the machine.
    expect(parseScenario(`kernel: "6.18"\n${withMapNoKernel('')}`, SOURCE, { host: () => { throw new Error('asked'); } }).ok).toBe(true);
  });
});

const withMapNoKernel = (steps: string): string => `tasks: { t: {} }
steps:
  - create_map: { task: t, name: m, type: hash, key: 4, value: 8, max_entries: 16 }
${steps}`;

/** Steps after a task `t` and a map `m`, to test one bad step. */
const withMap = (steps: string): string => `
tasks: { t: {} }
steps:
  - create_map: { task: t, name: m, type: hash, key: 4, value: 8, max_entries: 16 }
${steps}`;

describe('parseScenario: bad files give one line with file, line, path and message', () => {
  it.each([
    // Unknown keys, anywhere.
    ['unknown top-level key', 'kernal: "6.18"', `${SOURCE}:1: kernal: unknown key (did you mean kernel?); expected one of description, kernel, cgroups, tasks, steps`],
    [
      'unknown step argument',
      withMap('  - update: { map: m, cnt: 3 }'),
      `${SOURCE}:5: steps[1].update.cnt: unknown key; expected one of map, count, context, cpu`,
    ],
    [
      'unknown task key',
      'tasks:\n  t: { memlck: 8Mi }',
      `${SOURCE}:2: tasks.t.memlck: unknown key (did you mean memlock?); expected one of cgroup, uid, memlock, cap_ipc_lock`,
    ],
    [
      'unknown kernel key',
      'kernel:\n  version: "6.18"\n  cpu: 4',
      `${SOURCE}:3: kernel.cpu: unknown key (did you mean cpus?); expected one of version, cpus, page_size, regime, cgroup, arch`,
    ],
    [
      'merge keys are not read',
      'tasks:\n  t: &t { uid: 1 }\n  u: { <<: *t }',
      `${SOURCE}:3: tasks.u["<<"]: unknown key; expected one of cgroup, uid, memlock, cap_ipc_lock`,
    ],
    // Wrong types.
    [
      'a list where a mapping goes',
      'tasks: [a, b]',
      `${SOURCE}:1: tasks: expected a mapping of task name to { cgroup, uid, memlock, cap_ipc_lock }; got a list`,
    ],
    ['a list where a name goes', withMap('  - update: { map: [m] }'), `${SOURCE}:5: steps[1].update.map: expected a name, got a list`],
    ['a number where a name goes: the name as written', withMap('  - update: { map: 005 }'), `${SOURCE}:5: steps[1].update.map: no map "005" was created before this step`],
    ['text where a boolean goes', 'tasks: { t: { cap_ipc_lock: "yes" } }', `${SOURCE}:1: tasks.t.cap_ipc_lock: expected true or false, got "yes"`],
    ['a mapping where a count goes', withMap('  - delete: { map: m, count: { n: 1 } }'), `${SOURCE}:5: steps[1].delete.count: expected a count (a whole number up to 100000000), got a mapping`],
    ['an unknown regime', 'kernel: { version: "6.18", regime: memcgv2 }', `${SOURCE}:1: kernel.regime: expected memcg, memlock or none, got "memcgv2"`],
    ['a kernel that is not a version', 'kernel: latest', `${SOURCE}:1: kernel: expected a kernel version such as "6.18" or "5.10.0-28", got "latest"`],
    ['a page size the kernel has not', 'kernel: { version: "6.18", page_size: 8Ki }', `${SOURCE}:1: kernel.page_size: expected a page size of 4096, 16384 or 65536 (4Ki, 16Ki, 64Ki), got "8Ki"`],
    ['a missing required key', 'tasks: { t: {} }\nsteps:\n  - load_prog: { task: t, name: p }', `${SOURCE}:3: steps[0].load_prog.insns: required key is missing`],
    // Negative and impossible sizes.
    [
      'a negative size',
      'tasks: { t: {} }\nsteps:\n  - create_map:\n      task: t\n      name: m\n      type: hash\n      max_entries: -5',
      `${SOURCE}:7: steps[0].create_map.max_entries: expected a size (bytes or 64Ki/8Mi), got -5`,
    ],
    ['a negative limit', 'cgroups: { /a: { max: -1 } }', `${SOURCE}:1: cgroups["/a"].max: expected a size (bytes, 64Ki/8Mi or max), got -1`],
    ['max where a finite size goes', 'tasks: { t: {} }\nsteps:\n  - alloc: { task: t, bytes: max }', `${SOURCE}:3: steps[0].alloc.bytes: expected a size (bytes or 64Ki/8Mi), got "max"`],
    [
      'a size beyond the kernel u32',
      'tasks: { t: {} }\nsteps:\n  - create_map: { task: t, name: m, type: array, key: 4, value: 4Gi }',
      `${SOURCE}:3: steps[0].create_map.value: expected a size up to 4294967295 (a u32 in the kernel), got "4Gi"`,
    ],
    ['a fraction of a byte', 'tasks: { t: { memlock: 0.5 } }', `${SOURCE}:1: tasks.t.memlock: expected a size (bytes, 64Ki/8Mi or max), got 0.5`],
    ['a count over the limit', withMap('  - update: { map: m, count: 200000000 }'), `${SOURCE}:5: steps[1].update.count: expected a count (a whole number up to 100000000), got 200000000`],
    ['zero instructions', 'tasks: { t: {} }\nsteps:\n  - load_prog: { task: t, name: p, insns: 0 }', `${SOURCE}:3: steps[0].load_prog.insns: expected a whole number from 1 to 1000000, got 0`],
    // Map types and flags.
    [
      'a misspelt map type',
      'tasks: { t: {} }\nsteps:\n  - create_map: { task: t, name: m, type: hsh }',
      `${SOURCE}:3: steps[0].create_map.type: unknown map type "hsh" (did you mean hash?)`,
    ],
    [
      'an unknown map type',
      'tasks: { t: {} }\nsteps:\n  - create_map: { task: t, name: m, type: btree }',
      `${SOURCE}:3: steps[0].create_map.type: unknown map type "btree"; types are bpftool's names: hash, array, percpu_hash, lru_hash, ringbuf, lpm_trie, … (35 in all)`,
    ],
    [
      'an unknown flag',
      'tasks: { t: {} }\nsteps:\n  - create_map: { task: t, name: m, type: hash, flags: no_prealoc+numa }',
      `${SOURCE}:3: steps[0].create_map.flags: unknown map flag "no_prealoc" (did you mean no_prealloc?); flags are no_prealloc, no_common_lru, numa_node, rdonly, …`,
    ],
    [
      'struct_ops_funcs on another type',
      'tasks: { t: {} }\nsteps:\n  - create_map: { task: t, name: m, type: hash, struct_ops_funcs: 3 }',
      `${SOURCE}:3: steps[0].create_map.struct_ops_funcs: struct_ops_funcs applies only to type struct_ops, not hash`,
    ],
    [
      'struct_ops_members on another type',
      'tasks: { t: {} }\nsteps:\n  - create_map: { task: t, name: m, type: array, struct_ops_members: 3 }',
      `${SOURCE}:3: steps[0].create_map.struct_ops_members: struct_ops_members applies only to type struct_ops, not array`,
    ],
    // Anchors and aliases.
    ['an alias inside its own anchor', 'steps: &s\n  - *s', `${SOURCE}:2: steps[0]: alias *s is inside its own anchor (a cycle)`],
    ['an alias with no anchor', 'kernel: *k', `${SOURCE}:1: kernel: alias *k has no anchor &k before it`],
    [
      'an alias bomb',
      ['kernel: "6.18"', 'a: &a [x, x, x, x, x, x, x, x, x, x]', ...'bcdef'.split('').map((c, i) => `${c}: &${c} [${Array(10).fill(`*${'abcdef'[i]}`).join(', ')}]`)].join('\n'),
      `${SOURCE}:6: e[7][0][7][5][2]: aliases copy in more than 100000 values (an alias bomb?)`,
    ],
    // Names that nothing defines.
    [
      'a step naming a missing task',
      'tasks: { agent: {} }\nsteps:\n  - create_map: { task: agnet, name: m, type: hash }',
      `${SOURCE}:3: steps[0].create_map.task: no task "agnet" in tasks (did you mean agent?)`,
    ],
    ['a step naming a missing map', withMap('  - update: { map: n }'), `${SOURCE}:5: steps[1].update.map: no map "n" was created before this step`],
    ['a step using a closed map', withMap('  - close: { map: m }\n  - delete: { map: m }'), `${SOURCE}:6: steps[2].delete.map: map "m" was closed by steps[1]`],
    ['a map used before it is created', 'tasks: { t: {} }\nsteps:\n  - update: { map: m }', `${SOURCE}:3: steps[0].update.map: no map "m" was created before this step`],
    ['closing a missing program', withMap('  - close: { prog: m }'), `${SOURCE}:5: steps[1].close.prog: no prog "m" was loaded before this step`],
    ['an update context that is no task', withMap('  - update: { map: m, context: softirqs }'), `${SOURCE}:5: steps[1].update.context: no task "softirqs" in tasks (did you mean softirq?); a context is a task, softirq or irq`],
    ['close with both map and prog', withMap('  - close: { map: m, prog: p }'), `${SOURCE}:5: steps[1].close: give map or prog, not both`],
    // Duplicates.
    ['a duplicate task', 'tasks:\n  t: {}\n  t: { uid: 1 }', `${SOURCE}:3: tasks.t: duplicate key (first on line 2)`],
    ['a duplicate map', withMap('  - create_map: { task: t, name: m, type: array }'), `${SOURCE}:5: steps[1].create_map.name: duplicate map name "m" (steps[0] created it)`],
    [
      'a duplicate program',
      'tasks: { t: {} }\nsteps:\n  - load_prog: { task: t, name: p, insns: 1 }\n  - load_prog: { task: t, name: p, insns: 2 }',
      `${SOURCE}:4: steps[1].load_prog.name: duplicate prog name "p" (steps[0] loaded it)`,
    ],
    ['keys equal as text', 'cgroups: { 1: {}, "1": {} }', `${SOURCE}:1: cgroups["1"]: duplicate key (first on line 1)`],
    // Cgroup paths.
    ['a relative cgroup path', 'cgroups: { pods: {} }', `${SOURCE}:1: cgroups.pods: cgroup path "pods" is not absolute (start it with /)`],
    ['a cgroup path with ..', 'cgroups: { /pods/../x: {} }', `${SOURCE}:1: cgroups["/pods/../x"]: cgroup path "/pods/../x" contains ..`],
    ['a cgroup path with //', 'tasks: { t: { cgroup: //pods } }', `${SOURCE}:1: tasks.t.cgroup: cgroup path "//pods" has an empty name (//)`],
    ['a cgroup path ending in /', 'cgroups: { /pods/: {} }', `${SOURCE}:1: cgroups["/pods/"]: cgroup path "/pods/" ends with /`],
    ['a cgroup path with a space', 'cgroups: { "/my pods": {} }', `${SOURCE}:1: cgroups["/my pods"]: cgroup path "/my pods" has a character other than A–Z a–z 0–9 . _ - @ : +`],
    ['the root as a created cgroup', 'cgroups: { /: { max: 1Gi } }', `${SOURCE}:1: cgroups["/"]: the root cgroup / always exists and has no limits; list only cgroups below it`],
    ['a task in a cgroup nobody made', 'cgroups: { /pods: {} }\ntasks: { t: { cgroup: /pod } }', `${SOURCE}:2: tasks.t.cgroup: no cgroup /pod in cgroups (did you mean /pods?)`],
    [
      'a task moved to a removed cgroup',
      'cgroups: { /a: {} }\ntasks: { t: {} }\nsteps:\n  - remove_cgroup: { cgroup: /a }\n  - move_task: { task: t, cgroup: /a }',
      `${SOURCE}:5: steps[1].move_task.cgroup: no cgroup /a exists at this step`,
    ],
    ['a cgroup created under a missing parent', 'steps:\n  - create_cgroup: { cgroup: /a/b }', `${SOURCE}:2: steps[0].create_cgroup.cgroup: parent cgroup /a does not exist at this step (create it first)`],
    [
      'a cgroup removed with a task in it',
      'cgroups: { /a: {} }\ntasks: { t: { cgroup: /a } }\nsteps:\n  - remove_cgroup: { cgroup: /a }',
      `${SOURCE}:4: steps[0].remove_cgroup.cgroup: cgroup /a still has task "t" (move it out first; rmdir fails with EBUSY)`,
    ],
    ['a cgroup removed before its child', 'cgroups: { /a/b: {} }\nsteps:\n  - remove_cgroup: { cgroup: /a }', `${SOURCE}:3: steps[0].remove_cgroup.cgroup: cgroup /a still has child cgroups (remove them first; rmdir fails with EBUSY)`],
    ['a limit on the root', 'steps:\n  - set_limit: { cgroup: /, max: 1Gi }', `${SOURCE}:2: steps[0].set_limit.cgroup: the root cgroup / has no memory limits`],
    ['a limit with no value', 'cgroups: { /a: {} }\nsteps:\n  - set_limit: { cgroup: /a }', `${SOURCE}:3: steps[0].set_limit: give max, high or both`],
    ['memory.high on cgroup v1 (the default)', 'kernel: { version: "6.1" }\ncgroups: { /a: { high: 1Gi } }', `${SOURCE}:2: cgroups["/a"].high: memory.high exists only on cgroup v2 (set kernel.cgroup: 2; the default is 1)`],
    // Kernel rules and CPUs.
    ['memcg before 5.11', 'kernel: { version: "5.4", regime: memcg }', `${SOURCE}:1: kernel: kernel 5.4 has no memcg accounting of BPF (added in 5.11); its regime is memlock`],
    ['a CPU the kernel has not', `kernel: { version: "6.18", cpus: 2 }\n${withMap('  - update: { map: m, cpu: 2 }')}`, `${SOURCE}:6: steps[1].update.cpu: cpu 2 is not a possible CPU: kernel.cpus is 2 (CPUs 0 to 1)`],
    // Names.
    ['a task named like a context', 'tasks: { softirq: {} }', `${SOURCE}:1: tasks.softirq: "softirq" cannot name a task: it is an update context`],
    [
      'a map name the kernel would refuse',
      'tasks: { t: {} }\nsteps:\n  - create_map: { task: t, name: conntrack_table_v4, type: hash }',
      `${SOURCE}:3: steps[0].create_map.name: expected a BPF object name (1–15 characters A–Z a–z 0–9 _ .), got "conntrack_table_v4"`,
    ],
    // Steps.
    ['two operations in one step', withMap('  - update: { map: m }\n    delete: { map: m }'), `${SOURCE}:5: steps[1]: a step has one operation; got 2 keys: "update", "delete"`],
    ['an unknown operation', withMap('  - upate: { map: m }'), `${SOURCE}:5: steps[1].upate: unknown operation (did you mean update?); expected one of create_map, update, delete, close, load_prog, move_task, create_cgroup, remove_cgroup, set_limit, alloc, free, mlock`],
    ['an operation with no arguments', withMap('  - close:'), `${SOURCE}:5: steps[1].close: expected a mapping with keys map, prog; got null`],
    ['a step that is a word', withMap('  - close'), `${SOURCE}:5: steps[1]: expected a step such as { create_map: { ... } }; got "close"`],
    // Not a scenario at all.
    ['a scenario that is not YAML', 'tasks: {{{ ::: ]]', `${SOURCE}:1: not valid YAML: Flow map in block collection must be sufficiently indented and end with a }`],
    ['not YAML at all', '{{{ ::: ]]', `${SOURCE}:1: not a scenario: not valid YAML, and none of its top-level keys is one of description, kernel, cgroups, tasks, steps`],
    ['tabs for indentation', 'tasks:\n\tt: {}', `${SOURCE}:2: not valid YAML: Tabs are not allowed as indentation`],
    ['two documents', 'kernel: "6.18"\n---\nkernel: "6.1"', `${SOURCE}:2: not valid YAML: more than one document (---) in the file`],
    ['an unknown tag', 'kernel: !version "6.18"', `${SOURCE}:1: unsupported YAML: Unresolved tag: !version`],
    ['a list at the top', '- kernel: "6.18"', `${SOURCE}:1: expected a mapping with keys description, kernel, cgroups, tasks, steps; got a list`],
    // Text that is no scenario is not repeated (`simulate /etc/shadow`, issue 14).
    ['a word at the top', 'hello', `${SOURCE}:1: expected a mapping with keys description, kernel, cgroups, tasks, steps; got a string`],
    ['a number at the top', '4711', `${SOURCE}:1: expected a mapping with keys description, kernel, cgroups, tasks, steps; got a number`],
    ['a boolean at the top', 'true', `${SOURCE}:1: expected a mapping with keys description, kernel, cgroups, tasks, steps; got a boolean`],
    ['a line of /etc/shadow', 'root:$y$j9T$abc:19000:0:99999:7:::\n', `${SOURCE}:1: not a scenario: none of its top-level keys is one of description, kernel, cgroups, tasks, steps`],
    ['a secret in YAML', 'password: hunter2\n', `${SOURCE}:1: not a scenario: none of its top-level keys is one of description, kernel, cgroups, tasks, steps`],
    ['/proc/self/status', 'Name:\tnode\nUmask:\t0022\nState:\tR (running)\nTgid:\t1\n', `${SOURCE}:1: not a scenario: none of its top-level keys is one of description, kernel, cgroups, tasks, steps`],
    ['only a typo of a scenario key: still named', 'stpes: []\n', `${SOURCE}:1: stpes: unknown key (did you mean steps?); expected one of description, kernel, cgroups, tasks, steps`],
    ['an empty file', '# nothing but a comment\n', `${SOURCE}: the file has no scenario in it; expected a mapping with keys description, kernel, cgroups, tasks, steps`],
    ['a key that is a list', 'tasks: { [a]: 1 }', `${SOURCE}:1: tasks: a mapping key is not text (a list or a mapping as a key)`],
    ['a key that is empty', 'tasks:\n  : {}', `${SOURCE}:2: tasks: a mapping key is empty`],
    ['a top-level key that is a list: no scenario', '[a]: 1', `${SOURCE}:1: not a scenario: none of its top-level keys is one of description, kernel, cgroups, tasks, steps`],
    ['nesting too deep', `kernel: ${'['.repeat(70)}`, `${SOURCE}:1: nested deeper than 64 levels`],
  ])('%s', (_, text, line) => {
    expect(bad(text)).toBe(line);
  });

  it('refuses too many steps', () => {
    const text = `steps:\n${'  - close: { map: m }\n'.repeat(SCENARIO_LIMITS.steps + 1)}`;
    expect(bad(text)).toBe(`${SOURCE}:1: steps: 10001 steps; a scenario has at most 10000`);
  });

  it('refuses more cgroups than 10000, the parents that paths imply included', () => {
    const listed = (n: number, depth: number) => `cgroups:\n${Array.from({ length: n }, (_, i) => `  /${i}${'/a'.repeat(depth - 1)}:\n`).join('')}`;
    expect(bad(listed(10_001, 1))).toBe(`${SOURCE}:1: cgroups: 10001 cgroups; a scenario has at most 10000, implied parents included`);
    // 400 paths 26 levels deep: 10,400 cgroups (the audit's 10,000 paths 32 deep made 320,000).
    expect(bad(listed(400, 26))).toBe(`${SOURCE}:1: cgroups: 400 cgroups and the parents they imply are more than 10000; a scenario has at most 10000, implied parents included`);
    expect(good(listed(400, 25)).cgroups).toHaveLength(10_000);
  });

  it('refuses sizes over 2^50 and alloc and mlock steps that take more than 2^50 bytes together, so that totals stay exact', () => {
    expect(bad('tasks: { t: { memlock: 9007199254740991 } }')).toBe(`${SOURCE}:1: tasks.t.memlock: expected a size up to 2^50 (1 PiB) or max, got 9007199254740991`);
    const steps = (...lines: string[]) => `tasks: { t: { cap_ipc_lock: true } }\nsteps:\n${lines.map((l) => `  - ${l}\n`).join('')}`;
    expect(good(steps('alloc: { task: t, bytes: 1000Ti }', 'free: { task: t, bytes: 1000Ti }', 'mlock: { task: t, bytes: 24Ti }')).steps).toHaveLength(3);
    expect(bad(steps('alloc: { task: t, bytes: 1000Ti }', 'free: { task: t, bytes: 1000Ti }', 'mlock: { task: t, bytes: 24Ti }', 'alloc: { task: t, bytes: 1 }'))).toBe(
      `${SOURCE}:6: steps[3].alloc.bytes: the alloc and mlock steps before take 1.0 PiB, and with this one more than 2^50 bytes (1 PiB), the most they may take together (free does not count)`,
    );
  });

  it('refuses a file over 1 MiB, before reading it', () => {
    const text = `description: "${'x'.repeat(SCENARIO_LIMITS.fileBytes)}"`;
    expect(bad(text)).toBe(`${SOURCE}: the file has ${text.length} bytes; scenario files are limited to 1.0 MiB (1048576 bytes)`);
  });

  it('refuses deep nesting at the first level too many, before reading on: 1 MiB of [ or of - takes milliseconds', () => {
    for (const open of ['[', '- ', '{a: ']) {
      const text = open.repeat(Math.floor((SCENARIO_LIMITS.fileBytes - 10) / open.length));
      const start = performance.now();
      expect(bad(text)).toBe(`${SOURCE}:1: nested deeper than 64 levels`);
      // It took 8 s and 950 MB for [ when the whole token tree was built first.
      expect(performance.now() - start).toBeLessThan(1000);
    }
  });

  it('refuses a %YAML directive of another version than 1.2: YAML 1.1 would read 010 as 8 and on as true', () => {
    expect(bad('# a comment\n%YAML 1.1\n---\nkernel: "6.18"\ntasks: { t: { uid: 010 } }')).toBe(
      `${SOURCE}:2: unsupported YAML: %YAML 1.1; a scenario is read as YAML 1.2 (the core schema): remove the directive`,
    );
    expect(bad('%YAML 1.3\n---\nkernel: "6.18"')).toBe(`${SOURCE}:1: unsupported YAML: Unsupported YAML version 1.3`);
    expect(good('%YAML 1.2\n---\nkernel: "6.18"\ntasks: { t: { uid: 010 } }').tasks[0]?.uid).toBe(10);
  });

  it('counts the file in UTF-8 bytes', () => {
    const text = `description: "${'é'.repeat(SCENARIO_LIMITS.fileBytes / 2)}"`;
    expect(bad(text)).toMatch(/the file has 10485\d\d bytes/);
    // Over 1 MiB in UTF-16 units too: still its UTF-8 bytes, not its UTF-16 length.
    expect(bad('é'.repeat(SCENARIO_LIMITS.fileBytes + 1))).toBe(`${SOURCE}: the file has ${2 * (SCENARIO_LIMITS.fileBytes + 1)} bytes; scenario files are limited to 1.0 MiB (1048576 bytes)`);
    // A lone high surrogate is the 3 bytes of U+FFFD, and does not take the unit after it.
    expect(bad('\ud800'.repeat(400_000))).toBe(`${SOURCE}: the file has 1200000 bytes; scenario files are limited to 1.0 MiB (1048576 bytes)`);
  });

  it('counts UTF-8 bytes as TextEncoder writes them, lone surrogates as U+FFFD', () => {
    const encoder = new TextEncoder();
    for (const text of ['', 'a', 'é', '€', '😀', '\ud800', '\udc00', '\ud800a', '\ud800é', '\ud800\ud800', '\udc00\ud800', 'x\ud83d\ude00y\ud83d']) {
      expect(utf8Length(text), JSON.stringify(text)).toBe(encoder.encode(text).length);
    }
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 50 }), (text) => utf8Length(text) === encoder.encode(text).length));
  });

  it('points into an alias at the alias, where the value is used', () => {
    const file = `tasks: { t: {} }
steps:
  - create_map: { task: t, name: m, type: hash }
  - update: &args { map: m, context: irq }
  - delete: *args`;
    expect(bad(file)).toBe(`${SOURCE}:5: steps[2].delete.context: unknown key; expected one of map, count, cpu`);
  });

  it('escapes control characters so the error stays on one line', () => {
    const line = bad('tasks:\n  "a\\nb": {}');
    expect(line).toBe(`${SOURCE}:2: tasks["a\\nb"]: expected a task name of 1–64 characters A–Z a–z 0–9 _ . -, got "a\\nb"`);
    expect(line.split('\n')).toHaveLength(1);
    const sep = bad('tasks:\n  "a\u2028b": {}');
    expect(sep).not.toMatch(/[\n\r\u2028\u2029]/);
  });
});

describe('parseScenario: cgroup v2 allows tasks only in cgroups without children ("no internal processes")', () => {
  const WHY = 'cgroup v2 allows tasks only in cgroups without children ("no internal processes"; the kernel refuses with EBUSY)';
  it.each([
    ['a task started in a cgroup with a child', 'cgroups: { /a/b: {} }\ntasks: { t: { cgroup: /a } }', `${SOURCE}:3: tasks.t.cgroup: task "t" cannot start in /a, which has the child cgroup /a/b: ${WHY}`],
    [
      'a task moved into a cgroup with a child',
      'cgroups: { /a/b: {} }\ntasks: { t: { cgroup: /a/b } }\nsteps:\n  - move_task: { task: t, cgroup: /a }',
      `${SOURCE}:5: steps[0].move_task.cgroup: cannot move task "t" into /a, which has the child cgroup /a/b: ${WHY}`,
    ],
    [
      'a cgroup created under one with a task',
      'cgroups: { /a: {} }\ntasks: { t: { cgroup: /a } }\nsteps:\n  - create_cgroup: { cgroup: /a/b }',
      `${SOURCE}:5: steps[0].create_cgroup.cgroup: cannot create /a/b: its parent /a has task "t", and ${WHY}`,
    ],
  ])('refuses %s on v2, as the model does (EBUSY), and not on v1', async (_, body, line) => {
    expect(bad(`kernel: { version: "6.18", cgroup: 2 }\n${body}`)).toBe(line);
    const v1 = good(`kernel: { version: "6.18", cgroup: 1 }\n${body}`);
    const v2 = makeProfile({ version: '6.18', cgroup: 2 });
    if (!v2.ok) throw new Error(v2.error);
    const run = await runScenario(v1, new ModelBackend(v2.value));
    expect(run.steps.filter((step) => !step.ok).map((step) => step.errno)).toEqual(['EBUSY']);
  });

  it('allows a task in the root, and in a cgroup once its children are gone; says where v2 comes from when the machine decides it', () => {
    const s = good(`kernel: { version: "6.18", cgroup: 2 }
cgroups: { /a/b: {} }
tasks: { t: {}, u: { cgroup: /a/b } }
steps:
  - move_task: { task: u, cgroup: / }
  - remove_cgroup: { cgroup: /a/b }
  - move_task: { task: t, cgroup: /a }
  - move_task: { task: t, cgroup: / }
  - create_cgroup: { cgroup: /a/c }
`);
    expect(s.steps).toHaveLength(5);
    const host = () => ({ release: '6.12.0', possibleCpus: 8, cgroupVersion: 2 as const });
    const r = parseScenario('cgroups: { /a/b: {} }\ntasks: { t: { cgroup: /a } }', SOURCE, { host });
    expect(r.ok ? '' : r.error.message).toMatch(/; the scenario runs on this machine's kernel, whose memory controller is on cgroup v2$/);
  });
});

describe('parseScenario: what a file says is never repeated unless it is a scenario, and then cut at 40 characters', () => {
  const NOT_A_SCENARIO = 'not a scenario: none of its top-level keys is one of description, kernel, cgroups, tasks, steps';
  const NOT_VALID = 'not a scenario: not valid YAML, and none of its top-level keys is one of description, kernel, cgroups, tasks, steps';
  const UNSUPPORTED = 'not a scenario: unsupported YAML, and none of its top-level keys is one of description, kernel, cgroups, tasks, steps';
  it.each([
    ['an alias with no anchor', 'password: *hunter2\n', `${SOURCE}:1: ${NOT_A_SCENARIO}`],
    ['an alias in a cycle', 'password: &hunter2\n  - *hunter2\n', `${SOURCE}:1: ${NOT_A_SCENARIO}`],
    ['an unknown tag', 'password: !hunter2 x\n', `${SOURCE}:1: ${UNSUPPORTED}`],
    ['a duplicate key', '{"AKIAIOSFODNN7EXAMPLE": 1, "AKIAIOSFODNN7EXAMPLE": 2}', `${SOURCE}:1: ${NOT_A_SCENARIO}`],
    ['a bad block scalar header', 'password: |SECRETHUNTER2\n  x\n', `${SOURCE}:1: ${NOT_VALID}`],
    ['an unknown directive', '%SECRETHUNTER2\n---\npassword: x\n', `${SOURCE}:1: ${UNSUPPORTED}`],
    ['a text that is no YAML token', 'password: |SECRET HUNTER2\n', `${SOURCE}:1: ${NOT_VALID}`],
    ['a second document', 'password: x\n---\nSECRETHUNTER2: y\n', `${SOURCE}:2: not a scenario: not valid YAML, and none of its top-level keys is one of description, kernel, cgroups, tasks, steps`],
  ])('a file that is no scenario with %s: only that it is none', (_, text, line) => {
    expect(bad(text)).toBe(line);
    expect(bad(text)).not.toMatch(/hunter2|SECRET|AKIA/i);
  });

  it.each([
    ['an alias name', `kernel: *${'a'.repeat(200_000)}`, `${SOURCE}:1: kernel: alias *${'a'.repeat(40)}… has no anchor &${'a'.repeat(40)}… before it`],
    ['an alias name in a cycle', `steps: &${'s'.repeat(50)}\n  - *${'s'.repeat(50)}`, `${SOURCE}:2: steps[0]: alias *${'s'.repeat(40)}… is inside its own anchor (a cycle)`],
    ['a tag', `kernel: !${'t'.repeat(100)} x`, `${SOURCE}:1: unsupported YAML: Unresolved tag: !${'t'.repeat(39)}…`],
    ['a block scalar header', `description: |${'X'.repeat(100)}\n  x\n`, `${SOURCE}:1: not valid YAML: Block scalar header includes extra characters: |${'X'.repeat(39)}…`],
    ['a directive', `%${'D'.repeat(100)}\n---\nkernel: "6.18"\n`, `${SOURCE}:1: unsupported YAML: Unknown directive %${'D'.repeat(39)}…`],
    ['a duplicate key', `tasks: { ${'k'.repeat(100)}: {}, ${'k'.repeat(100)}: {} }`, `${SOURCE}:1: tasks["${'k'.repeat(40)}…"]: duplicate key (first on line 1)`],
  ])('a scenario\'s own error quotes %s cut at 40 characters', (_, text, line) => {
    expect(bad(text)).toBe(line);
  });

  it('keeps the first line of a message of the yaml package, cut, whatever it says', () => {
    expect(yamlMessage(`Some new message: ${'x'.repeat(1000)}\nand a second line`)).toBe(`Some new message: ${'x'.repeat(102)}…`);
    expect(yamlMessage(`The !${'x'.repeat(100)}! tag has no suffix`)).toBe(`The !${'x'.repeat(39)}… tag has no suffix`);
    expect(yamlMessage('Tabs are not allowed as indentation')).toBe('Tabs are not allowed as indentation');
  });
});

describe('the errors docs/scenarios.md shows', () => {
  /** Each example line of its "Errors" block, and a file that gives it. */
  const EXAMPLES: Record<string, string> = {
    'scenarios/x.yaml:14: steps[3].create_map.max_entries: expected a size (bytes or 64Ki/8Mi), got -5':
      'tasks: { t: {} }\nsteps:\n  - load_prog: { task: t, name: a, insns: 1 }\n  - load_prog: { task: t, name: b, insns: 1 }\n  - load_prog: { task: t, name: c, insns: 1 }\n  - create_map:\n      task: t\n      name: m\n      type: hash\n      key: 4\n      value: 8\n      flags: 0\n      map_extra: 0\n      max_entries: -5',
    'scenarios/x.yaml:1: kernal: unknown key (did you mean kernel?); expected one of description, kernel, cgroups, tasks, steps': 'kernal: "6.18"',
    'scenarios/x.yaml:5: steps[1].update.cnt: unknown key; expected one of map, count, context, cpu': withMap('  - update: { map: m, cnt: 3 }'),
    'scenarios/x.yaml:3: steps[0].create_map.type: unknown map type "hsh" (did you mean hash?)': 'tasks: { t: {} }\nsteps:\n  - create_map: { task: t, name: m, type: hsh }',
    'scenarios/x.yaml:3: steps[0].load_prog.insns: required key is missing': 'tasks: { t: {} }\nsteps:\n  - load_prog: { task: t, name: p }',
    'scenarios/x.yaml:1: tasks.t.cap_ipc_lock: expected true or false, got "yes"': 'tasks: { t: { cap_ipc_lock: "yes" } }',
    'scenarios/x.yaml:3: steps[0].create_map.task: no task "agnet" in tasks (did you mean agent?)': 'tasks: { agent: {} }\nsteps:\n  - create_map: { task: agnet, name: m, type: hash }',
    'scenarios/x.yaml:6: steps[2].delete.map: map "m" was closed by steps[1]': withMap('  - close: { map: m }\n  - delete: { map: m }'),
    'scenarios/x.yaml:5: steps[1].create_map.name: duplicate map name "m" (steps[0] created it)': withMap('  - create_map: { task: t, name: m, type: array }'),
    'scenarios/x.yaml:3: tasks.t: duplicate key (first on line 2)': 'tasks:\n  t: {}\n  t: { uid: 1 }',
    'scenarios/x.yaml:1: cgroups["/pods/../x"]: cgroup path "/pods/../x" contains ..': 'cgroups: { /pods/../x: {} }',
    'scenarios/x.yaml:5: steps[1].move_task.cgroup: no cgroup /a exists at this step': 'cgroups: { /a: {} }\ntasks: { t: {} }\nsteps:\n  - remove_cgroup: { cgroup: /a }\n  - move_task: { task: t, cgroup: /a }',
    'scenarios/x.yaml:4: steps[0].remove_cgroup.cgroup: cgroup /a still has task "t" (move it out first; rmdir fails with EBUSY)': 'cgroups: { /a: {} }\ntasks: { t: { cgroup: /a } }\nsteps:\n  - remove_cgroup: { cgroup: /a }',
    'scenarios/x.yaml:1: kernel: kernel 5.4 has no memcg accounting of BPF (added in 5.11); its regime is memlock': 'kernel: { version: "5.4", regime: memcg }',
    'scenarios/x.yaml:2: steps[0]: alias *s is inside its own anchor (a cycle)': 'steps: &s\n  - *s',
    'scenarios/x.yaml:1: steps: 10001 steps; a scenario has at most 10000': `steps:\n${'  - close: { map: m }\n'.repeat(10_001)}`,
    'scenarios/x.yaml:1: not valid YAML: Flow map in block collection must be sufficiently indented and end with a }': 'tasks: {{{ ::: ]]',
    'scenarios/x.yaml:1: nested deeper than 64 levels': `kernel: ${'['.repeat(70)}`,
    'scenarios/x.yaml: the file has 1048600 bytes; scenario files are limited to 1.0 MiB (1048576 bytes)': `description: "${'x'.repeat(1_048_600 - 16)}"\n`,
  };

  it('are what the parser says of some file, every one of them', () => {
    const doc = readFileSync(new URL('../../docs/scenarios.md', import.meta.url), 'utf8');
    const block = /## Errors[\s\S]*?```\n([\s\S]*?)```/.exec(doc)?.[1] ?? '';
    const lines = block.split('\n').filter((line) => line !== '');
    expect(lines).toEqual(Object.keys(EXAMPLES));
    for (const [line, text] of Object.entries(EXAMPLES)) expect(bad(text)).toBe(line);
  });
});

describe('formatPath and formatScenarioError', () => {
  it.each([
    [['steps', 3, 'create_map', 'max_entries'], 'steps[3].create_map.max_entries'],
    [['cgroups', '/pods/agent', 'max'], 'cgroups["/pods/agent"].max'],
    [['tasks', 'my-agent'], 'tasks["my-agent"]'],
    [[], ''],
  ])('%j → %s', (path, text) => {
    expect(formatPath(path)).toBe(text);
  });

  it('leaves out the line and the path when there is none', () => {
    expect(formatScenarioError({ source: 'a.yaml', path: '', message: 'm' })).toBe('a.yaml: m');
    expect(formatScenarioError({ source: 'a.yaml', line: 3, path: 'steps', message: 'm' })).toBe('a.yaml:3: steps: m');
  });
});
