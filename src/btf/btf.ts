import { BTF_INT_ENCODING, BTF_KIND_NAMES, BTF_KINDS, BTF_LINKAGES, BTF_TYPE_SIZE, type BtfKind, type BtfLinkage } from './kinds.js';
import { checkBtf, type CheckedBtf } from './parse.js';
import type { BtfComposite, BtfMember, BtfMemberLocation, BtfResult, BtfType } from './types.js';

/**
 * A parsed BTF blob (include/uapi/linux/btf.h) and the questions bpfmem asks of it: a type by
 * id or name, what a typedef stands for, how big a type is, where a member lies. Types are
 * decoded when first asked for and kept; the name index is built on the first lookup by name.
 *
 * Every query is bounded: a loop of references in hostile BTF (`typedef A → B → A`, a struct
 * that contains itself through anonymous members) is reported as an error value, never walked
 * forever. Queries never throw.
 */

/** Options of {@link parseBtf}. */
export interface ParseBtfOptions {
  /**
   * `sizeof(void *)` of the target. By default it is read from the BTF as libbpf does
   * (`btf__pointer_size`: the size of `long` or `unsigned long`), and 8 when the BTF has neither.
   */
  readonly pointerSize?: 4 | 8;
}

const ok = <T>(value: T): BtfResult<T> => ({ ok: true, value });
const fail = (error: string): BtfResult<never> => ({ ok: false, error });

/** Kinds a {@link Btf.resolve} walks through: they only rename or qualify another type. */
const MODIFIERS = new Set<number>([BTF_KINDS.typedef, BTF_KINDS.volatile, BTF_KINDS.const, BTF_KINDS.restrict, BTF_KINDS.type_tag]);

/** How deep anonymous struct and union members may nest in a member search. */
const MAX_ANONYMOUS_DEPTH = 64;

const VOID: BtfType = { kind: 'void', id: 0, name: '' };

const utf8 = new TextDecoder('utf-8');
const utf8Encoder = new TextEncoder();

/** FNV-1a over `bytes[start, end)`: the name index's key. */
function hashBytes(bytes: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ (bytes[i] ?? 0), 0x01000193);
  return h >>> 0;
}

/**
 * Parses a BTF blob (`/sys/kernel/btf/vmlinux`, a `.BTF` ELF section's bytes): the {@link Btf},
 * or why the bytes are not BTF this reader accepts. Never throws; work is linear in the size of
 * the input. The bytes are kept, not copied: do not change them afterwards.
 */
export function parseBtf(bytes: Uint8Array, options: ParseBtfOptions = {}): BtfResult<Btf> {
  const checked = checkBtf(bytes);
  return checked.ok ? ok(new Btf(checked.value, options.pointerSize)) : checked;
}

/** The name index of a {@link Btf}: `slots[i]` a type id (0: empty), `hashes[i]` its name's hash. */
interface NameIndex {
  readonly slots: Uint32Array;
  readonly hashes: Uint32Array;
  readonly mask: number;
}

/** A parsed BTF blob: make one with {@link parseBtf}. */
export class Btf {
  readonly #raw: CheckedBtf;
  readonly #decoded: (BtfType | undefined)[];
  /** Strings decoded so far, by offset: BTF stores each string once, and member names repeat. */
  readonly #strings = new Map<number, string>();
  #pointerSize: number | undefined;
  /** Open-addressing table of type ids by name hash (see #buildIndex). */
  #index: NameIndex | undefined;

  /** @internal Use {@link parseBtf}. */
  constructor(raw: CheckedBtf, pointerSize?: number) {
    this.#raw = raw;
    this.#decoded = new Array<BtfType | undefined>(raw.count);
    this.#pointerSize = pointerSize;
  }

  /** Number of type ids, void included: ids run from 0 to `count - 1`. */
  get count(): number {
    return this.#raw.count;
  }

  /** `sizeof(void *)` on the target (see {@link ParseBtfOptions.pointerSize}). */
  get pointerSize(): number {
    if (this.#pointerSize === undefined) {
      let size = 8;
      for (const name of ['long', 'unsigned long', 'long int', 'long unsigned int']) {
        const t = this.findByName(name, 'int');
        if (t?.kind === 'int' && (t.size === 4 || t.size === 8)) {
          size = t.size;
          break;
        }
      }
      this.#pointerSize = size;
    }
    return this.#pointerSize;
  }

  /** Whether `id` names a type here (0, void, included). */
  has(id: number): boolean {
    return Number.isInteger(id) && id >= 0 && id < this.#raw.count;
  }

  /** The kind of type `id` without decoding it, or undefined for no such type. */
  kindOf(id: number): BtfKind | 'void' | undefined {
    if (!this.has(id)) return undefined;
    return id === 0 ? 'void' : BTF_KIND_NAMES[this.#raw.kinds[id] ?? 0];
  }

  /** The name of type `id` without decoding the rest of it ('' for anonymous types). */
  nameOf(id: number): string | undefined {
    if (!this.has(id)) return undefined;
    return id === 0 ? '' : this.#string(this.#u32(this.#at(id)));
  }

  /** Type `id`, decoded, or undefined for no such type. */
  typeById(id: number): BtfType | undefined {
    if (!this.has(id)) return undefined;
    if (id === 0) return VOID;
    let t = this.#decoded[id];
    if (t === undefined) {
      t = this.#decode(id);
      this.#decoded[id] = t;
    }
    return t;
  }

  /** Every type in id order, void first. */
  *types(): Generator<BtfType, void, undefined> {
    for (let id = 0; id < this.#raw.count; id++) {
      const t = this.typeById(id);
      if (t !== undefined) yield t;
    }
  }

  /** The first type (lowest id) named `name`, of `kind` if given. */
  findByName(name: string, kind?: BtfKind): BtfType | undefined {
    for (const id of this.#idsNamed(name)) {
      if (kind === undefined || this.#raw.kinds[id] === BTF_KINDS[kind]) return this.typeById(id);
    }
    return undefined;
  }

  /** Every type named `name` (of `kind` if given), in id order. */
  findAllByName(name: string, kind?: BtfKind): BtfType[] {
    const out: BtfType[] = [];
    for (const id of this.#idsNamed(name)) {
      if (kind !== undefined && this.#raw.kinds[id] !== BTF_KINDS[kind]) continue;
      const t = this.typeById(id);
      if (t !== undefined) out.push(t);
    }
    return out;
  }

  /**
   * The type `id` stands for once typedefs, `const`, `volatile`, `restrict` and type tags are
   * skipped (`resolve(id of pid_t)` is the int `int`). An error for no such type or a loop.
   */
  resolve(id: number): BtfResult<BtfType> {
    if (!this.has(id)) return fail(`no BTF type ${id}`);
    let cur = id;
    // A chain without a loop visits each type at most once.
    for (let steps = 0; steps < this.#raw.count; steps++) {
      const kind = this.#raw.kinds[cur] ?? 0;
      if (cur === 0 || !MODIFIERS.has(kind)) return ok(this.typeById(cur) ?? VOID);
      cur = this.#u32(this.#at(cur) + 8);
    }
    return fail(`BTF type ${id}: its typedefs and modifiers loop`);
  }

  /**
   * `sizeof` type `id` in bytes: the size recorded for ints, floats, enums, structs, unions and
   * datasecs; {@link pointerSize} for pointers; element size × nelems for arrays (of arrays);
   * through typedefs, modifiers and vars. An error for void, functions, forward declarations,
   * loops, and sizes beyond 2^53.
   */
  sizeOf(id: number): BtfResult<number> {
    if (!this.has(id)) return fail(`no BTF type ${id}`);
    let factor = 1;
    let cur = id;
    for (let steps = 0; steps <= this.#raw.count; steps++) {
      const at = cur === 0 ? 0 : this.#at(cur);
      const kind = cur === 0 ? 0 : (this.#raw.kinds[cur] ?? 0);
      switch (kind) {
        case BTF_KINDS.int:
        case BTF_KINDS.float:
        case BTF_KINDS.struct:
        case BTF_KINDS.union:
        case BTF_KINDS.enum:
        case BTF_KINDS.enum64:
        case BTF_KINDS.datasec:
          return this.#times(id, factor, this.#u32(at + 8));
        case BTF_KINDS.ptr:
          return this.#times(id, factor, this.pointerSize);
        case BTF_KINDS.array: {
          // struct btf_array { type, index_type, nelems } after the btf_type.
          factor *= this.#u32(at + BTF_TYPE_SIZE + 8);
          if (factor > Number.MAX_SAFE_INTEGER) return fail(`BTF type ${id}: an array of more than 2^53 elements`);
          cur = this.#u32(at + BTF_TYPE_SIZE);
          continue;
        }
        case BTF_KINDS.typedef:
        case BTF_KINDS.volatile:
        case BTF_KINDS.const:
        case BTF_KINDS.restrict:
        case BTF_KINDS.type_tag:
        case BTF_KINDS.var:
          cur = this.#u32(at + 8);
          continue;
        case 0:
          return fail(`BTF type ${id}: void has no size`);
        default:
          return fail(`BTF type ${id}: a ${BTF_KIND_NAMES[kind] ?? `kind ${kind}`} has no size`);
      }
    }
    return fail(`BTF type ${id}: its element types loop`);
  }

  /**
   * Where member `path` (`"css.cgroup"`, dot-separated) lies in struct or union `struct` (a name,
   * or a type id): the byte offset from the outer struct's start (`offsetof`), or for a bit
   * field its bit offset and width. Members of anonymous struct and union members are found as C
   * finds them; each step after a dot goes into the member's type (through typedefs). An error
   * names the step that failed.
   */
  memberOffset(struct: string | number, path: string): BtfResult<BtfMemberLocation> {
    const root = typeof struct === 'number' ? this.resolve(struct) : this.#composite(struct);
    if (!root.ok) return root;
    const steps = path.split('.');
    if (steps.includes('')) return fail(`${typeof struct === 'number' ? `type ${struct}` : struct}: member path "${path}" has an empty step`);
    let type = root.value;
    let bits = 0;
    const outer = typeof struct === 'number' ? `type ${struct}` : struct;
    for (const [i, step] of steps.entries()) {
      const where = `${outer}.${steps.slice(0, i + 1).join('.')}`;
      if (type.kind !== 'struct' && type.kind !== 'union') return fail(`${where}: ${steps.slice(0, i).join('.') || outer} is a ${type.kind}, not a struct or union`);
      const found = this.#findMember(type, step);
      if (!found.ok) return fail(`${where}: ${found.error}`);
      const { member, bitOffset, kindFlag } = found.value;
      bits += bitOffset;
      const last = i === steps.length - 1;
      const width = this.#bitfieldWidth(member, kindFlag);
      if (!width.ok) return fail(`${where}: ${width.error}`);
      if (width.value !== undefined) {
        bits += width.value.shift;
        if (!last) return fail(`${where}: a bit field has no members`);
        return ok({ bitfield: true, bitOffset: bits, bits: width.value.bits, type: member.type });
      }
      if (bits % 8 !== 0) return fail(`${where}: at bit ${bits}, not on a byte boundary`);
      if (last) return ok({ bitfield: false, offset: bits / 8, type: member.type });
      const next = this.resolve(member.type);
      if (!next.ok) return fail(`${where}: ${next.error}`);
      type = next.value;
    }
    return fail(`${outer}: empty member path`);
  }

  /** `sizeof(struct name)`, or undefined where there is no struct of that name. */
  structSize(name: string): number | undefined {
    const t = this.findByName(name, 'struct');
    return t?.kind === 'struct' ? t.size : undefined;
  }

  // ---------------------------------------------------------------------------------------------

  /** The first struct, else union, named `name`. */
  #composite(name: string): BtfResult<BtfType> {
    const t = this.findByName(name, 'struct') ?? this.findByName(name, 'union');
    return t === undefined ? fail(`no struct or union named "${name}"`) : ok(t);
  }

  /**
   * The member named `name` of `type`, looking into anonymous struct and union members in
   * declaration order, with its bit offset from `type`'s start. A type already searched is not
   * searched again (BTF dedup can make two anonymous members share one type), and a type that
   * contains itself is a loop, so hostile BTF ends after visiting each type once.
   */
  #findMember(type: BtfComposite, name: string): BtfResult<{ member: BtfMember; bitOffset: number; kindFlag: boolean }> {
    const onPath = new Set<number>([type.id]);
    const searched = new Set<number>();
    const search = (t: BtfComposite, base: number, depth: number): { member: BtfMember; bitOffset: number; kindFlag: boolean } | 'loop' | 'deep' | undefined => {
      // C code nests anonymous members a few levels; a bound keeps hostile BTF off the stack's end.
      if (depth > MAX_ANONYMOUS_DEPTH) return 'deep';
      for (const m of t.members) {
        if (m.name === name) return { member: m, bitOffset: base + m.bitOffset, kindFlag: t.kindFlag };
        if (m.name !== '') continue;
        const inner = this.resolve(m.type);
        if (!inner.ok) return 'loop';
        const { id } = inner.value;
        if (inner.value.kind !== 'struct' && inner.value.kind !== 'union') continue;
        if (onPath.has(id)) return 'loop';
        if (searched.has(id)) continue;
        onPath.add(id);
        const found = search(inner.value, base + m.bitOffset, depth + 1);
        onPath.delete(id);
        searched.add(id);
        if (found !== undefined) return found;
      }
      return undefined;
    };
    const found = search(type, 0, 0);
    if (found === 'loop') return fail(`${type.kind} ${type.name || type.id} contains itself through anonymous members`);
    if (found === 'deep') return fail(`${type.kind} ${type.name || type.id} nests anonymous members more than ${MAX_ANONYMOUS_DEPTH} deep`);
    return found === undefined ? fail(`no member "${name}" in ${type.kind} ${type.name || `(anonymous, type ${type.id})`}`) : ok(found);
  }

  /**
   * Whether a member is a bit field, and if so its width and the shift its int type adds.
   * With kind_flag the member says so itself; without, its int type does (uapi/btf.h: "the
   * bit field's int type has its own BTF_INT_OFFSET and BTF_INT_BITS").
   */
  #bitfieldWidth(member: BtfMember, kindFlag: boolean): BtfResult<{ bits: number; shift: number } | undefined> {
    if (kindFlag) return ok(member.bitfieldSize === 0 ? undefined : { bits: member.bitfieldSize, shift: 0 });
    const t = this.resolve(member.type);
    if (!t.ok) return t;
    if (t.value.kind === 'int' && (t.value.bitOffset !== 0 || t.value.bits !== 8 * t.value.size)) return ok({ bits: t.value.bits, shift: t.value.bitOffset });
    if (member.bitOffset % 8 !== 0 && (t.value.kind === 'int' || t.value.kind === 'enum' || t.value.kind === 'enum64')) {
      return ok({ bits: 8 * t.value.size, shift: 0 });
    }
    return ok(undefined);
  }

  #times(id: number, factor: number, size: number): BtfResult<number> {
    const total = factor * size;
    return Number.isSafeInteger(total) ? ok(total) : fail(`BTF type ${id}: its size is beyond 2^53 bytes`);
  }

  /** Ids of the types named `name`, in id order, from the index (built on first use). */
  #idsNamed(name: string): readonly number[] {
    this.#index ??= this.#buildIndex();
    const wanted = utf8Encoder.encode(name);
    if (wanted.length === 0) return [];
    const { slots, hashes, mask } = this.#index;
    const h = hashBytes(wanted, 0, wanted.length);
    const out: number[] = [];
    for (let i = h & mask; slots[i] !== 0; i = (i + 1) & mask) {
      const id = slots[i] ?? 0;
      if (hashes[i] === h && this.#nameIs(id, wanted)) out.push(id);
    }
    return out.sort((a, b) => a - b);
  }

  /**
   * Name hash → type ids, in typed arrays with linear probing: no per-entry objects, so building
   * it over vmlinux's 126k types costs a few milliseconds and leaves nothing for the collector
   * (a Map of the same entries took 20 ms). Types without a name are left out.
   */
  #buildIndex(): NameIndex {
    const { bytes, strStart, offsets, view, count } = this.#raw;
    let size = 1024;
    while (size < 2 * count) size *= 2;
    const slots = new Uint32Array(size);
    const hashes = new Uint32Array(size);
    const mask = size - 1;
    for (let id = 1; id < count; id++) {
      const off = view.getUint32(offsets[id] ?? 0, true);
      if (off === 0) continue;
      const start = strStart + off;
      // The string section ends with a NUL (checked), so this ends inside it.
      let h = 0x811c9dc5;
      let end = start;
      for (let c = bytes[end] ?? 0; c !== 0; c = bytes[++end] ?? 0) h = Math.imul(h ^ c, 0x01000193);
      if (end === start) continue;
      h >>>= 0;
      let i = h & mask;
      while (slots[i] !== 0) i = (i + 1) & mask;
      slots[i] = id;
      hashes[i] = h;
    }
    return { slots, hashes, mask };
  }

  /** Whether type `id`'s name is exactly the bytes `wanted`. */
  #nameIs(id: number, wanted: Uint8Array): boolean {
    const { bytes, strStart, strLen } = this.#raw;
    const start = strStart + this.#u32(this.#at(id));
    if (start + wanted.length >= strStart + strLen) return false;
    for (let i = 0; i < wanted.length; i++) if (bytes[start + i] !== wanted[i]) return false;
    return bytes[start + wanted.length] === 0;
  }

  #at(id: number): number {
    return this.#raw.offsets[id] ?? 0;
  }

  #u32(at: number): number {
    return this.#raw.view.getUint32(at, true);
  }

  /** The NUL-terminated string at `off` of the string section (checked to end with a NUL). */
  #string(off: number): string {
    const known = this.#strings.get(off);
    if (known !== undefined) return known;
    const { bytes, strStart, strLen } = this.#raw;
    const start = strStart + off;
    const limit = strStart + strLen;
    let end = start;
    let ascii = true;
    while (end < limit && bytes[end] !== 0) {
      if ((bytes[end] ?? 0) >= 0x80) ascii = false;
      end++;
    }
    // Names are short ASCII identifiers; the decoder is for the rest (and long hostile strings).
    // `apply` takes the typed array as it is, where a spread would iterate it.
    const s =
      end === start ? '' : ascii && end - start <= 256 ? String.fromCharCode.apply(null, bytes.subarray(start, end) as unknown as number[]) : utf8.decode(bytes.subarray(start, end));
    this.#strings.set(off, s);
    return s;
  }

  #linkage(n: number): BtfLinkage {
    return BTF_LINKAGES[n] ?? 'static';
  }

  #decode(id: number): BtfType {
    const { view } = this.#raw;
    const at = this.#at(id);
    const name = this.#string(this.#u32(at));
    const info = this.#u32(at + 4);
    const vlen = info & 0xffff;
    const kindFlag = info >>> 31 === 1;
    const sizeOrType = this.#u32(at + 8);
    const body = at + BTF_TYPE_SIZE;
    const kind = BTF_KIND_NAMES[this.#raw.kinds[id] ?? 0];
    switch (kind) {
      case 'int': {
        const word = this.#u32(body);
        const encoding = (word >>> 24) & 0x0f;
        return {
          kind,
          id,
          name,
          size: sizeOrType,
          signed: (encoding & BTF_INT_ENCODING.signed) !== 0,
          char: (encoding & BTF_INT_ENCODING.char) !== 0,
          bool: (encoding & BTF_INT_ENCODING.bool) !== 0,
          bitOffset: (word >>> 16) & 0xff,
          bits: word & 0xff,
        };
      }
      case 'float':
        return { kind, id, name, size: sizeOrType };
      case 'ptr':
        return { kind, id, name, type: sizeOrType };
      case 'array':
        return { kind, id, name, type: this.#u32(body), indexType: this.#u32(body + 4), nelems: this.#u32(body + 8) };
      case 'struct':
      case 'union': {
        const members: BtfMember[] = [];
        for (let i = 0, m = body; i < vlen; i++, m += 12) {
          const raw = this.#u32(m + 8);
          members.push({
            name: this.#string(this.#u32(m)),
            type: this.#u32(m + 4),
            bitOffset: kindFlag ? raw & 0xffffff : raw,
            bitfieldSize: kindFlag ? raw >>> 24 : 0,
          });
        }
        return { kind, id, name, size: sizeOrType, kindFlag, members };
      }
      case 'enum': {
        const values = [];
        for (let i = 0, m = body; i < vlen; i++, m += 8) {
          values.push({ name: this.#string(this.#u32(m)), value: kindFlag ? view.getInt32(m + 4, true) : this.#u32(m + 4) });
        }
        return { kind, id, name, size: sizeOrType, signed: kindFlag, values };
      }
      case 'enum64': {
        const values = [];
        for (let i = 0, m = body; i < vlen; i++, m += 12) {
          const bits = (BigInt(this.#u32(m + 8)) << 32n) | BigInt(this.#u32(m + 4));
          values.push({ name: this.#string(this.#u32(m)), value: kindFlag ? BigInt.asIntN(64, bits) : bits });
        }
        return { kind, id, name, size: sizeOrType, signed: kindFlag, values };
      }
      case 'fwd':
        return { kind, id, name, union: kindFlag };
      case 'typedef':
      case 'volatile':
      case 'const':
      case 'restrict':
        return { kind, id, name, type: sizeOrType };
      case 'type_tag':
        return { kind, id, name, type: sizeOrType, attribute: kindFlag };
      case 'decl_tag':
        return { kind, id, name, type: sizeOrType, componentIdx: view.getInt32(body, true), attribute: kindFlag };
      case 'func':
        return { kind, id, name, type: sizeOrType, linkage: this.#linkage(vlen) };
      case 'func_proto': {
        const params = [];
        for (let i = 0, m = body; i < vlen; i++, m += 8) params.push({ name: this.#string(this.#u32(m)), type: this.#u32(m + 4) });
        return { kind, id, name, type: sizeOrType, params };
      }
      case 'var':
        return { kind, id, name, type: sizeOrType, linkage: this.#linkage(this.#u32(body)) };
      case 'datasec': {
        const vars = [];
        for (let i = 0, m = body; i < vlen; i++, m += 12) vars.push({ type: this.#u32(m), offset: this.#u32(m + 4), size: this.#u32(m + 8) });
        return { kind, id, name, size: sizeOrType, vars };
      }
      case undefined:
        // checkBtf admitted only known kinds.
        return VOID;
    }
  }
}
