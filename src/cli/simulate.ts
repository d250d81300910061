import { escapeText } from './escape.js';
import { Command, Option } from 'commander';
import { BpfmemError } from '../vocab/errors.js';
import type { Regime } from '../vocab/profile.js';
import { formatScenarioError, parseScenario, type ParseOptions } from '../scenario/parse.js';
import type { RunResult } from '../scenario/run.js';
import { simulate as simulateScenario } from '../simulate/result-json.js';
import { hostProfile, type HostProfile } from '../live/host-profile.js';
import { btfOption } from './btf-option.js';
import type { KnownSnapshot } from '../vocab/backend.js';
import type { Scenario } from '../scenario/types.js';
import { styleFor } from './io.js';
import { inputName } from '../sys/file/index.js';
import { jsonOption, readInput, type CommandContext } from './context.js';
import { json } from './render/common.js';
import { bothText, runJson, runText } from './render/simulate.js';

/**
 * Reads and validates a scenario file, or throws the one-line error (exit 2). A FIFO
 * (`simulate <(cat s.yaml)`, a named pipe) is refused unread, as every command refuses one it
 * was not asked to wait on; the message says the way simulate reads a pipe: standard input.
 */
export async function loadScenario(ctx: CommandContext, file: string, options: ParseOptions = {}): Promise<Scenario> {
  const text = await readInput(ctx.io, file, 'scenario', 'simulate reads a pipe as standard input: simulate -');
  const parsed = parseScenario(text, inputName(file), options);
  if (!parsed.ok) throw new BpfmemError('input', formatScenarioError(parsed.error));
  return parsed.scenario;
}

export { simulate } from '../simulate/result-json.js';

export function simulateCommand(ctx: CommandContext): Command {
  return new Command('simulate')
    .description('run a scenario file (YAML or JSON) on the accounting model')
    .argument('<file>', 'the scenario (see docs/scenarios.md and scenarios/; - for standard input)')
    .addOption(
      new Option('--regime <regime>', 'accounting regime: the scenario\'s own, or memcg, memlock, none, both').choices([
        'memcg',
        'memlock',
        'none',
        'both',
      ]),
    )
    .addOption(btfOption())
    .addOption(jsonOption())
    .action(async (path: string, opts: { regime?: Regime | 'both'; btf?: string; json?: boolean }) => {
      // A scenario that names no kernel runs on this one (its CPUs and cgroup version decide what
      // its steps may ask, so the parser asks too); --btf gives another kernel's struct sizes.
      let machine: HostProfile | undefined;
      const onHost = (): HostProfile => (machine ??= hostProfile({ btf: opts.btf }));
      const scenario = await loadScenario(ctx, path, { host: () => onHost().profile });
      const file = inputName(path);
      const host = scenario.kernel.version === undefined || opts.btf !== undefined ? onHost() : undefined;
      const btf = opts.btf === undefined ? undefined : await host?.kernelBtf();
      const simulate = (regime?: Regime): Promise<RunResult<KnownSnapshot>> => simulateScenario(scenario, regime, btf, host?.profile);
      const st = styleFor(ctx.io);
      // --btf replaces the sizes the model keeps for the kernel: the output says so (docs/cli.md).
      const sizes = opts.btf === undefined ? undefined : `sizes from ${escapeText(opts.btf)}`;
      const btfJson = opts.btf === undefined ? {} : { sizes_from: opts.btf };
      // On a terminal, the tables fit its width (docs/cli.md); into a pipe, rows are whole.
      const maxWidth = ctx.io.terminalSize?.()?.columns;
      // Under memcg or none, a scenario of a kernel before 5.11 runs as 5.11 (src/scenario/run.ts
      // scenarioProfile): said, not only shown.
      const asked = scenario.kernel.version ?? host?.profile.release;
      const lacks = (regime: Regime): string =>
        regime === 'memcg' ? 'memcg accounting of BPF (added in 5.11)' : 'regime none (before 5.11 BPF is precharged to RLIMIT_MEMLOCK, whatever the cgroups)';
      const bumped = (run: RunResult<KnownSnapshot>): string =>
        !opts.json && asked !== undefined && run.profile.release !== asked && run.profile.regime !== 'memlock'
          ? st.dim(`note: kernel ${escapeText(asked)} has no ${lacks(run.profile.regime)}: the ${run.profile.regime} run is kernel ${run.profile.release}'s\n`)
          : '';
      if (opts.regime === 'both') {
        const memcg = await simulate('memcg');
        const memlock = await simulate('memlock');
        ctx.io.stdout(
          opts.json
            ? json({ source: file, regime: 'both', ...btfJson, runs: { memcg: runJson(memcg), memlock: runJson(memlock) } })
            : bothText(memcg, memlock, file, st, maxWidth, sizes) + bumped(memcg),
        );
        return;
      }
      const run = await simulate(opts.regime);
      ctx.io.stdout(opts.json ? json({ source: file, ...btfJson, ...runJson(run) }) : runText(run, file, st, maxWidth, sizes) + bumped(run));
    });
}
