import { BpfmemError } from '../vocab/errors.js';
import { isMapType } from '../vocab/maptypes.js';
import type { MapSpec } from '../vocab/map-spec.js';
import { describeValue, parseCgroupPath, parseInteger } from '../vocab/fields.js';
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

/** Throws unless `path` is a cgroup path as scenarios write them: `/`, `/pods`, `/pods/agent`. */
export function cgroupArg(what: string, path: unknown): string {
  const r = parseCgroupPath(path);
  if (r.ok) return r.value;
  throw new BpfmemError('input', `${what}: ${r.error}`);
}

/** Throws unless `value` is one of `choices` (a string a JavaScript caller may have mistyped). */
export function choiceArg<T extends string>(what: string, value: unknown, choices: readonly T[]): T {
  if (typeof value === 'string' && (choices as readonly string[]).includes(value)) return value as T;
  throw new BpfmemError('input', `${what}: expected ${choices.map((c) => JSON.stringify(c)).join(' or ')}, got ${describeValue(value)}`);
}

/** Throws unless `limits` holds a cgroup's limits: `max` and `high` (all of them unless `partial`), bytes or Infinity. */
export function limitsArg(path: string, limits: unknown, partial: boolean): void {
  if (typeof limits !== 'object' || limits === null) {
    throw new BpfmemError('input', `cgroup ${path}: limits: expected { max${partial ? '?' : ''}, high${partial ? '?' : ''} } (bytes, Infinity for none), got ${describeValue(limits)}`);
  }
  const { max, high } = limits as { max?: unknown; high?: unknown };
  if (!partial || max !== undefined) limitArg('memory limit max', max);
  if (!partial || high !== undefined) limitArg('memory limit high', high);
}

/** Throws unless `profile` is an object (a kernel profile from profileOf() or makeProfile()). */
export function profileArg(what: string, profile: unknown): void {
  if (typeof profile !== 'object' || profile === null) throw new BpfmemError('input', `${what}: expected a kernel profile (from profileOf() or makeProfile()), got ${describeValue(profile)}`);
}
