import { linesOf, parseUnsigned, show } from './text.js';
import { ok, err, type Result } from '../../vocab/result.js';

/** `/proc/PID/cgroup`: which cgroup a process is in, per hierarchy (parser only; src/sys/proc/procfs.ts reads it). */

/** One line of `/proc/PID/cgroup`: `4:memory:/a/b` (v1) or `0::/a` (v2). */
export interface ProcCgroupEntry {
  /** The hierarchy id; 0 is the v2 (unified) hierarchy. */
  readonly hierarchyId: number;
  /** The controllers bound to that hierarchy (`memory`, `cpu,cpuacct`, `name=systemd`); none on v2. */
  readonly controllers: readonly string[];
  /** The cgroup path inside that hierarchy, as seen from this cgroup namespace. */
  readonly path: string;
  /** The process is a zombie whose cgroup was removed: the kernel appends ` (deleted)`. */
  readonly deleted: boolean;
}

/** Parses `/proc/PID/cgroup` (cgroup-v2.rst "Processes"; v1 lines as cgroups(7) describes). */
export function parseProcCgroup(text: string): Result<readonly ProcCgroupEntry[]> {
  const out: ProcCgroupEntry[] = [];
  for (const [i, line] of linesOf(text).entries()) {
    const m = /^(\d+):([^:]*):(\/.*)$/.exec(line);
    if (!m) return err(`/proc/PID/cgroup line ${i + 1} is not "ID:CONTROLLERS:/PATH": ${show(line)}`);
    const id = parseUnsigned(m[1] ?? '');
    if (id === undefined) return err(`/proc/PID/cgroup line ${i + 1}: bad hierarchy id ${show(m[1] ?? '')}`);
    const rawPath = m[3] ?? '/';
    const deleted = rawPath.endsWith(' (deleted)');
    out.push({
      hierarchyId: id,
      controllers: (m[2] ?? '') === '' ? [] : (m[2] ?? '').split(','),
      path: deleted ? rawPath.slice(0, -' (deleted)'.length) : rawPath,
      deleted,
    });
  }
  if (out.length === 0) return err('/proc/PID/cgroup is empty');
  return ok(out);
}
