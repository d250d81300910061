import { describe, expect, it } from 'vitest';
import { measuredElementRows, measuredMapRows, readKernel618Fixture } from '../../../test/fixtures/kernel-6.18/index.js';
import { MAP_FLAGS } from '../../vocab/flags.js';
import { profileOf } from '../profile.js';
import { checkMapCreate } from './index.js';
import { bpfMapValueSize, fdinfoMemlock, memoryFootprint, normalizedSpec } from './memlock.js';
import { mapSpec } from '../../vocab/map-spec.js';

/** The test kernel: 6.18, 2 possible CPUs, 4 KiB pages, its BTF struct sizes (the defaults). */
const K618 = profileOf({ version: '6.18.44-fc-v782', cpus: 2 });

describe('fdinfo memlock on 6.18 (test/fixtures/kernel-6.18/map_memlock_6.18.txt)', () => {
  const text = readKernel618Fixture('map_memlock_6.18.txt');
  const rows = measuredMapRows();

  it('reads all 137 measured rows, as the file says', () => {
    expect(text).toMatch(/^# 137 measurements, 0 mismatches$/m);
    expect(rows).toHaveLength(137);
  });

  it.each(rows.map((r) => [r.label, r] as const))('%s', (_label, { spec, elements, memlock }) => {
    expect(checkMapCreate(spec, K618)).toBeUndefined();
    expect(fdinfoMemlock(spec, elements, K618)).toBe(memlock);
  });
});

describe('fdinfo memlock after inserts (map_memlock_elements_6.18.txt)', () => {
  const rows = measuredElementRows();

  it('reads the 4 rows', () => {
    expect(rows).toHaveLength(4);
  });

  it.each(rows.map((r) => [r.line.split(':')[0] ?? '', r] as const))('%s', (_name, r) => {
    expect(checkMapCreate(r.spec, K618)).toBeUndefined();
    expect(fdinfoMemlock(r.spec, 0, K618)).toBe(r.empty);
    expect(fdinfoMemlock(r.spec, r.inserted, K618)).toBe(r.after);
  });
});

describe('fdinfo memlock on other kernels (kernel-lab.md, 2 possible CPUs)', () => {
  const spec = mapSpec({ type: 'hash', keySize: 4, valueSize: 8, maxEntries: 100_000 });
  it.each([
    ['6.1.0-56-cloud-amd64', 1_601_536], // 5.11–6.3 footprint
    ['6.12.117+deb12-cloud-amd64', 8_498_256], // map_mem_usage with the pre-6.15 bpf_htab (+64 B)
    ['6.18.44-fc-v782', 8_498_192],
  ] as const)('hash k4 v8 max 100000 on %s → %d', (version, memlock) => {
    expect(fdinfoMemlock(spec, 0, profileOf({ version, cpus: 2 }))).toBe(memlock);
  });
});

describe('fdinfo memlock by era', () => {
  const k61 = profileOf({ version: '6.1', cpus: 2 });
  const k510 = profileOf({ version: '5.10', cpus: 2 });

  it.each([
    // footprint: round_up(max_entries * round_up(key + bpf_map_value_size, 8), PAGE)
    ['percpu_hash k4 v8 max 1000: value counted per CPU', mapSpec({ type: 'percpu_hash', keySize: 4, valueSize: 8, maxEntries: 1000 }), 24_576],
    ['prog_array max 1000: an fd map value is a u32', mapSpec({ type: 'prog_array', keySize: 4, valueSize: 4, maxEntries: 1000 }), 8192],
    ['lru_hash no_common_lru max 7 → 8 entries', mapSpec({ type: 'lru_hash', keySize: 4, valueSize: 8, maxEntries: 7, flags: MAP_FLAGS.no_common_lru }), 4096],
    ['ringbuf: no key, no value', mapSpec({ type: 'ringbuf', maxEntries: 65536 }), 0],
    ['no-prealloc hash: capacity, not contents', mapSpec({ type: 'hash', keySize: 4, valueSize: 4, maxEntries: 1000, flags: MAP_FLAGS.no_prealloc }), 8192],
  ] as const)('6.1 footprint: %s', (_what, spec, memlock) => {
    expect(fdinfoMemlock(spec, 100, k61)).toBe(memlock);
  });

  it.each([
    // precharge: round_up(bpf_map_charge_init cost, PAGE); hash cost = buckets + elems + NP spare elems
    ['hash k4 v4 max 1', mapSpec({ type: 'hash', keySize: 4, valueSize: 4, maxEntries: 1 }), 4096],
    ['hash k4 v8 max 1000 (16384 + 64000 + 128)', mapSpec({ type: 'hash', keySize: 4, valueSize: 8, maxEntries: 1000 }), 81_920],
    // 5.10's own sizes (Debian's 5.10 build: struct bpf_array 320, lpm_trie_node 40), read from its BTF.
    ['percpu_array v4 max 65536 (320 + 8·M + 8·2·M)', mapSpec({ type: 'percpu_array', keySize: 4, valueSize: 4, maxEntries: 65536 }), 1_576_960],
    ['array mmapable v4 max 1 (page + page)', mapSpec({ type: 'array', keySize: 4, valueSize: 4, maxEntries: 1, flags: MAP_FLAGS.mmapable }), 8192],
    ['queue v13 max 1000 (320 + 1001·13)', mapSpec({ type: 'queue', valueSize: 13, maxEntries: 1000 }), 16_384],
    // per entry since the 2022 stable fix (Debian 5.10): 320 + 1024·8 + 1000·(1016 + 16), measured 255 pages in the lab
    ['stack_trace v1016 max 1000 (per entry: 1000 elements)', mapSpec({ type: 'stack_trace', keySize: 4, valueSize: 1016, maxEntries: 1000 }), 1_044_480],
    // sizeof(struct lpm_trie) + max_entries · (sizeof(struct lpm_trie_node) + value + key − 4): 320
    // + 100000·52, what the 5.10 guest's kernel reports in the lab (6.18's 24-byte node: 3,604,480)
    ['lpm_trie k8 v8 max 100000 no_prealloc', mapSpec({ type: 'lpm_trie', keySize: 8, valueSize: 8, maxEntries: 100000, flags: MAP_FLAGS.no_prealloc }), 5_201_920],
  ] as const)('5.10 precharge: %s', (_what, spec, memlock) => {
    expect(checkMapCreate(spec, k510)).toBeUndefined();
    expect(fdinfoMemlock(spec, 50, k510)).toBe(memlock);
  });

  it('bpf_map_value_size(): per-CPU, fd and plain values', () => {
    expect(bpfMapValueSize(mapSpec({ type: 'percpu_array', valueSize: 13 }), K618)).toBe(32);
    expect(bpfMapValueSize(mapSpec({ type: 'array_of_maps', valueSize: 4 }), K618)).toBe(4);
    expect(bpfMapValueSize(mapSpec({ type: 'hash', valueSize: 13 }), K618)).toBe(13);
  });

  it('the footprint uses the normalized max_entries', () => {
    const spec = mapSpec({ type: 'lru_percpu_hash', keySize: 4, valueSize: 8, maxEntries: 4095, flags: MAP_FLAGS.no_common_lru });
    expect(normalizedSpec(spec, k61).maxEntries).toBe(4096);
    expect(memoryFootprint(spec, k61)).toBe(4096 * 24);
  });

  it('struct_ops tcp_congestion_ops on 6.18 (vt 256 B, 13 functions) → 5264', () => {
    const spec = mapSpec({ type: 'struct_ops', keySize: 4, valueSize: 256, maxEntries: 1, structOpsFuncs: 13 });
    expect(checkMapCreate(spec, K618)).toBeUndefined();
    expect(fdinfoMemlock(spec, 0, K618)).toBe(5264);
  });
});

describe('hash-family memlock on 7.x (htab_map_mem_usage() without the map_locked term)', () => {
  // Measured in the kernel lab on Debian's 7.2.13 (2 CPUs, BTF bpf_htab 896): every hash-family
  // map 64 bytes below 6.18's formula with the same struct sizes; on this 6.18.44 host (bpf_htab
  // 896 in its BTF) hash k4 v8 max_entries 100000 shows 8,498,256 (docs/accounting-model.md).
  const structs = { bpf_htab: 896 };
  const k618 = profileOf({ version: '6.18.44', cpus: 2, structs });
  const k72 = profileOf({ version: '7.2.13+deb14-cloud-amd64', cpus: 2, structs });
  const spec = mapSpec({ type: 'hash', keySize: 4, valueSize: 8, maxEntries: 100000 });

  it('is 8,498,256 on 6.18 and 64 bytes less on 7.2', () => {
    expect(fdinfoMemlock(spec, 0, k618)).toBe(8_498_256);
    expect(fdinfoMemlock(spec, 0, k72)).toBe(8_498_192);
  });

  it.each(['percpu_hash', 'lru_hash', 'hash_of_maps'] as const)('%s is 64 bytes less on 7.2', (type) => {
    const s = mapSpec({ type, keySize: 4, valueSize: type === 'hash_of_maps' ? 4 : 8, maxEntries: 1000 });
    expect(fdinfoMemlock(s, 0, k618) - fdinfoMemlock(s, 0, k72)).toBe(64);
  });
});
