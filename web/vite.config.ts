import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

/**
 * The dashboard of `bpfmem serve` (docs/dashboard.md): `npx vite build web` writes
 * dist/web/index.html and dist/web/assets/, which the server serves; `npx vite web` serves the
 * page with live reload and passes the API to a `bpfmem serve` on the default port.
 */

const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

/** Where `bpfmem serve` listens by default (src/server/index.ts: ServeOptions.port). */
const SERVER = 'http://127.0.0.1:9464';

export default defineConfig({
  root: here('.'),
  // Relative URLs: the page works wherever it is served from (behind a proxy's prefix too).
  base: './',
  build: {
    outDir: here('../dist/web'),
    emptyOutDir: true,
    assetsDir: 'assets',
    target: 'es2022',
    // No source maps in the package; echarts is the bulk of the bundle.
    sourcemap: false,
    chunkSizeWarningLimit: 1200,
  },
  worker: { format: 'es' },
  server: {
    // The simulator imports the model and the scenario parser from ../src and the examples from ../scenarios.
    fs: { allow: [here('..')] },
    proxy: { '/api': SERVER, '/healthz': SERVER, '/metrics': SERVER },
  },
});
