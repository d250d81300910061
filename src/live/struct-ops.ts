import { kernelStructOps } from '../elf/struct-ops.js';
import { vmlinuxBtf } from '../sys/bpf/index.js';

/** A struct_ops type of the running kernel: what a map of it is made of. */
export interface KernelStructOps {
  /** The kernel struct (`tcp_congestion_ops`). */
  readonly type: string;
  /** The size of its value type, `struct bpf_struct_ops_<type>`: the map's value_size. */
  readonly valueSize: number;
  /** Its function pointers (`count_func_ptrs`), which the map's memory counts. */
  readonly funcs: number;
}

/**
 * `type` as the running kernel's BTF has it, or undefined when the kernel has no such struct_ops
 * (no BTF, or a kernel without it). tcp_congestion_ops is in every kernel bpfmem models (5.6+).
 */
export async function kernelStructOpsOf(type = 'tcp_congestion_ops'): Promise<KernelStructOps | undefined> {
  try {
    const found = kernelStructOps(await vmlinuxBtf(), type);
    return found && { type, ...found };
  } catch {
    return undefined;
  }
}
