import { formatBytes } from '../../src/vocab/units.js';

/** How numbers are shown: IEC units as the CLI prints them (src/vocab/units.ts: formatBytes). */

/** Bytes for people, `–` when unknown. */
export function bytes(n: number | null | undefined): string {
  return n === null || n === undefined ? '–' : formatBytes(n);
}

/** A limit: `max` for none. */
export function limit(n: number | null): string {
  return n === null ? 'max' : formatBytes(n);
}

/** A share as a percentage with no decimals below 10% kept (`0.4%`, `12%`). */
export function percent(share: number): string {
  const p = share * 100;
  return p < 10 ? `${p.toFixed(1)}%` : `${Math.round(p)}%`;
}

/** A time of day, local, to the second. */
export function clock(date: Date): string {
  return date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
}

/** A count with its noun: `1 map`, `3 maps`. */
export function plural(n: number, noun: string): string {
  return `${n.toLocaleString('en')} ${noun}${n === 1 ? '' : 's'}`;
}
