import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseBtf, type Btf } from './btf.js';
import { encodeBtf } from './encode.js';
import { BTF_KINDS, trailerSize } from './kinds.js';
import { SAMPLE_TYPES } from './sample.js';

/**
 * Hostile BTF: thousands of mutations of a valid blob (bit flips, words overwritten with
 * troublemakers, truncation, header fields out of range, references bent into loops) and
 * arbitrary type sections. The properties: parseBtf never throws and answers a Btf or an error
 * message; every query on a Btf it accepted never throws and ends quickly (bounded work).
 */

const RUNS = { numRuns: 2500 };
const SAMPLE = encodeBtf(SAMPLE_TYPES);
const HDR = 24;

/** Offsets of each sample type's btf_type (index 0 is type 1). */
const TYPE_AT: readonly number[] = (() => {
  const out: number[] = [];
  let at = HDR;
  for (const t of SAMPLE_TYPES) {
    out.push(at);
    const vlen = 'members' in t ? t.members.length : 'values' in t ? t.values.length : 'params' in t ? t.params.length : 'vars' in t ? t.vars.length : 0;
    at += 12 + (trailerSize(BTF_KINDS[t.kind], vlen) ?? 0);
  }
  return out;
})();

/** u32 values that break things: limits, kinds with huge vlens, ids around the last one. */
const nasty = fc.oneof(
  fc.constantFrom(0, 1, 2, 12, 24, 0xff, 0xffff, 0x10000, 0xfffff, 0x100000, 0x7fffffff, 0x80000000, 0xffffffff, 0x0400ffff, 0x8400ffff, 0x0500ffff, 0x0d00ffff, 0x0f00ffff, 0x1300ffff, 0x14000000, SAMPLE_TYPES.length, SAMPLE_TYPES.length + 1),
  fc.nat({ max: 64 }),
  fc.integer({ min: 0, max: 0xffffffff }),
);

type Edit =
  | { readonly op: 'flip'; readonly at: number; readonly bit: number }
  | { readonly op: 'word'; readonly at: number; readonly value: number }
  | { readonly op: 'header'; readonly field: number; readonly value: number }
  | { readonly op: 'ref'; readonly type: number; readonly to: number }
  | { readonly op: 'truncate'; readonly length: number };

const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant('word' as const), at: fc.nat(), value: nasty }),
  fc.record({ op: fc.constant('header' as const), field: fc.integer({ min: 0, max: 5 }), value: fc.oneof(nasty, fc.integer({ min: -8, max: 8 }).map((d) => SAMPLE.length + d)) }),
  // Point a type's size/type word at another type: typedef loops, arrays of themselves, …
  fc.record({ op: fc.constant('ref' as const), type: fc.nat({ max: SAMPLE_TYPES.length - 1 }), to: fc.nat({ max: SAMPLE_TYPES.length + 1 }) }),
  fc.record({ op: fc.constant('truncate' as const), length: fc.nat() }),
);

function apply(edits: readonly Edit[]): Uint8Array {
  let bytes = SAMPLE.slice();
  for (const e of edits) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    switch (e.op) {
      case 'flip':
        if (bytes.length > 0) bytes[e.at % bytes.length]! ^= 1 << e.bit;
        break;
      case 'word':
        if (bytes.length >= 4) view.setUint32(4 * (e.at % Math.floor(bytes.length / 4)), e.value >>> 0, true);
        break;
      case 'header':
        // hdr_len, type_off, type_len, str_off, str_len, and (field 0) magic+version+flags.
        if (bytes.length >= HDR) view.setUint32(4 * e.field, e.value >>> 0, true);
        break;
      case 'ref': {
        const at = TYPE_AT[e.type]! + 8;
        if (at + 4 <= bytes.length) view.setUint32(at, e.to, true);
        break;
      }
      case 'truncate':
        bytes = bytes.slice(0, e.length % (bytes.length + 1));
        break;
    }
  }
  return bytes;
}

/** Asks every question of every type; none may throw. Returns how many answers were errors. */
function exercise(btf: Btf): number {
  let errors = 0;
  const count = (r: { ok: boolean }): void => {
    if (!r.ok) errors++;
  };
  for (let id = 0; id <= btf.count; id++) {
    const t = btf.typeById(id);
    btf.kindOf(id);
    btf.nameOf(id);
    count(btf.resolve(id));
    count(btf.sizeOf(id));
    if (t === undefined) continue;
    if (t.name !== '') {
      btf.findByName(t.name);
      btf.findAllByName(t.name, 'struct');
      btf.structSize(t.name);
    }
    if (t.kind === 'struct' || t.kind === 'union') {
      for (const m of t.members) {
        count(btf.memberOffset(id, m.name || 'x'));
        count(btf.memberOffset(id, `${m.name}.memcg`));
      }
      if (t.name !== '') count(btf.memberOffset(t.name, 'memcg'));
    }
  }
  return errors;
}

function check(bytes: Uint8Array): void {
  const start = performance.now();
  const r = parseBtf(bytes);
  if (r.ok) {
    exercise(r.value);
  } else {
    expect(r.error.length).toBeGreaterThan(0);
  }
  // Bounded work: the sample is 1.3 KB; any case taking a second is walking a loop.
  expect(performance.now() - start).toBeLessThan(1000);
}

describe('parseBtf on hostile input', () => {
  it('the unmutated sample parses and every query answers', () => {
    const r = parseBtf(SAMPLE);
    expect(r.ok).toBe(true);
    if (r.ok) expect(exercise(r.value)).toBeGreaterThan(0);
  });

  it('never throws or hangs on mutations of a valid blob', () => {
    let accepted = 0;
    fc.assert(
      fc.property(fc.array(edit, { minLength: 1, maxLength: 6 }), (edits) => {
        const bytes = apply(edits);
        if (parseBtf(bytes).ok) accepted++;
        check(bytes);
      }),
      RUNS,
    );
    // Some mutations keep the blob valid (and exercise the queries on odd but legal BTF).
    expect(accepted).toBeGreaterThan(0);
  });

  it('never throws or hangs on reference loops that parse', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ type: fc.nat({ max: SAMPLE_TYPES.length - 1 }), to: fc.nat({ max: SAMPLE_TYPES.length }) }), { minLength: 1, maxLength: 8 }), (refs) => {
        const bytes = apply(refs.map((r) => ({ op: 'ref', ...r })));
        check(bytes);
      }),
      RUNS,
    );
  });

  it('never throws or hangs on arbitrary type sections', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.uint8Array({ maxLength: 64 }), (types, strings) => {
        const typeLen = types.length & ~3;
        const str = Uint8Array.from([0, ...strings, 0]);
        const bytes = new Uint8Array(HDR + typeLen + str.length);
        const view = new DataView(bytes.buffer);
        view.setUint16(0, 0xeb9f, true);
        view.setUint8(2, 1);
        view.setUint32(4, HDR, true);
        view.setUint32(12, typeLen, true);
        view.setUint32(16, typeLen, true);
        view.setUint32(20, str.length, true);
        bytes.set(types.subarray(0, typeLen), HDR);
        bytes.set(str, HDR + typeLen);
        check(bytes);
      }),
      RUNS,
    );
  });
});
