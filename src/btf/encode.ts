import { BTF_HEADER_SIZE, BTF_INT_ENCODING, BTF_KINDS, BTF_LINKAGES, BTF_MAGIC, BTF_VERSION } from './kinds.js';
import type { BtfTypeSpec } from './types.js';

/**
 * Writes BTF (include/uapi/linux/btf.h layout, little-endian): a 24-byte header, the type
 * section, then the string section (deduplicated, the empty string first). Types get ids
 * 1, 2, … in the order given, so a type may refer to one later in the list (or to itself,
 * which is how tests build loops). It writes what it is given without judging it: values out of
 * a field's range are truncated to the field, as C would.
 *
 * `parseBtf(encodeBtf(types))` decodes to `types` again (with ids), which the tests check on
 * the running kernel's whole vmlinux BTF.
 */
export function encodeBtf(types: readonly BtfTypeSpec[]): Uint8Array {
  const strings = new StringTable();
  const words: number[] = [];
  const type = (name: string, kind: number, vlen: number, kindFlag: boolean, sizeOrType: number): void => {
    words.push(strings.offset(name), ((kindFlag ? 1 : 0) << 31) | (kind << 24) | (vlen & 0xffff), sizeOrType);
  };
  for (const t of types) {
    switch (t.kind) {
      case 'int': {
        const encoding = (t.signed ? BTF_INT_ENCODING.signed : 0) | (t.char ? BTF_INT_ENCODING.char : 0) | (t.bool ? BTF_INT_ENCODING.bool : 0);
        type(t.name, BTF_KINDS.int, 0, false, t.size);
        words.push((encoding << 24) | ((t.bitOffset & 0xff) << 16) | (t.bits & 0xff));
        break;
      }
      case 'float':
        type(t.name, BTF_KINDS.float, 0, false, t.size);
        break;
      case 'ptr':
        type(t.name, BTF_KINDS.ptr, 0, false, t.type);
        break;
      case 'array':
        type(t.name, BTF_KINDS.array, 0, false, 0);
        words.push(t.type, t.indexType, t.nelems);
        break;
      case 'struct':
      case 'union':
        type(t.name, BTF_KINDS[t.kind], t.members.length, t.kindFlag, t.size);
        for (const m of t.members) {
          words.push(strings.offset(m.name), m.type, t.kindFlag ? ((m.bitfieldSize & 0xff) << 24) | (m.bitOffset & 0xffffff) : m.bitOffset);
        }
        break;
      case 'enum':
        type(t.name, BTF_KINDS.enum, t.values.length, t.signed, t.size);
        for (const v of t.values) words.push(strings.offset(v.name), v.value);
        break;
      case 'enum64':
        type(t.name, BTF_KINDS.enum64, t.values.length, t.signed, t.size);
        for (const v of t.values) {
          const bits = BigInt.asUintN(64, v.value);
          words.push(strings.offset(v.name), Number(bits & 0xffffffffn), Number(bits >> 32n));
        }
        break;
      case 'fwd':
        type(t.name, BTF_KINDS.fwd, 0, t.union, 0);
        break;
      case 'typedef':
      case 'volatile':
      case 'const':
      case 'restrict':
        type(t.name, BTF_KINDS[t.kind], 0, false, t.type);
        break;
      case 'type_tag':
        type(t.name, BTF_KINDS.type_tag, 0, t.attribute, t.type);
        break;
      case 'decl_tag':
        type(t.name, BTF_KINDS.decl_tag, 0, t.attribute, t.type);
        words.push(t.componentIdx);
        break;
      case 'func':
        type(t.name, BTF_KINDS.func, BTF_LINKAGES.indexOf(t.linkage), false, t.type);
        break;
      case 'func_proto':
        type(t.name, BTF_KINDS.func_proto, t.params.length, false, t.type);
        for (const p of t.params) words.push(strings.offset(p.name), p.type);
        break;
      case 'var':
        type(t.name, BTF_KINDS.var, 0, false, t.type);
        words.push(BTF_LINKAGES.indexOf(t.linkage));
        break;
      case 'datasec':
        type(t.name, BTF_KINDS.datasec, t.vars.length, false, t.size);
        for (const v of t.vars) words.push(v.type, v.offset, v.size);
        break;
    }
  }
  const str = strings.bytes();
  const typeLen = words.length * 4;
  const out = new Uint8Array(BTF_HEADER_SIZE + typeLen + str.length);
  const view = new DataView(out.buffer);
  view.setUint16(0, BTF_MAGIC, true);
  view.setUint8(2, BTF_VERSION);
  view.setUint8(3, 0);
  view.setUint32(4, BTF_HEADER_SIZE, true);
  view.setUint32(8, 0, true);
  view.setUint32(12, typeLen, true);
  view.setUint32(16, typeLen, true);
  view.setUint32(20, str.length, true);
  for (const [i, w] of words.entries()) view.setUint32(BTF_HEADER_SIZE + 4 * i, w >>> 0, true);
  out.set(str, BTF_HEADER_SIZE + typeLen);
  return out;
}

/** The string section being built: each distinct string once, `""` at offset 0. */
class StringTable {
  readonly #offsets = new Map<string, number>([['', 0]]);
  readonly #chunks: Uint8Array[] = [new Uint8Array(1)];
  #length = 1;
  readonly #encoder = new TextEncoder();

  offset(s: string): number {
    const known = this.#offsets.get(s);
    if (known !== undefined) return known;
    const bytes = this.#encoder.encode(s);
    const at = this.#length;
    const chunk = new Uint8Array(bytes.length + 1);
    chunk.set(bytes);
    this.#chunks.push(chunk);
    this.#length += chunk.length;
    this.#offsets.set(s, at);
    return at;
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(this.#length);
    let at = 0;
    for (const c of this.#chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}
