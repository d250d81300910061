import { describe, expect, it } from 'vitest';
import { assemble, disassemble, HELPERS, type Insn } from '../../asm/index.js';
import type { MapIterLayout } from './mapiter-layout.js';
import { buildMapIterProgram } from './mapiter-program.js';
import { MAP_RECORD, parseMapRecords } from './mapiter-record.js';

/**
 * The map iterator program, built for given offsets and run by a small eBPF interpreter (just
 * the instructions it uses) over a made-up kernel memory: the records it writes, the NULL links
 * it stops at without dereferencing them, and both charge chains. The live test runs it on the
 * real kernel.
 */

/** docs/kernel-facts.md §8: the 6.18 layout. */
const OBJCG: MapIterLayout = {
  attachBtfId: 64130,
  ctxMeta: 0,
  ctxMap: 8,
  metaSeq: 0,
  map: {
    id: { offset: 92, size: 4 },
    type: { offset: 24, size: 4 },
    keySize: { offset: 28, size: 4 },
    valueSize: { offset: 32, size: 4 },
    maxEntries: { offset: 36, size: 4 },
    flags: { offset: 88, size: 4 },
    name: 136,
  },
  charge: { via: 'objcg', hops: [128, 16, 0, 256], id: { offset: 96, size: 8 } },
  counts: { fields: [] },
};
const KFUNC_ID = 64522;
/** The 6.18 layout with map_extra and the element counters (kernfs-facts: bpf_map.map_extra 80). */
const COUNTED: MapIterLayout = {
  ...OBJCG,
  map: { ...OBJCG.map, mapExtra: 80 },
  counts: { sumElemCount: KFUNC_ID, fields: [{ mapTypes: [11], offset: 384, size: 8, what: 'lpm_trie.n_entries' }, { mapTypes: [14, 25], offset: 332, size: 4, what: 'bpf_dtab.items' }] },
};
/** A 5.15-like layout: `bpf_map.memcg`, a css not at the start of mem_cgroup. */
const MEMCG: MapIterLayout = { ...OBJCG, charge: { via: 'memcg', hops: [120, 72, 300], id: { offset: 80, size: 8 } } };
const NONE: MapIterLayout = { ...OBJCG, charge: { via: 'none', reason: 'old kernel' } };

/** Addresses of the made-up kernel objects; below 0x1000 is the NULL page. */
const AT = { ctx: 0x1000, meta: 0x2000, seq: 0x2800, map: 0x3000, first: 0x4000, second: 0x5000, third: 0x6000, fourth: 0x7000, stackTop: 0x20000 };

/** A flat little-endian memory with a NULL page that faults. */
class Memory {
  readonly bytes = new Uint8Array(AT.stackTop);
  /** What bpf_map_sum_elem_count answers. */
  elemCount = 0n;
  readonly view = new DataView(this.bytes.buffer);
  check(addr: bigint, size: number): number {
    const a = Number(addr);
    if (a < 0x1000) throw new Error(`NULL dereference at ${a}`);
    if (a + size > this.bytes.length) throw new Error(`access beyond memory at ${a}`);
    return a;
  }
  load(addr: bigint, size: number): bigint {
    const a = this.check(addr, size);
    switch (size) {
      case 1:
        return BigInt(this.view.getUint8(a));
      case 2:
        return BigInt(this.view.getUint16(a, true));
      case 4:
        return BigInt(this.view.getUint32(a, true));
      default:
        return this.view.getBigUint64(a, true);
    }
  }
  store(addr: bigint, size: number, value: bigint): void {
    const a = this.check(addr, size);
    const v = BigInt.asUintN(size * 8, value);
    if (size === 1) this.view.setUint8(a, Number(v));
    else if (size === 2) this.view.setUint16(a, Number(v), true);
    else if (size === 4) this.view.setUint32(a, Number(v), true);
    else this.view.setBigUint64(a, v, true);
  }
}

const WIDTH = { b: 1, h: 2, w: 4, dw: 8 } as const;

/** Runs the instructions the map iterator uses; returns what bpf_seq_write received. */
function run(insns: readonly Insn[], mem: Memory): Uint8Array {
  const regs: bigint[] = Array.from({ length: 11 }, () => 0n);
  regs[1] = BigInt(AT.ctx);
  regs[10] = BigInt(AT.stackTop);
  const out: number[] = [];
  for (let pc = 0, steps = 0; steps < 1000; steps++) {
    const insn = insns[pc];
    if (insn === undefined) throw new Error(`fell off the program at ${pc}`);
    const { opcode: op, dst, src, imm } = insn;
    const off = Number(insn.off);
    pc++;
    if (op.class === 'ldx' && op.mode === 'mem') regs[dst] = mem.load(regs[src]! + BigInt(off), WIDTH[op.size]);
    else if (op.class === 'stx' && op.mode === 'mem') mem.store(regs[dst]! + BigInt(off), WIDTH[op.size], regs[src]!);
    else if (op.class === 'st' && op.mode === 'mem') mem.store(regs[dst]! + BigInt(off), WIDTH[op.size], BigInt(imm));
    else if (op.class === 'alu64' && op.op === 'mov') regs[dst] = op.source === 'k' ? BigInt.asUintN(64, BigInt(imm)) : regs[src]!;
    else if (op.class === 'alu64' && op.op === 'add' && op.source === 'k') regs[dst] = BigInt.asUintN(64, regs[dst]! + BigInt(imm));
    else if (op.class === 'jmp' && op.op === 'jeq' && op.source === 'k') {
      if (regs[dst] === BigInt.asUintN(64, BigInt(imm))) pc += off;
    } else if (op.class === 'jmp' && op.op === 'jset' && op.source === 'k') {
      if ((regs[dst]! & BigInt.asUintN(64, BigInt(imm))) !== 0n) pc += off;
    } else if (op.class === 'jmp' && op.op === 'ja') {
      pc += off;
    } else if (op.class === 'jmp' && op.op === 'call' && src === 2) {
      // A kfunc: only bpf_map_sum_elem_count(map), by the id the layout gave.
      if (imm !== KFUNC_ID) throw new Error(`kfunc ${imm}`);
      if (regs[1] !== BigInt(AT.map)) throw new Error('bpf_map_sum_elem_count of something that is not the map');
      regs[0] = mem.elemCount;
      for (const r of [1, 2, 3, 4, 5]) regs[r] = 0xdeadn; // clobbered
    } else if (op.class === 'jmp' && op.op === 'call' && imm === HELPERS.probe_read_kernel) {
      const [dstAddr, size, srcAddr] = [regs[1], Number(regs[2]), regs[3]] as [bigint, number, bigint];
      try {
        mem.store(dstAddr, size, mem.load(srcAddr, size));
        regs[0] = 0n;
      } catch {
        for (let i = 0; i < size; i++) mem.store(dstAddr + BigInt(i), 1, 0n);
        regs[0] = BigInt.asUintN(64, -14n); // -EFAULT, the destination zeroed
      }
      for (const r of [1, 2, 3, 4, 5]) regs[r] = 0xdeadn;
    } else if (op.class === 'jmp' && op.op === 'call') {
      if (imm !== HELPERS.seq_write) throw new Error(`helper ${imm}`);
      if (regs[1] !== BigInt(AT.seq)) throw new Error('seq_write to something that is not the seq_file');
      const from = mem.check(regs[2]!, Number(regs[3]));
      out.push(...mem.bytes.subarray(from, from + Number(regs[3])));
      regs[0] = 0n;
    } else if (op.class === 'jmp' && op.op === 'exit') {
      expect(regs[0]).toBe(0n);
      return Uint8Array.from(out);
    } else throw new Error(`instruction not interpreted: ${JSON.stringify(op)}`);
  }
  throw new Error('no exit within 1000 steps');
}

/** A map and the objects its chain leads to; `links` addresses each hop's target (0: NULL). */
function world(layout: MapIterLayout, links: readonly number[], knId: bigint, withMap = true): Memory {
  const mem = new Memory();
  mem.store(BigInt(AT.ctx + layout.ctxMeta), 8, BigInt(AT.meta));
  mem.store(BigInt(AT.ctx + layout.ctxMap), 8, withMap ? BigInt(AT.map) : 0n);
  mem.store(BigInt(AT.meta + layout.metaSeq), 8, BigInt(AT.seq));
  const { map } = layout;
  mem.store(BigInt(AT.map + map.id.offset), map.id.size, 4242n);
  mem.store(BigInt(AT.map + map.type.offset), map.type.size, 1n);
  mem.store(BigInt(AT.map + map.keySize.offset), map.keySize.size, 8n);
  mem.store(BigInt(AT.map + map.valueSize.offset), map.valueSize.size, 64n);
  mem.store(BigInt(AT.map + map.maxEntries.offset), map.maxEntries.size, 10000n);
  mem.store(BigInt(AT.map + map.flags.offset), map.flags.size, 0x401n);
  mem.bytes.set(new TextEncoder().encode('conntrack_v4'), AT.map + map.name);
  if (layout.charge.via !== 'none') {
    let from = AT.map;
    for (const [i, hop] of layout.charge.hops.entries()) {
      const to = links[i] ?? 0;
      mem.store(BigInt(from + hop), 8, BigInt(to));
      from = to;
      if (to === 0) break;
    }
    if (from !== 0) mem.store(BigInt(from + layout.charge.id.offset), layout.charge.id.size, knId);
  }
  return mem;
}

const insnsOf = (layout: MapIterLayout): Insn[] => disassemble(assemble(buildMapIterProgram(layout)));
const CHAIN = [AT.first, AT.second, AT.third, AT.fourth];
const KN_ID = 0x1_0000_2be3dn;

describe('buildMapIterProgram', () => {
  it('writes one record with every field and the kernfs id at the end of the objcg chain', () => {
    const out = run(insnsOf(OBJCG), world(OBJCG, CHAIN, KN_ID));
    expect(parseMapRecords(out)).toEqual({
      ok: true,
      value: [{ id: 4242, type: 1, keySize: 8, valueSize: 64, maxEntries: 10000, flags: 0x401, name: 'conntrack_v4', cgroupId: KN_ID, mapExtra: 0, elements: undefined }],
    });
  });

  it('counts a no-prealloc hash\'s elements with bpf_map_sum_elem_count, and reads map_extra', () => {
    const mem = world(COUNTED, CHAIN, KN_ID);
    mem.elemCount = 777n;
    mem.store(BigInt(AT.map + 80), 8, 3n);
    expect(parseMapRecords(run(insnsOf(COUNTED), mem))).toMatchObject({ value: [{ id: 4242, flags: 0x401, mapExtra: 3, elements: 777 }] });
  });

  it('leaves a preallocated hash uncounted (its memory does not follow its contents)', () => {
    const mem = world(COUNTED, CHAIN, KN_ID);
    mem.store(BigInt(AT.map + COUNTED.map.flags.offset), 4, 0x400n);
    mem.elemCount = 777n;
    expect(parseMapRecords(run(insnsOf(COUNTED), mem))).toMatchObject({ value: [{ elements: undefined }] });
  });

  it.each([
    [11, 384, 8, 5n],
    [25, 332, 4, 9n],
    [14, 332, 4, 0n],
  ])('reads the counter of type %d at map + %d (%d bytes) with bpf_probe_read_kernel', (type, offset, size, count) => {
    const mem = world(COUNTED, CHAIN, KN_ID);
    mem.store(BigInt(AT.map + COUNTED.map.type.offset), 4, BigInt(type));
    mem.store(BigInt(AT.map + offset - 8), 8, 0xffff_ffff_ffff_ffffn); // bytes around it are not read
    mem.store(BigInt(AT.map + offset + size), 8, 0xffff_ffff_ffff_ffffn);
    mem.store(BigInt(AT.map + offset), size, count);
    expect(parseMapRecords(run(insnsOf(COUNTED), mem))).toMatchObject({ value: [{ type, elements: Number(count) }] });
  });

  it('says "not read" where bpf_probe_read_kernel fails, not 0', () => {
    const far: MapIterLayout = { ...COUNTED, counts: { fields: [{ mapTypes: [11], offset: 0x40000, size: 8, what: 'beyond memory' }] } };
    const mem = world(far, CHAIN, KN_ID);
    mem.store(BigInt(AT.map + far.map.type.offset), 4, 11n);
    expect(parseMapRecords(run(insnsOf(far), mem))).toMatchObject({ value: [{ type: 11, elements: undefined }] });
  });

  it('follows the 5.11–5.19 memcg chain (one hop fewer)', () => {
    const out = run(insnsOf(MEMCG), world(MEMCG, CHAIN.slice(0, 3), KN_ID));
    expect(parseMapRecords(out)).toMatchObject({ ok: true, value: [{ id: 4242, name: 'conntrack_v4', cgroupId: KN_ID }] });
  });

  it.each([0, 1, 2, 3])('stops at a NULL link %d of the objcg chain and reports 0, without dereferencing it', (broken) => {
    const links = CHAIN.map((a, i) => (i === broken ? 0 : a));
    const out = run(insnsOf(OBJCG), world(OBJCG, links, KN_ID));
    expect(parseMapRecords(out)).toMatchObject({ ok: true, value: [{ id: 4242, cgroupId: 0n }] });
  });

  it.each([0, 1, 2])('stops at a NULL link %d of the memcg chain', (broken) => {
    const links = CHAIN.slice(0, 3).map((a, i) => (i === broken ? 0 : a));
    expect(parseMapRecords(run(insnsOf(MEMCG), world(MEMCG, links, KN_ID)))).toMatchObject({ value: [{ cgroupId: 0n }] });
  });

  it('writes 0 where the kernel has no chain (the parser makes it null)', () => {
    const out = run(insnsOf(NONE), world(NONE, [], 0n));
    expect(parseMapRecords(out, false)).toMatchObject({ ok: true, value: [{ id: 4242, cgroupId: null }] });
    expect(parseMapRecords(out)).toMatchObject({ value: [{ cgroupId: 0n }] });
  });

  it('writes nothing on the final call, where ctx->map is NULL', () => {
    expect(run(insnsOf(OBJCG), world(OBJCG, CHAIN, KN_ID, false))).toEqual(new Uint8Array(0));
  });

  it('loads each field at its own width and stores it as a u32', () => {
    const wide: MapIterLayout = { ...OBJCG, map: { ...OBJCG.map, flags: { offset: 80, size: 8 }, type: { offset: 24, size: 2 } } };
    const insns = insnsOf(wide);
    expect(insns).toContainEqual(expect.objectContaining({ opcode: { class: 'ldx', size: 'dw', mode: 'mem' }, off: 80 }));
    expect(insns).toContainEqual(expect.objectContaining({ opcode: { class: 'ldx', size: 'h', mode: 'mem' }, off: 24 }));
    expect(parseMapRecords(run(insns, world(wide, CHAIN, KN_ID)))).toMatchObject({ value: [{ type: 1, flags: 0x401 }] });
  });

  it('takes every offset from the layout: the chain\'s loads are exactly its hops', () => {
    for (const layout of [OBJCG, MEMCG]) {
      if (layout.charge.via === 'none') continue;
      const loads = insnsOf(layout).filter((i) => i.opcode.class === 'ldx' && i.dst === 2 && i.src === 2).map((i) => i.off);
      expect(loads).toEqual([...layout.charge.hops, layout.charge.id.offset]);
    }
  });

  it('is a short program that calls only bpf_seq_write and uses no map, without counts', () => {
    for (const layout of [OBJCG, MEMCG, NONE]) {
      const insns = insnsOf(layout);
      expect(insns.length).toBeLessThan(52);
      expect(insns.filter((i) => i.opcode.class === 'jmp' && i.opcode.op === 'call').map((i) => i.imm)).toEqual([HELPERS.seq_write]);
      expect(insns.some((i) => i.opcode.class === 'ld')).toBe(false);
    }
    expect(MAP_RECORD.size).toBeLessThanOrEqual(512); // fits the 512-byte BPF stack
  });
});
