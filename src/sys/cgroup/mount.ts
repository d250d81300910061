import { readFileSync } from 'node:fs';
import type { CgroupVersion } from '../../vocab/profile.js';
import { parseProcCgroup, type ProcCgroupEntry } from '../proc/pid-cgroup.js';
import { errnoCode, linesOf, parseUnsigned, show } from '../proc/text.js';
import { ok, err, type Result } from '../../vocab/result.js';

/** One line of `/proc/PID/mountinfo` (proc(5)). */
export interface MountEntry {
  readonly id: number;
  readonly parentId: number;
  /** `major:minor` of the filesystem. */
  readonly device: string;
  /** The directory of the filesystem that is mounted here (for cgroupfs: a cgroup path). */
  readonly root: string;
  readonly mountPoint: string;
  readonly mountOptions: readonly string[];
  /** Tagged fields such as `shared:4`. */
  readonly optionalFields: readonly string[];
  readonly fsType: string;
  readonly source: string;
  /** Per-superblock options; for a v1 cgroupfs they name its controllers (`rw,memory`). */
  readonly superOptions: readonly string[];
}

/** Undoes the kernel's octal escapes of ` `, `\t`, `\n` and `\\` in mountinfo paths. */
function unescapeOctal(text: string): string {
  return text.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(Number.parseInt(oct, 8)));
}

/** Parses `/proc/PID/mountinfo`. Never throws; a line without the ` - ` separator is an error. */
export function parseMountinfo(text: string): Result<readonly MountEntry[]> {
  const out: MountEntry[] = [];
  for (const [i, line] of linesOf(text).entries()) {
    const fields = line.split(' ');
    const dash = fields.indexOf('-');
    const bad = (why: string): Result<readonly MountEntry[]> =>
      err(`mountinfo line ${i + 1} ${why}: ${show(line)}`);
    if (dash < 6 || fields.length < dash + 4) return bad('is not "ID PARENT MAJ:MIN ROOT POINT OPTIONS … - TYPE SOURCE SUPER"');
    const id = parseUnsigned(fields[0] ?? '');
    const parentId = parseUnsigned(fields[1] ?? '');
    if (id === undefined || parentId === undefined) return bad('has a bad mount id');
    const device = fields[2] ?? '';
    if (!/^\d+:\d+$/.test(device)) return bad('has a bad major:minor');
    out.push({
      id,
      parentId,
      device,
      root: unescapeOctal(fields[3] ?? ''),
      mountPoint: unescapeOctal(fields[4] ?? ''),
      mountOptions: (fields[5] ?? '').split(','),
      optionalFields: fields.slice(6, dash),
      fsType: fields[dash + 1] ?? '',
      source: unescapeOctal(fields[dash + 2] ?? ''),
      superOptions: fields.slice(dash + 3).join(' ').split(','),
    });
  }
  return ok(out);
}

/** Where this process's memory cgroup is. */
export interface MemoryHierarchy {
  /** 1: the v1 `memory` hierarchy; 2: the unified hierarchy with `memory` in `cgroup.controllers`. */
  readonly version: CgroupVersion;
  /** Where that hierarchy is mounted (`/sys/fs/cgroup/memory`, `/sys/fs/cgroup`). */
  readonly mountPoint: string;
  /** This process's memory cgroup as `/proc/self/cgroup` names it (`/process_api/abc`). */
  readonly ownPath: string;
  /** Its directory (`/sys/fs/cgroup/memory/process_api/abc`). */
  readonly ownDir: string;
}

/** A memory hierarchy, or why this process has none. */
export type MemoryHierarchyResult =
  | { readonly ok: true; readonly hierarchy: MemoryHierarchy }
  | { readonly ok: false; readonly reason: string };

/** The directory of cgroup `path` in a cgroupfs mount whose root is `mountRoot`, if it is visible there. */
function dirIn(mount: MountEntry, path: string): string | undefined {
  const root = mount.root === '/' ? '' : mount.root;
  if (path !== root && !path.startsWith(`${root}/`)) return undefined;
  const rest = path.slice(root.length);
  if (mount.mountPoint === '/') return rest === '' ? '/' : rest;
  return `${mount.mountPoint}${rest === '/' ? '' : rest}`;
}

const isV1Memory = (m: MountEntry): boolean => m.fsType === 'cgroup' && m.superOptions.includes('memory');

/**
 * Finds this process's memory cgroup from `/proc/self/mountinfo` and `/proc/self/cgroup`.
 * The v1 `memory` hierarchy is used when the memory controller is bound to one; otherwise the
 * unified hierarchy, which counts only if `memory` is in its root `cgroup.controllers` (pass that
 * file's text as `v2Controllers`; without it a v2 hierarchy is reported as unknown). A mount
 * whose root is not above the process's cgroup (a container's bind mount of another subtree) is
 * skipped. Never throws.
 */
export function findMemoryHierarchy(mountinfo: string, procSelfCgroup: string, v2Controllers?: string): MemoryHierarchyResult {
  const mounts = parseMountinfo(mountinfo);
  if (!mounts.ok) return { ok: false, reason: mounts.error };
  const cgroups = parseProcCgroup(procSelfCgroup);
  if (!cgroups.ok) return { ok: false, reason: cgroups.error };
  const v1Line = cgroups.value.find((e) => e.hierarchyId !== 0 && e.controllers.includes('memory'));
  if (v1Line) return inV1(mounts.value, v1Line);
  const v2Line = cgroups.value.find((e) => e.hierarchyId === 0);
  const v2Mounts = mounts.value.filter((m) => m.fsType === 'cgroup2');
  if (!v2Line) return { ok: false, reason: 'this process is in no memory cgroup: /proc/self/cgroup has neither a memory nor a 0:: line' };
  if (v2Mounts.length === 0) return { ok: false, reason: 'the memory controller is on no v1 hierarchy and no cgroup2 filesystem is mounted' };
  if (v2Line.deleted) return { ok: false, reason: `this process's cgroup ${v2Line.path} was removed` };
  if (v2Controllers === undefined) return { ok: false, reason: 'the cgroup2 root cgroup.controllers could not be read' };
  const controllers = v2Controllers.trim().split(/\s+/);
  const where = v2Mounts[0]?.mountPoint ?? '';
  if (!controllers.includes('memory')) {
    return {
      ok: false,
      reason: `cgroup2 at ${where} has no memory controller (cgroup.controllers: ${v2Controllers.trim() || 'empty'})`,
    };
  }
  for (const m of v2Mounts) {
    const dir = dirIn(m, v2Line.path);
    if (dir !== undefined) return { ok: true, hierarchy: { version: 2, mountPoint: m.mountPoint, ownPath: v2Line.path, ownDir: dir } };
  }
  return { ok: false, reason: `this process's cgroup ${v2Line.path} is not below any cgroup2 mount's root` };
}

function inV1(mounts: readonly MountEntry[], line: ProcCgroupEntry): MemoryHierarchyResult {
  const candidates = mounts.filter(isV1Memory);
  if (candidates.length === 0) {
    return { ok: false, reason: `the memory controller is on v1 hierarchy ${line.hierarchyId} but no cgroup filesystem with it is mounted` };
  }
  if (line.deleted) return { ok: false, reason: `this process's memory cgroup ${line.path} was removed` };
  for (const m of candidates) {
    const dir = dirIn(m, line.path);
    if (dir !== undefined) return { ok: true, hierarchy: { version: 1, mountPoint: m.mountPoint, ownPath: line.path, ownDir: dir } };
  }
  return { ok: false, reason: `this process's memory cgroup ${line.path} is not below the root of any v1 memory mount` };
}

/**
 * Reads `/proc/self/mountinfo`, `/proc/self/cgroup` and, when there is a cgroup2 mount, its root
 * `cgroup.controllers`, and finds this process's memory cgroup. Never throws.
 */
export function readMemoryHierarchySync(procRoot = '/proc'): MemoryHierarchyResult {
  let mountinfo: string;
  let cgroup: string;
  try {
    mountinfo = readFileSync(`${procRoot}/self/mountinfo`, 'utf8');
    cgroup = readFileSync(`${procRoot}/self/cgroup`, 'utf8');
  } catch (error) {
    return { ok: false, reason: `cannot read ${procRoot}/self/mountinfo or cgroup: ${errnoCode(error) ?? String(error)}` };
  }
  const mounts = parseMountinfo(mountinfo);
  const unified = mounts.ok ? mounts.value.find((m) => m.fsType === 'cgroup2') : undefined;
  let controllers: string | undefined;
  if (unified) {
    try {
      controllers = readFileSync(`${unified.mountPoint}/cgroup.controllers`, 'utf8');
    } catch {
      controllers = undefined;
    }
  }
  return findMemoryHierarchy(mountinfo, cgroup, controllers);
}

/** {@link readMemoryHierarchySync}, for callers that await it (three small procfs reads). */
export function readMemoryHierarchy(procRoot = '/proc'): Promise<MemoryHierarchyResult> {
  return Promise.resolve().then(() => readMemoryHierarchySync(procRoot));
}
