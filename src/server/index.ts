/**
 * `bpfmem serve`: Prometheus metrics, the JSON API and the dashboard of this machine's BPF
 * memory (docs/metrics.md). The server reads snapshots from a source in the background and
 * answers every request from the last one; it never changes the machine.
 */
export { liveSource, fixtureSource, type InventorySource } from './source.js';
export { startServer, type ServeOptions, type RunningServer } from './server.js';
