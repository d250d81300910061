import type { Btf } from '../../btf/index.js';
import type { MapType } from '../../vocab/maptypes.js';

/**
 * Where refused map updates can be seen: the kernel functions through which an update of each
 * map type returns, and what the running kernel's BTF says of each. Pure: takes a parsed
 * {@link Btf}, so tests give any kernel's.
 *
 * Why these functions (docs/watch.md has the whole table, with the kernels it was measured on):
 * - A program's `bpf_map_update_elem()` becomes a direct call of the type's
 *   `ops->map_update_elem` (kernel/bpf/verifier.c `do_misc_fixups`, 5.10 `fixup_bpf_calls`), or
 *   goes through the helper, which calls the same function (kernel/bpf/helpers.c
 *   `bpf_map_update_elem`). Ops functions are address-taken, so they always have an
 *   out-of-line body an fexit program can attach to, whatever the context of the caller
 *   (syscall, softirq, a tracing program).
 * - bpf(BPF_MAP_UPDATE_ELEM) goes through `bpf_map_update_value()` (kernel/bpf/syscall.c), which
 *   calls the same ops function for most types but its own for per-CPU hashes and arrays, fd
 *   maps, sockmaps, queues and stacks (`map_push_elem`); `bpf_map_update_value()` is a BTF
 *   function only from 6.12 (inlined before).
 * - Since 6.14 kernel/bpf/Makefile builds lpm_trie.o and queue_stack_maps.o without ftrace
 *   (`CFLAGS_REMOVE_… = $(CC_FLAGS_FTRACE)`): their functions stay in BTF, and attaching answers
 *   EBUSY.
 * - The allocators (kernel/bpf/memalloc.c `bpf_mem_cache_alloc` and the rest) are `notrace`, so
 *   failures are counted where the update returns, not where the allocation fails.
 */

/** Which way an update came: from a BPF program (`bpf_map_update_elem` helper) or bpf(2). */
export type UpdatePath = 'prog' | 'sys';

/** Which counters a hook adds to: the map type's own functions, or the syscall's generic one. */
export type HookTable = 'type' | 'sys';

/** One function to attach an fexit program to. */
export interface HookSpec {
  /** The kernel function (a BTF FUNC of vmlinux). */
  readonly fn: string;
  /** At most 6 characters, for the program's name (`bpfmem_w_<short>`). */
  readonly short: string;
  /** Map types whose updates return through it. */
  readonly types: readonly MapType[];
  /** The paths on which they do. */
  readonly paths: readonly UpdatePath[];
  /** Where bpf(2) reaches it for some of `types` only: those (the others' bpf(2) updates go around it). */
  readonly sysTypes?: readonly MapType[];
  readonly table: HookTable;
  /** Which argument (0-based) points to the map, or to a struct that embeds it. */
  readonly mapArg: number;
  /** The struct the argument points to: `bpf_map`, or one whose member `map` is the `struct bpf_map`. */
  readonly mapStruct: 'bpf_map' | 'bpf_local_storage_map';
  /** Attached by default: off for functions that run for every update yet never fail for memory (arrays). */
  readonly byDefault: boolean;
}

const hook = (fn: string, short: string, types: readonly MapType[], paths: readonly UpdatePath[], extra: Partial<HookSpec> = {}): HookSpec => ({
  fn,
  short,
  types,
  paths,
  table: 'type',
  mapArg: 0,
  mapStruct: 'bpf_map',
  byDefault: true,
  ...extra,
});

/**
 * Every hook, with the paths it sees (kernel/bpf/syscall.c `bpf_map_update_value` for the sys
 * path, each type's `*_map_ops` for the prog path; 6.12 and 7.2 sources).
 */
export const HOOKS: readonly HookSpec[] = [
  // kernel/bpf/hashtab.c: htab_map_ops, htab_lru_map_ops, htab_percpu_map_ops, htab_lru_percpu_map_ops.
  hook('htab_map_update_elem', 'htab', ['hash'], ['prog', 'sys']),
  hook('htab_lru_map_update_elem', 'lru', ['lru_hash'], ['prog', 'sys']),
  hook('htab_percpu_map_update_elem', 'pcpu', ['percpu_hash'], ['prog']),
  hook('htab_lru_percpu_map_update_elem', 'lrupc', ['lru_percpu_hash'], ['prog']),
  // bpf(2) on per-CPU hashes goes around the ops function (bpf_map_update_value).
  hook('bpf_percpu_hash_update', 'pcpusy', ['percpu_hash', 'lru_percpu_hash'], ['sys']),
  hook('bpf_fd_htab_map_update_elem', 'hofm', ['hash_of_maps'], ['sys']),
  // kernel/bpf/lpm_trie.c, queue_stack_maps.c, bloom_filter.c (push is their update).
  hook('trie_update_elem', 'trie', ['lpm_trie'], ['prog', 'sys']),
  hook('queue_stack_map_push_elem', 'qspush', ['queue', 'stack'], ['prog', 'sys']),
  hook('bloom_map_push_elem', 'bloom', ['bloom_filter'], ['prog', 'sys']),
  // kernel/bpf/devmap.c, cpumap.c, net/xdp/xskmap.c: programs may only look these up and redirect.
  hook('dev_map_update_elem', 'devmap', ['devmap'], ['sys']),
  hook('dev_map_hash_update_elem', 'devmh', ['devmap_hash'], ['sys']),
  hook('cpu_map_update_elem', 'cpumap', ['cpumap'], ['sys']),
  hook('xsk_map_update_elem', 'xsk', ['xskmap'], ['sys']),
  // net/core/sock_map.c: the syscall's own entry, and the ops function programs reach.
  hook('sock_map_update_elem_sys', 'socksy', ['sockmap', 'sockhash'], ['sys']),
  hook('sock_map_update_elem', 'sockpr', ['sockmap', 'sockhash'], ['prog']),
  hook('bpf_fd_array_map_update_elem', 'fdarr', ['prog_array', 'perf_event_array', 'cgroup_array', 'array_of_maps'], ['sys']),
  hook('bpf_fd_reuseport_array_update_elem', 'reuse', ['reuseport_sockarray'], ['sys']),
  // kernel/bpf/local_storage.c.
  hook('cgroup_storage_update_elem', 'cgstor', ['cgroup_storage'], ['sys']),
  hook('bpf_percpu_cgroup_storage_update', 'pcgsto', ['percpu_cgroup_storage'], ['sys']),
  // kernel/bpf/bpf_local_storage.c: every sk/inode/task/cgrp storage update and F_CREATE get
  // (whose helper returns NULL, not an errno); it returns a pointer or ERR_PTR.
  hook('bpf_local_storage_update', 'lstor', ['sk_storage', 'inode_storage', 'task_storage', 'cgrp_storage'], ['prog', 'sys'], { mapArg: 1, mapStruct: 'bpf_local_storage_map' }),
  hook('bpf_struct_ops_map_update_elem', 'stops', ['struct_ops'], ['sys']),
  // kernel/bpf/arraymap.c: every array update; arrays never fail for memory (E2BIG, EEXIST,
  // EINVAL only) and a hot array would pay the trampoline on each update: off by default.
  // bpf(2) reaches it for plain arrays (bpf_map_update_value's last branch, map->ops->map_update_elem);
  // per-CPU arrays' bpf(2) updates go to bpf_percpu_array_update instead.
  hook('array_map_update_elem', 'array', ['array', 'percpu_array'], ['prog', 'sys'], { byDefault: false, sysTypes: ['array'] }),
  hook('bpf_percpu_array_update', 'pcarr', ['percpu_array'], ['sys'], { byDefault: false }),
  // kernel/bpf/syscall.c (6.12+): every bpf() update and batch update of every type.
  hook('bpf_map_update_value', 'sysupd', [], ['sys'], { table: 'sys' }),
];

/** Whether `spec` sees updates of `type` on `path`. */
export function hookSees(spec: HookSpec, type: MapType, path: UpdatePath): boolean {
  return spec.types.includes(type) && spec.paths.includes(path) && (path !== 'sys' || spec.sysTypes === undefined || spec.sysTypes.includes(type));
}

/** Map types a BPF program may update (kernel/bpf/verifier.c `check_map_func_compatibility`, 6.12). */
export const PROG_UPDATABLE: ReadonlySet<MapType> = new Set<MapType>([
  'hash',
  'lru_hash',
  'percpu_hash',
  'lru_percpu_hash',
  'array',
  'percpu_array',
  'lpm_trie',
  'queue',
  'stack',
  'bloom_filter',
  'sockmap',
  'sockhash',
  'sk_storage',
  'inode_storage',
  'task_storage',
  'cgrp_storage',
]);

/** What one hook needs to be built on this kernel. */
export interface HookTarget {
  readonly spec: HookSpec;
  /** `attach_btf_id`: the FUNC's BTF id. */
  readonly btfId: number;
  /** Arguments of the function: the return value is at `ctx[nargs]` for fexit. */
  readonly nargs: number;
  /** `int`/`long` (an errno below zero) or a pointer (an `ERR_PTR`). */
  readonly returns: 'int' | 'ptr';
  /** Byte offset of the map id from the argument's pointer. */
  readonly idOffset: number;
}

/** A hook the kernel's BTF rules out, and why. */
export interface HookAbsent {
  readonly spec: HookSpec;
  readonly reason: string;
}

/** The hooks this kernel's BTF allows, and those it does not. */
export interface HookPlan {
  readonly targets: readonly HookTarget[];
  readonly absent: readonly HookAbsent[];
  /** Offset of `bpf_map.id` (48 on 5.10, 68 on 6.1, 52 on 6.12, 92 on 6.18: never assumed). */
  readonly mapIdOffset: number;
}

/** The x86-64 trampoline takes at most 6 arguments before 6.6 (`arch/x86/net/bpf_jit_comp.c`), and the tracing context at most 12. */
const MAX_ARGS = 12;

/** The struct a pointer type points to, through typedefs and modifiers. */
function pointee(btf: Btf, typeId: number): string | undefined {
  const p = btf.resolve(typeId);
  if (!p.ok || p.value.kind !== 'ptr') return undefined;
  const t = btf.resolve(p.value.type);
  return t.ok && (t.value.kind === 'struct' || t.value.kind === 'fwd') ? t.value.name : undefined;
}

/**
 * Which hooks of {@link HOOKS} this kernel has (`all`: the ones off by default too), with what
 * each program needs from its BTF. Throws nothing: a kernel without `struct bpf_map` in BTF has
 * no plan at all and says so in every `absent` reason.
 */
export function planHooks(btf: Btf, which: 'default' | 'all' = 'default'): HookPlan | { readonly error: string } {
  const id = btf.memberOffset('bpf_map', 'id');
  if (!id.ok || id.value.bitfield) return { error: `this kernel's BTF has no bpf_map.id: ${id.ok ? 'it is a bit field' : id.error}` };
  const mapIdOffset = id.value.offset;
  const storageMap = btf.memberOffset('bpf_local_storage_map', 'map');
  const targets: HookTarget[] = [];
  const absent: HookAbsent[] = [];
  for (const spec of HOOKS) {
    if (which === 'default' && !spec.byDefault) continue;
    const fn = btf.findByName(spec.fn, 'func');
    if (fn?.kind !== 'func') {
      absent.push({ spec, reason: 'not a function in this kernel\'s BTF (inlined, renamed, or not in this kernel)' });
      continue;
    }
    const proto = btf.resolve(fn.type);
    if (!proto.ok || proto.value.kind !== 'func_proto') {
      absent.push({ spec, reason: 'its BTF has no prototype' });
      continue;
    }
    const { params } = proto.value;
    if (params.length > MAX_ARGS || params.length <= spec.mapArg) {
      absent.push({ spec, reason: `it takes ${params.length} arguments here` });
      continue;
    }
    const arg = params[spec.mapArg];
    const points = arg === undefined ? undefined : pointee(btf, arg.type);
    if (points !== spec.mapStruct) {
      absent.push({ spec, reason: `its argument ${spec.mapArg + 1} is not a struct ${spec.mapStruct} * on this kernel` });
      continue;
    }
    let idOffset = mapIdOffset;
    if (spec.mapStruct === 'bpf_local_storage_map') {
      if (!storageMap.ok || storageMap.value.bitfield) {
        absent.push({ spec, reason: 'struct bpf_local_storage_map has no member map in this kernel\'s BTF' });
        continue;
      }
      idOffset += storageMap.value.offset;
    }
    const ret = btf.resolve(proto.value.type);
    let returns: 'int' | 'ptr';
    if (ret.ok && ret.value.kind === 'ptr') returns = 'ptr';
    else if (ret.ok && ret.value.kind === 'int' && (ret.value.size === 4 || ret.value.size === 8) && ret.value.signed) returns = 'int';
    else {
      absent.push({ spec, reason: 'it returns neither a signed int nor a pointer here' });
      continue;
    }
    targets.push({ spec, btfId: fn.id, nargs: params.length, returns, idOffset });
  }
  return { targets, absent, mapIdOffset };
}
