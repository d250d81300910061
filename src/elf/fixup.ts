import type { Btf, BtfDatasec } from '../btf/index.js';
import { aKind } from './btf-libbpf.js';
import { quote, STB, STT, STV, type ElfFile, type ElfSymbol } from './elf.js';

/*
 * What libbpf fixes in the compiler's BTF before it reads maps from it (src/libbpf.c:
 * `bpf_object_fixup_btf`, `btf_fixup_datasec`). Clang leaves a DATASEC's size and its variables'
 * offsets at 0: libbpf takes the size from the ELF section of that name and each offset from the
 * variable's ELF symbol. And a global variable with hidden or internal visibility
 * (`__attribute__((visibility("hidden")))`, libbpf's `__hidden`) becomes static, which decides
 * whether its global data map is mmapable (`map_is_mmapable`). Extern sections (`.kconfig`,
 * `.ksyms`) are left alone. Every failure here makes libbpf refuse the object, so here too.
 */

const EXTERN_SECTIONS = new Set(['.kconfig', '.ksyms']);

interface Fixed {
  readonly size: number;
  readonly offsets: readonly number[];
  /** Per variable: static after the fixup (static in BTF, or global with hidden visibility). */
  readonly isStatic: readonly boolean[];
}

/** The DATASECs of an object's BTF as libbpf sees them after its fixups. */
export class DatasecFixup {
  readonly #fixed = new Map<number, Fixed>();

  /** Fixes every DATASEC, as libbpf does before it reads any map: an error where libbpf fails. */
  constructor(elf: ElfFile, btf: Btf | undefined) {
    if (btf === undefined) return;
    let globals: Map<string, ElfSymbol> | undefined;
    for (let id = 1; id < btf.count; id++) {
      if (btf.kindOf(id) !== 'datasec') continue;
      const sec = btf.typeById(id);
      if (sec?.kind !== 'datasec') continue;
      const name = sec.name;
      const isStatic = sec.vars.map((vi) => {
        const v = btf.typeById(vi.type);
        return v?.kind === 'var' && v.linkage === 'static';
      });
      if (EXTERN_SECTIONS.has(name)) {
        this.#fixed.set(id, { size: sec.size, offsets: sec.vars.map((v) => v.offset), isStatic });
        continue;
      }
      let size = sec.size;
      const fixOffsets = size === 0;
      if (fixOffsets) {
        const section = elf.section(name);
        size = section === undefined ? 0 : section.size;
        if (size === 0) throw elf.error(`BTF DATASEC ${quote(name)}: no ELF section of that name with data, so libbpf cannot size it`);
      }
      const offsets = sec.vars.map((vi, i) => {
        const v = btf.typeById(vi.type);
        if (v?.kind !== 'var') throw elf.error(`BTF DATASEC ${quote(name)}: entry ${i} is ${aKind(v?.kind ?? 'missing type')}, not a variable`);
        if (v.linkage !== 'global') return vi.offset;
        globals ??= globalObjects(elf);
        const sym = globals.get(v.name);
        if (sym === undefined) throw elf.error(`BTF DATASEC ${quote(name)}: no ELF symbol for variable ${quote(v.name)}`);
        if (sym.visibility === STV.hidden || sym.visibility === STV.internal) isStatic[i] = true;
        return fixOffsets ? sym.value : vi.offset;
      });
      this.#fixed.set(id, { size, offsets, isStatic });
    }
  }

  /**
   * The indices of a DATASEC's variables by ascending offset after the fixup: libbpf sorts them
   * so (`btf_fixup_datasec`, `compare_vsi_off`), and creates `.maps` and struct_ops maps in that order.
   */
  order(sec: BtfDatasec): number[] {
    const offsets = this.offsets(sec);
    return sec.vars.map((_, i) => i).sort((a, b) => (offsets[a] ?? 0) - (offsets[b] ?? 0));
  }

  /** The variables' offsets of a DATASEC, after the fixup. */
  offsets(sec: BtfDatasec): readonly number[] {
    return this.#fixed.get(sec.id)?.offsets ?? sec.vars.map((v) => v.offset);
  }

  /**
   * `map_is_mmapable()`: whether a DATASEC has a variable that is not static after the fixup,
   * i.e. one a BPF skeleton exposes, so libbpf makes its map `BPF_F_MMAPABLE`.
   */
  hasNonStaticVar(btf: Btf, sec: BtfDatasec): boolean {
    const fixed = this.#fixed.get(sec.id);
    return sec.vars.some((vi, i) => btf.kindOf(vi.type) === 'var' && !(fixed?.isStatic[i] ?? false));
  }
}

/** `find_elf_var_sym()`: global or weak objects by name, the first of each name. */
function globalObjects(elf: ElfFile): Map<string, ElfSymbol> {
  const out = new Map<string, ElfSymbol>();
  for (const s of elf.symbols()) {
    if (s.type !== STT.object || (s.bind !== STB.global && s.bind !== STB.weak)) continue;
    if (!out.has(s.name)) out.set(s.name, s);
  }
  return out;
}
