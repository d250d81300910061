import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/**
 * The programs some tests compare with or drive (bpftool, clang, chromium, prometheus, qemu …).
 * `npm test` needs only Node: a test that needs a program the machine lacks skips, and the
 * reason is printed once per program, naming it and the Debian package that has it. `.ci/run`
 * installs them all (its PACKAGES table).
 */

/** The Debian package of each program the tests look for (as in .ci/run). */
const PACKAGES: Readonly<Record<string, string>> = Object.assign(Object.create(null) as Record<string, string>, {
  bpftool: 'bpftool',
  clang: 'clang',
  llc: 'llvm',
  chromium: 'chromium',
  prometheus: 'prometheus',
  promtool: 'prometheus',
  'prometheus-node-exporter': 'prometheus-node-exporter',
  'qemu-system-x86_64': 'qemu-system-x86',
  'qemu-system-aarch64': 'qemu-system-arm',
  busybox: 'busybox-static',
  cpio: 'cpio',
});

/** Where `name` is on `path` (as `command -v` finds it), or undefined. */
export function findTool(name: string, path: string = process.env['PATH'] ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue;
    const file = join(dir, name);
    try {
      if (!statSync(file).isFile()) continue;
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

const warned = new Set<string>();

/**
 * Why tests needing `names` cannot run here (the first program missing from PATH, and its
 * package), or undefined when all are there. The reason is printed once per program.
 */
export function missingTool(...names: string[]): string | undefined {
  for (const name of names) {
    if (findTool(name) !== undefined) continue;
    const pkg = PACKAGES[name];
    const reason = `no ${name} on PATH${pkg === undefined ? '' : ` (apt-get install ${pkg}; .ci/run installs it)`}`;
    if (!warned.has(name)) {
      warned.add(name);
      console.warn(`tests that need ${name} skipped: ${reason}`);
    }
    return reason;
  }
  return undefined;
}
