import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeBtf, parseBtf, type Btf, type BtfType, type BtfTypeSpec } from '../btf/index.js';
import { BpfmemError } from '../errors.js';
import { readBtfFile, readVmlinuxBtf, VMLINUX_BTF_PATH } from './btf.js';

/**
 * The BTF reader on the running kernel's own BTF: struct sizes and member offsets as
 * kernel-facts.md §1.2 and §8 measured them on 6.18, every type as bpftool prints it, and the
 * encoder's round trip over all of it. Skips, saying why, where the kernel has no BTF.
 */

const hasBtf = existsSync(VMLINUX_BTF_PATH);
if (!hasBtf) console.warn(`vmlinux BTF tests skipped: no ${VMLINUX_BTF_PATH} (kernel built without CONFIG_DEBUG_INFO_BTF)`);
const is618 = release().startsWith('6.18.');
if (hasBtf && !is618) console.warn(`6.18 struct sizes not checked: this kernel is ${release()}, kernel-facts.md §1.2 measured 6.18`);

const bpftool = (() => {
  try {
    execFileSync('bpftool', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
if (hasBtf && !bpftool) console.warn('the bpftool cross-check is skipped: no bpftool on PATH');

describe('readBtfFile', () => {
  it('reads and parses a file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bpfmem-btf-'));
    try {
      await writeFile(join(dir, 'ok.btf'), encodeBtf([{ kind: 'fwd', name: 'x', union: false }]));
      expect((await readBtfFile(join(dir, 'ok.btf'))).findByName('x')?.kind).toBe('fwd');
      await writeFile(join(dir, 'bad.btf'), new Uint8Array(40));
      await expect(readBtfFile(join(dir, 'bad.btf'))).rejects.toThrow(new BpfmemError('input', `${join(dir, 'bad.btf')}: not BTF: magic 0x0, expected 0xeb9f`));
      await expect(readBtfFile(join(dir, 'none'))).rejects.toMatchObject({ code: 'input', message: `reading BTF from ${join(dir, 'none')}: ENOENT` });
    } finally {
      await rm(dir, { recursive: true });
    }
  });
});

describe.skipIf(!hasBtf)('the running kernel\'s BTF', () => {
  let btf: Btf;
  beforeAll(async () => {
    const first = performance.now();
    btf = await readVmlinuxBtf();
    const firstMs = performance.now() - first;
    // Steady state: parse, build the name index, one lookup (what a scan's set-up costs).
    const { readFile } = await import('node:fs/promises');
    const bytes = new Uint8Array(await readFile(VMLINUX_BTF_PATH));
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const start = performance.now();
      const r = parseBtf(bytes);
      if (r.ok) r.value.structSize('bpf_map');
      times.push(performance.now() - start);
    }
    console.log(
      `vmlinux BTF: ${bytes.length} bytes, ${btf.count} types; read + parse ${firstMs.toFixed(1)} ms the first time, ` +
        `parse + index + lookup ${Math.min(...times).toFixed(1)}–${Math.max(...times).toFixed(1)} ms after`,
    );
  });

  it.skipIf(!is618).each([
    ['bpf_map', 296],
    ['bpf_htab', 832],
    ['htab_elem', 48],
    ['bucket', 16],
    ['bpf_array', 312],
    ['bpf_array_aux', 88],
    ['lpm_trie', 400],
    ['lpm_trie_node', 24],
    ['bpf_queue_stack', 312],
    ['bpf_ringbuf', 12288],
    ['bpf_ringbuf_map', 304],
    ['bpf_bloom_filter', 312],
    ['bpf_dtab', 344],
    ['bpf_dtab_netdev', 64],
    ['bpf_cpu_map', 304],
    ['bpf_cpu_map_entry', 360],
    ['xsk_map', 304],
    ['xsk_map_node', 32],
    ['bpf_stab', 376],
    ['bpf_shtab', 384],
    ['bpf_shtab_bucket', 16],
    ['bpf_shtab_elem', 48],
    ['reuseport_array', 296],
    ['bpf_cgroup_storage_map', 328],
    ['bpf_cgroup_storage', 104],
    ['bpf_local_storage_map', 448],
    ['bpf_local_storage_map_bucket', 16],
    ['bpf_local_storage_elem', 128],
    ['bpf_local_storage', 176],
    ['bpf_struct_ops_map', 512],
    ['bpf_struct_ops_value', 64],
    ['bpf_arena', 400],
    ['bpf_stack_map', 320],
    ['stack_map_bucket', 16],
    ['bpf_mem_alloc', 64],
    ['bpf_mem_cache', 208],
    ['llist_node', 8],
    ['bpf_prog', 96],
    ['bpf_prog_aux', 1304],
    ['obj_cgroup', 48],
    ['page_counter', 192],
    ['mem_cgroup', 2176],
    ['memcg_stock_pcp', 112],
    ['obj_stock_pcp', 72],
    ['user_struct', 128],
  ])('sizeof(struct %s) is %d (kernel-facts §1.2)', (name, size) => {
    expect(btf.structSize(name)).toBe(size);
    const t = btf.findByName(name, 'struct');
    expect(t && btf.sizeOf(t.id)).toEqual({ ok: true, value: size });
  });

  it.skipIf(!is618).each([
    ['bpf_map', 'id', 92],
    ['bpf_map', 'objcg', 128],
    ['obj_cgroup', 'memcg', 16],
    ['mem_cgroup', 'css', 0],
    ['mem_cgroup', 'css.cgroup', 0],
    ['cgroup_subsys_state', 'cgroup', 0],
    ['cgroup', 'kn', 256],
    ['kernfs_node', 'id', 96],
    ['htab_elem', 'key', 48], // in an anonymous union
    ['bpf_array', 'value', 312], // in an anonymous union
    ['lpm_trie_node', 'data', 24],
    ['bpf_ringbuf', 'consumer_pos', 4096],
    ['bpf_ringbuf', 'producer_pos', 8192],
    ['bpf_prog', 'insns', 96],
    ['user_struct', 'locked_vm', 88],
  ])('offsetof(struct %s, %s) is %d (kernel-facts §1.2, §8)', (struct, member, offset) => {
    expect(btf.memberOffset(struct, member)).toMatchObject({ ok: true, value: { bitfield: false, offset } });
  });

  it('finds what a map iterator attaches to, and knows a bit field', () => {
    expect(btf.findByName('bpf_iter_bpf_map', 'func')).toMatchObject({ kind: 'func' });
    expect(btf.memberOffset('bpf_iter__bpf_map', 'map')).toMatchObject({ ok: true, value: { offset: 8 } });
    expect(btf.memberOffset('sk_buff', 'pkt_type')).toMatchObject({ ok: true, value: { bitfield: true, bits: 3 } });
    expect(btf.pointerSize).toBe(8);
  });

  it('round-trips every type through encodeBtf and parseBtf', () => {
    const specs = [...btf.types()].slice(1).map(({ id: _id, ...rest }) => rest as BtfTypeSpec);
    const again = parseBtf(encodeBtf(specs));
    if (!again.ok) throw new Error(again.error);
    expect(again.value.count).toBe(btf.count);
    const json = (b: Btf): string => JSON.stringify([...b.types()], (_, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));
    expect(json(again.value) === json(btf)).toBe(true);
  });

  it.skipIf(!bpftool)('decodes every type as bpftool does (`bpftool btf dump … format raw`)', () => {
    const raw = execFileSync('bpftool', ['btf', 'dump', 'file', VMLINUX_BTF_PATH, 'format', 'raw'], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
    const ours = [...btf.types()].slice(1).map((t) => formatRaw(btf, t)).join('');
    const lines = raw.split('\n');
    const mine = ours.split('\n');
    const first = lines.findIndex((l, i) => l !== mine[i]);
    expect(first === -1 ? 'all equal' : `line ${first + 1}: bpftool "${lines[first]}", bpfmem "${mine[first]}"`).toBe('all equal');
  });
});

/** Type `t` in bpftool's raw format (tools/bpf/bpftool/btf.c, `dump_btf_type`), with its trailing lines. */
function formatRaw(btf: Btf, t: BtfType): string {
  const name = (s: string): string => `'${s || '(anon)'}'`;
  const head = `[${t.id}] ${t.kind.toUpperCase()} ${name(t.name)}`;
  switch (t.kind) {
    case 'void':
      return '';
    case 'int': {
      const encoding = t.signed ? 'SIGNED' : t.char ? 'CHAR' : t.bool ? 'BOOL' : '(none)';
      return `${head} size=${t.size} bits_offset=${t.bitOffset} nr_bits=${t.bits} encoding=${encoding}\n`;
    }
    case 'ptr':
    case 'typedef':
    case 'volatile':
    case 'const':
    case 'restrict':
    case 'type_tag':
      return `${head} type_id=${t.type}\n`;
    case 'array':
      return `${head} type_id=${t.type} index_type_id=${t.indexType} nr_elems=${t.nelems}\n`;
    case 'struct':
    case 'union':
      return (
        `${head} size=${t.size} vlen=${t.members.length}\n` +
        t.members.map((m) => `\t${name(m.name)} type_id=${m.type} bits_offset=${m.bitOffset}${m.bitfieldSize ? ` bitfield_size=${m.bitfieldSize}` : ''}\n`).join('')
      );
    case 'enum':
      return `${head} encoding=${t.signed ? 'SIGNED' : 'UNSIGNED'} size=${t.size} vlen=${t.values.length}\n` + t.values.map((v) => `\t${name(v.name)} val=${v.value}\n`).join('');
    case 'enum64':
      return (
        `${head} encoding=${t.signed ? 'SIGNED' : 'UNSIGNED'} size=${t.size} vlen=${t.values.length}\n` +
        t.values.map((v) => `\t${name(v.name)} val=${v.value}${t.signed ? 'LL' : 'ULL'}\n`).join('')
      );
    case 'fwd':
      return `${head} fwd_kind=${t.union ? 'union' : 'struct'}\n`;
    case 'func':
      return `${head} type_id=${t.type} linkage=${t.linkage}\n`;
    case 'func_proto':
      return `${head} ret_type_id=${t.type} vlen=${t.params.length}\n` + t.params.map((p) => `\t${name(p.name)} type_id=${p.type}\n`).join('');
    case 'var':
      return `${head} type_id=${t.type}, linkage=${t.linkage}\n`;
    case 'datasec':
      return `${head} size=${t.size} vlen=${t.vars.length}\n` + t.vars.map((v) => `\ttype_id=${v.type} offset=${v.offset} size=${v.size} (VAR ${name(btf.nameOf(v.type) ?? '')})\n`).join('');
    case 'float':
      return `${head} size=${t.size}\n`;
    case 'decl_tag':
      return `${head} type_id=${t.type} component_idx=${t.componentIdx}\n`;
  }
}
