import { encodeBtf } from '../../src/btf/index.js';
import { btfLoad } from '../../src/sys/bpf/index.js';

/**
 * A BTF object holding one `int`, loaded: its fd. kernel/bpf/syscall.c map_create wants a valid
 * btf_fd with btf_vmlinux_value_type_id ("the bpf_prog.o must have BTF to begin with"): this stands
 * in for an object's BTF when a test creates a struct_ops map.
 */
export function loadBtf(): number {
  return btfLoad(encodeBtf([{ kind: 'int', name: 'int', size: 4, signed: true, char: false, bool: false, bitOffset: 0, bits: 32 }]));
}
