import { encodeBtf } from '../../src/btf/index.js';
import { tryBpfSyscall } from '../../src/sys/bpf/index.js';
import { addressOf } from '../../src/sys/bpf/libc.js';

/**
 * BPF_BTF_LOAD of a BTF blob holding one `int`: btf 0 (pointer), btf_log_buf 8, btf_size 16,
 * btf_log_size 20, btf_log_level 24 (include/uapi/linux/bpf.h). Its fd. kernel/bpf/syscall.c
 * map_create wants a valid btf_fd with btf_vmlinux_value_type_id ("the bpf_prog.o must have BTF
 * to begin with"): this stands in for an object's BTF when a test creates a struct_ops map.
 */
export function loadBtf(): number {
  const encoded = encodeBtf([{ kind: 'int', name: 'int', size: 4, signed: true, char: false, bool: false, bitOffset: 0, bits: 32 }]);
  const bytes = new Uint8Array(new ArrayBuffer(encoded.byteLength));
  bytes.set(encoded);
  const attr = new Uint8Array(new ArrayBuffer(32));
  const view = new DataView(attr.buffer);
  view.setBigUint64(0, addressOf(bytes), true);
  view.setUint32(16, bytes.byteLength, true);
  const r = tryBpfSyscall('BPF_BTF_LOAD', attr);
  if (!r.ok) throw new Error(`BPF_BTF_LOAD: errno ${r.errno}`);
  return r.value;
}
