/**
 * Units. Inside bpfmem every size is an integer number of bytes; people may type `64Ki`, `8Mi`,
 * `1G`, and people are shown IEC units (docs/architecture.md, "Conventions").
 */

/**
 * `x`, as a small integer where it is a whole number of 32 bits. Arithmetic like `Math.ceil(x / a) *
 * a` yields a double even when whole, and an object field that receives doubles is stored by V8
 * as a boxed number in every object of that shape: 16 bytes a field. For numbers kept in every
 * entry of a 100,000-map inventory (memlock, charge), `| 0` keeps the field unboxed.
 */
export function int32OrSelf(x: number): number {
  return Number.isInteger(x) && x >= -0x8000_0000 && x <= 0x7fff_ffff ? x | 0 : x;
}

/** `round_up(x, a)` of the kernel, for any positive `a` (not only powers of two). */
export function roundUp(x: number, a: number): number {
  return Math.ceil(x / a) * a;
}

/** `roundup_pow_of_two(x)` of the kernel; 1 for x ≤ 1. */
export function roundUpPow2(x: number): number {
  if (x <= 1) return 1;
  return 2 ** Math.ceil(Math.log2(x));
}

/** `ilog2(x)` of the kernel: floor(log2 x) for x ≥ 1. */
export function ilog2(x: number): number {
  return Math.floor(Math.log2(x));
}

const SUFFIXES: Readonly<Record<string, number>> = {
  '': 1,
  B: 1,
  K: 1024,
  Ki: 1024,
  KiB: 1024,
  M: 1024 ** 2,
  Mi: 1024 ** 2,
  MiB: 1024 ** 2,
  G: 1024 ** 3,
  Gi: 1024 ** 3,
  GiB: 1024 ** 3,
  T: 1024 ** 4,
  Ti: 1024 ** 4,
  TiB: 1024 ** 4,
  // Decimal units for people who type them on purpose.
  k: 1000,
  kB: 1000,
  KB: 1000,
  MB: 1000 ** 2,
  GB: 1000 ** 3,
  TB: 1000 ** 4,
};

/** The kernel's "no limit" as cgroupfs writes it. */
export const UNLIMITED = Number.POSITIVE_INFINITY;

/** How an argument's error says what a size looks like: `--need "x": expected a size such as …`. */
export const SIZE_EXAMPLES = 'such as 4096, 64Ki, 512Mi or 2G';

/**
 * Parses a size: an integer number of bytes, or a string such as `4096`, `64Ki`, `8Mi`, `1.5Gi`,
 * `1G` (the kernel's and kubectl's reading: `G` is 2^30 in cgroupfs, so `K`/`M`/`G`/`T` are
 * binary here; `k`/`kB`/`KB`/`MB`/`GB`/`TB` are decimal), or `max` / `unlimited` / `infinity`
 * (cgroupfs's, ulimit's and systemd's words) for no limit. A fraction must come to a whole number
 * of bytes exactly: `1.5Ki` is 1536, `1.1Ki` (1126.4) is no size, nor is `4.0000001`.
 * Returns `undefined` when the input is not a non-negative whole number of bytes below 2^53.
 */
export function parseSize(input: string | number): number | undefined {
  if (typeof input === 'number') {
    return Number.isSafeInteger(input) && input >= 0 ? input : undefined;
  }
  if (typeof input !== 'string') return undefined;
  const text = input.trim();
  if (text === 'max' || text === 'unlimited' || text === 'infinity') return UNLIMITED;
  const m = /^(\d+)(?:\.(\d+))?\s*([A-Za-z]*)$/.exec(text);
  if (!m) return undefined;
  const unit = m[3] ?? '';
  // Own keys only: `1constructor` must not find Object.prototype.constructor.
  const factor = Object.hasOwn(SUFFIXES, unit) ? SUFFIXES[unit] : undefined;
  if (factor === undefined) return undefined;
  const whole = (m[1] ?? '').replace(/^0+(?=\d)/, '');
  const fraction = (m[2] ?? '').replace(/0+$/, '');
  // 17 digits are past 2^53 whatever the unit; a whole number of bytes has at most 40 decimals
  // (10^d divides n × 2^40 only for d ≤ 40 when n does not end in 0). So BigInt stays small.
  if (whole.length > 16 || fraction.length > 40) return undefined;
  const scaled = BigInt(whole + fraction) * BigInt(factor);
  const unitOfLast = 10n ** BigInt(fraction.length);
  if (scaled % unitOfLast !== 0n) return undefined;
  const bytes = scaled / unitOfLast;
  return bytes <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(bytes) : undefined;
}

const IEC = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'] as const;

/**
 * Formats bytes for people in IEC units with one decimal (`12.0 MiB`), plain bytes below 1 KiB,
 * `max` for no limit. Negative numbers keep their sign.
 */
export function formatBytes(n: number): string {
  if (n === UNLIMITED) return 'max';
  const sign = n < 0 ? '-' : '';
  let v = Math.abs(n);
  if (v < 1024) return `${sign}${v} B`;
  let i = 0;
  // Rounding to one decimal decides the unit: 1,048,575 B is 1.0 MiB, not 1024.0 KiB.
  while (v >= 1023.95 && i < IEC.length - 1) {
    v /= 1024;
    i++;
  }
  return `${sign}${v.toFixed(1)} ${IEC[i] ?? 'B'}`;
}
