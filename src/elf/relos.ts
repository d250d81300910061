import { dataKind } from './data-maps.js';
import { isCodeSection, isExtern, quote, SHN_UNDEF, SHT, STB, STT, type ElfFile, type ElfSection, type ElfSymbol } from './elf.js';
import { functionAt } from './subprogs.js';
import type { LibbpfGeneration } from './types.js';

/*
 * What libbpf refuses in the relocations of a program's instructions when it opens an object
 * (libbpf src/libbpf.c: bpf_object__collect_prog_relos → bpf_program__record_reloc, the same
 * checks in 1.0, 1.1.2 and today): a relocation must sit on a call or a 64-bit load, and its
 * symbol must be an extern, a `.text` function, or lie in a section that libbpf made a map of
 * (`.maps`, the legacy `maps`, or a global data section). Anything else fails the open with
 * "bad map relo" or "bad data relo": a variable placed in a section of the programmer's own
 * naming (`SEC(".foo") int x;`), or in a `.bss.*` section, which libbpf before 1.1 does not make
 * a map of (Debian 12's bpftool 7.1: "prog 'p': bad map relo against 'x' in section
 * '.bss.hidden'", then "failed to open BPF object file: Relocation failed").
 *
 * Only relocations of instructions inside some function are checked: libbpf skips the others
 * ("couldn't find program … probably overridden weak function"). Which section each symbol
 * points to, and that each offset is an instruction, object.ts's checkCodeRelos has checked.
 */

/** `BPF_JMP | BPF_CALL`, `BPF_LD | BPF_IMM | BPF_DW` (include/uapi/linux/bpf.h). */
const CALL = 0x85;
const LD_IMM64 = 0x18;
/** `src_reg` of a call to a BPF function. */
const BPF_PSEUDO_CALL = 1;
const INSN = 8;
/** `SHN_LORESERVE`: section indexes from here on are special (SHN_ABS, SHN_COMMON, …). */
const SHN_LORESERVE = 0xff00;
/** The section of arena globals (`__arena`, libbpf 1.4+: `ARENA_SEC`), a data relocation of the arena map. */
const ARENA_SEC = '.addr_space.1';

/** A function of a code section: its instructions [start, end), for `find_prog_by_sec_insn`. */
interface Fn {
  readonly name: string;
  readonly start: number;
  readonly end: number;
}

/**
 * Throws a one-line input error for the first relocation of a program's instructions that
 * libbpf of generation `libbpf` refuses at open. `relSections`: the relocation sections libbpf
 * does not ignore (those of DWARF and BTF it does).
 */
export function checkProgRelos(elf: ElfFile, relSections: readonly ElfSection[], libbpf: LibbpfGeneration): void {
  const symbols = elf.symbols();
  const text = elf.sections.find((s) => s.name === '.text' && isCodeSection(s));
  const fns = functionsByCodeSection(elf, symbols);
  for (const rel of relSections) {
    const target = elf.sections[rel.info];
    const inTarget = target === undefined ? undefined : fns.get(target.index);
    if (target === undefined || inTarget === undefined) continue;
    const data = elf.data(target);
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    for (const r of elf.rels(rel)) {
      // prog_contains_insn: a function of size 0 holds no instruction.
      const fn = functionAt(inTarget, r.offset / INSN, (f) => f.end);
      const sym = symbols[r.symbol];
      if (fn === undefined || sym === undefined || r.offset + INSN > data.byteLength) continue;
      const fail = (what: string): Error => elf.error(`program ${quote(fn.name)}, instruction ${r.offset / INSN - fn.start}: ${what}; libbpf refuses to open such an object`);
      const code = view.getUint8(r.offset);
      const src = view.getUint8(r.offset + 1) >>> 4;
      const name = symbolName(elf, sym);
      if (code !== CALL && code !== LD_IMM64) throw fail(`a relocation against ${quote(name)} on opcode 0x${code.toString(16)}, neither a call nor a 64-bit load`);
      if (isExtern(sym)) continue;
      if (code === CALL) {
        if (src !== BPF_PSEUDO_CALL) throw fail(`a relocation against ${quote(name)} on a helper call ("incorrect bpf_call opcode")`);
        if (text === undefined || sym.shndx !== text.index) throw fail(`a call to ${quote(name)}, which is not a function of .text`);
        continue;
      }
      if (sym.shndx === SHN_UNDEF || sym.shndx >= SHN_LORESERVE) throw fail(`${quote(name)} is in special section 0x${sym.shndx.toString(16)} (a global variable left uninitialized?)`);
      if (text !== undefined && sym.shndx === text.index && ((sym.bind === STB.local && sym.type === STT.section) || (sym.bind === STB.global && sym.type === STT.func))) continue;
      const section = elf.sections[sym.shndx] as ElfSection;
      if (holdsMaps(section, libbpf)) continue;
      throw fail(`${quote(name)} is in section ${quote(section.name)}, ${whyNoMap(section, libbpf)}`);
    }
  }
}

/** libbpf names a section symbol (a static function's or variable's relocation) by its section. */
function symbolName(elf: ElfFile, sym: ElfSymbol): string {
  if (sym.type === STT.section && sym.name === '') return elf.sections[sym.shndx]?.name ?? '<?>';
  return sym.name;
}

/** The FUNC symbols of each code section, by start: libbpf's programs and subprograms. */
function functionsByCodeSection(elf: ElfFile, symbols: readonly ElfSymbol[]): Map<number, Fn[]> {
  const out = new Map<number, Fn[]>();
  for (const s of elf.sections) if (isCodeSection(s)) out.set(s.index, []);
  for (const sym of symbols) {
    const fns = out.get(sym.shndx);
    if (fns === undefined || sym.type !== STT.func) continue;
    const start = Math.floor(sym.value / INSN);
    fns.push({ name: sym.name, start, end: start + Math.floor(sym.size / INSN) });
  }
  for (const fns of out.values()) fns.sort((a, b) => a.start - b.start);
  return out;
}

/**
 * Whether libbpf makes a map of the section a program's variable lies in: `.maps` (BTF-defined
 * maps), `maps` (legacy definitions, read for the loaders that still take them), a global data
 * section ({@link dataKind}: empty ones make no map), or, in 1.1+, the arena's globals.
 */
function holdsMaps(s: ElfSection, libbpf: LibbpfGeneration): boolean {
  if (s.name === '.maps' || s.name === 'maps') return true;
  if (dataKind(s, libbpf) !== undefined) return true;
  return libbpf === '1.1+' && s.name === ARENA_SEC && s.type === SHT.progbits;
}

function whyNoMap(s: ElfSection, libbpf: LibbpfGeneration): string {
  if (s.type === SHT.nobits && s.name.startsWith('.bss.') && libbpf === '1.0') return 'of which libbpf before 1.1 makes no map (only of .bss)';
  if (s.size === 0 && dataKind({ ...s, size: 1 }, libbpf) !== undefined) return 'which is empty, so no map holds it';
  return 'of which libbpf makes no map (variables belong in .data, .rodata, .bss or sections named like .data.*)';
}
