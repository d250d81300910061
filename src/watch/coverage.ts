import { HOOKS, hookSees, PROG_UPDATABLE, type HookStatus, type UpdatePath } from '../sys/trace/index.js';
import type { MapType } from '../vocab/maptypes.js';

/**
 * What the attached hooks see, per map type and path, and what they cannot see, with why. Pure.
 */

/** One map type on one path. */
export interface Coverage {
  readonly type: MapType;
  readonly path: UpdatePath;
  /** The hook that sees it, or undefined. */
  readonly by: string | undefined;
  /** Why it is not seen. */
  readonly reason?: string;
}

/** Every map type the catalog names, on each path its updates may take. */
export function coverage(hooks: readonly HookStatus[]): Coverage[] {
  const byFn = new Map(hooks.map((h) => [h.fn, h]));
  const syscallHook = byFn.get('bpf_map_update_value');
  const out: Coverage[] = [];
  const types = [...new Set(HOOKS.flatMap((h) => h.types))];
  for (const type of types) {
    for (const path of ['prog', 'sys'] as const) {
      if (path === 'prog' && !PROG_UPDATABLE.has(type)) continue;
      const candidates = HOOKS.filter((h) => hookSees(h, type, path));
      const seen = candidates.find((h) => byFn.get(h.fn)?.state === 'attached');
      if (seen) {
        out.push({ type, path, by: seen.fn });
        continue;
      }
      if (path === 'sys' && syscallHook?.state === 'attached') {
        out.push({ type, path, by: 'bpf_map_update_value' });
        continue;
      }
      const why = candidates.map((h) => `${h.fn}: ${byFn.get(h.fn)?.reason ?? byFn.get(h.fn)?.state ?? 'not hooked'}`).join('; ');
      out.push({ type, path, by: undefined, reason: why || 'no hook for it' });
    }
  }
  return out;
}

/** The lines a person reads: what cannot be seen (attached hooks otherwise see everything). */
export function blindSpots(hooks: readonly HookStatus[]): string[] {
  const blind = coverage(hooks).filter((c) => c.by === undefined);
  return blind.map((c) => `${c.type} updates from ${c.path === 'prog' ? 'BPF programs' : 'bpf(2)'}: ${c.reason ?? ''}`);
}
