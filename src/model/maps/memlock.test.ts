import { describe, expect, it } from 'vitest';
import { readKernel618Fixture } from '../../../test/fixtures/kernel-6.18/index.js';
import { MAP_FLAGS } from '../flags.js';
import { isMapType, type MapType } from '../maptypes.js';
import { profileOf } from '../profile.js';
import { checkMapCreate } from './index.js';
import { bpfMapValueSize, fdinfoMemlock, memoryFootprint, normalizedSpec } from './memlock.js';
import { mapSpec, type MapSpec } from './spec.js';

/** The test kernel: 6.18, 2 possible CPUs, 4 KiB pages, its BTF struct sizes (the defaults). */
const K618 = profileOf({ version: '6.18.44-fc-v782', cpus: 2 });

/** A measured row: the probe's description of the map and what fdinfo showed. */
interface Row {
  readonly label: string;
  readonly memlock: number;
}

/** The rows of `map_memlock_6.18.txt`'s table (`| map | fdinfo memlock | formula | check |`). */
function parseTable(text: string): Row[] {
  const rows: Row[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('|') || line.startsWith('| map ')) continue;
    const cells = line.split('|').map((c) => c.trim());
    const label = cells[1];
    const memlock = Number(cells[2]);
    if (!label || !Number.isSafeInteger(memlock)) throw new Error(`unparsable table line: ${line}`);
    rows.push({ label, memlock });
  }
  return rows;
}

/**
 * What the probe passed to BPF_MAP_CREATE where its label leaves a field out: arrays and maps of
 * objects are keyed by a u32, fd maps hold a u32, LPM tries and local storages need
 * `no_prealloc`, storages have no max_entries, an arena is mmapable. LPM labels give no
 * max_entries; `trie_mem_usage()` does not use it, so any accepted value will do.
 */
function defaults(type: MapType): Partial<MapSpec> {
  const nop = MAP_FLAGS.no_prealloc;
  switch (type) {
    case 'array':
    case 'percpu_array':
    case 'stack_trace':
      return { keySize: 4 };
    case 'prog_array':
    case 'perf_event_array':
    case 'cgroup_array':
    case 'array_of_maps':
    case 'devmap':
    case 'devmap_hash':
    case 'cpumap':
    case 'xskmap':
    case 'sockmap':
    case 'reuseport_sockarray':
      return { keySize: 4, valueSize: 4 };
    case 'hash_of_maps':
    case 'sockhash':
      return { valueSize: 4 };
    case 'lpm_trie':
      return { flags: nop, maxEntries: 1000 };
    case 'sk_storage':
    case 'inode_storage':
    case 'task_storage':
    case 'cgrp_storage':
      return { keySize: 4, flags: nop };
    case 'arena':
      return { flags: MAP_FLAGS.mmapable };
    case 'hash':
    case 'percpu_hash':
    case 'lru_hash':
    case 'lru_percpu_hash':
    case 'queue':
    case 'stack':
    case 'ringbuf':
    case 'user_ringbuf':
    case 'bloom_filter':
    case 'cgroup_storage':
    case 'percpu_cgroup_storage':
    case 'struct_ops':
      return {}; // the label gives everything
  }
}

const FLAG_WORDS: Readonly<Record<string, number>> = {
  NO_PREALLOC: MAP_FLAGS.no_prealloc,
  NO_COMMON_LRU: MAP_FLAGS.no_common_lru,
  MMAPABLE: MAP_FLAGS.mmapable,
};

/**
 * Turns a probe label into a spec and a live element count, e.g. `hash k=4 v=4 max=1000
 * NO_PREALLOC 10 elems`, `ringbuf size=4096`, `bloom_filter v=4 max=100 nr_hash=3`,
 * `hash ... after deleting 50 (50 left)`, `arena 16 pages`. Throws on any word it does not know,
 * so that no row is skipped silently.
 */
function parseLabel(label: string): { spec: MapSpec; elements: number } {
  const words = label.split(/\s+/);
  const type = words[0] ?? '';
  if (!isMapType(type)) throw new Error(`"${label}": unknown map type ${type}`);
  const fields: { -readonly [K in keyof MapSpec]?: MapSpec[K] } = { ...defaults(type) };
  let elements = 0;
  for (let i = 1; i < words.length; i++) {
    const w = words[i] ?? '';
    const next = words[i + 1];
    const kv = /^(k|key|v|max|size|nr_hash)=(\d+)$/.exec(w);
    if (kv) {
      const n = Number(kv[2]);
      if (kv[1] === 'k' || kv[1] === 'key') fields.keySize = n;
      else if (kv[1] === 'v') fields.valueSize = n;
      else if (kv[1] === 'nr_hash') fields.mapExtra = n;
      else fields.maxEntries = n; // max=, and size= of ring buffers
    } else if (w in FLAG_WORDS) {
      fields.flags = (fields.flags ?? 0) | (FLAG_WORDS[w] ?? 0);
    } else if (w === 'prealloc' || w === '(prealloc)' || w === 'empty') {
      // the default: preallocated; no elements
    } else if (/^\d+$/.test(w) && (next === 'elems' || next === 'entries')) {
      elements = Number(w);
      i++;
    } else if (/^\d+$/.test(w) && next === 'pages' && type === 'arena') {
      fields.maxEntries = Number(w);
      i++;
    } else if (w === 'after' && next === 'deleting') {
      const m = /^after deleting (\d+) \((\d+) left\)$/.exec(words.slice(i).join(' '));
      if (!m) throw new Error(`"${label}": cannot read the deletion`);
      elements = Number(m[2]);
      i = words.length;
    } else {
      throw new Error(`"${label}": cannot parse "${w}"`);
    }
  }
  return { spec: mapSpec({ type, ...fields }), elements };
}

describe('fdinfo memlock on 6.18 (test/fixtures/kernel-6.18/map_memlock_6.18.txt)', () => {
  const text = readKernel618Fixture('map_memlock_6.18.txt');
  const rows = parseTable(text);

  it('reads all 137 measured rows, as the file says', () => {
    expect(text).toMatch(/^# 137 measurements, 0 mismatches$/m);
    expect(rows).toHaveLength(137);
  });

  it('parses every label (no row is skipped)', () => {
    for (const row of rows) expect(() => parseLabel(row.label)).not.toThrow();
  });

  it.each(rows.map((r) => [r.label, r.memlock] as const))('%s → %d', (label, memlock) => {
    const { spec, elements } = parseLabel(label);
    expect(checkMapCreate(spec, K618)).toBeUndefined();
    expect(fdinfoMemlock(spec, elements, K618)).toBe(memlock);
  });
});

describe('fdinfo memlock after inserts (map_memlock_elements_6.18.txt)', () => {
  const lines = readKernel618Fixture('map_memlock_elements_6.18.txt').trim().split('\n');
  const rows = lines.map((line) => {
    const m = /^(\w+)(?: k=(\d+))? max=(\d+): empty=(\d+) after (\d+) (?:lo entries|UDP socks)=(\d+) /.exec(line);
    if (!m) throw new Error(`unparsable element line: ${line}`);
    const type = m[1] ?? '';
    if (!isMapType(type)) throw new Error(`unknown map type in: ${line}`);
    const spec = mapSpec({ type, keySize: Number(m[2] ?? 4), valueSize: 4, maxEntries: Number(m[3]) });
    return { line, spec, empty: Number(m[4]), inserted: Number(m[5]), after: Number(m[6]) };
  });

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
    ['percpu_array v4 max 65536 (312 + 8·M + 8·2·M)', mapSpec({ type: 'percpu_array', keySize: 4, valueSize: 4, maxEntries: 65536 }), 1_576_960],
    ['array mmapable v4 max 1 (page + page)', mapSpec({ type: 'array', keySize: 4, valueSize: 4, maxEntries: 1, flags: MAP_FLAGS.mmapable }), 8192],
    ['queue v13 max 1000 (312 + 1001·13)', mapSpec({ type: 'queue', valueSize: 13, maxEntries: 1000 }), 16_384],
    ['stack_trace v1016 max 1000 (per bucket: 1024 buckets)', mapSpec({ type: 'stack_trace', keySize: 4, valueSize: 1016, maxEntries: 1000 }), 1_069_056],
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
