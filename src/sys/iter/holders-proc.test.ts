import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { readdir, readFile, readlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readProcFixture } from '../../../test/fixtures/proc/index.js';
import { mapId, progId } from '../bpf/types.js';
import { scanHolders } from './holders.js';
import { scanProcHolders, syncProcHoldersIo, type ProcHoldersIo } from './holders-proc.js';

/** Captured fdinfo with the id of our choosing. */
const mapFdinfo = (id: number): string => readProcFixture('fdinfo-map-bloom.txt').replace(/^map_id:\t\d+$/m, `map_id:\t${id}`);
const progFdinfo = (id: number): string => readProcFixture('fdinfo-prog-socket-filter.txt').replace(/^prog_id:\t\d+$/m, `prog_id:\t${id}`);

/**
 * A directory standing for /proc: fd links are symbolic links whose target is the text the
 * kernel shows (`anon_inode:bpf-map`), fdinfo and comm are files.
 */
let root: string;

function proc(pid: number | string, files: { fds?: Record<number, string>; fdinfo?: Record<number, string>; comm?: string }): void {
  const dir = join(root, String(pid));
  mkdirSync(join(dir, 'fd'), { recursive: true });
  mkdirSync(join(dir, 'fdinfo'), { recursive: true });
  for (const [fd, target] of Object.entries(files.fds ?? {})) symlinkSync(target, join(dir, 'fd', fd));
  for (const [fd, text] of Object.entries(files.fdinfo ?? {})) writeFileSync(join(dir, 'fdinfo', fd), text);
  if (files.comm !== undefined) writeFileSync(join(dir, 'comm'), `${files.comm}\n`);
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'bpfmem-proc-'));
  // A holder of map 7 (twice), program 9, and an fd that is no BPF object.
  proc(100, {
    fds: { 3: 'anon_inode:bpf-map', 4: 'anon_inode:bpf-prog', 5: '/dev/null', 6: 'anon_inode:bpf-map', 8: 'anon_inode:bpf_link' },
    fdinfo: { 3: mapFdinfo(7), 4: progFdinfo(9), 6: mapFdinfo(7) },
    comm: 'agent',
  });
  // Holds map 7 too.
  proc(200, { fds: { 10: 'anon_inode:bpf-map' }, fdinfo: { 10: mapFdinfo(7) }, comm: 'sidecar' });
  // Its fd closed between the readlink and the fdinfo read: no fdinfo file.
  proc(300, { fds: { 3: 'anon_inode:bpf-map' }, comm: 'closer' });
  // fd 3 closed and reused for a program between the readlink and the fdinfo read.
  proc(400, { fds: { 3: 'anon_inode:bpf-map' }, fdinfo: { 3: progFdinfo(11) }, comm: 'reuser' });
  // Exited between the fd listing and the comm read.
  proc(500, { fds: { 3: 'anon_inode:bpf-map' }, fdinfo: { 3: mapFdinfo(12) } });
  // No BPF fds at all.
  proc(600, { fds: { 0: '/dev/null' }, comm: 'bash' });
  // Not processes.
  mkdirSync(join(root, 'sys'));
  symlinkSync('100', join(root, 'self'));
  writeFileSync(join(root, 'meminfo'), 'MemTotal: 1 kB\n');
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

const errno = (code: string): NodeJS.ErrnoException => Object.assign(new Error(code), { code });

describe('scanProcHolders', () => {
  it('finds every map and program fd with its process and comm, skipping what vanished or changed', async () => {
    const scan = await scanProcHolders({ procRoot: root });
    expect(scan.errors).toEqual([]);
    expect(scan.records).toEqual([
      { tgid: 100, fd: 3, kind: 'map', id: 7, comm: 'agent' },
      { tgid: 100, fd: 4, kind: 'prog', id: 9, comm: 'agent' },
      { tgid: 100, fd: 6, kind: 'map', id: 7, comm: 'agent' },
      { tgid: 200, fd: 10, kind: 'map', id: 7, comm: 'sidecar' },
    ]);
  });

  it('records EACCES with the path, and goes on', async () => {
    const io: ProcHoldersIo = {
      readdir: (p) => readdir(p),
      readlink: (p) => (p.startsWith(join(root, '200')) ? Promise.reject(errno('EACCES')) : readlink(p)),
      readFile: (p) => (p === join(root, '100', 'fdinfo', '4') ? Promise.reject(errno('EACCES')) : readFile(p, 'utf8')),
    };
    const scan = await scanProcHolders({ procRoot: root, io });
    expect(scan.errors).toEqual([`${root}/200/fd: EACCES`, `${root}/100/fdinfo/4: EACCES`]);
    expect(scan.records.map((r) => [r.tgid, r.fd])).toEqual([
      [100, 3],
      [100, 6],
    ]);
  });

  it('takes ESRCH (a process dying while its directory is read) as gone, not an error', async () => {
    const io: ProcHoldersIo = {
      readdir: (p) => (p === join(root, '100', 'fd') ? Promise.reject(errno('ESRCH')) : readdir(p)),
      readlink: (p) => readlink(p),
      readFile: (p) => readFile(p, 'utf8'),
    };
    const scan = await scanProcHolders({ procRoot: root, io });
    expect(scan.errors).toEqual([]);
    expect(scan.records.map((r) => r.tgid)).toEqual([200]);
  });

  it('records an fdinfo it cannot parse', async () => {
    const io: ProcHoldersIo = {
      readdir: (p) => readdir(p),
      readlink: (p) => readlink(p),
      readFile: (p) => (p === join(root, '200', 'fdinfo', '10') ? Promise.resolve('garbage') : readFile(p, 'utf8')),
    };
    const scan = await scanProcHolders({ procRoot: root, io });
    expect(scan.errors).toEqual([`${root}/200/fdinfo/10: fdinfo line 1 is not "key: value": "garbage"`]);
  });

  it('throws when /proc itself cannot be listed', async () => {
    await expect(scanProcHolders({ procRoot: join(root, 'nonexistent') })).rejects.toThrow(`listing ${root}/nonexistent: ENOENT`);
  });

  it('bounds the reads in flight', async () => {
    let inFlight = 0;
    let most = 0;
    const slow = async <T>(f: () => Promise<T>): Promise<T> => {
      most = Math.max(most, ++inFlight);
      try {
        await new Promise((r) => setTimeout(r, 1));
        return await f();
      } finally {
        inFlight--;
      }
    };
    const io: ProcHoldersIo = {
      readdir: (p) => readdir(p),
      readlink: (p) => readlink(p),
      readFile: (p) => slow(() => readFile(p, 'utf8')),
    };
    await scanProcHolders({ procRoot: root, io, concurrency: 2 });
    expect(most).toBeLessThanOrEqual(2);
  });
});

describe('scanHolders with method procfs', () => {
  it('groups the records by object and process', async () => {
    const scan = await scanHolders({ method: 'procfs', procRoot: root });
    expect(scan.method).toBe('procfs');
    expect(scan.fallbackReason).toBeUndefined();
    expect(scan.maps).toEqual(
      new Map([
        [
          mapId(7),
          [
            { pid: 100, comm: 'agent', fd: 3, fds: [3, 6] },
            { pid: 200, comm: 'sidecar', fd: 10, fds: [10] },
          ],
        ],
      ]),
    );
    expect(scan.progs).toEqual(new Map([[progId(9), [{ pid: 100, comm: 'agent', fd: 4, fds: [4] }]]]));
  });

  it('falls back from an iterator that cannot load, and says why', async () => {
    // BTF bytes that are not BTF: the iterator cannot even be built.
    const scan = await scanHolders({ procRoot: root, btf: new Uint8Array(32) });
    expect(scan.method).toBe('procfs');
    expect(scan.fallbackReason).toMatch(/^the task_file iterator did not run: not BTF/);
    expect(scan.maps.get(mapId(7))?.length).toBe(2);
  });

  it('throws instead when the iterator is forced', async () => {
    await expect(scanHolders({ method: 'iterator', btf: new Uint8Array(32) })).rejects.toThrow(/not BTF/);
  });
});

describe('syncProcHoldersIo', () => {
  it('finds the same as the default, and turns errors into rejections', async () => {
    expect(await scanProcHolders({ procRoot: root, io: syncProcHoldersIo })).toEqual(await scanProcHolders({ procRoot: root }));
    await expect(syncProcHoldersIo.readFile(join(root, 'nope'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
