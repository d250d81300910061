import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kernelName, parseBpfObject } from '../../src/elf/index.js';
import { estimateMaps, type Estimate, type ProgEstimate } from '../../src/estimate/maps.js';
import { objectSpecs, type ObjectSpec } from '../../src/estimate/object.js';
import type { PlannedProg } from '../../src/estimate/object-plan.js';
import { parseSet, type PlannedMap } from '../../src/estimate/plan.js';
import { runEstimate } from '../../src/estimate/run.js';
import { loaderByName } from '../../src/estimate/loaders.js';
import { MAP_FLAGS } from '../../src/vocab/flags.js';
import { MAP_TYPES, type MapType } from '../../src/vocab/maptypes.js';
import type { KernelProfile } from '../../src/vocab/profile.js';
import type { Btf } from '../../src/btf/index.js';
import { closeFd, findBtfTypeId, hasErrno, loadPlaceholderBtf, mapCreate, mapGetFdById, mapInfo, type MapInfo } from '../../src/sys/bpf/index.js';
import { vmlinuxBtf } from '../../src/sys/bpf/vmlinux.js';
import { readKernelProfile } from '../../src/live/machine.js';
import type { MapId } from '../../src/sys/bpf/types.js';
import { parseFdinfo } from '../../src/sys/proc/fdinfo.js';
import { buildFixture, FIXTURE_DIR, FIXTURES, toolchain } from '../fixtures/bpf/build.js';
import { liveEnv } from './env.js';
import { probeFeatures } from '../../src/live/probe.js';

/*
 * Every compiled fixture loaded by a real loader, and every map the kernel created compared with
 * what bpfmem reads from the object and estimates for this machine: the set of names, and per
 * map its type, key and value size, max_entries, flags and fdinfo `memlock`, which must EQUAL the
 * model's `memlock` to the byte; and every program's memlock, which must equal the estimate or lie
 * in the range it gives. The estimate is `bpfmem estimate FILE.o --loader NAME [--set ...]`'s
 * (runEstimate). Two loaders, each compared with the estimate for its `--loader`:
 *
 * - Debian's `bpftool prog loadall` (7.1.0, built on Linux 6.1's libbpf: `--loader bpftool-7.1`),
 *   run in a private mount namespace with its own bpffs on /sys/fs/bpf, so pins (including
 *   `LIBBPF_PIN_BY_NAME` ones) vanish with the namespace;
 * - test/fixtures/bpf/loader.c compiled here with clang against Debian's libbpf-dev (1.1.2:
 *   `--loader libbpf-1.1`): applies the fixture's settings with libbpf's setters, turns pinning
 *   off, loads, prints the maps and programs, closes.
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
 * Fixtures a loader here refuses to open, by the `--loader` it stands for: bpfmem must refuse them
 * for that loader too, with the reason libbpf gives.
 */
const REFUSED: Readonly<Record<string, Readonly<Record<string, RegExp>>>> = {
  bss_custom: { 'bpftool-7.1': /"scratch" is in section "\.bss\.hidden", of which libbpf before 1.1 makes no map/ },
};

/**
 * What the loader sets before load for a fixture (bcc-style tools size their stack maps at run
 * time), given to the estimate as `--set` and to the libbpf loader as libbpf setter calls.
 */
const SETTINGS: Readonly<Record<string, readonly string[]>> = {
  runtime_size: ['stackmap.value_size=1016', 'stackmap.max_entries=1024', 'counts.max_entries=10240'],
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
    const btfFd = specs.some((s) => s.spec.type === 'struct_ops') ? loadPlaceholderBtf() : undefined;
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
  /** The `--loader` of bpfmem estimate it is compared with. */
  readonly as: string;
  /** Whether it can apply a fixture's {@link SETTINGS} (bpftool cannot: it sets nothing before load). */
  readonly settings: boolean;
  /** Loads the object and reports its maps and programs; leaves nothing loaded when it returns. */
  load(path: string, settings: readonly string[]): { maps: LiveMap[]; progs: LiveProg[] };
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
      as: 'bpftool-7.1',
      settings: false,
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

/**
 * test/fixtures/bpf/loader.c, compiled with clang against libbpf-dev into the build directory
 * (once per run; the live tests run one file at a time). Skips with the reason when libbpf's
 * header or library is missing.
 */
function libbpfLoader(): Found {
  if (!toolchain.ok) return { ok: false, reason: toolchain.reason };
  if (!existsSync('/usr/include/bpf/libbpf.h')) return { ok: false, reason: 'no libbpf-dev (/usr/include/bpf/libbpf.h)' };
  const source = join(FIXTURE_DIR, 'loader.c');
  // Named by a hash of its source and clang's version: built once, then reused.
  const bin = join(FIXTURE_DIR, '.build', `loader-${createHash('sha256').update(readFileSync(source)).update(toolchain.version).digest('hex').slice(0, 16)}`);
  try {
    if (!existsSync(bin)) {
      mkdirSync(dirname(bin), { recursive: true });
      const tmp = `${bin}.${process.pid}.tmp`;
      execFileSync('clang', ['-O2', '-Wall', '-D_GNU_SOURCE', source, '-lbpf', '-o', tmp], { stdio: ['ignore', 'ignore', 'pipe'] });
      renameSync(tmp, bin);
    }
  } catch (error) {
    return { ok: false, reason: `cannot build the libbpf loader: ${((error as { stderr?: Buffer }).stderr ?? '').toString().trim().split('\n')[0] ?? ''}` };
  }
  const version = execFileSync('sh', ['-c', "dpkg-query -W -f '${Version}' libbpf-dev 2>/dev/null || true"], { encoding: 'utf8' }).trim();
  return {
    ok: true,
    loader: {
      name: `a loader linked with libbpf-dev ${version}`,
      as: 'libbpf-1.1',
      settings: true,
      load(path, settings) {
        let out: string;
        try {
          out = execFileSync(bin, [path, ...settings], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
        } catch (error) {
          const stderr = (error as { stderr?: string }).stderr ?? '';
          throw new Error(`the libbpf loader could not load ${path}: ${stderr.trim().split('\n').slice(-1)[0] ?? ''}`, { cause: error });
        }
        const maps: LiveMap[] = [];
        const progs: LiveProg[] = [];
        for (const line of out.split('\n')) {
          const f = line.split(' ');
          if (f[0] === 'M') {
            const [id, name, type, keySize, valueSize, maxEntries, flags, memlock] = f.slice(1);
            maps.push({ id: Number(id), name: String(name), type: Number(type), keySize: Number(keySize), valueSize: Number(valueSize), maxEntries: Number(maxEntries), flags: Number(flags), memlock: Number(memlock) });
          } else if (f[0] === 'P') progs.push({ name: String(f[1]), memlock: Number(f[2]) });
        }
        return { maps, progs };
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
  /** Objects a loader refused that bpfmem refused for that loader too. */
  let refusals = 0;
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
    describe(`${loader.name}, against bpfmem estimate --loader ${loader.as}`, () => {
      it.for(LOADABLE)('%s', (name, ctx) => {
        const settings = SETTINGS[name] ?? [];
        if (settings.length > 0 && !loader.settings) ctx.skip(`${loader.name} cannot set ${settings.join(', ')} before load; the libbpf loader can`);
        const path = buildFixture(name);
        const refused = REFUSED[name]?.[loader.as];
        if (refused !== undefined) {
          expect(() => loader.load(path, settings)).toThrow(/Relocation failed|bad map relo/);
          expect(() => estimateOf(path, loader.as, settings)).toThrow(refused);
          refusals++;
          return;
        }
        const est = estimateOf(path, loader.as, settings);
        const live = loader.load(path, settings);
        seen.push(...live.maps.map((m) => m.id));
        compare(est.plan, est.estimate, live.maps);
        // Programs: memlock exactly as estimated, or inside the range given where the verifier's rewrites may cross a page.
        const byName = (a: { name: string }, b: { name: string }): number => (a.name < b.name ? -1 : 1);
        // The kernel keeps 15 bytes of a name; bpftool prints the whole one from BTF where it has it.
        const full = (n: string): string => est.progs.find((g) => g.name === n || kernelName(g.name) === n)?.name ?? n;
        const got = live.progs.map((p) => ({ name: full(p.name), memlock: p.memlock })).sort(byName);
        const want = est.progs.map((g, i) => {
          const low = est.estimate.progs[i]?.memlock ?? -1;
          const high = est.progsMax[i]?.memlock ?? low;
          const memlock = got.find((p) => p.name === g.name)?.memlock ?? -1;
          return { name: g.name, memlock: memlock >= low && memlock <= high ? memlock : low === high ? low : `${low}..${high}` };
        });
        expect(got).toEqual(want.sort(byName));
        progsCompared += live.progs.length;
      });
    });
  }

  /** `bpfmem estimate PATH --loader LOADER --set ...` for this machine, as the use case computes it. */
  function estimateOf(path: string, loaderName: string, settings: readonly string[]): { plan: readonly PlannedMap[]; estimate: Estimate; progs: readonly PlannedProg[]; progsMax: readonly ProgEstimate[] } {
    const loader = loaderByName(loaderName);
    const obj = parseBpfObject(new Uint8Array(readFileSync(path)), path, { libbpf: loader.generation });
    const sets = settings.map((t) => {
      const r = parseSet(t);
      if (!r.ok) throw new Error(r.error);
      return r.value;
    });
    const r = runEstimate({ objects: [{ path, obj }], maps: [], progs: [], sets, fills: [], profiles: [profile], kernelBtf, loader });
    return { plan: r.plans[0] ?? [], estimate: r.runs[0] as Estimate, progs: r.progs, progsMax: r.progsMax[0] ?? [] };
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

  /**
   * Every map of the object was created, each as specified, with the estimated memlock to the
   * byte. Maps are matched by kernel name, and those sharing one (15 bytes of longer names) by
   * their fields.
   */
  function compare(plan: readonly { readonly name: string; readonly spec: ObjectSpec['spec'] }[], estimate: Estimate, live: readonly LiveMap[]): void {
    expect(live.map((m) => m.name).sort()).toEqual(plan.map((s) => s.name).sort());
    const key = (m: { name: string; type: number; keySize: number; valueSize: number; maxEntries: number; flags: number; memlock: number }): string =>
      JSON.stringify([m.name, m.type, m.keySize, m.valueSize, m.maxEntries, m.flags, m.memlock]);
    const want = plan.map((s, i) => {
      const e = estimate.maps[i]!;
      if (!e.ok) throw new Error(`${s.name}: the model refuses it: ${e.reason}`);
      return {
        name: s.name,
        type: MAP_TYPES[s.spec.type].id,
        keySize: s.spec.keySize,
        valueSize: s.spec.valueSize,
        maxEntries: e.maxEntries,
        flags: s.spec.flags | kernelAddedFlags(s.spec.type),
        memlock: e.memlock,
      };
    });
    const got = live.map(({ name, type, keySize, valueSize, maxEntries, flags, memlock }) => ({ name, type, keySize, valueSize, maxEntries, flags, memlock }));
    expect(got.sort((a, b) => (key(a) < key(b) ? -1 : 1))).toEqual(want.sort((a, b) => (key(a) < key(b) ? -1 : 1)));
    compared += live.length;
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
    console.info(`live objects: ${compared} maps created by real loaders or BPF_MAP_CREATE and ${progsCompared} programs loaded, each with memlock as estimated (exactly, or inside the range given); ${refusals} ${refusals === 1 ? 'object' : 'objects'} refused by a loader and by bpfmem for it`);
    expect(compared).toBeGreaterThan(0);
  });

  it('mounts and pins nothing in this mount namespace', () => {
    // The bpffs mounted in each private namespace, and the pins in it, never reach this one.
    expect(bpfMounts()).toEqual(mountsBefore);
    expect(existsSync('/sys/fs/bpf/pinned_by_name')).toBe(pinnedBefore);
  });
});
