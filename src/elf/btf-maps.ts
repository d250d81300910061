import type { Btf, BtfComposite, BtfDatasec, BtfMember } from '../btf/index.js';
import { aKind, resolveSize, skipModsAndTypedefs } from './btf-libbpf.js';
import { quote, SHT, type ElfFile, type ElfSection } from './elf.js';
import { kernelName, mapLoadTime } from './names.js';
import { MAP_TYPES } from '../vocab/maptypes.js';
import type { DatasecFixup } from './fixup.js';
import type { LibbpfGeneration, ObjectMap } from './types.js';

/*
 * BTF-defined maps: the variables of the `.maps` section (libbpf src/libbpf.c:
 * `bpf_object__init_user_btf_maps`, `bpf_object__init_user_btf_map`, `parse_btf_map_def`).
 * Each is a struct whose members say one thing each through their types, using no data:
 *
 *   __uint(max_entries, 1024)  →  int (*max_entries)[1024]      (the array's nelems)
 *   __type(key, struct k)      →  struct k *key                 (sizeof the pointee)
 *   __array(values, struct in) →  struct in *values[]           (map-in-map inner definition)
 *   __ulong(map_extra, N)      →  enum { … = N } map_extra      (libbpf 1.4+: 64-bit values)
 */

/** `enum libbpf_pin_type`. */
const PIN = { none: 0, by_name: 1 } as const;

/** A map definition read from a struct (`struct btf_map_def`). */
interface MapDef {
  type?: number;
  keySize?: number;
  valueSize?: number;
  maxEntries: number;
  flags: number;
  numaNode?: number;
  mapExtra: number;
  pinning?: 'none' | 'by_name';
  inner?: MapDef;
}

/** Where a `.maps` variable lies, for the relocations of its `values` (see {@link countInitSlots}). */
export interface BtfMapPlace {
  readonly symbol: string;
  readonly offset: number;
  readonly size: number;
  /** Byte offset of the struct's last member, if it is `values`. */
  readonly valuesOffset?: number;
}

/** A BTF-defined map and where it lies in `.maps`. */
export interface BtfMap {
  readonly map: Omit<ObjectMap, 'initialEntries'>;
  readonly place: BtfMapPlace;
}

/**
 * The maps of the `.maps` section, in the order of the `.maps` DATASEC's variables (libbpf's
 * order). Errors where libbpf refuses the object, with its reason.
 */
export function readBtfMaps(elf: ElfFile, btf: Btf | undefined, fixup: DatasecFixup, libbpf: LibbpfGeneration): BtfMap[] {
  const section = elf.sections.find((s) => s.name === '.maps');
  if (section === undefined) return [];
  const data = elf.data(section);
  if (btf === undefined) throw elf.error('a .maps section but no .BTF: BTF-defined maps need the BTF clang writes with -g');
  // libbpf takes the first DATASEC of that name, in id order.
  const sec = btf.findByName('.maps', 'datasec');
  if (sec?.kind !== 'datasec') throw elf.error('the .maps section has no DATASEC ".maps" in BTF');
  return readDatasec(elf, btf, sec, section, data.byteLength, fixup, libbpf);
}

function readDatasec(elf: ElfFile, btf: Btf, sec: BtfDatasec, section: ElfSection, dataSize: number, fixup: DatasecFixup, libbpf: LibbpfGeneration): BtfMap[] {
  const out: BtfMap[] = [];
  const offsets = fixup.offsets(sec);
  for (const i of fixup.order(sec)) {
    const vi = sec.vars[i];
    if (vi === undefined) continue;
    const v = btf.typeById(vi.type);
    const name = btf.nameOf(vi.type) ?? '';
    if (name === '') throw elf.error(`.maps variable ${i}: empty name`);
    const where = `map ${quote(name)}`;
    if (v?.kind !== 'var') throw elf.error(`${where}: BTF type ${vi.type} is ${aKind(v?.kind ?? 'missing type')}, not a variable`);
    if (v.linkage !== 'global') throw elf.error(`${where}: ${v.linkage} linkage; libbpf only creates global maps (a static map?)`);
    const offset = offsets[i] ?? vi.offset;
    if (offset + vi.size > dataSize) throw elf.error(`${where}: its ${vi.size} bytes at offset ${offset} run past the ${dataSize}-byte .maps section`);
    const def = skipModsAndTypedefs(btf, v.type);
    if (!def.ok) throw elf.error(`${where}: ${def.error}`);
    if (def.value.kind !== 'struct') throw elf.error(`${where}: its definition is ${aKind(def.value.kind)}, not a struct`);
    if (def.value.size > vi.size) throw elf.error(`${where}: its ${def.value.size}-byte definition is larger than the variable (${vi.size} bytes)`);
    const parsed = parseMapDef(elf, btf, name, def.value, false, libbpf);
    const last = def.value.members.at(-1);
    out.push({
      map: toObjectMap(name, section.name, parsed),
      place: {
        symbol: name,
        offset,
        size: vi.size,
        ...(last?.name === 'values' && last.bitOffset % 8 === 0 ? { valuesOffset: last.bitOffset / 8 } : {}),
      },
    });
  }
  return out;
}

function toObjectMap(symbol: string, section: string, def: MapDef): Omit<ObjectMap, 'initialEntries'> {
  const type = def.type ?? 0;
  const inner = def.inner === undefined ? undefined : { ...toObjectMap(`${symbol}.inner`, section, def.inner), initialEntries: 0 };
  const base = {
    name: kernelName(symbol),
    symbol,
    source: 'btf' as const,
    section,
    type,
    keySize: def.keySize ?? 0,
    valueSize: def.valueSize ?? 0,
    maxEntries: def.maxEntries,
    flags: def.flags,
    mapExtra: def.mapExtra,
    autocreate: true,
    ...(def.numaNode === undefined ? {} : { numaNode: def.numaNode }),
    ...(def.pinning === undefined ? {} : { pinning: def.pinning }),
    ...(inner === undefined ? {} : { inner }),
  };
  const loadTime = mapLoadTime(base);
  if (inner !== undefined) loadTime.push(`inner map ${quote(inner.name)}: libbpf creates it as a template and frees it once this map exists`);
  if (def.pinning === 'by_name') loadTime.push(`pinned by name: libbpf reuses a map already pinned at <pin root>/${symbol} instead of creating one`);
  return { ...base, loadTime };
}

/** `parse_btf_map_def()` (strict, as `bpftool prog load` and skeletons open objects). */
function parseMapDef(elf: ElfFile, btf: Btf, mapName: string, def: BtfComposite, isInner: boolean, libbpf: LibbpfGeneration): MapDef {
  const out: MapDef = { maxEntries: 0, flags: 0, mapExtra: 0 };
  const err = (message: string): Error => elf.error(`map ${quote(mapName)}: ${message}`);
  def.members.forEach((m, i) => {
    switch (m.name) {
      case '':
        throw err(`member ${i} has no name`);
      case 'type':
        out.type = fieldInt(elf, btf, mapName, m);
        break;
      case 'max_entries':
        out.maxEntries = fieldInt(elf, btf, mapName, m);
        break;
      case 'map_flags':
        out.flags = fieldInt(elf, btf, mapName, m);
        break;
      case 'numa_node':
        out.numaNode = fieldInt(elf, btf, mapName, m);
        break;
      case 'key_size':
      case 'value_size': {
        const size = fieldInt(elf, btf, mapName, m);
        setSize(out, m.name === 'key_size' ? 'keySize' : 'valueSize', size, err);
        break;
      }
      case 'key':
      case 'value': {
        const t = btf.typeById(m.type);
        if (t?.kind !== 'ptr') throw err(`${m.name} is ${aKind(t?.kind ?? 'missing type')}, not a pointer (__type(${m.name}, T))`);
        const size = resolveSize(btf, t.type);
        if (!size.ok) throw err(`cannot size the ${m.name} type: ${size.error}`);
        setSize(out, m.name === 'key' ? 'keySize' : 'valueSize', size.value, err);
        break;
      }
      case 'values': {
        const mapInMap = out.type === MAP_TYPES.array_of_maps.id || out.type === MAP_TYPES.hash_of_maps.id;
        const progArray = out.type === MAP_TYPES.prog_array.id;
        if (isInner) throw err('multi-level inner maps are not supported');
        if (i !== def.members.length - 1) throw err("'values' must be the last member");
        if (!mapInMap && !progArray) throw err("'values' is only for map-in-map and prog_array maps (is 'type' set before it?)");
        setSize(out, 'valueSize', 4, err);
        const arr = btf.typeById(m.type);
        if (arr?.kind !== 'array' || arr.nelems !== 0) throw err("'values' is not a zero-length array (__array(values, …))");
        const ptr = skipModsAndTypedefs(btf, arr.type);
        if (!ptr.ok || ptr.value.kind !== 'ptr') throw err("'values' elements are not pointers");
        const target = skipModsAndTypedefs(btf, ptr.value.type);
        if (!target.ok) throw err(`'values': ${target.error}`);
        if (progArray) {
          if (target.value.kind !== 'func_proto') throw err(`prog_array 'values' point to ${aKind(target.value.kind)}, not a function`);
          break;
        }
        if (target.value.kind !== 'struct') throw err(`inner map definition is ${aKind(target.value.kind)}, not a struct`);
        out.inner = parseMapDef(elf, btf, `${mapName}.inner`, target.value, true, libbpf);
        break;
      }
      case 'pinning': {
        if (isInner) throw err("an inner map definition can't be pinned");
        const pin = fieldInt(elf, btf, mapName, m);
        if (pin !== PIN.none && pin !== PIN.by_name) throw err(`pinning ${pin} is neither LIBBPF_PIN_NONE (0) nor LIBBPF_PIN_BY_NAME (1)`);
        out.pinning = pin === PIN.by_name ? 'by_name' : 'none';
        break;
      }
      case 'map_extra':
        // `__ulong` (a one-value enum) is read since libbpf 1.4; before, map_extra is an `__uint` too.
        out.mapExtra = libbpf === '1.0' ? fieldInt(elf, btf, mapName, m) : fieldLong(elf, btf, mapName, m);
        break;
      default:
        throw err(`unknown field ${quote(m.name)} (libbpf refuses it)`);
    }
  });
  if (out.type === undefined || out.type === 0) throw err("map type isn't specified (__uint(type, …))");
  return out;
}

function setSize(def: MapDef, field: 'keySize' | 'valueSize', size: number, err: (m: string) => Error): void {
  const had = def[field];
  if (had !== undefined && had !== 0 && had !== size) throw err(`conflicting ${field === 'keySize' ? 'key' : 'value'} size ${had} != ${size}`);
  def[field] = size;
}

/** `get_map_field_int()`: `int (*name)[N]` is N. */
function fieldInt(elf: ElfFile, btf: Btf, mapName: string, m: BtfMember): number {
  const err = (message: string): Error => elf.error(`map ${quote(mapName)}: ${quote(m.name)}: ${message}`);
  const t = skipModsAndTypedefs(btf, m.type);
  if (!t.ok) throw err(t.error);
  if (t.value.kind !== 'ptr') throw err(`expected a pointer to an array (__uint), got ${aKind(t.value.kind)}`);
  const arr = btf.typeById(t.value.type);
  if (arr === undefined) throw err(`type ${t.value.type} not found`);
  if (arr.kind !== 'array') throw err(`expected a pointer to an array (__uint), got a pointer to ${aKind(arr.kind)}`);
  return arr.nelems;
}

/** `get_map_field_long()`: `__uint` as above, or a one-value enum (`__ulong`). */
function fieldLong(elf: ElfFile, btf: Btf, mapName: string, m: BtfMember): number {
  const t = skipModsAndTypedefs(btf, m.type);
  if (t.ok && t.value.kind === 'ptr') return fieldInt(elf, btf, mapName, m);
  const err = (message: string): Error => elf.error(`map ${quote(mapName)}: ${quote(m.name)}: ${message}`);
  if (!t.ok) throw err(t.error);
  if (t.value.kind !== 'enum' && t.value.kind !== 'enum64') throw err(`expected an enum (__ulong) or a pointer to an array (__uint), got ${aKind(t.value.kind)}`);
  const [only, ...rest] = t.value.values;
  if (only === undefined || rest.length > 0) throw err('an __ulong enum has exactly one value');
  // libbpf reads the u32/u64 bits as written, whatever the enum's signedness.
  const value = typeof only.value === 'bigint' ? BigInt.asUintN(64, only.value) : BigInt(only.value >>> 0);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw err(`value ${value} is beyond 2^53`);
  return Number(value);
}

/**
 * Entries libbpf writes into maps at load from `.values = { [i] = &x }`: the `.rel.maps`
 * relocations, one slot each (`bpf_object__collect_map_relos`). Returns the number of distinct
 * slots per map symbol.
 */
export function countInitSlots(elf: ElfFile, places: readonly BtfMapPlace[]): Map<string, number> {
  const counts = new Map<string, Set<number>>();
  const rel = elf.sections.find((s) => s.name === '.rel.maps' && s.type === SHT.rel);
  if (rel === undefined || places.length === 0) return new Map();
  const symbols = elf.symbols();
  // By offset, to find each relocation's map by binary search (variables do not overlap).
  const sorted = [...places].sort((a, b) => a.offset - b.offset);
  const containing = (offset: number): BtfMapPlace | undefined => {
    let lo = 0;
    let hi = sorted.length - 1;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if ((sorted[mid]?.offset ?? 0) <= offset) lo = mid;
      else hi = mid - 1;
    }
    const p = sorted[lo];
    // BPF pointers are 8 bytes, whatever the host's.
    return p !== undefined && p.offset <= offset && offset + 8 <= p.offset + p.size ? p : undefined;
  };
  elf.rels(rel).forEach((r, i) => {
    if (symbols[r.symbol] === undefined) throw elf.error(`.rel.maps relocation ${i}: symbol ${r.symbol} is not in the symbol table`);
    const place = containing(r.offset);
    if (place === undefined) throw elf.error(`.rel.maps relocation ${i}: no map at offset ${r.offset}`);
    if (place.valuesOffset === undefined) throw elf.error(`.rel.maps relocation ${i}: map ${quote(place.symbol)} has no 'values' member to initialize`);
    const off = r.offset - place.offset - place.valuesOffset;
    if (off < 0 || off % 8 !== 0) throw elf.error(`.rel.maps relocation ${i}: offset ${r.offset} is not a slot of ${quote(place.symbol)}'s 'values'`);
    const slots = counts.get(place.symbol) ?? new Set<number>();
    slots.add(off / 8);
    counts.set(place.symbol, slots);
  });
  return new Map([...counts].map(([k, v]) => [k, v.size]));
}
