import { describe, expect, it } from 'vitest';
import { readProcFixture } from '../../../test/fixtures/proc/index.js';
import { listBpfFds, listFdLinks, parseFdLink, type FdDirIo } from './fd.js';

describe('parseFdLink', () => {
  it.each([
    ['anon_inode:bpf-map', 'map'],
    ['anon_inode:bpf-prog', 'prog'],
    ['anon_inode:bpf_link', 'link'],
    ['anon_inode:bpf_iter', 'iter'],
    ['anon_inode:btf', 'btf'],
    ['anon_inode:[eventpoll]', 'other'],
    ['anon_inode:bpf_map', 'other'],
    ['pipe:[39157]', 'other'],
    ['/dev/null', 'other'],
    ['socket:[123]', 'other'],
    ['', 'other'],
  ])('%j is %s', (target, kind) => {
    expect(parseFdLink(target)).toBe(kind);
  });

  it('finds the BPF objects among the fd links captured on 6.18', () => {
    const lines = readProcFixture('fd-links.txt').trim().split('\n');
    const kinds = lines
      .map((l) => /^(\d+) -> (.*)$/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => parseFdLink(m[2] ?? ''));
    const count = (k: string): number => kinds.filter((x) => x === k).length;
    // capture.sh opened 5 maps, 4 programs, 2 links and 1 iterator.
    expect([count('map'), count('prog'), count('link'), count('iter'), count('btf')]).toEqual([5, 4, 2, 1, 0]);
    // The scan's own directory fd was gone by the time it was read.
    expect(lines.some((l) => / ! ENOENT$/.test(l))).toBe(true);
  });
});

/** A fake /proc/PID/fd: entries with targets, or with the errno readlink gets. */
function fakeIo(entries: Record<string, string | { errno: string }>, readdirErrno?: string): FdDirIo {
  const err = (code: string): Error => Object.assign(new Error(code), { code });
  return {
    readdir: () => (readdirErrno ? Promise.reject(err(readdirErrno)) : Promise.resolve(Object.keys(entries))),
    readlink: (path) => {
      const e = entries[path.slice(path.lastIndexOf('/') + 1)];
      if (e === undefined) return Promise.reject(err('ENOENT'));
      return typeof e === 'string' ? Promise.resolve(e) : Promise.reject(err(e.errno));
    },
  };
}

describe('listFdLinks and listBpfFds', () => {
  it('sorts by fd and keeps only BPF objects in listBpfFds', async () => {
    const io = fakeIo({ '10': 'anon_inode:bpf-prog', '2': '/dev/null', '7': 'anon_inode:bpf-map', '11': 'anon_inode:bpf_link' });
    expect((await listFdLinks(42, { io })).map((l) => l.fd)).toEqual([2, 7, 10, 11]);
    expect(await listBpfFds(42, { io })).toEqual([
      { fd: 7, target: 'anon_inode:bpf-map', kind: 'map' },
      { fd: 10, target: 'anon_inode:bpf-prog', kind: 'prog' },
      { fd: 11, target: 'anon_inode:bpf_link', kind: 'link' },
    ]);
  });

  it('skips fds closed during the scan (ENOENT, ESRCH on readlink)', async () => {
    const io = fakeIo({ '3': 'anon_inode:bpf-map', '4': { errno: 'ENOENT' }, '5': { errno: 'ESRCH' }, '6': 'anon_inode:bpf-map' });
    expect((await listBpfFds(42, { io })).map((l) => l.fd)).toEqual([3, 6]);
  });

  it.each(['ENOENT', 'ESRCH'])('gives no fds for a process that exited (%s on the directory)', async (errno) => {
    expect(await listBpfFds(42, { io: fakeIo({}, errno) })).toEqual([]);
  });

  it('throws on a directory it may not read, naming it', async () => {
    await expect(listBpfFds(42, { io: fakeIo({}, 'EACCES') })).rejects.toThrow('listing /proc/42/fd: EACCES');
  });

  it('throws on a link it may not read', async () => {
    await expect(listFdLinks(42, { io: fakeIo({ '3': { errno: 'EACCES' } }) })).rejects.toThrow('/proc/42/fd/3: EACCES');
  });

  it('ignores entries that are not fd numbers', async () => {
    expect(await listFdLinks(42, { io: fakeIo({ 'x': 'anon_inode:bpf-map' }) })).toEqual([]);
  });

  it('scans this process for real, its own directory fd vanishing on the way', async () => {
    const links = await listFdLinks('self');
    expect(links.length).toBeGreaterThan(2);
    expect(links.map((l) => l.fd)).toEqual([...links.map((l) => l.fd)].sort((a, b) => a - b));
  });

  it('finds nothing for a process that does not exist', async () => {
    expect(await listBpfFds(2147483646)).toEqual([]);
  });
});
