import { describe, expect, it } from 'vitest';
import { encodeBtf, parseBtf, type Btf, type BtfTypeSpec } from '../btf/index.js';
import { profileWithBtf, structSizesFromBtf } from './btf-sizes.js';
import { profileOf } from '../model/profile.js';
import { STRUCT_SIZES_6_18 } from '../model/structs.js';

/**
 * Struct sizes read from a BTF (a hand-made one here; the running kernel's is compared with
 * bpftool in src/sys/bpf/vmlinux.test.ts and used live by readKernelProfile()).
 */

function btfOf(types: readonly BtfTypeSpec[]): Btf {
  const r = parseBtf(encodeBtf(types));
  if (!r.ok) throw new Error(r.error);
  return r.value;
}

const m = (name: string, type: number, byteOffset: number): { name: string; type: number; bitOffset: number; bitfieldSize: number } => ({ name, type, bitOffset: byteOffset * 8, bitfieldSize: 0 });
const struct = (name: string, size: number, members: ReturnType<typeof m>[] = []): BtfTypeSpec => ({ kind: 'struct', name, size, kindFlag: false, members });

// A 6.12-like kernel: ids 1 int, 2 ptr to int, 3 int *[8], then structs.
const TYPES: BtfTypeSpec[] = [
  { kind: 'int', name: 'int', size: 4, signed: true, char: false, bool: false, bitOffset: 0, bits: 32 },
  { kind: 'ptr', name: '', type: 1 },
  { kind: 'array', name: '', type: 2, indexType: 1, nelems: 8 },
  struct('bpf_map', 248),
  struct('bpf_htab', 896, [m('map', 4, 0), m('map_locked', 3, 600)]),
  // Two `struct bucket`s: only hashtab.c's has `head` and `raw_lock`.
  struct('bucket', 40, [m('other', 1, 0)]),
  struct('bucket', 16, [m('head', 1, 0), m('raw_lock', 1, 8)]),
  struct('bpf_ringbuf', 12288, [m('consumer_pos', 1, 4096)]),
  struct('bpf_prog', 72, [m('insns', 1, 72)]),
  struct('file', 232),
  struct('llist_node', 8),
];

describe('structSizesFromBtf', () => {
  it('reads sizes, offsets, the lock array and the filp cache alignment', () => {
    const { sizes, missing } = structSizesFromBtf(btfOf(TYPES), 4096);
    expect(sizes).toEqual({
      bpf_map: 248,
      bpf_htab: 896,
      htab_bucket: 16,
      bpf_ringbuf_meta_pages: 1,
      bpf_prog_insns_offset: 72,
      bpf_prog: 72,
      // sizeof(struct file) 232, SLAB_HWCACHE_ALIGN: 256.
      filp: 256,
      pointer: 8,
      llist_node: 8,
      htab_map_lock_count: 8,
    });
    // Everything else this BTF lacks stays the version's (e.g. bpf_arena before 6.9).
    expect(missing).toContain('bpf_arena');
    expect(missing).not.toContain('bpf_map');
  });

  it('gives a profile those sizes and keeps the rest of it', () => {
    const profile = profileOf({ version: '6.18', cpus: 4 });
    const p = profileWithBtf(profile, btfOf(TYPES));
    expect(p.structs).toEqual({ ...profile.structs, bpf_map: 248, bpf_htab: 896, bpf_prog: 72, bpf_prog_insns_offset: 72, filp: 256 });
    expect(p.structs.bpf_array).toBe(STRUCT_SIZES_6_18.bpf_array);
    expect({ ...p, structs: profile.structs }).toEqual(profile);
  });
});
