import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findBpfMounts, walkPins, type PinIdentity } from './pins.js';

/** mountinfo lines as the kernel prints them (proc(5)), with two bpffs views of one filesystem. */
const MOUNTINFO = [
  '22 1 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw',
  '30 22 0:26 / /sys/fs/bpf rw,nosuid,nodev,noexec,relatime shared:12 - bpf bpf rw,mode=700',
  '31 1 0:26 / /run/cilium/bpffs rw,relatime shared:12 - bpf bpf rw,mode=700',
  '32 1 0:26 /tc/globals /run/tc rw,relatime - bpf bpf rw,mode=700',
  '40 1 0:44 / /tmp/with\\040space rw,relatime - bpf none rw',
  '41 1 0:45 / /mnt/not-bpf rw - tmpfs tmpfs rw',
  '',
].join('\n');

describe('findBpfMounts', () => {
  it('keeps bpf mounts, one per device and root, with escaped paths undone', () => {
    const r = findBpfMounts(MOUNTINFO);
    expect(r.ok && r.value.map((m) => [m.mountPoint, m.device, m.root])).toEqual([
      ['/sys/fs/bpf', '0:26', '/'],
      // The same filesystem from its subdirectory: other paths to the same pins.
      ['/run/tc', '0:26', '/tc/globals'],
      ['/tmp/with space', '0:44', '/'],
    ]);
  });

  it('finds none where no bpffs is mounted', () => {
    const r = findBpfMounts(MOUNTINFO.split('\n').filter((l) => !l.includes(' - bpf ')).join('\n'));
    expect(r).toEqual({ ok: true, value: [] });
  });

  it('passes mountinfo errors on', () => {
    expect(findBpfMounts('not mountinfo\n')).toEqual({ ok: false, error: expect.stringMatching(/^mountinfo line 1 /) as unknown });
  });
});

/** A temporary directory standing for a bpffs; its regular files are "pins" of a fake identify. */
let root: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'bpfmem-pins-'));
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

function tree(files: Record<string, string>): void {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), content);
  }
}

/** Identifies a file by its content: `map:3`, `prog:4`, `gone`, `error`. */
function byContent(path: string): PinIdentity {
  const text = readFileSync(path, 'utf8');
  if (text === 'gone') return { kind: 'gone' };
  if (text === 'error') return { kind: 'error', why: `${path}: EPERM` };
  const [kind, id] = text.split(':');
  return { kind: kind as 'map' | 'prog' | 'link', id: Number(id) };
}

describe('walkPins', () => {
  it('finds every file, sorted, depth first, with every path of an object', async () => {
    tree({ 'b/m': 'map:3', 'a/deep/p': 'prog:4', m2: 'map:3', l: 'link:5' });
    const scan = await walkPins([root], { identify: byContent });
    expect([...scan.pins.entries()]).toEqual([
      ['prog:4', [`${root}/a/deep/p`]],
      ['map:3', [`${root}/b/m`, `${root}/m2`]],
      ['link:5', [`${root}/l`]],
    ]);
    expect(scan).toMatchObject({ roots: [root], cut: [], errors: [] });
  });

  it('does not follow symbolic links (to files or directories)', async () => {
    tree({ 'real/m': 'map:1' });
    symlinkSync(join(root, 'real'), join(root, 'dirlink'));
    symlinkSync(join(root, 'real', 'm'), join(root, 'filelink'));
    const scan = await walkPins([root], { identify: byContent });
    expect([...scan.pins.entries()]).toEqual([['map:1', [`${root}/real/m`]]]);
  });

  it('says where the depth bound cut the walk', async () => {
    tree({ 'a/b/c/m': 'map:1', 'a/p': 'prog:2' });
    const scan = await walkPins([root], { identify: byContent, maxDepth: 2 });
    expect([...scan.pins.keys()]).toEqual(['prog:2']);
    expect(scan.cut).toEqual([`${root}/a/b/c: deeper than 2 directories, not walked`]);
  });

  it('says where the entry bound stopped the walk, across roots', async () => {
    tree({ 'one/a': 'map:1', 'one/b': 'map:2', 'two/c': 'map:3' });
    const scan = await walkPins([join(root, 'one'), join(root, 'two')], { identify: byContent, maxEntries: 2 });
    expect([...scan.pins.keys()]).toEqual(['map:1', 'map:2']);
    expect(scan.cut).toEqual([`stopped after 2 entries, at ${root}/two/c`]);
  });

  it('skips what vanishes and records what cannot be opened', async () => {
    tree({ a: 'gone', b: 'error', c: 'map:9', d: 'map:10' });
    // d is removed while c is being identified: readdir listed it, lstat finds nothing.
    const identify = (path: string): PinIdentity => {
      if (path.endsWith('/c')) unlinkSync(join(root, 'd'));
      return byContent(path);
    };
    const scan = await walkPins([root], { identify });
    expect([...scan.pins.keys()]).toEqual(['map:9']);
    expect(scan.errors).toEqual([`${root}/b: EPERM`]);
  });

  it('records a root that is missing or not a directory, and walks the others', async () => {
    tree({ file: 'map:1', 'dir/m': 'map:2' });
    const scan = await walkPins([join(root, 'file'), join(root, 'missing'), join(root, 'dir')], { identify: byContent });
    expect([...scan.pins.keys()]).toEqual(['map:2']);
    expect(scan.errors).toEqual([`${root}/file: not a directory`]);
  });
});
