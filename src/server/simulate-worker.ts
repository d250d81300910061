import { parentPort, workerData } from 'node:worker_threads';
import { BpfmemError } from '../vocab/errors.js';
import type { KernelProfile } from '../vocab/profile.js';
import { simulateJsonText, type SimulateRegime } from '../simulate/result-json.js';

/**
 * The worker thread of `POST /api/v1/simulate` (src/server/simulate.ts starts it, and ends it
 * when it runs too long): parses the scenario, runs it on the model, and posts back the text
 * `bpfmem simulate --json` would print, or the parser's one line.
 */

/** What the server sends. */
export interface SimulateJob {
  readonly text: string;
  readonly source: string;
  readonly regime: SimulateRegime | undefined;
  /** The kernel a scenario that names none runs on. */
  readonly host: KernelProfile | undefined;
}

/** What the worker answers. */
export type SimulateAnswer =
  | { readonly ok: true; readonly body: string }
  | { readonly ok: false; readonly kind: 'input' | 'internal'; readonly message: string };

/** What the worker posts: that it has loaded the model and starts the run, then its answer. */
export type SimulateMessage = { readonly started: true } | SimulateAnswer;

async function answer(job: SimulateJob): Promise<SimulateAnswer> {
  try {
    return { ok: true, body: await simulateJsonText(job.text, job.source, job.regime, job.host) };
  } catch (error) {
    if (error instanceof BpfmemError && error.code !== 'system') return { ok: false, kind: 'input', message: error.message };
    return { ok: false, kind: 'internal', message: error instanceof Error ? error.message : String(error) };
  }
}

// The modules are loaded: the run's time starts now (src/server/simulate.ts).
parentPort?.postMessage({ started: true } satisfies SimulateMessage);
parentPort?.postMessage(await answer(workerData as SimulateJob) satisfies SimulateMessage);
