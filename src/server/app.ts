import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { BpfmemError } from '../vocab/errors.js';
import { cgroupsJson, mapsJson, progsJson, summaryJson } from '../inspect/json.js';
import { json } from '../vocab/json.js';
import { filterMaps, filterProgs, firstMaps, sortMaps, sortProgs } from '../inspect/query.js';
import type { Inventory } from '../inspect/inventory.js';
import { parentOf } from '../vocab/cgroup-path.js';
import { quote } from '../vocab/fields.js';
import type { SimulateRegime } from '../simulate/result-json.js';
import type { MachineDescription } from '../live/machine.js';
import { METRICS_CONTENT_TYPE } from './metrics.js';
import { machineJson } from './probe.js';
import { frameJson } from '../watch/json.js';
import { historyJson } from './history.js';
import { mapQuery, progQuery } from './query.js';
import { METRICS_ANSWER, type Published } from './scanner.js';
import type { SimulateOutcome } from './simulate.js';
import type { Asset, Assets } from './static.js';

/**
 * The HTTP face of `bpfmem serve` as a hono app: a `fetch(Request) → Response` function that
 * tests call without a socket (`app.request('/metrics')`); src/server/node.ts listens. Every
 * answer is read from the last published scan; nothing here changes the machine.
 */

/** What the app reads. */
export interface AppContext {
  /** The last published scan; undefined until the first one ends. */
  published(): Published | undefined;
  readonly intervalSeconds: number;
  /** The dashboard's files (empty when it was not built) and the page shown at `/` then. */
  readonly assets: Assets;
  readonly notBuilt: Asset;
  simulate(text: string, source: string, regime: SimulateRegime | undefined): Promise<SimulateOutcome>;
  /** The facts of the machine the scans read (read once, by the caller); undefined for a fixture. */
  readonly machine: (() => Promise<MachineDescription>) | undefined;
  /**
   * Host names requests may name in `Host` (lower case, without port), or undefined for any. A
   * server on a loopback address answers only loopback names, so that a web page whose name an
   * attacker points at 127.0.0.1 (DNS rebinding) cannot read it from a browser on this machine.
   */
  readonly allowedHosts: ReadonlySet<string> | undefined;
}

/**
 * How old the last good scan may be before `/healthz` says `stale` (503): three intervals, and
 * never under a minute (a scan of 100,000 maps takes seconds, and a busy machine slows it).
 */
export const staleAfterSeconds = (intervalSeconds: number): number => Math.max(3 * intervalSeconds, 60);

/** The largest scenario `POST /api/v1/simulate` takes. */
export const SIMULATE_MAX_BODY = 256 * 1024;

/** Answers this long or longer are sent gzip-compressed to clients that take it. */
const GZIP_MIN = 16 * 1024;

const JSON_TYPE = 'application/json; charset=utf-8';
const REGIMES: readonly SimulateRegime[] = ['memcg', 'memlock', 'none', 'both'];

/** The dashboard's policy: its own scripts, styles and data only (echarts sets inline styles). */
const CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

const gzip = promisify(gzipCallback);
/** gzip on the thread pool (a few MB of per-map metrics must not stall the event loop). */
const compress = async (bytes: Uint8Array): Promise<Uint8Array<ArrayBuffer>> => new Uint8Array(await gzip(bytes));

const errorBody = (message: string): string => `${JSON.stringify({ error: message })}\n`;

/** A JSON answer made per request, with its Content-Length (so that HEAD, answered without the body, says it too). */
function jsonText(c: Context, text: string, status: 200 | 400 | 403 | 404 | 405 | 413 | 500 | 503, headers: Record<string, string> = {}): Response {
  return c.body(text, status, { 'Content-Type': JSON_TYPE, 'Cache-Control': 'no-store', 'Content-Length': String(Buffer.byteLength(text)), ...headers });
}

function errorResponse(c: Context, status: 400 | 403 | 404 | 405 | 413 | 500 | 503, message: string, headers: Record<string, string> = {}): Response {
  return jsonText(c, errorBody(message), status, headers);
}

/** The 404 of a `?cgroup=` the snapshot has no memory cgroup of, in the words of `bpfmem maps --cgroup`. */
const noSuchCgroup = (c: Context, cgroup: string | undefined): Response => errorResponse(c, 404, `cgroup=${quote(cgroup ?? '')}: no such memory cgroup on this machine`);

/**
 * Whether the client takes gzip: `Accept-Encoding` names `gzip` (or `*`) with a weight above 0
 * (RFC 9110 §12.5.3: `gzip;q=0` refuses it).
 */
export function acceptsGzip(header: string | undefined): boolean {
  if (header === undefined) return false;
  let star: boolean | undefined;
  for (const part of header.split(',')) {
    const [coding = '', ...params] = part.split(';').map((x) => x.trim().toLowerCase());
    const q = params.find((x) => x.startsWith('q='));
    const weight = q === undefined ? 1 : Number(q.slice(2));
    const takes = !Number.isNaN(weight) && weight > 0;
    if (coding === 'gzip' || coding === 'x-gzip') return takes;
    if (coding === '*') star = takes;
  }
  return star ?? false;
}

/** The most answers one published scan keeps: its fixed ones always, queries asked of it up to this. */
const CACHED_ANSWERS_MAX = 32;

const encoder = new TextEncoder();

/**
 * A JSON answer made from the snapshot once and kept with it under `key` (a failed scan keeps
 * it too): asked again, and by many clients at once, it costs neither the work nor the memory
 * again. A `query`'s answer is kept while the scan has fewer than {@link CACHED_ANSWERS_MAX};
 * past that, one is made for each request.
 */
function jsonAnswer(c: Context, p: Published, key: string, make: () => string, query = false): Promise<Response> {
  return cachedAnswer(c, p, key, make, JSON_TYPE, query);
}

/**
 * An answer whose bytes are encoded once per published scan and sent to every client as they
 * are: a client that reads slowly holds a reference to them, not a copy of its own (37 MB of
 * `/api/v1/maps` at 100,000 maps). Its gzip, for clients that take it, is made once too.
 */
async function cachedAnswer(c: Context, p: Published, key: string, make: () => string, type: string, query = false): Promise<Response> {
  let answer = p.cache.get(key);
  if (answer === undefined) {
    answer = { bytes: encoder.encode(make()) };
    if (!query || p.cache.size < CACHED_ANSWERS_MAX) p.cache.set(key, answer);
  }
  // Content-Length is set here so that HEAD, which hono answers without the body, says it too.
  const headers: Record<string, string> = { 'Content-Type': type, 'Cache-Control': 'no-store', Vary: 'Accept-Encoding' };
  if (answer.bytes.byteLength < GZIP_MIN || !acceptsGzip(c.req.header('accept-encoding'))) {
    return c.body(answer.bytes, 200, { ...headers, 'Content-Length': String(answer.bytes.byteLength) });
  }
  answer.gzip ??= compress(answer.bytes);
  const zipped = await answer.gzip;
  return c.body(zipped, 200, { ...headers, 'Content-Encoding': 'gzip', 'Content-Length': String(zipped.byteLength) });
}

/**
 * The memory cgroups of a snapshot's tree, each with its ancestors: those whose counters were
 * read and those maps are charged to. Null when the snapshot has no tree (no memory hierarchy
 * was read), so nothing can be said of a path. Made once per scan, when first asked.
 */
const cgroupTrees = new WeakMap<Inventory, ReadonlySet<string> | null>();
function cgroupTree(inv: Inventory): ReadonlySet<string> | null {
  let tree = cgroupTrees.get(inv);
  if (tree === undefined) {
    const paths = new Set<string>();
    // Up to the root, or to a path already added (its ancestors are then in too).
    const add = (path: string): void => {
      for (let p = path; !paths.has(p); p = parentOf(p)) paths.add(p);
    };
    for (const c of inv.cgroups) add(c.path);
    for (const m of inv.maps) if (m.chargedTo.kind === 'cgroup') add(m.chargedTo.path);
    tree = inv.cgroups.length === 0 ? null : paths;
    cgroupTrees.set(inv, tree);
  }
  return tree;
}

/**
 * Whether `?cgroup=` names a memory cgroup the snapshot does not have: `bpfmem maps --cgroup
 * /typo` says so and fails rather than list nothing, and so does the API (404). A cgroup that
 * exists but pays for nothing is an empty list; without a tree to look in, no path is refused.
 */
export function unknownCgroup(inv: Inventory, cgroup: string | undefined): boolean {
  if (cgroup === undefined) return false;
  const tree = cgroupTree(inv);
  return tree !== null && !tree.has(cgroup);
}

/** The hostname of a Host header (`[::1]:9464` → `[::1]`), lower case. */
export function hostnameOf(host: string): string {
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end < 0 ? h : h.slice(0, end + 1);
  }
  const colon = h.lastIndexOf(':');
  return colon < 0 ? h : h.slice(0, colon);
}

/** The ETag of an asset's gzip: another representation, so another strong tag (RFC 9110 §8.8.3). */
const gzipTag = (etag: string): string => `${etag.slice(0, -1)}-gzip"`;

/**
 * Whether `If-None-Match` matches an asset: `*`, or any tag of its list that is the asset's
 * plain or gzip tag, compared weakly (RFC 9110 §13.1.2: `W/` does not matter here).
 */
export function noneMatch(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((t) => {
    const tag = t.trim().replace(/^W\//, '');
    return tag === etag || tag === gzipTag(etag);
  });
}

function sendAsset(c: Context, a: Asset): Response {
  const zipped = acceptsGzip(c.req.header('accept-encoding')) ? a.gzip : undefined;
  const headers: Record<string, string> = {
    'Content-Type': a.type,
    ETag: zipped ? gzipTag(a.etag) : a.etag,
    'Cache-Control': a.immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
    Vary: 'Accept-Encoding',
  };
  if (a.type.startsWith('text/html')) {
    headers['Content-Security-Policy'] = CSP;
    headers['X-Frame-Options'] = 'DENY';
  }
  if (noneMatch(c.req.header('if-none-match'), a.etag)) return c.body(null, 304, headers);
  if (zipped) return c.body(zipped, 200, { ...headers, 'Content-Encoding': 'gzip', 'Content-Length': String(zipped.byteLength) });
  return c.body(a.body, 200, { ...headers, 'Content-Length': String(a.body.byteLength) });
}

/**
 * Why a request that changes nothing but costs work (a simulation) comes from another site,
 * or undefined when it does not: `Sec-Fetch-Site` other than same-origin or none (typed by the
 * user), or an `Origin` (including `null`) whose host and port are not the request's `Host`.
 */
export function crossOrigin(fetchSite: string | undefined, origin: string | undefined, host: string | undefined): string | undefined {
  if (fetchSite !== undefined && fetchSite !== 'same-origin' && fetchSite !== 'none') return `cross-site request refused (Sec-Fetch-Site: ${quote(fetchSite)})`;
  if (origin === undefined) return undefined;
  let originHost: string;
  try {
    const u = new URL(origin);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http');
    originHost = u.host;
  } catch {
    return `cross-origin request refused (Origin ${quote(origin)})`;
  }
  if (host === undefined || originHost.toLowerCase() !== normalHost(host)) return `cross-origin request refused (Origin ${quote(origin)} is not this server)`;
  return undefined;
}

/** `Host` as URL.host writes it (no default port, lower case). */
function normalHost(host: string): string {
  try {
    return new URL(`http://${host}`).host.toLowerCase();
  } catch {
    return host.toLowerCase();
  }
}

/** Builds the app. */
export function createApp(ctx: AppContext): Hono {
  const app = new Hono({ strict: true });

  app.use('*', async (c, next) => {
    await next();
    c.res.headers.set('X-Content-Type-Options', 'nosniff');
    c.res.headers.set('Referrer-Policy', 'no-referrer');
  });
  app.use('*', (c: Context, next) => {
    const allowed = ctx.allowedHosts;
    const host = c.req.header('host');
    if (allowed && host !== undefined && !allowed.has(hostnameOf(host))) {
      return Promise.resolve(
        errorResponse(c, 403, `Host ${quote(host)} is not a name of this server: bpfmem serve on a loopback address answers only loopback names (give --host to serve others)`),
      );
    }
    return next();
  });
  // A web page elsewhere may POST to this server through its visitor's browser (a "simple"
  // request, text/plain, needs no preflight): `POST /api/v1/simulate` takes scenarios from this
  // server's own dashboard and from clients that are no browser (curl sends neither header).
  // Fetch Metadata (Sec-Fetch-Site) where the browser sends it, else the Origin against Host.
  app.use('*', (c: Context, next) => {
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return next();
    const why = crossOrigin(c.req.header('sec-fetch-site'), c.req.header('origin'), c.req.header('host'));
    if (why !== undefined) return Promise.resolve(errorResponse(c, 403, `${c.req.method} ${c.req.path}: ${why}; this server takes requests from its own pages and from clients that are no browser`));
    return next();
  });

  /** The published scan, or the 503 answer before the first. */
  const scan = (c: Context): Published | Response => ctx.published() ?? errorResponse(c, 503, 'no scan has finished yet; try again in a moment', { 'Retry-After': '1' });

  type Handler = (c: Context) => Response | Promise<Response>;
  const routes: { path: string; method: 'GET' | 'POST'; handler: Handler; guard?: MiddlewareHandler }[] = [
    {
      path: '/healthz',
      method: 'GET',
      handler: (c) => {
        const p = ctx.published();
        if (!p) return jsonText(c, `${JSON.stringify({ status: 'starting', last_scan: null, scan_seconds: null, scans: 0, errors: 0, last_error: null })}\n`, 503);
        // A server whose scans keep failing serves an old snapshot: healthy no more once its last
        // good scan is older than staleAfterSeconds(), so that a liveness probe restarts it.
        const stale = Date.now() - p.snapshot.time.getTime() > staleAfterSeconds(ctx.intervalSeconds) * 1000;
        const body = {
          status: stale ? 'stale' : 'ok',
          last_scan: p.snapshot.time.toISOString(),
          scan_seconds: p.scanSeconds,
          scans: p.scans,
          errors: p.errors,
          last_error: p.lastError ?? null,
        };
        return jsonText(c, `${JSON.stringify(body)}\n`, stale ? 503 : 200);
      },
    },
    {
      path: '/metrics',
      method: 'GET',
      handler: async (c) => {
        const p = scan(c);
        if (p instanceof Response) return p;
        // Rendered once per scan; a scrape sends it (compressed once per scan for Prometheus,
        // which asks for gzip).
        return cachedAnswer(c, p, METRICS_ANSWER, () => p.metricsText, METRICS_CONTENT_TYPE);
      },
    },
    {
      path: '/api/v1/summary',
      method: 'GET',
      handler: (c) => {
        const p = scan(c);
        if (p instanceof Response) return p;
        const s = p.snapshot;
        return jsonAnswer(c, p, 'summary', () => json(summaryJson(s.inventory, s.summary, { regimeReason: s.regimeReason })));
      },
    },
    {
      path: '/api/v1/maps',
      method: 'GET',
      handler: (c) => {
        const p = scan(c);
        if (p instanceof Response) return p;
        const q = mapQuery(c.req.queries());
        const inv = p.snapshot.inventory;
        if (unknownCgroup(inv, q.filter.cgroup)) return noSuchCgroup(c, q.filter.cgroup);
        // Kept by what the query asks, so that parameters the API ignores (a cache-buster) do
        // not make the same answer again.
        return jsonAnswer(
          c,
          p,
          `maps ${JSON.stringify(q)}`,
          () => {
            const matched = filterMaps(inv.maps, q.filter);
            return q.limit === undefined ? mapsJson(inv, sortMaps(matched, q.sort)) : mapsJson(inv, firstMaps(matched, q.sort, q.limit), matched.length);
          },
          true,
        );
      },
    },
    {
      path: '/api/v1/progs',
      method: 'GET',
      handler: (c) => {
        const p = scan(c);
        if (p instanceof Response) return p;
        const q = progQuery(c.req.queries());
        const inv = p.snapshot.inventory;
        if (unknownCgroup(inv, q.filter.cgroup)) return noSuchCgroup(c, q.filter.cgroup);
        return jsonAnswer(c, p, `progs ${JSON.stringify(q)}`, () => progsJson(inv, sortProgs(filterProgs(inv.progs, q.filter), q.sort)), true);
      },
    },
    {
      path: '/api/v1/cgroups',
      method: 'GET',
      handler: (c) => {
        const p = scan(c);
        if (p instanceof Response) return p;
        const inv = p.snapshot.inventory;
        return jsonAnswer(c, p, 'cgroups', () => cgroupsJson(inv, inv.cgroups));
      },
    },
    {
      path: '/api/v1/probe',
      method: 'GET',
      handler: async (c) => {
        if (!ctx.machine) return errorResponse(c, 404, 'this server has no machine facts to give (it serves a fixture, not this machine)');
        return jsonText(c, json(machineJson(await ctx.machine())), 200);
      },
    },
    {
      // bpfmem watch's frame of the last scan (docs/watch.md): refused updates, hooks, forecast.
      path: '/api/v1/watch',
      method: 'GET',
      handler: (c) => {
        const p = scan(c);
        if (p instanceof Response) return p;
        const w = p.snapshot.watch;
        if (!w) return errorResponse(c, 404, 'this server does not watch refused map updates (it serves a fixture, not this machine)');
        return jsonAnswer(c, p, 'watch', () => json(frameJson(w)));
      },
    },
    {
      path: '/api/v1/history',
      method: 'GET',
      handler: (c) => {
        const p = scan(c);
        if (p instanceof Response) return p;
        return jsonAnswer(c, p, 'history', () => historyJson(p.history, ctx.intervalSeconds));
      },
    },
    {
      path: '/api/v1/simulate',
      method: 'POST',
      guard: bodyLimit({
        maxSize: SIMULATE_MAX_BODY,
        onError: (c) => errorResponse(c, 413, `the scenario is larger than ${SIMULATE_MAX_BODY / 1024} KiB (${SIMULATE_MAX_BODY} bytes), the most this server takes; run bpfmem simulate FILE instead`, { Connection: 'close' }),
      }),
      handler: async (c) => {
        const regime = c.req.queries('regime') ?? [];
        const r = regime.length > 1 ? undefined : regime[0] ?? '';
        if (r === undefined || (r !== '' && !REGIMES.includes(r as SimulateRegime))) {
          throw new BpfmemError('usage', `regime=${quote(regime.join(','))}: expected memcg, memlock, none or both (or nothing for the scenario's own)`);
        }
        const names = c.req.queries('name') ?? [];
        const name = names[0] ?? 'scenario';
        if (names.length > 1 || name.length === 0 || name.length > 255 || /[\p{Cc}\u2028\u2029]/u.test(name)) {
          throw new BpfmemError('usage', `name=${quote(names.join(','))}: expected the scenario's file name, 1 to 255 printable characters`);
        }
        let text: string;
        try {
          text = new TextDecoder('utf-8', { fatal: true }).decode(await c.req.arrayBuffer());
        } catch {
          throw new BpfmemError('input', `${name}: the body is not UTF-8 text (a YAML or JSON scenario file)`);
        }
        const outcome = await ctx.simulate(text, name, r === '' ? undefined : (r as SimulateRegime));
        if (outcome.status === 200) return jsonText(c, outcome.body, 200);
        return errorResponse(c, outcome.status, outcome.error, outcome.retryAfter === undefined ? {} : { 'Retry-After': String(outcome.retryAfter) });
      },
    },
  ];

  const allowedBy = new Map<string, string[]>();
  for (const r of routes) {
    if (r.guard) app.on(r.method, r.path, r.guard, r.handler);
    else app.on(r.method, r.path, r.handler);
    allowedBy.set(r.path, [...(allowedBy.get(r.path) ?? []), r.method, ...(r.method === 'GET' ? ['HEAD'] : [])]);
  }
  for (const [path, methods] of allowedBy) {
    app.all(path, (c) => errorResponse(c, 405, `${c.req.method} ${path}: method not allowed; use ${methods.join(' or ')}`, { Allow: methods.join(', ') }));
  }

  // The dashboard: only the files read at start, looked up by exact path.
  const assetAt = (path: string): Asset | undefined => ctx.assets.get(path) ?? (path === '/' ? ctx.notBuilt : undefined);
  app.get('*', (c) => {
    const a = assetAt(c.req.path);
    return a ? sendAsset(c, a) : c.notFound();
  });
  app.all('*', (c) => {
    if (assetAt(c.req.path)) return errorResponse(c, 405, `${c.req.method} ${c.req.path}: method not allowed; use GET or HEAD`, { Allow: 'GET, HEAD' });
    return c.notFound();
  });

  app.notFound((c) => errorResponse(c, 404, `not found: ${quote(c.req.path)}; see /api/v1/summary, /metrics, /healthz`));
  app.onError((error, c) => {
    if (error instanceof HTTPException) return error.getResponse();
    if (error instanceof BpfmemError && error.code !== 'system') return errorResponse(c, 400, error.message);
    const line = (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';
    return errorResponse(c, 500, `internal error: ${line}`);
  });
  return app;
}
