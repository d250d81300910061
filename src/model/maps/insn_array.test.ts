import { describe, expect, it } from 'vitest';
import type { Errno } from '../../vocab/errno.js';
import { MAP_FLAGS } from '../../vocab/flags.js';
import { mapSpec, type MapSpec } from '../../vocab/map-spec.js';
import { profileOf } from '../profile.js';
import { checkMapCreate, mapTypeExists } from './index.js';
import { insnArrayModel } from './insn_array.js';

/** BPF_MAP_TYPE_INSN_ARRAY against kernel/bpf/bpf_insn_array.c of Debian's 7.2.13. */

const K72 = profileOf({ version: '7.2.13', cpus: 2 });
const insns = (fields: Partial<MapSpec> = {}): MapSpec => mapSpec({ type: 'insn_array', keySize: 4, valueSize: 16, maxEntries: 100, ...fields });

describe('insn_array', () => {
  it('exists from 6.19', () => {
    expect(mapTypeExists('insn_array', profileOf({ version: '6.18', cpus: 2 }))).toBe(false);
    expect(mapTypeExists('insn_array', profileOf({ version: '6.19', cpus: 2 }))).toBe(true);
  });

  it('memlock is insn_array_alloc_size(): the struct, then a value and an ips long per entry, whatever the contents', () => {
    expect(insnArrayModel.memUsage(insns({ maxEntries: 1 }), 0, K72)).toBe(304 + 24);
    expect(insnArrayModel.memUsage(insns({ maxEntries: 100_000 }), 100_000, K72)).toBe(304 + 24 * 100_000);
  });

  it('is one bpf_map_area_alloc() of that size, paid by the creator; updates allocate nothing; no delete', () => {
    expect(insnArrayModel.createAllocs(insns(), K72)).toEqual([{ what: 'bpf_insn_array + values + ips', shape: 'area', payer: 'current', size: 304 + 2400 }]);
    expect(insnArrayModel.elements(insns(), K72)).toEqual({ capacity: 100, whenFull: { errno: 'E2BIG' }, allocs: [], memAllocs: [], deletable: false });
  });

  it.each<[string, MapSpec, string, Errno, RegExp]>([
    ['on 6.18', insns(), '6.18', 'EINVAL', /needs Linux 6\.19/],
    ['max_entries 0', insns({ maxEntries: 0 }), '7.2', 'EINVAL', /max_entries/],
    ['key_size 8', insns({ keySize: 8 }), '7.2', 'EINVAL', /key_size must be 4/],
    ['value_size 8', insns({ valueSize: 8 }), '7.2', 'EINVAL', /value_size must be 16/],
    ['any flag, rdonly_prog included', insns({ flags: MAP_FLAGS.rdonly_prog }), '7.2', 'EINVAL', /accepts no flags/],
    ['map_extra', insns({ mapExtra: 1 }), '7.2', 'EINVAL', /map_extra/],
  ])('refuses %s → %s', (_what, spec, version, errno, reason) => {
    const f = checkMapCreate(spec, profileOf({ version, cpus: 2 }));
    expect(f?.errno).toBe(errno);
    expect(f?.reason).toMatch(reason);
  });

  it('accepts a jump table as libbpf makes it, and token_fd (cleared by map_create())', () => {
    expect(checkMapCreate(insns({ maxEntries: 3 }), K72)).toBeUndefined();
    expect(checkMapCreate(insns({ flags: MAP_FLAGS.token_fd }), K72)).toBeUndefined();
  });
});
