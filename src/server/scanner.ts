import { performance } from 'node:perf_hooks';
import type { Inventory } from '../inspect/inventory.js';
import { summarize, type Summary } from '../inspect/summary.js';
import { History, historyPoint, type HistoryPoint } from './history.js';
import { processMetrics, renderSnapshotMetrics, ScanMetrics } from './metrics.js';
import type { InventorySource } from './source.js';
import type { WatchFrame } from '../watch/index.js';

/**
 * The scan loop of `bpfmem serve`: reads the source every interval in the background and
 * publishes each snapshot whole. Requests only ever read the published state (never scan), and
 * a state is replaced in one assignment, so every answer, `/metrics` included, comes from one
 * scan.
 */

/** A successful scan. */
export interface Snapshot {
  readonly inventory: Inventory;
  readonly regimeReason: string;
  /** When the scan ended. */
  readonly time: Date;
  readonly summary: Summary;
  /** Refused map updates and the forecast, where the source watches (src/watch/). */
  readonly watch?: WatchFrame;
}

/** The key of `GET /metrics`'s answer in a {@link Published} cache. */
export const METRICS_ANSWER = 'metrics';

/** What requests read: the last snapshot, and the scans counted when it was published. */
export interface Published {
  readonly snapshot: Snapshot;
  /** `GET /metrics`: the snapshot's metrics and this process's at that scan, rendered once. */
  readonly metricsText: string;
  /** `GET /api/v1/history`'s points as of this scan, rendered when first asked ({@link historyJson}). */
  readonly history: readonly HistoryPoint[];
  readonly scans: number;
  readonly errors: number;
  /** Wall time of the last scan (failed or not). */
  readonly scanSeconds: number;
  /** Why the last scan failed, in one line; undefined when it did not. */
  readonly lastError: string | undefined;
  /** Answers made from the snapshot on first request, by what they answer; kept with the snapshot. */
  readonly cache: Map<string, CachedAnswer>;
}

/** An answer's bytes, encoded once, and their gzip, made when a client first takes it. */
export interface CachedAnswer {
  readonly bytes: Uint8Array<ArrayBuffer>;
  gzip?: Promise<Uint8Array<ArrayBuffer>>;
}

export interface ScannerOptions {
  readonly intervalMs: number;
  /** Maps with series of their own in /metrics: the N charged most (0: none). */
  readonly perMapMetrics: number;
  readonly historySeconds: number;
}

/** The one line of a failure. */
const lineOf = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0] ?? '';

export class Scanner {
  private state: Published | undefined;
  private readonly metrics = new ScanMetrics();
  private readonly history: History;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private stopped = false;
  private scans = 0;
  private errors = 0;
  /** The last scan's failure, for the log; undefined after a good scan. */
  lastError: string | undefined;

  constructor(
    private readonly source: InventorySource,
    private readonly options: ScannerOptions,
  ) {
    this.history = new History(options.historySeconds * 1000);
  }

  /** The last published state; undefined before the first good scan. */
  get published(): Published | undefined {
    return this.state;
  }

  get intervalSeconds(): number {
    return this.options.intervalMs / 1000;
  }

  /**
   * Runs the first scan, then the loop. Rejects with the scan's error when the first scan fails
   * (there is nothing to serve).
   */
  async start(): Promise<void> {
    await this.scanOnce();
    if (!this.state) throw new Error(this.lastError ?? 'the first scan failed');
    this.schedule(this.options.intervalMs);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      const started = performance.now();
      this.inFlight = this.scanOnce().finally(() => {
        this.inFlight = undefined;
        // Every interval from the start of the last scan; at once when a scan took longer.
        this.schedule(Math.max(0, this.options.intervalMs - (performance.now() - started)));
      });
    }, delayMs);
    // The HTTP server keeps the process alive; a forgotten scanner must not.
    this.timer.unref();
  }

  /** One scan: read, count, and publish a new state (the old snapshot, recounted, when the read failed). */
  private async scanOnce(): Promise<void> {
    const t0 = performance.now();
    let read: Awaited<ReturnType<InventorySource['read']>> | undefined;
    try {
      read = await this.source.read();
      this.lastError = undefined;
    } catch (error) {
      this.lastError = lineOf(error);
    }
    const seconds = (performance.now() - t0) / 1000;
    const time = new Date();
    this.scans++;
    if (!read) this.errors++;
    this.metrics.record(seconds, read !== undefined);
    let snapshot = this.state?.snapshot;
    if (read) {
      snapshot = { inventory: read.inventory, regimeReason: read.regimeReason, time, summary: summarize(read.inventory), ...(read.watch && { watch: read.watch }) };
      this.history.add(time, historyPoint(time, snapshot.inventory, snapshot.summary, snapshot.watch));
    }
    if (!snapshot) return;
    // The scan's garbage goes back to the system (src/sys/proc/memory.ts) before the process's
    // own metrics are read, so that they show what it holds between scans, not its peak in one.
    if (read) this.source.afterScan?.();
    let metricsText: string;
    try {
      // The process's own metrics are taken at the same moment: the whole text is one scan's.
      metricsText = (await processMetrics()) + (await renderSnapshotMetrics(snapshot, this.metrics, { perMap: this.options.perMapMetrics }));
    } catch (error) {
      // Not expected (the values are numbers, the label values strings); the last state stays.
      this.lastError = `rendering the metrics: ${lineOf(error)}`;
      return;
    }
    // Answers made from the old snapshot stay good when a failed scan keeps it; /metrics does
    // not: it is this scan's (its scan and error counts, the process's own metrics), and kept it
    // would hide from Prometheus the very failures bpfmem_scan_errors_total counts. A copy: a
    // request still answering from the last state keeps its own.
    const cache = new Map<string, CachedAnswer>(read || !this.state ? [] : [...this.state.cache].filter(([key]) => key !== METRICS_ANSWER));
    this.state = {
      snapshot,
      metricsText,
      history: this.history.view(),
      scans: this.scans,
      errors: this.errors,
      scanSeconds: seconds,
      lastError: this.lastError,
      cache,
    };
  }

  /** Stops the loop, waits for a scan under way, and closes the source. */
  async close(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.inFlight;
    this.source.close();
  }
}
