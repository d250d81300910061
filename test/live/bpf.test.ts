import { execFileSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, readSync, rmdirSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  alu64Imm,
  assemble,
  atomicAdd,
  call,
  exit,
  jmpImm,
  label,
  ldMapFd,
  ldxMem,
  mov64Imm,
  mov64Reg,
  R0,
  R1,
  R10,
  R2,
  R3,
  R4,
  R6,
  R7,
  stMem,
  stxMem,
} from '../../src/asm/index.js';
import { MAP_FLAGS } from '../../src/vocab/flags.js';
import type { MapType } from '../../src/vocab/maptypes.js';
import {
  closeFd,
  findBtfMemberOffset,
  findBtfTypeId,
  hasErrno,
  iterCreate,
  linkCreate,
  mapCreate,
  mapDelete,
  mapGetFdById,
  mapGetNextId,
  mapGetNextKey,
  mapInfo,
  mapLookup,
  mapUpdate,
  objGet,
  objPin,
  progGetFdById,
  progGetNextId,
  progInfo,
  progLoad,
  progMapIds,
  readVmlinuxBtf,
  SyscallError,
  VerifierError,
  type MapCreateOptions,
  type MapId,
  type ProgId,
} from '../../src/sys/bpf/index.js';
import { attachSocketFilter, closeSocket, udpSocket } from '../../src/sys/proc/net.js';
import { getRlimitMemlock, setRlimitMemlock } from '../../src/sys/proc/rlimit.js';
import { liveEnv } from './env.js';
import { missingTool } from '../tools.js';

/**
 * The bpf(2) binding against the running kernel, with bpftool (C, libbpf) as the reference for
 * what the kernel reports. Skips with the reason env.ts prints where bpf() is unavailable.
 */

/** Runs `bpftool -j …` and returns its JSON, checked to be an object or an array of objects. */
function bpftool(...args: string[]): Record<string, unknown> {
  const parsed: unknown = JSON.parse(execFileSync('bpftool', ['-j', ...args], { encoding: 'utf8' }));
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error(`bpftool ${args.join(' ')}: not an object`);
  return parsed as Record<string, unknown>;
}

function bpftoolList(...args: string[]): Record<string, unknown>[] {
  const parsed: unknown = JSON.parse(execFileSync('bpftool', ['-j', ...args], { encoding: 'utf8' }));
  if (!Array.isArray(parsed)) throw new Error(`bpftool ${args.join(' ')}: not an array`);
  return parsed as Record<string, unknown>[];
}

/** The `name:\tvalue` lines of /proc/self/fdinfo/FD. */
function fdinfo(fd: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8').split('\n')) {
    const m = /^(\w+):\s+(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

function memlock(fd: number): number {
  return Number(fdinfo(fd)['memlock']);
}

/** The fds of this process that are BPF objects (`anon_inode:bpf-map` and the like). */
function bpfFds(): string[] {
  const out: string[] = [];
  for (const name of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${name}`);
      if (target.startsWith('anon_inode:bpf')) out.push(`${name} ${target}`);
    } catch {
      // The fd of readdir itself is gone by now.
    }
  }
  return out.sort();
}

const u32 = (n: number): Uint8Array => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
};
const u64 = (n: number): Uint8Array => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
  return b;
};
const readU64 = (b: Uint8Array): number => Number(new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(0, true));
const readU32 = (b: Uint8Array): number => new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(0, true);

/** Every key of a map, by BPF_MAP_GET_NEXT_KEY from the start. */
function keysOf(fd: number, keySize: number): Uint8Array[] {
  const keys: Uint8Array[] = [];
  for (let k = mapGetNextKey(fd, undefined, keySize); k !== undefined; k = mapGetNextKey(fd, k, keySize)) keys.push(k);
  return keys;
}

/** Opens fds through `body` and closes every one of them afterwards, whatever happens. */
async function withFds<T>(body: (track: (fd: number) => number) => T | Promise<T>): Promise<T> {
  const fds: number[] = [];
  try {
    return await body((fd) => {
      fds.push(fd);
      return fd;
    });
  } finally {
    for (const fd of fds.reverse()) closeFd(fd);
  }
}

/** bpftool is the reference some tests compare with: without it they skip and say so. */
const noBpftool = liveEnv.ok ? missingTool('bpftool') : undefined;

describe.skipIf(!liveEnv.ok)('bpf(2) through koffi, against the running kernel', () => {
  let before: string[] = [];
  beforeAll(() => {
    before = bpfFds();
  });
  afterAll(() => {
    // Every fd a test opened was closed: the process holds the same BPF fds as before.
    expect(bpfFds()).toEqual(before);
  });

  it('hash map: update, lookup, get_next_key and delete, with the update flags', () =>
    withFds((track) => {
      const fd = track(mapCreate({ type: 'hash', keySize: 4, valueSize: 8, maxEntries: 8, name: 'live_hash' }));
      expect(mapLookup(fd, u32(1), 8)).toBeUndefined();
      expect(mapGetNextKey(fd, undefined, 4)).toBeUndefined();
      for (const k of [1, 2, 3]) mapUpdate(fd, u32(k), u64(k * 100));
      expect(readU64(mapLookup(fd, u32(2), 8)!)).toBe(200);
      expect(keysOf(fd, 4).map(readU32).sort()).toEqual([1, 2, 3]);

      expect(() => { mapUpdate(fd, u32(2), u64(0), 'noexist'); }).toThrow(expect.objectContaining({ errnoName: 'EEXIST', cmd: 'BPF_MAP_UPDATE_ELEM' }));
      expect(() => { mapUpdate(fd, u32(9), u64(0), 'exist'); }).toThrow(expect.objectContaining({ errnoName: 'ENOENT' }));
      mapUpdate(fd, u32(2), u64(201), 'exist');
      mapUpdate(fd, u32(4), u64(400), 'noexist');
      expect(readU64(mapLookup(fd, u32(2), 8)!)).toBe(201);

      expect(mapDelete(fd, u32(2))).toBe(true);
      expect(mapDelete(fd, u32(2))).toBe(false);
      expect(mapLookup(fd, u32(2), 8)).toBeUndefined();
      expect(keysOf(fd, 4).map(readU32).sort()).toEqual([1, 3, 4]);

      for (const k of [5, 6, 7, 8, 9]) mapUpdate(fd, u32(k), u64(k));
      // Eight entries are there; a ninth key does not fit (kernel/bpf/hashtab.c: alloc_htab_elem).
      expect(() => { mapUpdate(fd, u32(10), u64(10)); }).toThrow(expect.objectContaining({ errnoName: 'E2BIG' }));
    }));

  it('array map: every index exists, delete is EINVAL, an index out of range is E2BIG', () =>
    withFds((track) => {
      const fd = track(mapCreate({ type: 'array', keySize: 4, valueSize: 8, maxEntries: 4, name: 'live_array' }));
      expect(readU64(mapLookup(fd, u32(3), 8)!)).toBe(0);
      expect(mapLookup(fd, u32(4), 8)).toBeUndefined();
      mapUpdate(fd, u32(1), u64(11));
      expect(readU64(mapLookup(fd, u32(1), 8)!)).toBe(11);
      expect(keysOf(fd, 4).map(readU32)).toEqual([0, 1, 2, 3]);
      expect(() => { mapUpdate(fd, u32(0), u64(1), 'noexist'); }).toThrow(expect.objectContaining({ errnoName: 'EEXIST' }));
      expect(() => { mapUpdate(fd, u32(4), u64(1)); }).toThrow(expect.objectContaining({ errnoName: 'E2BIG' }));
      expect(() => mapDelete(fd, u32(1))).toThrow(expect.objectContaining({ errnoName: 'EINVAL', cmd: 'BPF_MAP_DELETE_ELEM' }));
    }));

  const SPECS: readonly [string, MapCreateOptions, number][] = [
    ['hash, preallocated', { type: 'hash', keySize: 4, valueSize: 8, maxEntries: 16 }, 0],
    ['hash, no_prealloc, 10 elements', { type: 'hash', keySize: 8, valueSize: 64, maxEntries: 1024, flags: MAP_FLAGS.no_prealloc }, 10],
    ['array', { type: 'array', keySize: 4, valueSize: 8, maxEntries: 100 }, 0],
    ['percpu_array', { type: 'percpu_array', keySize: 4, valueSize: 16, maxEntries: 10 }, 0],
    ['lru_hash, no_common_lru', { type: 'lru_hash', keySize: 8, valueSize: 8, maxEntries: 128, flags: MAP_FLAGS.no_common_lru }, 0],
    ['lpm_trie, 3 elements', { type: 'lpm_trie', keySize: 8, valueSize: 8, maxEntries: 64, flags: MAP_FLAGS.no_prealloc }, 3],
    ['ringbuf', { type: 'ringbuf', keySize: 0, valueSize: 0, maxEntries: 4096 }, 0],
  ];

  it.skipIf(noBpftool !== undefined).each(SPECS)('%s: fdinfo memlock and mapInfo equal what bpftool reports', (_what, spec, elements) =>
    withFds((track) => {
      const fd = track(mapCreate({ ...spec, name: 'live_info' }));
      for (let i = 0; i < elements; i++) {
        // lpm_trie keys are { u32 prefixlen; data }: prefix 32 over four distinct bytes.
        const key = spec.type === 'lpm_trie' ? Uint8Array.of(32, 0, 0, 0, 10, 0, 0, i) : u64(i);
        mapUpdate(fd, key, new Uint8Array(spec.valueSize));
      }
      const info = mapInfo(fd);
      const shown = bpftool('map', 'show', 'id', String(info.id));
      expect(memlock(fd)).toBeGreaterThan(0);
      expect(memlock(fd)).toBe(shown['bytes_memlock']);
      expect({
        id: info.id,
        type: info.typeName,
        name: info.name,
        flags: info.mapFlags,
        bytes_key: info.keySize,
        bytes_value: info.valueSize,
        max_entries: info.maxEntries,
      }).toEqual({
        id: shown['id'],
        type: shown['type'],
        name: shown['name'],
        flags: shown['flags'],
        bytes_key: shown['bytes_key'],
        bytes_value: shown['bytes_value'],
        max_entries: shown['max_entries'],
      });
      expect(info.type).toBe(Number(fdinfo(fd)['map_type']));
      expect(info.typeName satisfies MapType | undefined).toBe(spec.type);
    }),
  );

  it.skipIf(noBpftool !== undefined)('a two-instruction socket filter loads; progInfo equals bpftool and the kernel kept our bytes', () =>
    withFds((track) => {
      const insns = assemble([mov64Imm(R0, 0), exit()]);
      const fd = track(progLoad({ type: 'socket_filter', insns, license: 'GPL', name: 'live_two' }));
      const info = progInfo(fd);
      const shown = bpftool('prog', 'show', 'id', String(info.id));
      expect({
        id: info.id,
        type: info.typeName,
        name: info.name,
        tag: info.tag,
        gpl_compatible: info.gplCompatible,
        uid: info.createdByUid,
        bytes_xlated: info.xlatedProgLen,
        bytes_jited: info.jitedProgLen,
        bytes_memlock: memlock(fd),
      }).toEqual({
        id: shown['id'],
        type: shown['type'],
        name: shown['name'],
        tag: shown['tag'],
        gpl_compatible: shown['gpl_compatible'],
        uid: shown['uid'],
        bytes_xlated: shown['bytes_xlated'],
        bytes_jited: shown['bytes_jited'],
        bytes_memlock: shown['bytes_memlock'],
      });
      expect(info.xlatedProgLen).toBe(16);
      expect(info.verifiedInsns).toBe(Number(fdinfo(fd)['verified_insns']));
      // bpftool prints load_time as wall-clock seconds: boot time + ns since boot.
      const uptime = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
      const loadedAt = Date.now() / 1000 - uptime + Number(info.loadTime) / 1e9;
      expect(Math.abs(loadedAt - Number(shown['loaded_at']))).toBeLessThan(3);
      // The kernel's translated program is exactly what we assembled (no rewrite applies).
      const dump = bpftoolList('prog', 'dump', 'xlated', 'id', String(info.id), 'opcodes');
      expect(dump.map((i) => i['disasm'])).toEqual(['(b7) r0 = 0', '(95) exit']);
    }));

  it.skipIf(noBpftool !== undefined)('a socket filter that inserts into a no-prealloc hash counts every loopback packet', () =>
    withFds(async (track) => {
      const N = 64;
      const counter = track(mapCreate({ type: 'array', keySize: 4, valueSize: 8, maxEntries: 1, name: 'live_count' }));
      const seen = track(mapCreate({ type: 'hash', keySize: 8, valueSize: 8, maxEntries: 4 * N, flags: MAP_FLAGS.no_prealloc, name: 'live_seen' }));
      // key0 = 0; r0 = &counter[0]; r1 = fetch_add(*r0, 1); seen[r1] = r1; return 0 (drop).
      const insns = assemble([
        stMem('w', R10, -4, 0),
        mov64Reg(R2, R10),
        alu64Imm('add', R2, -4),
        ldMapFd(R1, counter),
        call('map_lookup_elem'),
        jmpImm('jeq', R0, 0, 'out'),
        mov64Imm(R1, 1),
        atomicAdd('dw', R0, R1, 0, { fetch: true }),
        stxMem('dw', R10, R1, -16),
        stxMem('dw', R10, R1, -24),
        ldMapFd(R1, seen),
        mov64Reg(R2, R10),
        alu64Imm('add', R2, -16),
        mov64Reg(R3, R10),
        alu64Imm('add', R3, -24),
        mov64Imm(R4, 0),
        call('map_update_elem'),
        label('out'),
        mov64Imm(R0, 0),
        exit(),
      ]);
      const prog = track(progLoad({ type: 'socket_filter', insns, license: 'GPL', name: 'live_counter' }));
      expect(progMapIds(prog).sort()).toEqual([mapInfo(counter).id, mapInfo(seen).id].sort());
      expect(bpftool('prog', 'show', 'id', String(progInfo(prog).id))['map_ids']).toEqual(progMapIds(prog));

      const emptyMemlock = memlock(seen);
      const sock = udpSocket();
      try {
        attachSocketFilter(sock.fd, prog);
        const sender = createSocket('udp4');
        try {
          for (let i = 0; i < N; i++) {
            await new Promise<void>((resolve, reject) => {
              sender.send(Uint8Array.of(i), sock.port, '127.0.0.1', (error) => {
                if (error) reject(error);
                else resolve();
              });
            });
          }
        } finally {
          sender.close();
        }
        const deadline = Date.now() + 5000;
        let count = 0;
        while ((count = readU64(mapLookup(counter, u32(0), 8)!)) < N && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 10));
        }
        expect(count).toBe(N);
      } finally {
        closeSocket(sock.fd);
      }
      const keys = keysOf(seen, 8).map(readU64);
      expect(keys.sort((a, b) => a - b)).toEqual(Array.from({ length: N }, (_, i) => i));
      expect(readU64(mapLookup(seen, u64(N - 1), 8)!)).toBe(N - 1);
      // The elements the program allocated show in memlock, and bpftool agrees.
      expect(memlock(seen)).toBeGreaterThan(emptyMemlock);
      expect(memlock(seen)).toBe(bpftool('map', 'show', 'id', String(mapInfo(seen).id))['bytes_memlock']);
    }));

  it('GET_NEXT_ID walks find the new ids, and GET_FD_BY_ID opens the same objects', () =>
    withFds((track) => {
      const map = track(mapCreate({ type: 'array', keySize: 4, valueSize: 4, maxEntries: 1, name: 'live_walk' }));
      const prog = track(progLoad({ type: 'socket_filter', insns: assemble([mov64Imm(R0, 0), exit()]), license: 'GPL', name: 'live_walk' }));
      const mid = mapInfo(map).id;
      const pid = progInfo(prog).id;
      const mapIds: MapId[] = [];
      for (let id = mapGetNextId(0); id !== undefined; id = mapGetNextId(id)) mapIds.push(id);
      const progIds: ProgId[] = [];
      for (let id = progGetNextId(0); id !== undefined; id = progGetNextId(id)) progIds.push(id);
      expect(mapIds).toContain(mid);
      expect(progIds).toContain(pid);
      // Ids come in increasing order (kernel/bpf/syscall.c: idr_get_next from start_id + 1).
      expect(mapIds).toEqual([...mapIds].sort((a, b) => a - b));
      const map2 = track(mapGetFdById(mid));
      const prog2 = track(progGetFdById(pid));
      expect(map2).not.toBe(map);
      expect(mapInfo(map2).name).toBe('live_walk');
      expect(progInfo(prog2).tag).toBe(progInfo(prog).tag);
      expect(() => mapGetFdById(0xffff_fff0 as MapId)).toThrow(expect.objectContaining({ errnoName: 'ENOENT', cmd: 'BPF_MAP_GET_FD_BY_ID' }));
    }));

  it('pins and gets a map under a private bpffs mount', async (ctx) => {
    const dir = mkdtempSync(join(tmpdir(), 'bpfmem-bpffs-'));
    try {
      try {
        execFileSync('mount', ['-t', 'bpf', 'bpf', dir], { stdio: 'pipe' });
      } catch (error) {
        const reason = `cannot mount bpffs at ${dir}: ${error instanceof Error ? error.message : String(error)}`;
        console.warn(`pinning skipped: ${reason}`);
        ctx.skip(reason);
      }
      try {
        await withFds((track) => {
          const map = track(mapCreate({ type: 'hash', keySize: 4, valueSize: 4, maxEntries: 2, name: 'live_pin' }));
          mapUpdate(map, u32(7), u32(70));
          const path = join(dir, 'live_pin');
          objPin(map, path);
          expect(() => { objPin(map, path); }).toThrow(expect.objectContaining({ errnoName: 'EEXIST', cmd: 'BPF_OBJ_PIN' }));
          const again = track(objGet(path));
          expect(mapInfo(again).id).toBe(mapInfo(map).id);
          expect(readU32(mapLookup(again, u32(7), 4)!)).toBe(70);
          unlinkSync(path);
          expect(() => objGet(path)).toThrow(expect.objectContaining({ errnoName: 'ENOENT', cmd: 'BPF_OBJ_GET' }));
        });
      } finally {
        execFileSync('umount', [dir]);
      }
    } finally {
      rmdirSync(dir);
    }
  });

  it.each([
    { what: 'an unknown map type', spec: { type: 9999, keySize: 4, valueSize: 4, maxEntries: 1 }, name: 'EINVAL', errno: 22 },
    { what: 'a hash with max_entries 0', spec: { type: 'hash', keySize: 4, valueSize: 4, maxEntries: 0 }, name: 'EINVAL', errno: 22 },
    // kernel/bpf/hashtab.c: htab_map_alloc, `max_entries > 1UL << 31` → -E2BIG.
    { what: 'a hash of 2^31 + 1 entries', spec: { type: 'hash', keySize: 4, valueSize: 4, maxEntries: 2 ** 31 + 1 }, name: 'E2BIG', errno: 7 },
    // kernel/bpf/hashtab.c: htab_map_alloc_check, `lru && !prealloc` → -ENOTSUPP.
    { what: 'lru_hash with no_prealloc', spec: { type: 'lru_hash', keySize: 4, valueSize: 4, maxEntries: 4, flags: MAP_FLAGS.no_prealloc }, name: 'ENOTSUPP', errno: 524 },
  ] satisfies { what: string; spec: MapCreateOptions; name: string; errno: number }[])('map create refuses $what with $name', ({ spec, name, errno }) => {
    let caught: unknown;
    try {
      closeFd(mapCreate(spec));
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(SyscallError);
    expect(caught).toMatchObject({ cmd: 'BPF_MAP_CREATE', errnoName: name, errno, code: 'system' });
  });

  it('a program the verifier refuses fails with EACCES and the verifier log in the message', () => {
    let caught: unknown;
    try {
      closeFd(progLoad({ type: 'socket_filter', insns: assemble([exit()]), license: 'GPL' }));
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(VerifierError);
    expect(hasErrno(caught, 'EACCES')).toBe(true);
    expect((caught as VerifierError).message).toMatch(/^BPF_PROG_LOAD: EACCES \(Permission denied\): .*R0 !read_ok/);
    expect((caught as VerifierError).log).toContain('processed 1 insns');
  });

  it('a refusal whose verifier log outgrows 64 KiB is retried with the size the kernel asks for', () => {
    // 3000 moves, then exit with R0 unset: level 1 logs every instruction, well over 64 KiB.
    const insns = assemble([...Array.from({ length: 3000 }, () => mov64Imm(R1, 1)), exit()]);
    let caught: unknown;
    try {
      closeFd(progLoad({ type: 'socket_filter', insns, license: 'GPL' }));
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(VerifierError);
    expect((caught as VerifierError).errnoName).toBe('EACCES');
    expect((caught as VerifierError).log.length).toBeGreaterThan(64 * 1024);
    expect((caught as VerifierError).message).toMatch(/R0 !read_ok/);
  });

  it('a closed fd is EBADF for map commands and close, EBADFD (77) for BPF_OBJ_GET_INFO_BY_FD', () => {
    const fd = mapCreate({ type: 'array', keySize: 4, valueSize: 4, maxEntries: 1 });
    closeFd(fd);
    expect(() => mapLookup(fd, u32(0), 4)).toThrow(expect.objectContaining({ errnoName: 'EBADF', cmd: 'BPF_MAP_LOOKUP_ELEM' }));
    // kernel/bpf/syscall.c: bpf_obj_get_info_by_fd answers -EBADFD for an empty fd; bpfmem has no
    // name for 77, so the message says "errno 77".
    expect(() => mapInfo(fd)).toThrow(expect.objectContaining({ errno: 77, cmd: 'BPF_OBJ_GET_INFO_BY_FD', message: 'BPF_OBJ_GET_INFO_BY_FD: EBADFD (File descriptor in bad state)' }));
    expect(() => { closeFd(fd); }).toThrow(expect.objectContaining({ errnoName: 'EBADF', cmd: 'close' }));
  });

  it('a map iterator (link_create + iter_create) reads the id of every map', async () => {
    const btf = await readVmlinuxBtf();
    const target = findBtfTypeId(btf, 'bpf_iter_bpf_map', 'func');
    const idOffset = findBtfMemberOffset(btf, 'bpf_map', 'id');
    expect(target).toBeDefined();
    expect(idOffset).toBeDefined();
    await withFds((track) => {
      const mine = track(mapCreate({ type: 'array', keySize: 4, valueSize: 4, maxEntries: 1, name: 'live_iter' }));
      // ctx is struct bpf_iter__bpf_map { meta; map }: write map->id to meta->seq for every map.
      const insns = assemble([
        ldxMem('dw', R6, R1, 0),
        ldxMem('dw', R7, R1, 8),
        jmpImm('jeq', R7, 0, 'out'),
        ldxMem('w', R2, R7, idOffset!),
        stxMem('w', R10, R2, -8),
        ldxMem('dw', R1, R6, 0),
        mov64Reg(R2, R10),
        alu64Imm('add', R2, -8),
        mov64Imm(R3, 4),
        call('seq_write'),
        label('out'),
        mov64Imm(R0, 0),
        exit(),
      ]);
      const prog = track(progLoad({ type: 'tracing', insns, license: 'GPL', name: 'live_iter', expectedAttachType: 'trace_iter', attachBtfId: target! }));
      const link = track(linkCreate({ progFd: prog, attachType: 'trace_iter' }));
      const iter = track(iterCreate(link));
      const chunks: Buffer[] = [];
      const buf = Buffer.alloc(64 * 1024);
      for (let n = readSync(iter, buf); n > 0; n = readSync(iter, buf)) chunks.push(Buffer.from(buf.subarray(0, n)));
      const out = Buffer.concat(chunks);
      const ids = Array.from({ length: out.length / 4 }, (_, i) => out.readUInt32LE(i * 4));
      expect(ids).toContain(mapInfo(mine).id);
      expect(ids).toEqual([...ids].sort((a, b) => a - b));
    });
  });

  it('RLIMIT_MEMLOCK reads as /proc/self/limits says, and can be lowered and restored', () => {
    const limits = readFileSync('/proc/self/limits', 'utf8');
    const m = /^Max locked memory\s+(\S+)\s+(\S+)\s+bytes/m.exec(limits);
    const parse = (s: string | undefined): number => (s === 'unlimited' ? Infinity : Number(s));
    const original = getRlimitMemlock();
    expect(original).toEqual({ soft: parse(m?.[1]), hard: parse(m?.[2]) });
    const lower = Math.min(original.soft, 64 * 1024);
    try {
      setRlimitMemlock(lower, original.hard);
      expect(getRlimitMemlock()).toEqual({ soft: lower, hard: original.hard });
      expect(() => { setRlimitMemlock(Infinity, 4096); }).toThrow(expect.objectContaining({ errnoName: 'EINVAL', cmd: 'setrlimit' }));
    } finally {
      setRlimitMemlock(original.soft, original.hard);
    }
    expect(getRlimitMemlock()).toEqual(original);
  });
});
