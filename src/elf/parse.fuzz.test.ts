import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BpfmemError } from '../vocab/errors.js';
import { estimateMaps } from '../estimate/maps.js';
import { objectSpecs } from '../estimate/object.js';
import { profileOf } from '../model/profile.js';
import { FIXTURES, fixtureBytes, toolchain } from '../../test/fixtures/bpf/build.js';
import { parseBpfObject, type LibbpfGeneration } from './index.js';

/**
 * Hostile objects: thousands of mutations of the real compiled fixtures (bit flips anywhere and
 * inside each section, words overwritten with values that break things, ELF and section header
 * fields set out of range, truncation). The property: parseBpfObject returns an object or throws
 * a one-line BpfmemError('input') naming the source, and what it returns goes through objectSpecs
 * and the model without anything but a BpfmemError. No crash, no hang (vitest's timeout), no
 * allocation of a claimed size (a claimed size of 2^40 would be one).
 */

const RUNS = { numRuns: 3000 };
const SOURCE = '/fuzz/obj.bpf.o';
const HOST = profileOf({ version: '6.18', cpus: 2 });

/** Each fixture's bytes and where its sections lie, to aim mutations at them. */
interface Target {
  readonly bytes: Uint8Array;
  readonly shoff: number;
  readonly sections: readonly { readonly offset: number; readonly size: number }[];
}

function target(name: string): Target {
  const bytes = fixtureBytes(name);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shoff = Number(view.getBigUint64(40, true));
  const count = view.getUint16(60, true);
  const sections = Array.from({ length: count }, (_, i) => ({
    offset: Number(view.getBigUint64(shoff + 64 * i + 24, true)),
    size: view.getUint32(shoff + 64 * i + 4, true) === 8 ? 0 : Number(view.getBigUint64(shoff + 64 * i + 32, true)),
  }));
  return { bytes, shoff, sections };
}

const TARGETS: readonly Target[] = toolchain.ok ? FIXTURES.map(target) : [];

/** Values that break things: limits, sizes of the file and around them, 2^32 and 2^53 and beyond. */
const nasty = fc.oneof(
  fc.constantFrom(0n, 1n, 2n, 8n, 16n, 24n, 64n, 0xffn, 0xffffn, 0xff00n, 0x10000n, 0x7fffffffn, 0x80000000n, 0xffffffffn, 0x100000000n, 1n << 40n, (1n << 53n) - 1n, 1n << 53n, (1n << 64n) - 1n),
  fc.bigInt({ min: 0n, max: 4096n }),
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
);

/** ELF header fields: [offset, width]. */
const EHDR_FIELDS: readonly [number, 1 | 2 | 4 | 8][] = [[4, 1], [5, 1], [16, 2], [18, 2], [40, 8], [52, 2], [58, 2], [60, 2], [62, 2]];
/** Section header fields: name, type, flags, offset, size, link, info, entsize. */
const SHDR_FIELDS: readonly [number, 4 | 8][] = [[0, 4], [4, 4], [8, 8], [24, 8], [32, 8], [40, 4], [44, 4], [56, 8]];

type Edit =
  | { readonly op: 'flip'; readonly at: number; readonly bit: number }
  | { readonly op: 'flipIn'; readonly section: number; readonly at: number; readonly bit: number }
  | { readonly op: 'word'; readonly section: number; readonly at: number; readonly value: bigint }
  | { readonly op: 'ehdr'; readonly field: number; readonly value: bigint }
  | { readonly op: 'shdr'; readonly section: number; readonly field: number; readonly value: bigint }
  | { readonly op: 'truncate'; readonly length: number };

const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant('flipIn' as const), section: fc.nat(), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant('word' as const), section: fc.nat(), at: fc.nat(), value: nasty }),
  fc.record({ op: fc.constant('ehdr' as const), field: fc.nat({ max: EHDR_FIELDS.length - 1 }), value: nasty }),
  fc.record({ op: fc.constant('shdr' as const), section: fc.nat(), field: fc.nat({ max: SHDR_FIELDS.length - 1 }), value: nasty }),
  fc.record({ op: fc.constant('truncate' as const), length: fc.nat() }),
);

function put(view: DataView, at: number, width: 1 | 2 | 4 | 8, value: bigint): void {
  if (at < 0 || at + width > view.byteLength) return;
  if (width === 8) view.setBigUint64(at, BigInt.asUintN(64, value), true);
  else if (width === 4) view.setUint32(at, Number(BigInt.asUintN(32, value)), true);
  else if (width === 2) view.setUint16(at, Number(BigInt.asUintN(16, value)), true);
  else view.setUint8(at, Number(BigInt.asUintN(8, value)));
}

function apply(t: Target, edits: readonly Edit[]): Uint8Array {
  let bytes = t.bytes.slice();
  for (const e of edits) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const inSection = (section: number, at: number): number => {
      const s = t.sections[section % t.sections.length];
      return s === undefined || s.size === 0 ? -1 : s.offset + (at % s.size);
    };
    switch (e.op) {
      case 'flip':
        if (bytes.length > 0) bytes[e.at % bytes.length]! ^= 1 << e.bit;
        break;
      case 'flipIn': {
        const at = inSection(e.section, e.at);
        if (at >= 0 && at < bytes.length) bytes[at]! ^= 1 << e.bit;
        break;
      }
      case 'word':
        put(view, inSection(e.section, e.at) & ~3, 4, e.value);
        break;
      case 'ehdr': {
        const [off, width] = EHDR_FIELDS[e.field]!;
        put(view, off, width, e.value);
        break;
      }
      case 'shdr': {
        const [off, width] = SHDR_FIELDS[e.field]!;
        put(view, t.shoff + 64 * (e.section % t.sections.length) + off, width, e.value);
        break;
      }
      case 'truncate':
        bytes = bytes.subarray(0, e.length % (bytes.length + 1));
        break;
    }
  }
  return bytes;
}

/** Parses, then estimates: only BpfmemError('input') may come out, in one line. */
function check(bytes: Uint8Array, libbpf: LibbpfGeneration): void {
  let obj;
  try {
    obj = parseBpfObject(bytes, SOURCE, { libbpf });
  } catch (error) {
    if (!(error instanceof BpfmemError)) throw error;
    expect(error.code).toBe('input');
    expect(error.message.startsWith(`${SOURCE}: `)).toBe(true);
    expect(error.message).not.toMatch(/[\n\r]/);
    return;
  }
  expect(Array.isArray(obj.maps) && Array.isArray(obj.progs)).toBe(true);
  for (const m of obj.maps) {
    for (const n of [m.keySize, m.valueSize, m.maxEntries, m.flags, m.mapExtra, m.initialEntries]) expect(Number.isSafeInteger(n) && n >= 0).toBe(true);
    expect(new TextEncoder().encode(m.name).length).toBeLessThanOrEqual(15);
  }
  let specs;
  try {
    specs = objectSpecs(obj, HOST);
  } catch (error) {
    if (!(error instanceof BpfmemError)) throw error;
    expect(error.message).not.toMatch(/[\n\r]/);
    return;
  }
  estimateMaps(specs.map((s) => ({ name: s.name, spec: s.spec, elements: s.elements })), HOST);
}

const generation = fc.constantFrom<LibbpfGeneration>('1.1+', '1.0');

describe.skipIf(!toolchain.ok)('parseBpfObject on mutated compiled objects', () => {
  it('accepts every fixture unmutated', () => {
    // Every fixture has maps or programs (subprogs.bpf.o: programs only).
    for (const t of TARGETS) {
      const obj = parseBpfObject(t.bytes, SOURCE);
      expect(obj.maps.length + obj.progs.length).toBeGreaterThan(0);
    }
  });

  it('survives bit flips and overwritten words anywhere and inside sections', () => {
    fc.assert(
      fc.property(fc.nat(), fc.array(edit, { minLength: 1, maxLength: 6 }), generation, (which, edits, libbpf) => {
        check(apply(TARGETS[which % TARGETS.length]!, edits), libbpf);
      }),
      RUNS,
    );
  });

  it('survives ELF and section header fields set out of range', () => {
    const header = edit.filter((e) => e.op === 'ehdr' || e.op === 'shdr');
    fc.assert(
      fc.property(fc.nat(), fc.array(header, { minLength: 1, maxLength: 3 }), generation, (which, edits, libbpf) => {
        check(apply(TARGETS[which % TARGETS.length]!, edits), libbpf);
      }),
      RUNS,
    );
  });

  it('survives truncation at every length class', () => {
    fc.assert(
      fc.property(fc.nat(), fc.nat(), generation, (which, length, libbpf) => {
        const t = TARGETS[which % TARGETS.length]!;
        check(t.bytes.subarray(0, length % (t.bytes.length + 1)), libbpf);
      }),
      RUNS,
    );
  });

  it('survives random bytes with a valid ELF header', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 64, maxLength: 4096 }), fc.nat({ max: 4096 }), fc.integer({ min: 0, max: 64 }), (body, shoff, shnum) => {
        const bytes = body.slice();
        bytes.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], 0);
        const view = new DataView(bytes.buffer);
        view.setUint16(16, 1, true);
        view.setUint16(18, 247, true);
        view.setBigUint64(40, BigInt(shoff), true);
        view.setUint16(58, 64, true);
        view.setUint16(60, shnum, true);
        check(bytes, '1.1+');
      }),
      RUNS,
    );
  });
});

if (!toolchain.ok) console.warn(`BPF fixture fuzz tests skipped: ${toolchain.reason}`);
