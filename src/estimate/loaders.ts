import type { LibbpfGeneration } from '../elf/index.js';
import { BpfmemError } from '../vocab/errors.js';
import type { MapType } from '../vocab/maptypes.js';

/**
 * The loaders `bpfmem estimate --loader NAME` knows: what each does differently, where that
 * changes the memory of the maps and programs it creates. Pure. docs/cli.md#loaders lists the
 * behaviours with their libbpf commits (github.com/libbpf/libbpf):
 *
 * - 3cd45b66 "libbpf: only add BPF_F_MMAPABLE flag for data maps with global vars" (v1.1.0):
 *   a `.data`/`.rodata`/`.bss` map holding only static (or hidden) variables is created without
 *   BPF_F_MMAPABLE, so its value is not rounded up to whole pages (a 4-byte `.bss`: 8,192 bytes
 *   of memlock before, a few hundred after);
 * - ca515c0d "selftests/bpf: Workaround for llvm nop-4 bug" (v1.1.0): `.bss.*` sections become
 *   maps (before, libbpf skipped them);
 * - 8b4e1b39 "libbpf: Add capability for resizing datasec maps" (v1.3.0): bpf_map__set_value_size
 *   of a global data map resizes it (before, it left the section's size to the copy at load).
 *
 * - 9e9bf46c "bpf: Add libbpf logic for user-space ring buffer" (v1.1.0, and Linux 6.1's
 *   tools/lib/bpf, which bpftool 7.1 is built from): `map_is_ringbuf()` makes adjust_ringbuf_sz
 *   round user_ringbuf sizes too; libbpf 1.0 rounds only ringbuf (it has no USER_RINGBUF).
 *
 * Behaviours every loader here shares: perf_event_array max_entries 0 → possible CPUs (fe1ce6bd,
 * v0.0.4), ringbuf sizes rounded up to a power-of-2 number of pages (adjust_ringbuf_sz: at
 * creation since b3197662, v0.8.0; since 61070705, v1.0.0, when the object is read
 * (fill_map_from_def) and in bpf_map__set_max_entries, so a size the loader sets is rounded too).
 */

/** A loader, as `--loader` names it. */
export interface Loader {
  /** `libbpf`, `libbpf-1.0`, `bpftool-7.1`, … */
  readonly name: string;
  /** One line for the output: what it is, and what it does that changes memory. */
  readonly description: string;
  /** How it reads the object (src/elf LibbpfGeneration). */
  readonly generation: LibbpfGeneration;
  /** Whether `--set NAME.value_size=N` of a global data map resizes it (libbpf ≥ 1.3, 8b4e1b39). */
  readonly resizesDataMaps: boolean;
  /**
   * The ring buffer types whose max_entries libbpf rounds up to a power-of-2 number of pages
   * (adjust_ringbuf_sz), as read from the object and as set (`--set`, bpf_map__set_max_entries).
   */
  readonly roundsRingbufs: readonly MapType[];
}

/** Both ring buffers: `map_is_ringbuf()` (9e9bf46c, libbpf v1.1.0 and Linux 6.1's tools/lib/bpf). */
const BOTH_RINGBUFS: readonly MapType[] = ['ringbuf', 'user_ringbuf'];

/** The loaders, newest first; the first is the default. */
export const LOADERS: readonly Loader[] = [
  {
    name: 'libbpf',
    description: 'libbpf, newest (1.3+): static-only .data/.rodata/.bss maps not mmapable (libbpf 3cd45b66), data maps resizable (8b4e1b39)',
    generation: '1.1+',
    resizesDataMaps: true,
    roundsRingbufs: BOTH_RINGBUFS,
  },
  {
    name: 'libbpf-1.1',
    description: 'libbpf 1.1–1.2 (Debian 12 libbpf1 1.1.2): static-only .data/.rodata/.bss maps not mmapable (libbpf 3cd45b66)',
    generation: '1.1+',
    resizesDataMaps: false,
    roundsRingbufs: BOTH_RINGBUFS,
  },
  {
    name: 'libbpf-1.0',
    description: "libbpf 1.0 (and Linux ≤ 6.0's tools/lib/bpf; 6.1's is bpftool-7.1's): every global data map mmapable, whole pages; .bss.* not maps; user_ringbuf sizes not rounded",
    generation: '1.0',
    resizesDataMaps: false,
    // libbpf 1.0.x: `if (map->def.type == BPF_MAP_TYPE_RINGBUF)` in fill_map_from_def and bpf_map__set_max_entries.
    roundsRingbufs: ['ringbuf'],
  },
  {
    name: 'bpftool-7.1',
    description: 'bpftool 7.1 (Debian 12), built on Linux 6.1\'s libbpf though it prints "libbpf v1.1": as libbpf-1.0, but user_ringbuf sizes rounded',
    generation: '1.0',
    resizesDataMaps: false,
    // Linux 6.1's tools/lib/bpf already has map_is_ringbuf() (9e9bf46c was merged for 6.1).
    roundsRingbufs: BOTH_RINGBUFS,
  },
];

/** The default loader: the newest libbpf. */
export const DEFAULT_LOADER: Loader = LOADERS[0] as Loader;

/** The loader named `name`, or a usage error listing the names. */
export function loaderByName(name: string): Loader {
  const found = LOADERS.find((l) => l.name === name);
  if (found) return found;
  throw new BpfmemError('usage', `--loader ${JSON.stringify(name)}: not a loader bpfmem knows; loaders are ${LOADERS.map((l) => l.name).join(', ')}`);
}
