import { describe, expect, it } from 'vitest';
import type { Errno } from '../../vocab/errno.js';
import { MAP_FLAGS } from '../../vocab/flags.js';
import { MAP_TYPE_NAMES } from '../../vocab/maptypes.js';
import { profileOf } from '../profile.js';
import { checkMapCreate, mapTypeExists, mapTypeModel } from './index.js';
import { mapSpec, type MapSpec } from '../../vocab/map-spec.js';

const F = MAP_FLAGS;
const k = (version: string) => profileOf({ version, cpus: 2 });

const hash = (fields: Partial<MapSpec> = {}) => mapSpec({ type: 'hash', keySize: 4, valueSize: 4, maxEntries: 1000, ...fields });
const array = (fields: Partial<MapSpec> = {}) => mapSpec({ type: 'array', keySize: 4, valueSize: 4, maxEntries: 1000, ...fields });

describe('mapTypeModel', () => {
  it('has a model for every map type', () => {
    for (const t of MAP_TYPE_NAMES) expect(mapTypeModel(t)).toBeDefined();
  });
});

describe('checkMapCreate refuses what the kernel refuses', () => {
  it.each<[string, MapSpec, string, Errno, RegExp]>([
    // generic map_create() checks
    ['type too new: arena on 6.1', mapSpec({ type: 'arena', maxEntries: 1, flags: F.mmapable }), '6.1', 'EINVAL', /needs Linux 6\.9/],
    ['type too new: bloom_filter on 5.15', mapSpec({ type: 'bloom_filter', valueSize: 4, maxEntries: 1 }), '5.15', 'EINVAL', /needs Linux 5\.16/],
    ['type too new: task_storage on 5.10', mapSpec({ type: 'task_storage', keySize: 4, valueSize: 8, flags: F.no_prealloc }), '5.10', 'EINVAL', /5\.11/],
    ['map_extra on hash', hash({ mapExtra: 3 }), '6.18', 'EINVAL', /map_extra/],
    ['map_extra on arena before 6.9', mapSpec({ type: 'arena', maxEntries: 1, flags: F.mmapable, mapExtra: 4096 }), '6.1', 'EINVAL', /map_extra.*needs Linux 6\.9/],
    ['rdonly with wronly', hash({ flags: F.rdonly | F.wronly }), '6.18', 'EINVAL', /rdonly and wronly/],
    ['token_fd before 6.9', hash({ flags: F.token_fd }), '6.1', 'EINVAL', /token_fd/],
    // hash family
    ['lru_hash no_prealloc', mapSpec({ type: 'lru_hash', keySize: 4, valueSize: 4, maxEntries: 10, flags: F.no_prealloc }), '6.18', 'ENOTSUPP', /always preallocated/],
    ['no_common_lru on hash', hash({ flags: F.no_common_lru }), '6.18', 'EINVAL', /LRU maps only/],
    ['numa_node on percpu_hash', mapSpec({ type: 'percpu_hash', keySize: 4, valueSize: 4, maxEntries: 10, flags: F.numa_node }), '6.18', 'EINVAL', /numa_node/],
    ['hash key_size 0', hash({ keySize: 0 }), '6.18', 'EINVAL', /non-zero/],
    ['hash flag mmapable', hash({ flags: F.mmapable }), '6.18', 'EINVAL', /mmapable/],
    ['hash rdonly_prog with wronly_prog', hash({ flags: F.rdonly_prog | F.wronly_prog }), '6.18', 'EINVAL', /rdonly_prog and wronly_prog/],
    ['percpu_hash value over 32 KiB', mapSpec({ type: 'percpu_hash', keySize: 4, valueSize: 32 * 1024 + 1, maxEntries: 10 }), '6.18', 'E2BIG', /per-CPU limit/],
    ['percpu_hash value over 32 KiB, 6.6.30 (before the backport)', mapSpec({ type: 'percpu_hash', keySize: 4, valueSize: 32 * 1024 + 1, maxEntries: 10 }), '6.6.30', 'ENOMEM', /per-CPU allocator/],
    ['percpu_hash value over 32 KiB, 6.6.60 (backported)', mapSpec({ type: 'percpu_hash', keySize: 4, valueSize: 32 * 1024 + 1, maxEntries: 10 }), '6.6.60', 'E2BIG', /per-CPU limit/],
    ['hash key + value near KMALLOC_MAX_SIZE', hash({ keySize: 8, valueSize: 4 * 1024 * 1024 }), '6.18', 'E2BIG', /key_size \+ value_size/],
    ['hash key_size 600 on 5.10 (MAX_BPF_STACK)', hash({ keySize: 600 }), '5.10', 'E2BIG', /BPF stack/],
    ['hash max_entries over 2^31', hash({ maxEntries: 2 ** 31 + 1 }), '6.18', 'E2BIG', /2\^31/],
    ['hash max_entries 2^29: buckets overflow 32 bits', hash({ maxEntries: 2 ** 29 }), '6.18', 'E2BIG', /overflow 32 bits/],
    ['hash precharge over 4 GiB on 5.10', hash({ keySize: 8, valueSize: 1024, maxEntries: 4_000_000 }), '5.10', 'E2BIG', /precharge/],
    ['hash_of_maps value_size 8', mapSpec({ type: 'hash_of_maps', keySize: 4, valueSize: 8, maxEntries: 10 }), '6.18', 'EINVAL', /inner map fd/],
    // array family
    ['array key_size 8', array({ keySize: 8 }), '6.18', 'EINVAL', /key_size must be 4/],
    ['array max_entries 0', array({ maxEntries: 0 }), '6.18', 'EINVAL', /max_entries/],
    ['mmapable on percpu_array', mapSpec({ type: 'percpu_array', keySize: 4, valueSize: 4, maxEntries: 1, flags: F.mmapable }), '6.18', 'EINVAL', /plain arrays/],
    ['mmapable on 5.4 (flag unknown)', array({ flags: F.mmapable }), '5.4', 'EINVAL', /mmapable/],
    ['preserve_elems on array', array({ flags: F.preserve_elems }), '6.18', 'EINVAL', /perf_event_array/],
    ['percpu_array value over 32 KiB', mapSpec({ type: 'percpu_array', keySize: 4, valueSize: 40_000, maxEntries: 1 }), '6.18', 'E2BIG', /per-CPU/],
    ['prog_array value_size 8', mapSpec({ type: 'prog_array', keySize: 4, valueSize: 8, maxEntries: 1 }), '6.18', 'EINVAL', /file descriptor/],
    ['array larger than any vmalloc area', array({ valueSize: 2 ** 20, maxEntries: 2 ** 26 }), '6.18', 'ENOMEM', /vmalloc/],
    // others
    ['lpm_trie without no_prealloc', mapSpec({ type: 'lpm_trie', keySize: 8, valueSize: 4, maxEntries: 10 }), '6.18', 'EINVAL', /no_prealloc is required/],
    ['lpm_trie key_size 4 (no data)', mapSpec({ type: 'lpm_trie', keySize: 4, valueSize: 4, maxEntries: 10, flags: F.no_prealloc }), '6.18', 'EINVAL', /key_size/],
    ['queue with a key', mapSpec({ type: 'queue', keySize: 4, valueSize: 4, maxEntries: 10 }), '6.18', 'EINVAL', /key_size must be 0/],
    ['ringbuf of 3 pages', mapSpec({ type: 'ringbuf', maxEntries: 3 * 4096 }), '6.18', 'EINVAL', /power-of-2 multiple/],
    ['ringbuf of half a page', mapSpec({ type: 'ringbuf', maxEntries: 2048 }), '6.18', 'EINVAL', /power-of-2 multiple/],
    ['ringbuf with a value_size', mapSpec({ type: 'ringbuf', valueSize: 8, maxEntries: 4096 }), '6.18', 'EINVAL', /must be 0/],
    ['bloom_filter map_extra 16', mapSpec({ type: 'bloom_filter', valueSize: 4, maxEntries: 10, mapExtra: 16 }), '6.18', 'EINVAL', /low 4 bits/],
    ['bloom_filter with a key', mapSpec({ type: 'bloom_filter', keySize: 4, valueSize: 4, maxEntries: 10 }), '6.18', 'EINVAL', /keyless/],
    ['devmap value_size 12', mapSpec({ type: 'devmap', keySize: 4, valueSize: 12, maxEntries: 1 }), '6.18', 'EINVAL', /bpf_devmap_val/],
    ['devmap value_size 8 on 5.4', mapSpec({ type: 'devmap', keySize: 4, valueSize: 8, maxEntries: 1 }), '5.4', 'EINVAL', /must be 4/],
    ['cpumap max_entries over NR_CPUS', mapSpec({ type: 'cpumap', keySize: 4, valueSize: 4, maxEntries: 9000 }), '6.18', 'E2BIG', /NR_CPUS/],
    ['sockhash key_size 600', mapSpec({ type: 'sockhash', keySize: 600, valueSize: 4, maxEntries: 1 }), '6.18', 'E2BIG', /BPF stack/],
    ['stack_trace value_size 12', mapSpec({ type: 'stack_trace', keySize: 4, valueSize: 12, maxEntries: 1 }), '6.18', 'EINVAL', /multiple of 8/],
    ['stack_trace deeper than perf_event_max_stack', mapSpec({ type: 'stack_trace', keySize: 4, valueSize: 8 * 128, maxEntries: 1 }), '6.18', 'EINVAL', /perf_event_max_stack/],
    ['cgroup_storage max_entries 1', mapSpec({ type: 'cgroup_storage', keySize: 16, valueSize: 64, maxEntries: 1 }), '6.18', 'EINVAL', /max_entries must be 0/],
    ['percpu_cgroup_storage value over 32 KiB', mapSpec({ type: 'percpu_cgroup_storage', keySize: 16, valueSize: 40_000 }), '6.18', 'E2BIG', /over 32768/],
    ['sk_storage without no_prealloc', mapSpec({ type: 'sk_storage', keySize: 4, valueSize: 64 }), '6.18', 'EINVAL', /no_prealloc is required/],
    ['task_storage value over the selem limit', mapSpec({ type: 'task_storage', keySize: 4, valueSize: 65_408, flags: F.no_prealloc }), '6.18', 'E2BIG', /over 65407/],
    ['struct_ops without its BTF value type', mapSpec({ type: 'struct_ops', keySize: 4, valueSize: 256, maxEntries: 1 }), '6.18', 'EINVAL', /struct_ops_funcs/],
    ['struct_ops max_entries 2', mapSpec({ type: 'struct_ops', keySize: 4, valueSize: 256, maxEntries: 2, structOpsFuncs: 13 }), '6.18', 'EINVAL', /max_entries must be 1/],
    ['arena without mmapable', mapSpec({ type: 'arena', maxEntries: 16 }), '6.18', 'EINVAL', /mmapable is required/],
    ['arena over 4 GiB', mapSpec({ type: 'arena', maxEntries: 2 ** 20 + 1, flags: F.mmapable }), '6.18', 'E2BIG', /4 GiB/],
    ['arena map_extra not page-aligned', mapSpec({ type: 'arena', maxEntries: 16, flags: F.mmapable, mapExtra: 100 }), '6.18', 'EINVAL', /page-aligned/],
  ])('%s → %s', (_what, spec, version, errno, reason) => {
    const f = checkMapCreate(spec, k(version));
    expect(f?.errno).toBe(errno);
    expect(f?.reason).toMatch(reason);
    // Every face prints the errno before the reason: the reason does not say it again.
    expect(f?.reason).not.toMatch(/\(E[A-Z0-9]+\)/);
  });
});

describe('checkMapCreate accepts what the kernel accepts', () => {
  it.each<[string, MapSpec, string]>([
    ['token_fd on 6.9+ (taken off before the type checks)', hash({ flags: F.token_fd }), '6.18'],
    ['hash key_size 600 on 5.11+ (key limit lifted)', hash({ keySize: 600 }), '6.1'],
    ['percpu_hash value of exactly 32 KiB', mapSpec({ type: 'percpu_hash', keySize: 4, valueSize: 32 * 1024, maxEntries: 10 }), '6.18'],
    ['lru_hash no_common_lru', mapSpec({ type: 'lru_hash', keySize: 4, valueSize: 4, maxEntries: 7, flags: F.no_common_lru }), '6.18'],
    ['devmap value_size 8 (with a program) on 5.8+', mapSpec({ type: 'devmap', keySize: 4, valueSize: 8, maxEntries: 1 }), '6.1'],
    ['arena with a user address', mapSpec({ type: 'arena', maxEntries: 16, flags: F.mmapable, mapExtra: 2 ** 32 }), '6.18'],
    ['bloom_filter with 3 hash functions', mapSpec({ type: 'bloom_filter', valueSize: 4, maxEntries: 10, mapExtra: 3 }), '6.18'],
    ['cgroup_storage keyed by cgroup id', mapSpec({ type: 'cgroup_storage', keySize: 8, valueSize: 64 }), '6.18'],
    ['hash on 4.19 (memlock era, small)', hash(), '4.19'],
  ])('%s', (_what, spec, version) => {
    expect(checkMapCreate(spec, k(version))).toBeUndefined();
  });
});

describe('mapTypeExists', () => {
  it.each([
    ['ringbuf', '5.7', false],
    ['ringbuf', '5.8', true],
    ['user_ringbuf', '6.0', false],
    ['cgrp_storage', '6.2', true],
  ] as const)('%s on %s: %s', (type, version, exists) => {
    expect(mapTypeExists(type, k(version))).toBe(exists);
  });
});
