import { describe, expect, it } from 'vitest';
import { fdinfoFixtureNames, readProcFixture } from '../../../test/fixtures/proc/index.js';
import { fdinfoMemlock, parseFdinfo, readFdinfo, type Fdinfo } from './fdinfo.js';

function parseOk(text: string): Fdinfo {
  const r = parseFdinfo(text);
  if (!r.ok) throw new Error(r.error);
  return r.value;
}

// Every captured file, with the fields that identify it. Ids differ from capture to capture, so
// only their presence is pinned; sizes, types, flags and memlock are what the kernel computed.
describe('parseFdinfo on fdinfo captured from 6.18', () => {
  it.each([
    ['fdinfo-map-array-frozen.txt', { kind: 'map', mapType: 2, keySize: 4, valueSize: 8, maxEntries: 64, mapFlags: 0, mapExtra: 0n, memlock: 824, frozen: true, ownerProgType: undefined }],
    ['fdinfo-map-hash-noprealloc.txt', { kind: 'map', mapType: 1, keySize: 8, valueSize: 16, maxEntries: 1024, mapFlags: 1, mapExtra: 0n, memlock: 17280, frozen: false }],
    ['fdinfo-map-percpu-array.txt', { kind: 'map', mapType: 6, keySize: 4, valueSize: 64, maxEntries: 100, memlock: 13912 }],
    ['fdinfo-map-bloom.txt', { kind: 'map', mapType: 30, keySize: 0, valueSize: 8, maxEntries: 1000, mapExtra: 3n, memlock: 1336 }],
    ['fdinfo-map-prog-array-owned.txt', { kind: 'map', mapType: 3, maxEntries: 4, memlock: 344, ownerProgType: 1, ownerJited: true }],
    ['fdinfo-prog-socket-filter.txt', { kind: 'prog', progType: 1, progJited: true, progTag: '59f4a931744dcdc6', memlock: 4096, runTimeNs: 0n, runCnt: 0n, recursionMisses: 0n, verifiedInsns: 2 }],
    ['fdinfo-prog-tail-call.txt', { kind: 'prog', progType: 1, progTag: 'bee9555f92c985df', memlock: 4096, verifiedInsns: 5 }],
    ['fdinfo-prog-tracing-iter.txt', { kind: 'prog', progType: 26, memlock: 4096 }],
    ['fdinfo-link-raw-tracepoint.txt', { kind: 'link', linkType: 'raw_tracepoint', progTag: '59f4a931744dcdc6', extra: { tp_name: 'sys_enter', cookie: '0' } }],
    ['fdinfo-link-iter.txt', { kind: 'link', linkType: 'iter', extra: { target_name: 'bpf_map' } }],
    ['fdinfo-iter.txt', { kind: 'other', flags: 0o2000000, extra: {} }],
    ['fdinfo-other-devnull.txt', { kind: 'other', pos: 0, flags: 0o2100000, extra: {} }],
  ] as const)('%s', (name, expected) => {
    const info = parseOk(readProcFixture(name));
    expect(info).toMatchObject(expected);
    expect(info.pos).toBe(0);
    expect(info.mntId).toBeTypeOf('number');
    expect(info.ino).toBeTypeOf('number');
  });

  it('covers every captured fdinfo file', () => {
    expect(fdinfoFixtureNames()).toHaveLength(12);
  });

  it('gives BPF objects their ids and shares one anon inode among them', () => {
    const infos = fdinfoFixtureNames().filter((n) => !n.includes('other')).map((n) => parseOk(readProcFixture(n)));
    const inodes = new Set(infos.map((i) => i.ino));
    expect(inodes.size).toBe(1);
    for (const i of infos) {
      if (i.kind === 'map') expect(i.mapId).toBeGreaterThan(0);
      if (i.kind === 'prog') expect(i.progId).toBeGreaterThan(0);
      if (i.kind === 'link') expect(i.linkId).toBeGreaterThan(0);
    }
  });

  it('leaves no line unread in the captured files', () => {
    for (const name of fdinfoFixtureNames()) {
      const info = parseOk(readProcFixture(name));
      if (info.kind !== 'link') expect(Object.keys(info.extra), name).toEqual([]);
    }
  });

  it('reads open flags in octal: O_RDWR | O_CLOEXEC for maps and programs', () => {
    const map = parseOk(readProcFixture('fdinfo-map-bloom.txt'));
    expect(map.flags).toBe(0o2000002);
  });
});

describe('fdinfoMemlock: the memlock of a map or program, as parseFdinfo reads it', () => {
  it('reads the memlock of every captured map and program as parseFdinfo does', () => {
    let compared = 0;
    for (const name of fdinfoFixtureNames()) {
      const text = readProcFixture(name);
      const info = parseOk(text);
      for (const kind of ['map', 'prog'] as const) {
        expect(fdinfoMemlock(text, kind), `${name} as ${kind}`).toBe(info.kind === kind ? info.memlock : undefined);
      }
      if (info.kind === 'map' || info.kind === 'prog') compared++;
    }
    expect(compared).toBe(8);
  });

  it.each([
    ['the other kind', 'pos:\t0\nflags:\t02\nmap_type:\t1\nmemlock:\t4096\n', 'prog', undefined],
    ['no kind line', 'pos:\t0\nmemlock:\t4096\n', 'map', undefined],
    ['both kinds', 'map_type:\t1\nprog_type:\t1\nmemlock:\t4096\n', 'map', undefined],
    ['a repeated key', 'map_type:\t1\nmemlock:\t4096\nmemlock:\t8192\n', 'map', undefined],
    ['a key that only starts alike', 'map_type:\t1\nmemlock_x:\t5\n', 'map', undefined],
    ['a value that is no number', 'map_type:\t1\nmemlock:\t-1\n', 'map', undefined],
    ['a number past 2^53', 'map_type:\t1\nmemlock:\t18446744073709551615\n', 'map', undefined],
    ['the last line without a newline', 'map_type:\t1\nmemlock:\t8192', 'map', 8192],
    ['the key on the first line', 'memlock:\t12\nprog_type:\t1\n', 'prog', 12],
  ] as const)('%s', (_what, text, kind, expected) => {
    expect(fdinfoMemlock(text, kind)).toBe(expected);
  });
});

describe('parseFdinfo on other kernels and files', () => {
  it.each([
    [
      'a 4.14 map: no map_extra, frozen or owner lines',
      'pos:\t0\nflags:\t02000002\nmnt_id:\t13\nmap_type:\t1\nkey_size:\t4\nvalue_size:\t8\nmax_entries:\t16\nmap_flags:\t0x0\nmemlock:\t4096\nmap_id:\t3\n',
      { kind: 'map', mapType: 1, memlock: 4096, mapId: 3, mapExtra: undefined, frozen: undefined, ino: undefined },
    ],
    [
      'a 4.1 map: only the five first lines',
      'pos:\t0\nflags:\t02\nmap_type:\t2\nkey_size:\t4\nvalue_size:\t4\nmax_entries:\t1\nmap_flags:\t0\n',
      { kind: 'map', mapFlags: 0, memlock: undefined, mapId: undefined, mntId: undefined },
    ],
    [
      'a 5.4 program: no recursion_misses or verified_insns',
      'pos:\t0\nflags:\t02000002\nmnt_id:\t13\nprog_type:\t5\nprog_jited:\t1\nprog_tag:\t0123456789abcdef\nmemlock:\t4096\nprog_id:\t9\nrun_time_ns:\t0\nrun_cnt:\t0\n',
      { kind: 'prog', progType: 5, recursionMisses: undefined, verifiedInsns: undefined },
    ],
    [
      'a program that ran long enough to pass 2^53 ns',
      'pos:\t0\nflags:\t02000002\nprog_type:\t6\nrun_time_ns:\t18446744073709551615\nrun_cnt:\t9007199254740993\n',
      { kind: 'prog', runTimeNs: 18446744073709551615n, runCnt: 9007199254740993n },
    ],
    [
      'an arena map: map_extra is a user address past 2^53',
      'pos:\t0\nflags:\t02000002\nmap_type:\t33\nkey_size:\t0\nvalue_size:\t0\nmax_entries:\t16\nmap_flags:\t0x400\nmap_extra:\t0x7f0000000000\nmemlock:\t0\n',
      { kind: 'map', mapFlags: 0x400, mapExtra: 0x7f0000000000n, memlock: 0 },
    ],
    [
      'a cgroup link (type-specific lines in extra)',
      'pos:\t0\nflags:\t02000000\nmnt_id:\t15\nino:\t1057\nlink_type:\tcgroup\nlink_id:\t4\nprog_tag:\t0123456789abcdef\nprog_id:\t12\ncgroup_id:\t1\nattach_type:\t2\n',
      { kind: 'link', linkType: 'cgroup', linkId: 4, progId: 12, extra: { cgroup_id: '1', attach_type: '2' } },
    ],
    [
      'an eventpoll: repeated tfd lines joined',
      'pos:\t0\nflags:\t02\nmnt_id:\t15\nino:\t1057\ntfd:        5 events:       19 data:                5  pos:0 ino:2bd sdev:d\ntfd:        6 events:       19 data:                6  pos:0 ino:2be sdev:d\n',
      { kind: 'other', extra: { tfd: '5 events:       19 data:                5  pos:0 ino:2bd sdev:d\n6 events:       19 data:                6  pos:0 ino:2be sdev:d' } },
    ],
  ] as const)('%s', (_, text, expected) => {
    expect(parseOk(text)).toMatchObject(expected);
  });
});

describe('parseFdinfo refuses what is not fdinfo, with a reason', () => {
  it.each([
    ['', /empty/],
    ['hello world\n', /line 1 is not "key: value"/],
    ['pos:\t0\n', /no "flags:" line/],
    ['pos:\tx\nflags:\t02\n', /"pos:" is "x", not an unsigned number/],
    ['pos:\t0\nflags:\t9\n', /"flags:" is "9", not octal flags/],
    ['pos:\t0\nflags:\t02\nmap_type:\t2\nkey_size:\t4\n', /no "value_size:" line/],
    ['pos:\t0\nflags:\t02\nmap_type:\t2\nkey_size:\t4\nvalue_size:\t4\nmax_entries:\t1\nmap_flags:\t1\n', /"map_flags:" is "1", not hex flags/],
    ['pos:\t0\nflags:\t02\nmap_type:\t2\nmap_type:\t3\n', /line 4 repeats "map_type:"/],
    ['pos:\t0\nflags:\t02\nmap_type:\t2\nprog_type:\t1\n', /both map_type and prog_type/],
    ['pos:\t0\nflags:\t02\nprog_type:\t1\nprog_tag:\tXYZ\n', /"prog_tag:" is "XYZ", not 16 hex digits/],
    ['pos:\t0\nflags:\t02\nmap_type:\t2\nkey_size:\t4\nvalue_size:\t4\nmax_entries:\t1\nmap_flags:\t0x0\nfrozen:\t2\n', /"frozen:" is "2", not 0 or 1/],
    ['pos:\t0\nflags:\t02\nlink_type:\t\nlink_id:\t1\n', /"link_type:" is "", not a link type name/],
  ])('%j', (text, reason) => {
    const r = parseFdinfo(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(reason);
  });

  it('keeps a line of an unknown object kind as text, whatever its value', () => {
    // key_size without map_type is not a map: the value is not checked.
    expect(parseOk('pos:\t0\nflags:\t02\nkey_size:\t99999999999999999999\n')).toMatchObject({
      kind: 'other',
      extra: { key_size: '99999999999999999999' },
    });
  });
});

describe('readFdinfo', () => {
  it('reads an fd of this process', async () => {
    const info = await readFdinfo('self', 0);
    expect(info?.flags).toBeTypeOf('number');
  });
  it('is undefined for an fd that is not open and a process that does not exist', async () => {
    expect(await readFdinfo('self', 987654)).toBeUndefined();
    expect(await readFdinfo(2147483646, 0)).toBeUndefined();
  });
});
