import type { Btf, BtfType } from '../btf/index.js';
import { U32_MAX } from '../vocab/limits.js';

/*
 * The few BTF questions libbpf asks while it opens an object, answered as libbpf answers them
 * (src/btf.c, src/libbpf.c). They differ from src/btf's general queries in small ways that decide
 * what libbpf accepts: a resolve depth of 32 (`MAX_RESOLVE_DEPTH`), sizes limited to u32, decl
 * tags walked through. Each returns a value or an error string, never throws, and ends on loops.
 */

/** `a struct`, `an enum`: a kind with its article, for messages. */
export function aKind(kind: string): string {
  return `${/^[aeiou]/.test(kind) ? 'an' : 'a'} ${kind}`;
}

/** `MAX_RESOLVE_DEPTH` of src/btf.c. */
const MAX_RESOLVE_DEPTH = 32;

export type Got<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };
const ok = <T>(value: T): Got<T> => ({ ok: true, value });
const fail = (error: string): Got<never> => ({ ok: false, error });

/** `skip_mods_and_typedefs()`: the type under typedefs, const, volatile, restrict and type tags. */
export function skipModsAndTypedefs(btf: Btf, id: number): Got<BtfType> {
  const r = btf.resolve(id);
  return r.ok ? ok(r.value) : fail(r.error);
}

/** `btf__resolve_size()`: `sizeof` the type, through typedefs, modifiers, vars and arrays; at most u32. */
export function resolveSize(btf: Btf, id: number): Got<number> {
  let nelems = 1;
  let cur = id;
  for (let depth = 0; depth < MAX_RESOLVE_DEPTH; depth++) {
    const t = btf.typeById(cur);
    if (t === undefined) return fail(`no BTF type ${cur}`);
    switch (t.kind) {
      case 'void':
        return fail(`type ${id} has no size (void)`);
      case 'int':
      case 'struct':
      case 'union':
      case 'enum':
      case 'enum64':
      case 'datasec':
      case 'float':
        return times(id, nelems, t.size);
      case 'ptr':
        return times(id, nelems, btf.pointerSize);
      case 'typedef':
      case 'volatile':
      case 'const':
      case 'restrict':
      case 'var':
      case 'decl_tag':
      case 'type_tag':
        cur = t.type;
        continue;
      case 'array':
        if (nelems && t.nelems > Math.floor(U32_MAX / nelems)) return fail(`type ${id} is larger than 4 GiB`);
        nelems *= t.nelems;
        cur = t.type;
        continue;
      case 'fwd':
      case 'func':
      case 'func_proto':
        return fail(`type ${id} has no size (${aKind(t.kind)})`);
    }
  }
  return fail(`type ${id}: more than ${MAX_RESOLVE_DEPTH} typedefs, modifiers or arrays deep`);
}

function times(id: number, nelems: number, size: number): Got<number> {
  if (nelems && size > Math.floor(U32_MAX / nelems)) return fail(`type ${id} is larger than 4 GiB`);
  return ok(nelems * size);
}

/** `btf__resolve_type()`: the type under typedefs, modifiers and vars, at most 32 deep, not void. */
export function resolveType(btf: Btf, id: number): Got<BtfType> {
  let cur = id;
  for (let depth = 0; depth < MAX_RESOLVE_DEPTH; depth++) {
    const t = btf.typeById(cur);
    if (t === undefined) return fail(`no BTF type ${cur}`);
    if (t.kind === 'void') return fail(`type ${id} resolves to void`);
    if (t.kind !== 'typedef' && t.kind !== 'volatile' && t.kind !== 'const' && t.kind !== 'restrict' && t.kind !== 'type_tag' && t.kind !== 'var') return ok(t);
    cur = t.type;
  }
  return fail(`type ${id}: more than ${MAX_RESOLVE_DEPTH} typedefs or modifiers deep`);
}

/**
 * `btf__align_of()`: a type's alignment, 1 for a struct whose layout shows it is packed. libbpf
 * recurses without a bound; here struct nesting deeper than 32 is an error, so loops end.
 */
export function alignOf(btf: Btf, id: number, depth = 0): Got<number> {
  if (depth > MAX_RESOLVE_DEPTH) return fail(`type ${id}: nested more than ${MAX_RESOLVE_DEPTH} deep`);
  const t = btf.typeById(id);
  if (t === undefined) return fail(`no BTF type ${id}`);
  switch (t.kind) {
    case 'int':
    case 'enum':
    case 'enum64':
    case 'float':
      return ok(Math.min(btf.pointerSize, t.size));
    case 'ptr':
      return ok(btf.pointerSize);
    case 'typedef':
    case 'volatile':
    case 'const':
    case 'restrict':
    case 'type_tag':
    case 'array':
      return alignOf(btf, t.type, depth + 1);
    case 'struct':
    case 'union': {
      let max = 1;
      for (const m of t.members) {
        const a = alignOf(btf, m.type, depth + 1);
        if (!a.ok) return a;
        if (a.value <= 0) return fail(`type ${id}: a member has alignment ${a.value}`);
        max = Math.max(max, a.value);
        // A member off its type's alignment means the struct is packed.
        if (m.bitfieldSize === 0 && m.bitOffset % (8 * a.value) !== 0) return ok(1);
      }
      return ok(t.size % max !== 0 ? 1 : max);
    }
    case 'void':
    case 'fwd':
    case 'func':
    case 'func_proto':
    case 'var':
    case 'datasec':
    case 'decl_tag':
      return fail(`type ${id}: ${aKind(t.kind)} has no alignment`);
  }
}

/** `btf_type_resolve_func_ptr()` of the kernel: whether a member is a pointer to a function. */
export function isFuncPtr(btf: Btf, id: number): boolean {
  const ptr = btf.resolve(id);
  if (!ptr.ok || ptr.value.kind !== 'ptr') return false;
  const target = btf.resolve(ptr.value.type);
  return target.ok && target.value.kind === 'func_proto';
}
