import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
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
  /** Connections at once; more are closed as they come (`server.maxConnections`). */
  readonly maxConnections: number;
  /** How long close() lets requests in flight finish before it cuts their connections. */
  readonly closeGraceMs: number;
}

export const DEFAULT_LISTEN_LIMITS: ListenLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  checkIntervalMs: 1_000,
  maxConnections: 1024,
  closeGraceMs: 2_000,
};

export interface Listening {
  readonly server: Server;
  /** `http://HOST:PORT` with the port bound (a loopback address for an unspecified host). */
  readonly url: string;
  close(): Promise<void>;
}

type Fetch = (request: Request) => Response | Promise<Response>;

/** The address a client reaches the server at. */
function urlOf(host: string, port: number): string {
  const reach = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${reach.includes(':') ? `[${reach}]` : reach}:${port}`;
}

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
  const server = createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      connectionsCheckingInterval: limits.checkIntervalMs,
      noDelay: true,
    },
    (request, response) => {
      void handle(request, response);
    },
  );
  server.maxConnections = limits.maxConnections;
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
