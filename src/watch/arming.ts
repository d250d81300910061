import { escapeText } from '../vocab/escape.js';
import type { HookSpec } from '../sys/trace/index.js';
import type { MapType } from '../vocab/maptypes.js';
import type { Regime } from '../vocab/profile.js';

/**
 * Arming on headroom: when watch's hooks are attached. Every update of a hooked map type pays the
 * fexit trampoline while its hook is attached, successes included (kernel/bpf/trampoline.c
 * `__bpf_tramp_enter`, `__bpf_prog_enter_recur`; docs/watch.md "What it costs"). A map update is
 * refused for memory only where a limit on the path of the memory cgroup charged for it has no
 * room left (mm/page_counter.c `page_counter_try_charge`), so a type's hooks need to be attached
 * only while some map of that type is charged to a cgroup near a limit:
 *
 * - a cgroup is **hot** when the least headroom on its path (the inventory's `headroom`: its own
 *   and every ancestor's `max - usage`) is below `armBelow`, or when its v1 `memory.failcnt` or
 *   v2 `memory.events.local` `max` moved since the last frame (a charge failed there);
 * - a hot cgroup stays armed until its headroom is back at `armBelow × DISARM_FACTOR` or more
 *   and it was last hot `holdMs` ago or longer (hysteresis: a cgroup hovering at the threshold does
 *   not attach and detach every frame);
 * - the armed types are the types of the maps charged to armed cgroups; a hook is armed when one
 *   of its types is (`bpf_map_update_value`, which serves every type, when any is).
 *
 * Before 5.11 (the memlock regime) an update charges no limit at all (the map's memory was
 * charged to RLIMIT_MEMLOCK when it was created: kernel/bpf/syscall.c `bpf_map_charge_init`),
 * so there is no room to arm on: the hooks stay attached (what they see there is E2BIG at
 * max_entries and allocation failures). `always` keeps every hook attached anywhere.
 *
 * Pure: the session gives it what the frame read.
 */

/** Hooks attach when the least headroom on a paying cgroup's path falls below this (64 MiB). */
export const DEFAULT_ARM_BELOW = 64 * 1024 * 1024;
/** They detach when it is back at this many times `armBelow` … */
export const DISARM_FACTOR = 2;
/** … and the cgroup was last hot this long ago (ms). */
export const DEFAULT_HOLD_MS = 60_000;

export interface ArmingOptions {
  /** `headroom` (default) or `always` (every hook attached all the time). */
  readonly mode: 'headroom' | 'always';
  readonly armBelow: number;
  readonly holdMs: number;
}

/** What one frame read, per map and per paying cgroup. */
export interface ArmingInput {
  readonly at: number;
  readonly regime: Regime;
  /** Each map's type and the memory cgroup charged for it (undefined: none known). */
  readonly maps: readonly { readonly type: MapType; readonly cgroup: string | undefined }[];
  /** The cgroups maps are charged to. */
  readonly cgroups: readonly {
    readonly path: string;
    /** Least headroom on its path; Infinity where no limit. */
    readonly headroom: number;
    /** How much `memory.failcnt` (v1) or `memory.events.local` max (v2) rose since the last frame. */
    readonly failed: number;
  }[];
}

/** Why a cgroup is armed. */
export interface ArmedCgroup {
  readonly path: string;
  readonly headroom: number;
  /** `headroom`: below armBelow; `failed`: its failure counter moved; `hold`: was hot, not yet back above the disarm level. */
  readonly why: 'headroom' | 'failed' | 'hold';
  readonly types: readonly MapType[];
}

export interface ArmingDecision {
  readonly mode: 'headroom' | 'always' | 'memlock';
  readonly armBelow: number;
  readonly cgroups: readonly ArmedCgroup[];
  /** Map types whose hooks are armed; `all` in the always and memlock modes. */
  readonly types: ReadonlySet<MapType> | 'all';
}

/** Whether a hook is armed under a decision. */
export function hookArmed(spec: Pick<HookSpec, 'types' | 'table'>, d: ArmingDecision): boolean {
  if (d.types === 'all') return true;
  if (spec.table === 'sys') return d.types.size > 0;
  const armed = d.types;
  return spec.types.some((t) => armed.has(t));
}

/** The arming state across frames. */
export class Arming {
  /** Armed cgroups: when each was last hot. */
  readonly #hot = new Map<string, number>();

  constructor(readonly options: ArmingOptions) {}

  decide(input: ArmingInput): ArmingDecision {
    const { mode, armBelow, holdMs } = this.options;
    if (mode === 'always') return { mode: 'always', armBelow, cgroups: [], types: 'all' };
    if (input.regime === 'memlock') return { mode: 'memlock', armBelow, cgroups: [], types: 'all' };
    const typesOf = new Map<string, Set<MapType>>();
    for (const m of input.maps) {
      if (m.cgroup === undefined) continue;
      const s = typesOf.get(m.cgroup) ?? new Set<MapType>();
      s.add(m.type);
      typesOf.set(m.cgroup, s);
    }
    const cgroups: ArmedCgroup[] = [];
    const seen = new Set<string>();
    for (const c of input.cgroups) {
      seen.add(c.path);
      const types = [...(typesOf.get(c.path) ?? [])].sort();
      let why: ArmedCgroup['why'] | undefined;
      if (c.failed > 0) why = 'failed';
      else if (c.headroom < armBelow) why = 'headroom';
      if (why !== undefined) this.#hot.set(c.path, input.at);
      else {
        const last = this.#hot.get(c.path);
        if (last === undefined) continue;
        if (c.headroom >= armBelow * DISARM_FACTOR && input.at - last >= holdMs) {
          this.#hot.delete(c.path);
          continue;
        }
        why = 'hold';
      }
      if (types.length > 0) cgroups.push({ path: c.path, headroom: c.headroom, why, types });
    }
    // A cgroup that no longer pays for any map has nothing to arm.
    for (const path of [...this.#hot.keys()]) if (!seen.has(path)) this.#hot.delete(path);
    cgroups.sort((a, b) => a.headroom - b.headroom || (a.path < b.path ? -1 : 1));
    return { mode: 'headroom', armBelow, cgroups, types: new Set(cgroups.flatMap((c) => c.types)) };
  }
}

/** One line for a person: what is armed and why (cgroup paths escaped: anyone who may create a cgroup names it). */
export function describeArming(d: ArmingDecision, hooks: { armed: number; ready: number }, bytes: (n: number) => string): string {
  if (d.mode === 'always') return `hooks always attached (--always): ${hooks.armed} of ${hooks.ready}`;
  if (d.mode === 'memlock') return `hooks always attached: memlock regime (before 5.11 an update charges no limit, so there is no room to arm on): ${hooks.armed} of ${hooks.ready}`;
  if (d.cgroups.length === 0) return `hooks detached: no memory cgroup paying for BPF maps has less than ${bytes(d.armBelow)} of room on its path (--arm-below)`;
  const parts = d.cgroups.slice(0, 3).map((c) => `${escapeText(c.path)} (${c.why === 'failed' ? 'its failure counter moved' : `${Number.isFinite(c.headroom) ? bytes(Math.max(0, c.headroom)) : 'no limit'} left${c.why === 'hold' ? ', held' : ''}`}: ${c.types.join(', ')})`);
  const more = d.cgroups.length > 3 ? ` and ${d.cgroups.length - 3} more` : '';
  return `hooks armed ${hooks.armed} of ${hooks.ready}, for ${parts.join('; ')}${more}`;
}
