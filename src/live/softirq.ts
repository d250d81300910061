import {
  R0,
  R1,
  R2,
  R3,
  R4,
  R7,
  R8,
  R9,
  R10,
  alu64Imm,
  assemble,
  call,
  endian,
  exit,
  ja,
  jmpImm,
  label,
  ldMapFd,
  ldxMem,
  mov64Imm,
  mov64Reg,
  stMem,
  stxMem,
  type ProgramItem,
} from '../asm/index.js';
import type { MapSpec } from '../vocab/map-spec.js';

/**
 * The socket filter that inserts into a map from softirq: attached to a UDP socket on
 * loopback, it runs in NET_RX softirq on the CPU that sent the packet, while the sending task
 * is `current`. Every packet takes the next key from a counter, writes it into a scratch key,
 * and calls map_update_elem with a scratch value: one new element per packet. The counter
 * records inserts, failures and the last error, so the sender can tell what happened.
 *
 * The counter map's value (`struct { u64 next_key, inserted, failed; s64 last_err; }`).
 */
export const COUNTER_VALUE_SIZE = 32;

/** File descriptors the program refers to. */
export interface FilterMaps {
  readonly counter: number;
  readonly keyBuf: number;
  readonly valueBuf: number;
  readonly target: number;
}

/** Stores the counter (r8) into the scratch key (r9) as the key encoding of `spec` wants it. */
function storeKey(spec: MapSpec): ProgramItem[] {
  if (spec.type === 'lpm_trie') {
    // struct bpf_lpm_trie_key_u8: prefixlen = all data bits; the counter big-endian at the end.
    return [stMem('w', R9, 0, (spec.keySize - 4) * 8), endian('be', R8, 32), stxMem('w', R9, R8, spec.keySize - 4)];
  }
  if (spec.keySize >= 8) return [stxMem('dw', R9, R8, 0)];
  if (spec.keySize >= 4) return [stxMem('w', R9, R8, 0)];
  if (spec.keySize >= 2) return [stxMem('h', R9, R8, 0)];
  return [stxMem('b', R9, R8, 0)];
}

/** `r0 = lookup(map, &zero)`; jumps to `out` on NULL. */
export function lookupZero(fd: number): ProgramItem[] {
  return [
    stMem('w', R10, -4, 0),
    mov64Reg(R2, R10),
    alu64Imm('add', R2, -4),
    ldMapFd(R1, fd),
    call('map_lookup_elem'),
    jmpImm('jeq', R0, 0, 'out'),
  ];
}

/** The program's bytes for a target map. */
export function insertFilter(maps: FilterMaps, spec: MapSpec): Uint8Array {
  return assemble([
    ...lookupZero(maps.counter),
    mov64Reg(R7, R0),
    ldxMem('dw', R8, R7, 0),
    mov64Reg(R1, R8),
    alu64Imm('add', R1, 1),
    stxMem('dw', R7, R1, 0),
    ...lookupZero(maps.keyBuf),
    mov64Reg(R9, R0),
    ...storeKey(spec),
    ...lookupZero(maps.valueBuf),
    mov64Reg(R3, R0),
    mov64Reg(R2, R9),
    ldMapFd(R1, maps.target),
    mov64Imm(R4, 0), // BPF_ANY
    call('map_update_elem'),
    jmpImm('jne', R0, 0, 'fail'),
    ldxMem('dw', R1, R7, 8),
    alu64Imm('add', R1, 1),
    stxMem('dw', R7, R1, 8),
    ja('out'),
    label('fail'),
    ldxMem('dw', R1, R7, 16),
    alu64Imm('add', R1, 1),
    stxMem('dw', R7, R1, 16),
    stxMem('dw', R7, R0, 24),
    label('out'),
    mov64Imm(R0, 0), // drop the packet: it has been counted
    exit(),
  ]);
}

/** Decodes the counter map's value. */
export function readCounter(value: Uint8Array): { nextKey: number; inserted: number; failed: number; lastError: number } {
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  return {
    nextKey: Number(view.getBigUint64(0, true)),
    inserted: Number(view.getBigUint64(8, true)),
    failed: Number(view.getBigUint64(16, true)),
    lastError: Number(view.getBigInt64(24, true)),
  };
}

/** A counter value that starts keys at `nextKey`. */
export function counterValue(nextKey: number): Uint8Array {
  const value = new Uint8Array(COUNTER_VALUE_SIZE);
  new DataView(value.buffer).setBigUint64(0, BigInt(nextKey), true);
  return value;
}
