import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cgroupJson } from '../../src/inspect/json.js';
import { buildInventory } from '../../src/inspect/inventory.js';
import { decode } from '../../web/src/decode.js';
import { bandOf, buildTree, rollUp, treeCgroup, type TreeCgroup, type TreeNode } from '../../web/src/tree.js';
import { CONTAINER, FALCO, POD, fixtureInput } from './fixture.js';

/** The treemap's tree (web/src/tree.ts): sizes add up, colours follow the tightest limit. */

const MiB = 1024 * 1024;

function cg(path: string, own: number, o: Partial<TreeCgroup> = {}): TreeCgroup {
  return { path, label: null, usage: 0, max: null, headroom: null, bpfOwn: own, bpfSubtree: own, objectsOwn: own ? 1 : 0, objectsSubtree: 0, ...o };
}

/** Every node of a tree, depth first. */
function nodes(ns: readonly TreeNode[]): TreeNode[] {
  return ns.flatMap((n) => [n, ...nodes(n.children ?? [])]);
}

/** The fixture's cgroups as the API gives them. */
function fixtureCgroups(): TreeCgroup[] {
  const inv = buildInventory(fixtureInput);
  const doc = decode('cgroups', JSON.parse(JSON.stringify({ source: null, kernel: { version: '6.18', release: '6.18', cpus: 2, page_size: 4096, cgroup: 1, regime: 'memcg' }, charges_unavailable: null, errors: [], cgroups: inv.cgroups.map((c) => cgroupJson(c)) })), 'x');
  if (!doc.ok) throw new Error(doc.message);
  return doc.value.cgroups.map(treeCgroup);
}

describe('buildTree', () => {
  it("the fixture's tree: / holds the pod's and falco's bytes, sshd (no BPF) has no area", () => {
    const tree = buildTree(fixtureCgroups());
    expect(tree.roots.map((r) => r.path)).toEqual(['/']);
    const all = nodes(tree.roots);
    expect(all.map((n) => n.path)).not.toContain('/system.slice/sshd.service');
    expect(all.filter((n) => !n.own).map((n) => n.path)).toEqual(['/', '/kubepods', '/kubepods/burstable', POD, CONTAINER, '/system.slice', FALCO]);
    // The pod pays for a map itself and holds its container: an `(itself)` part and the container.
    const pod = all.find((n) => n.path === POD && !n.own)!;
    expect(pod.children!.map((c) => [c.name, c.own])).toEqual([
      ['(itself)', true],
      ['container 3a9d2c1b5e07', false],
    ]);
    const inv = buildInventory(fixtureInput);
    expect(tree.bytes).toBe(inv.cgroups.find((c) => c.path === '/')!.bpfSubtree);
  });

  it('colours: the pod is within 10% of its limit, so it and its container are full; falco has ample room; / has no limit', () => {
    const all = nodes(buildTree(fixtureCgroups()).roots);
    const band = (path: string): string | undefined => all.find((n) => n.path === path && !n.own)?.band;
    expect([band(POD), band(CONTAINER), band(FALCO), band('/'), band('/kubepods')]).toEqual(['full', 'full', 'some', 'none', 'ample']);
  });

  it.each([
    ['no cgroups', [], 0, []],
    ['only cgroups without BPF', [cg('/', 0), cg('/a', 0)], 0, []],
    ['a child whose parent was not read hangs from the nearest ancestor read', [cg('/', 0), cg('/a/b/c', 5)], 5, ['/', '/a/b/c']],
    ['no root read: the top cgroups are the roots', [cg('/a', 3), cg('/b', 4)], 7, ['/b', '/a']],
    ['own bytes of a leaf are its value, no (itself) part', [cg('/', 0), cg('/a', 9)], 9, ['/', '/a']],
  ])('%s', (_what, input: TreeCgroup[], bytes: number, order: string[]) => {
    const tree = buildTree(input);
    expect(tree.bytes).toBe(bytes);
    expect(nodes(tree.roots).map((n) => n.path)).toEqual(order);
  });

  it('sizes always add up, and nothing without bytes is drawn (random trees)', () => {
    const name = fc.constantFrom('a', 'b', 'c', 'pod1', 'x.service');
    const path = fc.array(name, { minLength: 1, maxLength: 4 }).map((p) => `/${p.join('/')}`);
    const entry = fc.record({ path, own: fc.nat(10 * MiB), max: fc.option(fc.nat(20 * MiB)), usage: fc.nat(20 * MiB) });
    fc.assert(
      fc.property(fc.uniqueArray(entry, { selector: (e) => e.path, maxLength: 30 }), fc.boolean(), (entries, withRoot) => {
        const cgroups = [...(withRoot ? [cg('/', 0)] : []), ...entries.map((e) => cg(e.path, e.own, { max: e.max, usage: e.usage }))];
        const tree = buildTree(cgroups);
        const all = nodes(tree.roots);
        expect(tree.bytes).toBe(entries.reduce((s, e) => s + e.own, 0));
        for (const n of all) {
          expect(n.value).toBeGreaterThan(0);
          if (n.children) expect(n.children.reduce((s, c) => s + c.value, 0)).toBe(n.value);
        }
        expect(tree.cgroups).toBe(all.filter((n) => !n.own).length);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('bandOf', () => {
  const byPath = (cs: TreeCgroup[]): Map<string, TreeCgroup> => new Map(cs.map((c) => [c.path, c]));
  it.each([
    ['no limit anywhere', [cg('/', 0), cg('/a', 0)], 'none'],
    ['60% free', [cg('/a', 0, { max: 100, usage: 40 })], 'ample'],
    ['30% free', [cg('/a', 0, { max: 100, usage: 70 })], 'some'],
    ['15% free', [cg('/a', 0, { max: 100, usage: 85 })], 'low'],
    ['5% free', [cg('/a', 0, { max: 100, usage: 95 })], 'full'],
    ['over the limit', [cg('/a', 0, { max: 100, usage: 120 })], 'full'],
    ['the parent is tighter than the child', [cg('/a', 0, { max: 100, usage: 95 }), cg('/a/b', 0, { max: 1000, usage: 10 })], 'full'],
  ])('%s', (_what, cs: TreeCgroup[], band: string) => {
    expect(bandOf(cs.at(-1)!.path, byPath(cs))).toBe(band);
  });
});

describe('rollUp', () => {
  it("sums own bytes and objects into every ancestor, and takes the least headroom on the path", () => {
    const out = rollUp([
      { path: '/', label: null, usage: 100, max: null, bpfOwn: 0, objectsOwn: 0 },
      { path: '/a', label: null, usage: 60, max: 80, bpfOwn: 10, objectsOwn: 1 },
      { path: '/a/b', label: null, usage: 50, max: 1000, bpfOwn: 20, objectsOwn: 2 },
      { path: '/c', label: null, usage: 5, max: null, bpfOwn: 1, objectsOwn: 1 },
    ]);
    expect(out.map((c) => [c.path, c.bpfSubtree, c.objectsSubtree, c.headroom])).toEqual([
      ['/', 31, 4, null],
      ['/a', 30, 3, 20],
      ['/a/b', 20, 2, 20],
      ['/c', 1, 1, null],
    ]);
  });
});
