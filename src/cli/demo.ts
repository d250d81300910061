import { Command } from 'commander';
import { fileURLToPath } from 'node:url';
import { CHAPTERS } from '../demo/chapters.js';
import { withKernel } from '../scenario/overrides.js';
import type { RunResult } from '../scenario/run.js';
import type { KnownSnapshot } from '../vocab/backend.js';
import { styleFor, type Style } from './io.js';
import { jsonOption, type CommandContext } from './context.js';
import { json, wrap } from './render/common.js';
import { joinSteps, runJson, stepCell, type StepRow } from './render/simulate.js';
import { loadScenario, simulate } from './simulate.js';
import { table } from './table.js';

/** The package's `scenarios/` (beside `src/` and `dist/`). */
export const SCENARIOS_DIR = fileURLToPath(new URL('../../scenarios/', import.meta.url));

/**
 * One chapter for people: its title, its scenario, a row per step with its outcome in each run
 * (joined on the step's index, src/cli/render/simulate.ts joinSteps), and its lesson.
 */
export function chapterText(n: number, title: string, file: string, description: string, labels: readonly string[], runs: readonly RunResult[], lesson: string, st: Style): string {
  const rows = joinSteps(runs);
  const out = [`${st.bold(`${n}. ${title}`)}\n`, st.dim(`${wrap(`scenarios/${file}: ${description}`, 80, '   ')}\n\n`)];
  const t = table(rows, [
    { header: 'STEP', value: (r) => (r.step.index < 0 ? `setup: ${r.step.summary}` : r.step.summary) },
    ...labels.map((label, i) => ({
      header: label.toUpperCase(),
      value: (r: StepRow) => stepCell(r.runs[i]),
      format: (c: string, r: StepRow) => (r.runs[i]?.ok ? st.ok(c) : st.bad(c)),
    })),
  ]);
  out.push(t.trimEnd().replace(/^/gm, '   ') + '\n');
  out.push(`\n${wrap(`→ ${lesson}`, 80, '   ')}\n\n`);
  return out.join('');
}

export function demoCommand(ctx: CommandContext): Command {
  return new Command('demo')
    .description('the seed problems of BPF memory accounting, told by the model on its example scenarios')
    .addOption(jsonOption())
    .action(async (opts: { json?: boolean }) => {
      const st = styleFor(ctx.io);
      const chapters: Record<string, unknown>[] = [];
      let text = `${st.bold('bpfmem demo')}: BPF workloads under the two ways Linux accounts BPF memory:\nRLIMIT_MEMLOCK precharged per user (before 5.11), and memory cgroups (5.11+).\nEverything below runs on the model; nothing touches this machine.\n\n`;
      let n = 0;
      for (const chapter of CHAPTERS) {
        n++;
        const scenario = await loadScenario(ctx, `${SCENARIOS_DIR}${chapter.file}`);
        const runs: RunResult<KnownSnapshot>[] = [];
        for (const run of chapter.runs) runs.push(await simulate(withKernel(scenario, run.kernel)));
        const lesson = chapter.lesson(runs, scenario);
        chapters.push({
          title: chapter.title,
          scenario: `scenarios/${chapter.file}`,
          lesson,
          runs: Object.fromEntries(chapter.runs.map((r, i) => [r.label, runs[i] ? runJson(runs[i]) : null])),
        });
        text += chapterText(n, chapter.title, chapter.file, scenario.description ?? '', chapter.runs.map((r) => r.label), runs, lesson, st);
      }
      text += st.dim('Run one yourself: bpfmem simulate scenarios/FILE [--regime both] [--json]\n');
      ctx.io.stdout(opts.json ? json({ chapters }) : text);
    });
}
