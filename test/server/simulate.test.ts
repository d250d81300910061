import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatScenarioError, parseScenario } from '../../src/scenario/parse.js';
import { fixtureSource, startServer, type RunningServer } from '../../src/server/index.js';
import { DEFAULT_SERVER_LIMITS, startServerWith } from '../../src/server/server.js';
import { cli } from '../cli/run.js';
import { fixtureInput } from './fixture.js';
import { rawRequest } from './helpers.js';

/**
 * POST /api/v1/simulate: the CLI's `simulate --json` for a scenario sent as the body, run in a
 * worker thread; the parser's one line for a bad file (400), 413 above 256 KiB before the body
 * is read, and 503 for a run that would not end (stopped at 5 s) or when too many run at once.
 */

let server: RunningServer;
const post = (body: string | Uint8Array<ArrayBuffer>, query = ''): Promise<Response> => fetch(`${server.url}/api/v1/simulate${query}`, { method: 'POST', body });

beforeAll(async () => {
  server = await startServer({ port: 0, source: fixtureSource(fixtureInput()) });
});
afterAll(async () => {
  await server.close();
});

/** A scenario that asks the model for hours of work within the file limits: 1,000 steps of 100,000,000 inserts. */
/**
 * A run of seconds: 16 million inserts into a no-prealloc per-CPU hash, near the most the model
 * simulates in a run (MAX_SIMULATED_INSERTS; about 9 s here), far past the timeouts below.
 */
const FOREVER = [
  'kernel: { version: "6.18", cpus: 2 }',
  'cgroups: { /a: { max: max } }',
  'tasks: { t: { cgroup: /a } }',
  'steps:',
  '  - create_map: { task: t, name: m, type: percpu_hash, key: 8, value: 8, max_entries: 16000000, flags: no_prealloc }',
  '  - update: { map: m, count: 16000000 }',
  '',
].join('\n');

describe('POST /api/v1/simulate', () => {
  it.each([
    ['scenarios/example.yaml', []],
    ['scenarios/shared-budget.yaml', ['--regime', 'both']],
    ['scenarios/limit.yaml', ['--regime', 'memlock']],
    ['scenarios/percpu.yaml', ['--regime', 'none']],
  ])('%s %s: what bpfmem simulate --json prints, byte for byte', async (file, args) => {
    const expected = await cli(['simulate', file, '--json', ...args]);
    expect(expected.status).toBe(0);
    const regime = args[1] === undefined ? '' : `&regime=${args[1]}`;
    const r = await post(await readFile(file, 'utf8'), `?name=${encodeURIComponent(file)}${regime}`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await r.text()).toBe(expected.stdout);
  });

  it('a scenario without a name is called "scenario"', async () => {
    const r = await post('kernel: { version: "6.18" }\nsteps: []\n');
    expect(r.status).toBe(200);
    expect(((await r.json()) as { source: string }).source).toBe('scenario');
  });

  it.each([
    ['not YAML', 'kernel: [unclosed'],
    ['an unknown key', 'kernel: { version: "6.18" }\nsteps:\n  - create_map: { as: t }\n'],
    ['a list', '- 1\n- 2\n'],
    ['empty', ''],
    ['a step naming a map never made', 'kernel: { version: "6.18" }\ntasks: { t: { cgroup: / } }\nsteps:\n  - update: { map: nope, count: 1 }\n'],
  ])('a bad scenario (%s) → 400 with the parser\'s one line', async (_what, text) => {
    const r = await post(text, '?name=x.yaml');
    expect(r.status).toBe(400);
    const body = await r.text();
    expect(body.trimEnd()).not.toContain('\n');
    const { error } = JSON.parse(body) as { error: string };
    const parsed = parseScenario(text, 'x.yaml');
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(error).toBe(formatScenarioError(parsed.error));
  });

  it('a body that is not UTF-8 → 400', async () => {
    const r = await post(new Uint8Array([0x6b, 0x3a, 0xff, 0xfe, 0x0a]));
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: string }).error).toBe('scenario: the body is not UTF-8 text (a YAML or JSON scenario file)');
  });

  it.each([
    ['?regime=cgroup', 'regime="cgroup": expected memcg, memlock, none or both'],
    ['?regime=memcg&regime=memlock', 'regime="memcg,memlock": expected memcg, memlock, none or both'],
    ['?name=a%0Ab', 'name="a,b"'.replace(',', '\\n')],
    [`?name=${'n'.repeat(300)}`, 'name="nnnn'],
  ])('bad parameters %s → 400', async (query, start) => {
    const r = await post('steps: []\n', query);
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: string }).error.startsWith(start)).toBe(true);
  });

  it('a body of 256 KiB is read; one byte more → 413', async () => {
    const comment = (n: number): string => `#${'x'.repeat(n - 2)}\n`;
    const at = await post(`${comment(256 * 1024 - 10)}steps: []\n`);
    expect(at.status).not.toBe(413);
    const over = await post(comment(256 * 1024 + 1));
    expect(over.status).toBe(413);
    expect(((await over.json()) as { error: string }).error).toContain('larger than 256 KiB');
  });

  it('413 as soon as the headers announce too much: the body is not read', async () => {
    // 100 MB announced, 1 KiB sent: the answer comes without the rest.
    const r = await rawRequest(server.url, `POST /api/v1/simulate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000000\r\n\r\n${'#'.repeat(1024)}`, 60_000);
    expect(r.status).toBe(413);
    expect(r.closedByServer).toBe(true);
  });

  it('a chunked body is counted as it comes: 413 past the limit', async () => {
    const chunk = 'x'.repeat(64 * 1024);
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 8; i++) controller.enqueue(new TextEncoder().encode(chunk));
        controller.close();
      },
    });
    const r = await fetch(`${server.url}/api/v1/simulate`, { method: 'POST', body, duplex: 'half' });
    expect(r.status).toBe(413);
  });

  it('a run longer than its time (5 s by default, 1 s here, from when its worker has started) is stopped → 503; the server stays up', async () => {
    const quick = await startServerWith({ port: 0, source: fixtureSource(fixtureInput()) }, { ...DEFAULT_SERVER_LIMITS, simulate: { ...DEFAULT_SERVER_LIMITS.simulate, timeoutMs: 1000 } });
    try {
      const r = await fetch(`${quick.url}/api/v1/simulate?name=forever.yaml`, { method: 'POST', body: FOREVER });
      expect(r.status).toBe(503);
      expect(((await r.json()) as { error: string }).error).toBe('the simulation ran longer than 1 s and was stopped; try a smaller scenario, or run bpfmem simulate');
      expect((await fetch(`${quick.url}/healthz`)).status).toBe(200);
      expect((await fetch(`${quick.url}/api/v1/simulate`, { method: 'POST', body: 'kernel: { version: "6.18" }\nsteps: []\n' })).status).toBe(200);
    } finally {
      await quick.close();
    }
    expect(DEFAULT_SERVER_LIMITS.simulate.timeoutMs).toBe(5000);
  });

  it('a worker that cannot start within its own limit → 503 saying so, not that the scenario ran long', async () => {
    // No worker thread starts and loads the model within a millisecond.
    const busy = await startServerWith({ port: 0, source: fixtureSource(fixtureInput()) }, { ...DEFAULT_SERVER_LIMITS, simulate: { ...DEFAULT_SERVER_LIMITS.simulate, startTimeoutMs: 1 } });
    try {
      const r = await fetch(`${busy.url}/api/v1/simulate`, { method: 'POST', body: 'steps: []\n' });
      expect(r.status).toBe(503);
      expect(r.headers.get('retry-after')).toBe('5');
      expect(((await r.json()) as { error: string }).error).toBe('the simulation could not start within 0.001 s (the server is busy); try again');
      expect((await fetch(`${busy.url}/healthz`)).status).toBe(200);
    } finally {
      await busy.close();
    }
  });
});

describe('simulations at once', () => {
  it('one more than the bound → 503 with Retry-After, at once', async () => {
    const tight = await startServerWith(
      { port: 0, source: fixtureSource(fixtureInput()) },
      { ...DEFAULT_SERVER_LIMITS, simulate: { ...DEFAULT_SERVER_LIMITS.simulate, concurrent: 1, timeoutMs: 3000 } },
    );
    try {
      const first = fetch(`${tight.url}/api/v1/simulate`, { method: 'POST', body: FOREVER });
      // Wait until the first has its worker (the next request is refused only then).
      let second: Response | undefined;
      for (let i = 0; i < 100; i++) {
        second = await fetch(`${tight.url}/api/v1/simulate`, { method: 'POST', body: 'steps: []\n' });
        if (second.status === 503) break;
      }
      expect(second?.status).toBe(503);
      expect(second?.headers.get('retry-after')).toBe('3');
      expect(((await second?.json()) as { error: string }).error).toContain('simulations are running');
      expect((await first).status).toBe(503);
    } finally {
      await tight.close();
    }
  });

  it('closing the server stops a run under way (503)', async () => {
    const s = await startServer({ port: 0, source: fixtureSource(fixtureInput()) });
    const running = fetch(`${s.url}/api/v1/simulate`, { method: 'POST', body: FOREVER });
    await new Promise((r) => setTimeout(r, 300));
    await s.close();
    const r = await running;
    expect(r.status).toBe(503);
  });
});
