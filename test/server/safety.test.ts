import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { get as httpGet } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureSource, startServer, type RunningServer } from '../../src/server/index.js';
import { describeMachine } from '../../src/live/machine.js';
import { DEFAULT_SERVER_LIMITS, startServerWith } from '../../src/server/server.js';
import { fixtureInput } from './fixture.js';
import { addressOf, closedByServer, openSocket, rawGet, rawRequest, sleep, until } from './helpers.js';

/**
 * Bad requests get a 4xx and the server stays up: unknown paths, path traversal on /assets/,
 * wrong methods, garbage, huge headers, Host names of other sites, clients that trickle bytes or
 * say nothing, many connections at once. And it listens on 127.0.0.1 unless told otherwise.
 */

let dir = '';
let web = '';
let server: RunningServer;

/** The server still answers. */
async function alive(url: string): Promise<void> {
  const r = await fetch(`${url}/healthz`);
  expect(r.status).toBe(200);
}

beforeAll(async () => {
  // A dashboard whose directory sits beside a file nobody may read through the server.
  dir = await mkdtemp(join(tmpdir(), 'bpfmem-safety-'));
  web = join(dir, 'web');
  await mkdir(join(web, 'assets'), { recursive: true });
  await writeFile(join(web, 'index.html'), '<!doctype html>dashboard\n');
  await writeFile(join(web, 'assets', 'app.js'), 'app\n');
  await writeFile(join(dir, 'package.json'), 'TOP SECRET\n');
  await writeFile(join(dir, 'secret'), 'TOP SECRET\n');
  server = await startServer({ port: 0, source: { ...fixtureSource(fixtureInput()), machine: describeMachine }, webRoot: web });
});
afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

describe('where it listens', () => {
  it('127.0.0.1 by default, and not on the other addresses of this machine', async () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const { port } = addressOf(server.url);
    const others = Object.values(networkInterfaces())
      .flat()
      .filter((a) => a !== undefined && a.family === 'IPv4' && !a.internal)
      .map((a) => a?.address ?? '');
    for (const address of others) {
      const error = await new Promise<string>((resolve) => {
        const s = connect({ host: address, port }, () => {
          s.destroy();
          resolve('connected');
        });
        s.once('error', (e: NodeJS.ErrnoException) => {
          resolve(e.code ?? e.message);
        });
      });
      expect(error).toBe('ECONNREFUSED');
    }
  });
});

describe('unknown paths', () => {
  it.each(['/x', '/api', '/api/v1', '/api/v1/', '/metrics/', '/api/v2/summary', '/healthz/x', '/API/V1/SUMMARY', '/%ZZ', '/api/v1/maps/1'])('GET %s → 404, one line of JSON', async (path) => {
    const r = await rawGet(server.url, path);
    expect(r.status).toBe(404);
    expect(r.text).toMatch(/\r\ncontent-type: application\/json; charset=utf-8\r\n/i);
    const body = r.text.slice(r.text.indexOf('\r\n\r\n') + 4);
    expect(body.trimEnd()).not.toContain('\n');
    expect((JSON.parse(body) as { error: string }).error).toMatch(/^not found: /);
  });
});

describe('path traversal on /assets/', () => {
  const attempts = [
    '/assets/../package.json',
    '/assets/../../package.json',
    '/assets/%2e%2e/package.json',
    '/assets/%2E%2E/%2E%2E/package.json',
    '/assets/..%2fpackage.json',
    '/assets/..%2f..%2fpackage.json',
    '/assets/%2e%2e%2fsecret',
    '/assets/%252e%252e/secret',
    '/assets/..%5c..%5csecret',
    '/assets//etc/passwd',
    '/assets/%2fetc%2fpasswd',
    '/assets/%2Fetc%2Fpasswd',
    `/assets/${encodeURIComponent(join(dir, 'secret'))}`,
    '/assets/app.js%00',
    '/assets/app.js%00.html',
    '/assets/%00',
    '/assets/./app.js/..',
    '/assets/../../../../../../etc/passwd',
    '/..%2f..%2fetc%2fpasswd',
    '//etc/passwd',
  ];
  it.each(attempts)('GET %s → 404, nothing of the files beside the dashboard', async (target) => {
    const r = await rawGet(server.url, target);
    expect(r.status).toBe(404);
    expect(r.text).not.toContain('TOP SECRET');
    expect(r.text).not.toContain('root:');
  });

  it('a raw NUL or a space in the target is refused by the HTTP parser (400)', async () => {
    for (const target of ['/assets/app.js\0', '/assets/a b']) {
      const r = await rawGet(server.url, target);
      expect(r.status).toBe(400);
    }
    await alive(server.url);
  });

  it('a backslash is not a URL: 400 before any route, one line of JSON', async () => {
    const r = await rawGet(server.url, '/assets/..\\..\\secret');
    expect(r.status).toBe(400);
    expect(r.text).toContain('{"error":"bad request: ');
    expect(r.text).not.toContain('TOP SECRET');
  });

  it('the real file is served, at its path only', async () => {
    expect((await rawGet(server.url, '/assets/app.js')).status).toBe(200);
    // Dot segments that stay inside resolve as URLs do (the URL parser removes them) before the lookup.
    expect((await rawGet(server.url, '/x/../assets/app.js')).status).toBe(200);
  });
});

describe('wrong methods', () => {
  const cases: [string, string, string][] = [
    ['POST', '/metrics', 'GET, HEAD'],
    ['DELETE', '/api/v1/maps', 'GET, HEAD'],
    ['PUT', '/api/v1/summary', 'GET, HEAD'],
    ['PATCH', '/healthz', 'GET, HEAD'],
    ['OPTIONS', '/api/v1/cgroups', 'GET, HEAD'],
    ['GET', '/api/v1/simulate', 'POST'],
    ['PUT', '/api/v1/simulate', 'POST'],
    ['POST', '/', 'GET, HEAD'],
    ['DELETE', '/assets/app.js', 'GET, HEAD'],
  ];
  it.each(cases)('%s %s → 405, Allow: %s', async (method, path, allow) => {
    const r = await fetch(`${server.url}${path}`, { method, ...(method === 'POST' || method === 'PUT' ? { body: 'x' } : {}) });
    expect(r.status).toBe(405);
    expect(r.headers.get('allow')).toBe(allow);
    expect(((await r.json()) as { error: string }).error).toContain('method not allowed');
  });

  it('TRACE and an unknown method are refused', async () => {
    expect((await rawRequest(server.url, 'TRACE /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')).status).toBe(405);
    expect((await rawRequest(server.url, 'BREW /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')).status).toBe(400);
    await alive(server.url);
  });

  it.each(['PUT', 'DELETE', 'PATCH', 'OPTIONS', 'POST', 'TRACE', 'PROPFIND'])('%s of a path the server does not have → 404, as GET', async (method) => {
    const r = await rawRequest(server.url, `${method} /nonexistent HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
    expect(r.status).toBe(404);
    expect(r.text).not.toMatch(/\r\nallow:/i);
    expect((JSON.parse(r.text.split('\r\n\r\n')[1] ?? '') as { error: string }).error).toMatch(/^not found: "\/nonexistent"/);
  });

  it.each(['/metrics', '/nonexistent', '/api/v1/simulate'])('a method node:http does not know (FOO %s), or a lower-case one, is refused by its parser: 400, whatever the path', async (path) => {
    for (const method of ['FOO', 'get']) {
      const r = await rawRequest(server.url, `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
      expect(r.status).toBe(400);
      expect(r.closedByServer).toBe(true);
      expect(r.text.split('\r\n\r\n')[1]).toBe('{"error":"bad request: malformed (HPE_INVALID_METHOD)"}\n');
    }
    await alive(server.url);
  });

  it('a refused request after a good one on the same connection: each gets its answer, in order (RFC 9112 §9.3.2)', async () => {
    const good = 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';
    for (const bad of ['GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n\r\n', 'GET http://evil.example/healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n']) {
      const r = await rawRequest(server.url, good + bad);
      expect([...r.text.matchAll(/^HTTP\/1\.1 (\d{3})/gm)].map((m) => m[1])).toEqual(['200', '400']);
      expect(r.closedByServer).toBe(true);
    }
    await alive(server.url);
  });

  it('OPTIONS * (the asterisk form, RFC 9112 §3.2.4): 405 with what the server answers', async () => {
    const r = await rawRequest(server.url, 'OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    expect(r.status).toBe(405);
    expect(r.text).toMatch(/\r\nAllow: GET, HEAD, POST\r\n/i);
    expect(r.text.split('\r\n\r\n')[1]).toBe(`${JSON.stringify({ error: 'OPTIONS *: this server answers GET, HEAD and POST on its paths' })}\n`);
  });

  it('an Expect it cannot meet: 417 in one line of JSON', async () => {
    const r = await rawRequest(server.url, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: bogus\r\nConnection: close\r\n\r\n');
    expect(r.status).toBe(417);
    expect(r.text.split('\r\n\r\n')[1]).toBe('{"error":"expectation failed: this server meets no Expect but 100-continue"}\n');
    await alive(server.url);
  });

  it('HEAD of a GET route answers without a body, with the length GET sends', async () => {
    for (const path of ['/metrics', '/api/v1/summary', '/api/v1/maps', '/', '/healthz', '/api/v1/probe']) {
      for (const encoding of ['identity', 'gzip']) {
        const get = await rawGet(server.url, path, `Accept-Encoding: ${encoding}\r\n`);
        const head = await rawRequest(server.url, `HEAD ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept-Encoding: ${encoding}\r\nConnection: close\r\n\r\n`);
        const length = (text: string): string | undefined => /\r\ncontent-length: (\d+)\r\n/i.exec(text)?.[1];
        expect(head.status, path).toBe(200);
        expect(length(head.text), `${path} ${encoding}`).toBe(length(get.text));
        expect(length(head.text), `${path} ${encoding}: a length at all`).toMatch(/^\d+$/);
        expect(head.text.split('\r\n\r\n')[1], path).toBe('');
      }
    }
  });
});

describe('garbage and oversized requests', () => {
  it.each([
    ['not HTTP', 'hello\r\n\r\n'],
    ['a bad header line', 'GET /metrics HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n'],
    ['two Content-Lengths', 'POST /api/v1/simulate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab'],
    ['HTTP/2 preface on HTTP/1.1', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'],
  ])('%s → 400', async (_what, request) => {
    const r = await rawRequest(server.url, request);
    expect(r.status).toBe(400);
    expect(r.closedByServer).toBe(true);
    expect(r.text.split('\r\n\r\n')[1]).toMatch(/^\{"error":"bad request: (malformed \(HPE_[A-Z_]+\)|this server speaks HTTP\/1\.1, not HTTP\/2)"\}\n$/);
    await alive(server.url);
  });

  it('headers larger than 16 KiB → 431, one line of JSON like every other refusal', async () => {
    const r = await rawRequest(server.url, `GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(r.status).toBe(431);
    expect(r.text).toMatch(/\r\nContent-Type: application\/json; charset=utf-8\r\n/);
    expect(r.text).toMatch(/\r\nX-Content-Type-Options: nosniff\r\n/);
    expect(r.text).toMatch(/\r\nReferrer-Policy: no-referrer\r\n/);
    expect(r.text.split('\r\n\r\n')[1]).toBe('{"error":"the request line and headers are larger than this server takes"}\n');
    await alive(server.url);
  });

  it('CONNECT asks for a tunnel: 405, one line of JSON, closed', async () => {
    const r = await rawRequest(server.url, 'CONNECT /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    expect(r.status).toBe(405);
    expect(r.closedByServer).toBe(true);
    expect(r.text).toContain('{"error":"CONNECT: method not allowed; this server answers GET, HEAD and POST"}');
    expect(r.text).toMatch(/\r\nReferrer-Policy: no-referrer\r\n/i);
    expect(r.text).toMatch(/\r\nAllow: GET, HEAD, POST\r\n/i);
    await alive(server.url);
  });

  it('a URL of 20,000 characters → 431 (it counts against the header size)', async () => {
    const r = await rawGet(server.url, `/api/v1/maps?type=${'a'.repeat(20_000)}`);
    expect(r.status).toBe(431);
    await alive(server.url);
  });
});

describe('Host names (DNS rebinding)', () => {
  it.each(['evil.example', 'evil.example:9464', '127.0.0.1.nip.io', 'localhost.evil.example'])('Host: %s → 403 on a loopback server', async (host) => {
    const r = await rawRequest(server.url, `GET /api/v1/maps HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    expect(r.status).toBe(403);
    expect(r.text).toContain('is not a name of this server');
    expect(r.text).not.toContain('flows');
  });

  it.each(['localhost', 'LOCALHOST:1234', '127.0.0.1', '[::1]:80'])('Host: %s is answered', async (host) => {
    const r = await rawRequest(server.url, `GET /healthz HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    expect(r.status).toBe(200);
  });

  it('HTTP/1.0 without Host names this server (RFC 9112 §3.2) and is answered', async () => {
    const r = await rawRequest(server.url, 'GET /healthz HTTP/1.0\r\n\r\n');
    expect(r.status).toBe(200);
    expect(r.text).toContain('"status":"ok"');
  });

  // Refused by the server before the app (two Host headers, an absolute-form target) or by
  // hono's node adapter (no Host, a Host no URL holds, a backslash): 400, one line of JSON, the
  // headers of every other error, the connection closed, and the server goes on.
  it.each([
    ['two Host headers (RFC 9112 §3.2)', 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n', 'more than one Host header'],
    ['a target in absolute form (§3.2.2)', 'GET http://evil.example/healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n', 'a request target in absolute form is for a proxy; ask for /path'],
    ['an absolute-form target that climbs', 'GET http://127.0.0.1/assets/../../secret HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n', 'a request target in absolute form is for a proxy; ask for /path'],
    ['HTTP/1.1 without Host (§3.2)', 'GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n', 'Missing host header'],
    ['a Host that is no host', 'GET /healthz HTTP/1.1\r\nHost: [::1\r\nConnection: close\r\n\r\n', 'Invalid URL'],
    ['a backslash in the path', 'GET /a\\b HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n', 'Backslash in request path'],
  ])('%s: 400 in one line of JSON with the headers of every other error', async (_what, request, why) => {
    const r = await rawRequest(server.url, request);
    expect(r.status).toBe(400);
    const [head = '', body] = r.text.split('\r\n\r\n');
    expect(body).toBe(`${JSON.stringify({ error: `bad request: ${why}` })}\n`);
    expect(head).toMatch(/\r\ncontent-type: application\/json; charset=utf-8\r\n/i);
    expect(head).toMatch(/\r\nx-content-type-options: nosniff\r\n/i);
    expect(head).toMatch(/\r\ncache-control: no-store\r\n/i);
    expect(head).toMatch(/\r\nreferrer-policy: no-referrer\r\n/i);
    expect(r.closedByServer).toBe(true);
    await alive(server.url);
  });

  it.each(['127.1', '127.0.0.2'])('--host %s is loopback by the address it binds: the Host check holds, and it answers its own name', async (host) => {
    const odd = await startServer({ host, port: 0, source: fixtureSource(fixtureInput()) });
    try {
      expect(odd.loopback).toBe(true);
      expect((await rawRequest(odd.url, 'GET /healthz HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n')).status).toBe(403);
      expect((await rawRequest(odd.url, `GET /healthz HTTP/1.1\r\nHost: ${host}:${addressOf(odd.url).port}\r\nConnection: close\r\n\r\n`)).status).toBe(200);
    } finally {
      await odd.close();
    }
  });

  it('a server on every address answers any name', async () => {
    const open = await startServer({ host: '0.0.0.0', port: 0, source: fixtureSource(fixtureInput()) });
    try {
      expect(open.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect((await rawRequest(open.url, 'GET /healthz HTTP/1.1\r\nHost: node-7.example\r\nConnection: close\r\n\r\n')).status).toBe(200);
    } finally {
      await open.close();
    }
  });
});

describe('slow and idle clients', () => {
  let slow: RunningServer;
  beforeAll(async () => {
    slow = await startServerWith(
      { port: 0, source: fixtureSource(fixtureInput()) },
      { ...DEFAULT_SERVER_LIMITS, listen: { ...DEFAULT_SERVER_LIMITS.listen, headersTimeoutMs: 500, requestTimeoutMs: 1000, keepAliveTimeoutMs: 300, checkIntervalMs: 100 } },
    );
  });
  afterAll(async () => {
    await slow.close();
  });

  it('a client that trickles its headers is cut off (408)', async () => {
    const socket = await openSocket(slow.url);
    const closed = closedByServer(socket);
    const request = 'GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ' + 'a'.repeat(200);
    let sent = 0;
    const state = { stop: false };
    void closed.then(() => (state.stop = true));
    // One byte every 50 ms, for longer than the headers may take; never the end of the headers.
    while (!state.stop && sent < request.length) {
      socket.write(request.charAt(sent++));
      await sleep(50);
    }
    const answer = await closed;
    expect(state.stop).toBe(true);
    expect(sent).toBeLessThan(request.length);
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    await alive(slow.url);
  });

  it('a client that trickles a body is cut off', async () => {
    const socket = await openSocket(slow.url);
    const closed = closedByServer(socket);
    const state = { stop: false };
    void closed.then(() => (state.stop = true));
    socket.write('POST /api/v1/simulate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\n');
    let sent = 0;
    while (!state.stop && sent < 100_000) {
      socket.write('#');
      sent++;
      await sleep(20);
    }
    await closed;
    expect(state.stop).toBe(true);
    expect(sent).toBeLessThan(100_000);
    await alive(slow.url);
  });

  it('a connection that says nothing is closed', async () => {
    const socket = await openSocket(slow.url);
    expect(await closedByServer(socket)).toMatch(/^(HTTP\/1\.1 408 |)/);
  });

  it('a client that stops reading its answer is cut off, not held for good', async () => {
    // 50,000 maps: an answer of some 17 MB, more than the socket buffers of loopback hold.
    const big = await startServerWith(
      { port: 0, source: fixtureSource(fixtureInput(50_000)) },
      { ...DEFAULT_SERVER_LIMITS, listen: { ...DEFAULT_SERVER_LIMITS.listen, stalledTimeoutMs: 300, checkIntervalMs: 100 } },
    );
    try {
      const socket = await openSocket(big.url);
      socket.write('GET /api/v1/maps HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept-Encoding: identity\r\n\r\n');
      // Read nothing for a while once the answer has begun (the server's writes stall on the full
      // buffers; building 17 MB can itself take seconds on a busy machine), then all.
      socket.pause();
      while (socket.bytesRead === 0) await sleep(20);
      await sleep(2000);
      let text = '';
      socket.setEncoding('latin1');
      socket.on('data', (d: string) => (text += d));
      const closed = new Promise<void>((resolve) => {
        socket.once('close', () => {
          resolve();
        });
      });
      socket.resume();
      await closed;
      const length = Number(/\r\ncontent-length: (\d+)\r\n/i.exec(text)?.[1]);
      expect(length).toBeGreaterThan(16 * 1024 * 1024);
      expect(text.length - text.indexOf('\r\n\r\n') - 4).toBeLessThan(length);
      await alive(big.url);
    } finally {
      await big.close();
    }
  });

  it('an idle keep-alive connection is closed after its answer', async () => {
    const socket = await openSocket(slow.url);
    const closed = closedByServer(socket);
    socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    expect(await closed).toMatch(/^HTTP\/1\.1 200 /);
  });
});

describe('many connections at once', () => {
  it('500 concurrent requests on their own connections are all answered', async () => {
    const paths = ['/metrics', '/api/v1/maps', '/api/v1/summary', '/healthz', '/api/v1/history'];
    // agent: false: a connection of its own for every request, all opened at once.
    const status = (path: string): Promise<number> =>
      new Promise((resolve, reject) => {
        httpGet(`${server.url}${path}`, { agent: false }, (res) => {
          res.resume();
          res.on('end', () => {
            resolve(res.statusCode ?? 0);
          });
        }).on('error', reject);
      });
    const answers = await Promise.all(Array.from({ length: 500 }, (_, i) => status(paths[i % paths.length] ?? '/')));
    expect(answers.filter((s) => s !== 200)).toEqual([]);
  });

  it('200 idle connections do not stop others from being answered', async () => {
    const idle = await Promise.all(Array.from({ length: 200 }, () => openSocket(server.url)));
    try {
      await alive(server.url);
      expect((await fetch(`${server.url}/api/v1/summary`)).status).toBe(200);
    } finally {
      for (const s of idle) s.destroy();
    }
  });

  it('connections over the bound are closed as they come; the server stays up', async () => {
    const bounded = await startServerWith({ port: 0, source: fixtureSource(fixtureInput()) }, { ...DEFAULT_SERVER_LIMITS, listen: { ...DEFAULT_SERVER_LIMITS.listen, maxConnections: 20 } });
    try {
      const sockets = await Promise.all(Array.from({ length: 40 }, () => openSocket(bounded.url)));
      const closes = sockets.map((s) => closedByServer(s));
      let closed = 0;
      for (const p of closes) void p.then(() => closed++);
      // The 20 over the bound are closed, however long a busy machine takes to say so; then, a
      // moment later, still only those 20.
      while (closed < 20) await sleep(20);
      await sleep(100);
      expect(closed).toBe(20);
      for (const s of sockets) s.destroy();
      await Promise.all(closes);
      await alive(bounded.url);
    } finally {
      await bounded.close();
    }
  });
});

describe('slow clients cannot blind the server (slowloris, issue 14)', () => {
  /** A GET on a connection of its own; the status, or 0 when the connection failed. */
  const scrape = (url: string, path: string): Promise<number> =>
    new Promise((resolve) => {
      httpGet(`${url}${path}`, { agent: false }, (res) => {
        res.resume();
        res.on('end', () => {
          resolve(res.statusCode ?? 0);
        });
      }).on('error', () => {
        resolve(0);
      });
    });

  it('with 300 connections from this client that never finish their headers, every /metrics scrape is answered', async () => {
    // Bounds small enough to reach on 127.0.0.1; the header timeout long enough not to help.
    const limits = { ...DEFAULT_SERVER_LIMITS.listen, maxConnections: 100, maxConnectionsPerClient: 50, headersTimeoutMs: 60_000, requestTimeoutMs: 120_000 };
    const bounded = await startServerWith({ port: 0, source: fixtureSource(fixtureInput()) }, { ...DEFAULT_SERVER_LIMITS, listen: limits });
    const sockets: import('node:net').Socket[] = [];
    const state = { stop: false, opened: 0, closed: 0 };
    // The attacker opens 300, and opens another each time one is closed (at most 900 in all).
    const openSlow = async (): Promise<void> => {
      if (state.stop || state.opened >= 900) return;
      state.opened++;
      let s: import('node:net').Socket;
      try {
        s = await openSocket(bounded.url);
      } catch {
        return;
      }
      sockets.push(s);
      s.on('error', () => undefined);
      s.once('close', () => {
        state.closed++;
        void openSlow();
      });
      s.write('GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
    };
    try {
      await Promise.all(Array.from({ length: 300 }, openSlow));
      // Let the server see them all.
      await until(() => state.closed >= 250, 'the connections over the bound to be closed');
      const statuses: number[] = [];
      for (let i = 0; i < 30; i++) statuses.push(await scrape(bounded.url, i % 2 ? '/metrics' : '/healthz'));
      expect(statuses.filter((s) => s !== 200)).toEqual([]);
      // The attacker still holds connections: the scrapes took the slots of its oldest.
      expect(sockets.filter((s) => !s.destroyed).length).toBeGreaterThan(0);
      expect(state.opened).toBeGreaterThan(300);
    } finally {
      state.stop = true;
      for (const s of sockets) s.destroy();
      await bounded.close();
    }
  });
});

describe('cross-origin POSTs (issue 14)', () => {
  const post = (headers: Record<string, string>): Promise<Response> =>
    fetch(`${server.url}/api/v1/simulate`, { method: 'POST', headers: { 'Content-Type': 'text/plain', ...headers }, body: 'kernel: "6.18"\nsteps: []\n' });

  it.each([
    [{ Origin: 'http://evil.example' }],
    [{ Origin: 'null' }],
    [{ Origin: 'http://127.0.0.1:1' }],
    [{ 'Sec-Fetch-Site': 'cross-site' }],
    [{ 'Sec-Fetch-Site': 'same-site' }],
    [{ 'Sec-Fetch-Site': 'cross-site', Origin: 'http://evil.example' }],
  ])('%j is refused (403)', async (headers) => {
    const r = await post(headers);
    expect(r.status).toBe(403);
    expect(((await r.json()) as { error: string }).error).toMatch(/^POST \/api\/v1\/simulate: cross-(site|origin) request refused/);
  });

  it('its own pages, and clients that are no browser, may POST', async () => {
    const own = new URL(server.url).host;
    for (const headers of [{}, { Origin: `http://${own}` }, { Origin: `http://${own}`, 'Sec-Fetch-Site': 'same-origin' }, { 'Sec-Fetch-Site': 'none' }]) {
      const r = await post(headers);
      expect(r.status).not.toBe(403);
    }
  });
});

describe('prototype names in the query (issue 14)', () => {
  it('parameters named after Object.prototype members are ignored like any unknown one', async () => {
    const plain = await (await fetch(`${server.url}/api/v1/maps`)).text();
    for (const q of ['__proto__=1', 'constructor=1', 'toString=x', 'hasOwnProperty=1&valueOf=2', '__proto__[type]=hash']) {
      const r = await fetch(`${server.url}/api/v1/maps?${q}`);
      expect(r.status).toBe(200);
      expect(await r.text()).toBe(plain);
    }
  });

  it.each(['sort=__proto__', 'sort=constructor', 'type=toString', 'type=__proto__', 'cgroup=constructor'])('%s is a bad value (400), and no function is printed', async (q) => {
    const r = await fetch(`${server.url}/api/v1/maps?${q}`);
    expect(r.status).toBe(400);
    expect(await r.text()).not.toMatch(/function|native code|\[object/);
  });
});
