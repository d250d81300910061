import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseScenario } from '../scenario/parse.js';
import { withKernel } from '../scenario/overrides.js';
import type { Scenario } from '../scenario/types.js';
import { simulate } from '../simulate/result-json.js';
import { CHAPTERS } from './chapters.js';

/** A scenario of scenarios/ as the demo reads it, its text changed by `edit`. */
function scenario(file: string, edit: (text: string) => string = (t) => t): Scenario {
  const parsed = parseScenario(edit(readFileSync(new URL(`../../scenarios/${file}`, import.meta.url), 'utf8')), file);
  if (!parsed.ok) throw new Error(parsed.error.message);
  return parsed.scenario;
}

/** A chapter's lesson, told of `s` as the demo tells it. */
async function lesson(file: string, s: Scenario): Promise<string> {
  const chapter = CHAPTERS.find((c) => c.file === file);
  if (chapter === undefined) throw new Error(`no chapter of ${file}`);
  const runs = await Promise.all(chapter.runs.map((r) => simulate(withKernel(s, r.kernel))));
  return chapter.lesson(runs, s);
}

describe("the demo's lessons take their numbers from the runs and the scenario, none written in", () => {
  it('softirq: the inserts counted from the steps the model applied', async () => {
    expect(await lesson('softirq.yaml', scenario('softirq.yaml'))).toMatch(/^45,000 inserts, 40,000 of them from softirq/);
    const fewer = scenario('softirq.yaml', (t) => t.replace('count: 20000, context: softirq, cpu: 1', 'count: 1234, context: softirq, cpu: 1'));
    expect(await lesson('softirq.yaml', fewer)).toMatch(/^26,234 inserts, 21,234 of them from softirq/);
  });

  it("per-CPU: the CPU counts of the runs and the cgroup's limit", async () => {
    expect(await lesson('percpu.yaml', scenario('percpu.yaml'))).toMatch(/on 2 CPUs and .* on 192\. .*ENOMEM under the 256\.0 MiB limit\.$/);
    const smaller = scenario('percpu.yaml', (t) => t.replace('max: 256Mi', 'max: 128Mi'));
    expect(await lesson('percpu.yaml', smaller)).toMatch(/ENOMEM under the 128\.0 MiB limit\.$/);
  });

  it("one budget per user: the exporter's uid", async () => {
    expect(await lesson('shared-budget.yaml', scenario('shared-budget.yaml'))).toMatch(/refused with EPERM: uid 1000's locked_vm/);
  });
});
