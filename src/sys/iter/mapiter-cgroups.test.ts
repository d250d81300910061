import { mkdir, mkdtemp, rm, rmdir, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BpfmemError } from '../../vocab/errors.js';
import { readCgroupIds } from './mapiter-cgroups.js';

/**
 * readCgroupIds on an ordinary directory tree (the walk is the same as on cgroupfs; that the
 * inode is the kernfs id is proven live in test/live/mapiter.test.ts).
 */

let root = '';
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'bpfmem-cgids-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const ino = async (dir: string): Promise<bigint> => (await stat(dir, { bigint: true })).ino;

describe('readCgroupIds', () => {
  it('maps the inode of every directory to its path below the mount', async () => {
    for (const d of ['a', 'a/b', 'a/b/c', 'kubepods.slice', 'kubepods.slice/pod-1']) await mkdir(join(root, d));
    const ids = await readCgroupIds({ mountPoint: `${root}/` });
    expect(new Map([...ids].map(([k, v]) => [v, k]))).toEqual(
      new Map([
        ['/', await ino(root)],
        ['/a', await ino(join(root, 'a'))],
        ['/a/b', await ino(join(root, 'a/b'))],
        ['/a/b/c', await ino(join(root, 'a/b/c'))],
        ['/kubepods.slice', await ino(join(root, 'kubepods.slice'))],
        ['/kubepods.slice/pod-1', await ino(join(root, 'kubepods.slice/pod-1'))],
      ]),
    );
  });

  it('follows no symlinks (cgroupfs has none; a link must not lead the walk elsewhere)', async () => {
    await mkdir(join(root, 'a'));
    await symlink('/', join(root, 'a', 'escape'));
    expect([...(await readCgroupIds({ mountPoint: root })).values()].sort()).toEqual(['/', '/a']);
  });

  it('throws a BpfmemError when the mount itself cannot be read', async () => {
    await expect(readCgroupIds({ mountPoint: join(root, 'missing') })).rejects.toBeInstanceOf(BpfmemError);
  });

  it('does not fail when directories vanish during the walk', async () => {
    for (let round = 0; round < 5; round++) {
      const dirs = Array.from({ length: 60 }, (_, i) => join(root, `d${i}`));
      for (const d of dirs) await mkdir(join(d, 'x', 'y'), { recursive: true });
      const removing = Promise.all(dirs.map(async (d) => {
        await rmdir(join(d, 'x', 'y'));
        await rmdir(join(d, 'x'));
        await rmdir(d);
      }));
      const ids = await readCgroupIds({ mountPoint: root });
      await removing;
      expect(ids.get(await ino(root))).toBe('/');
    }
  });
});
