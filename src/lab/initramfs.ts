import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, readdir, readFile, realpath, rename, rm, stat } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { dirname, join, posix, relative } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { BpfmemError } from '../vocab/errors.js';
import { cpioChunks, type CpioEntry } from './cpio.js';

/**
 * The initramfs the lab boots: busybox (static), this machine's node and the libraries `ldd`
 * lists (at the same paths), bpfmem's build (`dist/`, `scenarios/`, `package.json` for
 * `"type": "module"`) and the packages `dist/` imports (koffi and its native binary included),
 * and an `init` that mounts proc, sysfs, devtmpfs, tmpfs, cgroup2 (with `+memory`) and bpffs,
 * brings up loopback (softirq inserts send UDP to it) and runs src/bin/lab-guest.ts. Cached by the
 * SHA-256 of everything in it: a second run with the same build boots at once.
 */

const run = promisify(execFile);

/** Where the guest finds bpfmem, as absolute paths inside the VM. */
export const GUEST_APP = '/app';
export const GUEST_ENTRY = `${GUEST_APP}/dist/bin/lab-guest.js`;

/** Bumped when the layout or init changes in a way the file hashes do not show. */
const FORMAT = 'bpfmem-lab-initramfs 2 (uncompressed)';

/** The init script (busybox sh). `printk` 1: kernel messages other than emergencies stay off the console. */
export const INIT_SCRIPT = `#!/bin/busybox sh
# bpfmem kernel lab: mount what the guest needs, run it, power off.
B=/bin/busybox
export PATH=/bin:/usr/bin
$B mount -t proc proc /proc
$B mount -t sysfs sysfs /sys
$B mount -t devtmpfs devtmpfs /dev
$B mount -t tmpfs tmpfs /tmp
$B mount -t cgroup2 cgroup2 /sys/fs/cgroup
$B mount -t bpf bpf /sys/fs/bpf
echo 1 > /proc/sys/kernel/printk
echo +memory > /sys/fs/cgroup/cgroup.subtree_control
$B ip link set lo up
/usr/bin/node ${GUEST_ENTRY}
$B poweroff -f
`;

/** One file of the image: where it comes from on this machine and where it goes. */
export interface ImageFile {
  readonly source: string;
  /** Absolute path in the guest. */
  readonly dest: string;
  readonly mode: number;
}

/** Paths of the shared libraries in `ldd` output (`libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)`, `/lib64/ld-linux-x86-64.so.2 (0x…)`). */
export function parseLdd(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = /(?:=>\s*)?(\/\S+)\s+\(0x[0-9a-f]+\)\s*$/.exec(line.trim());
    if (m?.[1] !== undefined && !out.includes(m[1])) out.push(m[1]);
  }
  return out;
}

/** The libraries a program needs, from `ldd` (none for a static program). */
async function libraries(program: string): Promise<string[]> {
  try {
    const { stdout } = await run('ldd', [program]);
    return parseLdd(stdout);
  } catch (error) {
    // ldd exits 1 with "not a dynamic executable" for a static program.
    const out = (error as { stdout?: string; stderr?: string }).stdout ?? '';
    const err = (error as { stderr?: string }).stderr ?? '';
    if (/not a dynamic executable/.test(out + err)) return [];
    throw new BpfmemError('system', `ldd ${program}: ${err.trim() || (error instanceof Error ? error.message : String(error))}`);
  }
}

/** The package a bare import specifier names (`@koromix/x/y` → `@koromix/x`), or undefined for a relative or built-in one. */
export function packageOf(specifier: string): string | undefined {
  if (specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('node:')) return undefined;
  const parts = specifier.split('/');
  const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? '');
  if (name === '' || builtinModules.includes(name)) return undefined;
  return name;
}

/** Bare specifiers of `import … from 'x'`, `export … from 'x'`, `import('x')` and `require('x')` in a module's text. */
export function importsOf(text: string): string[] {
  const out = new Set<string>();
  for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|\bimport\s+)(['"])([^'"\n]+)\1/g)) {
    const p = packageOf(m[2] ?? '');
    if (p !== undefined) out.add(p);
  }
  return [...out];
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** A package and the packages it depends on (dependencies, and optional ones that are installed), by directory. */
async function packageClosure(projectRoot: string, names: Iterable<string>): Promise<string[]> {
  const dirs = new Set<string>();
  // A name found by scanning text may be a false positive (a message saying "from 'x'"): only
  // the package's own dependencies, and what they depend on, are followed.
  const declared = JSON.parse(await readFile(join(projectRoot, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
  const queue = [...names].filter((n) => n in (declared.dependencies ?? {}));
  for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
    const dir = join(projectRoot, 'node_modules', name);
    if (dirs.has(dir)) continue;
    let manifest: { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> };
    try {
      manifest = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as typeof manifest;
    } catch {
      throw new BpfmemError('system', `the lab needs the package ${name}, but ${dir} has no package.json (run npm ci)`);
    }
    dirs.add(dir);
    queue.push(...Object.keys(manifest.dependencies ?? {}));
    for (const opt of Object.keys(manifest.optionalDependencies ?? {})) {
      if (existsSync(join(projectRoot, 'node_modules', opt, 'package.json'))) queue.push(opt);
    }
  }
  return [...dirs].sort();
}

/** Where the programs the image is made of are on this machine. */
export interface ImageSources {
  /** The bpfmem package: `dist/`, `scenarios/`, `package.json`, `node_modules/`. */
  readonly projectRoot: string;
  /** Default: this process's node. */
  readonly node?: string;
  /** A static busybox. Default: `busybox` on PATH (Debian's busybox-static). */
  readonly busybox?: string;
}

async function which(program: string): Promise<string | undefined> {
  for (const dir of (process.env['PATH'] ?? '/usr/bin:/bin').split(':')) {
    const p = join(dir || '.', program);
    try {
      if ((await stat(p)).isFile()) return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Every file of the image (not yet read), in a stable order. */
export async function imageFiles(src: ImageSources): Promise<ImageFile[]> {
  const root = src.projectRoot;
  const entry = join(root, 'dist', 'bin', 'lab-guest.js');
  if (!existsSync(entry)) throw new BpfmemError('system', `${entry} is missing: build bpfmem first (npm run build)`);
  const busybox = src.busybox ?? (await which('busybox'));
  if (busybox === undefined) throw new BpfmemError('system', 'busybox is not installed: the lab needs a static busybox (Debian package busybox-static)');
  if ((await libraries(busybox)).length > 0) throw new BpfmemError('system', `${busybox} is not static: install Debian's busybox-static`);
  const node = await realpath(src.node ?? process.execPath);
  const files: ImageFile[] = [
    { source: busybox, dest: '/bin/busybox', mode: 0o755 },
    { source: node, dest: '/usr/bin/node', mode: 0o755 },
  ];
  for (const lib of await libraries(node)) files.push({ source: await realpath(lib), dest: lib, mode: 0o755 });
  const dist = (await walk(join(root, 'dist'))).filter((p) => !p.endsWith('.map') && !p.endsWith('.d.ts'));
  const packages = new Set<string>();
  for (const p of dist) {
    files.push({ source: p, dest: posix.join(GUEST_APP, relative(root, p)), mode: 0o644 });
    if (p.endsWith('.js')) for (const name of importsOf(await readFile(p, 'utf8'))) packages.add(name);
  }
  for (const dir of await packageClosure(root, packages)) {
    for (const p of await walk(dir)) files.push({ source: p, dest: posix.join(GUEST_APP, relative(root, p)), mode: (await stat(p)).mode & 0o777 });
  }
  for (const p of await walk(join(root, 'scenarios'))) files.push({ source: p, dest: posix.join(GUEST_APP, relative(root, p)), mode: 0o644 });
  files.push({ source: join(root, 'package.json'), dest: `${GUEST_APP}/package.json`, mode: 0o644 });
  return files.sort((a, b) => (a.dest < b.dest ? -1 : a.dest > b.dest ? 1 : 0));
}

/** The cpio entries of an image: its directories, the files (read), `init`. */
export function imageEntries(files: readonly ImageFile[], contents: ReadonlyMap<string, Uint8Array>): CpioEntry[] {
  const dirs = new Set<string>(['proc', 'sys', 'dev', 'tmp', 'run', 'bin', 'usr', 'usr/bin']);
  for (const f of files) {
    const parts = f.dest.slice(1).split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  const entries: CpioEntry[] = [...dirs].sort().map((path) => ({ kind: 'dir', path, mode: 0o755 }));
  for (const f of files) {
    const data = contents.get(f.source);
    if (data === undefined) throw new Error(`no content read for ${f.source}`);
    entries.push({ kind: 'file', path: f.dest.slice(1), mode: f.mode, data });
  }
  entries.push({ kind: 'file', path: 'init', mode: 0o755, data: new TextEncoder().encode(INIT_SCRIPT) });
  return entries;
}

/** A built (or cached) initramfs. */
export interface Initramfs {
  readonly path: string;
  /** The SHA-256 of its inputs (first 16 hex digits name the file). */
  readonly hash: string;
  /** Whether it was already in the cache. */
  readonly cached: boolean;
  readonly bytes: number;
  readonly files: number;
}

/** How many initramfs files the cache keeps (each is ~120 MB): this build's and the one before. */
const KEEP = 2;

/**
 * The initramfs for `src`, from `cacheDir` when one with the same inputs is there, else built
 * (written beside and renamed, so a crash leaves no half file under the final name). Not
 * compressed: the guest's kernel would inflate it under TCG. Measured on 6.12.117 (2 vCPUs), a boot
 * to init and power-off took 5.9 s with this image gzipped (level 1, 48 MB) and 3.6 s with it
 * plain (121 MB).
 */
export async function buildInitramfs(src: ImageSources, cacheDir: string): Promise<Initramfs> {
  const files = await imageFiles(src);
  const contents = new Map<string, Uint8Array>();
  const hash = createHash('sha256').update(FORMAT).update(INIT_SCRIPT);
  for (const f of files) {
    if (!contents.has(f.source)) contents.set(f.source, await readFile(f.source));
    const data = contents.get(f.source) ?? new Uint8Array(0);
    hash.update(`\0${f.dest}\0${f.mode}\0${data.length}\0`).update(data);
  }
  const digest = hash.digest('hex');
  const path = join(cacheDir, `initramfs-${digest.slice(0, 16)}.cpio`);
  if (existsSync(path)) return { path, hash: digest, cached: true, bytes: (await stat(path)).size, files: files.length };
  try {
    await mkdir(cacheDir, { recursive: true });
  } catch (error) {
    throw new BpfmemError('system', `cannot create the lab cache ${cacheDir}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await pipeline(Readable.from(cpioChunks(imageEntries(files, contents))), createWriteStream(tmp));
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    // Two lab runs side by side (test/lab runs two VMs at a time) build the same image: when the
    // other one's is in place, it is this one's too (seen in CI: ENOENT here while the other wrote).
    if (existsSync(path)) return { path, hash: digest, cached: true, bytes: (await stat(path)).size, files: files.length };
    throw new BpfmemError('system', `writing the initramfs ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  await prune(dirname(path), path);
  return { path, hash: digest, cached: false, bytes: (await stat(path)).size, files: files.length };
}

/** Removes all but the newest {@link KEEP} initramfs files of the cache (never `keep`). */
async function prune(dir: string, keep: string): Promise<void> {
  const names = (await readdir(dir)).filter((n) => /^initramfs-[0-9a-f]{16}\.cpio(\.gz)?$/.test(n));
  const dated = await Promise.all(names.map(async (n) => ({ p: join(dir, n), t: (await stat(join(dir, n))).mtimeMs })));
  dated.sort((a, b) => b.t - a.t);
  for (const { p } of dated.slice(KEEP)) if (p !== keep) await rm(p, { force: true });
}
