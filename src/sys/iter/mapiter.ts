import { readSync } from 'node:fs';
import { assemble } from '../../asm/index.js';
import type { Btf } from '../../btf/index.js';
import { BpfmemError } from '../../vocab/errors.js';
import { iterCreate, linkCreate, progInfo, progLoad, VerifierError } from '../bpf/commands.js';
import type { ProgId } from '../bpf/types.js';
import { SyscallError } from '../bpf/error.js';
import { closeFd } from '../bpf/syscall.js';
import { freshIterLayouts, iterLayouts } from './layout-cache.js';
import { readMapIterLayout, type MapIterLayout } from './mapiter-layout.js';
import { buildMapIterProgram } from './mapiter-program.js';
import { MAP_RECORD, parseMapRecords, type MapCharge } from './mapiter-record.js';
import { errnoCode } from '../proc/text.js';

/**
 * Which memory cgroup each BPF map is charged to, read from the kernel: no syscall reports it,
 * so bpfmem builds an `iter/bpf_map` program at run time from the running kernel's BTF
 * (mapiter-layout.ts, mapiter-program.ts), loads it (BPF_PROG_TYPE_TRACING, expected attach
 * BPF_TRACE_ITER, `attach_btf_id` = `bpf_iter_bpf_map`, GPL), links it (BPF_LINK_CREATE, no
 * bpffs needed) and reads an iterator fd (BPF_ITER_CREATE) to its end: one record per map, in
 * id order (kernel/bpf/map_iter.c walks the map idr). docs/kernel-facts.md §8 has the facts.
 */

export { readCgroupIds } from './mapiter-cgroups.js';
export { MAP_RECORD, parseMapRecords, type MapCharge } from './mapiter-record.js';
export { readMapIterLayout, type MapIterLayout, type ChargeChain, type NoChargeChain, type ScalarField } from './mapiter-layout.js';
export { buildMapIterProgram } from './mapiter-program.js';

/** Why the kernel cannot be asked, as a value. */
export interface Unavailable {
  readonly kind: 'unavailable';
  readonly reason: string;
}

/** Options of {@link MapIterator.open} and {@link readMapCharges}. */
export interface MapIteratorOptions {
  /**
   * The running kernel's BTF, if already parsed (default: the layout cached for this kernel's
   * BTF, else read from /sys/kernel/btf/vmlinux: src/sys/iter/layout-cache.ts).
   */
  readonly btf?: Btf;
}

const unavailable = (reason: string): Unavailable => ({ kind: 'unavailable', reason });

/** Bound on one scan's output: 256 MiB is 5.5 million maps. */
const MAX_OUTPUT = 256 * 1024 * 1024;
/** Retries of a read that answers EAGAIN or EINTR before the scan gives up. */
const MAX_RETRIES = 1000;

/** A refusal of the kernel, said for a person. */
function explain(doing: string, error: unknown): string {
  if (error instanceof VerifierError) return `${doing}: the verifier refused the map iterator program: ${error.message}`;
  if (error instanceof SyscallError) {
    if (error.errnoName === 'EPERM' || error.errnoName === 'EACCES') {
      return `${doing}: ${error.errnoName}: reading which cgroup each map is charged to needs root (CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN)`;
    }
    return `${doing}: ${error.message}`;
  }
  return `${doing}: ${error instanceof Error ? error.message : String(error)}`;
}

/**
 * A loaded map iterator: program and link stay open, so each {@link scan} costs one
 * BPF_ITER_CREATE, the reads, and a close (`bpfmem serve` rescans every 15 s). {@link close}
 * releases the program and link; an iterator that is never closed holds them until the process
 * exits.
 */
export class MapIterator {
  #prog: number;
  #link: number;
  #progId: ProgId | undefined;
  /** The size of the last scan's output, to size the next one's buffer. */
  #lastBytes = 0;

  private constructor(
    prog: number,
    link: number,
    /** The layout the program was built from. */
    readonly layout: MapIterLayout,
    /** Why the records carry no element counts where the layout offered them (the kernel refused). */
    readonly countsUnavailable: string | undefined,
  ) {
    this.#prog = prog;
    this.#link = link;
  }

  /**
   * Builds, loads and links the iterator for the running kernel, or says why it cannot: no BTF,
   * a kernel without map iterators (before 5.8), not privileged, or the verifier's refusal.
   * A kernel that keeps no map → memory cgroup pointer still gets an iterator; its records have
   * `cgroupId` null and {@link chargeUnknown} says why.
   */
  static async open(options: MapIteratorOptions = {}): Promise<MapIterator | Unavailable> {
    const notDescribed = (why: string): Unavailable => unavailable(`this kernel's BTF does not describe a map iterator bpfmem can build: ${why}`);
    if (options.btf !== undefined) {
      const layout = readMapIterLayout(options.btf);
      return layout.ok ? MapIterator.load(layout.value) : notDescribed(layout.error);
    }
    const layouts = await iterLayouts();
    if (!layouts.map.ok) return layouts.cached ? unavailable(layouts.map.error) : notDescribed(layouts.map.error);
    const it = MapIterator.load(layouts.map.value);
    if (!isUnavailable(it) || !layouts.cached) return it;
    // Offsets from the cache that the kernel refused: read them from its BTF again.
    const fresh = await freshIterLayouts();
    return fresh.map.ok ? MapIterator.load(fresh.map.value) : notDescribed(fresh.map.error);
  }

  /**
   * Loads and links the program for a given layout (open() reads it from the running kernel).
   * A kernel that refuses the element counts (a kfunc it does not offer to this program type)
   * gets the program without them; the records then say "not read".
   */
  static load(layout: MapIterLayout): MapIterator | Unavailable {
    const counted = layout.counts.sumElemCount !== undefined || layout.counts.fields.length > 0;
    const first = MapIterator.#loadProgram(layout);
    if (typeof first === 'number' || !counted) return MapIterator.#linked(first, layout, undefined);
    const plain = { ...layout, counts: { fields: [] } };
    return MapIterator.#linked(MapIterator.#loadProgram(plain), plain, first.reason);
  }

  static #loadProgram(layout: MapIterLayout): number | Unavailable {
    const insns = assemble(buildMapIterProgram(layout));
    try {
      return progLoad({ type: 'tracing', insns, license: 'GPL', name: 'bpfmem_maps', expectedAttachType: 'trace_iter', attachBtfId: layout.attachBtfId });
    } catch (error) {
      return unavailable(explain('loading the map iterator', error));
    }
  }

  static #linked(prog: number | Unavailable, layout: MapIterLayout, countsUnavailable: string | undefined): MapIterator | Unavailable {
    if (typeof prog !== 'number') return prog;
    try {
      return new MapIterator(prog, linkCreate({ progFd: prog, attachType: 'trace_iter' }), layout, countsUnavailable);
    } catch (error) {
      closeFd(prog);
      return unavailable(explain('linking the map iterator (BPF_LINK_CREATE)', error));
    }
  }

  /** The id of the iterator's own program, which listings of programs leave out. */
  get progId(): ProgId | undefined {
    if (this.#prog < 0) return undefined;
    this.#progId ??= progInfo(this.#prog).id;
    return this.#progId;
  }

  /** Why `cgroupId` is null in every record, where this kernel keeps no map → memory cgroup pointer. */
  get chargeUnknown(): string | undefined {
    return this.layout.charge.via === 'none' ? this.layout.charge.reason : undefined;
  }

  /**
   * Every map on the machine now, in id order, with the memory cgroup it is charged to. Maps
   * created or freed during the scan may or may not be listed (the kernel walks its idr under
   * RCU, a map at a time). Throws a {@link BpfmemError} (`system`) when the kernel refuses.
   */
  scan(): MapCharge[] {
    const records = parseMapRecords(this.scanBytes(), this.layout.charge.via !== 'none');
    if (!records.ok) throw new BpfmemError('system', records.error);
    return records.value;
  }

  /**
   * {@link scan}'s records undecoded: a whole number of `MAP_RECORD.size`-byte records in id
   * order, in a buffer of its own that starts at offset 0 (a `Uint32Array` may view it), for
   * callers that compare them with an earlier scan's instead of decoding every one.
   */
  scanBytes(): Uint8Array {
    if (this.#link < 0) throw new BpfmemError('usage', 'this map iterator is closed');
    let iter: number;
    try {
      iter = iterCreate(this.#link);
    } catch (error) {
      throw new BpfmemError('system', explain('starting a map scan (BPF_ITER_CREATE)', error), { cause: error });
    }
    let bytes: Uint8Array;
    try {
      bytes = this.#readAll(iter);
    } finally {
      closeFd(iter);
    }
    if (bytes.byteLength % MAP_RECORD.size !== 0) {
      throw new BpfmemError('system', `map iterator output of ${bytes.byteLength} bytes is not a whole number of ${MAP_RECORD.size}-byte records`);
    }
    return bytes;
  }

  /** Closes the link and the program. Idempotent. */
  close(): void {
    if (this.#link < 0) return;
    const [link, prog] = [this.#link, this.#prog];
    this.#link = -1;
    this.#prog = -1;
    try {
      closeFd(link);
    } finally {
      closeFd(prog);
    }
  }

  /**
   * Reads an iterator fd to its end (a read of 0 bytes), into one buffer sized from the last
   * scan (the kernel fills as much of a read as it is asked: kernel/bpf/bpf_iter.c
   * `bpf_seq_read` loops until the buffer is full), doubled when it fills.
   */
  #readAll(fd: number): Uint8Array {
    let out = new Uint8Array(Math.max(64 * 1024, this.#lastBytes + (this.#lastBytes >> 2) + MAP_RECORD.size * 64));
    let total = 0;
    for (let retries = 0; ; ) {
      if (total === out.byteLength) {
        if (total >= MAX_OUTPUT) throw new BpfmemError('system', `the map iterator returned more than ${MAX_OUTPUT} bytes`);
        const bigger = new Uint8Array(Math.min(MAX_OUTPUT, total * 2));
        bigger.set(out);
        out = bigger;
      }
      let n: number;
      try {
        n = readSync(fd, out, total, out.byteLength - total, null);
      } catch (error) {
        // kernel/bpf/bpf_iter.c bpf_seq_read answers EAGAIN after MAX_ITER_OBJECTS (1,000,000)
        // objects that wrote nothing in one read; the next read goes on from there.
        const code = errnoCode(error);
        if ((code === 'EAGAIN' || code === 'EINTR') && ++retries < MAX_RETRIES) continue;
        throw new BpfmemError('system', `reading the map iterator: ${code ?? String(error)}`, { cause: error });
      }
      retries = 0;
      if (n === 0) break;
      total += n;
    }
    this.#lastBytes = total;
    return out.subarray(0, total);
  }
}

/** Whether a value is an {@link Unavailable}. */
export function isUnavailable(value: unknown): value is Unavailable {
  return typeof value === 'object' && value !== null && 'kind' in value && value.kind === 'unavailable';
}

/**
 * Every map on the machine with the memory cgroup it is charged to, in one scan (load, link,
 * read, close), or why that cannot be read here: no BTF, no map iterators, not root, or a
 * kernel that keeps no map → memory cgroup pointer. For repeated scans keep a
 * {@link MapIterator}. `MAP_RECORD.size` bytes per map cross from the kernel.
 */
export async function readMapCharges(options: MapIteratorOptions = {}): Promise<MapCharge[] | Unavailable> {
  const it = await MapIterator.open(options);
  if (isUnavailable(it)) return it;
  try {
    const unknown = it.chargeUnknown;
    if (unknown !== undefined) return unavailable(unknown);
    return it.scan();
  } catch (error) {
    if (error instanceof BpfmemError) return unavailable(error.message);
    throw error;
  } finally {
    it.close();
  }
}

