import { BpfmemError } from '../vocab/errors.js';
import { isMapType } from '../vocab/maptypes.js';
import type { MapSpec } from '../vocab/map-spec.js';
import { describeValue, parseInteger } from '../vocab/fields.js';
import { U32_MAX } from '../vocab/limits.js';

/*
 * The model's API takes numbers from code, not from a parser: a NaN, a fraction or a negative
 * count has no kernel meaning (bpf(2) takes u32 and u64) and would otherwise run through the
 * arithmetic and come out as `{ ok: true, memlock: NaN }`. Such an argument is the caller's
 * mistake, so it throws a BpfmemError (`input`) naming it, as the parsers do for text.
 */

/** Throws unless `n` is a number (not text: this is no parser) and whole, from `min` to `max`. */
export function wholeArg(what: string, n: unknown, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const r = typeof n === 'number' ? parseInteger(n, min, max) : undefined;
  if (r?.ok) return r.value;
  throw new BpfmemError('input', `${what}: ${r ? r.error : `expected a number, got ${describeValue(n)}`}`);
}

/** Throws unless `n` is a byte count or limit: a whole number ≥ 0, or Infinity for none. */
export function limitArg(what: string, n: unknown): number {
  if (n === Number.POSITIVE_INFINITY) return n;
  return wholeArg(what, n);
}

/** Throws unless every field of a map spec is what BPF_MAP_CREATE's attr can hold. */
export function checkSpecArg(given: MapSpec): void {
  // Typed for callers; checked as what a JavaScript caller may pass.
  const spec = given as unknown as Partial<Record<keyof MapSpec, unknown>> | null;
  if (typeof spec !== 'object' || spec === null) throw new BpfmemError('input', `map spec: expected a mapping, got ${describeValue(spec)}`);
  if (typeof spec.type !== 'string' || !isMapType(spec.type)) throw new BpfmemError('input', `map type ${JSON.stringify(spec.type)} is not one bpfmem knows`);
  wholeArg('key size', spec.keySize, 0, U32_MAX);
  wholeArg('value size', spec.valueSize, 0, U32_MAX);
  wholeArg('max_entries', spec.maxEntries, 0, U32_MAX);
  wholeArg('map flags', spec.flags, 0, U32_MAX);
  wholeArg('map_extra', spec.mapExtra);
}
