import { MAP_FLAGS } from '../src/vocab/flags.js';
import { mapSpec, type MapSpec } from '../src/vocab/map-spec.js';

/**
 * The maps the live benches make (bench/inventory.ts, bench/serve.ts): the i-th of a mix where
 * one in ten maps' memory follows their contents.
 */
export function specFor(i: number): MapSpec {
  switch (i % 10) {
    case 0:
      return mapSpec({ type: 'hash', keySize: 8, valueSize: 16, maxEntries: 64, flags: MAP_FLAGS.no_prealloc });
    case 1:
    case 2:
      return mapSpec({ type: 'hash', keySize: 4, valueSize: 8, maxEntries: 16 });
    case 3:
      return mapSpec({ type: 'percpu_array', keySize: 4, valueSize: 8, maxEntries: 4 });
    default:
      return mapSpec({ type: 'array', keySize: 4, valueSize: 8, maxEntries: 1 });
  }
}
