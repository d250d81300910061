import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { MemoryHierarchy } from './mount.js';
import { readProcFixture } from '../../../test/fixtures/proc/index.js';
import { parseProcCgroup } from '../proc/pid-cgroup.js';
import { dirOfPath, memoryLine, mountRootOf, pathInMount } from './paths.js';
import { ancestors } from '../../vocab/cgroup-path.js';

const whole: MemoryHierarchy = {
  version: 1,
  mountPoint: '/sys/fs/cgroup/memory',
  ownPath: '/process_api/c19',
  ownDir: '/sys/fs/cgroup/memory/process_api/c19',
};
/** A container that sees only its own subtree, mounted at /sys/fs/cgroup. */
const container: MemoryHierarchy = { version: 2, mountPoint: '/sys/fs/cgroup', ownPath: '/kubepods/pod1/c1', ownDir: '/sys/fs/cgroup' };
/** The subtree /kubepods mounted, the process below it. */
const partial: MemoryHierarchy = { version: 1, mountPoint: '/mnt/mem', ownPath: '/kubepods/pod1', ownDir: '/mnt/mem/pod1' };

describe('paths in the memory hierarchy', () => {
  it.each([
    [whole, '', '/process_api/c19', '/process_api/c19'],
    [whole, '', '/', '/'],
    [container, '/kubepods/pod1/c1', '/kubepods/pod1/c1', '/'],
    [container, '/kubepods/pod1/c1', '/kubepods/pod1/c1/sidecar', '/sidecar'],
    [container, '/kubepods/pod1/c1', '/kubepods/pod2', undefined],
    [partial, '/kubepods', '/kubepods/pod1/x', '/pod1/x'],
    [partial, '/kubepods', '/kubepodsX', undefined],
  ])('%#: mount root %j, %j is %j in the mount', (h, root, proc, rel) => {
    expect(mountRootOf(h)).toBe(root);
    expect(pathInMount(h, proc)).toBe(rel);
  });

  it('maps paths to directories', () => {
    expect(dirOfPath(whole, '/')).toBe('/sys/fs/cgroup/memory');
    expect(dirOfPath(whole, '/a/b')).toBe('/sys/fs/cgroup/memory/a/b');
    expect(dirOfPath({ ...whole, mountPoint: '/' }, '/a')).toBe('/a');
  });

  it('walks ancestors up to the root, itself first', () => {
    expect(ancestors('/a/b/c')).toEqual(['/a/b/c', '/a/b', '/a', '/']);
    expect(ancestors('/')).toEqual(['/']);
  });

  it('never loops and always ends at / for any path, and never throws mapping one', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (s) => {
        const path = `/${s}`;
        const chain = ancestors(path);
        expect(chain[chain.length - 1]).toBe('/');
        expect(chain.length).toBeLessThanOrEqual(path.length + 1);
        for (const h of [whole, container, partial]) {
          const rel = pathInMount(h, path);
          if (rel !== undefined) expect(rel.startsWith('/')).toBe(true);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('finds the memory line of /proc/PID/cgroup per version', () => {
    const v1 = parseProcCgroup(readProcFixture('self-cgroup.txt'));
    if (!v1.ok) throw new Error(v1.error);
    expect(memoryLine(v1.value, 1)?.path).toMatch(/^\/process_api\//);
    expect(memoryLine(v1.value, 2)?.path).toBe('/');
  });
});
