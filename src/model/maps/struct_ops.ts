import { fail, type Failure } from '../../vocab/errno.js';
import type { MapFlag } from '../../vocab/flags.js';
import type { KernelProfile } from '../../vocab/profile.js';
import type { Alloc, ElementModel, MapTypeModel } from './alloc.js';
import { alloc, checkFlags, einval, firstFailure, finishModel, since } from './common.js';
import type { MapSpec } from '../../vocab/map-spec.js';

/*
 * kernel/bpf/bpf_struct_ops.c: a `struct bpf_struct_ops_map` holding the kernel copy of the
 * value (`bpf_struct_ops_<name>`), the user's copy, one link (program) pointer per function and,
 * in newer kernels, one ksym pointer per function, plus the trampoline image.
 */

/** bpf_struct_ops_map_alloc_check() accepts `BPF_F_LINK` and `BPF_F_VTYPE_BTF_OBJ_FD`. */
const STRUCT_OPS_FLAGS: readonly MapFlag[] = ['link', 'vtype_btf_obj_fd'];

/**
 * Whether the map keeps a `struct bpf_ksym *` per function (trampoline kallsyms). Inferred from
 * the 6.18 measurement (docs/kernel-facts.md §1.3: 5264 = 512 + 192 + 256 + 13·16 + 4096); the
 * version it arrived in is assumed to be 6.14. [I/U]
 */
function hasKsyms(profile: KernelProfile): boolean {
  return since(profile, 6, 14);
}

/** Function pointers of the value type (`st_map->funcs_cnt`), from BTF; 0 when the spec lacks it. */
function funcs(spec: MapSpec): number {
  return spec.structOpsFuncs ?? 0;
}

/** `sizeof(*st_map) + vt->size - sizeof(struct bpf_struct_ops_value)`: the map with the kernel value. */
function stMapSize(spec: MapSpec, profile: KernelProfile): number {
  return profile.structs.bpf_struct_ops_map + spec.valueSize - profile.structs.bpf_struct_ops_value;
}

/**
 * bpf_struct_ops.c: bpf_struct_ops_map_alloc_check() and the value-type checks of
 * bpf_struct_ops_map_alloc(). The kernel finds the value type from `btf_vmlinux_value_type_id`;
 * the model needs `structOpsFuncs` in its place and `value_size` equal to the type's size.
 */
function check(spec: MapSpec, profile: KernelProfile): Failure | undefined {
  return firstFailure(
    () => (spec.keySize !== 4 ? einval(spec, `key_size must be 4, not ${spec.keySize}`) : undefined),
    () => (spec.maxEntries !== 1 ? einval(spec, `max_entries must be 1, not ${spec.maxEntries}`) : undefined),
    () => checkFlags(spec, profile, STRUCT_OPS_FLAGS),
    () =>
      spec.structOpsFuncs === undefined
        ? einval(spec, 'the value type comes from BTF (btf_vmlinux_value_type_id); give structOpsFuncs, the number of function pointers of the kernel struct')
        : undefined,
    () =>
      spec.valueSize < profile.structs.bpf_struct_ops_value
        ? fail('EINVAL', `${spec.type}: value_size must be the size of the bpf_struct_ops_<name> value type, at least ${profile.structs.bpf_struct_ops_value} (EINVAL)`)
        : undefined,
  );
}

/**
 * bpf_struct_ops.c: bpf_struct_ops_map_mem_usage() (6.4+): map with kernel value, user value,
 * link pointers, ksym pointers (see {@link hasKsyms}), and one page for the trampoline image
 * (even where several image pages are used [U]).
 */
function memUsage(spec: MapSpec, _elements: number, profile: KernelProfile): number {
  const ptr = profile.structs.pointer;
  const n = funcs(spec);
  return stMapSize(spec, profile) + spec.valueSize + n * ptr + (hasKsyms(profile) ? n * ptr : 0) + profile.pageSize;
}

/**
 * bpf_struct_ops.c (5.6–5.10): `st_map_size + sizeof(vt->size) + btf_type_vlen(t) *
 * sizeof(struct bpf_prog *)`, where `sizeof(vt->size)` is (sic) the 4 bytes of a u32, not the
 * value. Recalled [U]; the struct's members are taken as its functions.
 */
function legacyCost(spec: MapSpec, profile: KernelProfile): number {
  return stMapSize(spec, profile) + 4 + funcs(spec) * profile.structs.pointer;
}

/** bpf_struct_ops.c: bpf_struct_ops_map_alloc(). */
function createAllocs(spec: MapSpec, profile: KernelProfile): readonly Alloc[] {
  const ptr = profile.structs.pointer;
  const n = funcs(spec);
  const out: Alloc[] = [
    alloc(profile, 'bpf_struct_ops_map + kvalue', 'area', 'current', stMapSize(spec, profile)),
    alloc(profile, 'uvalue', 'area', 'current', spec.valueSize),
    alloc(profile, since(profile, 6, 4) ? 'links' : 'progs', 'area', 'current', n * ptr),
  ];
  if (hasKsyms(profile)) out.push(alloc(profile, 'ksyms', 'area', 'current', n * ptr));
  // The trampoline image (arch_alloc_bpf_trampoline / bpf_jit_alloc_exec) is executable memory
  // counted against bpf_jit_limit, not memcg. Newer kernels allocate it on update. [U]
  out.push(alloc(profile, 'trampoline image', 'pages', 'none', profile.pageSize));
  return out;
}

/** The one value is written once to register the ops; there are no inserts. */
function elements(spec: MapSpec): ElementModel | Failure {
  return fail(
    'ENOTSUPP',
    `${spec.type} takes no inserts (ENOTSUPP in the model): its single value is written once to register the kernel ops, into memory allocated at creation`,
  );
}

/** `BPF_MAP_TYPE_STRUCT_OPS`. */
export const structOpsModel: MapTypeModel = finishModel({
  check,
  normalize: (spec) => spec,
  memUsage,
  legacyCost,
  createAllocs,
  elements,
});
