/**
 * Small helpers shared by the parsers of kernel pseudo-files (procfs and cgroupfs): the number
 * formats the kernel prints. Parsers return a `Result` (src/vocab/result.ts) and never throw on
 * their input; the thin readers beside them turn an error into a `BpfmemError`.
 */
import { err, ok, type Result } from '../../vocab/result.js';

/** A string shown in an error message: quoted, shortened, control characters escaped. */
export function show(text: string, max = 60): string {
  const cut = text.length > max ? `${text.slice(0, max)}…` : text;
  return JSON.stringify(cut);
}

/**
 * The lines of a pseudo-file: split on `\n`, without the empty string after the final newline.
 * Other empty lines are kept (a parser decides whether they are allowed).
 */
export function linesOf(text: string): string[] {
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** An unsigned decimal integer that fits a JS number exactly (`%u`, `%lu`, `%llu` below 2^53). */
export function parseUnsigned(text: string): number | undefined {
  if (!/^\d{1,16}$/.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** An unsigned decimal integer of any size (`%llu` counters that may pass 2^53). */
export function parseUnsignedBig(text: string): bigint | undefined {
  return /^\d{1,20}$/.test(text) ? BigInt(text) : undefined;
}

/** A signed decimal integer that fits a JS number exactly. */
export function parseSigned(text: string): number | undefined {
  if (!/^-?\d{1,16}$/.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}

/**
 * A hexadecimal number as the kernel's `%#x` / `%#llx` prints it: `0x1f`; the kernel prints 0
 * as `0x0`, glibc as `0`, and both are accepted. Returned as a bigint (u64 values such as
 * `map_extra` may pass 2^53).
 */
export function parseHexBig(text: string): bigint | undefined {
  if (text === '0') return 0n;
  return /^0x[0-9a-fA-F]{1,16}$/.test(text) ? BigInt(text) : undefined;
}

/** A hexadecimal u32 (`map_flags`). */
export function parseHex32(text: string): number | undefined {
  const n = parseHexBig(text);
  return n !== undefined && n <= 0xffffffffn ? Number(n) : undefined;
}

/** An octal number as `%o` prints it (fdinfo `flags:\t02000002`). */
export function parseOctal(text: string): number | undefined {
  if (!/^0?[0-7]{1,11}$/.test(text)) return undefined;
  const n = Number.parseInt(text, 8);
  return Number.isSafeInteger(n) ? n : undefined;
}

/**
 * A flat-keyed file (`KEY VALUE` per line, cgroup-v2.rst "Interface Files: Format"): v1 and v2
 * `memory.stat`, `memory.events`, `cgroup.stat`, v1 `memory.oom_control`. Values must be
 * unsigned integers; one past 2^53 is the kernel's "no limit" and becomes `Infinity`; blank
 * lines are ignored; a repeated key is an error.
 */
export function parseFlatKeyed(text: string, what: string): Result<Readonly<Record<string, number>>> {
  const out = emptyRecord<number>();
  const lines = linesOf(text);
  for (const [i, line] of lines.entries()) {
    if (line.trim() === '') continue;
    const m = /^(\S+) (\S+)$/.exec(line);
    if (!m) return err(`${what} line ${i + 1} is not "key value": ${show(line)}`);
    const key = m[1] ?? '';
    const raw = m[2] ?? '';
    // Only the "no limit" values pass 2^53 (v1 `hierarchical_memory_limit 9223372036854771712`).
    const value = parseUnsigned(raw) ?? (/^\d{17,20}$/.test(raw) ? Number.POSITIVE_INFINITY : undefined);
    if (value === undefined) return err(`${what} line ${i + 1}: ${show(key)} has ${show(raw)}, not a number`);
    if (Object.hasOwn(out, key)) return err(`${what} line ${i + 1} repeats ${show(key)}`);
    out[key] = value;
  }
  return ok(out);
}

/**
 * An empty record without a prototype, for keys that come from the kernel (or from fuzzed text):
 * a key such as `__proto__` is then an ordinary key.
 */
export function emptyRecord<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

/** The `code` of a Node system error (`ENOENT`, `EBUSY`, …), if it is one. */
export function errnoCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const code = error.code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

/** Whether an error says the file or process is gone (it closed or exited during a scan). */
export function isGone(error: unknown): boolean {
  const code = errnoCode(error);
  return code === 'ENOENT' || code === 'ESRCH';
}
