import { liveSource } from './source.js';
import { startServer, type RunningServer } from './server.js';

/**
 * `bpfmem serve`: Prometheus metrics, the JSON API and the dashboard of this machine's BPF
 * memory (docs/metrics.md). The server reads snapshots from a source in the background and
 * answers every request from the last one; it never changes the machine.
 */
export { liveSource, fixtureSource, type InventorySource } from './source.js';
export { startServer, type ServeOptions, type RunningServer } from './server.js';

/** What `bpfmem serve` asks for (the CLI's `ServeRequest`). */
export interface ServeLiveOptions {
  readonly host: string;
  readonly port: number;
  readonly intervalMs: number;
  readonly perMapMetrics: boolean;
}

/** Serves this machine: the server on a {@link liveSource}. Needs root. */
export async function serveLive(options: ServeLiveOptions): Promise<RunningServer> {
  return startServer({ ...options, source: await liveSource() });
}
