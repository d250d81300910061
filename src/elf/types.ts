/**
 * What a compiled BPF object holds that decides its memory, as libbpf reads it at
 * `bpf_object__open()`: the maps it will create and the programs it will load.
 */

/** Where a map's definition comes from. */
export type ObjectMapSource =
  /** A variable of the `.maps` section, described by BTF (`bpf_object__init_user_btf_maps`). */
  | 'btf'
  /** A `struct bpf_map_def` in the `maps` section (libbpf < 1.0; 1.0+ refuses the object). */
  | 'legacy'
  /** Global data: `.data`, `.rodata`, `.bss` and their `.data.*`-style siblings (`bpf_object__init_internal_map`). */
  | 'data'
  /** `extern … __kconfig` variables (`bpf_object__init_kconfig_map`). */
  | 'kconfig'
  /** A variable of `.struct_ops` or `.struct_ops.link` (`init_struct_ops_maps`). */
  | 'struct_ops';

/** A map the object defines, with the fields libbpf passes to BPF_MAP_CREATE. */
export interface ObjectMap {
  /** The name the kernel will know: libbpf's name cut to BPF_OBJ_NAME_LEN − 1 = 15 bytes. */
  readonly name: string;
  /** The map's symbol (variable) or, for global data, its section, as written in the object. */
  readonly symbol: string;
  readonly source: ObjectMapSource;
  /** The ELF section the definition lives in (`.maps`, `.data.foo`, `maps`, `.struct_ops.link`, …). */
  readonly section: string;
  /** `enum bpf_map_type` (src/vocab/maptypes.ts names them). */
  readonly type: number;
  readonly keySize: number;
  /** For struct_ops, the size of the object's own struct: the kernel's value type replaces it at load. */
  readonly valueSize: number;
  /** As written in the object: 0 and unaligned ring buffer sizes are settled at load (see `loadTime`). */
  readonly maxEntries: number;
  readonly flags: number;
  readonly mapExtra: number;
  readonly numaNode?: number;
  readonly pinning?: 'none' | 'by_name';
  /** Map-in-map: the inner map's definition. libbpf creates it as a template and frees it once the outer map exists. */
  readonly inner?: ObjectMap;
  /** Entries libbpf writes at load from the definition's `values = { … }` (map-in-map and prog_array slots). */
  readonly initialEntries: number;
  /** False for maps libbpf does not create unless asked (`SEC("?.struct_ops")`). */
  readonly autocreate: boolean;
  /** struct_ops: the struct the value implements, and how many function pointers and members the object's copy of it has. */
  readonly structOps?: { readonly typeName: string; readonly funcs: number; readonly members: number };
  /** What the loader decides at load time, one phrase each, e.g. "max_entries 0: libbpf sets possible CPUs". */
  readonly loadTime: readonly string[];
}

/** A program: an entry point (a global function in an executable section other than `.text`). */
export interface ObjectProg {
  readonly name: string;
  readonly section: string;
  /** Its own instructions (`st_size / 8`); subprograms it calls from `.text` are appended at load. */
  readonly insns: number;
  /** The `.text` subprograms libbpf appends to it at load (bpf_object__reloc_code), by symbol. */
  readonly subprogs: readonly string[];
  /** Their instructions: what libbpf hands the kernel is `insns + appended`. */
  readonly appended: number;
  /** Calls to helpers and kfuncs in it and its subprograms: what the verifier may rewrite into more instructions. */
  readonly helperCalls: number;
  /** Divisions and modulos by a register: the verifier guards each against zero with a few instructions. */
  readonly divMods: number;
}

/** A parsed BPF object. */
export interface BpfObject {
  /** libbpf's object name: the file's base name, cut to 15 bytes, up to its first dot. */
  readonly name: string;
  /** Where it was read from (a path), for messages. */
  readonly source: string;
  readonly maps: readonly ObjectMap[];
  readonly progs: readonly ObjectProg[];
  /** Functions of `.text`: subprograms, loaded only as part of the programs that call them. */
  readonly subprogs: number;
}

/**
 * Which libbpf reads the object, where that changes the maps:
 * - `1.1+`: libbpf 1.1 and later (Linux 6.2+'s tools/lib/bpf). Global data maps are
 *   `BPF_F_MMAPABLE` only when a skeleton can see one of their variables (`map_is_mmapable`), and
 *   `.bss.*` sections are maps; later releases add `.struct_ops.link` (1.2), `SEC("?.struct_ops")`
 *   and 64-bit `__ulong(map_extra, …)` (1.4), all read here.
 * - `1.0`: libbpf 1.0 and the libbpf of Linux ≤ 6.1's tools/lib/bpf, which Debian 12's bpftool
 *   7.1.0 is built from (though it prints "libbpf v1.1"). Every global data map is mmapable,
 *   `.bss.*` sections are not maps (libbpf skips them, and refuses programs that use them), only
 *   `.struct_ops` holds struct_ops maps, and map_extra is an `__uint`.
 */
export type LibbpfGeneration = '1.0' | '1.1+';
