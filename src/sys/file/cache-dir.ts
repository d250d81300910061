import { homedir } from 'node:os';
import { join } from 'node:path';

// A module of its own, with nothing but node:os and node:path: the CLI's first file reads it
// before anything else is loaded (src/bin/compile-cache.ts, scripts/bundle.mjs `start`).

/** The cache directory, or undefined when the cache is off or has no place. */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env['BPFMEM_CACHE'] === 'off') return undefined;
  if (env['BPFMEM_CACHE_DIR']) return env['BPFMEM_CACHE_DIR'];
  if (env['XDG_CACHE_HOME']) return join(env['XDG_CACHE_HOME'], 'bpfmem');
  try {
    const home = homedir();
    return home ? join(home, '.cache', 'bpfmem') : undefined;
  } catch {
    return undefined;
  }
}
