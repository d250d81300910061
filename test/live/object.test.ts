import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import koffi from 'koffi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kernelName, parseBpfObject, type LibbpfGeneration } from '../../src/elf/index.js';
import { estimateMaps, type Estimate } from '../../src/estimate/maps.js';
import { objectSpecs, type ObjectSpec } from '../../src/estimate/object.js';
import { objectProgs } from '../../src/estimate/object-plan.js';
import { MAP_FLAGS } from '../../src/vocab/flags.js';
import { MAP_TYPES, type MapType } from '../../src/vocab/maptypes.js';
import type { KernelProfile } from '../../src/vocab/profile.js';
import { encodeBtf, type Btf } from '../../src/btf/index.js';
import { closeFd, findBtfTypeId, hasErrno, mapCreate, mapGetFdById, mapInfo, tryBpfSyscall, type MapInfo } from '../../src/sys/bpf/index.js';
import { addressOf } from '../../src/sys/bpf/libc.js';
import { vmlinuxBtf } from '../../src/sys/bpf/vmlinux.js';
import { readKernelProfile } from '../../src/live/machine.js';
import type { MapId } from '../../src/sys/bpf/types.js';
import { parseFdinfo } from '../../src/sys/proc/fdinfo.js';
import { buildFixture, FIXTURES, toolchain } from '../fixtures/bpf/build.js';
import { liveEnv } from './env.js';
import { probeFeatures } from '../../src/live/probe.js';

/*
 * Every compiled fixture loaded by a real loader, and every map the kernel created compared with
 * what bpfmem reads from the object and estimates for this machine: the set of names, and per
 * map its type, key and value size, max_entries, flags and fdinfo `memlock`, which must EQUAL the
 * model's `memlock` to the byte. Two loaders, one per libbpf generation:
 *
 * - Debian's `bpftool prog loadall` (7.1.0, built on Linux 6.1's libbpf: generation `1.0`), run
 *   in a private mount namespace with its own bpffs on /sys/fs/bpf, so pins (including
 *   `LIBBPF_PIN_BY_NAME` ones) vanish with the namespace;
 * - Debian's libbpf.so.1 (1.1.2: generation `1.1+`), called in-process through koffi, with pinning
 *   turned off, and the object closed at once.
 *
 * Maps are created in this process's memory cgroup and freed when the loader is done; the last
 * test checks that no map seen is left.
 */

/**
 * Fixtures no loader here can load, and why. Their maps are created by bpfmem's own loader
 * instead ({@link createOwn}): BPF_MAP_CREATE of each map with the fields read from the object,
 * which proves the estimate of those fields, though not that a real loader would read them so.
 */
const NOT_LOADABLE: Readonly<Record<string, string>> = {
  legacy: 'legacy "maps" sections are refused by libbpf 1.0+, and both loaders here are newer',
  newer: '.struct_ops.link, ?.struct_ops and __ulong need libbpf 1.2–1.4 and the arena map Linux 6.9; the loaders here are older',
};

/**
 * bpfmem's own loader for the fixtures above: BPF_MAP_CREATE of every map objectSpecs gives,
 * with the fields libbpf would pass (struct_ops: the kernel's value type by its vmlinux BTF id,
 * `btf_vmlinux_value_type_id`, as bpf_map__init_kern_struct_ops finds it), read back with
 * BPF_OBJ_GET_INFO_BY_FD and fdinfo, and closed.
 */
function createOwn(specs: readonly ObjectSpec[], kernelBtf: Btf): LiveMap[] {
  const fds: number[] = [];
  try {
    // kernel/bpf/syscall.c: map_create wants a valid btf_fd with btf_vmlinux_value_type_id ("the
    // bpf_prog.o must have BTF to begin with"): a one-type BTF stands in for the object's.
    const btfFd = specs.some((s) => s.spec.type === 'struct_ops') ? loadBtf() : undefined;
    if (btfFd !== undefined) fds.push(btfFd);
    return specs.map((s) => {
      const structOps = s.spec.type === 'struct_ops' ? s.map.structOps?.typeName : undefined;
      const vtype = structOps === undefined ? undefined : findBtfTypeId(kernelBtf, `bpf_struct_ops_${structOps}`, 'struct');
      if (structOps !== undefined && vtype === undefined) throw new Error(`${s.name}: the kernel has no struct bpf_struct_ops_${structOps}`);
      const fd = mapCreate({
        type: s.spec.type,
        keySize: s.spec.keySize,
        valueSize: s.spec.valueSize,
        maxEntries: s.spec.maxEntries,
        flags: s.spec.flags,
        mapExtra: s.spec.mapExtra,
        name: s.name,
        ...(vtype === undefined ? {} : { btfVmlinuxValueTypeId: vtype, ...(btfFd === undefined ? {} : { btfFd }) }),
      });
      fds.push(fd);
      return liveMapOf(fd, mapInfo(fd));
    });
  } finally {
    for (const fd of fds) closeFd(fd);
  }
}

/**
 * BPF_BTF_LOAD of a BTF blob holding one `int`: btf 0 (pointer), btf_log_buf 8, btf_size 16,
 * btf_log_size 20, btf_log_level 24 (include/uapi/linux/bpf.h). Its fd.
 */
function loadBtf(): number {
  const encoded = encodeBtf([{ kind: 'int', name: 'int', size: 4, signed: true, char: false, bool: false, bitOffset: 0, bits: 32 }]);
  const bytes = new Uint8Array(new ArrayBuffer(encoded.byteLength));
  bytes.set(encoded);
  const attr = new Uint8Array(new ArrayBuffer(32));
  const view = new DataView(attr.buffer);
  view.setBigUint64(0, addressOf(bytes), true);
  view.setUint32(16, bytes.byteLength, true);
  const r = tryBpfSyscall('BPF_BTF_LOAD', attr);
  if (!r.ok) throw new Error(`BPF_BTF_LOAD: errno ${r.errno}`);
  return r.value;
}

/** A map's info and fdinfo memlock, by its fd in this process. */
function liveMapOf(fd: number, info: MapInfo): LiveMap {
  const fdinfo = parseFdinfo(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
  if (!fdinfo.ok || fdinfo.value.kind !== 'map') throw new Error(`fdinfo of map ${info.name}: ${fdinfo.ok ? 'not a map' : fdinfo.error}`);
  return {
    id: info.id,
    name: info.name,
    type: info.type,
    keySize: info.keySize,
    valueSize: info.valueSize,
    maxEntries: info.maxEntries,
    flags: info.mapFlags,
    memlock: fdinfo.value.memlock ?? -1,
  };
}

/** A map as the kernel reports it once the loader is done. */
interface LiveMap {
  readonly id: number;
  readonly name: string;
  readonly type: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly flags: number;
  readonly memlock: number;
}

interface Loader {
  readonly name: string;
  readonly libbpf: LibbpfGeneration;
  /** Loads the object and reports its maps (and programs, where it can); leaves nothing loaded when it returns. */
  load(path: string): { maps: LiveMap[]; progs?: LiveProg[] };
}

/** A program as the kernel reports it: its name (15 bytes of the symbol) and fdinfo memlock. */
interface LiveProg {
  readonly name: string;
  readonly memlock: number;
}

type Found = { readonly ok: true; readonly loader: Loader } | { readonly ok: false; readonly reason: string };

/**
 * `bpftool prog loadall OBJ /sys/fs/bpf/progs pinmaps /sys/fs/bpf` inside `unshare --mount`, then
 * `bpftool -j map show pinned` of every map it pinned. Pinning maps into /sys/fs/bpf itself lets
 * `LIBBPF_PIN_BY_NAME` maps (pinned there by libbpf) and `pinmaps` agree on one path.
 */
const BPFTOOL_SCRIPT = `set -e
mount -t bpf bpf /sys/fs/bpf
bpftool prog loadall "$1" /sys/fs/bpf/progs pinmaps /sys/fs/bpf
for f in /sys/fs/bpf/*; do
  [ -f "$f" ] || continue
  case "$f" in *.debug) continue ;; esac
  bpftool -j map show pinned "$f"
  echo
done
for f in /sys/fs/bpf/progs/*; do
  [ -f "$f" ] || continue
  printf P
  bpftool -j prog show pinned "$f"
  echo
done`;

function bpftoolLoader(): Found {
  for (const tool of ['bpftool', 'unshare']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      return { ok: false, reason: `no ${tool} on PATH` };
    }
  }
  const typeId = (t: unknown): number => (typeof t === 'number' ? t : MAP_TYPES[t as MapType].id);
  return {
    ok: true,
    loader: {
      name: 'bpftool prog loadall',
      libbpf: '1.0',
      load(path) {
        let out: string;
        try {
          out = execFileSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', BPFTOOL_SCRIPT, 'sh', path], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
        } catch (error) {
          const stderr = (error as { stderr?: string }).stderr ?? '';
          throw new Error(`bpftool could not load ${path}: ${stderr.trim()}`, { cause: error });
        }
        const lines = out.split('\n');
        const progs = lines
          .filter((l) => l.startsWith('P{'))
          .map((l) => {
            const p = JSON.parse(l.slice(1)) as Record<string, unknown>;
            return { name: String(p.name), memlock: Number(p.bytes_memlock) };
          });
        const maps = lines
          .filter((l) => l.startsWith('{'))
          .map((l) => {
            const m = JSON.parse(l) as Record<string, unknown>;
            return {
              id: Number(m.id),
              name: String(m.name),
              type: typeId(m.type),
              keySize: Number(m.bytes_key),
              valueSize: Number(m.bytes_value),
              maxEntries: Number(m.max_entries),
              flags: Number(m.flags),
              memlock: Number(m.bytes_memlock),
            };
          });
        return { maps, progs };
      },
    },
  };
}

/** libbpf.so.1 through koffi: open, turn pinning off, load, read every map's info and fdinfo, close. */
function libbpfLoader(): Found {
  let lib: ReturnType<typeof koffi.load>;
  try {
    lib = koffi.load('libbpf.so.1');
  } catch (error) {
    return { ok: false, reason: `no libbpf.so.1 (${error instanceof Error ? error.message : String(error)})` };
  }
  const objectPtr = koffi.pointer(koffi.opaque());
  const mapPtr = koffi.pointer(koffi.opaque());
  const open = lib.func('bpf_object__open', objectPtr, ['str']);
  const load = lib.func('bpf_object__load', 'int', [objectPtr]);
  const close = lib.func('bpf_object__close', 'void', [objectPtr]);
  const nextMap = lib.func('bpf_object__next_map', mapPtr, [objectPtr, mapPtr]);
  const mapFd = lib.func('bpf_map__fd', 'int', [mapPtr]);
  const setPinPath = lib.func('bpf_map__set_pin_path', 'int', [mapPtr, 'str']);
  const setPrint = lib.func('libbpf_set_print', 'void *', ['void *']);
  return {
    ok: true,
    loader: {
      name: 'libbpf 1.1.2',
      libbpf: '1.1+',
      load(path) {
        // libbpf's messages go to stderr; a failure is reported by its errno instead.
        setPrint(null);
        const obj: unknown = open(path);
        if (obj === null) throw new Error(`libbpf could not open ${path}: errno ${koffi.errno()}`);
        try {
          const maps: unknown[] = [];
          for (let m: unknown = nextMap(obj, null); m !== null; m = nextMap(obj, m)) maps.push(m);
          // No pins outside a namespace: the maps live only as long as the object.
          for (const m of maps) setPinPath(m, null);
          const err = Number(load(obj));
          if (err !== 0) throw new Error(`libbpf could not load ${path}: ${err}`);
          return {
            maps: maps.map((m) => {
              const fd = Number(mapFd(m));
              return liveMapOf(fd, mapInfo(fd));
            }),
          };
        } finally {
          close(obj);
        }
      },
    },
  };
}

/**
 * Flags the kernel adds to what the loader asked for: devmaps are made read-only for programs
 * (kernel/bpf/devmap.c: dev_map_init_map, "Lookup returns a pointer straight to
 * dev->ifindex, so make sure the verifier prevents writes from the BPF side").
 */
function kernelAddedFlags(type: MapType): number {
  return type === 'devmap' || type === 'devmap_hash' ? MAP_FLAGS.rdonly_prog : 0;
}

const LOADERS: readonly Found[] = liveEnv.ok ? [bpftoolLoader(), libbpfLoader()] : [];
const LOADABLE = FIXTURES.filter((f) => !(f in NOT_LOADABLE));

if (liveEnv.ok) {
  if (!toolchain.ok) console.warn(`live object tests skipped: ${toolchain.reason}`);
  for (const found of LOADERS) if (!found.ok) console.warn(`live object tests skipped for one loader: ${found.reason}`);
  for (const [name, reason] of Object.entries(NOT_LOADABLE)) console.warn(`fixture ${name} not loaded live: ${reason}`);
}

describe.skipIf(!liveEnv.ok || !toolchain.ok)('BPF objects loaded for real: memlock exactly as estimated', () => {
  let profile: KernelProfile;
  let kernelBtf: Btf;
  const seen: number[] = [];
  /** Maps whose fields and memlock matched the estimate exactly. */
  let compared = 0;
  /** Programs whose memlock matched the estimate exactly. */
  let progsCompared = 0;
  const bpfMounts = (): string[] => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => / - bpf /.test(l));
  let mountsBefore: string[] = [];
  let pinnedBefore = false;

  beforeAll(async () => {
    profile = await readKernelProfile();
    kernelBtf = await vmlinuxBtf();
    mountsBefore = bpfMounts();
    pinnedBefore = existsSync('/sys/fs/bpf/pinned_by_name');
  });

  for (const found of LOADERS) {
    if (!found.ok) continue;
    const { loader } = found;
    describe(`${loader.name} (libbpf ${loader.libbpf})`, () => {
      it.each(LOADABLE)('%s', (name) => {
        const path = buildFixture(name);
        const obj = parseBpfObject(new Uint8Array(readFileSync(path)), path, { libbpf: loader.libbpf });
        const specs = objectSpecs(obj, profile, { kernelBtf });
        const estimate = estimateMaps(specs.map((s) => ({ name: s.name, spec: s.spec, elements: s.elements })), profile);
        const live = loader.load(path);
        seen.push(...live.maps.map((m) => m.id));
        compare(specs, estimate, live.maps);
        if (live.progs) {
          // Programs: the model's memlock from the object's own instruction count, as `bpfmem estimate FILE.o` gives it.
          const progs = objectProgs(obj, path);
          const model = estimateMaps([], profile, progs.map((g) => g.insns)).progs;
          const byName = (a: LiveProg, b: LiveProg): number => (a.name < b.name ? -1 : 1);
          const want = progs.map((g, i) => ({ name: g.name, memlock: model[i]?.memlock ?? -1 }));
          // The kernel keeps 15 bytes of a name; bpftool prints the whole one from BTF where it has it.
          const full = (n: string): string => progs.find((g) => g.name === n || kernelName(g.name) === n)?.name ?? n;
          expect(live.progs.map((p) => ({ ...p, name: full(p.name) })).sort(byName)).toEqual(want.sort(byName));
          progsCompared += live.progs.length;
        }
      });
    });
  }

  describe('bpfmem\'s own BPF_MAP_CREATE, for the objects no loader here takes', () => {
    /** The maps of `name` this kernel lets root create: arenas only where the kernel allows them (probed once). */
    const ownSpecs = async (name: string, refusable: boolean): Promise<ObjectSpec[]> => {
      const path = buildFixture(name);
      const obj = parseBpfObject(new Uint8Array(readFileSync(path)), path, { libbpf: '1.1+' });
      const specs = objectSpecs(obj, profile, { kernelBtf });
      const [arena] = await probeFeatures(['arena']);
      const refused = arena?.state === 'refused';
      return specs.filter((s) => (s.spec.type === 'arena' && refused) === refusable);
    };

    it.each(Object.keys(NOT_LOADABLE))('%s', async (name) => {
      const specs = await ownSpecs(name, false);
      const estimate = estimateMaps(specs.map((s) => ({ name: s.name, spec: s.spec, elements: s.elements })), profile);
      const live = createOwn(specs, kernelBtf);
      seen.push(...live.map((m) => m.id));
      compare(specs, estimate, live);
    });

    it('newer: the arena map, where this kernel allows arenas', async (ctx) => {
      const refused = await ownSpecs('newer', true);
      const [arena] = await probeFeatures(['arena']);
      // This host's vendor 6.18 answers EPERM to any arena, even for root with every capability.
      if (refused.length > 0) ctx.skip(`this kernel refuses arena maps: ${arena?.detail ?? ''}`);
      const specs = (await ownSpecs('newer', false)).filter((s) => s.spec.type === 'arena');
      expect(specs).toHaveLength(1);
    });
  });

  /** Every map of the object was created, each as specified, with the estimated memlock to the byte. */
  function compare(specs: readonly ObjectSpec[], estimate: Estimate, live: readonly LiveMap[]): void {
    expect(live.map((m) => m.name).sort()).toEqual(specs.map((s) => s.name).sort());
    const byName = new Map(live.map((m) => [m.name, m]));
    specs.forEach((s, i) => {
      const m = byName.get(s.name)!;
      const e = estimate.maps[i]!;
      if (!e.ok) throw new Error(`${s.name}: the model refuses it: ${e.reason}`);
      const want = {
        type: MAP_TYPES[s.spec.type].id,
        keySize: s.spec.keySize,
        valueSize: s.spec.valueSize,
        maxEntries: e.maxEntries,
        flags: s.spec.flags | kernelAddedFlags(s.spec.type),
        memlock: e.memlock,
      };
      const got = { type: m.type, keySize: m.keySize, valueSize: m.valueSize, maxEntries: m.maxEntries, flags: m.flags, memlock: m.memlock };
      expect({ map: s.name, ...got }).toEqual({ map: s.name, ...want });
      compared++;
    });
  }

  afterAll(async () => {
    // Every map is freed once the loader is done (namespace gone, object closed); freeing is
    // deferred work in the kernel, so each id gets a moment to go.
    for (const id of seen) {
      let gone = false;
      for (let tries = 0; tries < 100 && !gone; tries++) {
        try {
          closeFd(mapGetFdById(id as MapId));
          await new Promise((r) => setTimeout(r, 20));
        } catch (error) {
          if (!hasErrno(error, 'ENOENT')) throw error;
          gone = true;
        }
      }
      expect({ map: id, gone }).toEqual({ map: id, gone: true });
    }
  });

  it('compared every map', () => {
    // Says how many maps the run proved, so a run that loaded nothing cannot pass unnoticed.
    console.info(`live objects: ${compared} maps created by real loaders or BPF_MAP_CREATE and ${progsCompared} programs loaded by bpftool, each with memlock exactly as estimated`);
    expect(compared).toBeGreaterThan(0);
  });

  it('mounts and pins nothing in this mount namespace', () => {
    // The bpffs mounted in each private namespace, and the pins in it, never reach this one.
    expect(bpfMounts()).toEqual(mountsBefore);
    expect(existsSync('/sys/fs/bpf/pinned_by_name')).toBe(pinnedBefore);
  });
});
