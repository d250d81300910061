import { alu64Imm, call, exit, jmpImm, label, ldxMem, mov64Imm, mov64Reg, R0, R1, R10, R2, R3, R6, R7, stMem, stxMem, type ProgramItem } from '../../asm/index.js';
import type { Size } from '../../asm/index.js';
import type { MapIterLayout, ScalarField } from './mapiter-layout.js';
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
 */

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
    for (const hop of charge.hops) program.push(ldxMem('dw', R2, R2, hop), jmpImm('jeq', R2, 0, 'write'));
    program.push(ldxMem(SIZES[charge.id.size], R2, R2, charge.id.offset), stxMem('dw', R10, R2, at(MAP_RECORD.cgroupId)));
  }
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
