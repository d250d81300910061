import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildInventory } from '../../src/inspect/inventory.js';
import { cgroupsJson, mapsJson, summaryJson } from '../../src/inspect/json.js';
import { json } from '../../src/vocab/json.js';
import { summarize } from '../../src/inspect/summary.js';
import { apiError, decode, DOCUMENTS, oneLine, type DocumentKind } from '../../web/src/decode.js';
import { fixtureInput } from './fixture.js';

/**
 * The page reads the API's JSON through web/src/decode.ts: what the server's builders
 * (src/inspect/json.ts) print is read whole, and anything else, however broken, is one line
 * naming the document and the field, never an exception.
 */

const inv = buildInventory(fixtureInput);
const history = {
  interval_seconds: 15,
  points: [
    { time: '2025-01-01T00:00:00.000Z', maps: 7, progs: 2, memlock: 1, charged: 2, uncharged: 3, cgroups: [{ path: '/', bpf_subtree: 5, usage: 9, max: null }] },
  ],
};
/** Valid documents, as the CLI and the server print them. */
const VALID: Record<DocumentKind, unknown> = {
  summary: JSON.parse(json(summaryJson(inv, summarize(inv), { regimeReason: 'why' }))),
  maps: JSON.parse(mapsJson(inv, inv.maps)),
  cgroups: JSON.parse(cgroupsJson(inv, inv.cgroups)),
  history,
};
const KINDS = Object.keys(DOCUMENTS) as DocumentKind[];

/** A failure must be one line of at most 300 characters that names where it came from. */
function expectOneLine(message: string, where: string): void {
  expect(message).not.toMatch(/[\n\r\u2028\u2029]/);
  expect(message.length).toBeLessThanOrEqual(300);
  expect(message.startsWith(`${where}: `)).toBe(true);
}

describe('decode', () => {
  it.each(KINDS)('reads the %s document the JSON builders print, every field kept', (kind) => {
    const r = decode(kind, VALID[kind], `/api/v1/${kind}`);
    expect(r.ok).toBe(true);
    if (r.ok && kind === 'maps') expect((r.value as { maps: unknown[] }).maps).toHaveLength(inv.maps.length);
    if (r.ok && kind === 'summary') expect(r.value).toMatchObject({ maps: 7, progs: 2, regime_reason: 'why' });
  });

  it("reads serve's maps, whose pins were not looked for (\"pinned\": null)", () => {
    const unpinned = { ...inv, pinsRead: false };
    const doc = JSON.parse(mapsJson(unpinned, unpinned.maps)) as { maps: { pinned: unknown }[] };
    expect(doc.maps[0]?.pinned).toBeNull();
    const r = decode('maps', doc, '/api/v1/maps');
    expect(r.ok ? r.value.maps.map((m) => m.pinned) : r.message).toEqual(inv.maps.map(() => null));
  });

  it.each([
    ['maps', (d: { maps: { bytes_memlock: unknown }[] }) => (d.maps[3]!.bytes_memlock = '12k'), '/api/v1/maps: maps.3.bytes_memlock: '],
    ['cgroups', (d: { cgroups: { path: unknown }[] }) => (d.cgroups[0]!.path = null), '/api/v1/cgroups: cgroups.0.path: '],
    ['maps', (d: { maps: { charged_to: unknown }[] }) => (d.maps[0]!.charged_to = { kind: 'elsewhere' }), '/api/v1/maps: maps.0.charged_to.kind: '],
    ['history', (d: { points: { time: unknown }[] }) => (d.points[0]!.time = 'yesterday'), '/api/v1/history: points.0.time: '],
  ] as const)('a wrong %s field is named: %#', (kind, spoil, prefix) => {
    const doc = structuredClone(VALID[kind]) as never;
    (spoil as (d: never) => void)(doc);
    const r = decode(kind, doc, `/api/v1/${kind}`);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.message.startsWith(prefix)).toBe(true);
      expectOneLine(r.message, `/api/v1/${kind}`);
    }
  });

  it('any JSON value: a value or one line, never an exception', () => {
    fc.assert(
      fc.property(fc.constantFrom(...KINDS), fc.jsonValue(), (kind, value) => {
        const r = decode(kind, value, '/api/v1/x');
        if (!r.ok) expectOneLine(r.message, '/api/v1/x');
      }),
      { numRuns: 5000 },
    );
  });

  it('valid documents with one value replaced anywhere: a value or one line', () => {
    /** Every path to a value inside a document. */
    const paths = (v: unknown, at: (string | number)[] = []): (string | number)[][] =>
      typeof v === 'object' && v !== null ? [at, ...Object.entries(v).flatMap(([k, x]) => paths(x, [...at, Array.isArray(v) ? Number(k) : k]))] : [at];
    const all = KINDS.flatMap((kind) => paths(VALID[kind]).filter((p) => p.length > 0).map((p) => ({ kind, path: p })));
    const odd = fc.oneof(fc.jsonValue(), fc.string(), fc.constantFrom(-1, 1.5, 2 ** 60, '', '\n\u2028', null, [], {}));
    fc.assert(
      fc.property(fc.constantFrom(...all), odd, ({ kind, path }, value) => {
        const doc = structuredClone(VALID[kind]) as Record<string | number, unknown>;
        let at: Record<string | number, unknown> = doc;
        for (const k of path.slice(0, -1)) at = at[k] as Record<string | number, unknown>;
        at[path.at(-1)!] = value;
        const r = decode(kind, doc, `/api/v1/${kind}`);
        if (!r.ok) expectOneLine(r.message, `/api/v1/${kind}`);
      }),
      { numRuns: 5000 },
    );
  });
});

describe('apiError and oneLine', () => {
  it.each([
    [{ error: 'sort "x": expected one of id, name' }, 'sort "x": expected one of id, name'],
    [{ error: 'two\nlines' }, 'two\\u000alines'],
    [{ nope: 1 }, undefined],
    ['text', undefined],
    [null, undefined],
  ])('%j → %j', (body, message) => {
    expect(apiError(body)).toBe(message);
  });

  it('any text becomes one line of at most 300 characters', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 1000 }), (text) => {
        const line = oneLine(text);
        expect(line).not.toMatch(/[\n\r\u2028\u2029]/);
        expect(line.length).toBeLessThanOrEqual(300);
      }),
      { numRuns: 5000 },
    );
  });
});
