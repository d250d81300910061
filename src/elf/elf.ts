import { BpfmemError } from '../vocab/errors.js';

/*
 * An ELF64 little-endian reader for BPF relocatable objects (include/uapi/linux/elf.h, the System V
 * gABI): the header, the section headers and their names, the symbol table, and REL relocations.
 * Nothing else of ELF is read. Every offset and count is checked against the bytes there are
 * before it is used, so a file that claims more sections, symbols or bytes than it holds is an
 * error, never an allocation of the claimed size. Pure: runs in a browser too.
 */

/** `EM_BPF`. */
export const EM_BPF = 247;
/** `ET_REL`: what `clang -target bpf -c` writes. */
export const ET_REL = 1;

/** Section types read here (`SHT_*`). */
export const SHT = { null: 0, progbits: 1, symtab: 2, strtab: 3, rela: 4, nobits: 8, rel: 9, symtabShndx: 18, llvmAddrsig: 0x6fff4c03 } as const;
/** Section flags read here (`SHF_*`). */
export const SHF = { write: 0x1, alloc: 0x2, execinstr: 0x4 } as const;
/** Symbol types (`STT_*`), binds (`STB_*`) and visibilities (`STV_*`) read here. */
export const STT = { notype: 0, object: 1, func: 2, section: 3, file: 4 } as const;
export const STB = { local: 0, global: 1, weak: 2 } as const;
export const STV = { default: 0, internal: 1, hidden: 2, protected: 3 } as const;
/** `SHN_UNDEF`, and `SHN_XINDEX` (the real value is in section 0's header: extended numbering). */
export const SHN_UNDEF = 0;
export const SHN_XINDEX = 0xffff;

const EHDR_SIZE = 64;
const SHDR_SIZE = 64;
/** `sizeof(Elf64_Sym)`. */
export const SYM_SIZE = 24;
/** `sizeof(Elf64_Rel)`. */
export const REL_SIZE = 16;
/**
 * Longest section or symbol name read. C identifiers and section names are far shorter; the bound
 * keeps a hostile string table (every symbol naming one long run without a NUL) linear.
 */
const NAME_MAX = 4096;

/** A section header, with its name. Sizes and offsets are byte counts that fit a JS number. */
export interface ElfSection {
  readonly index: number;
  readonly name: string;
  readonly type: number;
  /** The low 32 bits of `sh_flags` (every `SHF_*` bpfmem reads is there). */
  readonly flags: number;
  readonly offset: number;
  readonly size: number;
  readonly link: number;
  readonly info: number;
  readonly entsize: number;
}

/** An `Elf64_Sym`, with its name. */
export interface ElfSymbol {
  readonly index: number;
  readonly name: string;
  /** `ELF64_ST_TYPE(st_info)`. */
  readonly type: number;
  /** `ELF64_ST_BIND(st_info)`. */
  readonly bind: number;
  /** `ELF64_ST_VISIBILITY(st_other)`. */
  readonly visibility: number;
  readonly shndx: number;
  readonly value: number;
  readonly size: number;
}

/** An `Elf64_Rel`. */
export interface ElfRel {
  readonly offset: number;
  /** `ELF64_R_SYM(r_info)`. */
  readonly symbol: number;
  /** `ELF64_R_TYPE(r_info)`. */
  readonly type: number;
}

const utf8 = new TextDecoder('utf-8');

/** A checked ELF64 LE object: make one with {@link parseElf}. */
export class ElfFile {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  readonly #source: string;
  readonly sections: readonly ElfSection[];
  readonly #byName = new Map<string, ElfSection>();
  #symbols: readonly ElfSymbol[] | undefined;

  /** @internal Use {@link parseElf}. */
  constructor(bytes: Uint8Array, source: string, sections: readonly ElfSection[]) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#source = source;
    this.sections = sections;
    for (const s of sections) if (!this.#byName.has(s.name)) this.#byName.set(s.name, s);
  }

  /** The first section named `name`, as libelf's lookups by name find it. */
  section(name: string): ElfSection | undefined {
    return this.#byName.get(name);
  }

  /**
   * The bytes of a section (empty for `SHT_NOBITS`, which has none in the file). An error when
   * they lie outside the file: libelf's `elf_getdata()` fails there, and so does libbpf.
   */
  data(section: ElfSection): Uint8Array {
    if (section.type === SHT.nobits) return new Uint8Array(0);
    if (section.offset > this.#bytes.byteLength || section.size > this.#bytes.byteLength - section.offset) {
      throw this.error(`section ${section.index} (${quote(section.name)}): ${section.size} bytes at offset ${section.offset} run past the end of the ${this.#bytes.byteLength}-byte file`);
    }
    return this.#bytes.subarray(section.offset, section.offset + section.size);
  }

  /**
   * The symbol table (`SHT_SYMTAB`), decoded once. libbpf wants exactly one
   * (`bpf_object__elf_collect`: "multiple symbol tables", "couldn't find symbol table").
   */
  symbols(): readonly ElfSymbol[] {
    if (this.#symbols) return this.#symbols;
    const tables = this.sections.filter((s) => s.type === SHT.symtab);
    if (tables.length === 0) throw this.error('no symbol table (a stripped object?)');
    if (tables.length > 1) throw this.error('more than one symbol table');
    const table = tables[0] as ElfSection;
    if (table.entsize !== SYM_SIZE) throw this.error(`symbol table entries are ${table.entsize} bytes, not ${SYM_SIZE}`);
    const strtab = this.sections[table.link];
    // libbpf reads symbol names with elf_strptr(), which libelf answers only from a SHT_STRTAB
    // section (elfutils elf_strptr(3): "The section must be of type SHT_STRTAB").
    if (strtab === undefined || table.link === SHN_UNDEF || strtab.type !== SHT.strtab) {
      throw this.error(`symbol table links to section ${table.link}, which is not a string table${strtab === undefined || table.link === SHN_UNDEF ? ' here' : ` (${sectionType(strtab.type)}, not SHT_STRTAB)`}`);
    }
    const data = this.data(table);
    const strings = this.data(strtab);
    const base = data.byteOffset - this.#bytes.byteOffset;
    const count = Math.floor(data.byteLength / SYM_SIZE);
    const symbols: ElfSymbol[] = [];
    for (let i = 0; i < count; i++) {
      const at = base + i * SYM_SIZE;
      const info = this.#view.getUint8(at + 4);
      symbols.push({
        index: i,
        name: this.#string(strings, this.#view.getUint32(at, true), () => `symbol ${i}`),
        type: info & 0xf,
        bind: info >>> 4,
        visibility: this.#view.getUint8(at + 5) & 0x3,
        shndx: this.#view.getUint16(at + 6, true),
        value: this.#u64(at + 8, () => `symbol ${i}: st_value`),
        size: this.#u64(at + 16, () => `symbol ${i}: st_size`),
      });
    }
    this.#symbols = symbols;
    return symbols;
  }

  /** The `Elf64_Rel` entries of a `SHT_REL` section (libbpf checks `sh_entsize`, and so do we). */
  rels(section: ElfSection): ElfRel[] {
    if (section.entsize !== REL_SIZE) throw this.error(`section ${quote(section.name)}: relocation entries are ${section.entsize} bytes, not ${REL_SIZE}`);
    const data = this.data(section);
    const base = data.byteOffset - this.#bytes.byteOffset;
    const out: ElfRel[] = [];
    for (let i = 0; i + REL_SIZE <= data.byteLength; i += REL_SIZE) {
      out.push({
        offset: this.#u64(base + i, () => `${section.name} relocation ${i / REL_SIZE}: r_offset`),
        type: this.#view.getUint32(base + i + 8, true),
        symbol: this.#view.getUint32(base + i + 12, true),
      });
    }
    return out;
  }

  /** A one-line input error about this file. */
  error(message: string): BpfmemError {
    return new BpfmemError('input', `${this.#source}: ${message}`);
  }

  #u64(at: number, what: () => string): number {
    return readU64(this.#view, at, () => this.error(`${what()} is beyond 2^53`));
  }

  /** The NUL-terminated string at `offset` of a string table's bytes. */
  #string(table: Uint8Array, offset: number, what: () => string): string {
    return readString(table, offset, (problem) => this.error(`${what()}: name ${problem}`));
  }
}

/** A u64 that fits a JS number exactly, or the error `tooBig()` gives. */
function readU64(view: DataView, at: number, tooBig: () => Error): number {
  const low = view.getUint32(at, true);
  const high = view.getUint32(at + 4, true);
  if (high > 0x1fffff) throw tooBig();
  return high * 2 ** 32 + low;
}

/** The string at `offset` of `table`, ended by a NUL inside the table and at most NAME_MAX bytes. */
function readString(table: Uint8Array, offset: number, fail: (problem: string) => Error): string {
  if (offset >= table.byteLength) {
    if (offset === 0) return '';
    throw fail(`offset ${offset} is beyond the ${table.byteLength}-byte string table`);
  }
  const limit = Math.min(table.byteLength, offset + NAME_MAX + 1);
  let end = offset;
  while (end < limit && table[end] !== 0) end++;
  if (end === limit) throw fail(end === table.byteLength ? `at offset ${offset} is not NUL-terminated inside its string table` : `at offset ${offset} is longer than ${NAME_MAX} bytes`);
  return utf8.decode(table.subarray(offset, end));
}

/** A section of BPF code: non-empty PROGBITS with SHF_EXECINSTR, as libbpf sorts them (`SEC_TEXT`). */
export const isCodeSection = (s: ElfSection): boolean => s.type === SHT.progbits && (s.flags & SHF.execinstr) !== 0 && s.size > 0;

/** libbpf's `sym_is_extern`: a NOTYPE symbol, global or weak, in no section. */
export const isExtern = (sym: ElfSymbol): boolean => sym.shndx === SHN_UNDEF && (sym.bind === STB.global || sym.bind === STB.weak) && sym.type === STT.notype;

/** `"name"` for messages, control characters escaped. */
export function quote(name: string): string {
  return JSON.stringify(name.length > 64 ? `${name.slice(0, 64)}…` : name);
}

/**
 * Checks the ELF header of a BPF object and reads its section headers and their names. An error
 * (`BpfmemError('input')`, one line, naming `source`) for anything but an ELF64 little-endian
 * relocatable object for EM_BPF whose section table lies inside the file.
 */
export function parseElf(bytes: Uint8Array, source: string): ElfFile {
  const error = (message: string): BpfmemError => new BpfmemError('input', `${source}: ${message}`);
  if (bytes.byteLength < 4 || bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46) {
    throw error('not an ELF file (no \\x7fELF magic)');
  }
  if (bytes.byteLength < EHDR_SIZE) throw error(`truncated: ${bytes.byteLength} bytes is shorter than the ${EHDR_SIZE}-byte ELF64 header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const elfClass = view.getUint8(4);
  if (elfClass !== 2) throw error(`ELF class ${elfClass === 1 ? 'ELFCLASS32' : elfClass}: a BPF object is ELFCLASS64`);
  const data = view.getUint8(5);
  if (data === 2) throw error('big-endian ELF (ELFDATA2MSB): only little-endian BPF objects are read');
  if (data !== 1) throw error(`ELF data encoding ${data} is neither little- nor big-endian`);
  const machine = view.getUint16(18, true);
  if (machine !== EM_BPF) throw error(`ELF machine ${machine}${machineName(machine)}, not EM_BPF (247): not a BPF object`);
  const type = view.getUint16(16, true);
  if (type !== ET_REL) throw error(`ELF type ${type}${type === 2 ? ' (executable)' : type === 3 ? ' (shared object)' : ''}, not ET_REL: a BPF object is relocatable`);
  const tooBig = (what: string) => (): BpfmemError => error(`${what} is beyond 2^53`);
  const shoff = readU64(view, 40, tooBig('e_shoff'));
  const shentsize = view.getUint16(58, true);
  let shnum = view.getUint16(60, true);
  let shstrndx = view.getUint16(62, true);
  if (shoff === 0) throw error('no section header table (e_shoff is 0)');
  if (shentsize !== SHDR_SIZE) throw error(`section headers are ${shentsize} bytes (e_shentsize), not ${SHDR_SIZE}`);
  if (shoff > bytes.byteLength - SHDR_SIZE) throw error(`section header table at offset ${shoff} is beyond the end of the ${bytes.byteLength}-byte file`);
  // Extended numbering (gABI): more than 0xff00 sections put the counts in section 0's header.
  if (shnum === 0) shnum = readU64(view, shoff + 32, tooBig('section 0 sh_size (the section count)'));
  if (shstrndx === SHN_XINDEX) shstrndx = view.getUint32(shoff + 40, true);
  if (shnum > (bytes.byteLength - shoff) / SHDR_SIZE) {
    throw error(`section header table of ${shnum} entries at offset ${shoff} runs past the end of the ${bytes.byteLength}-byte file`);
  }
  if (shstrndx === SHN_UNDEF || shstrndx >= shnum) throw error(`section name table index ${shstrndx} is not one of the ${shnum} sections`);

  const headers: Omit<ElfSection, 'name'>[] = [];
  const nameOffsets: number[] = [];
  for (let i = 0; i < shnum; i++) {
    const at = shoff + i * SHDR_SIZE;
    const field = (off: number, name: string): number => readU64(view, at + off, tooBig(`section ${i} ${name}`));
    nameOffsets.push(view.getUint32(at, true));
    headers.push({
      index: i,
      type: view.getUint32(at + 4, true),
      flags: view.getUint32(at + 8, true),
      offset: field(24, 'sh_offset'),
      size: field(32, 'sh_size'),
      link: view.getUint32(at + 40, true),
      info: view.getUint32(at + 44, true),
      entsize: field(56, 'sh_entsize'),
    });
  }
  const strtab = headers[shstrndx];
  if (strtab === undefined || strtab.type === SHT.nobits || strtab.offset > bytes.byteLength || strtab.size > bytes.byteLength - strtab.offset) {
    throw error(`section name table (section ${shstrndx}) lies outside the file`);
  }
  // libbpf names sections with elf_strptr(shstrndx, …), which libelf answers only from a
  // SHT_STRTAB section (elfutils elf_strptr(3)): from any other, bpf_object__elf_collect fails
  // with "failed to get section name string" (libbpf src/libbpf.c elf_sec_str), and so here.
  if (strtab.type !== SHT.strtab) throw error(`section name table (section ${shstrndx}, e_shstrndx) is ${sectionType(strtab.type)}, not a string table (SHT_STRTAB)`);
  const names = bytes.subarray(strtab.offset, strtab.offset + strtab.size);
  const sections = headers.map((h, i) => ({
    ...h,
    name: i === 0 ? '' : readString(names, nameOffsets[i] ?? 0, (problem) => error(`section ${i}: name ${problem}`)),
  }));
  return new ElfFile(bytes, source, sections);
}

/** `SHT_SYMTAB` for the section types read here, `section type 0x70000001` for others. */
export function sectionType(type: number): string {
  const name = Object.entries(SHT).find(([, v]) => v === type)?.[0];
  const names: Readonly<Record<string, string>> = { symtabShndx: 'SYMTAB_SHNDX', llvmAddrsig: 'LLVM_ADDRSIG' };
  return name === undefined ? `section type 0x${type.toString(16)}` : `SHT_${names[name] ?? name.toUpperCase()}`;
}

/** ` (x86-64)` for machines people are likely to hand over by mistake. */
function machineName(machine: number): string {
  const names: Readonly<Record<number, string>> = { 3: 'x86', 40: 'ARM', 62: 'x86-64', 183: 'AArch64', 243: 'RISC-V' };
  const name = names[machine];
  return name === undefined ? '' : ` (${name})`;
}
