import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseScenario } from '../scenario/parse.js';
import { withKernel } from '../scenario/overrides.js';
import type { RunResult } from '../scenario/run.js';
import type { Scenario } from '../scenario/types.js';
import { simulate } from '../simulate/result-json.js';
import type { KnownSnapshot } from '../vocab/backend.js';
import { formatBytes } from '../vocab/units.js';
import { CHAPTERS, type Chapter } from './chapters.js';

/** A scenario of scenarios/ as the demo reads it, its text changed by `edit`. */
function scenario(file: string, edit: (text: string) => string = (t) => t): Scenario {
  const parsed = parseScenario(edit(readFileSync(new URL(`../../scenarios/${file}`, import.meta.url), 'utf8')), file);
  if (!parsed.ok) throw new Error(parsed.error.message);
  return parsed.scenario;
}

function chapterOf(file: string): Chapter {
  const chapter = CHAPTERS.find((c) => c.file === file);
  if (chapter === undefined) throw new Error(`no chapter of ${file}`);
  return chapter;
}

/** A chapter's runs of `s`, as the demo runs them. */
function runsOf(file: string, s: Scenario): Promise<RunResult<KnownSnapshot>[]> {
  return Promise.all(chapterOf(file).runs.map((r) => simulate(withKernel(s, r.kernel))));
}

/** A chapter's lesson, told of `s` as the demo tells it, with the runs it was told of. */
async function told(file: string, s: Scenario = scenario(file)): Promise<{ lesson: string; runs: RunResult<KnownSnapshot>[] }> {
  const runs = await runsOf(file, s);
  return { lesson: chapterOf(file).lesson(runs, s), runs };
}

/** What the test reads of a run, looked up here, not through the chapter's helpers. */
function at<T>(value: T | undefined): T {
  expect(value).toBeDefined();
  return value as T;
}
const runAt = (runs: readonly RunResult<KnownSnapshot>[], i: number) => at(runs[i]);
const mapIn = (r: RunResult<KnownSnapshot>, name: string) => at(r.final.maps.find((m) => m.name === name));
const cgIn = (r: RunResult<KnownSnapshot>, path: string) => at(r.final.cgroups.find((c) => c.path === path));
const b = formatBytes;

describe("every lesson of the demo says the numbers of its runs, none written in", () => {
  it('covers every chapter', () => {
    expect(CHAPTERS.map((c) => c.file)).toEqual(['shared-budget.yaml', 'hand-estimate.yaml', 'softirq.yaml', 'percpu.yaml', 'limit.yaml', 'reparent.yaml']);
  });

  it("one budget per user: the exporter's refusal on 5.10, its uid, each cgroup's BPF bytes on 6.18", async () => {
    const { lesson, runs } = await told('shared-budget.yaml');
    const [old, now] = [runAt(runs, 0), runAt(runs, 1)];
    expect(old.profile.regime).toBe('memlock');
    expect(at(old.steps.find((s) => s.index === 2))).toMatchObject({ ok: false, errno: 'EPERM', summary: 'create stats (lru_hash, 40000) as exporter' });
    const agent = cgIn(now, '/system/agent').bpf;
    const exporter = cgIn(now, '/system/exporter').bpf;
    expect(lesson).toBe(
      "On 5.10 the exporter's map is refused with EPERM: uid 1000's locked_vm is shared by both services and the agent's maps hold most of it, though the exporter holds nothing. " +
        `On 6.18 each map is charged to its creator's cgroup (/system/agent: ${b(agent)}, /system/exporter: ${b(exporter)}) and nobody's limit is shared.`,
    );
    expect([b(agent), b(exporter)]).toEqual(['9.0 MiB', '10.5 MiB']);
    // Another uid: the lesson says it.
    expect((await told('shared-budget.yaml', scenario('shared-budget.yaml', (t) => t.replaceAll('uid: 1000', 'uid: 4242')))).lesson).toMatch(/uid 4242's locked_vm/);
  });

  it('hand estimate: the elements, the 5.10 precharge, the 6.18 fdinfo memlock and charge of the map', async () => {
    const { lesson, runs } = await told('hand-estimate.yaml');
    const [old, now] = [mapIn(runAt(runs, 0), 'sessions'), mapIn(runAt(runs, 1), 'sessions')];
    expect(now.elements).toBe(20000);
    expect(lesson).toBe(
      `For 20,000 sessions, 5.10 precharged ${b(old.memlock)} up front (room for every possible element). ` +
        `6.18's fdinfo memlock says ${b(now.memlock)}, but the cgroup is charged ${b(now.charged)}: ` +
        'each element takes a whole slab object of the next size class, plus per-CPU caches of spare objects.',
    );
    expect([b(old.memlock), b(now.memlock), b(now.charged)]).toEqual(['102.7 MiB', '22.3 MiB', '41.3 MiB']);
  });

  it('softirq: the inserts counted from the steps the model applied, the BPF bytes and heap of each cgroup', async () => {
    const { lesson, runs } = await told('softirq.yaml');
    const r = runAt(runs, 0);
    const web = cgIn(r, '/system/web');
    expect(lesson).toBe(
      `45,000 inserts, 40,000 of them from softirq while "web" ran: /system/agent holds ${b(cgIn(r, '/system/agent').bpf)} of BPF memory, ` +
        `/system/web ${b(web.bpf)}: the struct file of its own fd on the map, nothing of the elements (its ${b(web.stat.anon)} are its heap).`,
    );
    expect(b(web.stat.anon)).toBe('300.0 MiB');
    const fewer = scenario('softirq.yaml', (t) => t.replace('count: 20000, context: softirq, cpu: 1', 'count: 1234, context: softirq, cpu: 1'));
    expect((await told('softirq.yaml', fewer)).lesson).toMatch(/^26,234 inserts, 21,234 of them from softirq/);
  });

  it("per-CPU: each run's memlock and CPUs, what 6.18 charges and leaves uncharged, the 5.15 refusal under the creator's limit", async () => {
    const { lesson, runs } = await told('percpu.yaml');
    const [two, many] = [mapIn(runAt(runs, 0), 'hits'), mapIn(runAt(runs, 1), 'hits')];
    expect([runAt(runs, 0).profile.possibleCpus, runAt(runs, 1).profile.possibleCpus, runAt(runs, 2).profile.possibleCpus]).toEqual([2, 192, 192]);
    expect(at(runAt(runs, 2).steps.find((s) => s.index === 0))).toMatchObject({ ok: false, errno: 'ENOMEM' });
    expect(lesson).toBe(
      `memlock is ${b(two.memlock)} on 2 CPUs and ${b(many.memlock)} on 192. ` +
        `On 6.18 the cgroup is charged only ${b(many.charged)}; the other ${b(many.uncharged)} of per-CPU values escape memory.max. ` +
        'On 5.15 the creator paid for them: ENOMEM under the 256.0 MiB limit.',
    );
    const smaller = scenario('percpu.yaml', (t) => t.replace('max: 256Mi', 'max: 128Mi'));
    expect((await told('percpu.yaml', smaller)).lesson).toMatch(/ENOMEM under the 128\.0 MiB limit\.$/);
    // Room for it on 5.15: the lesson says it fit, not a refusal.
    const roomy = scenario('percpu.yaml', (t) => t.replace('max: 256Mi', 'max: 4Gi'));
    expect((await told('percpu.yaml', roomy)).lesson).toMatch(/On 5\.15 the creator paid for them: it fit\.$/);
  });

  it("limit: the refused step's errno and reason, word for word", async () => {
    const { lesson, runs } = await told('limit.yaml');
    const failed = at(runAt(runs, 0).steps.find((s) => !s.ok));
    expect(lesson).toBe(`${failed.errno ?? ''}: ${failed.reason ?? ''}`);
    expect(lesson).toBe('ENOMEM: /kubepods/pod-agent/agent is at 203.4 MiB of 256.0 MiB; creating map "ct" needs 88.0 MiB');
    const roomy = scenario('limit.yaml', (t) => t.replace('max: 256Mi', 'max: 1Gi'));
    expect((await told('limit.yaml', roomy)).lesson).toBe('every map fit');
  });

  it("reparent: what removing the cgroup did on each kernel, the model's own words", async () => {
    const { lesson, runs } = await told('reparent.yaml');
    const detail = (i: number): string | undefined => runAt(runs, i).steps.find((s) => s.op === 'remove_cgroup')?.detail;
    expect(lesson).toBe(`6.18: ${at(detail(0))}. 5.15: ${at(detail(1))}.`);
    expect(lesson).toBe('6.18: charges of maps routes now go to /pods (objcg reparented). 5.15: /pods/agent stays as a dying memory cgroup: maps routes hold it (map->memcg); its charges now count in /pods.');
    // Found by what it is, not by its position: a step before it moves it.
    const later = scenario('reparent.yaml', (t) => t.replace('steps:\n', 'steps:\n  - alloc: { task: agent, bytes: 4Ki }\n'));
    expect((await told('reparent.yaml', later)).lesson).toBe(lesson);
  });
});

describe('a lesson that cannot say one of its numbers throws, never prints ?, 0 B or "no detail"', () => {
  it.each<[string, string, (t: string) => string, RegExp]>([
    ['the map is not there', 'hand-estimate.yaml', (t) => t.replaceAll('sessions', 'flows'), /^demo: the lesson needs map sessions in the 5\.10 run$/],
    ["the exporter's map fits", 'shared-budget.yaml', (t) => t.replace('exporter: { cgroup: /system/exporter, uid: 1000, memlock: 16Mi }', 'exporter: { cgroup: /system/exporter, uid: 1000, memlock: unlimited }'), /^demo: the lesson needs steps\[2\] \(create stats \(lru_hash, 40000\) as exporter\) refused$/],
    ['no cgroup is removed', 'reparent.yaml', (t) => t.replace('  - remove_cgroup: { cgroup: /pods/agent }\n', ''), /^demo: the lesson needs a step removing a cgroup in reparent\.yaml$/],
    ['a cgroup is not there', 'softirq.yaml', (t) => t.replaceAll('/system/web', '/system/www'), /^demo: the lesson needs cgroup \/system\/web in the 6\.18 run$/],
    ['the creator has no cgroup of the file', 'percpu.yaml', (t) => t.replace('profiler: { cgroup: /system/profiler, uid: 0 }', 'profiler: { cgroup: /, uid: 0 }'), /^demo: the lesson needs cgroup \/ in percpu\.yaml$/],
  ])('%s', async (_what, file, edit, message) => {
    const s = scenario(file, edit);
    const runs = await runsOf(file, s);
    expect(() => chapterOf(file).lesson(runs, s)).toThrow(message);
  });

  it('a run missing', async () => {
    const s = scenario('percpu.yaml');
    const runs = await runsOf('percpu.yaml', s);
    expect(() => chapterOf('percpu.yaml').lesson(runs.slice(0, 2), s)).toThrow(/^demo: the lesson needs its 5\.15\/192 run$/);
  });
});
