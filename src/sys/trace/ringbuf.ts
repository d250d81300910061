import { mapMmap, type MappedMemory } from '../bpf/index.js';

/**
 * A reader of a BPF ring buffer (BPF_MAP_TYPE_RINGBUF, 5.8+) through mmap, as libbpf's
 * ring_buffer__consume does (tools/lib/bpf/ringbuf.c): the consumer position lives in the first
 * page (read-write), the producer position in the second, then the data, mapped twice in a row
 * so that a record never wraps in the view (kernel/bpf/ringbuf.c `bpf_ringbuf_area_alloc`).
 * Each record has an 8-byte header: `len` with BUSY (bit 31, still being written) and DISCARD
 * (bit 30) flags, then the page offset; records are 8-byte aligned.
 */

const BUSY = 0x8000_0000;
const DISCARD = 0x4000_0000;
const HEADER = 8;

export class RingReader {
  readonly #consumer: MappedMemory;
  readonly #producer: MappedMemory;
  readonly #cons: BigUint64Array;
  readonly #prod: BigUint64Array;
  readonly #data: DataView;
  readonly #mask: bigint;
  readonly #pageSize: number;
  #closed = false;

  /** Maps the ring buffer of map fd `fd`, whose data is `size` bytes (its max_entries). */
  constructor(fd: number, size: number, pageSize: number) {
    this.#pageSize = pageSize;
    this.#consumer = mapMmap(fd, 0, pageSize, true);
    try {
      this.#producer = mapMmap(fd, pageSize, pageSize + 2 * size, false);
    } catch (error) {
      this.#consumer.unmap();
      throw error;
    }
    this.#cons = new BigUint64Array(this.#consumer.buffer, 0, 1);
    this.#prod = new BigUint64Array(this.#producer.buffer, 0, 1);
    this.#data = new DataView(this.#producer.buffer, pageSize);
    this.#mask = BigInt(size - 1);
  }

  /**
   * Hands each committed record (a view of its bytes, valid only during the call) to `each`, at
   * most `max` of them, and moves the consumer position past them. Returns how many were read.
   */
  consume(each: (view: DataView, offset: number, length: number) => void, max = Number.POSITIVE_INFINITY): number {
    if (this.#closed) return 0;
    let cons = Atomics.load(this.#cons, 0);
    const prod = Atomics.load(this.#prod, 0);
    let n = 0;
    while (cons < prod && n < max) {
      const at = Number(cons & this.#mask);
      const len = this.#data.getUint32(at, true);
      if ((len & BUSY) !== 0) break;
      const size = len & ~(BUSY | DISCARD);
      if ((len & DISCARD) === 0) {
        each(this.#data, at + HEADER, size);
        n++;
      }
      cons += BigInt((size + HEADER + 7) & ~7);
      Atomics.store(this.#cons, 0, cons);
    }
    return n;
  }

  get pageSize(): number {
    return this.#pageSize;
  }

  /** Unmaps both areas. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#producer.unmap();
    this.#consumer.unmap();
  }
}
