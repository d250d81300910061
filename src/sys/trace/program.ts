import {
  alu32Imm,
  alu64Imm,
  alu64Reg,
  atomicAdd,
  atomicCmpxchg,
  call,
  exit,
  ja,
  jmp32Imm,
  jmpImm,
  jmpReg,
  label,
  ldMapFd,
  ldxMem,
  mov32Reg,
  mov64Imm,
  mov64Reg,
  R0,
  R1,
  R10,
  R2,
  R3,
  R4,
  R6,
  R7,
  R8,
  R9,
  stMem,
  stxMem,
  type ProgramItem,
} from '../../asm/index.js';
import type { HookTarget } from './hooks.js';
import { BUCKET_ERRNOS, EVENT, EVENT_SIZE, HOOK, OTHER_BUCKET, SLOT, SLOTS } from './layout.js';

/**
 * The fexit program of one hook, built for one kernel. Pure. On exit of the hooked function:
 *
 * 1. `ret = ctx[nargs]`; a success returns at once (two loads and a compare on the hot path).
 *    The return is read as a 32-bit int: map ops returned `int` before 6.4 (include/linux/bpf.h
 *    `struct bpf_map_ops`), and the upper half of rax is not a sign extension then.
 *    A pointer return (`bpf_local_storage_update`) fails when it is an `ERR_PTR`, ≥ -4095.
 * 2. `id = ((struct bpf_map *)ctx[mapArg])->id`, a direct load of a trusted BTF pointer at the
 *    offset this kernel's BTF gives (the verifier makes it a fault-safe load).
 * 3. The errno's bucket; `hooks[hook].fails++`.
 * 4. The slot `id & (SLOTS-1)`: claimed by compare-and-swap of its map id from 0 (5.12+; on
 *    older kernels a plain store, which two maps failing first at the same instant on two CPUs
 *    could both do); a slot owned by another map counts a collision instead.
 * 5. `slot.type[bucket]++` (or `slot.sys[bucket]++` for `bpf_map_update_value`).
 * 6. One event into the ring buffer while it has room (no wakeup: bpfmem polls), else
 *    `hooks[hook].dropped++`.
 * Every count is an atomic add into an ARRAY value; no helper here updates a map.
 */

/** File descriptors of the maps the program writes. */
export interface WatchMaps {
  readonly slots: number;
  readonly hooks: number;
  /** The ring buffer, or undefined for counters only. */
  readonly events: number | undefined;
}

/** How to build it. */
export interface BuildOptions {
  /** Claim slots with BPF_CMPXCHG (5.12+). */
  readonly cmpxchg: boolean;
}

/** `BPF_RB_NO_WAKEUP` (uapi/linux/bpf.h): no irq_work to wake a reader. */
const BPF_RB_NO_WAKEUP = 1;
/** Stack: the lookup keys at -4 and -8, the event at -8 - EVENT_SIZE. */
const KEY_HOOK = -4;
const KEY_SLOT = -8;
const EVENT_AT = -8 - EVENT_SIZE;

/** The program for `target`, which is hook number `index` of the tracer. */
export function buildHookProgram(target: HookTarget, index: number, maps: WatchMaps, o: BuildOptions): ProgramItem[] {
  const p: ProgramItem[] = [
    // R7 = the return value; a success leaves at once.
    ldxMem('dw', R7, R1, 8 * target.nargs),
  ];
  if (target.returns === 'ptr') {
    // IS_ERR_VALUE: (unsigned long)ret >= (unsigned long)-MAX_ERRNO.
    p.push(jmpImm('jlt', R7, -4095, 'out'));
  } else {
    p.push(jmp32Imm('jsge', R7, 0, 'out'));
  }
  p.push(
    // R7 = errno (positive, 32 bits); R8 = the map's id.
    alu32Imm('neg', R7, 0),
    ldxMem('dw', R8, R1, 8 * target.spec.mapArg),
    ldxMem('w', R8, R8, target.idOffset),
    // R9 = the errno's bucket.
    mov64Imm(R9, OTHER_BUCKET),
  );
  BUCKET_ERRNOS.forEach((errno, b) => p.push(jmpImm('jeq', R7, errno, `b${b}`)));
  p.push(ja('bucketed'));
  BUCKET_ERRNOS.forEach((_, b) => p.push(label(`b${b}`), mov64Imm(R9, b), ja('bucketed')));
  p.push(
    label('bucketed'),
    // R6 = &hooks[index]; fails++.
    stMem('w', R10, KEY_HOOK, index),
    mov64Reg(R2, R10),
    alu64Imm('add', R2, KEY_HOOK),
    ldMapFd(R1, maps.hooks),
    call('map_lookup_elem'),
    jmpImm('jeq', R0, 0, 'out'),
    mov64Reg(R6, R0),
    mov64Imm(R1, 1),
    atomicAdd('dw', R6, R1, HOOK.fails),
    // R3 = &slots[id & (SLOTS - 1)].
    mov32Reg(R1, R8),
    alu32Imm('and', R1, SLOTS - 1),
    stxMem('w', R10, R1, KEY_SLOT),
    mov64Reg(R2, R10),
    alu64Imm('add', R2, KEY_SLOT),
    ldMapFd(R1, maps.slots),
    call('map_lookup_elem'),
    jmpImm('jeq', R0, 0, 'event'),
    mov64Reg(R3, R0),
    ldxMem('w', R1, R3, SLOT.mapId),
    jmpReg('jeq', R1, R8, 'count'),
    jmpImm('jne', R1, 0, 'collide'),
  );
  if (o.cmpxchg) {
    p.push(
      mov64Imm(R0, 0),
      atomicCmpxchg('w', R3, R8, SLOT.mapId),
      // R0: the old id; 0 (claimed now) or this map's (claimed by another CPU for it) count here.
      jmpImm('jeq', R0, 0, 'count'),
      jmpReg('jeq', R0, R8, 'count'),
      ja('collide'),
    );
  } else {
    p.push(stxMem('w', R3, R8, SLOT.mapId), ja('count'));
  }
  p.push(
    label('collide'),
    mov64Imm(R1, 1),
    atomicAdd('dw', R3, R1, SLOT.collisions),
    atomicAdd('dw', R6, R1, HOOK.unslotted),
    ja('event'),
    label('count'),
    // slot.{type,sys}[bucket] += 1; R9 is one of 0 … 15 on every path here.
    mov64Reg(R1, R9),
    alu64Imm('lsh', R1, 3),
    alu64Reg('add', R1, R3),
    mov64Imm(R2, 1),
    atomicAdd('dw', R1, R2, target.spec.table === 'sys' ? SLOT.sys : SLOT.type),
    label('event'),
  );
  if (maps.events !== undefined) {
    p.push(
      call('ktime_get_ns'),
      stxMem('dw', R10, R0, EVENT_AT + EVENT.time),
      stxMem('w', R10, R8, EVENT_AT + EVENT.mapId),
      stxMem('w', R10, R7, EVENT_AT + EVENT.errno),
      stMem('w', R10, EVENT_AT + EVENT.hook, index),
      call('get_smp_processor_id'),
      stxMem('w', R10, R0, EVENT_AT + EVENT.cpu),
      call('get_current_pid_tgid'),
      stxMem('dw', R10, R0, EVENT_AT + EVENT.pidTgid),
      ldMapFd(R1, maps.events),
      mov64Reg(R2, R10),
      alu64Imm('add', R2, EVENT_AT),
      mov64Imm(R3, EVENT_SIZE),
      mov64Imm(R4, BPF_RB_NO_WAKEUP),
      call('ringbuf_output'),
      jmpImm('jeq', R0, 0, 'out'),
      mov64Imm(R1, 1),
      atomicAdd('dw', R6, R1, HOOK.dropped),
    );
  }
  p.push(label('out'), mov64Imm(R0, 0), exit());
  return p;
}
