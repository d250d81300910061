import { isCodeSection, quote, SHT, STT, type ElfFile, type ElfSection, type ElfSymbol } from './elf.js';

/*
 * What libbpf appends to each program at load: the `.text` subprograms it calls, directly or
 * through other subprograms, each once (libbpf src/libbpf.c: bpf_object__relocate →
 * bpf_object__reloc_code, which walks a program's instructions, finds each BPF_PSEUDO_CALL and
 * BPF_PSEUDO_FUNC target by `find_prog_by_sec_insn` in `.text`, and appends a subprogram not yet
 * appended with bpf_object__append_subprog_code, then walks it in turn). Also counts the helper
 * calls of the whole program, which the verifier may rewrite into several instructions.
 */

/** `BPF_JMP | BPF_CALL`, `BPF_LD | BPF_IMM | BPF_DW` (include/uapi/linux/bpf.h). */
const CALL = 0x85;
const LD_IMM64 = 0x18;
/** `src_reg` of a call to a BPF function, and of an ld_imm64 of a function's address. */
const BPF_PSEUDO_CALL = 1;
const BPF_PSEUDO_FUNC = 4;
const INSN = 8;
/** Most call edges and subprogram visits followed in one object, so a hostile object stays cheap. */
const WORK_LIMIT = 10_000_000;

/** What one program becomes at load. */
export interface ProgCode {
  /** The `.text` subprograms appended, by symbol, in libbpf's order. */
  readonly subprogs: readonly string[];
  /** Their instructions, appended after the program's own. */
  readonly appended: number;
  /** Calls to helpers and kfuncs in the program and its subprograms (not BPF-to-BPF calls). */
  readonly helperCalls: number;
  /** Divisions and modulos by a register in them, which the verifier guards with a few instructions each. */
  readonly divMods: number;
}

interface Fn {
  readonly name: string;
  readonly start: number;
  readonly insns: number;
  /** `.text` instruction indexes it calls or takes the address of. */
  readonly targets: number[];
  helperCalls: number;
  divMods: number;
}

/**
 * `find_prog_by_sec_insn`: of functions sorted by start (clang's do not overlap), the one whose
 * instructions, from its `start` to `end(fn)`, hold instruction `insn`.
 */
export function functionAt<T extends { readonly start: number }>(sorted: readonly T[], insn: number, end: (fn: T) => number): T | undefined {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const f = sorted[mid] as T;
    if (insn < f.start) hi = mid - 1;
    else if (insn >= end(f)) lo = mid + 1;
    else return f;
  }
  return undefined;
}

/**
 * For each program (by symbol, `section` and offset given), what libbpf appends. Throws a
 * one-line input error for a call libbpf would refuse (a target outside `.text`, or inside no
 * subprogram).
 */
export function progCode(elf: ElfFile, progs: readonly { readonly sym: ElfSymbol; readonly section: ElfSection }[]): ProgCode[] {
  const text = elf.sections.find((s) => s.name === '.text' && isCodeSection(s));
  const symbols = elf.symbols();
  // Subprograms: FUNC symbols of .text, by start instruction.
  const subs = new Map<number, Fn>();
  const subList: Fn[] = [];
  if (text) {
    for (const sym of symbols) {
      if (sym.shndx !== text.index || sym.type !== STT.func) continue;
      const fn: Fn = { name: sym.name, start: sym.value / INSN, insns: Math.floor(sym.size / INSN), targets: [], helperCalls: 0, divMods: 0 };
      if (!subs.has(fn.start)) subs.set(fn.start, fn);
      subList.push(fn);
    }
  }
  // Relocations of each code section, by instruction offset.
  const relocs = new Map<number, Map<number, ElfSymbol>>();
  const relocsOf = (s: ElfSection): Map<number, ElfSymbol> => {
    let m = relocs.get(s.index);
    if (m) return m;
    m = new Map();
    const rel = elf.sections.find((r) => r.type === SHT.rel && r.info === s.index && r.name === `.rel${s.name}`);
    if (rel) {
      for (const r of elf.rels(rel)) {
        const sym = symbols[r.symbol];
        if (sym) m.set(r.offset, sym);
      }
    }
    relocs.set(s.index, m);
    return m;
  };
  const scan = (fn: Fn, section: ElfSection, byteStart: number): void => {
    const data = elf.data(section);
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const rels = relocsOf(section);
    for (let i = 0; i < fn.insns; i++) {
      const at = byteStart + i * INSN;
      if (at + INSN > data.byteLength) break;
      const code = view.getUint8(at);
      const src = view.getUint8(at + 1) >>> 4;
      const imm = view.getInt32(at + 4, true);
      const isCall = code === CALL && src === BPF_PSEUDO_CALL;
      const isFunc = code === LD_IMM64 && src === BPF_PSEUDO_FUNC;
      if (code === CALL && !isCall) fn.helperCalls++;
      // BPF_ALU/BPF_ALU64 | BPF_DIV/BPF_MOD | BPF_X: do_misc_fixups guards each against a zero divisor.
      const cls = code & 0x07;
      if ((cls === 0x04 || cls === 0x07) && (code & 0x08) !== 0 && ((code & 0xf0) === 0x30 || (code & 0xf0) === 0x90)) fn.divMods++;
      if (!isCall && !isFunc) continue;
      const sym = rels.get(at);
      let target: number;
      if (sym) {
        if (text === undefined || sym.shndx !== text.index) throw elf.error(`${quote(fn.name)}: a call at instruction ${i} to ${quote(sym.name)}, outside .text`);
        // bpf_object__reloc_code: RELO_CALL `sym_off / 8 + imm + 1`, RELO_SUBPROG_ADDR `(sym_off + imm) / 8`.
        target = isCall ? sym.value / INSN + imm + 1 : (sym.value + imm) / INSN;
      } else {
        if (section !== text) continue; // unrelocated calls in a program's own section are not subprograms libbpf appends
        target = byteStart / INSN + i + imm + 1;
      }
      fn.targets.push(target);
    }
  };
  if (text) for (const fn of subList) scan(fn, text, fn.start * INSN);
  // A call's target is the start of a subprogram, which holds it even if the symbol's size is 0.
  const sorted = [...subs.values()].sort((a, b) => a.start - b.start);
  const find = (insn: number): Fn | undefined => functionAt(sorted, insn, (f) => f.start + Math.max(f.insns, 1));
  let work = 0;
  return progs.map(({ sym, section }) => {
    const main: Fn = { name: sym.name, start: sym.value / INSN, insns: Math.floor(sym.size / INSN), targets: [], helperCalls: 0, divMods: 0 };
    scan(main, section, sym.value);
    const appended: Fn[] = [];
    const seen = new Set<Fn>();
    const stack = [...main.targets].reverse();
    let helperCalls = main.helperCalls;
    let divMods = main.divMods;
    while (stack.length) {
      if (++work > WORK_LIMIT) throw elf.error(`more than ${WORK_LIMIT} subprogram calls to follow: not an object bpfmem reads`);
      const target = stack.pop() as number;
      const fn = find(target);
      if (fn === undefined) throw elf.error(`program ${quote(sym.name)} calls .text instruction ${target}, which is in no subprogram`);
      if (seen.has(fn)) continue;
      seen.add(fn);
      appended.push(fn);
      helperCalls += fn.helperCalls;
      divMods += fn.divMods;
      for (let k = fn.targets.length - 1; k >= 0; k--) stack.push(fn.targets[k] as number);
    }
    return { subprogs: appended.map((f) => f.name), appended: appended.reduce((n, f) => n + f.insns, 0), helperCalls, divMods };
  });
}
