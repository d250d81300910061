/**
 * A strict reader of the Prometheus text exposition format 0.0.4 for tests
 * (prometheus/docs content/docs/instrumenting/exposition_formats.md): every line is a
 * `# HELP`/`# TYPE` comment, blank, or `name{label="value",…} value`, label values escaped with
 * `\\`, `\"` and `\n`. Throws on the first line that is none of these.
 */

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Exposition {
  readonly samples: readonly Sample[];
  /** Metric family → type (`gauge`, `counter`, `histogram`, …). */
  readonly types: ReadonlyMap<string, string>;
  readonly help: ReadonlyMap<string, string>;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

/**
 * A sample value: a Go float. Prometheus reads it with strconv.ParseFloat, which takes NaN and
 * Inf in any case (prom-client prints an event loop mean without samples as `Nan`).
 */
function value(text: string, line: string): number {
  if (/^\+?inf$/i.test(text)) return Number.POSITIVE_INFINITY;
  if (/^-inf$/i.test(text)) return Number.NEGATIVE_INFINITY;
  if (/^nan$/i.test(text)) return Number.NaN;
  if (!/^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$/.test(text)) throw new Error(`bad value ${JSON.stringify(text)} in ${JSON.stringify(line)}`);
  return Number(text);
}

/** The family a sample belongs to (`x_bucket`, `x_sum`, `x_count` of a histogram x). */
function familyOf(name: string, types: ReadonlyMap<string, string>): string {
  if (types.has(name)) return name;
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  if (m?.[1] && (types.get(m[1]) === 'histogram' || types.get(m[1]) === 'summary')) return m[1];
  return name;
}

export function parseExposition(text: string): Exposition {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const help = new Map<string, string>();
  if (text.length > 0 && !text.endsWith('\n')) throw new Error('the exposition does not end with a newline');
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
      if (!m?.[1] || !m[2] || m[3] === undefined) throw new Error(`bad comment line ${JSON.stringify(line)}`);
      if (m[1] === 'TYPE') {
        if (!TYPES.has(m[3])) throw new Error(`bad type in ${JSON.stringify(line)}`);
        if (types.has(m[2])) throw new Error(`a second TYPE for ${m[2]}`);
        types.set(m[2], m[3]);
      } else help.set(m[2], m[3]);
      continue;
    }
    const name = NAME.exec(line)?.[0];
    if (!name) throw new Error(`bad sample line ${JSON.stringify(line)}`);
    let at = name.length;
    const labels: Record<string, string> = {};
    if (line[at] === '{') {
      at++;
      while (line[at] !== '}') {
        const label = LABEL_NAME.exec(line.slice(at))?.[0];
        if (!label || line[at + label.length] !== '=' || line[at + label.length + 1] !== '"') throw new Error(`bad label at ${at} in ${JSON.stringify(line)}`);
        at += label.length + 2;
        let v = '';
        for (;;) {
          const c = line[at];
          if (c === undefined) throw new Error(`unterminated label value in ${JSON.stringify(line)}`);
          at++;
          if (c === '"') break;
          if (c === '\\') {
            const e = line[at];
            at++;
            if (e === '\\') v += '\\';
            else if (e === '"') v += '"';
            else if (e === 'n') v += '\n';
            else throw new Error(`bad escape \\${e ?? ''} in ${JSON.stringify(line)}`);
          } else v += c;
        }
        if (label in labels) throw new Error(`label ${label} twice in ${JSON.stringify(line)}`);
        labels[label] = v;
        if (line[at] === ',') at++;
        else if (line[at] !== '}') throw new Error(`expected , or } at ${at} in ${JSON.stringify(line)}`);
      }
      at++;
    }
    const rest = line.slice(at);
    const m = /^ (\S+)(?: (-?[0-9]+))?$/.exec(rest);
    if (!m?.[1]) throw new Error(`bad value part ${JSON.stringify(rest)} in ${JSON.stringify(line)}`);
    const family = familyOf(name, types);
    if (!types.has(family)) throw new Error(`sample ${name} before its TYPE line`);
    samples.push({ name, labels, value: value(m[1], line) });
  }
  return { samples, types, help };
}

/** The samples of one metric, optionally those whose labels include `match`. */
export function samplesOf(e: Exposition, name: string, match: Readonly<Record<string, string>> = {}): Sample[] {
  return e.samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v));
}

/** The one value of a metric with these labels; throws when there is not exactly one. */
export function valueOf(e: Exposition, name: string, match: Readonly<Record<string, string>> = {}): number {
  const found = samplesOf(e, name, match);
  if (found.length !== 1) throw new Error(`${found.length} samples of ${name} ${JSON.stringify(match)}`);
  return (found[0] as Sample).value;
}
