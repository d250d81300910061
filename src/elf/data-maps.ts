import type { Btf } from '../btf/index.js';
import { alignOf, resolveSize } from './btf-libbpf.js';
import { isExtern, quote, SHF, SHT, type ElfFile, type ElfSection } from './elf.js';
import type { DatasecFixup } from './fixup.js';
import { internalMapName } from './names.js';
import { MAP_TYPES } from '../vocab/maptypes.js';
import type { LibbpfGeneration, ObjectMap } from './types.js';

/*
 * Global data and kconfig maps (libbpf src/libbpf.c: `bpf_object__init_global_data_maps`,
 * `bpf_object__init_internal_map`, `bpf_object__init_kconfig_map`,
 * `bpf_object__collect_externs`). Each is an ARRAY of one element whose value is the whole
 * section: key 4, value the section's size, max_entries 1.
 */

/** `BPF_F_RDONLY_PROG`, `BPF_F_MMAPABLE` (include/uapi/linux/bpf.h). */
export const BPF_F_RDONLY_PROG = 1 << 7;
export const BPF_F_MMAPABLE = 1 << 10;

type DataKind = 'data' | 'rodata' | 'bss';

/**
 * The kind of global data a section holds, as `bpf_object__elf_collect` sorts sections:
 * non-empty `PROGBITS` named `.data`/`.data.*` or `.rodata`/`.rodata.*` that are not code, and
 * `NOBITS` named `.bss`/`.bss.*`.
 */
export function dataKind(s: ElfSection, libbpf: LibbpfGeneration = '1.1+'): DataKind | undefined {
  const named = (base: string): boolean => s.name === base || s.name.startsWith(`${base}.`);
  if (s.size === 0) return undefined;
  if (s.type === SHT.progbits && (s.flags & SHF.execinstr) === 0) {
    if (named('.data')) return 'data';
    if (named('.rodata')) return 'rodata';
    return undefined;
  }
  if (s.type !== SHT.nobits) return undefined;
  // `.bss.*` custom sections arrived with libbpf 1.1 (Linux 6.2); before, only `.bss`.
  return s.name === '.bss' || (libbpf === '1.1+' && named('.bss')) ? 'bss' : undefined;
}

/**
 * `bpf_object__init_internal_map()`: flags `BPF_F_RDONLY_PROG` for `.rodata*` and `.kconfig`,
 * plus `BPF_F_MMAPABLE` when the section's DATASEC (found by name, `map_fill_btf_type_info`) has
 * a variable a skeleton exposes (`map_is_mmapable`).
 */
function internalMap(objName: string, sectionName: string, elfSection: string, valueSize: number, readonly: boolean, mmapable: boolean, source: 'data' | 'kconfig'): ObjectMap {
  return {
    name: internalMapName(objName, sectionName),
    symbol: sectionName,
    source,
    section: elfSection,
    type: MAP_TYPES.array.id,
    keySize: 4,
    valueSize,
    maxEntries: 1,
    flags: (readonly ? BPF_F_RDONLY_PROG : 0) | (mmapable ? BPF_F_MMAPABLE : 0),
    mapExtra: 0,
    initialEntries: 0,
    autocreate: true,
    loadTime: [],
  };
}

/**
 * Whether the map of section `name` is mmapable: with libbpf 1.1+, when the DATASEC of that name
 * (the first type of that name, of any kind) has a variable a skeleton exposes; before
 * ("libbpf: only add BPF_F_MMAPABLE flag for data maps with global vars", libbpf 1.1, Linux 6.2),
 * always.
 */
function mmapableSection(btf: Btf | undefined, fixup: DatasecFixup, name: string, libbpf: LibbpfGeneration): boolean {
  if (libbpf === '1.0') return true;
  const t = btf?.findByName(name);
  return btf !== undefined && t?.kind === 'datasec' && fixup.hasNonStaticVar(btf, t);
}

/** The global data maps, in section order. */
export function readDataMaps(elf: ElfFile, btf: Btf | undefined, fixup: DatasecFixup, objName: string, libbpf: LibbpfGeneration): ObjectMap[] {
  const out: ObjectMap[] = [];
  // Sections of one name share a DATASEC: asked once per name, so hostile objects stay linear.
  const mmapable = new Map<string, boolean>();
  for (const s of elf.sections) {
    const kind = dataKind(s, libbpf);
    if (kind === undefined) continue;
    // `def->value_size` is a u32; the kernel caps array values far lower anyway.
    if (s.size > 0xffffffff) throw elf.error(`section ${quote(s.name)}: ${s.size} bytes is too large for a map value`);
    let m = mmapable.get(s.name);
    if (m === undefined) {
      m = mmapableSection(btf, fixup, s.name, libbpf);
      mmapable.set(s.name, m);
    }
    out.push(internalMap(objName, s.name, s.name, s.size, kind === 'rodata', m, 'data'));
  }
  return out;
}

interface Kcfg {
  readonly name: string;
  readonly size: number;
  readonly align: number;
}

/**
 * The `.kconfig` map, if the object has `extern … __kconfig` variables: their sizes laid out by
 * descending alignment, then ascending size, then name (`cmp_externs`), each at its alignment;
 * the map's value is as long as the last one's end. Also checks every extern as libbpf does
 * (each needs a BTF VAR or FUNC of extern linkage in a `.kconfig` or `.ksyms` DATASEC).
 */
export function readKconfigMap(elf: ElfFile, btf: Btf | undefined, fixup: DatasecFixup, objName: string, libbpf: LibbpfGeneration): ObjectMap | undefined {
  const externs = elf.symbols().filter((s) => isExtern(s) && s.name !== '');
  if (externs.length === 0) return undefined;
  if (btf === undefined) throw elf.error(`extern ${quote(externs[0]?.name ?? '')} has no BTF: libbpf needs BTF to resolve externs`);
  const datasecOf = externDatasecs(btf);
  const ids = new Map<string, number | undefined>();
  const kcfg: Kcfg[] = [];
  for (const ext of externs) {
    const err = (message: string): Error => elf.error(`extern ${quote(ext.name)}: ${message}`);
    const id = ids.has(ext.name) ? ids.get(ext.name) : externBtfId(btf, ext.name);
    ids.set(ext.name, id);
    if (id === undefined) throw err('no BTF VAR or FUNC of that name');
    const t = btf.typeById(id);
    if (t === undefined) throw err(`no BTF type ${id}`);
    if ((t.kind === 'var' || t.kind === 'func') && t.linkage !== 'extern') throw err(`its BTF ${t.kind} is ${t.linkage}, not extern`);
    const sec = datasecOf.get(id);
    if (sec === undefined) throw err('its BTF is in no DATASEC');
    if (sec === '.ksyms') continue;
    if (sec !== '.kconfig') throw err(`unrecognized extern section ${quote(sec)}`);
    if (t.kind !== 'var') throw err('an extern function cannot be __kconfig');
    const size = resolveSize(btf, t.type);
    if (!size.ok || size.value <= 0) throw err(`cannot size it: ${size.ok ? 'size 0' : size.error}`);
    const align = alignOf(btf, t.type);
    if (!align.ok || align.value <= 0) throw err(`cannot align it: ${align.ok ? `alignment ${align.value}` : align.error}`);
    kcfg.push({ name: t.name, size: size.value, align: align.value });
  }
  if (kcfg.length === 0) return undefined;
  kcfg.sort((a, b) => b.align - a.align || a.size - b.size || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  let off = 0;
  for (const k of kcfg) off = roundUp(off, k.align) + k.size;
  // No ELF section holds externs; the map is named after their DATASEC.
  const map = internalMap(objName, '.kconfig', '.kconfig', off, true, mmapableSection(btf, fixup, '.kconfig', libbpf), 'kconfig');
  return { ...map, loadTime: ['values from the running kernel\'s config, filled in by libbpf (bpf_object__resolve_externs)'] };
}

const roundUp = (n: number, to: number): number => Math.ceil(n / to) * to;

/** `find_extern_btf_id()`: the first VAR or FUNC named `name`. */
function externBtfId(btf: Btf, name: string): number | undefined {
  const candidates = [...btf.findAllByName(name, 'var'), ...btf.findAllByName(name, 'func')];
  return candidates.length === 0 ? undefined : Math.min(...candidates.map((t) => t.id));
}

/** `find_extern_sec_btf_id()`: for each type id, the name of the first DATASEC that lists it. */
function externDatasecs(btf: Btf): Map<number, string> {
  const out = new Map<number, string>();
  for (let id = 1; id < btf.count; id++) {
    if (btf.kindOf(id) !== 'datasec') continue;
    const sec = btf.typeById(id);
    if (sec?.kind !== 'datasec') continue;
    for (const v of sec.vars) if (!out.has(v.type)) out.set(v.type, sec.name);
  }
  return out;
}
