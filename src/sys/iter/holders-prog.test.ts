import { describe, expect, it } from 'vitest';
import { assemble, disassemble, HELPERS, type Insn } from '../../asm/index.js';
import { BTF_KINDS } from '../bpf/btf.js';
import { buildCalibrationProgram, buildHolderProgram, readTaskFileLayout, TASK_FILE_CTX, type TaskFileLayout } from './holders-prog.js';

/** A BTF blob (uapi/btf.h) with structs of named members at given byte offsets, all of type 1 (int), and funcs. */
function btf(structs: Record<string, Record<string, number>>, funcs: string[]): Uint8Array {
  const strings: string[] = [];
  const str = (s: string): number => {
    let at = 1;
    for (const t of strings) {
      if (t === s) return at;
      at += new TextEncoder().encode(t).length + 1;
    }
    strings.push(s);
    return at;
  };
  const info = (kind: number, vlen: number): number => (kind << 24) | vlen;
  const words: number[] = [str('int'), info(BTF_KINDS.int, 0), 8, 0x40];
  for (const [name, members] of Object.entries(structs)) {
    const entries = Object.entries(members);
    words.push(str(name), info(BTF_KINDS.struct, entries.length), 4096);
    for (const [m, off] of entries) words.push(str(m), 1, off * 8);
  }
  words.push(0, info(BTF_KINDS.func_proto, 0), 1);
  const proto = 2 + Object.keys(structs).length;
  for (const f of funcs) words.push(str(f), info(BTF_KINDS.func, 0), proto);
  const strBytes = new TextEncoder().encode('\0' + strings.map((s) => s + '\0').join(''));
  const out = new Uint8Array(24 + words.length * 4 + strBytes.length);
  const v = new DataView(out.buffer);
  v.setUint16(0, 0xeb9f, true);
  v.setUint8(2, 1);
  v.setUint32(4, 24, true);
  v.setUint32(12, words.length * 4, true);
  v.setUint32(16, words.length * 4, true);
  v.setUint32(20, strBytes.length, true);
  for (const [i, w] of words.entries()) v.setUint32(24 + i * 4, w, true);
  out.set(strBytes, 24 + words.length * 4);
  return out;
}

/** The offsets of Linux 6.18 x86-64 (read from its /sys/kernel/btf/vmlinux). */
const STRUCTS = {
  file: { f_lock: 4, f_op: 8, private_data: 24 },
  task_struct: { pid: 1264, tgid: 1268, group_leader: 1328, comm: 1752 },
  bpf_map: { ops: 0, id: 92 },
  bpf_prog: { aux: 80 },
  bpf_prog_aux: { id: 32 },
  bpf_iter__task_file: { fd: 16 },
};
const FUNCS = ['bpf_iter_bpf_map', 'bpf_iter_task_file'];

describe('readTaskFileLayout', () => {
  it('reads every offset and the attach BTF id from BTF', () => {
    expect(readTaskFileLayout(btf(STRUCTS, FUNCS))).toEqual({
      // int 1, six structs 2–7, the func_proto 8, the funcs 9 and 10.
      attachBtfId: 10,
      file: { f_op: 8, private_data: 24 },
      task: { tgid: 1268, group_leader: 1328, comm: 1752 },
      bpfMap: { id: 92 },
      bpfProg: { aux: 80 },
      bpfProgAux: { id: 32 },
    });
  });

  it('names the function a kernel without task_file iterators lacks', () => {
    expect(() => readTaskFileLayout(btf(STRUCTS, ['bpf_iter_bpf_map']))).toThrow('kernel BTF has no function bpf_iter_task_file (task_file iterators are 5.8+)');
  });

  it.each([
    ['file', 'f_op'],
    ['task_struct', 'comm'],
    ['bpf_prog_aux', 'id'],
  ] as const)('names a missing member: %s.%s', (struct, member) => {
    const structs: Record<string, Record<string, number>> = { ...STRUCTS, [struct]: Object.fromEntries(Object.entries(STRUCTS[struct]).filter(([m]) => m !== member)) };
    expect(() => readTaskFileLayout(btf(structs, FUNCS))).toThrow(`kernel BTF has no member ${member} of struct ${struct}`);
  });

  it('refuses a context whose fd is not where the verifier expects it', () => {
    expect(() => readTaskFileLayout(btf({ ...STRUCTS, bpf_iter__task_file: { fd: 20 } }, FUNCS))).toThrow(/bpf_iter__task_file.fd at 20, not 16/);
  });
});

const LAYOUT: TaskFileLayout = readTaskFileLayout(btf(STRUCTS, FUNCS));
const FOPS = { map: 0xffff_ffff_82a1_c2a0n, prog: 0xffff_ffff_82a1_c3c0n };

const isLoad = (i: Insn, src: number, off: number): boolean => i.opcode.class === 'ldx' && i.src === src && i.off === off;
const calls = (insns: Insn[]): number[] => insns.filter((i) => i.opcode.class === 'jmp' && 'op' in i.opcode && i.opcode.op === 'call').map((i) => i.imm);

describe('buildHolderProgram', () => {
  const insns = disassemble(assemble(buildHolderProgram(LAYOUT, FOPS)));

  it('compares file->f_op with the two addresses, loaded with ld_imm64', () => {
    const wide = insns.filter((i) => i.opcode.class === 'ld');
    expect(wide.map((i) => BigInt.asUintN(32, BigInt(i.imm)) | (BigInt.asUintN(32, BigInt(i.imm2 ?? 0)) << 32n))).toEqual([FOPS.map, FOPS.prog]);
    expect(insns.some((i) => isLoad(i, 8, LAYOUT.file.f_op))).toBe(true);
  });

  it('reads the context where the kernel puts task, fd and file', () => {
    expect(insns.some((i) => isLoad(i, 6, TASK_FILE_CTX.task))).toBe(true);
    expect(insns.some((i) => isLoad(i, 6, TASK_FILE_CTX.file))).toBe(true);
    expect(insns.some((i) => isLoad(i, 6, TASK_FILE_CTX.fd) && 'size' in i.opcode && i.opcode.size === 'w')).toBe(true);
  });

  it('reads tgid and group_leader from the task at their BTF offsets', () => {
    expect(insns.some((i) => isLoad(i, 7, LAYOUT.task.tgid))).toBe(true);
    expect(insns.some((i) => isLoad(i, 7, LAYOUT.task.group_leader))).toBe(true);
  });

  it('calls probe_read_kernel for the ids, probe_read_kernel_str for comm and seq_write once', () => {
    expect(calls(insns)).toEqual([HELPERS.probe_read_kernel, HELPERS.probe_read_kernel, HELPERS.probe_read_kernel, HELPERS.probe_read_kernel_str, HELPERS.seq_write]);
  });

  it('returns 0 on every path (iterator programs must)', () => {
    const last = insns.slice(-2);
    expect(last.map((i) => [i.opcode.class, i.imm])).toEqual([['alu64', 0], ['jmp', 0]]);
  });
});

describe('buildCalibrationProgram', () => {
  const insns = disassemble(assemble(buildCalibrationProgram(LAYOUT)));

  it('keeps to the reading process (get_current_pid_tgid) and writes fd and f_op', () => {
    expect(calls(insns)).toEqual([HELPERS.get_current_pid_tgid, HELPERS.seq_write]);
    expect(insns.some((i) => isLoad(i, 8, LAYOUT.file.f_op))).toBe(true);
    expect(insns.some((i) => i.opcode.class === 'ld')).toBe(false);
  });
});
