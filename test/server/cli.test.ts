import { afterAll, describe, expect, it } from 'vitest';
import type { Io } from '../../src/cli/io.js';
import { runProgram } from '../../src/cli/main.js';
import type { ServeLauncher, ServeRequest } from '../../src/cli/context.js';
import { serveCommand } from '../../src/cli/serve.js';
import { BpfmemError } from '../../src/vocab/errors.js';
import { disposeAll, isClosing, openCount, reopen } from '../../src/live/cleanup.js';
import { fixtureSource, startServer } from '../../src/server/index.js';
import { fixtureInput } from './fixture.js';
import { until } from './helpers.js';

/**
 * `bpfmem serve` as src/cli/main.ts runs it, with the machine and the server given by the test:
 * options, their one-line errors and exit statuses, and the clean stop that src/bin/bpfmem.ts
 * makes on SIGINT/SIGTERM (it calls disposeAll(), which closes what serve tracked).
 */

function program(launch: ServeLauncher): { run: (args: string[]) => Promise<number>; stderr: () => string } {
  let err = '';
  const io: Io = { stdout: () => undefined, stderr: (t) => (err += t), isTTY: false, env: {}, readFile: () => Promise.reject(new Error('no files')) };
  return {
    run: (args) => runProgram(args, io, (ctx) => Promise.resolve([serveCommand(ctx, launch)])),
    stderr: () => err,
  };
}

/** A launcher that records the request and serves the fixture. */
function fixtureLauncher(seen: ServeRequest[]): ServeLauncher {
  return (o) => {
    seen.push(o);
    return startServer({ ...o, port: 0, source: fixtureSource(fixtureInput()) });
  };
}

/** A launcher that records the request and fails as a machine without the server would. */
function refusing(seen: ServeRequest[]): ServeLauncher {
  return (o) => (seen.push(o), Promise.reject(new BpfmemError('system', 'stop here')));
}

describe('bpfmem serve options', () => {
  it('defaults: 127.0.0.1:9464, every 15 s, no per-map series', async () => {
    const seen: ServeRequest[] = [];
    const p = program(refusing(seen));
    expect(await p.run(['serve'])).toBe(1);
    expect(p.stderr()).toBe('bpfmem: stop here\n');
    expect(seen[0]).toMatchObject({ host: '127.0.0.1', port: 9464, intervalMs: 15_000, perMapMetrics: 0 });
  });

  it('--host, --port, --interval 1m30s, --per-map-metrics', async () => {
    const seen: ServeRequest[] = [];
    const p = program(refusing(seen));
    expect(await p.run(['serve', '--host', '0.0.0.0', '--port', '0', '--interval', '1m30s', '--per-map-metrics'])).toBe(1);
    expect(seen[0]).toMatchObject({ host: '0.0.0.0', port: 0, intervalMs: 90_000, perMapMetrics: 100 });
  });

  it('--per-map-metrics N: series for the N maps charged most; a bad N is a usage error', async () => {
    const seen: ServeRequest[] = [];
    expect(await program(refusing(seen)).run(['serve', '--per-map-metrics', '25'])).toBe(1);
    expect(seen[0]).toMatchObject({ perMapMetrics: 25 });
    const p = program(refusing([]));
    expect(await p.run(['serve', '--per-map-metrics', 'all'])).toBe(2);
    expect(p.stderr()).toMatch(/--per-map-metrics "all": expected how many maps/);
  });

  it.each([
    [['--interval', '15'], '--interval "15": expected a duration from 1s to 1h, like 15s, 1m or 1m30s (give a unit: 15s)'],
    [['--interval', '500ms'], '--interval "500ms": expected a duration from 1s to 1h'],
    [['--interval', '2h'], '--interval "2h": expected a duration from 1s to 1h'],
    [['--interval', 'soon'], '--interval "soon": expected a duration'],
    [['--port', '70000'], '--port "70000": expected a port from 0 to 65535 (0: any free port)'],
    [['--port', 'http'], '--port "http": expected a port'],
    [['--host', ''], '--host "": expected an address to listen on'],
    [['--host', 'a b'], '--host "a b": expected an address to listen on'],
    [['--host', '127.0.0.1:9100'], '--host "127.0.0.1:9100": give the port with --port: --host 127.0.0.1 --port 9100'],
    [['--host', '[::1]:9100'], '--host "[::1]:9100": give the port with --port: --host [::1] --port 9100'],
    [['--host', '[127.0.0.1]'], '--host "[127.0.0.1]": expected an IPv6 address in the brackets, like [::1]'],
    [['--host', '999.1.1.1'], '--host "999.1.1.1": not an IPv4 address (each of its four numbers is 0 to 255)'],
    [['--host', '[::1'], '--host "[::1": unbalanced brackets: write an IPv6 address as [::1] or ::1'],
    [['--host', '::1]'], '--host "::1]": unbalanced brackets: write an IPv6 address as [::1] or ::1'],
    [['--host', '[::1]x'], '--host "[::1]x": brackets go around a whole IPv6 address and nothing else, like [::1]'],
    [['--host', 'x[::1]'], '--host "x[::1]": brackets go around a whole IPv6 address and nothing else, like [::1]'],
    [['--host', '1::2::3'], '--host "1::2::3": not an IPv6 address (like ::1, :: or fe80::1%eth0)'],
    [['--host', 'localhost:http'], '--host "localhost:http": not an IPv6 address'],
    [['--host', 'a,b'], '--host "a,b": expected an address to listen on, like 127.0.0.1, 0.0.0.0 or ::, or a host name (letters, digits, - and _, between dots)'],
    [['--host', 'host..example'], '--host "host..example": expected an address to listen on'],
    [['--host', '-x'], '--host "-x": expected an address to listen on'],
    [['--host', 'example.com%eth0'], '--host "example.com%eth0": expected an address to listen on'],
    [['--always', '--no-watch'], "--always is about the watch's hooks: no use with --no-watch, which attaches none"],
  ])('%j → one line, a usage error (exit 2)', async (args, message) => {
    const p = program(fixtureLauncher([]));
    expect(await p.run(['serve', ...args])).toBe(2);
    expect(p.stderr().startsWith(`bpfmem: ${message}`)).toBe(true);
    expect(p.stderr().split('\n')).toHaveLength(2);
  });

  it('a malformed --host is refused before anything is opened: the server is never launched', async () => {
    const seen: ServeRequest[] = [];
    const p = program(fixtureLauncher(seen));
    expect(await p.run(['serve', '--host', '[::1'])).toBe(2);
    expect(p.stderr()).toBe('bpfmem: --host "[::1": unbalanced brackets: write an IPv6 address as [::1] or ::1\n');
    expect(seen).toEqual([]);
  });

  it('the library checks a host as the CLI does: refused in one line, the source closed and never read', async () => {
    const calls: string[] = [];
    const inner = fixtureSource(fixtureInput());
    const source = {
      read: () => (calls.push('read'), inner.read()),
      close: () => {
        calls.push('close');
        inner.close();
      },
    };
    await expect(startServer({ source, host: '[::1', port: 0 })).rejects.toThrow(new BpfmemError('usage', 'host "[::1": unbalanced brackets: write an IPv6 address as [::1] or ::1'));
    expect(calls).toEqual(['close']);
    // The library's words for a port in the host are its own options', not the CLI's.
    await expect(startServer({ source, host: '127.0.0.1:9100', port: 0 })).rejects.toThrow(
      new BpfmemError('usage', 'host "127.0.0.1:9100": give the port apart: { host: "127.0.0.1", port: 9100 }'),
    );
  });

  it.each([
    ['[::1]', '::1'],
    ['[::]', '::'],
    ['::1', '::1'],
    ['[fe80::1%eth0]', 'fe80::1%eth0'],
    ['::ffff:127.0.0.1', '::ffff:127.0.0.1'],
    ['localhost', 'localhost'],
    ['node-7.example.', 'node-7.example.'],
    ['my_host', 'my_host'],
    ['127.1', '127.1'],
    ['0', '0'],
  ])('--host %s listens on %s', async (given, host) => {
    const seen: ServeRequest[] = [];
    const p = program(refusing(seen));
    expect(await p.run(['serve', '--host', given])).toBe(1);
    expect(seen[0]?.host).toBe(host);
  });

  it('an unknown option is commander\'s error, in one line', async () => {
    const p = program(fixtureLauncher([]));
    expect(await p.run(['serve', '--bogus'])).toBe(2);
    expect(p.stderr()).toBe("bpfmem: unknown option '--bogus'\n");
  });

  it('a port in use → one line, a system error', async () => {
    const first = await startServer({ port: 0, source: fixtureSource(fixtureInput()) });
    try {
      const port = Number(new URL(first.url).port);
      const p = program((o) => startServer({ ...o, source: fixtureSource(fixtureInput()) }));
      expect(await p.run(['serve', '--port', String(port)])).toBe(1);
      expect(p.stderr()).toBe(`bpfmem: cannot listen on 127.0.0.1:${port}: the address is in use (another bpfmem serve? give --port)\n`);
    } finally {
      await first.close();
    }
  });
});

// disposeAll() puts the process's cleanup registry in its closing state: reopened after, since
// the unit files share their worker's modules (vitest.config.ts).
describe('stopping', () => {
  afterAll(() => {
    reopen();
  });

  it('serves until a signal disposes it, then closes the server and returns; on 0.0.0.0 it says so, with a warning', async () => {
    const p = program(fixtureLauncher([]));
    // --host 0 is 0.0.0.0 to the system: the line names what was bound, and a URL this machine reaches.
    const running = p.run(['serve', '--interval', '1s', '--host', '0']);
    await until(() => p.stderr().includes('serving'), 'the serving line');
    const [, bound, url] = /serving (http:\/\/\S+) \((http:\/\/\S+) from this machine\)/.exec(p.stderr()) ?? [];
    expect(bound).toMatch(/^http:\/\/0\.0\.0\.0:\d+$/);
    expect(url).toBe(bound?.replace('0.0.0.0', '127.0.0.1'));
    expect(p.stderr()).toBe(
      `bpfmem: serving ${bound} (${url} from this machine) (scans every 1s): /metrics for Prometheus, / for the dashboard, /api/v1/summary; Ctrl-C stops\n` +
        "bpfmem: warning: listening on 0.0.0.0, not loopback: the API, the metrics and the dashboard have no authentication; anyone who reaches this port reads this machine's BPF inventory (process names, cgroup paths) and may run simulations. Bound it with a firewall or an authenticating proxy (docs/metrics.md)\n",
    );
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect(openCount()).toBe(1);
    // What src/bin/bpfmem.ts does on SIGINT and SIGTERM.
    expect(await disposeAll()).toEqual([]);
    expect(await running).toBe(0);
    expect(openCount()).toBe(0);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
    expect(isClosing()).toBe(true);
    reopen();
    expect(isClosing()).toBe(false);
  });
});
