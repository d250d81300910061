import { describe, expect, it } from 'vitest';
import { encodeBtf, type BtfTypeSpec } from '../btf/index.js';
import { BpfmemError } from '../vocab/errors.js';
import { fixtureBytes, toolchain } from '../../test/fixtures/bpf/build.js';
import { writeElf, type ElfSpec, type SectionSpec, type SymbolSpec } from '../../test/fixtures/bpf/elf-writer.js';
import { internalMapName, kernelName, kernelNameRefusal, objectName, parseBpfObject, type ParseObjectOptions } from './index.js';

/** The one-line input error parseBpfObject gives for `bytes`, or a failure if it gives none. */
function errorOf(bytes: Uint8Array, source = 'x.o', options: ParseObjectOptions = {}): string {
  try {
    parseBpfObject(bytes, source, options);
  } catch (error) {
    expect(error).toBeInstanceOf(BpfmemError);
    const e = error as BpfmemError;
    expect(e.code).toBe('input');
    expect(e.message).not.toContain('\n');
    expect(e.message.startsWith(`${source}: `)).toBe(true);
    return e.message;
  }
  throw new Error('parseBpfObject accepted it');
}

const int = (name: string, size = 4): BtfTypeSpec => ({ kind: 'int', name, size, signed: true, char: false, bool: false, bitOffset: 0, bits: 8 * size });
const member = (name: string, type: number, bitOffset: number) => ({ name, type, bitOffset, bitfieldSize: 0 });

/**
 * An object with one `.maps` variable `m`: `struct { __uint(type, 1); __uint(max_entries, 10); __type(key, <key>); }`
 * where `keyTypes` come after the fixed types (ids 1–5) and `key` is the id of the key's pointee.
 */
function mapObject(keyTypes: readonly BtfTypeSpec[], key: number, extra: Partial<ElfSpec> & { members?: readonly { name: string; type: number }[] } = {}): Uint8Array {
  const types: BtfTypeSpec[] = [
    /* 1 */ int('int'),
    /* 2 */ { kind: 'array', name: '', type: 1, indexType: 1, nelems: 1 },
    /* 3 */ { kind: 'ptr', name: '', type: 2 },
    /* 4 */ { kind: 'array', name: '', type: 1, indexType: 1, nelems: 10 },
    /* 5 */ { kind: 'ptr', name: '', type: 4 },
    ...keyTypes,
  ];
  const ptr = types.length + 1;
  const struct = ptr + 1;
  types.push(
    { kind: 'ptr', name: '', type: key },
    {
      kind: 'struct',
      name: '',
      size: 24,
      kindFlag: false,
      members: [member('type', 3, 0), member('max_entries', 5, 64), member('key', ptr, 128), ...(extra.members ?? []).map((m, i) => member(m.name, m.type, 192 + 64 * i))],
    },
    { kind: 'var', name: 'm', type: struct, linkage: 'global' },
    { kind: 'datasec', name: '.maps', size: 0, vars: [{ type: struct + 1, offset: 0, size: 24 }] },
  );
  return writeElf({
    sections: [
      { name: '.maps', flags: 3, data: new Uint8Array(24) },
      { name: '.BTF', data: encodeBtf(types) },
      ...(extra.sections ?? []),
    ],
    symbols: [{ name: 'm', section: '.maps', size: 24 }, ...(extra.symbols ?? [])],
  });
}

/** A minimal valid object: one program in `socket` and a 4-byte `.data`. */
function plainObject(sections: readonly SectionSpec[] = [], symbols: readonly SymbolSpec[] = []): Uint8Array {
  return writeElf({
    sections: [{ name: 'socket', flags: 6, data: new Uint8Array(16) }, { name: '.data', flags: 3, data: new Uint8Array(4) }, ...sections],
    symbols: [{ name: 'prog', section: 'socket', size: 16, type: 2 }, { name: 'g', section: '.data', size: 4 }, ...symbols],
  });
}

/** `bytes` with `value` written at `offset` (little-endian, `width` bytes). */
function patched(bytes: Uint8Array, offset: number, value: number | bigint, width: 1 | 2 | 4 | 8): Uint8Array {
  const out = bytes.slice();
  const view = new DataView(out.buffer);
  if (width === 1) view.setUint8(offset, Number(value));
  else if (width === 2) view.setUint16(offset, Number(value), true);
  else if (width === 4) view.setUint32(offset, Number(value), true);
  else view.setBigUint64(offset, BigInt(value), true);
  return out;
}

const shoff = (bytes: Uint8Array): number => Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(40, true));

describe('names as libbpf gives them', () => {
  it.each([
    ['my_object_name', '.rodata', 'my_objec.rodata'],
    ['my_object_name', '.bss', 'my_objec.bss'],
    ['my_object_name', '.kconfig', 'my_obje.kconfig'],
    ['my_object_name', '.rodata.abracadabra', '.rodata.abracad'],
    ['my_object_name', '.data.foo', '.data.foo'],
    ['prog', '.data', 'prog.data'],
    ['global_data', '.data', 'global_d.data'],
    ['my-prog', '.data', 'my_prog.data'],
    ['pr\u00f6g', '.bss', 'pr__g.bss'],
    ['', '.rodata', '.rodata'],
  ])('internal_map_name(%j, %j) is %j', (obj, section, name) => {
    expect(internalMapName(obj, section)).toBe(name);
  });

  it.each([
    ['/a/b/prog.bpf.o', 'prog'],
    ['prog.o', 'prog'],
    ['averyveryverylongname.o', 'averyveryverylo'],
    ['x/abcdefghijklmn.o', 'abcdefghijklmn'],
    ['noext', 'noext'],
    ['dir/', ''],
  ])('the object name of %j is %j', (path, name) => {
    expect(objectName(path)).toBe(name);
  });

  it('cuts names to 15 bytes for the kernel', () => {
    expect(kernelName('a_very_long_map_name_indeed')).toBe('a_very_long_map');
    expect(kernelName('short')).toBe('short');
  });

  it('drops a character the 15-byte cut splits, so the name stays within 15 bytes (found by the fuzz test)', () => {
    // 14 bytes and a 2-byte é; 13 bytes and a 3-byte €; 15 bytes and a 4-byte emoji.
    expect(kernelName(`${'a'.repeat(14)}é`)).toBe('a'.repeat(14));
    expect(kernelName(`${'a'.repeat(13)}€x`)).toBe('a'.repeat(13));
    expect(kernelName(`${'a'.repeat(12)}€x`)).toBe(`${'a'.repeat(12)}€`);
    expect(kernelName(`${'a'.repeat(15)}\u{1F600}`)).toBe('a'.repeat(15));
    for (const name of ['é'.repeat(20), '€'.repeat(20), '\u{1F600}'.repeat(9), '\uFFFD'.repeat(7)]) {
      expect(new TextEncoder().encode(kernelName(name)).length).toBeLessThanOrEqual(15);
    }
  });

  // kernel/bpf/syscall.c bpf_obj_name_cpy(): isalnum(), '_' and '.' up to the NUL, of the 15 bytes libbpf_strlcpy passes.
  it.each([
    ['flows', undefined],
    ['a_very_long_map_name_indeed', undefined],
    ['my_objec.rodata', undefined],
    // Cut by libbpf before the kernel sees it: a '-' past byte 15 is never checked.
    [`${'a'.repeat(15)}-x`, undefined],
    // The kernel's isalnum() is Latin-1: a UTF-8 lead byte 0xC3 left alone at byte 15 passes.
    [`${'a'.repeat(14)}é`, undefined],
    ['my-map', /"-" \(U\+002D\), at byte 3 of the name/],
    ['flows:v2', /":" \(U\+003A\), at byte 6/],
    ['ev\u001b[2J', /U\+001B, at byte 3/],
    ['new\nline', /U\+000A, at byte 4/],
    ['bidi\u202egnp', /U\+202E, at byte 5/],
    ['pr\u00f6g', /U\+00F6, at byte 3/],
    ['a b', /: U\+0020, at byte 2/],
  ])('the kernel takes the map name %j: %s', (name, refusal) => {
    const got = kernelNameRefusal(name);
    if (refusal === undefined) expect(got).toBeUndefined();
    else expect(got).toMatch(refusal);
    // Never the raw character: the reason goes to a terminal.
    // eslint-disable-next-line no-control-regex
    expect(got ?? '').not.toMatch(/[\u0000-\u001f\u202e]/);
  });
});

describe('hand-made objects', () => {
  it('reads a minimal object: a program and a .data map', () => {
    const obj = parseBpfObject(plainObject(), '/tmp/mini.o');
    expect(obj.name).toBe('mini');
    expect(obj.progs).toEqual([{ name: 'prog', section: 'socket', insns: 2, subprogs: [], appended: 0, helperCalls: 0, divMods: 0 }]);
    // No BTF: libbpf cannot tell the variable is global, so the map is not mmapable.
    expect(obj.maps).toMatchObject([{ name: 'mini.data', type: 2, keySize: 4, valueSize: 4, maxEntries: 1, flags: 0 }]);
    expect(parseBpfObject(plainObject(), '/tmp/mini.o', { libbpf: '1.0' }).maps[0]?.flags).toBe(1 << 10);
  });

  it('reads a BTF-defined map', () => {
    const obj = parseBpfObject(mapObject([], 1), 'm.o');
    expect(obj.maps).toMatchObject([{ name: 'm', symbol: 'm', source: 'btf', type: 1, keySize: 4, valueSize: 0, maxEntries: 10 }]);
  });

  it('reads a 64-bit map_extra from an ENUM64 (__ulong, libbpf 1.4+)', () => {
    const extra: BtfTypeSpec = { kind: 'enum64', name: '', size: 8, signed: false, values: [{ name: 'v', value: 2n ** 40n }] };
    const obj = parseBpfObject(mapObject([extra], 1, { members: [{ name: 'map_extra', type: 6 }] }), 'm.o');
    expect(obj.maps[0]?.mapExtra).toBe(2 ** 40);
  });
});

describe('hostile input: one line from parseBpfObject, never a crash', () => {
  const good = plainObject();
  const off = shoff(good);

  it.each<[string, () => Uint8Array, RegExp]>([
    ['empty', () => new Uint8Array(0), /not an ELF file/],
    ['text', () => new TextEncoder().encode('hello, world, this is not an object at all'), /not an ELF file/],
    ['a truncated header', () => good.subarray(0, 40), /truncated: 40 bytes/],
    ['ELF32', () => patched(good, 4, 1, 1), /ELFCLASS32/],
    ['big-endian', () => patched(good, 5, 2, 1), /big-endian/],
    ['an unknown data encoding', () => patched(good, 5, 9, 1), /data encoding 9/],
    ['an x86-64 machine', () => patched(good, 18, 62, 2), /machine 62 \(x86-64\), not EM_BPF/],
    ['an executable', () => patched(good, 16, 2, 2), /ELF type 2 \(executable\)/],
    ['no section table', () => patched(good, 40, 0, 8), /no section header table/],
    ['a section table beyond the file', () => patched(good, 40, 1n << 40n, 8), /beyond the end/],
    ['a section table offset beyond 2^53', () => patched(good, 40, 1n << 60n, 8), /e_shoff is beyond 2\^53/],
    ['a huge section count', () => patched(good, 60, 0xffff, 2), /65535 entries .* runs past the end/],
    ['a huge extended section count', () => patched(patched(good, 60, 0, 2), off + 32, 1n << 40n, 8), /runs past the end/],
    ['a wrong section header size', () => patched(good, 58, 40, 2), /e_shentsize/],
    ['a section name table out of range', () => patched(good, 62, 200, 2), /section name table index 200/],
    ['a section name offset out of range', () => patched(good, off + 64, 0x7fffffff, 4), /name offset \d+ is beyond/],
    ['section data beyond the file', () => patched(good, off + 64 + 24, 1 << 30, 8), /run past the end of the \d+-byte file/],
    ['a section size beyond 2^53', () => patched(good, off + 64 + 32, 1n << 62n, 8), /sh_size is beyond 2\^53/],
    ['no symbol table', () => stripSymtab(), /no symbol table/],
    ['a wrong symbol size', () => withSection(good, '.symtab', 56, 16), /symbol table entries are 16 bytes/],
    ['a symbol name out of range', () => symbolNamePatched(good, 0x7ffffff0), /symbol 1: name offset/],
    ['a program beyond its section', () => plainObject([], [{ name: 'p2', section: 'socket', value: 8, size: 16, type: 2 }]), /program "p2" .* runs past its end/],
    ['a static program', () => plainObject([], [{ name: 'p3', section: 'socket', size: 8, type: 2, bind: 0 }]), /"p3" .* is static/],
    ['a relocation section with a wrong entry size', () => plainObject([{ name: '.relsocket', type: 9, data: new Uint8Array(24), entsize: 24, info: 1 }]), /entries of 24 bytes, not 16/],
    ['a relocation section for no section', () => plainObject([{ name: '.relsocket', type: 9, data: new Uint8Array(16), entsize: 16, info: 99 }]), /targets section 99/],
    ['a .maps section without BTF', () => plainObject([{ name: '.maps', data: new Uint8Array(8) }]), /no \.BTF/],
    ['garbage BTF with .maps', () => plainObject([{ name: '.maps', data: new Uint8Array(8) }, { name: '.BTF', data: new Uint8Array(40).fill(7) }]), /\.BTF: not BTF/],
    ['a BTF typedef loop in a key', () => mapObject([{ kind: 'typedef', name: 'loop', type: 6 }], 6), /map "m": cannot size the key type: .* more than 32/],
    ['a BTF key larger than 4 GiB', () => mapObject([{ kind: 'array', name: '', type: 1, indexType: 1, nelems: 0x40000000 }, { kind: 'array', name: '', type: 6, indexType: 1, nelems: 16 }], 7), /larger than 4 GiB/],
    ['a BTF key of function type', () => mapObject([{ kind: 'func_proto', name: '', type: 1, params: [] }], 6), /has no size \(a func_proto\)/],
    ['a map_extra beyond 2^53', () => mapObject([{ kind: 'enum64', name: '', size: 8, signed: false, values: [{ name: 'v', value: 2n ** 60n }] }], 1, { members: [{ name: 'map_extra', type: 6 }] }), /beyond 2\^53/],
    ['an unknown map field', () => mapObject([], 1, { members: [{ name: 'colour', type: 3 }] }), /unknown field "colour"/],
    ['a map field that is not __uint', () => mapObject([], 1, { members: [{ name: 'map_flags', type: 1 }] }), /"map_flags": expected a pointer to an array \(__uint\), got an int/],
    ['a legacy maps section that does not divide', () => plainObject([{ name: 'maps', data: new Uint8Array(41) }], [{ name: 'lm', section: 'maps', size: 20 }, { name: 'lm2', section: 'maps', value: 20, size: 20 }]), /cannot tell the size of a legacy map definition/],
    ['a static legacy map', () => plainObject([{ name: 'maps', data: new Uint8Array(20) }], [{ name: 'lm', section: 'maps', size: 20, bind: 0 }]), /static maps are not supported/],
    // libelf's elf_strptr() reads names only from SHT_STRTAB sections: libbpf fails ("failed to get section name string").
    ['a section name table that is the symbol table', () => patched(good, 62, sectionIndex(good, '.symtab'), 2), /section name table \(section \d+, e_shstrndx\) is SHT_SYMTAB, not a string table/],
    ['a symbol table whose names are not in a string table', () => withSection(good, '.symtab', 40, 1), /symbol table links to section 1, which is not a string table \(SHT_PROGBITS/],
    // bpf_object__collect_prog_relos: "symbol #N not found for relo", "corrupted symbol", "invalid offset".
    ['a relocation whose symbol is not in the table', () => plainObject([relSocket([[0, 0xffffff]])]), /"\.relsocket": relocation 0: symbol 16777215 is not in the 3-entry symbol table/],
    ['a relocation beyond its section', () => plainObject([relSocket([[8, 1], [0xfffffff0, 1]])]), /relocation 1: offset 0xfffffff0 is not an instruction of the 16-byte section "socket"/],
    ['a relocation inside an instruction', () => plainObject([relSocket([[4, 1]])]), /offset 0x4 is not an instruction/],
    ['a relocation against a symbol with SHN_XINDEX and no extended index table', () => plainObject([relSocket([[0, 3]])], [{ name: 'x', section: 0xffff }]), /symbol 3 \("x"\) points to section 65535 \(SHN_XINDEX, which libbpf does not follow\)/],
    ['a relocation against a symbol of a section that does not exist', () => plainObject([relSocket([[0, 3]])], [{ name: 'x', section: 77 }]), /symbol 3 \("x"\) points to section 77, not one of the 7 sections/],
  ])('%s', (_what, make, message) => {
    expect(errorOf(make())).toMatch(message);
  });

  it('a valid but big-endian BPF object names the problem', () => {
    expect(errorOf(patched(good, 5, 2, 1), '/srv/prog.o')).toMatch(/^\/srv\/prog\.o: big-endian ELF/);
  });

  /** `.relsocket`: relocations of the program section, each `[r_offset, symbol index]` (type R_BPF_64_64). */
  function relSocket(rels: readonly (readonly [number, number])[]): SectionSpec {
    const data = new Uint8Array(16 * rels.length);
    const view = new DataView(data.buffer);
    rels.forEach(([offset, sym], i) => {
      view.setBigUint64(16 * i, BigInt(offset), true);
      view.setBigUint64(16 * i + 8, (BigInt(sym) << 32n) | 1n, true);
    });
    return { name: '.relsocket', type: 9, data, entsize: 16, info: 1 };
  }

  /** A copy of `bytes` with field `field` (`width` bytes) of section `name`'s header set to `value`. */
  function withSection(bytes: Uint8Array, name: string, field: number, value: number): Uint8Array {
    const index = sectionIndex(bytes, name);
    return patched(bytes, shoff(bytes) + 64 * index + field, value, field === 56 || field === 24 || field === 32 ? 8 : 4);
  }

  function symbolNamePatched(bytes: Uint8Array, value: number): Uint8Array {
    const index = sectionIndex(bytes, '.symtab');
    const at = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(shoff(bytes) + 64 * index + 24, true));
    return patched(bytes, at + 24, value, 4);
  }

  function stripSymtab(): Uint8Array {
    // `.symtab` renamed and retyped to PROGBITS: an object with no symbol table.
    return withSection(plainObject(), '.symtab', 4, 1);
  }
});

/** The index of the section named `name` (by reading the section table as the writer laid it out). */
function sectionIndex(bytes: Uint8Array, name: string): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  const off = shoff(bytes);
  const count = view.getUint16(60, true);
  const strndx = view.getUint16(62, true);
  const strOff = Number(view.getBigUint64(off + 64 * strndx + 24, true));
  for (let i = 1; i < count; i++) {
    const nameOff = view.getUint32(off + 64 * i, true);
    const end = bytes.indexOf(0, strOff + nameOff);
    if (new TextDecoder().decode(bytes.subarray(strOff + nameOff, end)) === name) return i;
  }
  throw new Error(`no section ${name}`);
}

describe.skipIf(!toolchain.ok)('hostile input made from compiled objects', () => {
  it('refuses an object compiled for the host (x86-64)', () => {
    expect(errorOf(fixtureBytes('global_data', 'host'))).toMatch(/machine 62 \(x86-64\), not EM_BPF/);
  });

  it('refuses a BPF object cut anywhere in its section table', () => {
    const bytes = fixtureBytes('maps');
    const off = shoff(bytes);
    for (const cut of [off, off + 1, off + 64 * 3 + 7, bytes.byteLength - 1]) expect(errorOf(bytes.subarray(0, cut))).toMatch(/runs past the end|beyond the end/);
  });
});

/**
 * The relocations of a program's instructions, as libbpf records them at open
 * (bpf_program__record_reloc); compiled objects are proven against Debian's libbpf and bpftool
 * in test/live/object.test.ts.
 */
describe('relocations of program instructions', () => {
  /** `BPF_LD_IMM64 r1, 0` (two slots), `BPF_MOV64_IMM r0, 0`, `BPF_EXIT`. */
  const LOAD = [0x18, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0];

  /**
   * A program `prog` (of `progSize` bytes of `code`) in `socket` whose instruction at byte `at`
   * is relocated against `v`, a variable in `section`.
   */
  function objectUsing(section: SectionSpec, options: { code?: readonly number[]; at?: number; progSize?: number; symbol?: Partial<SymbolSpec> } = {}): Uint8Array {
    const code = new Uint8Array(options.code ?? LOAD);
    const rel = new Uint8Array(16);
    const view = new DataView(rel.buffer);
    view.setBigUint64(0, BigInt(options.at ?? 0), true);
    // Symbol 1 is `prog`, 2 is `v`; type R_BPF_64_64.
    view.setBigUint64(8, (2n << 32n) | 1n, true);
    return writeElf({
      sections: [{ name: 'socket', flags: 6, data: code }, section, { name: '.relsocket', type: 9, data: rel, entsize: 16, info: 1 }],
      symbols: [
        { name: 'prog', section: 'socket', size: options.progSize ?? code.byteLength, type: 2 },
        { name: 'v', section: section.name, size: 4, ...options.symbol },
      ],
    });
  }
  const OLD = { libbpf: '1.0' } as const;
  const parses = (bytes: Uint8Array, options: ParseObjectOptions = {}): string[] => parseBpfObject(bytes, 'x.o', options).maps.map((m) => m.symbol);

  it('takes a variable of .data, .rodata.*, .bss and .maps-style sections in every generation', () => {
    expect(parses(objectUsing({ name: '.data', flags: 3, data: new Uint8Array(4) }))).toEqual(['.data']);
    expect(parses(objectUsing({ name: '.rodata.cst', flags: 2, data: new Uint8Array(4) }), OLD)).toEqual(['.rodata.cst']);
    expect(parses(objectUsing({ name: '.bss', type: 8, flags: 3, size: 4 }), OLD)).toEqual(['.bss']);
  });

  it('a variable of a .bss.* section: a map in libbpf 1.1+, refused by libbpf 1.0 (Debian 12\'s bpftool)', () => {
    const bytes = objectUsing({ name: '.bss.hidden', type: 8, flags: 3, size: 4 });
    expect(parses(bytes)).toEqual(['.bss.hidden']);
    expect(errorOf(bytes, 'x.o', OLD)).toBe(
      'x.o: program "prog", instruction 0: "v" is in section ".bss.hidden", of which libbpf before 1.1 makes no map (only of .bss); libbpf refuses to open such an object',
    );
  });

  it.each([
    ['a section of its own naming', { name: '.foo', flags: 3, data: new Uint8Array(4) }, {}, /"v" is in section "\.foo", of which libbpf makes no map \(variables belong in \.data, \.rodata, \.bss/],
    ['an empty .bss', { name: '.bss', type: 8, flags: 3, size: 0 }, {}, /"v" is in section "\.bss", which is empty, so no map holds it/],
    ['an undefined local symbol', { name: '.data', flags: 3, data: new Uint8Array(4) }, { symbol: { section: 0, bind: 0 } }, /"v" is in special section 0x0 \(a global variable left uninitialized\?\)/],
    ['a relocation on a move', { name: '.data', flags: 3, data: new Uint8Array(4) }, { at: 16 }, /instruction 2: a relocation against "v" on opcode 0xb7, neither a call nor a 64-bit load/],
    ['a relocation on a helper call', { name: '.data', flags: 3, data: new Uint8Array(4) }, { code: [0x85, 0, 0, 0, 1, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0] }, /instruction 0: a relocation against "v" on a helper call \("incorrect bpf_call opcode"\)/],
  ] as const)('refuses, in both generations, %s', (_what, section, options, message) => {
    const bytes = objectUsing(section, options);
    expect(errorOf(bytes)).toMatch(message);
    expect(errorOf(bytes, 'x.o', OLD)).toMatch(message);
  });

  it('skips a relocation outside every function, as libbpf does (an overridden weak function)', () => {
    expect(parses(objectUsing({ name: '.foo', flags: 3, data: new Uint8Array(4) }, { at: 24, progSize: 16 }))).toEqual([]);
  });
});

if (!toolchain.ok) console.warn(`BPF fixture tests skipped: ${toolchain.reason}`);
