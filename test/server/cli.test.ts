import { Command, CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import type { Io } from '../../src/cli/io.js';
import type { CommandContext } from '../../src/cli/context.js';
import { serveCommand, type ServeDeps } from '../../src/cli/serve.js';
import { BpfmemError } from '../../src/errors.js';
import { disposeAll, openCount } from '../../src/live/cleanup.js';
import { fixtureSource, startServer, type ServeOptions } from '../../src/server/index.js';
import { fixtureInput } from './fixture.js';
import { until } from './helpers.js';

/**
 * `bpfmem serve` through a commander program of its own (src/cli/main.ts registers it when the
 * lead adds it): options, their one-line errors, and the clean stop that src/bin/bpfmem.ts
 * makes on SIGINT/SIGTERM (it calls disposeAll(), which closes what serve tracked).
 */

function program(deps: ServeDeps): { run: (args: string[]) => Promise<void>; stderr: () => string } {
  let err = '';
  const io: Io = { stdout: () => undefined, stderr: (t) => (err += t), isTTY: false, env: {}, readFile: () => Promise.reject(new Error('no files')) };
  const ctx: CommandContext = { io, exit: () => undefined };
  const p = new Command('bpfmem').exitOverride().configureOutput({ writeErr: (s) => (err += s), writeOut: () => undefined });
  p.addCommand(serveCommand(ctx, deps));
  for (const c of p.commands) c.exitOverride().configureOutput(p.configureOutput());
  return {
    run: async (args) => {
      await p.parseAsync(args, { from: 'user' });
    },
    stderr: () => err,
  };
}

/** Deps that record the options and serve the fixture. */
function fixtureDeps(seen: ServeOptions[]): ServeDeps {
  return {
    source: () => Promise.resolve(fixtureSource(fixtureInput())),
    start: (o) => {
      seen.push(o);
      return startServer({ ...o, port: 0 });
    },
  };
}

describe('bpfmem serve options', () => {
  it('defaults: 127.0.0.1:9464, every 15 s, no per-map series', async () => {
    const seen: ServeOptions[] = [];
    const p = program({ source: fixtureDeps(seen).source, start: (o) => (seen.push(o), Promise.reject(new BpfmemError('system', 'stop here'))) });
    await expect(p.run(['serve'])).rejects.toThrow('stop here');
    expect(seen[0]).toMatchObject({ host: '127.0.0.1', port: 9464, intervalMs: 15_000, perMapMetrics: false });
  });

  it('--host, --port, --interval 1m30s, --per-map-metrics', async () => {
    const seen: ServeOptions[] = [];
    const p = program({ source: fixtureDeps(seen).source, start: (o) => (seen.push(o), Promise.reject(new BpfmemError('system', 'stop here'))) });
    await expect(p.run(['serve', '--host', '0.0.0.0', '--port', '0', '--interval', '1m30s', '--per-map-metrics'])).rejects.toThrow('stop here');
    expect(seen[0]).toMatchObject({ host: '0.0.0.0', port: 0, intervalMs: 90_000, perMapMetrics: true });
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
  ])('%j → one line, a usage error (exit 2)', async (args, message) => {
    const p = program(fixtureDeps([]));
    const error = await p.run(['serve', ...args]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(BpfmemError);
    expect((error as BpfmemError).code).toBe('usage');
    expect((error as BpfmemError).message.startsWith(message)).toBe(true);
  });

  it('an unknown option is commander\'s error', async () => {
    const p = program(fixtureDeps([]));
    await expect(p.run(['serve', '--bogus'])).rejects.toBeInstanceOf(CommanderError);
  });

  it('a port in use → one line, a system error', async () => {
    const first = await startServer({ port: 0, source: fixtureSource(fixtureInput()) });
    try {
      const port = Number(new URL(first.url).port);
      const p = program({ source: () => Promise.resolve(fixtureSource(fixtureInput())), start: startServer });
      const error = await p.run(['serve', '--port', String(port)]).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(BpfmemError);
      expect((error as BpfmemError).message).toBe(`cannot listen on 127.0.0.1:${port}: the address is in use (another bpfmem serve? give --port)`);
      expect((error as BpfmemError).code).toBe('system');
    } finally {
      await first.close();
    }
  });
});

// Last in this file: disposeAll() puts the process's cleanup registry in its closing state.
describe('stopping', () => {
  it('serves until a signal disposes it, then closes the server and returns', async () => {
    const p = program(fixtureDeps([]));
    const running = p.run(['serve', '--interval', '1s']);
    await until(() => p.stderr().includes('serving'), 'the serving line');
    const url = /serving (http:\/\/\S+)/.exec(p.stderr())?.[1] ?? '';
    expect(p.stderr()).toBe(`bpfmem: serving ${url} (scans every 1s): /metrics for Prometheus, / for the dashboard, /api/v1/summary; Ctrl-C stops\n`);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect(openCount()).toBe(1);
    // What src/bin/bpfmem.ts does on SIGINT and SIGTERM.
    expect(await disposeAll()).toEqual([]);
    await running;
    expect(openCount()).toBe(0);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });
});
