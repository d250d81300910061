/**
 * The eBPF instruction encoder: instructions as values, labels, and {@link assemble} to the bytes
 * `BPF_PROG_LOAD` takes. Pure: no Node built-ins, no FFI (like cilium/ebpf's `asm` package).
 */
export * from './opcode.js';
export * from './helpers.js';
export * from './insn.js';
export { assemble, disassemble, INSN_SIZE } from './assemble.js';
