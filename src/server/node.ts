import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { BpfmemError } from '../vocab/errors.js';

/**
 * The Node listener of the app (hono's `fetch`): an HTTP/1.1 server with bounds on slow and
 * idle clients, and a close that lets answers in flight finish.
 */

/** Bounds on clients (node:http server options). */
export interface ListenLimits {
  /** A request's headers must arrive within this time of its first byte (`headersTimeout`). */
  readonly headersTimeoutMs: number;
  /** A whole request, body included, within this time (`requestTimeout`): a client trickling bytes is cut off. */
  readonly requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this time (`keepAliveTimeout`). */
  readonly keepAliveTimeoutMs: number;
  /**
   * A connection on which nothing moves, either way, for this long is closed (the server's
   * `timeout`): a client that stopped reading its answer, which would otherwise hold it, and
   * its slot, for good. A write that moved since it began gets one more period (net.js
   * `_onTimeout`), so a stalled answer is cut off after one to two periods.
   */
  readonly stalledTimeoutMs: number;
  /** How often node:http checks the two timeouts above (`connectionsCheckingInterval`). */
  readonly checkIntervalMs: number;
  /**
   * Connections at once. At the bound, a new connection closes the oldest one that has no
   * request in progress (still sending its headers, or idle between requests); only when every
   * connection is busy answering is the new one closed.
   */
  readonly maxConnections: number;
  /** Connections at once from one client address, bounded the same way. */
  readonly maxConnectionsPerClient: number;
  /** How long close() lets requests in flight finish before it cuts their connections. */
  readonly closeGraceMs: number;
}

export const DEFAULT_LISTEN_LIMITS: ListenLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  stalledTimeoutMs: 30_000,
  checkIntervalMs: 1_000,
  maxConnections: 1024,
  maxConnectionsPerClient: 512,
  closeGraceMs: 2_000,
};

/**
 * The connection bounds of {@link ListenLimits} (slowloris, issue 14): connections that send
 * nothing or trickle their headers, from one client or many, cannot hold every slot, because a
 * new connection takes the slot of the oldest one that is not being answered. A scrape sends its
 * request as soon as it connects and is then busy, so it keeps its slot to the end; a slow
 * client's connections are the oldest without a request and go first.
 */
export class ConnectionGuard {
  /** Open connections, oldest first (an idle keep-alive one moves to the end when it goes idle). */
  private readonly open = new Map<Socket, { readonly client: string; busy: boolean }>();
  private readonly perClient = new Map<string, number>();
  /** Connections closed to make room, and refused (everything busy): for tests and metrics. */
  evicted = 0;
  refused = 0;

  constructor(
    private readonly max: number,
    private readonly maxPerClient: number,
  ) {}

  get size(): number {
    return this.open.size;
  }

  /** A new connection: admitted, making room if it must, or closed. */
  admit(socket: Socket): void {
    const client = socket.remoteAddress ?? '';
    const full = ((this.perClient.get(client) ?? 0) >= this.maxPerClient && !this.evictOldest(client)) || (this.open.size >= this.max && !this.evictOldest(undefined));
    if (full) {
      this.refused++;
      socket.destroy();
      return;
    }
    this.open.set(socket, { client, busy: false });
    this.perClient.set(client, (this.perClient.get(client) ?? 0) + 1);
    socket.once('close', () => {
      this.forget(socket);
    });
  }

  /** A request arrived on the connection (busy), or its answer is done (idle again, the newest). */
  setBusy(socket: Socket, busy: boolean): void {
    const state = this.open.get(socket);
    if (!state) return;
    state.busy = busy;
    if (!busy) {
      this.open.delete(socket);
      this.open.set(socket, state);
    }
  }

  private evictOldest(client: string | undefined): boolean {
    for (const [socket, state] of this.open) {
      if (state.busy || (client !== undefined && state.client !== client)) continue;
      this.forget(socket);
      socket.destroy();
      this.evicted++;
      return true;
    }
    return false;
  }

  private forget(socket: Socket): void {
    const state = this.open.get(socket);
    if (!state) return;
    this.open.delete(socket);
    const n = (this.perClient.get(state.client) ?? 1) - 1;
    if (n > 0) this.perClient.set(state.client, n);
    else this.perClient.delete(state.client);
  }
}

export interface Listening {
  readonly server: Server;
  /** `http://HOST:PORT` with the port bound (a loopback address for an unspecified host). */
  readonly url: string;
  /** `http://HOST:PORT` as bound: `0.0.0.0` or `[::]` for every interface. */
  readonly bound: string;
  readonly guard: ConnectionGuard;
  close(): Promise<void>;
}

type Fetch = (request: Request) => Response | Promise<Response>;

/**
 * The headers of every answer refused before the app sees it: those of the app's own errors
 * (src/server/app.ts), and the connection closed.
 */
const REFUSAL_HEADERS = {
  'Content-Type': 'application/json; charset=utf-8',
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  Connection: 'close',
} as const;

/** {@link REFUSAL_HEADERS} of a refusal with this status and body. */
const refusalHeaders = (status: number, body: string): Record<string, string | number> => ({
  ...REFUSAL_HEADERS,
  'Content-Length': Buffer.byteLength(body),
  ...(status === 405 && { Allow: 'GET, HEAD, POST' }),
});

/**
 * The raw answer to a request node:http refuses before the app sees it, in the app's form (one
 * line of JSON, the same headers), closing the connection. The statuses are node:http's own
 * (lib/_http_server.js `socketOnError`).
 */
export function refusalResponse(status: 400 | 405 | 408 | 413 | 431, message: string): string {
  const reason = { 400: 'Bad Request', 405: 'Method Not Allowed', 408: 'Request Timeout', 413: 'Content Too Large', 431: 'Request Header Fields Too Large' }[status];
  const body = `${JSON.stringify({ error: message })}\n`;
  return [`HTTP/1.1 ${status} ${reason}`, ...Object.entries(refusalHeaders(status, body)).map(([k, v]) => `${k}: ${v}`), '', body].join('\r\n');
}

/** A refusal in the app's form (one line of JSON, its headers), closing the connection after it. */
function refuse(request: IncomingMessage, response: ServerResponse, status: 400 | 405 | 417, message: string): void {
  const body = `${JSON.stringify({ error: message })}\n`;
  response.writeHead(status, refusalHeaders(status, body));
  response.end(request.method === 'HEAD' ? undefined : body);
}

/** node:http's errors with an answer of their own; any other is a malformed request (400). */
const REFUSALS = new Map<string, [400 | 408 | 413 | 431, string]>([
  ['HPE_HEADER_OVERFLOW', [431, 'the request line and headers are larger than this server takes']],
  ['HPE_CHUNK_EXTENSIONS_OVERFLOW', [413, 'the chunk extensions are larger than this server takes']],
  ['ERR_HTTP_REQUEST_TIMEOUT', [408, 'the request did not arrive in time']],
  ['HPE_PAUSED_H2_UPGRADE', [400, 'bad request: this server speaks HTTP/1.1, not HTTP/2']],
]);

/** What node:http's parser said of a request it refused, as a status and one line. */
function refusalOf(error: NodeJS.ErrnoException): [400 | 408 | 413 | 431, string] {
  const code = error.code;
  return (code !== undefined && REFUSALS.get(code)) || [400, `bad request: ${code === undefined ? 'malformed' : `malformed (${code})`}`];
}

/** The URL a client on this machine reaches the server at, from the address bound (`--host 0` binds 0.0.0.0). */
function urlOf(address: string, port: number): string {
  const reach = address === '0.0.0.0' ? '127.0.0.1' : address === '::' ? '::1' : address;
  return hostUrl(reach, port);
}

/** `host:port` as a Host header or a message writes it (an IPv6 address in brackets). */
const hostPort = (host: string, port: number): string => `${host.includes(':') ? `[${host}]` : host}:${port}`;
/** A URL's `%` of an IPv6 zone is `%25` (RFC 6874): `http://[fe80::1%25eth0]:9464`. */
const hostUrl = (host: string, port: number): string => `http://${hostPort(host.replaceAll('%', '%25'), port)}`;

/** Listens on host:port (0: any free port). Rejects with a one-line `BpfmemError` when it cannot. */
export async function listen(fetch: Fetch, host: string, port: number, limits: ListenLimits = DEFAULT_LISTEN_LIMITS): Promise<Listening> {
  // A request hono's adapter cannot make a URL of (no Host, a Host that is no host, a backslash
  // in the path) is answered 400 like any other bad request: one line of JSON, the same headers.
  const handle = getRequestListener(fetch, {
    errorHandler: (error) =>
      new Response(`${JSON.stringify({ error: `bad request: ${error instanceof Error ? error.message : String(error)}` })}\n`, {
        status: 400,
        headers: REFUSAL_HEADERS,
      }),
  });
  // The Host of a request that names none: the address bound, once it is.
  let hostHeader = '';
  // Not server.maxConnections: it closes the newest connection, the scrape, and keeps the slow ones.
  const guard = new ConnectionGuard(limits.maxConnections, limits.maxConnectionsPerClient);
  const server = createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      connectionsCheckingInterval: limits.checkIntervalMs,
      noDelay: true,
      // A request without the Host HTTP/1.1 requires reaches the adapter, which refuses it in the app's form.
      requireHostHeader: false,
    },
    (request, response) => {
      // HTTP/1.0 may leave Host out, which then names this server (RFC 9112 §3.2); the adapter
      // needs one to make the request's URL.
      if (request.headers.host === undefined && request.httpVersion === '1.0') request.headers.host = hostHeader;
      // Two Host headers, or a target in absolute form (`GET http://other/…`, whose authority
      // would replace Host), ask of a proxy what this server is not: 400 (RFC 9112 §3.2, §3.2.2).
      // Answered through `response`, not written to the socket: node:http sends answers in the
      // order of the requests, so a pipelined request before this one still gets its own.
      const url = request.url ?? '/';
      if (url === '*') {
        refuse(request, response, 405, `${request.method ?? 'OPTIONS'} *: this server answers GET, HEAD and POST on its paths`);
        return;
      }
      const refusal = (request.headersDistinct['host']?.length ?? 0) > 1 ? 'more than one Host header' : !url.startsWith('/') ? 'a request target in absolute form is for a proxy; ask for /path' : undefined;
      if (refusal !== undefined) {
        refuse(request, response, 400, `bad request: ${refusal}`);
        return;
      }
      guard.setBusy(request.socket, true);
      response.once('close', () => {
        guard.setBusy(request.socket, false);
      });
      void handle(request, response);
    },
  );
  server.on('connection', (socket: Socket) => {
    guard.admit(socket);
  });
  // A client that stopped reading: no 'timeout' listener, so node:http destroys the socket.
  server.setTimeout(limits.stalledTimeoutMs);
  // A request node:http refuses (malformed 400, headers too large 431, too slow 408) is answered
  // as node:http would, on a connection that has had no answer yet, in the app's form.
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    if (socket.writable && socket.bytesWritten === 0 && error.code !== 'ECONNRESET') socket.write(refusalResponse(...refusalOf(error)));
    socket.destroy();
  });
  // An `Expect` other than 100-continue (which node:http answers itself): 417, in the app's form.
  server.on('checkExpectation', (request: IncomingMessage, response: ServerResponse) => {
    refuse(request, response, 417, 'expectation failed: this server meets no Expect but 100-continue');
  });
  // CONNECT asks for a tunnel, which this server never opens.
  server.on('connect', (request: { method?: string }, socket: Socket) => {
    socket.end(refusalResponse(405, `${request.method ?? 'CONNECT'}: method not allowed; this server answers GET, HEAD and POST`));
    socket.destroySoon();
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      const why =
        error.code === 'EADDRINUSE'
          ? 'the address is in use (another bpfmem serve? give --port)'
          : error.code === 'EADDRNOTAVAIL'
            ? 'no interface of this machine has that address'
            : error.code === 'EACCES'
              ? 'permission denied'
              : error.code === 'ENOTFOUND' || error.code === 'EAI_AGAIN'
                ? 'no such host'
                : error.message;
      reject(new BpfmemError('system', `cannot listen on ${hostPort(host, port)}: ${why}`, { cause: error }));
    };
    server.once('error', onError);
    server.listen({ host, port, exclusive: true }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  hostHeader = hostPort(address.address, address.port);
  let closing: Promise<void> | undefined;
  return {
    server,
    url: urlOf(address.address, address.port),
    bound: hostUrl(address.address, address.port),
    guard,
    close() {
      closing ??= new Promise<void>((resolve) => {
        const grace = setTimeout(() => {
          server.closeAllConnections();
        }, limits.closeGraceMs);
        grace.unref();
        server.close(() => {
          clearTimeout(grace);
          resolve();
        });
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}
