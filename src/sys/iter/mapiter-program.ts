import { alu64Imm, call, exit, ja, jmpImm, label, ldxMem, mov64Imm, mov64Reg, R0, R1, R10, R2, R3, R6, R7, R8, stMem, stxMem, type Insn, type ProgramItem } from '../../asm/index.js';
import type { Size } from '../../asm/index.js';
import { MAP_FLAGS } from '../../vocab/flags.js';
import { COUNTED_HASH_TYPES, type ElementCounts, type MapIterLayout, type ScalarField } from './mapiter-layout.js';
import { MAP_RECORD } from './mapiter-record.js';

/**
 * The `iter/bpf_map` program, built from a kernel's layout: for every map it fills one
 * {@link MAP_RECORD} on the stack and appends it to the seq_file with `bpf_seq_write` (helper
 * 127, which needs no map, unlike `bpf_seq_printf`'s format string). kernel/bpf/map_iter.c calls
 * it once per map with `ctx->map` set, and once more at the end with `ctx->map` NULL.
 *
 * The chain to the memory cgroup dereferences BTF pointers directly: a tracing program may, and
 * the verifier turns each such load into a fault-safe probe load (kernel/bpf/verifier.c,
 * `BPF_PROBE_MEM`); a NULL pointer is still tested before the next load, so a map whose objcg
 * is NULL (root memcg) reports 0, not a faulted read.
 *
 * Where the layout says how, the record also carries how many elements the map holds (what its
 * `map_mem_usage()` multiplies), so that no map must be opened to read its fdinfo `memlock`:
 * no-prealloc hashes through the kfunc `bpf_map_sum_elem_count` (6.6+), other types by
 * `bpf_probe_read_kernel` of a counter in the struct the map is embedded in (a direct load past
 * `struct bpf_map` is refused by the verifier, `btf_struct_access`).
 */

/** `src_reg` of a call to a kernel function by BTF id (include/uapi/linux/bpf.h `BPF_PSEUDO_KFUNC_CALL`). */
const BPF_PSEUDO_KFUNC_CALL = 2;

/** `call` of the kfunc with BTF id `btfId` in vmlinux (`off` 0: vmlinux's BTF, not a module's). */
export function kfuncCall(btfId: number): Insn {
  return { opcode: { class: 'jmp', op: 'call', source: 'k' }, dst: 0, src: BPF_PSEUDO_KFUNC_CALL, off: 0, imm: btfId };
}

/** Bytes on the stack for the record, below the frame pointer R10. */
const FRAME = MAP_RECORD.size;

const SIZES: Readonly<Record<ScalarField['size'], Size>> = { 1: 'b', 2: 'h', 4: 'w', 8: 'dw' };

/** The instructions (assemble() them) for `layout`. Pure. */
export function buildMapIterProgram(layout: MapIterLayout): ProgramItem[] {
  const at = (recordOffset: number): number => recordOffset - FRAME;
  const { map } = layout;
  /** R2 = map->field (zero-extended), then record.field = (u32)R2. */
  const copy = (field: ScalarField, recordOffset: number): ProgramItem[] => [ldxMem(SIZES[field.size], R2, R7, field.offset), stxMem('w', R10, R2, at(recordOffset))];
  const program: ProgramItem[] = [
    // R6 = ctx->meta, R7 = ctx->map; nothing to write on the final call (map NULL).
    ldxMem('dw', R6, R1, layout.ctxMeta),
    ldxMem('dw', R7, R1, layout.ctxMap),
    jmpImm('jeq', R7, 0, 'out'),
    ...copy(map.id, MAP_RECORD.id),
    ...copy(map.type, MAP_RECORD.type),
    ...copy(map.keySize, MAP_RECORD.keySize),
    ...copy(map.valueSize, MAP_RECORD.valueSize),
    ...copy(map.maxEntries, MAP_RECORD.maxEntries),
    ...copy(map.flags, MAP_RECORD.flags),
    // char name[16] as two u64 loads: the verifier lets a load span elements of an array member
    // as long as it stays inside the member (btf_struct_walk, "mtrue_end").
    ldxMem('dw', R2, R7, map.name),
    stxMem('dw', R10, R2, at(MAP_RECORD.name)),
    ldxMem('dw', R2, R7, map.name + 8),
    stxMem('dw', R10, R2, at(MAP_RECORD.name + 8)),
    stMem('dw', R10, at(MAP_RECORD.cgroupId), 0),
  ];
  const { charge } = layout;
  if (charge.via !== 'none') {
    // R2 = map; R2 = *(R2 + hop) for each hop, leaving 0 in the record at the first NULL.
    program.push(mov64Reg(R2, R7));
    for (const hop of charge.hops) program.push(ldxMem('dw', R2, R2, hop), jmpImm('jeq', R2, 0, 'charged'));
    program.push(ldxMem(SIZES[charge.id.size], R2, R2, charge.id.offset), stxMem('dw', R10, R2, at(MAP_RECORD.cgroupId)));
  }
  program.push(label('charged'));
  if (map.mapExtra === undefined) program.push(stMem('dw', R10, at(MAP_RECORD.mapExtra), 0));
  else program.push(ldxMem('dw', R2, R7, map.mapExtra), stxMem('dw', R10, R2, at(MAP_RECORD.mapExtra)));
  // All ones (the imm is sign-extended): not read, unless a counter below says otherwise.
  program.push(stMem('dw', R10, at(MAP_RECORD.elements), -1));
  program.push(...countElements(layout.counts, layout, at));
  program.push(
    label('write'),
    // bpf_seq_write(meta->seq, &record, sizeof(record)).
    ldxMem('dw', R1, R6, layout.metaSeq),
    mov64Reg(R2, R10),
    alu64Imm('add', R2, -FRAME),
    mov64Imm(R3, FRAME),
    call('seq_write'),
    label('out'),
    mov64Imm(R0, 0),
    exit(),
  );
  return program;
}

/**
 * Fills the record's `elements` for the types `counts` covers, then jumps to `write`. R8 holds
 * the map type; R1–R5 are clobbered by the calls; R6 and R7 are kept.
 */
function countElements(counts: ElementCounts, layout: MapIterLayout, at: (recordOffset: number) => number): ProgramItem[] {
  const { map } = layout;
  const elements = at(MAP_RECORD.elements);
  if (counts.sumElemCount === undefined && counts.fields.length === 0) return [];
  const out: ProgramItem[] = [ldxMem(SIZES[map.type.size], R8, R7, map.type.offset)];
  if (counts.sumElemCount !== undefined) for (const t of COUNTED_HASH_TYPES) out.push(jmpImm('jeq', R8, t, 'hash'));
  for (const [i, f] of counts.fields.entries()) for (const t of f.mapTypes) out.push(jmpImm('jeq', R8, t, `count${i}`));
  out.push(ja('write'));
  if (counts.sumElemCount !== undefined) {
    // Preallocated hashes hold max_entries whatever their contents: the count is not needed.
    out.push(
      label('hash'),
      ldxMem(SIZES[map.flags.size], R2, R7, map.flags.offset),
      jmpImm('jset', R2, MAP_FLAGS.no_prealloc, 'sum'),
      ja('write'),
      label('sum'),
      mov64Reg(R1, R7),
      kfuncCall(counts.sumElemCount),
      stxMem('dw', R10, R0, elements),
      ja('write'),
    );
  }
  for (const [i, f] of counts.fields.entries()) {
    out.push(
      label(`count${i}`),
      stMem('dw', R10, elements, 0),
      mov64Reg(R1, R10),
      alu64Imm('add', R1, elements),
      mov64Imm(R2, f.size),
      mov64Reg(R3, R7),
      alu64Imm('add', R3, f.offset),
      call('probe_read_kernel'),
      jmpImm('jeq', R0, 0, 'write'),
      // A failed read zeroes its destination: say "not read" rather than 0.
      stMem('dw', R10, elements, -1),
      ja('write'),
    );
  }
  return out;
}
