import { createServer, type Server } from 'node:http';
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

/** The address a client on this machine reaches the server at. */
function urlOf(host: string, port: number): string {
  const reach = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return hostUrl(reach, port);
}

const hostUrl = (host: string, port: number): string => `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

/** Listens on host:port (0: any free port). Rejects with a one-line `BpfmemError` when it cannot. */
export async function listen(fetch: Fetch, host: string, port: number, limits: ListenLimits = DEFAULT_LISTEN_LIMITS): Promise<Listening> {
  // A request hono's adapter cannot make a URL of (no Host, a backslash in the path) is
  // answered 400 like any other bad request: one line of JSON.
  const handle = getRequestListener(fetch, {
    errorHandler: (error) =>
      new Response(`${JSON.stringify({ error: `bad request: ${error instanceof Error ? error.message : String(error)}` })}\n`, {
        status: 400,
        headers: { 'Content-Type': 'application/json; charset=utf-8', Connection: 'close' },
      }),
  });
  // Not server.maxConnections: it closes the newest connection, the scrape, and keeps the slow ones.
  const guard = new ConnectionGuard(limits.maxConnections, limits.maxConnectionsPerClient);
  const server = createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      connectionsCheckingInterval: limits.checkIntervalMs,
      noDelay: true,
    },
    (request, response) => {
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
  // No 'clientError' listener: node:http's own answers a malformed request 400, headers too
  // large 431, a timed-out one 408, and closes the connection.
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
      reject(new BpfmemError('system', `cannot listen on ${host}:${port}: ${why}`, { cause: error }));
    };
    server.once('error', onError);
    server.listen({ host, port, exclusive: true }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    server,
    url: urlOf(host, address.port),
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
