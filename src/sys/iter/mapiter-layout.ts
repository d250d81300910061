import type { Btf, BtfResult } from '../../btf/index.js';
import { MAP_TYPES, type MapType } from '../../vocab/maptypes.js';
import { BPF_OBJ_NAME_LEN } from '../bpf/types.js';

/**
 * What the map iterator program needs from the running kernel's BTF: the function it attaches
 * to, where its context puts the map, where `struct bpf_map` keeps the fields it reports, and
 * the pointer chain from a map to the kernfs id of the memory cgroup it is charged to. Pure:
 * takes a parsed {@link Btf}, so tests can give any kernel's layout.
 */

/** A scalar field: where, and how wide (1, 2, 4 or 8 bytes). */
export interface ScalarField {
  readonly offset: number;
  readonly size: 1 | 2 | 4 | 8;
}

/**
 * From a `struct bpf_map *` to the kernfs id of the charged memory cgroup: load a pointer at
 * each of `hops` in turn (stopping at NULL), then the id at `id` of the last one.
 *
 * - `objcg` (6.0+): `map->objcg` → `obj_cgroup.memcg` → `mem_cgroup.css.cgroup` → `cgroup.kn`
 *   → `kernfs_node.id` (kernel/bpf/syscall.c: `bpf_map_save_memcg` stores
 *   `get_obj_cgroup_from_current()`; an objcg follows its memcg to the parent when the memcg is
 *   removed, mm/memcontrol.c `memcg_reparent_objcgs`, so the map reports the parent then).
 * - `memcg` (5.11–5.19): `map->memcg` → `mem_cgroup.css.cgroup` → `cgroup.kn` → `kernfs_node.id`.
 */
export interface ChargeChain {
  readonly via: 'objcg' | 'memcg';
  readonly hops: readonly number[];
  readonly id: ScalarField;
}

/** The kernel keeps no pointer from a map to a memory cgroup (before 5.11, or CONFIG_MEMCG=n). */
export interface NoChargeChain {
  readonly via: 'none';
  readonly reason: string;
}

/**
 * A counter of what a map holds, in the struct the map is embedded in (`container_of(map, …)`),
 * read with `bpf_probe_read_kernel` (the verifier lets a program load only inside
 * `struct bpf_map` itself): what the type's `map_mem_usage()` multiplies (docs/kernel-facts.md
 * §1.3).
 */
export interface CountField {
  /** `enum bpf_map_type` values whose maps are embedded in that struct. */
  readonly mapTypes: readonly number[];
  /** Offset of the counter from the `struct bpf_map *` (counter offset minus the map's). */
  readonly offset: number;
  readonly size: 4 | 8;
  /** `lpm_trie.n_entries`, for messages. */
  readonly what: string;
}

/** Where the iterator reads how many elements a map holds, so that no map is opened for its fdinfo. */
export interface ElementCounts {
  /**
   * BTF id of the kfunc `bpf_map_sum_elem_count` (kernel/bpf/map_iter.c, 6.6+): the sum of a
   * map's per-CPU `elem_count`, which kernel/bpf/hashtab.c `inc_elem_count`/`dec_elem_count` keep
   * in step with `htab->count` (or `pcount`) for a no-prealloc hash, the count
   * `htab_map_mem_usage()` multiplies. Absent on older kernels.
   */
  readonly sumElemCount?: number;
  /** Other types' counters. */
  readonly fields: readonly CountField[];
}

/** Everything the iterator program is built from. */
export interface MapIterLayout {
  /** BTF id of the function `bpf_iter_bpf_map` (`attach_btf_id`; kernel/bpf/map_iter.c, `DEFINE_BPF_ITER_FUNC(bpf_map, …)`). */
  readonly attachBtfId: number;
  /** Offsets in the context, `struct bpf_iter__bpf_map { meta; map; }`. */
  readonly ctxMeta: number;
  readonly ctxMap: number;
  /** `bpf_iter_meta.seq`, the `seq_file` that `bpf_seq_write` appends to. */
  readonly metaSeq: number;
  /** Fields of `struct bpf_map`. */
  readonly map: {
    readonly id: ScalarField;
    readonly type: ScalarField;
    readonly keySize: ScalarField;
    readonly valueSize: ScalarField;
    readonly maxEntries: ScalarField;
    readonly flags: ScalarField;
    /** `char name[BPF_OBJ_NAME_LEN]`. */
    readonly name: number;
    /** `u64 map_extra` (5.16+): a bloom filter's hash count, an arena's address. */
    readonly mapExtra?: number;
  };
  readonly charge: ChargeChain | NoChargeChain;
  readonly counts: ElementCounts;
}

const ok = <T>(value: T): BtfResult<T> => ({ ok: true, value });
const fail = (error: string): BtfResult<never> => ({ ok: false, error });

/** The `struct bpf_map` members reported, by their name in {@link MapIterLayout.map}. */
const MAP_FIELDS = [
  ['id', 'id'],
  ['type', 'map_type'],
  ['keySize', 'key_size'],
  ['valueSize', 'value_size'],
  ['maxEntries', 'max_entries'],
  ['flags', 'map_flags'],
] as const;

/** The byte offset of a member that is not a bit field. */
function offset(btf: Btf, struct: string, path: string): BtfResult<{ offset: number; type: number }> {
  const r = btf.memberOffset(struct, path);
  if (!r.ok) return r;
  if (r.value.bitfield) return fail(`${struct}.${path} is a bit field`);
  return ok({ offset: r.value.offset, type: r.value.type });
}

/** A member that is an int or enum of 1, 2, 4 or 8 bytes. */
function scalar(btf: Btf, struct: string, path: string): BtfResult<ScalarField> {
  const r = offset(btf, struct, path);
  if (!r.ok) return r;
  const t = btf.resolve(r.value.type);
  if (!t.ok) return fail(`${struct}.${path}: ${t.error}`);
  if (t.value.kind !== 'int' && t.value.kind !== 'enum' && t.value.kind !== 'enum64') return fail(`${struct}.${path} is a ${t.value.kind}, not an integer`);
  const size = t.value.size;
  if (size !== 1 && size !== 2 && size !== 4 && size !== 8) return fail(`${struct}.${path} is ${size} bytes wide`);
  return ok({ offset: r.value.offset, size });
}

/** A member that is a pointer. */
function pointer(btf: Btf, struct: string, path: string): BtfResult<number> {
  const r = offset(btf, struct, path);
  if (!r.ok) return r;
  const t = btf.resolve(r.value.type);
  if (!t.ok) return fail(`${struct}.${path}: ${t.error}`);
  if (t.value.kind !== 'ptr') return fail(`${struct}.${path} is a ${t.value.kind}, not a pointer`);
  return ok(r.value.offset);
}

/** The chain from `struct mem_cgroup *` to its cgroup's kernfs id. */
function fromMemcg(btf: Btf): BtfResult<{ hops: number[]; id: ScalarField }> {
  const cgroup = pointer(btf, 'mem_cgroup', 'css.cgroup');
  if (!cgroup.ok) return cgroup;
  const kn = pointer(btf, 'cgroup', 'kn');
  if (!kn.ok) return kn;
  const id = scalar(btf, 'kernfs_node', 'id');
  if (!id.ok) return id;
  return ok({ hops: [cgroup.value, kn.value], id: id.value });
}

/**
 * Which chain leads from a map to its memory cgroup on this kernel: `bpf_map.objcg` where it
 * exists, else `bpf_map.memcg`, else none (with the reason).
 */
export function chargeChain(btf: Btf): BtfResult<ChargeChain | NoChargeChain> {
  const objcg = btf.memberOffset('bpf_map', 'objcg');
  const memcg = btf.memberOffset('bpf_map', 'memcg');
  if (!objcg.ok && !memcg.ok) {
    return ok({
      via: 'none',
      reason: 'struct bpf_map has neither objcg (6.0+) nor memcg (5.11–5.19): this kernel charges BPF maps to no memory cgroup (before 5.11, or CONFIG_MEMCG off)',
    });
  }
  const rest = fromMemcg(btf);
  if (!rest.ok) return rest;
  if (objcg.ok) {
    const first = pointer(btf, 'bpf_map', 'objcg');
    if (!first.ok) return first;
    const memcgOfObjcg = pointer(btf, 'obj_cgroup', 'memcg');
    if (!memcgOfObjcg.ok) return memcgOfObjcg;
    return ok({ via: 'objcg', hops: [first.value, memcgOfObjcg.value, ...rest.value.hops], id: rest.value.id });
  }
  const first = pointer(btf, 'bpf_map', 'memcg');
  if (!first.ok) return first;
  return ok({ via: 'memcg', hops: [first.value, ...rest.value.hops], id: rest.value.id });
}

/** Hash types that may be made without preallocation: their elements come from the kfunc. */
export const COUNTED_HASH_TYPES: readonly number[] = (['hash', 'percpu_hash', 'hash_of_maps'] as const).map((t) => MAP_TYPES[t].id);

/**
 * The counters of the other types whose memory follows their contents, by container struct:
 * kernel/bpf/lpm_trie.c `trie_mem_usage` (`n_entries`), kernel/bpf/devmap.c `dev_map_mem_usage`
 * (`items`), net/core/sock_map.c `sock_hash_mem_usage` (`count`), net/xdp/xskmap.c
 * `xsk_map_mem_usage` (`count`).
 */
const COUNTERS: readonly { readonly types: readonly MapType[]; readonly struct: string; readonly member: string }[] = [
  { types: ['lpm_trie'], struct: 'lpm_trie', member: 'n_entries' },
  { types: ['devmap', 'devmap_hash'], struct: 'bpf_dtab', member: 'items' },
  { types: ['sockhash'], struct: 'bpf_shtab', member: 'count' },
  { types: ['xskmap'], struct: 'xsk_map', member: 'count' },
];

/** A counter: an integer member, or an `atomic_t`/`atomic64_t` (its `counter`). */
function counter(btf: Btf, struct: string, member: string): BtfResult<ScalarField> {
  const direct = scalar(btf, struct, member);
  return direct.ok ? direct : scalar(btf, struct, `${member}.counter`);
}

/**
 * Where this kernel keeps the element counts bpfmem can read. Each is optional: a kernel without
 * the kfunc or a struct (a type built as a module, or absent) leaves those maps to fdinfo.
 */
export function elementCounts(btf: Btf): ElementCounts {
  const fn = btf.findByName('bpf_map_sum_elem_count', 'func');
  const fields: CountField[] = [];
  for (const c of COUNTERS) {
    const map = offset(btf, c.struct, 'map');
    const count = counter(btf, c.struct, c.member);
    if (!map.ok || !count.ok || (count.value.size !== 4 && count.value.size !== 8)) continue;
    fields.push({ mapTypes: c.types.map((t) => MAP_TYPES[t].id), offset: count.value.offset - map.value.offset, size: count.value.size, what: `${c.struct}.${c.member}` });
  }
  return { ...(fn !== undefined && btf.memberOffset('bpf_map', 'elem_count').ok && { sumElemCount: fn.id }), fields };
}

/**
 * The layout of the map iterator on the kernel described by `btf`, or what is missing (a kernel
 * before 5.8 has no `bpf_iter_bpf_map`; a field renamed since is named in the error).
 */
export function readMapIterLayout(btf: Btf): BtfResult<MapIterLayout> {
  const fn = btf.findByName('bpf_iter_bpf_map', 'func');
  if (fn === undefined) return fail('the kernel has no bpf_iter_bpf_map function in its BTF: map iterators need Linux 5.8+');
  const ctxMeta = pointer(btf, 'bpf_iter__bpf_map', 'meta');
  if (!ctxMeta.ok) return ctxMeta;
  const ctxMap = pointer(btf, 'bpf_iter__bpf_map', 'map');
  if (!ctxMap.ok) return ctxMap;
  const metaSeq = pointer(btf, 'bpf_iter_meta', 'seq');
  if (!metaSeq.ok) return metaSeq;
  const fields = {} as Record<'id' | 'type' | 'keySize' | 'valueSize' | 'maxEntries' | 'flags', ScalarField>;
  for (const [key, member] of MAP_FIELDS) {
    const r = scalar(btf, 'bpf_map', member);
    if (!r.ok) return r;
    fields[key] = r.value;
  }
  const name = offset(btf, 'bpf_map', 'name');
  if (!name.ok) return name;
  const nameSize = btf.sizeOf(name.value.type);
  if (!nameSize.ok || nameSize.value !== BPF_OBJ_NAME_LEN) return fail(`bpf_map.name is not char[${BPF_OBJ_NAME_LEN}]`);
  const charge = chargeChain(btf);
  if (!charge.ok) return charge;
  const mapExtra = scalar(btf, 'bpf_map', 'map_extra');
  return ok({
    attachBtfId: fn.id,
    ctxMeta: ctxMeta.value,
    ctxMap: ctxMap.value,
    metaSeq: metaSeq.value,
    map: { ...fields, name: name.value.offset, ...(mapExtra.ok && mapExtra.value.size === 8 && { mapExtra: mapExtra.value.offset }) },
    charge: charge.value,
    counts: elementCounts(btf),
  });
}
