import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { SimulateRegime } from '../simulate/result-json.js';
import type { KernelProfile } from '../vocab/profile.js';
import type { SimulateJob, SimulateMessage } from './simulate-worker.js';

/**
 * `POST /api/v1/simulate` runs a scenario someone sent: the model is fast, but a file within
 * the scenario limits can still ask for hours of work (10,000 steps of 100,000,000 updates). So
 * each run gets a worker thread of its own, with a memory limit, and is terminated when it
 * takes longer than the time limit; the server's own thread only waits.
 */

export interface SimulateLimits {
  /**
   * Wall time of one run, from when its worker has loaded the model: a slow start (a busy
   * machine) is not the scenario's, and is bounded by `startTimeoutMs` instead.
   */
  readonly timeoutMs: number;
  /** Wall time for a worker to start and load the model (120–180 ms here, on a day `node -e 0` took 100–140 ms). */
  readonly startTimeoutMs: number;
  /** Runs at once; more are refused (503) rather than queued. */
  readonly concurrent: number;
  /** The worker's V8 old generation. */
  readonly heapMb: number;
}

export const DEFAULT_SIMULATE_LIMITS: SimulateLimits = { timeoutMs: 5000, startTimeoutMs: 30_000, concurrent: 2, heapMb: 512 };

/** The outcome of a run, as the HTTP answer it becomes. */
export type SimulateOutcome =
  | { readonly status: 200; readonly body: string }
  | { readonly status: 400 | 500 | 503; readonly error: string; readonly retryAfter?: number };

/**
 * The worker's entry: beside this module's build, or its TypeScript source (tests, tsx), which a
 * worker can only load through tsx's loader, registered by a small ES module before it.
 */
function workerEntry(): URL {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) return new URL('../server/simulate-worker.js', here);
  const source = new URL('../server/simulate-worker.ts', here).href;
  // tsx's ES module API (its exports' `import` condition), found through its package.json.
  const tsx = pathToFileURL(join(dirname(createRequire(here).resolve('tsx/package.json')), 'dist/esm/api/index.mjs')).href;
  const boot = `const { register } = await import(${JSON.stringify(tsx)}); register(); await import(${JSON.stringify(source)});`;
  return new URL(`data:text/javascript,${encodeURIComponent(boot)}`);
}

/** Runs simulations in worker threads, a few at a time, each stopped at the time limit. */
export class Simulator {
  private readonly running = new Set<Worker>();
  private closed = false;

  constructor(
    private readonly limits: SimulateLimits = DEFAULT_SIMULATE_LIMITS,
    /** The kernel a scenario that names none runs on. */
    private readonly host: () => KernelProfile | undefined = () => undefined,
  ) {}

  /** Runs one scenario file's text. Never throws: every failure is an outcome. */
  run(text: string, source: string, regime: SimulateRegime | undefined): Promise<SimulateOutcome> {
    if (this.closed) return Promise.resolve({ status: 503, error: 'the server is shutting down' });
    if (this.running.size >= this.limits.concurrent) {
      return Promise.resolve({
        status: 503,
        error: `${this.running.size} simulations are running, the most this server runs at once; try again in a few seconds`,
        retryAfter: Math.ceil(this.limits.timeoutMs / 1000),
      });
    }
    const job: SimulateJob = { text, source, regime, host: this.host() };
    const worker = new Worker(workerEntry(), {
      workerData: job,
      resourceLimits: { maxOldGenerationSizeMb: this.limits.heapMb },
    });
    this.running.add(worker);
    return new Promise<SimulateOutcome>((resolve) => {
      let settled = false;
      const finish = (outcome: SimulateOutcome): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.running.delete(worker);
        void worker.terminate();
        resolve(outcome);
      };
      // First the worker's start, then (once it says so) the run itself.
      let timer = setTimeout(() => {
        finish({ status: 503, error: `the simulation could not start within ${this.limits.startTimeoutMs / 1000} s (the server is busy); try again`, retryAfter: Math.ceil(this.limits.timeoutMs / 1000) });
      }, this.limits.startTimeoutMs);
      worker.on('message', (a: SimulateMessage) => {
        if ('started' in a) {
          clearTimeout(timer);
          timer = setTimeout(() => {
            finish({ status: 503, error: `the simulation ran longer than ${this.limits.timeoutMs / 1000} s and was stopped; try a smaller scenario, or run bpfmem simulate` });
          }, this.limits.timeoutMs);
        } else if (a.ok) finish({ status: 200, body: a.body });
        else finish(a.kind === 'input' ? { status: 400, error: a.message } : { status: 500, error: `internal error: ${oneLine(a.message)}` });
      });
      worker.once('error', (e: Error & { code?: string }) => {
        if (e.code === 'ERR_WORKER_OUT_OF_MEMORY') finish({ status: 503, error: `the simulation needed more than ${this.limits.heapMb} MiB and was stopped` });
        else finish({ status: 500, error: `internal error: ${oneLine(e.message)}` });
      });
      worker.once('exit', (code) => {
        if (this.closed) finish({ status: 503, error: 'the server is shutting down' });
        else finish({ status: 500, error: `internal error: the simulation worker exited with status ${code} without an answer` });
      });
    });
  }

  /** How many runs are going on. */
  get active(): number {
    return this.running.size;
  }

  /** Stops every run (their requests are answered 503) and refuses new ones. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.running].map((w) => w.terminate()));
    this.running.clear();
  }
}

const oneLine = (s: string): string => s.replace(/\s*\n[\s\S]*$/, '');
