import { readdir, stat } from 'node:fs/promises';
import { BpfmemError } from '../../vocab/errors.js';
import type { MemoryHierarchy } from '../cgroup/mount.js';
import { errnoCode } from '../proc/text.js';

/**
 * kernfs id → cgroup path, the other half of "which cgroup is this map charged to": the map
 * iterator reports `cgroup->kn->id`, and a cgroup directory's inode number is that id. kernfs
 * makes a node's inode number from its id (fs/kernfs/inode.c `kernfs_init_inode`:
 * `inode->i_ino = kernfs_ino(kn)`; include/linux/kernfs.h: on 64-bit hosts the id is the inode
 * number, on 32-bit its low 32 bits with the generation above). On cgroup v2 the same number is
 * the cgroup id (`name_to_handle_at`, `bpf_get_current_cgroup_id`).
 *
 * Verified on this machine (6.18, x86-64, cgroup v1 memory hierarchy): test/live/mapiter.test.ts
 * creates a map from a task in a child cgroup, and the iterator's `kn->id` equals the inode of
 * that cgroup's directory; docs/kernel-facts.md §8 saw the same by hand.
 */

/** Errors that mean a directory went away (or changed) while it was walked. */
const VANISHED = new Set(['ENOENT', 'ENOTDIR', 'ESTALE', 'ENODEV']);

/**
 * Every cgroup of a memory hierarchy by its kernfs id (bigint: kernfs ids are u64), as a path
 * relative to the hierarchy's mount (`/` for its root, `/system.slice/foo.service` below).
 * Cgroups created or removed during the walk may or may not be listed; a directory that
 * vanishes is skipped, never an error. Other failures throw a {@link BpfmemError} (`system`).
 */
export async function readCgroupIds(hierarchy: Pick<MemoryHierarchy, 'mountPoint'>): Promise<Map<bigint, string>> {
  const ids = new Map<bigint, string>();
  const root = hierarchy.mountPoint.replace(/\/+$/, '') || '/';
  const dirOf = (path: string): string => (path === '/' ? root : `${root === '/' ? '' : root}${path}`);
  const walk = async (path: string): Promise<void> => {
    const dir = dirOf(path);
    let names: string[];
    try {
      const [st, entries] = await Promise.all([stat(dir, { bigint: true }), readdir(dir, { withFileTypes: true })]);
      ids.set(st.ino, path);
      names = entries.filter((e) => e.isDirectory()).map((e) => e.name);
    } catch (error) {
      if (VANISHED.has(errnoCode(error) ?? '') && path !== '/') return;
      throw new BpfmemError('system', `reading the cgroup directory ${dir}: ${errnoCode(error) ?? String(error)}`, { cause: error });
    }
    await Promise.all(names.map((name) => walk(path === '/' ? `/${name}` : `${path}/${name}`)));
  };
  await walk('/');
  return ids;
}
