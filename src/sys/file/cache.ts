import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir } from './cache-dir.js';

export { cacheDir };

/**
 * bpfmem's cache: small files of what is slow to work out and never changes for a given input
 * (the struct sizes a kernel's BTF gives). `$BPFMEM_CACHE_DIR`, else `$XDG_CACHE_HOME/bpfmem`,
 * else `~/.cache/bpfmem`; `BPFMEM_CACHE=off` turns it off. Every failure (no home, read-only,
 * a corrupt file) is a miss: the caller works the value out again.
 */

/** Largest cache file read. */
const CACHE_FILE_LIMIT = 1024 * 1024;

/** A cache file's text, or undefined (no cache, no file, too big, unreadable). */
export function readCacheFile(name: string, dir = cacheDir()): string | undefined {
  if (dir === undefined) return undefined;
  const path = join(dir, name);
  try {
    const st = statSync(path);
    if (!st.isFile() || st.size > CACHE_FILE_LIMIT) return undefined;
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * A cache file's entry for `identity`: the parsed object when `text` is JSON of an object whose
 * `identity` is that one, else undefined (no file, corrupt, or another kernel's). The caller
 * checks the fields it reads. Pure.
 */
export function cacheEntry(text: string | undefined, identity: string): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const entry = value as Record<string, unknown>;
  return entry['identity'] === identity ? entry : undefined;
}

/** Writes a cache file (whole or not at all: a temporary file renamed); false when it could not. */
export function writeCacheFile(name: string, text: string, dir = cacheDir()): boolean {
  if (dir === undefined) return false;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    const tmp = join(dir, `.${name}.${process.pid}.tmp`);
    writeFileSync(tmp, text, { mode: 0o644 });
    renameSync(tmp, join(dir, name));
    return true;
  } catch {
    return false;
  }
}
