/** Cgroup paths as bpfmem writes them: absolute from a hierarchy's root, `/` the root itself. */

/** The parent of a cgroup path other than `/` (`/` for `/`). */
export function parentOf(path: string): string {
  const cut = path.lastIndexOf('/');
  return cut <= 0 ? '/' : path.slice(0, cut);
}

/** The path of each ancestor of `path`, itself first, `/` last. */
export function ancestors(path: string): string[] {
  const out: string[] = [];
  let p = path;
  for (;;) {
    out.push(p);
    if (p === '/') return out;
    const cut = p.lastIndexOf('/');
    p = cut <= 0 ? '/' : p.slice(0, cut);
  }
}

/** Why a cgroup with tasks in it is busy, as the model and the live side both say it. */
export function tasksInIt(tasks: readonly (number | string)[]): string {
  return tasks.length === 1 ? `task ${String(tasks[0])} is in it` : `tasks ${tasks.join(', ')} are in it`;
}

/**
 * Why a cgroup v1 root's usage can be below a child's, as `cgroups` and `explain` say it:
 * mm/memcontrol.c mem_cgroup_usage() gives the v1 root's usage_in_bytes from global file and
 * anonymous pages, without kernel memory.
 */
export const V1_ROOT_USAGE_NOTE =
  "on cgroup v1 the root's USAGE is the kernel's estimate from page cache and anonymous memory, without kernel memory (BPF among it): it can be below a child's";
