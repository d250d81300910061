import { kernelStructOps, type KernelStructOps } from '../elf/struct-ops.js';
import { vmlinuxBtf } from '../sys/bpf/index.js';

/**
 * `type` as the running kernel's BTF has it, or undefined when the kernel has no such struct_ops
 * (no BTF, or a kernel without it). tcp_congestion_ops is in every kernel bpfmem models (5.6+).
 */
export async function kernelStructOpsOf(type = 'tcp_congestion_ops'): Promise<KernelStructOps | undefined> {
  try {
    return kernelStructOps(await vmlinuxBtf(), type);
  } catch {
    return undefined;
  }
}
