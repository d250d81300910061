import type { Btf } from '../btf/index.js';
import { aKind, isFuncPtr, resolveType } from './btf-libbpf.js';
import { quote, SHF, SHT, type ElfFile } from './elf.js';
import type { DatasecFixup } from './fixup.js';
import { kernelName } from './names.js';
import { MAP_TYPES } from '../vocab/maptypes.js';
import type { LibbpfGeneration, ObjectMap } from './types.js';

/*
 * struct_ops maps: each variable of a `.struct_ops` or `.struct_ops.link` section (and their `?`
 * forms, not created unless enabled) is one STRUCT_OPS map (libbpf src/libbpf.c:
 * `bpf_object_init_struct_ops`, `init_struct_ops_maps`): key 4, max_entries 1, flags
 * `BPF_F_LINK` for `.struct_ops.link`, value the variable's struct. At load libbpf finds
 * `struct bpf_struct_ops_<name>` in the kernel's BTF and creates the map with that type's size
 * (`bpf_map__init_kern_struct_ops`), so the value size here is the object's, not the kernel's.
 */

/** `BPF_F_LINK`. */
const BPF_F_LINK = 1 << 13;

/** Sections of struct_ops maps: `.struct_ops.link` since libbpf 1.2, the `?` forms since 1.4. */
const SECTIONS: Readonly<Record<LibbpfGeneration, ReadonlySet<string>>> = {
  '1.1+': new Set(['.struct_ops', '.struct_ops.link', '?.struct_ops', '?.struct_ops.link']),
  '1.0': new Set(['.struct_ops']),
};

/** The struct_ops maps of every struct_ops section, in section order. */
export function readStructOpsMaps(elf: ElfFile, btf: Btf | undefined, fixup: DatasecFixup, libbpf: LibbpfGeneration): ObjectMap[] {
  const out: ObjectMap[] = [];
  for (const s of elf.sections) {
    if (!SECTIONS[libbpf].has(s.name) || s.type !== SHT.progbits || (s.flags & SHF.execinstr) !== 0 || s.size === 0) continue;
    const data = elf.data(s);
    if (btf === undefined) throw elf.error(`section ${quote(s.name)}: struct_ops maps need BTF`);
    const sec = btf.findByName(s.name, 'datasec');
    if (sec?.kind !== 'datasec') throw elf.error(`section ${quote(s.name)}: no DATASEC of that name in BTF`);
    const optional = s.name.startsWith('?');
    const plain = optional ? s.name.slice(1) : s.name;
    const offsets = fixup.offsets(sec);
    for (const i of fixup.order(sec)) {
      const vi = sec.vars[i];
      if (vi === undefined) continue;
      const varName = btf.nameOf(vi.type) ?? '';
      const where = `struct_ops map ${quote(varName)}`;
      const t = resolveType(btf, vi.type);
      if (!t.ok) throw elf.error(`${where}: ${t.error}`);
      if (t.value.name === '') throw elf.error(`${where}: an anonymous type is not supported`);
      if (t.value.kind !== 'struct') throw elf.error(`${where}: ${t.value.name} is ${aKind(t.value.kind)}, not a struct`);
      const offset = offsets[i] ?? vi.offset;
      if (offset + t.value.size > data.byteLength) throw elf.error(`${where}: beyond the end of section ${quote(s.name)}`);
      const { funcs, members } = opsCounts(btf, t.value);
      const loadTime = [`value type struct bpf_struct_ops_${t.value.name} comes from the kernel's BTF at load (bpf_map__init_kern_struct_ops)`];
      if (optional) loadTime.push(`not created unless the loader enables it (SEC("${s.name}"))`);
      out.push({
        name: kernelName(varName),
        symbol: varName,
        source: 'struct_ops',
        section: s.name,
        type: MAP_TYPES.struct_ops.id,
        keySize: 4,
        valueSize: t.value.size,
        maxEntries: 1,
        flags: plain === '.struct_ops.link' ? BPF_F_LINK : 0,
        mapExtra: 0,
        initialEntries: 0,
        autocreate: !optional,
        structOps: { typeName: t.value.name, funcs, members },
        loadTime,
      });
    }
  }
  return out;
}

/** A struct_ops struct's function pointers (`count_func_ptrs`) and all its members (`btf_type_vlen`). */
function opsCounts(btf: Btf, struct: { readonly members: readonly { readonly type: number }[] }): Pick<KernelStructOps, 'funcs' | 'members'> {
  return { funcs: struct.members.filter((m) => isFuncPtr(btf, m.type)).length, members: struct.members.length };
}

/** A struct_ops type of a kernel: what a map of it is made of. */
export interface KernelStructOps {
  /** The kernel struct (`tcp_congestion_ops`). */
  readonly type: string;
  /** The size of its value type, `struct bpf_struct_ops_<type>`: the map's value_size. */
  readonly valueSize: number;
  /** Its function pointers (`count_func_ptrs`), which the map's memory counts. */
  readonly funcs: number;
  /** All its members (`btf_type_vlen`), which kernels before 6.13 size the map's links by. */
  readonly members: number;
}

/**
 * The kernel's value type of a struct_ops map (kernel/bpf/bpf_struct_ops.c: `struct
 * bpf_struct_ops_<name>`) and the function pointers of `struct <name>` (`count_func_ptrs`).
 */
export function kernelStructOps(btf: Btf, typeName: string): KernelStructOps | undefined {
  const value = btf.findByName(`bpf_struct_ops_${typeName}`, 'struct');
  const ops = btf.findByName(typeName, 'struct');
  if (value?.kind !== 'struct' || ops?.kind !== 'struct') return undefined;
  return { type: typeName, valueSize: value.size, ...opsCounts(btf, ops) };
}

/** The value type prefix of struct_ops maps in the kernel's BTF. */
const VALUE_PREFIX = 'bpf_struct_ops_';

/**
 * The same from a live map's `btf_vmlinux_value_type_id` (struct bpf_map_info): the id of its
 * `struct bpf_struct_ops_<name>` in the kernel's BTF. Undefined when the id names no such type.
 */
export function kernelStructOpsById(btf: Btf, valueTypeId: number): KernelStructOps | undefined {
  const value = btf.typeById(valueTypeId);
  if (value?.kind !== 'struct' || !value.name.startsWith(VALUE_PREFIX)) return undefined;
  return kernelStructOps(btf, value.name.slice(VALUE_PREFIX.length));
}
