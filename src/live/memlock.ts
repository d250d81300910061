import { BpfmemError } from '../vocab/errors.js';
import { hasCap } from '../vocab/caps.js';
import { formatBytes } from '../vocab/units.js';
import { describeMachine } from './machine.js';
import { probeMemlockPrecharge } from './probe.js';
import { readStatus } from '../sys/proc/index.js';
import { getRlimitMemlock, setRlimitMemlock } from '../sys/proc/index.js';
import { type Rlimit } from '../vocab/rlimit.js';

export type { Rlimit } from '../vocab/rlimit.js';

/**
 * RLIMIT_MEMLOCK for BPF loaders: raised only where the kernel counts BPF against it (before
 * 5.11), as libbpf's `bump_rlimit_memlock()` and cilium/ebpf's `rlimit.RemoveMemlock()` do, but
 * decided by the kernel's own answer rather than by a helper's presence, and with a clear error
 * where it cannot be raised.
 */

/** What {@link ensureMemlock} did. */
export interface EnsureMemlockResult {
  /** Whether RLIMIT_MEMLOCK was changed. */
  readonly raised: boolean;
  /** Why (one line). */
  readonly reason: string;
  /** RLIMIT_MEMLOCK before and after, in bytes (`Infinity` for unlimited). */
  readonly before: Rlimit;
  readonly after: Rlimit;
}

/** Whether this kernel precharges BPF against RLIMIT_MEMLOCK, and how that was found out. */
export interface MemlockRegime {
  readonly precharged: boolean;
  readonly reason: string;
}

/** What to do about RLIMIT_MEMLOCK. */
export type MemlockPlan =
  | { readonly action: 'keep'; readonly reason: string }
  | { readonly action: 'raise'; readonly to: Rlimit; readonly reason: string }
  | { readonly action: 'fail'; readonly message: string };

/** The inputs of {@link planMemlock}. */
export interface MemlockPlanInput {
  readonly regime: MemlockRegime;
  readonly current: Rlimit;
  /** Whether the process has CAP_SYS_RESOURCE (needed to raise the hard limit); undefined when unknown. */
  readonly capSysResource: boolean | undefined;
  /** The soft limit wanted: a number of bytes, or `Infinity` (the default, as libbpf and cilium/ebpf do). */
  readonly bytes: number;
}

const show = (n: number): string => (Number.isFinite(n) ? formatBytes(n) : 'unlimited');

/**
 * Decides what {@link ensureMemlock} does. Pure:
 * - the kernel does not precharge: keep (RLIMIT_MEMLOCK does not limit BPF there);
 * - the soft limit is already at least `bytes`: keep;
 * - `bytes` is within the hard limit: raise the soft limit only (no privilege needed);
 * - above the hard limit: raise both, which needs CAP_SYS_RESOURCE; without it, fail.
 */
export function planMemlock(input: MemlockPlanInput): MemlockPlan {
  const { regime, current, bytes } = input;
  checkBytes('planMemlock', bytes);
  if (!regime.precharged) return { action: 'keep', reason: `${regime.reason}: RLIMIT_MEMLOCK (${show(current.soft)}) does not limit BPF here; left as it is` };
  if (current.soft >= bytes) return { action: 'keep', reason: `${regime.reason}; RLIMIT_MEMLOCK is ${show(current.soft)} already, at least the ${show(bytes)} wanted` };
  if (bytes <= current.hard) {
    return { action: 'raise', to: { soft: bytes, hard: current.hard }, reason: `${regime.reason}: raised the soft RLIMIT_MEMLOCK from ${show(current.soft)} to ${show(bytes)}` };
  }
  if (input.capSysResource === false) {
    return {
      action: 'fail',
      message:
        `RLIMIT_MEMLOCK: ${regime.reason}, and raising it to ${show(bytes)} is above the hard limit ${show(current.hard)}, which needs CAP_SYS_RESOURCE, ` +
        `which this process lacks; raise it where the loader starts (ulimit -l as root, LimitMEMLOCK= in its systemd unit, docker --ulimit memlock=-1) or ask for at most ${show(current.hard)}`,
    };
  }
  return { action: 'raise', to: { soft: bytes, hard: bytes }, reason: `${regime.reason}: raised RLIMIT_MEMLOCK from ${show(current.soft)} (hard ${show(current.hard)}) to ${show(bytes)}` };
}

/** Throws a `BpfmemError` (`usage`) unless `bytes` is a whole number of bytes from 1 up, or Infinity. */
function checkBytes(caller: string, bytes: number): void {
  if (bytes !== Number.POSITIVE_INFINITY && (!Number.isSafeInteger(bytes) || bytes < 1)) {
    throw new BpfmemError('usage', `${caller}: bytes ${String(bytes)} is not a whole number of bytes from 1 up (or Infinity)`);
  }
}

let regimeOnce: Promise<MemlockRegime> | undefined;

/**
 * Whether this kernel precharges BPF against RLIMIT_MEMLOCK, asked once per process: the probe
 * map is created under a 64 KiB soft limit (src/live/probe.ts `probeMemlockPrecharge`). Where
 * no map can be created at all (no privilege), the kernel version decides (before 5.11: yes).
 */
export function memlockRegime(): Promise<MemlockRegime> {
  regimeOnce ??= Promise.resolve().then(async () => {
    const probe = probeMemlockPrecharge();
    if (probe.ok) {
      return { precharged: probe.precharged, reason: probe.precharged ? 'this kernel precharges BPF maps against RLIMIT_MEMLOCK (a map over it was refused with EPERM)' : 'this kernel does not count BPF against RLIMIT_MEMLOCK (a map over it was created)' };
    }
    const m = await describeMachine();
    return {
      precharged: m.regime === 'memlock',
      reason: `${m.regime === 'memlock' ? 'kernel ' + m.release + ' predates memcg accounting (5.11)' : 'kernel ' + m.release + ' charges BPF to memory cgroups'} (the probe map could not be created: ${probe.reason})`,
    };
  });
  return regimeOnce;
}

/**
 * Makes sure RLIMIT_MEMLOCK will not stop this process's BPF maps and programs: on kernels that
 * precharge it (before 5.11) it raises the soft limit to `bytes` (default unlimited), and the
 * hard limit too when it must (CAP_SYS_RESOURCE); elsewhere it changes nothing. Call it before
 * creating BPF objects. The first call probes the kernel by creating a small map with the soft
 * limit briefly lowered (other threads creating BPF objects meanwhile could fail on old kernels).
 *
 * Throws a `BpfmemError` (`usage`) for a bad `bytes`, (`system`) where the limit cannot be raised.
 */
export async function ensureMemlock(options: { readonly bytes?: number } = {}): Promise<EnsureMemlockResult> {
  const bytes = options.bytes ?? Number.POSITIVE_INFINITY;
  checkBytes('ensureMemlock', bytes);
  const regime = await memlockRegime();
  const before = getRlimitMemlock();
  const status = regime.precharged ? await readStatus('self').catch(() => undefined) : undefined;
  const capSysResource = status?.capEff === undefined ? undefined : hasCap(status.capEff, 'CAP_SYS_RESOURCE');
  const plan = planMemlock({ regime, current: before, capSysResource, bytes });
  switch (plan.action) {
    case 'keep':
      return { raised: false, reason: plan.reason, before, after: before };
    case 'fail':
      throw new BpfmemError('system', plan.message);
    case 'raise':
      try {
        setRlimitMemlock(plan.to.soft, plan.to.hard);
      } catch (error) {
        throw new BpfmemError('system', `RLIMIT_MEMLOCK: ${regime.reason}, and setting it to ${show(plan.to.soft)} failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      }
      return { raised: true, reason: plan.reason, before, after: getRlimitMemlock() };
  }
}
