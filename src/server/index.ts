import { watchedSource } from './source.js';
import { startServer, type RunningServer } from './server.js';

/**
 * `bpfmem serve`: Prometheus metrics, the JSON API and the dashboard of this machine's BPF
 * memory (docs/metrics.md). The server reads snapshots from a source in the background and
 * answers every request from the last one; it never changes the machine.
 */
export { watchedSource, fixtureSource, type InventorySource } from './source.js';
export { startServer, type ServeOptions, type RunningServer } from './server.js';

/** What `bpfmem serve` asks for (the CLI's `ServeRequest`). */
export interface ServeLiveOptions {
  readonly host: string;
  readonly port: number;
  readonly intervalMs: number;
  /** Maps with series of their own: the N charged most (0: none). */
  readonly perMapMetrics: number;
  /** Attach `bpfmem watch`'s hooks (default true; `--no-watch`). */
  readonly watch?: boolean;
  /** Keep the hooks attached (`--always`); else armed on headroom below `armBelow` (src/watch/arming.ts). */
  readonly watchAlways?: boolean;
  readonly armBelow?: number;
}

/** Serves this machine: the server on a {@link watchedSource} (the inventory and refused updates). Needs root. */
export async function serveLive(options: ServeLiveOptions): Promise<RunningServer> {
  const { watch, watchAlways, armBelow, ...rest } = options;
  return startServer({ ...rest, source: await watchedSource({ trace: watch !== false, noTraceOption: '--no-watch', ...(watchAlways === true && { always: true }), ...(armBelow !== undefined && { armBelow }) }) });
}
