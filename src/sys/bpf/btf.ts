import { Btf, parseBtf, type BtfKind } from '../../btf/index.js';
import { BpfmemError } from '../../vocab/errors.js';

/**
 * The BTF lookups the bpf(2) layer needs: a type id by name (`attach_btf_id` of the
 * `bpf_iter_bpf_map` function for a map iterator) and a member's offset. They are thin,
 * throwing wrappers over the reader of src/btf, and take a parsed {@link Btf} or raw bytes
 * (parsed once per byte array and remembered).
 */

export { BTF_KINDS, type BtfKind } from '../../btf/index.js';

/** Bytes already parsed, so repeated lookups on the same blob parse it once. */
const parsedBytes = new WeakMap<Uint8Array, Btf>();

/** A Btf from a Btf or bytes; throws a {@link BpfmemError} (`input`) for bytes that are not BTF. */
function asBtf(btf: Btf | Uint8Array): Btf {
  if (btf instanceof Btf) return btf;
  let parsed = parsedBytes.get(btf);
  if (parsed === undefined) {
    const r = parseBtf(btf);
    if (!r.ok) throw new BpfmemError('input', r.error);
    parsed = r.value;
    parsedBytes.set(btf, parsed);
  }
  return parsed;
}

/**
 * The id of the first type of `kind` named `name`, or undefined. Throws a {@link BpfmemError}
 * (`input`) for bytes that are not BTF.
 */
export function findBtfTypeId(btf: Btf | Uint8Array, name: string, kind: BtfKind): number | undefined {
  return asBtf(btf).findByName(name, kind)?.id;
}

/**
 * The byte offset of `member` (a dot path such as `css.cgroup`; members of anonymous structs
 * and unions are found) in the struct or union named `struct` (`offsetof`), or undefined where
 * there is no such struct or member, or the member is a bit field. Throws a
 * {@link BpfmemError} (`input`) for bytes that are not BTF.
 */
export function findBtfMemberOffset(btf: Btf | Uint8Array, struct: string, member: string): number | undefined {
  const r = asBtf(btf).memberOffset(struct, member);
  return r.ok && !r.value.bitfield ? r.value.offset : undefined;
}

/** The running kernel's BTF, parsed (src/sys/bpf/vmlinux.ts). */
export { readVmlinuxBtf } from './vmlinux.js';
