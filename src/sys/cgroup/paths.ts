import type { ProcCgroupEntry } from '../proc/pid-cgroup.js';
import type { CgroupVersion } from '../../vocab/profile.js';
import type { MemoryHierarchy } from './mount.js';

/**
 * Cgroup paths in a mounted memory hierarchy: as `/proc/PID/cgroup` names them, as bpfmem shows
 * them (relative to the mount's root), and as directories.
 */

/**
 * The root of the memory hierarchy's mount as `/proc/PID/cgroup` names cgroups: `''` when the
 * mount shows the whole hierarchy (the usual case), the mount's root path when only a subtree is
 * mounted (a container's bind mount). Derived from where this process's own cgroup is mounted.
 */
export function mountRootOf(h: MemoryHierarchy): string {
  const rest = h.mountPoint === '/' ? h.ownDir : h.ownDir.slice(h.mountPoint.length);
  if (rest === '' || rest === '/') return h.ownPath === '/' ? '' : h.ownPath;
  return h.ownPath.endsWith(rest) ? h.ownPath.slice(0, h.ownPath.length - rest.length) : '';
}

/**
 * A cgroup path as `/proc/PID/cgroup` names it, made relative to the mounted hierarchy's root
 * (the paths `--cgroup` takes and bpfmem shows); undefined when it is outside the mount.
 */
export function pathInMount(h: MemoryHierarchy, procPath: string): string | undefined {
  const root = mountRootOf(h);
  if (root === '' || root === '/') return procPath;
  if (procPath === root) return '/';
  return procPath.startsWith(`${root}/`) ? procPath.slice(root.length) : undefined;
}

/** The directory of a cgroup path relative to the mounted hierarchy's root. */
export function dirOfPath(h: MemoryHierarchy, path: string): string {
  const base = h.mountPoint === '/' ? '' : h.mountPoint;
  return path === '/' ? h.mountPoint : `${base}${path}`;
}


/** The memory cgroup line of `/proc/PID/cgroup` for a hierarchy version. */
export function memoryLine(entries: readonly ProcCgroupEntry[], version: CgroupVersion): ProcCgroupEntry | undefined {
  return version === 1 ? entries.find((e) => e.hierarchyId !== 0 && e.controllers.includes('memory')) : entries.find((e) => e.hierarchyId === 0);
}
