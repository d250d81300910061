import { describe, expect, it } from 'vitest';
import { readV2Fixture } from '../../../test/fixtures/cgroup-v2/index.js';
import { readProcFixture } from '../../../test/fixtures/proc/index.js';
import { findMemoryHierarchy, parseMountinfo, readMemoryHierarchy } from './mount.js';

const MOUNTINFO_618 = readProcFixture('self-mountinfo.txt');
const CGROUP_618 = readProcFixture('self-cgroup.txt');
const V2_MOUNTINFO = readV2Fixture(undefined, 'proc-self-mountinfo.txt') ?? '';
const V2_CGROUP = readV2Fixture(undefined, 'proc-self-cgroup.txt') ?? '';
const V2_CONTROLLERS = readV2Fixture(undefined, 'root-cgroup.controllers') ?? '';

describe('parseMountinfo', () => {
  it('reads the mountinfo captured on 6.18: v1 controllers in the super options, cgroup2 without them', () => {
    const r = parseMountinfo(MOUNTINFO_618);
    if (!r.ok) throw new Error(r.error);
    const memory = r.value.find((m) => m.mountPoint === '/sys/fs/cgroup/memory');
    expect(memory).toMatchObject({ fsType: 'cgroup', source: 'cgroup', root: '/', superOptions: ['rw', 'memory'] });
    expect(r.value.find((m) => m.fsType === 'cgroup2')).toMatchObject({ mountPoint: '/sys/fs/cgroup/unified', superOptions: ['rw'] });
  });

  it('reads optional fields and octal escapes', () => {
    const r = parseMountinfo('36 35 98:0 /mnt1 /mnt/a\\040b rw,noatime master:1 shared:4 - ext3 /dev/root rw,errors=continue\n');
    expect(r.ok && r.value[0]).toEqual({
      id: 36,
      parentId: 35,
      device: '98:0',
      root: '/mnt1',
      mountPoint: '/mnt/a b',
      mountOptions: ['rw', 'noatime'],
      optionalFields: ['master:1', 'shared:4'],
      fsType: 'ext3',
      source: '/dev/root',
      superOptions: ['rw', 'errors=continue'],
    });
  });

  it.each([['22 27 0:21 / /proc rw\n'], ['a b c d e f - x y z\n'], ['1 2 x / /p rw - proc proc rw\n']])('refuses %j', (text) => {
    expect(parseMountinfo(text).ok).toBe(false);
  });
});

describe('findMemoryHierarchy', () => {
  it('finds the v1 memory cgroup of the 6.18 capture', () => {
    expect(findMemoryHierarchy(MOUNTINFO_618, CGROUP_618)).toEqual({
      ok: true,
      hierarchy: {
        version: 1,
        mountPoint: '/sys/fs/cgroup/memory',
        ownPath: '/process_api/3b9dd90c240ebcc92b685a5857d728da',
        ownDir: '/sys/fs/cgroup/memory/process_api/3b9dd90c240ebcc92b685a5857d728da',
      },
    });
  });

  it('ignores the memory-less cgroup2 mount of the 6.18 capture even with its controllers', () => {
    const r = findMemoryHierarchy(MOUNTINFO_618, CGROUP_618, 'hugetlb\n');
    expect(r.ok && r.hierarchy.version).toBe(1);
  });

  it('finds the v2 memory cgroup of a v2-only machine', () => {
    expect(findMemoryHierarchy(V2_MOUNTINFO, V2_CGROUP, V2_CONTROLLERS)).toEqual({
      ok: true,
      hierarchy: {
        version: 2,
        mountPoint: '/sys/fs/cgroup',
        ownPath: '/kubepods.slice/kubepods-burstable.slice/cri-containerd-0a1b.scope',
        ownDir: '/sys/fs/cgroup/kubepods.slice/kubepods-burstable.slice/cri-containerd-0a1b.scope',
      },
    });
  });

  it('maps a container bind mount whose root is a subtree', () => {
    const mountinfo = '40 31 0:32 /docker/abc /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory\n';
    const r = findMemoryHierarchy(mountinfo, '4:memory:/docker/abc/worker\n');
    expect(r.ok && r.hierarchy).toEqual({
      version: 1,
      mountPoint: '/sys/fs/cgroup/memory',
      ownPath: '/docker/abc/worker',
      ownDir: '/sys/fs/cgroup/memory/worker',
    });
  });

  it('puts the root cgroup at the mount point', () => {
    const r = findMemoryHierarchy(V2_MOUNTINFO, '0::/\n', V2_CONTROLLERS);
    expect(r.ok && r.hierarchy.ownDir).toBe('/sys/fs/cgroup');
  });

  it.each([
    ['cgroup2 without memory in its controllers', V2_MOUNTINFO, V2_CGROUP, 'cpu io pids\n', /no memory controller \(cgroup.controllers: cpu io pids\)/],
    ['cgroup2 whose controllers were not read', V2_MOUNTINFO, V2_CGROUP, undefined, /could not be read/],
    ['no cgroup2 mount', '22 27 0:21 / /proc rw,relatime - proc proc rw\n', V2_CGROUP, V2_CONTROLLERS, /no cgroup2 filesystem is mounted/],
    ['memory on a v1 hierarchy that is not mounted', '22 27 0:21 / /proc rw,relatime - proc proc rw\n', '4:memory:/a\n', undefined, /hierarchy 4 but no cgroup filesystem/],
    ['a v1 mount of another subtree', '40 31 0:32 /docker/x /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n', '4:memory:/docker/y\n', undefined, /not below the root of any v1 memory mount/],
    ['a removed cgroup', V2_MOUNTINFO, '0::/gone (deleted)\n', V2_CONTROLLERS, /was removed/],
    ['an empty /proc/self/cgroup', V2_MOUNTINFO, '', V2_CONTROLLERS, /empty/],
    ['no memory and no 0:: line', MOUNTINFO_618, '3:cpu:/\n', undefined, /neither a memory nor a 0:: line/],
  ])('has none with %s', (_, mountinfo, cgroup, controllers, reason) => {
    const r = findMemoryHierarchy(mountinfo, cgroup, controllers);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(reason);
  });
});

describe('readMemoryHierarchy', () => {
  it('finds this process in some memory cgroup, or says why not', async () => {
    const r = await readMemoryHierarchy();
    if (r.ok) {
      expect(r.hierarchy.ownDir.startsWith(r.hierarchy.mountPoint)).toBe(true);
    } else {
      expect(r.reason).not.toBe('');
    }
  });
});
