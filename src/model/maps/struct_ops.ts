import { fail, type Failure } from '../../vocab/errno.js';
import type { MapFlag } from '../../vocab/flags.js';
import type { KernelProfile } from '../../vocab/profile.js';
import type { Alloc, ElementModel, MapTypeModel } from './alloc.js';
import { alloc, checkFlags, einval, firstFailure, finishModel, hasFix, since } from './common.js';
import type { MapSpec } from '../../vocab/map-spec.js';

/*
 * kernel/bpf/bpf_struct_ops.c: a `struct bpf_struct_ops_map` holding the kernel copy of the
 * value (`bpf_struct_ops_<name>`), the user's copy, one link (program) pointer per function and,
 * in newer kernels, one ksym pointer per function, plus the trampoline image.
 */

/** bpf_struct_ops_map_alloc_check() accepts `BPF_F_LINK` and `BPF_F_VTYPE_BTF_OBJ_FD`. */
const STRUCT_OPS_FLAGS: readonly MapFlag[] = ['link', 'vtype_btf_obj_fd'];

/**
 * Whether the map counts its functions and keeps a `struct bpf_ksym *` per function: "bpf: Use
 * function pointers count as struct_ops links count" (821a3fa32bbe: `st_map->funcs_cnt =
 * count_func_ptrs(btf, t)` sizes `links` and replaces `btf_type_vlen(vt)` in
 * bpf_struct_ops_map_mem_usage()) and "bpf: Add kernel symbol for struct_ops trampoline"
 * (7c8ce4ffb684: `ksyms`, `funcs_cnt * sizeof(struct bpf_ksym *)` more), mainline 6.13. Both were
 * backported together (the first as "Stable-dep-of" the second) to 6.12.2 and 6.11.11 (stable
 * review series "[PATCH 6.12 329/826]" and "[PATCH 6.11 348/817]", 3 Dec 2024); Debian's 6.12.118
 * (linux-source-6.12, kernel/bpf/bpf_struct_ops.c) has both. No other stable line took them [I].
 * A bare `6.12` is 6.12.0, before the backport, as for every {@link hasFix} gate; a distribution's
 * 6.12 kernel (`6.12.118+deb12-amd64`) gives its patch level.
 */
function hasKsyms(profile: KernelProfile): boolean {
  return hasFix(profile, [6, 13], { '6.12': 2, '6.11': 11 });
}

/**
 * `btf_type_vlen(vt)`, the members of the value type `bpf_struct_ops_<name>`, which
 * bpf_struct_ops_map_mem_usage() counts as links (sic) from 6.4 until {@link hasKsyms}: three
 * (`refcnt`, `state`, `data`: kernel/bpf/bpf_struct_ops.c `BPF_STRUCT_OPS_COMMON_VALUE`) before
 * 6.9, two (`struct bpf_struct_ops_common_value common`, `data`) from "bpf: validate value_type"
 * (612d087d4ba5, Kui-Feng Lee's struct_ops-from-modules series, bpf-next pull of 26 Jan 2024 →
 * 6.9; include/linux/bpf.h in Debian's 6.12.118).
 */
function valueTypeMembers(profile: KernelProfile): number {
  return since(profile, 6, 9) ? 2 : 3;
}

/**
 * Whether map_alloc() allocates the one-page trampoline image (bpf_jit_alloc_exec(PAGE_SIZE) in
 * 6.1's bpf_struct_ops_map_alloc(), arch_alloc_bpf_trampoline() later). From "bpf: struct_ops
 * supports more than one page for trampolines" (187e2af05abe, bpf-next pull of Mar 2024 → 6.9)
 * the pages are allocated on update (bpf_struct_ops_prepare_trampoline()), none at creation;
 * Debian's 6.12.118 bpf_struct_ops_map_alloc() has none.
 */
function imageAtCreation(profile: KernelProfile): boolean {
  return !since(profile, 6, 9);
}

/**
 * The function pointers of the kernel struct (`tcp_congestion_ops`: 13), as `count_func_ptrs()`
 * counts them for `st_map->funcs_cnt`; 0 when the spec lacks it.
 */
function funcs(spec: MapSpec): number {
  return spec.structOpsFuncs ?? 0;
}

/**
 * What the links (`progs` before 6.4) are sized by at creation: before {@link hasKsyms},
 * `btf_type_vlen(t)`, all members of the kernel struct (18 for `tcp_congestion_ops`, with
 * `name`, `owner`, `list`, `key` and `flags`); with it, `funcs_cnt` ("bpf: Create links for
 * struct_ops maps' ksyms"). A spec without the member count falls back to the functions, which
 * undercounts by (members − functions) × 8 bytes before the kmalloc rounding.
 */
function linkSlots(spec: MapSpec, profile: KernelProfile): number {
  return hasKsyms(profile) ? funcs(spec) : (spec.structOpsMembers ?? funcs(spec));
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
        ? einval(spec, 'the value type comes from BTF (btf_vmlinux_value_type_id); give the number of function pointers of the kernel struct (struct_ops_funcs)')
        : undefined,
    () =>
      spec.valueSize < profile.structs.bpf_struct_ops_value
        ? fail('EINVAL', `${spec.type}: value_size must be the size of the bpf_struct_ops_<name> value type, at least ${profile.structs.bpf_struct_ops_value}`)
        : undefined,
  );
}

/**
 * kernel/bpf/bpf_struct_ops.c: bpf_struct_ops_map_mem_usage() (6.4+): `sizeof(*st_map) + vt->size
 * - sizeof(struct bpf_struct_ops_value)` (map with kernel value), `vt->size` (user value), the
 * links, and `PAGE_SIZE` for the trampoline image (even where none or several pages are used
 * [U]). The links term is `btf_type_vlen(vt) * sizeof(struct bpf_links *)` in 6.4–6.12.1 and
 * 6.11.0–6.11.10 ({@link valueTypeMembers}: 24 bytes to 6.8, 16 from 6.9, whatever the functions),
 * `funcs_cnt * sizeof(struct bpf_link *) + funcs_cnt * sizeof(struct bpf_ksym *)` with
 * {@link hasKsyms} (6.13+, 6.12.2+, 6.11.11+). tcp_congestion_ops (vt 256 B, 13 functions):
 * 5016 on 6.8 (Debian 6.1's `bpf_struct_ops_map` of 448 B), 5072 on 6.12.0, 5264 on 6.12.118 and
 * 6.18 (512 B).
 */
function memUsage(spec: MapSpec, _elements: number, profile: KernelProfile): number {
  const ptr = profile.structs.pointer;
  const links = hasKsyms(profile) ? 2 * funcs(spec) * ptr : valueTypeMembers(profile) * ptr;
  return stMapSize(spec, profile) + spec.valueSize + links + profile.pageSize;
}

/**
 * kernel/bpf/bpf_struct_ops.c bpf_struct_ops_map_alloc() (5.6–5.10): `map_total_size = st_map_size +
 * sizeof(vt->size) + btf_type_vlen(t) * sizeof(struct bpf_prog *)` passed to
 * bpf_map_charge_init(), where `sizeof(vt->size)` is (sic) the 4 bytes of a u32, not the value
 * (d69ac27055a8, "bpf: Introduce BPF_MAP_TYPE_STRUCT_OPS"). `btf_type_vlen(t)` counts all members
 * of the kernel struct; see {@link linkSlots}.
 */
function legacyCost(spec: MapSpec, profile: KernelProfile): number {
  return stMapSize(spec, profile) + 4 + linkSlots(spec, profile) * profile.structs.pointer;
}

/**
 * kernel/bpf/bpf_struct_ops.c: bpf_struct_ops_map_alloc(): map with kernel value, user value and
 * links (`progs` in older kernels), all bpf_map_area_alloc(); ksyms with
 * {@link hasKsyms}; the trampoline image before 6.9 ({@link imageAtCreation}), executable memory
 * counted against bpf_jit_limit, not memcg.
 */
function createAllocs(spec: MapSpec, profile: KernelProfile): readonly Alloc[] {
  const ptr = profile.structs.pointer;
  const n = funcs(spec);
  const out: Alloc[] = [
    alloc(profile, 'bpf_struct_ops_map + kvalue', 'area', 'current', stMapSize(spec, profile)),
    alloc(profile, 'uvalue', 'area', 'current', spec.valueSize),
    alloc(profile, since(profile, 6, 4) ? 'links' : 'progs', 'area', 'current', linkSlots(spec, profile) * ptr),
  ];
  if (hasKsyms(profile)) out.push(alloc(profile, 'ksyms', 'area', 'current', n * ptr));
  if (imageAtCreation(profile)) out.push(alloc(profile, 'trampoline image', 'pages', 'none', profile.pageSize));
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
