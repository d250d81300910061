import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BpfmemError } from '../../src/vocab/errors.js';
import { acceptsGzip, createApp, hostnameOf, noneMatch } from '../../src/server/app.js';
import { formatDuration, parseDuration } from '../../src/vocab/duration.js';
import { fixtureSource } from '../../src/server/index.js';
import { mapQuery, progQuery, type QueryValues } from '../../src/server/query.js';
import { Scanner } from '../../src/server/scanner.js';
import { notBuiltPage } from '../../src/server/static.js';
import { describeMachine } from '../../src/live/machine.js';
import { fixtureInput } from './fixture.js';

/**
 * Every parser of what a client sends, fuzzed: durations (`--interval`), query strings, Host
 * headers, and whole requests to the app (method, path, query, body). No crash, no hang, no 500:
 * a value or a `BpfmemError` of one line, an answer of 2xx/3xx/4xx with one line of JSON when
 * it is an error.
 */

describe('parseDuration', () => {
  it('takes any text without throwing: a whole number of ms or undefined', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 64 }), (text) => {
        const ms = parseDuration(text);
        expect(ms === undefined || (Number.isSafeInteger(ms) && ms >= 0)).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });

  it('reads back what formatDuration writes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 999 * 3_600_000 }), (ms) => {
        expect(parseDuration(formatDuration(ms))).toBe(ms);
      }),
      { numRuns: 5000 },
    );
  });

  it('reads groups of digits and units in order', () => {
    const unitGroups = fc.tuple(fc.option(fc.nat(99)), fc.option(fc.nat(59)), fc.option(fc.nat(59)), fc.option(fc.nat(999)));
    fc.assert(
      fc.property(unitGroups, ([h, m, s, ms]) => {
        const text = `${h === null ? '' : `${h}h`}${m === null ? '' : `${m}m`}${s === null ? '' : `${s}s`}${ms === null ? '' : `${ms}ms`}`;
        const expected = (h ?? 0) * 3_600_000 + (m ?? 0) * 60_000 + (s ?? 0) * 1000 + (ms ?? 0);
        expect(parseDuration(text)).toBe(text === '' ? undefined : expected);
      }),
      { numRuns: 5000 },
    );
  });

  it.each([
    ['15s', 15_000],
    ['1m', 60_000],
    ['1m30s', 90_000],
    ['500ms', 500],
    ['1h', 3_600_000],
    ['0s', 0],
    ['1.5s', 1500],
    ['1m30.5s', 90_500],
    ['0.0004s', 0],
  ])('%s is %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', '15', 's', '1.s', '.5s', '1.5.5s', '-1s', '1s1m', '1s1s', '1d', ' 1s', '1s ', '1S', '99999999999999999999h'])('%j is not a duration', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
});

describe('query strings', () => {
  const names = fc.constantFrom('cgroup', 'pid', 'type', 'sort', 'other', '');
  const values = fc.oneof(
    fc.string({ maxLength: 40 }),
    fc.constantFrom('/', '/kubepods', '/a/../b', '/a/./b', '/a//b/', '1', '4242', '0', '-1', '1e3', 'hash', 'percpu_array', 'xdp', 'id', 'memlock', 'charge', 'insns'),
    fc.string({ unit: 'grapheme', maxLength: 20 }),
  );
  const query = fc.dictionary(names, fc.array(values, { maxLength: 3 }), { maxKeys: 5 });

  it.each([
    ['maps', mapQuery],
    ['progs', progQuery],
  ] as const)('%s: a filter, or a BpfmemError of one line', (_what, parse) => {
    fc.assert(
      fc.property(query, (q: QueryValues) => {
        try {
          const out = parse(q);
          if (out.filter.cgroup !== undefined) expect(out.filter.cgroup.startsWith('/')).toBe(true);
          if (out.filter.pid !== undefined) expect(Number.isSafeInteger(out.filter.pid) && out.filter.pid > 0).toBe(true);
        } catch (error) {
          expect(error).toBeInstanceOf(BpfmemError);
          const message = (error as BpfmemError).message;
          expect(message).not.toMatch(/[\n\r]/);
          expect(message.length).toBeLessThan(1000);
        }
      }),
      { numRuns: 5000 },
    );
  });
});

describe('Host headers', () => {
  it('hostnameOf takes any text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (host) => {
        expect(typeof hostnameOf(host)).toBe('string');
      }),
      { numRuns: 5000 },
    );
  });

  it('acceptsGzip: any text is answered, and the first gzip entry decides, whatever follows', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 120 }), (rest) => {
        expect(typeof acceptsGzip(rest)).toBe('boolean');
        expect(acceptsGzip(`gzip;q=0, ${rest}`)).toBe(false);
        expect(acceptsGzip(`br, GZIP;q=0.5,${rest}`)).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });

  it('noneMatch: any text is answered, and a list holding the tag, weak or not, matches', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 120 }), fc.boolean(), (other, weak) => {
        expect(typeof noneMatch(other, '"abc"')).toBe('boolean');
        expect(noneMatch(`${other.replace(/,/g, '')}, ${weak ? 'W/' : ''}"abc"`, '"abc"')).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });
});

describe('whole requests to the app', () => {
  let scanner: Scanner;
  let app: ReturnType<typeof createApp>;

  beforeAll(async () => {
    scanner = new Scanner(fixtureSource(fixtureInput()), { intervalMs: 3_600_000, perMapMetrics: 1000, historySeconds: 60 });
    await scanner.start();
    app = createApp({
      published: () => scanner.published,
      intervalSeconds: 3600,
      assets: new Map([['/assets/app.js', { ...notBuiltPage('/x'), type: 'text/javascript; charset=utf-8', immutable: true }]]),
      notBuilt: notBuiltPage('/nowhere'),
      // The scenario parser is fuzzed on its own (src/scenario/parse.fuzz.test.ts); here the HTTP around it.
      simulate: (text) => Promise.resolve(text.startsWith('bad') ? { status: 400, error: 'scenario:1: bad' } : { status: 200, body: '{}\n' }),
      machine: describeMachine,
      allowedHosts: new Set(['localhost', '127.0.0.1', '[::1]']),
    });
  });
  afterAll(async () => {
    await scanner.close();
  });

  const paths = fc.oneof(
    fc.webPath(),
    fc.constantFrom('/', '/metrics', '/healthz', '/api/v1/summary', '/api/v1/maps', '/api/v1/progs', '/api/v1/cgroups', '/api/v1/probe', '/api/v1/history', '/api/v1/simulate', '/assets/app.js', '/assets/../x'),
  );
  const queries = fc.oneof(fc.webQueryParameters(), fc.constantFrom('', 'type=hash', 'pid=x', 'cgroup=%2F..', 'sort=memlock', 'regime=both', 'name=%0A'));
  const methods = fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH');
  const hosts = fc.constantFrom('localhost', '127.0.0.1:9464', 'evil.example', '[::1]');
  const bodies = fc.oneof(fc.string({ maxLength: 200 }), fc.constant('bad'), fc.uint8Array({ maxLength: 64 }));

  it('every answer is 2xx, 3xx or 4xx, an error one line of JSON', async () => {
    await fc.assert(
      fc.asyncProperty(methods, paths, queries, hosts, bodies, async (method, path, query, host, body) => {
        let url: URL;
        try {
          url = new URL(`http://127.0.0.1${path}${query ? `?${query}` : ''}`);
        } catch {
          return; // not a URL a client could send
        }
        const hasBody = method !== 'GET' && method !== 'HEAD';
        const r = await app.request(url.href, { method, headers: { host }, ...(hasBody ? { body } : {}) });
        expect(r.status).toBeGreaterThanOrEqual(200);
        expect(r.status).toBeLessThan(500);
        if (r.status >= 400) {
          const text = await r.text();
          if (method !== 'HEAD') {
            expect(text.trimEnd()).not.toContain('\n');
            expect(typeof (JSON.parse(text) as { error: unknown }).error).toBe('string');
          }
        } else await r.arrayBuffer();
      }),
      { numRuns: 3000 },
    );
  });
});
