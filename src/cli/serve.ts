import { isIPv4, isIPv6 } from 'node:net';
import { Command, Option } from 'commander';
import { quote } from '../vocab/fields.js';
import { BpfmemError } from '../vocab/errors.js';
import { listenHost } from '../vocab/listen-host.js';
import { track, untrack, type Disposable } from '../live/cleanup.js';
import { formatDuration } from '../vocab/duration.js';
import { durationArg, sizeArg, type CommandContext, type ServeLauncher } from './context.js';

/**
 * `bpfmem serve`: this machine's BPF memory as Prometheus metrics, a JSON API and a dashboard
 * (src/server/, docs/metrics.md). Runs until SIGINT or SIGTERM: src/bin/bpfmem.ts disposes what
 * `track()` holds, which closes the server, and then ends the process.
 */

/** The shortest and longest scan interval people may ask for. */
const INTERVAL_MIN_MS = 1000;
const INTERVAL_MAX_MS = 3_600_000;

function portArg(value: string): number {
  if (!/^[0-9]{1,5}$/.test(value) || Number(value) > 65535) throw new BpfmemError('usage', `--port ${quote(value)}: expected a port from 0 to 65535 (0: any free port)`);
  return Number(value);
}

/** An address or name to listen on (src/vocab/listen-host.ts, which the library's server checks with too). */
function hostArg(value: string): string {
  const host = listenHost(value, { isIPv4, isIPv6 }, { givePortApart: (h, p) => `give the port with --port: --host ${h} --port ${p}` });
  if (!host.ok) throw new BpfmemError('usage', `--host ${quote(value)}: ${host.error}`);
  return host.value;
}

interface ServeCliOptions {
  host: string;
  port: number;
  interval: number;
  perMapMetrics?: number | true;
  watch: boolean;
  always?: boolean;
  armBelow?: number;
}

/** Per-map series when `--per-map-metrics` gives no number: bounded whatever the number of maps. */
const PER_MAP_DEFAULT = 100;
const PER_MAP_MAX = 100_000;

function perMapArg(value: string): number {
  if (!/^[0-9]{1,6}$/.test(value) || Number(value) > PER_MAP_MAX) throw new BpfmemError('usage', `--per-map-metrics ${quote(value)}: expected how many maps get series of their own, from 0 to ${PER_MAP_MAX}`);
  return Number(value);
}

/**
 * @param launch - starts the server face on this machine: given by src/bin/ (the CLI does not
 *   import the server), by tests with a fixture source
 */
export function serveCommand(ctx: CommandContext, launch: ServeLauncher | undefined = ctx.serve): Command {
  return new Command('serve')
    .description('Prometheus metrics, a JSON API and a dashboard of this machine\'s BPF memory (root; read-only)')
    .addOption(new Option('--host <address>', 'address to listen on (0.0.0.0 or :: for every interface)').argParser(hostArg).default('127.0.0.1'))
    .addOption(new Option('--port <port>', 'port to listen on (0: any free port)').argParser(portArg).default(9464))
    .addOption(new Option('--interval <duration>', 'time between scans of the machine, like 15s or 1m').argParser(durationArg('--interval', { min: INTERVAL_MIN_MS, max: INTERVAL_MAX_MS, like: '15s, 1m or 1m30s' })).default(15_000, '15s'))
    .addOption(new Option('--per-map-metrics [n]', `also series per map in /metrics (id, name, type, cgroup) for the n maps charged most (default ${PER_MAP_DEFAULT})`).argParser(perMapArg))
    .option('--no-watch', 'do not hook map updates to count refused ones (bpfmem watch, docs/watch.md)')
    .addOption(new Option('--arm-below <size>', "hook a map type's updates while a cgroup paying for such a map has less room than this on its path").argParser(sizeArg('--arm-below')).default(64 * 1024 * 1024, '64MiB').conflicts('always'))
    .option('--always', 'keep the hooks attached whatever the room (every update of a hooked type pays for them)')
    .action(async (opts: ServeCliOptions, cmd: Command) => {
      if (!opts.watch) {
        const given = [opts.always === true && '--always', cmd.getOptionValueSource('armBelow') === 'cli' && '--arm-below'].filter((x) => x !== false);
        if (given.length > 0) throw new BpfmemError('usage', `${given.join(' and ')} ${given.length === 1 ? 'is' : 'are'} about the watch's hooks: no use with --no-watch, which attaches none`);
      }
      if (!launch) throw new BpfmemError('system', 'serve: this build of bpfmem has no server');
      const server = await launch({ host: opts.host, port: opts.port, intervalMs: opts.interval, perMapMetrics: opts.perMapMetrics === true ? PER_MAP_DEFAULT : (opts.perMapMetrics ?? 0), watch: opts.watch, ...(opts.always === true && { watchAlways: true }), ...(opts.armBelow !== undefined && { armBelow: opts.armBelow }) });
      // Runs until a signal disposes it (src/bin/bpfmem.ts) or a caller does.
      await new Promise<void>((resolve, reject) => {
        const handle: Disposable = {
          dispose: async () => {
            untrack(handle);
            await server.close();
            resolve();
          },
        };
        try {
          track(handle);
        } catch (error) {
          void server.close().finally(() => {
            reject(error instanceof Error ? error : new Error(String(error)));
          });
          return;
        }
        const at = server.bound !== undefined && server.bound !== server.url ? `${server.bound} (${server.url} from this machine)` : server.url;
        ctx.io.stderr(
          `bpfmem: serving ${at} (scans every ${formatDuration(opts.interval)}): /metrics for Prometheus, / for the dashboard, /api/v1/summary; Ctrl-C stops\n`,
        );
        if (server.loopback === false) {
          ctx.io.stderr(
            `bpfmem: warning: listening on ${server.bound === undefined ? opts.host : new URL(server.bound).hostname}, not loopback: the API, the metrics and the dashboard have no authentication; anyone who reaches this port reads this machine's BPF inventory (process names, cgroup paths) and may run simulations. Bound it with a firewall or an authenticating proxy (docs/metrics.md)\n`,
          );
        }
      });
    });
}
