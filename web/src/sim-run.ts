import type { Backend, CgroupLimits, Credentials, KnownSnapshot, Outcome, TaskSpec, UpdateContext } from '../../src/vocab/backend.js';
import { ModelBackend } from '../../src/model/backend.js';
import type { MapSpec } from '../../src/vocab/map-spec.js';
import type { KernelProfile, Regime } from '../../src/vocab/profile.js';
import { formatScenarioError, parseScenario } from '../../src/scenario/parse.js';
import { runScenario, scenarioProfile, summarize, type StepResult } from '../../src/scenario/run.js';
import type { Scenario } from '../../src/scenario/types.js';

/**
 * The simulator of the dashboard: a scenario file's text, parsed and run on the model in the
 * browser, exactly as `bpfmem simulate` runs it (src/cli/simulate.ts: parseScenario,
 * scenarioProfile, runScenario on a ModelBackend), plus a snapshot of the model after every
 * step so that the page can play the run step by step. Pure: no DOM, runs in a Web Worker and in
 * Node tests.
 */

/** What the regime switch offers: one regime, or memcg and memlock side by side (`--regime both`). */
export type SimRegimes = 'memcg' | 'memlock' | 'both';

/** One run of the scenario under one regime. */
export interface SimRun {
  readonly regime: Regime;
  readonly profile: KernelProfile;
  /** As runScenario gives them: setup failures (index -1) first, then one per step of the file. */
  readonly steps: readonly StepResult[];
  /**
   * The model after the setup (`frames[0]`) and after each step of the file (`frames[i + 1]`
   * after step i); null when the run is too large to keep every frame (see {@link FRAME_BUDGET}).
   */
  readonly frames: readonly KnownSnapshot[] | null;
  readonly final: KnownSnapshot;
}

/** The outcome of {@link simulate}. */
export type SimResult =
  | {
      readonly ok: true;
      readonly source: string;
      readonly description: string | null;
      /** The file's steps, for people: `create ct (lru_hash, 524288) as agent`. */
      readonly steps: readonly { readonly index: number; readonly summary: string }[];
      readonly runs: readonly SimRun[];
    }
  | { readonly ok: false; readonly message: string };

/**
 * Objects (cgroups, maps, programs, tasks) kept over all the frames of a run. A scenario of
 * 10,000 steps and 10,000 cgroups would otherwise keep 10^8 of them; past this the page shows
 * the final state only.
 */
export const FRAME_BUDGET = 1_000_000;

/**
 * Parses a scenario and runs it in the regimes asked for. Errors are values: the parser's one
 * line (`example.yaml:12: steps[1].update.count: …`), or scenarioProfile's.
 */
export async function simulate(text: string, source: string, regimes: SimRegimes): Promise<SimResult> {
  const parsed = parseScenario(text, source);
  if (!parsed.ok) return { ok: false, message: formatScenarioError(parsed.error) };
  const { scenario } = parsed;
  const runs: SimRun[] = [];
  for (const regime of regimes === 'both' ? (['memcg', 'memlock'] as const) : [regimes]) {
    const profile = scenarioProfile(scenario, regime);
    if (typeof profile === 'string') return { ok: false, message: profile };
    runs.push(await recordRun(scenario, profile));
  }
  return {
    ok: true,
    source,
    description: scenario.description ?? null,
    steps: scenario.steps.map((s) => ({ index: s.index, summary: summarize(s) })),
    runs,
  };
}

/** Runs a scenario with runScenario on a model that is photographed after every operation. */
export async function recordRun(scenario: Scenario, profile: KernelProfile): Promise<SimRun> {
  const backend = new RecordingBackend(profile);
  const run = await runScenario(scenario, backend);
  // runScenario makes one backend call per cgroup and task of the setup and one per step
  // (src/scenario/run.ts: runScenario, runStep); should that change, the page shows the final
  // state rather than frames that belong to the wrong steps.
  const setupCalls = scenario.cgroups.length + scenario.tasks.length;
  const recorded = backend.frames;
  const frames = recorded !== null && recorded.length === 1 + setupCalls + scenario.steps.length ? recorded.slice(setupCalls) : null;
  return { regime: run.regime, profile: run.profile, steps: run.steps, frames, final: run.final };
}

/** The model as a {@link Backend}, with a snapshot after every operation. */
class RecordingBackend implements Omit<Backend, 'snapshot'> {
  readonly kind = 'model';
  private readonly model: ModelBackend;
  /** The snapshot before anything, then one after every operation; null once over budget. */
  frames: KnownSnapshot[] | null = [];
  private kept = 0;

  constructor(readonly profile: KernelProfile) {
    this.model = new ModelBackend(profile);
    this.take();
  }

  private take(): void {
    if (this.frames === null) return;
    const s = this.model.kernel.snapshot();
    this.kept += s.cgroups.length + s.maps.length + s.progs.length + s.tasks.length + 1;
    if (this.kept > FRAME_BUDGET) this.frames = null;
    else this.frames.push(s);
  }

  private async after(o: Promise<Outcome>): Promise<Outcome> {
    const outcome = await o;
    this.take();
    return outcome;
  }

  createCgroup(path: string, limits: CgroupLimits): Promise<Outcome> {
    return this.after(this.model.createCgroup(path, limits));
  }
  setLimit(path: string, limits: Partial<CgroupLimits>): Promise<Outcome> {
    return this.after(this.model.setLimit(path, limits));
  }
  removeCgroup(path: string): Promise<Outcome> {
    return this.after(this.model.removeCgroup(path));
  }
  startTask(name: string, spec: TaskSpec): Promise<Outcome> {
    return this.after(this.model.startTask(name, spec));
  }
  stopTask(name: string): Promise<Outcome> {
    return this.after(this.model.stopTask(name));
  }
  setCredentials(name: string, credentials: Credentials): Promise<Outcome> {
    return this.after(this.model.setCredentials(name, credentials));
  }
  moveTask(name: string, cgroup: string): Promise<Outcome> {
    return this.after(this.model.moveTask(name, cgroup));
  }
  allocMemory(task: string, bytes: number): Promise<Outcome> {
    return this.after(this.model.allocMemory(task, bytes));
  }
  lockMemory(task: string, bytes: number, via: 'mlock' | 'io_uring'): Promise<Outcome> {
    return this.after(this.model.lockMemory(task, bytes, via));
  }
  createMap(task: string, name: string, spec: MapSpec): Promise<Outcome> {
    return this.after(this.model.createMap(task, name, spec));
  }
  updateMap(map: string, count: number, context: UpdateContext, cpu: number): Promise<Outcome> {
    return this.after(this.model.updateMap(map, count, context, cpu));
  }
  deleteFromMap(map: string, count: number, cpu: number): Promise<Outcome> {
    return this.after(this.model.deleteFromMap(map, count, cpu));
  }
  loadProg(task: string, name: string, insns: number): Promise<Outcome> {
    return this.after(this.model.loadProg(task, name, insns));
  }
  close(kind: 'map' | 'prog', name: string): Promise<Outcome> {
    return this.after(this.model.close(kind, name));
  }
  drainStocks(path: string): Promise<Outcome> {
    return this.after(this.model.drainStocks(path));
  }
  snapshot(): Promise<KnownSnapshot> {
    return this.model.snapshot();
  }
  dispose(): Promise<void> {
    return this.model.dispose();
  }
}
