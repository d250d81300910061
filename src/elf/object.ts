import { parseBtf, type Btf } from '../btf/index.js';
import { countInitSlots, readBtfMaps } from './btf-maps.js';
import { readDataMaps, readKconfigMap } from './data-maps.js';
import { isCodeSection, isExtern, parseElf, quote, SHF, SHN_XINDEX, SHT, STB, STT, type ElfFile, type ElfSection, type ElfSymbol } from './elf.js';
import { progCode } from './subprogs.js';
import { DatasecFixup } from './fixup.js';
import { readLegacyMaps } from './legacy-maps.js';
import { checkProgRelos } from './relos.js';
import { objectName } from './names.js';
import { readStructOpsMaps } from './struct-ops.js';
import type { BpfObject, LibbpfGeneration, ObjectMap, ObjectProg } from './types.js';

/** Options of {@link parseBpfObject}. */
export interface ParseObjectOptions {
  /**
   * The object name libbpf would use (`bpf_object_open_opts.object_name`); by default it follows
   * from `source` as from a path (`bpf_object__new`). It prefixes `.data`, `.rodata`, `.bss` and
   * `.kconfig` map names.
   */
  readonly objectName?: string;
  /** Which libbpf generation to read it as (see {@link LibbpfGeneration}); `1.1+` by default. */
  readonly libbpf?: LibbpfGeneration;
}

/** `sizeof(struct bpf_insn)`. */
const INSN_SIZE = 8;

/**
 * Reads a compiled BPF object (`clang -target bpf -c`) as libbpf's `bpf_object__open()` does:
 * every map it will create, with the fields passed to BPF_MAP_CREATE, and every program.
 * Pure, and linear in the size of the bytes.
 *
 * @param bytes - the object file
 * @param source - its path or another name for messages; its base name is the object name
 * @throws BpfmemError('input', `${source}: <what is wrong>`) for anything that is not a BPF
 *   object it can read, and where libbpf would refuse the object's map definitions
 */
export function parseBpfObject(bytes: Uint8Array, source: string, options: ParseObjectOptions = {}): BpfObject {
  const elf = parseElf(bytes, source);
  // libbpf wants a symbol table before anything else ("couldn't find symbol table … stripped object file?").
  elf.symbols();
  checkSections(elf);
  checkCodeRelos(elf);
  const name = options.objectName ?? objectName(source);
  const libbpf = options.libbpf ?? '1.1+';
  const btf = readBtf(elf);
  const fixup = new DatasecFixup(elf, btf);

  const legacy = readLegacyMaps(elf);
  const btfMaps = readBtfMaps(elf, btf, fixup, libbpf);
  const slots = countInitSlots(elf, btfMaps.map((m) => m.place));
  const kconfig = readKconfigMap(elf, btf, fixup, name, libbpf);
  // bpf_object__init_maps: BTF-defined maps, global data, kconfig, struct_ops (legacy maps came first in libbpf 0.x).
  const maps: ObjectMap[] = [
    ...legacy,
    ...btfMaps.map(({ map }) => ({ ...map, initialEntries: slots.get(map.symbol) ?? 0 })),
    ...readDataMaps(elf, btf, fixup, name, libbpf),
    ...(kconfig ? [kconfig] : []),
    ...readStructOpsMaps(elf, btf, fixup, libbpf),
  ];
  const { progs, subprogs } = readProgs(elf);
  // bpf_object__collect_relos, after the maps and programs are known.
  checkProgRelos(elf, elf.sections.filter((s) => s.type === SHT.rel && !ignored(s)), libbpf);
  return { name, source, maps, progs, subprogs };
}

/**
 * Checks what `bpf_object__elf_collect` checks of every section it does not skip: its data lies
 * in the file (`elf_getdata`), `.BTF` is PROGBITS, and relocation sections have 16-byte entries
 * and target a section that exists.
 */
function checkSections(elf: ElfFile): void {
  for (const s of elf.sections) {
    if (s.index === 0 || ignored(s)) continue;
    elf.data(s);
    if ((s.name === '.BTF' || s.name === '.BTF.ext') && s.type !== SHT.progbits) throw elf.error(`section ${quote(s.name)} is not PROGBITS`);
    if (s.type === SHT.rel && (s.entsize !== 16 || s.info >= elf.sections.length)) {
      throw elf.error(`relocation section ${quote(s.name)}: ${s.entsize !== 16 ? `entries of ${s.entsize} bytes, not 16` : `targets section ${s.info}, which does not exist`}`);
    }
  }
}

/**
 * What `bpf_object__collect_prog_relos` checks of every relocation of an executable section
 * (libbpf src/libbpf.c, since 36cc591a "libbpf: Improve ELF relo sanitization", v0.6; the same in
 * 1.0, 1.1.2 and today) before it uses any: its symbol is in the symbol table ("symbol #N not
 * found for relo"), that symbol's `st_shndx` is a section of the file ("corrupted symbol #N
 * pointing to invalid section #X": SHN_XINDEX, SHN_ABS and every other reserved index among
 * them, as libbpf reads `st_shndx` raw), and its offset is an instruction of the section
 * ("invalid offset"). libbpf checks them all at open, whether or not a program is found at the
 * offset, so here too, for every such section and not only those of the programs read.
 * `.rel.maps` (countInitSlots) and struct_ops relocations are checked where they are read.
 */
function checkCodeRelos(elf: ElfFile): void {
  const symbols = elf.symbols();
  for (const s of elf.sections) {
    if (s.type !== SHT.rel || ignored(s)) continue;
    // bpf_object__elf_collect keeps relocations of executable sections; those of .maps go to
    // bpf_object__collect_map_relos (bpf_object__collect_relos), whatever the section's flags.
    const target = elf.sections[s.info];
    if (target === undefined || (target.flags & SHF.execinstr) === 0 || target.name === '.maps') continue;
    const size = target.type === SHT.nobits ? target.size : elf.data(target).byteLength;
    elf.rels(s).forEach((r, i) => {
      const where = `section ${quote(s.name)}: relocation ${i}`;
      const sym = symbols[r.symbol];
      if (sym === undefined) throw elf.error(`${where}: symbol ${r.symbol} is not in the ${symbols.length}-entry symbol table`);
      if (sym.shndx >= elf.sections.length) {
        const reserved = sym.shndx === SHN_XINDEX ? ' (SHN_XINDEX, which libbpf does not follow)' : sym.shndx >= 0xff00 ? ' (a reserved index)' : '';
        throw elf.error(`${where}: symbol ${r.symbol} (${quote(sym.name)}) points to section ${sym.shndx}${reserved}, not one of the ${elf.sections.length} sections`);
      }
      if (r.offset % INSN_SIZE !== 0 || r.offset >= size) {
        throw elf.error(`${where}: offset 0x${r.offset.toString(16)} is not an instruction of the ${size}-byte section ${quote(target.name)}`);
      }
    });
  }
}

/** `ignore_elf_section()`: string tables, `.llvm_addrsig`, an empty `.text`, DWARF and the relocations of DWARF and BTF. */
function ignored(s: ElfSection): boolean {
  if (s.type === SHT.strtab || s.type === SHT.llvmAddrsig) return true;
  if (s.type === SHT.progbits && s.size === 0 && s.name === '.text') return true;
  if (s.name.startsWith('.debug_')) return true;
  if (s.name.startsWith('.rel')) {
    const target = s.name.slice(4);
    return target.startsWith('.debug_') || target === '.BTF' || target === '.BTF.ext';
  }
  return false;
}

/**
 * The object's BTF. libbpf goes on without BTF it cannot parse unless it needs it
 * (`bpf_object__init_btf`, `libbpf_needs_btf`: `.maps`, struct_ops or externs), and so do we;
 * without BTF no global data map is mmapable.
 */
function readBtf(elf: ElfFile): Btf | undefined {
  const section = elf.section('.BTF');
  if (section === undefined) return undefined;
  const parsed = parseBtf(elf.data(section));
  if (parsed.ok) return parsed.value;
  if (needsBtf(elf)) throw elf.error(`.BTF: ${parsed.error}`);
  return undefined;
}

function needsBtf(elf: ElfFile): boolean {
  if (elf.sections.some((s) => s.name === '.maps' || /^\??\.struct_ops(\.link)?$/.test(s.name))) return true;
  return elf.symbols().some((s) => isExtern(s) && s.name !== '');
}

/**
 * `bpf_object__add_programs`: every FUNC symbol of a non-empty executable PROGBITS section is a
 * program, except in `.text`, where functions are subprograms. A program must lie inside its
 * section and, outside `.text`, be global ("program is static and not supported").
 */
function readProgs(elf: ElfFile): { progs: ObjectProg[]; subprogs: number } {
  const code = new Map<number, ElfSection>();
  for (const s of elf.sections) {
    if (isCodeSection(s)) code.set(s.index, s);
  }
  const found: { sym: ElfSymbol; section: ElfSection }[] = [];
  let subprogs = 0;
  if (code.size === 0) return { progs: [], subprogs };
  for (const sym of elf.symbols()) {
    const s = code.get(sym.shndx);
    if (s === undefined || sym.type !== STT.func) continue;
    if (sym.value + sym.size > s.size) throw elf.error(`program ${quote(sym.name)} at offset ${sym.value} of section ${quote(s.name)} runs past its end`);
    if (s.name === '.text') {
      subprogs++;
      continue;
    }
    if (sym.bind === STB.local) throw elf.error(`program ${quote(sym.name)} in section ${quote(s.name)} is static: libbpf does not support it`);
    found.push({ sym, section: s });
  }
  const loaded = progCode(elf, found);
  const progs = found.map(({ sym, section }, i) => {
    const c = loaded[i] ?? { subprogs: [], appended: 0, helperCalls: 0, divMods: 0 };
    return { name: sym.name, section: section.name, insns: Math.floor(sym.size / INSN_SIZE), ...c };
  });
  return { progs, subprogs };
}
