import { simulate, type SimRegimes, type SimResult } from './sim-run.js';

/**
 * The simulator's Web Worker: runs a scenario off the page's thread, so that a large one never
 * freezes the page, and the page can stop it (Worker.terminate) when it takes too long.
 */

/** What the page sends. */
export interface SimRequest {
  readonly id: number;
  readonly text: string;
  readonly source: string;
  readonly regimes: SimRegimes;
}

/** What the worker answers. */
export interface SimResponse {
  readonly id: number;
  readonly result: SimResult;
}

// The DOM library types `self` as a Window; in a worker it is a DedicatedWorkerGlobalScope.
const scope = self as unknown as {
  onmessage: ((event: MessageEvent<SimRequest>) => void) | null;
  postMessage(message: SimResponse): void;
};

scope.onmessage = (event) => {
  const { id, text, source, regimes } = event.data;
  const answer = (result: SimResult): void => {
    scope.postMessage({ id, result });
  };
  simulate(text, source, regimes).then(answer, (error: unknown) => {
    // The model throws only on its own bugs: say so in one line rather than go silent.
    answer({ ok: false, message: `internal error in the model: ${error instanceof Error ? error.message : String(error)}` });
  });
};
