import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureSource, startServer, type RunningServer } from '../../src/server/index.js';
import { fixtureInput } from './fixture.js';
import { rawGet } from './helpers.js';

/**
 * The dashboard's files: what vite builds (index.html at `/`, assets/), read once at start and
 * answered from memory by exact path; nothing else of the directory, nothing added later, and a
 * page saying how to build it when there is no build.
 */

describe('a built dashboard', () => {
  let dir = '';
  let web = '';
  let server: RunningServer;
  const script = `console.log(${JSON.stringify('bpfmem '.repeat(2000))});\n`;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bpfmem-web-'));
    web = join(dir, 'web');
    await mkdir(join(web, 'assets'), { recursive: true });
    await mkdir(join(web, 'other'));
    await writeFile(join(web, 'index.html'), '<!doctype html><script type="module" src="/assets/index-abc123.js"></script>\n');
    await writeFile(join(web, 'assets', 'index-abc123.js'), script);
    await writeFile(join(web, 'assets', 'index-abc123.css'), 'body{margin:0}\n');
    await writeFile(join(web, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>\n');
    await writeFile(join(web, '.env'), 'SECRET=1\n');
    await writeFile(join(web, 'other', 'x.txt'), 'not served\n');
    await writeFile(join(dir, 'secret.txt'), 'TOP SECRET\n');
    await symlink(join(dir, 'secret.txt'), join(web, 'assets', 'link.txt'));
    server = await startServer({ port: 0, source: fixtureSource(fixtureInput()), webRoot: web });
  });
  afterAll(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('GET / is index.html, with a content security policy', async () => {
    const r = await fetch(server.url);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(r.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(r.headers.get('x-frame-options')).toBe('DENY');
    expect(r.headers.get('cache-control')).toBe('no-cache');
    expect(await r.text()).toContain('/assets/index-abc123.js');
  });

  it('GET /assets/… is the file, cached for good, compressed when asked', async () => {
    const r = await fetch(`${server.url}/assets/index-abc123.js`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(r.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(r.headers.get('content-encoding')).toBe('gzip');
    expect(r.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await r.text()).toBe(script);
    const plain = await fetch(`${server.url}/assets/index-abc123.js`, { headers: { 'accept-encoding': 'identity' } });
    expect(plain.headers.get('content-encoding')).toBeNull();
    expect(await plain.text()).toBe(script);
    expect(await (await fetch(`${server.url}/assets/index-abc123.css`)).text()).toBe('body{margin:0}\n');
    expect((await fetch(`${server.url}/favicon.svg`)).headers.get('content-type')).toBe('image/svg+xml');
  });

  it('answers 304 to a matching If-None-Match', async () => {
    const r = await fetch(`${server.url}/assets/index-abc123.css`);
    const etag = r.headers.get('etag') ?? '';
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{27}"$/);
    const again = await fetch(`${server.url}/assets/index-abc123.css`, { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
  });

  it('matches If-None-Match weakly, in lists and by *, for the plain and the gzip representation', async () => {
    const plain = await fetch(`${server.url}/assets/index-abc123.js`, { headers: { 'accept-encoding': 'identity' } });
    const zipped = await fetch(`${server.url}/assets/index-abc123.js`);
    const tag = plain.headers.get('etag') ?? '';
    const zipTag = zipped.headers.get('etag') ?? '';
    expect(zipped.headers.get('content-encoding')).toBe('gzip');
    expect(zipTag).not.toBe(tag);
    for (const header of [tag, zipTag, `W/${tag}`, `"other", ${tag}`, `"a","b",W/${zipTag}`, '*']) {
      const r = await fetch(`${server.url}/assets/index-abc123.js`, { headers: { 'if-none-match': header } });
      expect(r.status, header).toBe(304);
    }
    for (const header of ['"other"', '', tag.slice(0, -2) + '"', 'W/"x"']) {
      const r = await fetch(`${server.url}/assets/index-abc123.js`, { headers: { 'if-none-match': header } });
      expect(r.status, header).toBe(200);
    }
  });

  it('HEAD answers the headers without the body', async () => {
    const r = await fetch(`${server.url}/assets/index-abc123.css`, { method: 'HEAD' });
    expect(r.status).toBe(200);
    expect(await r.text()).toBe('');
  });

  it.each(['/.env', '/other/x.txt', '/assets/link.txt', '/index.html', '/assets/', '/assets', '/secret.txt', '/assets/missing.js'])('%s is not served', async (path) => {
    const r = await rawGet(server.url, path);
    expect(r.status).toBe(404);
    expect(r.text).not.toContain('SECRET');
    expect(r.text).not.toContain('not served');
  });

  it('a file added after the start is not served (the map is built at start)', async () => {
    await writeFile(join(web, 'assets', 'late.js'), 'late\n');
    expect((await fetch(`${server.url}/assets/late.js`)).status).toBe(404);
  });
});

describe('no dashboard build', () => {
  it('GET / says how to build it; the API works', async () => {
    const server = await startServer({ port: 0, source: fixtureSource(fixtureInput()), webRoot: '/nonexistent/bpfmem-web' });
    try {
      const r = await fetch(server.url);
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toBe('text/html; charset=utf-8');
      const html = await r.text();
      expect(html).toContain('/nonexistent/bpfmem-web');
      expect(html).toContain('npm run build');
      expect((await fetch(`${server.url}/assets/index.js`)).status).toBe(404);
      expect((await fetch(`${server.url}/api/v1/summary`)).status).toBe(200);
    } finally {
      await server.close();
    }
  });
});
