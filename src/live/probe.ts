import { cleanStaleRuns } from './stale.js';
import { track, untrack, type Disposable } from './cleanup.js';
import { readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { assemble, call, exit, mov64Imm } from '../asm/index.js';
import { BpfmemError } from '../vocab/errors.js';
import type { Errno } from '../vocab/errno.js';
import type { CgroupVersion, Regime } from '../vocab/profile.js';
import { progLoadAttr } from '../sys/bpf/index.js';
import { mapCreate, SyscallError } from '../sys/bpf/index.js';
import { PROG_TYPES } from '../vocab/progtypes.js';
import { addressOf } from '../sys/bpf/index.js';
import { closeFd, tryBpfSyscall } from '../sys/bpf/index.js';
import { VMLINUX_BTF_PATH, vmlinuxBtf } from '../sys/bpf/index.js';
import { findBtfTypeId } from '../sys/bpf/index.js';
import { featureOfSection, type BpfFeature } from '../elf/features.js';

export { featureOfSection, type BpfFeature };
import { CgroupFs } from '../sys/cgroup/index.js';
import { readMemoryHierarchy, type MemoryHierarchy } from '../sys/cgroup/index.js';
import { readPossibleCpus } from '../sys/proc/index.js';
import { describeMachine, type MachineDescription } from './machine.js';
import { pathInMount } from '../sys/cgroup/index.js';
import { readNumberFile, readStatus } from '../sys/proc/index.js';
import { parseSigned } from '../sys/proc/index.js';
import { getRlimitMemlock, setRlimitMemlock } from '../sys/proc/index.js';
import { type Rlimit } from '../vocab/rlimit.js';

/**
 * Active probes of this kernel's BPF memory accounting. Every probe that changes something (a map, a cgroup, RLIMIT_MEMLOCK, the
 * cgroup of this process) puts it back before it returns, also when it fails.
 *
 * Three ways to decide whether BPF is charged to memory cgroups:
 * - the kernel's: create a map of half a MiB in a memory cgroup of our own and see its kernel
 *   memory grow by that much (catches `cgroup.memory=nokmem`, `nobpf`, kmem accounting off),
 *   and create it again under the old 64 KiB RLIMIT_MEMLOCK to see whether it is precharged;
 * - libbpf's (src/bpf.c `probe_memcg_account()`): a socket filter calling
 *   `bpf_ktime_get_coarse_ns()`, a helper of the same release (5.11), loads;
 * - cilium/ebpf's (rlimit/rlimit_linux.go `detectMemcgAccounting()`): a 1-entry array is created
 *   with the soft RLIMIT_MEMLOCK at 0.
 */

// ---------------------------------------------------------------------------------------------
// The kernel's way

/**
 * The probe map: an array of 128 values of 4 KiB. `bpf_map_area_alloc()` (kernel/bpf/syscall.c)
 * vmallocs anything above 32 KiB page by page with `__GFP_ACCOUNT`, so where BPF is charged the
 * creator's cgroup pays `round_up(312 + 128 × 4096, 4096)` = 129 pages (6.18: `sizeof(struct
 * bpf_array)` 312), clearly above the noise of a few slab pages.
 */
export const PROBE_MAP = { type: 'array', keySize: 4, valueSize: 4096, maxEntries: 128 } as const;
/** What the probe map's data pages are at least: 128 × 4 KiB. */
export const PROBE_MAP_BYTES = PROBE_MAP.valueSize * PROBE_MAP.maxEntries;
/** RLIMIT_MEMLOCK's default before 5.16 (`MLOCK_LIMIT`, include/uapi/linux/resource.h): 64 KiB. */
export const OLD_DEFAULT_MEMLOCK = 64 * 1024;

/** Whether a kernel-memory delta shows the probe map was charged. */
export function classifyCharge(delta: number, expected: number): boolean | undefined {
  if (delta >= expected / 2) return true;
  if (delta < expected / 10) return false;
  return undefined;
}

/** What creating the probe map did to a memory cgroup's counter. */
export type ChargeProbe =
  | {
      readonly ok: true;
      /** Whether the map was charged: undefined when the delta is neither about its size nor about 0. */
      readonly charged: boolean | undefined;
      /** The counter read: `memory.kmem.usage_in_bytes` (v1) or `memory.current` (v2). */
      readonly counter: string;
      readonly delta: number;
      /** What the map's pages come to (129 pages). */
      readonly expected: number;
      /** The cgroup measured, relative to the mounted hierarchy's root. */
      readonly cgroup: string;
      /** Whether it is a cgroup made for the probe (exact) or this process's own (shared, noisy). */
      readonly private: boolean;
    }
  | { readonly ok: false; readonly reason: string; readonly errno?: Errno };

/**
 * The counter a charge probe reads, v1 kmem (exact pages) or v2 memory.current (the page counter
 * itself; memory.stat `kernel` is flushed lazily), read synchronously: no event-loop turn and no
 * thread-pool read of this process, which sits in the measured cgroup, falls between the two
 * reads around the map's creation. With the asynchronous reads of every counter file, a CI run
 * measured 209 pages for the 129-page map.
 */
function readChargeCounter(version: CgroupVersion, dir: string): { name: string; value: number } {
  const names = version === 1 ? ['memory.kmem.usage_in_bytes', 'memory.usage_in_bytes'] : ['memory.current'];
  for (const name of names) {
    let text: string;
    try {
      text = readFileSync(`${dir}/${name}`, 'utf8');
    } catch {
      continue;
    }
    const value = parseSigned(text.trim());
    if (value !== undefined && value >= 0) return { name, value };
  }
  throw new BpfmemError('system', `${dir}: none of ${names.join(', ')} could be read`);
}

function errnoOf(error: unknown): Errno | undefined {
  return error instanceof SyscallError ? error.errnoName : undefined;
}

/** Creates and closes the probe map while reading `dir`'s counter before and after. */
function measureCharge(h: MemoryHierarchy, dir: string, cgroup: string, isPrivate: boolean, pageSize: number): ChargeProbe {
  const before = readChargeCounter(h.version, dir);
  let fd: number;
  try {
    fd = mapCreate({ ...PROBE_MAP, name: 'bpfmem_probe' });
  } catch (error) {
    if (!(error instanceof SyscallError)) throw error;
    return { ok: false, reason: `creating the probe map: ${error.message}`, ...(error.errnoName && { errno: error.errnoName }) };
  }
  let after: { name: string; value: number };
  try {
    after = readChargeCounter(h.version, dir);
  } finally {
    closeFd(fd);
  }
  const expected = Math.ceil((312 + PROBE_MAP_BYTES) / pageSize) * pageSize;
  const delta = after.value - before.value;
  return { ok: true, charged: classifyCharge(delta, expected), counter: before.name, delta, expected, cgroup, private: isPrivate };
}

/**
 * The kernel's way: creates the probe map from a memory cgroup made for it (this process moves
 * there for the few milliseconds of one bpf() call and comes back), so that nothing else is
 * counted. Where bpfmem may not create cgroups (not root, no delegation) it measures this
 * process's own cgroup, which other processes share. The root memory cgroup is never charged,
 * so a process there can only be measured from a cgroup of its own.
 */
export async function probeKernelCharge(pageSize = 4096): Promise<ChargeProbe> {
  const found = await readMemoryHierarchy();
  if (!found.ok) return { ok: false, reason: `no memory cgroup to measure: ${found.reason}` };
  const h = found.hierarchy;
  const own = pathInMount(h, h.ownPath) ?? h.ownPath;
  const fs = new CgroupFs(h);
  let privateError: string | undefined;
  // Tracked before the root exists, so that Ctrl-C from here on removes it (and brings this
  // process home from it) before the process ends.
  const held: Disposable = { dispose: () => fs.removeOwnedRoot() };
  try {
    await cleanStaleRuns(fs);
    track(held);
    await fs.createOwnedRoot('probe');
  } catch (error) {
    untrack(held);
    privateError = error instanceof Error ? error.message : String(error);
  }
  if (privateError === undefined) {
    try {
      const made = await fs.create('/kernel');
      if (!made.ok) return { ok: false, reason: made.reason, errno: made.errno };
      const dir = fs.dirOf('/kernel');
      const moved = await fs.moveTask('/kernel', process.pid);
      if (!moved.ok) return { ok: false, reason: moved.reason, errno: moved.errno };
      try {
        return measureCharge(h, dir, `${own === '/' ? '' : own}${dir.slice(h.ownDir.length)}`, true, pageSize);
      } finally {
        await fs.moveTaskHome(process.pid);
      }
    } finally {
      await fs.removeOwnedRoot();
      untrack(held);
    }
  }
  if (own === '/') {
    return { ok: false, reason: `this process is in the root memory cgroup, which is never charged, and a cgroup of its own could not be made: ${privateError}` };
  }
  return measureCharge(h, h.ownDir, own, false, pageSize);
}

/** Whether RLIMIT_MEMLOCK limits BPF maps here. */
export type PrechargeProbe =
  | {
      readonly ok: true;
      /** True where map creation is refused under a limit below its cost: the pre-5.11 precharge. */
      readonly precharged: boolean;
      /** The soft limit the map was created under. */
      readonly limit: number;
      readonly detail: string;
    }
  | { readonly ok: false; readonly reason: string; readonly errno?: Errno };

/**
 * Runs `create` with the soft RLIMIT_MEMLOCK lowered to `soft` (the hard limit kept: lowering it
 * could not be undone without CAP_SYS_RESOURCE), then restores the limit, also on failure.
 * While it runs, other BPF objects created by this process on a pre-5.11 kernel would fail.
 */
export function withSoftMemlock<T>(soft: number, create: () => T): T {
  const before = getRlimitMemlock();
  setRlimitMemlock(Math.min(soft, before.hard), before.hard);
  try {
    return create();
  } finally {
    setRlimitMemlock(before.soft, before.hard);
  }
}

/** Creates a map and closes it: undefined on success, the errno it failed with otherwise. */
function tryCreate(spec: { type: 'array' | number; keySize: number; valueSize: number; maxEntries: number; flags?: number }): { errno: Errno | undefined; message: string } | undefined {
  try {
    closeFd(mapCreate(spec));
    return undefined;
  } catch (error) {
    if (!(error instanceof SyscallError)) throw error;
    return { errno: errnoOf(error), message: error.message };
  }
}

/**
 * The kernel's way for the old regime: creates the probe map (129 pages) under the soft
 * RLIMIT_MEMLOCK of `limit` bytes (default 64 KiB, the limit most systems had before 5.16).
 * Kernels before 5.11 precharge the map's pages against it and refuse with EPERM
 * (kernel/bpf/syscall.c `bpf_charge_memlock()`); later ones do not look at it. The map is first
 * created under the current limits, so that an EPERM that is about privileges is told apart.
 */
export function probeMemlockPrecharge(limit = OLD_DEFAULT_MEMLOCK): PrechargeProbe {
  const spec = { ...PROBE_MAP };
  const plain = tryCreate(spec);
  if (plain) {
    return { ok: false, reason: `creating the probe map under the current limits: ${plain.message}`, ...(plain.errno && { errno: plain.errno }) };
  }
  const low = withSoftMemlock(limit, () => tryCreate(spec));
  if (!low) return { ok: true, precharged: false, limit, detail: `created a ${PROBE_MAP_BYTES / 1024} KiB map with RLIMIT_MEMLOCK ${limit} bytes: no precharge` };
  if (low.errno === 'EPERM') return { ok: true, precharged: true, limit, detail: `EPERM under RLIMIT_MEMLOCK ${limit} bytes, created under the current limits: maps precharge RLIMIT_MEMLOCK` };
  return { ok: false, reason: `creating the probe map under RLIMIT_MEMLOCK ${limit} bytes: ${low.message}`, ...(low.errno && { errno: low.errno }) };
}

// ---------------------------------------------------------------------------------------------
// libbpf's and cilium/ebpf's ways

/** How a library decides, and what it would do about RLIMIT_MEMLOCK. */
export interface LibraryProbe {
  /** Whether the library concludes that BPF is charged to memory cgroups. */
  readonly memcg: boolean;
  /** What the probe did and got. */
  readonly detail: string;
  /** Whether the library would then raise RLIMIT_MEMLOCK (to unlimited by default). */
  readonly wouldRaise: boolean;
  /** The errno of the probe's bpf() call, when it failed. */
  readonly errno?: Errno;
}

/**
 * libbpf's way (src/bpf.c `probe_memcg_account()`, feature `FEAT_MEMCG_ACCOUNT`): loads
 * `call bpf_ktime_get_coarse_ns; exit` as a socket filter, GPL. Any failure counts as "no
 * memcg accounting", after which `bump_rlimit_memlock()` sets RLIMIT_MEMLOCK (soft and hard) to
 * `memlock_rlim`, unlimited unless `libbpf_set_memlock_rlim()` said otherwise.
 */
export function probeLibbpf(): LibraryProbe {
  const insns = assemble([call('ktime_get_coarse_ns'), exit()]);
  const license = new Uint8Array(new ArrayBuffer(4));
  license.set([0x47, 0x50, 0x4c, 0]); // "GPL\0"
  const attr = progLoadAttr({ progType: PROG_TYPES.socket_filter, insnCnt: insns.byteLength / 8, insns: addressOf(insns), license: addressOf(license) });
  const r = tryBpfSyscall('BPF_PROG_LOAD', attr, insns, license);
  if (r.ok) {
    closeFd(r.value);
    return { memcg: true, detail: 'a socket filter calling bpf_ktime_get_coarse_ns() (5.11) loaded', wouldRaise: false };
  }
  const e = new SyscallError('BPF_PROG_LOAD', r.errno);
  return {
    memcg: false,
    detail: `the socket filter calling bpf_ktime_get_coarse_ns() was refused: ${e.message}`,
    wouldRaise: true,
    ...(e.errnoName && { errno: e.errnoName }),
  };
}

/**
 * cilium/ebpf's way (rlimit/rlimit_linux.go `detectMemcgAccounting()`): the soft RLIMIT_MEMLOCK
 * set to 0 (hard kept), a 1-entry array (key 4, value 4) created, the limit restored. Success
 * means memcg accounting; EPERM means none, and `rlimit.RemoveMemlock()` would set the limit to
 * unlimited (which needs CAP_SYS_RESOURCE there); any other error is reported as such.
 */
export function probeCilium(): LibraryProbe {
  const r = withSoftMemlock(0, () => tryCreate({ type: 'array', keySize: 4, valueSize: 4, maxEntries: 1 }));
  if (!r) return { memcg: true, detail: 'a 1-entry array was created with RLIMIT_MEMLOCK 0', wouldRaise: false };
  if (r.errno === 'EPERM') {
    return { memcg: false, detail: `EPERM creating a 1-entry array with RLIMIT_MEMLOCK 0`, wouldRaise: true, errno: 'EPERM' };
  }
  return { memcg: false, detail: `unexpected error detecting memory cgroup accounting: ${r.message}`, wouldRaise: false, ...(r.errno && { errno: r.errno }) };
}

// ---------------------------------------------------------------------------------------------
// The whole probe

/** Everything `bpfmem probe` reports. */
export interface ProbeReport {
  readonly machine: MachineDescription;
  /** `/sys/devices/system/cpu/online`: per-CPU maps are sized by possible CPUs, not these. */
  readonly onlineCpus: number | undefined;
  /** `/proc/sys/net/core/bpf_jit_harden`. */
  readonly bpfJitHarden: number | undefined;
  /** `/sys/kernel/btf/vmlinux`: its size, or undefined when the kernel has no BTF. */
  readonly btfBytes: number | undefined;
  /** `CapEff` of this process. */
  readonly capEff: bigint | undefined;
  /** The kernel's way. */
  readonly charge: ChargeProbe;
  readonly precharge: PrechargeProbe;
  /** The regime the kernel's way shows, or undefined when its probes could not tell. */
  readonly measuredRegime: Regime | undefined;
  readonly measuredReason: string;
  readonly libbpf: LibraryProbe;
  readonly cilium: LibraryProbe;
  /** Features of BPF objects this kernel may refuse even to root (arena maps, trampoline and LSM programs). */
  readonly features: readonly FeatureProbe[];
  /** RLIMIT_MEMLOCK before and after the probes (they must be equal). */
  readonly memlockBefore: Rlimit;
  readonly memlockAfter: Rlimit;
}

/** The regime the kernel's way shows. */
export function measuredRegimeOf(charge: ChargeProbe, precharge: PrechargeProbe): { regime: Regime | undefined; reason: string } {
  if (precharge.ok && precharge.precharged) return { regime: 'memlock', reason: precharge.detail };
  if (!charge.ok) return { regime: undefined, reason: charge.reason };
  const where = `${charge.private ? 'a cgroup made for the probe' : 'this process\'s own cgroup'} (${charge.cgroup})`;
  const seen = `${charge.counter} of ${where} grew by ${charge.delta} bytes for a map of ${charge.expected}`;
  if (charge.charged === true) return { regime: 'memcg', reason: seen };
  if (charge.charged === false) return { regime: precharge.ok ? 'none' : undefined, reason: `${seen}: BPF is not charged to memory cgroups` };
  return { regime: undefined, reason: `${seen}: neither about its size nor about nothing` };
}

/**
 * Runs every probe and reads the facts around them. Needs bpf() (root or CAP_BPF); without it
 * the probes report why they could not run. RLIMIT_MEMLOCK is read before and after.
 */
export async function runProbe(): Promise<ProbeReport> {
  const memlockBefore = getRlimitMemlock();
  const machine = await describeMachine();
  const onlineCpus = readPossibleCpus('/sys/devices/system/cpu/online');
  const [bpfJitHarden, btfBytes, status] = await Promise.all([
    readNumberFile('/proc/sys/net/core/bpf_jit_harden'),
    stat(VMLINUX_BTF_PATH).then(
      (s) => s.size,
      () => undefined,
    ),
    readStatus('self'),
  ]);
  const charge = await probeKernelCharge(machine.pageSize ?? 4096);
  const precharge = probeMemlockPrecharge();
  const { regime: measuredRegime, reason: measuredReason } = measuredRegimeOf(charge, precharge);
  const libbpf = probeLibbpf();
  const cilium = probeCilium();
  const features = await probeFeatures();
  const memlockAfter = getRlimitMemlock();
  return {
    machine,
    onlineCpus,
    bpfJitHarden,
    btfBytes,
    capEff: status?.capEff,
    charge,
    precharge,
    measuredRegime,
    measuredReason,
    libbpf,
    cilium,
    features,
    memlockBefore,
    memlockAfter,
  };
}

// ---------------------------------------------------------------------------------------------
// Features a kernel may refuse even to root

/**
 * Features of BPF objects that a kernel can refuse even to root with every capability: vendor
 * builds (this project's 6.18 host among them) answer EPERM to BPF_MAP_CREATE of an arena and to
 * BPF_PROG_LOAD of trampoline and LSM programs, from a security module or a patch, whatever the
 * version says. `freplace` programs need a target program with BTF and are not probed.
 */

/** What the kernel said to one feature. */
export interface FeatureProbe {
  readonly feature: BpfFeature;
  /** `arena maps`, `fentry programs`, … */
  readonly what: string;
  /**
   * `ok`: created or loaded; `refused`: EPERM although a plain array was created (a policy of
   * this kernel); `missing`: the kernel does not know it (EINVAL, ENOTSUPP, no BTF target);
   * `unknown`: bpf() itself is not allowed here, so nothing can be told.
   */
  readonly state: 'ok' | 'refused' | 'missing' | 'unknown';
  readonly errno?: Errno;
  /** What was tried and what came back, one phrase. */
  readonly detail: string;
}

const FEATURE_WHAT: Readonly<Record<BpfFeature, string>> = { arena: 'arena maps', fentry: 'fentry programs', fexit: 'fexit programs', lsm: 'LSM programs' };

/** `BPF_F_MMAPABLE`: an arena must be mmapable (kernel/bpf/arena.c: arena_map_alloc). */
const MMAPABLE = 1 << 10;
/** Kernel functions the program probes attach to: test hooks of net/bpf/test_run.c, an LSM hook of kernel/bpf/bpf_lsm.c. */
const PROBE_TARGETS: Readonly<Record<'fentry' | 'fexit' | 'lsm', { readonly func: string; readonly progType: number; readonly attach: number }>> = {
  fentry: { func: 'bpf_fentry_test1', progType: PROG_TYPES.tracing, attach: 24 /* BPF_TRACE_FENTRY */ },
  fexit: { func: 'bpf_fentry_test1', progType: PROG_TYPES.tracing, attach: 25 /* BPF_TRACE_FEXIT */ },
  lsm: { func: 'bpf_lsm_file_open', progType: PROG_TYPES.lsm, attach: 27 /* BPF_LSM_MAC */ },
};

const probed = new Map<BpfFeature, FeatureProbe>();

/**
 * Whether this kernel lets this process use each of `features`: each is tried once per process
 * (an arena of one page; `r0 = 0; exit` as a GPL program attached to a kernel function found in
 * /sys/kernel/btf/vmlinux) and closed at once. A plain 1-entry array is created first, so that a
 * refusal of bpf() itself (no privilege) is not taken for a refusal of the feature.
 */
export async function probeFeatures(features: readonly BpfFeature[] = ['arena', 'fentry', 'fexit', 'lsm']): Promise<FeatureProbe[]> {
  const todo = [...new Set(features)].filter((f) => !probed.has(f));
  if (todo.length > 0) {
    const base = tryCreate({ type: 'array', keySize: 4, valueSize: 4, maxEntries: 1 });
    for (const feature of todo) {
      const what = FEATURE_WHAT[feature];
      if (base) {
        probed.set(feature, { feature, what, state: 'unknown', ...(base.errno && { errno: base.errno }), detail: `bpf() itself is refused here (${base.message}): run as root to tell` });
        continue;
      }
      probed.set(feature, feature === 'arena' ? probeArena() : await probeAttach(feature));
    }
  }
  return features.map((f) => probed.get(f)).filter((p): p is FeatureProbe => p !== undefined);
}

function verdict(feature: BpfFeature, tried: string, errno: Errno | undefined, message: string): FeatureProbe {
  const what = FEATURE_WHAT[feature];
  if (errno === 'EPERM') return { feature, what, state: 'refused', errno, detail: `${tried}: EPERM, although a plain array map was created: this kernel refuses ${what}` };
  return { feature, what, state: 'missing', ...(errno && { errno }), detail: `${tried}: ${message}` };
}

function probeArena(): FeatureProbe {
  const tried = 'BPF_MAP_CREATE of a one-page arena';
  const r = tryCreate({ type: 33, keySize: 0, valueSize: 0, maxEntries: 1, flags: MMAPABLE });
  if (!r) return { feature: 'arena', what: FEATURE_WHAT.arena, state: 'ok', detail: `${tried}: created` };
  return verdict('arena', tried, r.errno, r.message);
}

async function probeAttach(feature: 'fentry' | 'fexit' | 'lsm'): Promise<FeatureProbe> {
  const t = PROBE_TARGETS[feature];
  const what = FEATURE_WHAT[feature];
  let id: number | undefined;
  try {
    id = findBtfTypeId(await vmlinuxBtf(), t.func, 'func');
  } catch (error) {
    return { feature, what, state: 'missing', detail: `no kernel BTF to attach to (${error instanceof Error ? error.message : String(error)})` };
  }
  if (id === undefined) return { feature, what, state: 'missing', detail: `the kernel's BTF has no function ${t.func} to attach to` };
  const tried = `BPF_PROG_LOAD of a ${feature} program on ${t.func}`;
  const insns = assemble([mov64Imm(0, 0), exit()]);
  const license = new Uint8Array(new ArrayBuffer(4));
  license.set([0x47, 0x50, 0x4c, 0]); // "GPL\0"
  const attr = progLoadAttr({ progType: t.progType, insnCnt: insns.byteLength / 8, insns: addressOf(insns), license: addressOf(license), expectedAttachType: t.attach, attachBtfId: id });
  const r = tryBpfSyscall('BPF_PROG_LOAD', attr);
  if (r.ok) {
    closeFd(r.value);
    return { feature, what, state: 'ok', detail: `${tried}: loaded` };
  }
  const e = new SyscallError('BPF_PROG_LOAD', r.errno);
  return verdict(feature, tried, e.errnoName, e.message);
}
