import { existsSync, mkdirSync, renameSync, utimesSync, mkdtempSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findBpfMounts, PinScanner, walkPins, type PinIdentity, type PinScan } from './pins.js';

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

/** Identifies a file by its content: `map:3`, `prog:4`, `gone`, `error`; a file removed since the listing is gone. */
function byContent(path: string): PinIdentity {
  if (!existsSync(path)) return { kind: 'gone' };
  const text = readFileSync(path, 'utf8');
  if (text === 'gone') return { kind: 'gone' };
  if (text === 'error') return { kind: 'error', why: `${path}: EPERM` };
  const [kind, id] = text.split(':');
  return { kind: kind as 'map' | 'prog' | 'link', id: Number(id) };
}

/** A scan's objects as `kind:id` and their paths: maps, then programs, then links. */
const entries = (scan: PinScan): [string, readonly string[]][] =>
  (['maps', 'progs', 'links'] as const).flatMap((k) => [...scan.pins[k]].map(([id, paths]): [string, readonly string[]] => [`${k.slice(0, -1)}:${id}`, paths]));
const keys = (scan: PinScan): string[] => entries(scan).map(([k]) => k);

describe('walkPins', () => {
  it('finds every file, sorted, depth first, with every path of an object', async () => {
    tree({ 'b/m': 'map:3', 'a/deep/p': 'prog:4', m2: 'map:3', l: 'link:5' });
    const scan = await walkPins([root], { identify: byContent });
    expect(entries(scan)).toEqual([
      ['map:3', [`${root}/b/m`, `${root}/m2`]],
      ['prog:4', [`${root}/a/deep/p`]],
      ['link:5', [`${root}/l`]],
    ]);
    expect(scan).toMatchObject({ roots: [root], cut: [], errors: [] });
  });

  it('does not follow symbolic links (to files or directories)', async () => {
    tree({ 'real/m': 'map:1' });
    symlinkSync(join(root, 'real'), join(root, 'dirlink'));
    symlinkSync(join(root, 'real', 'm'), join(root, 'filelink'));
    const scan = await walkPins([root], { identify: byContent });
    expect(entries(scan)).toEqual([['map:1', [`${root}/real/m`]]]);
  });

  it('says where the depth bound cut the walk', async () => {
    tree({ 'a/b/c/m': 'map:1', 'a/p': 'prog:2' });
    const scan = await walkPins([root], { identify: byContent, maxDepth: 2 });
    expect(keys(scan)).toEqual(['prog:2']);
    expect(scan.cut).toEqual([`${root}/a/b/c: deeper than 2 directories, not walked`]);
  });

  it('says where the entry bound stopped the walk, across roots', async () => {
    tree({ 'one/a': 'map:1', 'one/b': 'map:2', 'two/c': 'map:3' });
    const scan = await walkPins([join(root, 'one'), join(root, 'two')], { identify: byContent, maxEntries: 2 });
    expect(keys(scan)).toEqual(['map:1', 'map:2']);
    expect(scan.cut).toEqual([`stopped after 2 entries, at ${root}/two/c`]);
  });

  it('skips what vanishes and records what cannot be opened', async () => {
    tree({ a: 'gone', b: 'error', c: 'map:9', d: 'map:10' });
    // d is removed while c is being identified: the listing saw it, opening it finds nothing.
    const identify = (path: string): PinIdentity => {
      if (path.endsWith('/c')) unlinkSync(join(root, 'd'));
      return byContent(path);
    };
    const scan = await walkPins([root], { identify });
    expect(keys(scan)).toEqual(['map:9']);
    expect(scan.errors).toEqual([`${root}/b: EPERM`]);
  });

  it('records a root that is missing or not a directory, and walks the others', async () => {
    tree({ file: 'map:1', 'dir/m': 'map:2' });
    const scan = await walkPins([join(root, 'file'), join(root, 'missing'), join(root, 'dir')], { identify: byContent });
    expect(keys(scan)).toEqual(['map:2']);
    expect(scan.errors).toEqual([`${root}/file: not a directory`]);
  });
});

describe('PinScanner', () => {
  /** Sets a directory's times a minute back: "settled", listed well after its last change. */
  const settle = (...dirs: string[]): void => {
    const past = new Date(Date.now() - 60_000);
    for (const d of dirs) utimesSync(d, past, past);
  };

  it('opens only new pins on the next walk, and walks nothing when no directory changed', async () => {
    tree({ 'a/m1': 'map:1', 'a/m2': 'map:2', b: 'prog:3' });
    const opened: string[] = [];
    const scanner = new PinScanner((path) => (opened.push(path), byContent(path)));
    settle(join(root, 'a'), root);
    const first = await scanner.walk([root]);
    expect(opened).toHaveLength(3);
    const again = await scanner.walk([root]);
    expect(again).toBe(first); // the same answer, nothing opened
    expect(opened).toHaveLength(3);
    tree({ 'a/m4': 'map:4' });
    settle(join(root, 'a'));
    const third = await scanner.walk([root]);
    expect(opened.slice(3)).toEqual([`${root}/a/m4`]);
    expect(keys(third)).toEqual(['map:1', 'map:2', 'map:4', 'prog:3']);
    // Lists of paths that did not change are the same arrays (an inventory reuses its entries).
    expect(third.pins.maps.get(1)).toBe(first.pins.maps.get(1));
  });

  it('opens again a file that failed, when its directory is listed again; an unchanged directory says the failure again', async () => {
    tree({ a: 'error', b: 'map:1' });
    const opened: string[] = [];
    const scanner = new PinScanner((path) => (opened.push(path), byContent(path)));
    settle(root);
    expect((await scanner.walk([root])).errors).toEqual([`${root}/a: EPERM`]);
    expect((await scanner.walk([root])).errors).toEqual([`${root}/a: EPERM`]);
    expect(opened).toEqual([`${root}/a`, `${root}/b`]);
    writeFileSync(join(root, 'a'), 'map:2');
    tree({ c: 'prog:3' });
    settle(root);
    const scan = await scanner.walk([root]);
    expect(opened.slice(2)).toEqual([`${root}/a`, `${root}/c`]);
    expect(entries(scan)).toEqual([
      ['map:2', [`${root}/a`]],
      ['map:1', [`${root}/b`]],
      ['prog:3', [`${root}/c`]],
    ]);
    expect(scan.errors).toEqual([]);
  });

  it('opens a file again when its inode changed under the same name, and lists a directory changed within a second again', async () => {
    tree({ m: 'map:1' });
    const opened: string[] = [];
    const scanner = new PinScanner((path) => (opened.push(path), byContent(path)));
    await scanner.walk([root]);
    // A new pin with the old name, another inode (made before the old one goes: bpffs never
    // reuses an inode number soon, get_next_ino(); a disk filesystem would at once).
    tree({ 'm.new': 'map:7' });
    renameSync(join(root, 'm.new'), join(root, 'm'));
    const scan = await scanner.walk([root]);
    expect(opened).toEqual([`${root}/m`, `${root}/m`]);
    expect(keys(scan)).toEqual(['map:7']);
  });
});
