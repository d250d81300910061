import { BpfmemError } from '../vocab/errors.js';
import { MAP_SORT_KEYS, PROG_SORT_KEYS, typeFilterProblem, type Filter, type MapSortKey, type ProgSortKey } from '../inspect/query.js';
import { MAP_TYPE_NAMES } from '../vocab/maptypes.js';
import { didYouMean, oneOf, quote } from '../vocab/fields.js';
import { PROG_TYPES } from '../vocab/progtypes.js';

/**
 * The query strings of `GET /api/v1/maps` and `/progs`: the filters and orders of `bpfmem maps`
 * and `bpfmem progs` (`--cgroup`, `--pid`, `--type`, `--sort`), checked the same way. A bad value
 * is a `BpfmemError` (`usage`) whose one line the server answers with 400. An empty value is no
 * filter (`?cgroup=&type=hash`, as a form sends it); parameters the API does not know are
 * ignored, as HTTP APIs do.
 */

/** Query parameters, each with every value given (`?pid=1&pid=2` → `pid: ['1', '2']`). */
export type QueryValues = Readonly<Record<string, readonly string[] | undefined>>;

const PROG_TYPE_NAMES: readonly string[] = Object.keys(PROG_TYPES);

/** The one value of a parameter, or undefined when it is absent or empty. */
function single(q: QueryValues, name: string): string | undefined {
  const values = q[name] ?? [];
  if (values.length > 1) throw new BpfmemError('usage', `${name}: given ${values.length} times; give it once`);
  const v = values[0];
  return v === undefined || v === '' ? undefined : v;
}

function cgroupParam(value: string): string {
  if (!value.startsWith('/') || value.includes('\0') || value.split('/').some((c) => c === '..' || c === '.')) {
    throw new BpfmemError('usage', `cgroup=${quote(value)}: expected a cgroup path from the hierarchy's root, like /system.slice or /kubepods`);
  }
  return value.length > 1 ? value.replace(/\/+$/, '') : value;
}

function pidParam(value: string): number {
  if (!/^[1-9][0-9]{0,9}$/.test(value) || Number(value) > 0x7fff_ffff) {
    throw new BpfmemError('usage', `pid=${quote(value)}: expected a process id (a positive whole number)`);
  }
  return Number(value);
}

function typeParam(value: string, names: readonly string[], what: string): string {
  const problem = typeFilterProblem(value, names, what);
  if (problem !== undefined) throw new BpfmemError('usage', `type=${quote(value)}: ${problem}`);
  return value;
}

function sortParam<K extends string>(value: string | undefined, keys: readonly K[]): K {
  if (value === undefined) return keys[0] as K;
  const key = keys.find((k) => k === value);
  if (key === undefined) throw new BpfmemError('usage', `sort=${quote(value)}: expected ${oneOf(keys)}${didYouMean(value, keys)}`);
  return key;
}

function filterOf(q: QueryValues, typeNames: readonly string[], what: string): Filter {
  const cgroup = single(q, 'cgroup');
  const pid = single(q, 'pid');
  const type = single(q, 'type');
  return {
    ...(cgroup !== undefined && { cgroup: cgroupParam(cgroup) }),
    ...(pid !== undefined && { pid: pidParam(pid) }),
    ...(type !== undefined && { type: typeParam(type, typeNames, what) }),
  };
}

/** The most rows `?limit=` may ask for. */
const LIMIT_MAX = 1_000_000;

function limitParam(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[0-9]{1,7}$/.test(value) || Number(value) > LIMIT_MAX) throw new BpfmemError('usage', `limit=${quote(value)}: expected how many maps to list, from 0 to ${LIMIT_MAX}`);
  return Number(value);
}

/**
 * `?cgroup=&pid=&type=&sort=&limit=` of `/api/v1/maps` (`limit`: only the first N in that
 * order, and `matched` says how many there were). Throws a `BpfmemError` on a bad value.
 */
export function mapQuery(q: QueryValues): { filter: Filter; sort: MapSortKey; limit?: number } {
  const limit = limitParam(single(q, 'limit'));
  return { filter: filterOf(q, MAP_TYPE_NAMES, 'map'), sort: sortParam(single(q, 'sort'), MAP_SORT_KEYS), ...(limit !== undefined && { limit }) };
}

/** `?cgroup=&pid=&type=&sort=` of `/api/v1/progs`. Throws a `BpfmemError` on a bad value. */
export function progQuery(q: QueryValues): { filter: Filter; sort: ProgSortKey } {
  return { filter: filterOf(q, PROG_TYPE_NAMES, 'program'), sort: sortParam(single(q, 'sort'), PROG_SORT_KEYS) };
}
