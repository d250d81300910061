import { createHash } from 'node:crypto';
import { lstat, readdir, readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { gzipSync } from 'node:zlib';

/**
 * The dashboard's files (vite's output: `index.html` and `assets/`), read into memory once when
 * the server starts. A request is answered from this map by exact path: no part of a request
 * ever reaches the filesystem, so `..`, encoded dots, absolute paths and NUL bytes find nothing.
 */

/** One file, ready to send. */
export interface Asset {
  readonly body: Uint8Array<ArrayBuffer>;
  /** The gzip of the body when that is smaller by a tenth or more. */
  readonly gzip: Uint8Array<ArrayBuffer> | undefined;
  readonly type: string;
  readonly etag: string;
  /** vite names files under assets/ by content hash: cache them for good. */
  readonly immutable: boolean;
}

/** The served files by URL path (`/`, `/assets/index-3f2a.js`). */
export type Assets = ReadonlyMap<string, Asset>;

/** Bounds on what is read from webRoot: it is our build output, these only stop a wrong directory. */
export const WEB_LIMITS = { files: 2000, bytes: 64 * 1024 * 1024, depth: 8 } as const;

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.txt': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm',
};

const COMPRESSIBLE = /^(text\/|application\/json|image\/svg)/;

function asset(path: string, body: Uint8Array<ArrayBuffer>): Asset {
  const type = TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream';
  let gzip: Uint8Array<ArrayBuffer> | undefined;
  if (COMPRESSIBLE.test(type) && body.length >= 1024) {
    const z = new Uint8Array(gzipSync(body, { level: 9 }));
    if (z.length <= body.length * 0.9) gzip = z;
  }
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
  return { body, gzip, type, etag, immutable: path.startsWith('/assets/') };
}

/**
 * Reads the files of a vite build: `index.html` (served at `/`), every file under `assets/`, and
 * the other top-level files (a favicon). Dotfiles and anything that is not a regular file
 * (symbolic links included: they could lead out of the directory) are left out. An empty map
 * when the directory or its index.html does not exist.
 */
export async function loadAssets(webRoot: string): Promise<Map<string, Asset>> {
  const out = new Map<string, Asset>();
  let total = 0;
  const walk = async (dir: string, urlDir: string, depth: number): Promise<void> => {
    if (depth > WEB_LIMITS.depth) return;
    let names: string[];
    try {
      names = (await readdir(dir)).sort();
    } catch {
      return;
    }
    for (const name of names) {
      if (name.startsWith('.') || out.size >= WEB_LIMITS.files) continue;
      const path = join(dir, name);
      const st = await lstat(path).catch(() => undefined);
      if (!st) continue;
      const url = `${urlDir}/${name}`;
      if (st.isDirectory()) {
        // vite's layout: top-level files and assets/; no other directory is served.
        if (depth === 0 && name !== 'assets') continue;
        await walk(path, url, depth + 1);
      } else if (st.isFile()) {
        if (total + st.size > WEB_LIMITS.bytes) continue;
        const body = new Uint8Array(await readFile(path));
        total += body.length;
        out.set(url, asset(url, body));
      }
    }
  };
  await walk(webRoot, '', 0);
  const index = out.get('/index.html');
  if (!index) return new Map();
  out.set('/', index);
  out.delete('/index.html');
  return out;
}

/** The page at `/` when the dashboard was not built. */
export function notBuiltPage(webRoot: string): Asset {
  const escaped = webRoot.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  const html = `<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>bpfmem</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40em;margin:3em auto;padding:0 1em}code{background:#eee;padding:0 .2em}</style>
<h1>bpfmem serve</h1>
<p>The dashboard is not built: there is no <code>index.html</code> in <code>${escaped}</code>.
Build it with <code>npm run build</code> in the bpfmem package, then restart <code>bpfmem serve</code>.</p>
<p>Everything else works: <a href="/metrics">/metrics</a> (Prometheus),
<a href="/api/v1/summary">/api/v1/summary</a>, <a href="/api/v1/maps">/api/v1/maps</a>,
<a href="/api/v1/cgroups">/api/v1/cgroups</a>, <a href="/healthz">/healthz</a>
(docs/metrics.md).</p>
</html>
`;
  return asset('/index.html', new TextEncoder().encode(html));
}
