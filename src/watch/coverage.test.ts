import { describe, expect, it } from 'vitest';
import { HOOKS, type HookStatus } from '../sys/trace/index.js';
import { blindSpots, coverage } from './coverage.js';

/** Every hook in the catalog, attached unless named in `off`. */
function hooks(off: readonly string[] = []): HookStatus[] {
  return HOOKS.map((h) => ({ fn: h.fn, types: h.types, paths: h.paths, table: h.table, state: off.includes(h.fn) ? 'off' : 'attached' }));
}

describe('coverage of the hooks', () => {
  it('every hook attached: nothing blind', () => {
    expect(blindSpots(hooks())).toEqual([]);
  });

  it('before 6.12 (no bpf_map_update_value): bpf(2) on a plain array is array_map_update_elem, on a per-CPU array bpf_percpu_array_update', () => {
    const c = coverage(hooks(['bpf_map_update_value']));
    const by = (type: string, path: string): string | undefined => c.find((x) => x.type === type && x.path === path)?.by;
    expect(by('array', 'sys')).toBe('array_map_update_elem');
    expect(by('array', 'prog')).toBe('array_map_update_elem');
    expect(by('percpu_array', 'sys')).toBe('bpf_percpu_array_update');
    expect(blindSpots(hooks(['bpf_map_update_value']))).toEqual([]);
    // Without bpf_percpu_array_update, the array hook does not stand in for per-CPU arrays' bpf(2) updates.
    expect(blindSpots(hooks(['bpf_map_update_value', 'bpf_percpu_array_update']))).toEqual(['percpu_array updates from bpf(2): bpf_percpu_array_update: off']);
  });

  it('a type whose own hook is off: bpf(2) falls back to bpf_map_update_value, programs are blind', () => {
    expect(blindSpots(hooks(['htab_map_update_elem']))).toEqual(['hash updates from BPF programs: htab_map_update_elem: off']);
    expect(coverage(hooks(['htab_map_update_elem'])).find((x) => x.type === 'hash' && x.path === 'sys')?.by).toBe('bpf_map_update_value');
  });
});
