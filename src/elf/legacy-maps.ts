import { quote, STB, STT, type ElfFile } from './elf.js';
import { kernelName, mapLoadTime } from './names.js';
import type { ObjectMap } from './types.js';

/*
 * Legacy maps: `struct bpf_map_def { u32 type, key_size, value_size, max_entries, map_flags; }`
 * in a section named `maps`, one per symbol (libbpf v0.8 src/libbpf.c:
 * `bpf_object__init_user_maps`). libbpf 1.0 dropped them: `bpf_object__elf_collect` now fails
 * with "legacy map definitions in 'maps' section are not supported by libbpf v1.0+", so Debian's
 * bpftool 7.1 (libbpf 1.1) refuses such an object. Older libbpf, iproute2 and cilium/ebpf still
 * load them, so they are read, with that said in `loadTime`.
 */

/** `sizeof(struct bpf_map_def)` of libbpf 0.x. */
const MAP_DEF_SIZE = 20;

/** The maps of a `maps` section, in symbol order. */
export function readLegacyMaps(elf: ElfFile): ObjectMap[] {
  const section = elf.sections.find((s) => s.name === 'maps');
  if (section === undefined) return [];
  const data = elf.data(section);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const symbols = elf.symbols().filter((s) => s.shndx === section.index && s.type !== STT.section);
  // "Assume equally sized map definitions": the section's size over the number of symbols.
  if (data.byteLength === 0 || symbols.length === 0 || data.byteLength % symbols.length !== 0) {
    throw elf.error(`cannot tell the size of a legacy map definition: ${data.byteLength} bytes of section "maps" for ${symbols.length} symbols`);
  }
  const defSize = data.byteLength / symbols.length;
  return symbols.map((sym) => {
    const where = `legacy map ${quote(sym.name)}`;
    if (sym.bind === STB.local) throw elf.error(`${where}: static maps are not supported`);
    if (sym.value + defSize > data.byteLength) throw elf.error(`${where}: its definition at offset ${sym.value} runs past the ${data.byteLength}-byte "maps" section`);
    // A shorter definition leaves the later fields 0; a longer one has extra fields libbpf ignores only when zero.
    const field = (i: number): number => (4 * i + 4 <= defSize ? view.getUint32(sym.value + 4 * i, true) : 0);
    const map = { type: field(0), keySize: field(1), valueSize: field(2), maxEntries: field(3), flags: field(4) };
    let extra = false;
    for (let b = MAP_DEF_SIZE; b < defSize; b++) if (data[sym.value + b] !== 0) extra = true;
    const loadTime = [
      'legacy "maps" section: libbpf 1.0+ refuses the object (bpf_object__elf_collect); libbpf 0.x, iproute2 and cilium/ebpf load it',
      ...mapLoadTime(map),
    ];
    if (extra) loadTime.push(`definition of ${defSize} bytes has non-zero fields after the first ${MAP_DEF_SIZE} (iproute2's struct bpf_elf_map?): libbpf 0.x refuses it`);
    return {
      name: kernelName(sym.name),
      symbol: sym.name,
      source: 'legacy' as const,
      section: section.name,
      ...map,
      mapExtra: 0,
      initialEntries: 0,
      autocreate: true,
      loadTime,
    };
  });
}
