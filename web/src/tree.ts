import type { CgroupRow } from './decode.js';

/**
 * The memory cgroup tree as nested nodes for a treemap, sized by the BPF bytes charged to each
 * cgroup and below it and coloured by the headroom left under the tightest limit on its path.
 * The live tree (from `/api/v1/cgroups`) and the simulator's (from the model's snapshots) both
 * go through here. Pure: no DOM, no chart library, so tests run it in Node.
 */

/** A cgroup as the tree needs it; bytes, `null` for no limit. */
export interface TreeCgroup {
  /** `/`, `/kubepods/pod1`: from the root of the memory hierarchy. */
  readonly path: string;
  /** `pod …`, `container …`, `service …`, or null. */
  readonly label: string | null;
  readonly usage: number;
  readonly max: number | null;
  /** The least `max - usage` of the cgroup and its ancestors; null when none has a limit. */
  readonly headroom: number | null;
  /** BPF bytes charged to the cgroup itself, and to it and every cgroup below it. */
  readonly bpfOwn: number;
  readonly bpfSubtree: number;
  /** BPF objects charged to it, and to it and below. */
  readonly objectsOwn: number;
  readonly objectsSubtree: number;
}

/** A cgroup of `/api/v1/cgroups` as the tree takes it. */
export const treeCgroup = (c: CgroupRow): TreeCgroup => ({
  path: c.path,
  label: c.label,
  usage: c.usage,
  max: c.max,
  headroom: c.headroom,
  bpfOwn: c.bpf_own,
  bpfSubtree: c.bpf_subtree,
  objectsOwn: c.objects_own,
  objectsSubtree: c.objects_subtree,
});

/** How much room is left under the tightest limit on a cgroup's path, for colours. */
export type HeadroomBand = 'none' | 'ample' | 'some' | 'low' | 'full';

/** The bands, for the legend: what each means. */
export const HEADROOM_BANDS: readonly { readonly band: HeadroomBand; readonly text: string }[] = [
  { band: 'ample', text: 'half or more of the limit free' },
  { band: 'some', text: '25–50% free' },
  { band: 'low', text: '10–25% free' },
  { band: 'full', text: 'under 10% free: the next charge may fail' },
  { band: 'none', text: 'no limit on the path' },
];

/** A node of the treemap: a cgroup, or the part of a cgroup's bytes charged to itself. */
export interface TreeNode {
  /**
   * What the node is called on the chart: the cgroup's label (`service falco`, `container
   * 3a9d2c1b5e07`) or else the last component of its path (`/` for the root); `(itself)` for
   * the own part.
   */
  readonly name: string;
  readonly path: string;
  /** Bytes: the subtree's BPF bytes (for the own part, the cgroup's own). */
  readonly value: number;
  readonly band: HeadroomBand;
  /** Whether this node is the bytes a cgroup with children holds itself. */
  readonly own: boolean;
  readonly cgroup: TreeCgroup;
  readonly children?: readonly TreeNode[];
}

/** What the tree holds: its top nodes, and how many bytes and cgroups in all. */
export interface Tree {
  readonly roots: readonly TreeNode[];
  readonly bytes: number;
  /** Cgroups with BPF bytes charged at or below them (the nodes that have an area). */
  readonly cgroups: number;
}

/** The parent of a cgroup path (`/` for a child of the root). */
export function parentOf(path: string): string {
  const cut = path.lastIndexOf('/');
  return cut <= 0 ? '/' : path.slice(0, cut);
}

/**
 * The headroom band of a cgroup: the least free fraction `(max - usage) / max` over it and its
 * ancestors that have a limit (a charge must fit under every one of them).
 */
export function bandOf(path: string, byPath: ReadonlyMap<string, TreeCgroup>): HeadroomBand {
  let least: number | undefined;
  for (let p: string | undefined = path; p !== undefined; p = p === '/' ? undefined : parentOf(p)) {
    const c = byPath.get(p);
    if (c?.max === null || c === undefined || c.max <= 0) continue;
    const free = (c.max - c.usage) / c.max;
    least = least === undefined ? free : Math.min(least, free);
  }
  if (least === undefined) return 'none';
  if (least >= 0.5) return 'ample';
  if (least >= 0.25) return 'some';
  if (least >= 0.1) return 'low';
  return 'full';
}

/**
 * Builds the tree. A cgroup whose parent was not listed hangs from its nearest listed ancestor
 * (a cgroup made while the tree was read); cgroups with no BPF bytes at or below them have no
 * area and are left out. A node's value is its own bytes plus its children's values, so the
 * areas always add up, whatever the input's `bpfSubtree` says.
 */
export function buildTree(cgroups: readonly TreeCgroup[]): Tree {
  const byPath = new Map(cgroups.map((c) => [c.path, c]));
  const children = new Map<string, TreeCgroup[]>();
  const tops: TreeCgroup[] = [];
  for (const c of cgroups) {
    let up: string | undefined;
    for (let p = c.path; p !== '/'; ) {
      p = parentOf(p);
      if (byPath.has(p)) {
        up = p;
        break;
      }
    }
    if (up === undefined || c.path === '/') tops.push(c);
    else {
      const siblings = children.get(up);
      if (siblings) siblings.push(c);
      else children.set(up, [c]);
    }
  }
  let count = 0;
  const node = (c: TreeCgroup): TreeNode | undefined => {
    const kids = (children.get(c.path) ?? []).map(node).filter((n): n is TreeNode => n !== undefined);
    const own = Math.max(0, c.bpfOwn);
    const value = own + kids.reduce((s, k) => s + k.value, 0);
    if (value <= 0) return undefined;
    count++;
    const band = bandOf(c.path, byPath);
    const name = c.label ?? (c.path === '/' ? '/' : c.path.slice(c.path.lastIndexOf('/') + 1));
    if (kids.length === 0) return { name, path: c.path, value, band, own: false, cgroup: c };
    kids.sort((a, b) => b.value - a.value || (a.path < b.path ? -1 : 1));
    const self: TreeNode[] = own > 0 ? [{ name: '(itself)', path: c.path, value: own, band, own: true, cgroup: c }] : [];
    return { name, path: c.path, value, band, own: false, cgroup: c, children: [...self, ...kids] };
  };
  const roots = tops.map(node).filter((n): n is TreeNode => n !== undefined);
  roots.sort((a, b) => b.value - a.value || (a.path < b.path ? -1 : 1));
  return { roots, bytes: roots.reduce((s, r) => s + r.value, 0), cgroups: count };
}

/**
 * Every cgroup of a flat list with its subtree sums and headroom filled in: for the model's
 * snapshots, which give each cgroup's own BPF bytes and objects, usage and limit.
 */
export function rollUp(
  cgroups: readonly { readonly path: string; readonly label: string | null; readonly usage: number; readonly max: number | null; readonly bpfOwn: number; readonly objectsOwn: number }[],
): TreeCgroup[] {
  const byPath = new Map(cgroups.map((c) => [c.path, c]));
  const bytes = new Map<string, number>();
  const objects = new Map<string, number>();
  for (const c of cgroups) {
    for (let p: string | undefined = c.path; p !== undefined; p = p === '/' ? undefined : parentOf(p)) {
      if (!byPath.has(p)) continue;
      bytes.set(p, (bytes.get(p) ?? 0) + c.bpfOwn);
      objects.set(p, (objects.get(p) ?? 0) + c.objectsOwn);
    }
  }
  return cgroups.map((c) => {
    let headroom: number | null = null;
    for (let p: string | undefined = c.path; p !== undefined; p = p === '/' ? undefined : parentOf(p)) {
      const up = byPath.get(p);
      if (up?.max === null || up === undefined) continue;
      headroom = headroom === null ? up.max - up.usage : Math.min(headroom, up.max - up.usage);
    }
    return { ...c, headroom, bpfSubtree: bytes.get(c.path) ?? 0, objectsSubtree: objects.get(c.path) ?? 0 };
  });
}
