/**
 * Durations as Prometheus writes them (`15s`, `1m`, `1m30s`, `500ms`, `1h`): one or more
 * `<number><unit>` groups, units from largest to smallest, each at most once
 * (prometheus/common model/time.go `ParseDuration`, without the `d`, `w` and `y` units a scan
 * interval has no use for); as Go's time.ParseDuration takes them, a number may have decimals
 * (`1.5s`, `0.5h`, `1m30.5s`), and the sum is rounded to a whole millisecond.
 */

const UNITS = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 } as const;
type Unit = keyof typeof UNITS;
const ORDER: readonly Unit[] = ['h', 'm', 's', 'ms'];

/** The longest text this parser looks at: `999h59m59s999ms` and some. */
const MAX_LENGTH = 32;

/** Milliseconds of a duration, rounded to a whole one, or undefined when the text is not one. */
export function parseDuration(text: string): number | undefined {
  if (text.length === 0 || text.length > MAX_LENGTH) return undefined;
  const group = /([0-9]+(?:\.[0-9]+)?)(ms|h|m|s)/y;
  let ms = 0;
  let last = -1;
  let at = 0;
  while (at < text.length) {
    group.lastIndex = at;
    const g = group.exec(text);
    if (!g?.[1] || !g[2]) return undefined;
    const unit = g[2] as Unit;
    const rank = ORDER.indexOf(unit);
    if (rank <= last) return undefined; // `1s1m`, `1s1s`
    last = rank;
    ms += Number(g[1]) * UNITS[unit];
    at = group.lastIndex;
  }
  const rounded = Math.round(ms);
  return Number.isSafeInteger(rounded) ? rounded : undefined;
}

/** `15s`, `1m30s`, `250ms`: a duration as people write it back. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return `${ms}ms`;
  let rest = Math.round(ms);
  let out = '';
  for (const unit of ORDER) {
    const n = Math.floor(rest / UNITS[unit]);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * UNITS[unit];
  }
  return out || '0s';
}
