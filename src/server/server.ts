import { isIP, isIPv4, isIPv6, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { BpfmemError } from '../vocab/errors.js';
import { listenHost } from '../vocab/listen-host.js';
import type { MachineDescription } from '../live/machine.js';
import { createApp } from './app.js';
import { DEFAULT_LISTEN_LIMITS, listen, type ListenLimits } from './node.js';
import { Scanner } from './scanner.js';
import { DEFAULT_SIMULATE_LIMITS, Simulator, type SimulateLimits } from './simulate.js';
import type { InventorySource } from './source.js';
import { loadAssets, notBuiltPage } from './static.js';

/** Options of {@link startServer}. */
export interface ServeOptions {
  /** The address to listen on; 127.0.0.1 by default (the server is for this machine unless told). */
  host?: string;
  /** 9464 by default; 0: any free port. */
  port?: number;
  /** Milliseconds between scans; 15,000 by default. */
  intervalMs?: number;
  /** Where snapshots come from. The server owns it from now on and closes it. */
  source: InventorySource;
  /** The built dashboard (vite output); `<package>/dist/web` by default. */
  webRoot?: string;
  /** One series per map in /metrics for the N maps charged most (default 0: none). */
  perMapMetrics?: number;
  /** How far back /api/v1/history goes; 3600 by default. */
  historySeconds?: number;
}

export interface RunningServer {
  /** `http://127.0.0.1:PORT`: where clients on this machine reach it. */
  readonly url: string;
  /** `http://0.0.0.0:PORT`: the address it listens on, as bound. */
  readonly bound: string;
  /** Whether it listens on a loopback address only. */
  readonly loopback: boolean;
  /** Stops scanning and listening, lets answers in flight finish, closes the source. Idempotent. */
  close(): Promise<void>;
}

/** Bounds a test may tighten; users get the defaults. */
export interface ServerLimits {
  readonly listen: ListenLimits;
  readonly simulate: SimulateLimits;
}

export const DEFAULT_SERVER_LIMITS: ServerLimits = { listen: DEFAULT_LISTEN_LIMITS, simulate: DEFAULT_SIMULATE_LIMITS };

/** `<package>/dist/web`: two levels up from this module, whether it runs as src/server/, dist/server/ or the bundle in dist/bin/. */
export const DEFAULT_WEB_ROOT = fileURLToPath(new URL('../../dist/web', import.meta.url));

/** The names a loopback server answers to (its `Host` check against DNS rebinding). */
const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];

/**
 * Whether a bound address is a loopback one: 127.0.0.0/8, ::1, or 127.0.0.0/8 mapped into IPv6.
 * Decided from the address the socket is bound to, not the `--host` as written: `127.1`, a name
 * /etc/hosts points at 127.0.0.1 and `::ffff:127.0.0.1` are loopback too.
 */
export function isLoopbackAddress(address: string): boolean {
  const v4 = address.toLowerCase().startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
  return address === '::1' || (isIP(v4) === 4 && v4.startsWith('127.'));
}

/** How a Host header names `host` (an IPv6 address in brackets), lower case. */
const asHostName = (host: string): string => (isIP(host) === 6 ? `[${host}]` : host).toLowerCase();

function check(options: ServeOptions): { host: string; port: number; intervalMs: number; historySeconds: number } {
  const given = options.host ?? '127.0.0.1';
  const listened = listenHost(given, { isIPv4, isIPv6 });
  if (!listened.ok) throw new BpfmemError('usage', `host ${JSON.stringify(given)}: ${listened.error}`);
  const host = listened.value;
  const port = options.port ?? 9464;
  const intervalMs = options.intervalMs ?? 15_000;
  const historySeconds = options.historySeconds ?? 3600;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new BpfmemError('usage', `port ${port}: expected a port from 0 to 65535`);
  if (!Number.isInteger(intervalMs) || intervalMs < 10 || intervalMs > 86_400_000) {
    throw new BpfmemError('usage', `interval ${intervalMs} ms: expected a whole number of milliseconds from 10 to 86,400,000 (a day)`);
  }
  if (!Number.isFinite(historySeconds) || historySeconds < 0 || historySeconds > 7 * 86_400) {
    throw new BpfmemError('usage', `history ${historySeconds} s: expected 0 to 604,800 seconds (a week)`);
  }
  return { host, port, intervalMs, historySeconds };
}

/** {@link startServer} with bounds of the caller's choosing (tests use short timeouts). */
export async function startServerWith(options: ServeOptions, limits: ServerLimits): Promise<RunningServer> {
  const source = options.source;
  let checked;
  try {
    checked = check(options);
  } catch (error) {
    source.close();
    throw error;
  }
  const { host, port, intervalMs, historySeconds } = checked;
  const scanner = new Scanner(source, { intervalMs, historySeconds, perMapMetrics: options.perMapMetrics ?? 0 });
  try {
    await scanner.start();
  } catch (error) {
    await scanner.close();
    if (error instanceof BpfmemError) throw error;
    throw new BpfmemError('system', `the first scan failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  const webRoot = options.webRoot ?? DEFAULT_WEB_ROOT;
  // A scenario that names no kernel runs on the kernel the server describes (its last scan's).
  const simulator = new Simulator(limits.simulate, () => scanner.published?.snapshot.inventory.profile);
  // The machine's facts, read at the first /api/v1/probe and kept; a failed read is not kept.
  let machine: Promise<MachineDescription> | undefined;
  const readMachine = source.machine?.bind(source);
  const machineFacts = (read: () => Promise<MachineDescription>): Promise<MachineDescription> =>
    (machine ??= read().catch((error: unknown) => {
      machine = undefined;
      throw error;
    }));
  // Decided once the address is bound, before the first request.
  let allowedHosts: ReadonlySet<string> | undefined;
  const app = createApp({
    published: () => scanner.published,
    intervalSeconds: intervalMs / 1000,
    assets: await loadAssets(webRoot),
    notBuilt: notBuiltPage(webRoot),
    simulate: (text, name, regime) => simulator.run(text, name, regime),
    machine: readMachine && (() => machineFacts(readMachine)),
    get allowedHosts() {
      return allowedHosts;
    },
  });
  let listening;
  try {
    listening = await listen((request) => app.fetch(request), host, port, limits.listen);
  } catch (error) {
    await scanner.close();
    throw error;
  }
  const address = (listening.server.address() as AddressInfo).address;
  const loopback = isLoopbackAddress(address);
  if (loopback) allowedHosts = new Set([...LOOPBACK_NAMES, asHostName(host), asHostName(address)]);
  let closing: Promise<void> | undefined;
  return {
    url: listening.url,
    bound: listening.bound,
    loopback,
    close() {
      closing ??= (async () => {
        await simulator.close();
        await listening.close();
        await scanner.close();
      })();
      return closing;
    },
  };
}

/** Starts `bpfmem serve`: resolves once the first scan is done and the port is open. */
export function startServer(options: ServeOptions): Promise<RunningServer> {
  return startServerWith(options, DEFAULT_SERVER_LIMITS);
}
