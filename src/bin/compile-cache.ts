import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import Module from 'node:module';
import { basename, dirname, join } from 'node:path';
import { Script } from 'node:vm';

/**
 * A V8 code cache for the CLI's own bundle files (dist/bin/*.js), kept in bpfmem's cache
 * directory: compiling them took 30–50 ms of every `bpfmem maps` here (the `--cpu-prof` of
 * docs/performance.md). Node 22 has `module.enableCompileCache()`; Node 20, which bpfmem
 * supports, does not, so this does what it does with `vm.Script`'s `cachedData`, as the
 * v8-compile-cache package did: each of these files is compiled from its cached code when there
 * is some, and at exit the code of a file that had none (or whose cache V8 rejected) is written,
 * with the functions the run compiled lazily (`script.createCachedData()` after the run).
 *
 * Safe to lose or corrupt: V8 checks a cache against its own version and flags and the
 * source's length and rejects a mismatch (`cachedDataRejected`: the file is compiled as usual
 * and its cache written again); a cache file also names the size and time of the file it was
 * made from, and one that names others is not used. Every failure (no directory, read-only,
 * no room) is a compile without a cache. The cache is the user's own (bpfmem's cache directory,
 * src/sys/file/cache.ts), so it is trusted as much as the bundle it sits next to.
 *
 * Files of another directory (node_modules) go to Node's own loader unchanged.
 */

/** Largest cache file read (the largest bundle file's code is ~300 KiB). */
const CACHE_FILE_LIMIT = 8 * 1024 * 1024;

interface Pending {
  readonly script: Script;
  readonly path: string;
  readonly header: string;
}

/** Node's CommonJS module internals this uses (node:module's Module, untyped in @types/node). */
interface CjsModule {
  exports: unknown;
  require(id: string): unknown;
}
interface CjsModuleClass {
  prototype: { _compile: (this: CjsModule, content: string, filename: string) => unknown };
  wrap(source: string): string;
  _resolveFilename(request: string, parent: CjsModule, isMain: boolean, options?: unknown): string;
  _cache: unknown;
}

/**
 * Compiles the files of `binDir` through a code cache in `cacheDir` (a subdirectory per Node
 * version), from now on, one cache per `variant` (the command: a cache holds the functions the
 * run that made it compiled, and each command calls others of the shared files). No-op without
 * a cache directory.
 */
export function useCompileCache(binDir: string, cacheDir: string | undefined, variant: string): void {
  if (cacheDir === undefined) return;
  const dir = join(cacheDir, `code-${process.version}-${process.arch}`);
  const M = Module as unknown as CjsModuleClass;
  const original = M.prototype._compile;
  const pending: Pending[] = [];
  M.prototype._compile = function compile(this: CjsModule, content: string, filename: string): unknown {
    if (dirname(filename) !== binDir || !filename.endsWith('.js')) return original.call(this, content, filename);
    const path = join(dir, `${basename(filename)}.${variant}.cache`);
    let header: string;
    try {
      const st = statSync(filename);
      header = `${String(st.size)} ${String(st.mtimeMs)}\n`;
    } catch {
      return original.call(this, content, filename);
    }
    const cachedData = readCache(path, header);
    // A `#!` line is a comment to Node's own loader, not to V8.
    const source = content.startsWith('#!') ? `//${content}` : content;
    const script = new Script(M.wrap(source), { filename, ...(cachedData !== undefined && { cachedData }) });
    if (cachedData === undefined || script.cachedDataRejected === true) pending.push({ script, path, header });
    const fn = script.runInThisContext({ displayErrors: true }) as (exports: unknown, require: NodeJS.Require, module: CjsModule, filename: string, dirname: string) => unknown;
    return fn.call(this.exports, this.exports, requireOf(this, M), this, filename, dirname(filename));
  };
  process.once('exit', () => {
    if (pending.length > 0) writeCaches(dir, binDir, pending);
  });
}

/** The `require` a module's code is given (what Node's loader gives it, for these files). */
function requireOf(mod: CjsModule, M: CjsModuleClass): NodeJS.Require {
  const require = ((id: string) => mod.require(id)) as NodeJS.Require;
  require.resolve = ((request: string, options?: unknown) => M._resolveFilename(request, mod, false, options)) as NodeJS.RequireResolve;
  require.cache = M._cache as NodeJS.Require['cache'];
  return require;
}

/** The code a cache file holds for a file of this size and time, or undefined. */
function readCache(path: string, header: string): Buffer | undefined {
  try {
    const st = statSync(path);
    if (!st.isFile() || st.size > CACHE_FILE_LIMIT) return undefined;
    const bytes = readFileSync(path);
    const head = Buffer.from(header);
    return bytes.length > head.length && bytes.subarray(0, head.length).equals(head) ? bytes.subarray(head.length) : undefined;
  } catch {
    return undefined;
  }
}

/** Writes each cache (a temporary file renamed), and removes caches of files no longer in `binDir`. */
function writeCaches(dir: string, binDir: string, pending: readonly Pending[]): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    for (const p of pending) {
      const tmp = `${p.path}.${String(process.pid)}.tmp`;
      writeFileSync(tmp, Buffer.concat([Buffer.from(p.header), p.script.createCachedData()]), { mode: 0o644 });
      renameSync(tmp, p.path);
    }
    // Chunk names carry a hash of their contents: a rebuild leaves the old ones' caches behind.
    const present = new Set(readdirSync(binDir));
    for (const f of readdirSync(dir)) {
      const of = /^(.*\.js)\.[a-z]+\.cache$/.exec(f)?.[1];
      if (of !== undefined && !present.has(of)) rmSync(join(dir, f), { force: true });
    }
  } catch {
    // No cache this time.
  }
}
