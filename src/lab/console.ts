import { createHash } from 'node:crypto';
import { BpfmemError } from '../vocab/errors.js';

/**
 * How the guest hands its result to the host over the serial console, where kernel messages
 * (an OOM kill, a warning) may come between its lines: the result is JSON, sent as base64 lines
 * between marker lines, with its length and SHA-256 in the first marker so that the host notices
 * a line the console garbled.
 *
 * ```
 * BPFMEM-LAB-BEGIN <bytes> <sha256 hex>
 * BPFMEM-LAB 0 <base64>
 * BPFMEM-LAB 1 <base64>
 * BPFMEM-LAB-END
 * ```
 * A guest that cannot produce a result prints `BPFMEM-LAB-ERROR <one line>` instead.
 */

export const BEGIN = 'BPFMEM-LAB-BEGIN';
export const DATA = 'BPFMEM-LAB';
export const END = 'BPFMEM-LAB-END';
export const ERROR = 'BPFMEM-LAB-ERROR';

/** Base64 characters per data line (a multiple of 4, shorter than a console line wraps). */
const LINE = 76;

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** The lines (each ending in `\n`) that carry `payload` (the guest's JSON) to the host. */
export function encodeResult(payload: string): string {
  const bytes = Buffer.from(payload, 'utf8');
  const b64 = bytes.toString('base64');
  const out = [`${BEGIN} ${bytes.length} ${sha256(bytes)}\n`];
  for (let i = 0, n = 0; i < b64.length; i += LINE, n++) out.push(`${DATA} ${n} ${b64.slice(i, i + LINE)}\n`);
  out.push(`${END}\n`);
  return out.join('');
}

/**
 * The start of each of the guest program's own lines (src/bin/lab-guest.ts prints one first
 * thing, then its progress): what the host looks for to tell a started guest from a boot.
 */
export const GUEST_LINE = 'bpfmem-lab:';

/** A line of the guest program's own, for people watching the console. */
export function guestLine(text: string): string {
  return `${GUEST_LINE} ${text}\n`;
}

/** What a guest is doing: the conformance cases, then the checks (src/lab/checks.ts). */
export type GuestPhase = 'conformance' | 'check';

/** A progress line of the guest: `bpfmem-lab: <phase> <done>/<total> <seconds>s <id>`, for people and the host's progress bar. */
export function progressLine(phase: GuestPhase, done: number, total: number, seconds: number, id: string): string {
  return guestLine(`${phase} ${done}/${total} ${seconds.toFixed(1)}s ${id}`);
}

/** The progress lines in a piece of console output, in order. */
export function parseProgress(text: string): { phase: GuestPhase; done: number; total: number }[] {
  return [...text.matchAll(new RegExp(`${GUEST_LINE} (conformance|check) (\\d+)/(\\d+) `, 'g'))].map((m) => ({ phase: m[1] as GuestPhase, done: Number(m[2]), total: Number(m[3]) }));
}

/** The line a guest prints when it has no result: `BPFMEM-LAB-ERROR <message>`. */
export function encodeError(message: string): string {
  return `${ERROR} ${message.replace(/[\r\n]+/g, ' ')}\n`;
}

/** What the console said: the payload, the guest's own error, or nothing at all. */
export type ConsoleResult =
  | { readonly kind: 'result'; readonly payload: string }
  | { readonly kind: 'error'; readonly message: string }
  | { readonly kind: 'none' };

const short = (s: string): string => (s.length > 120 ? `${s.slice(0, 117)}...` : s);

/**
 * Finds the guest's result in the console text (the last one, if it printed several). Lines
 * that are not the protocol's are skipped. Throws a {@link BpfmemError} (`system`) for a result
 * that is cut short or garbled; returns `none` when the guest printed neither a result nor an
 * error line.
 */
export function parseConsole(text: string): ConsoleResult {
  const lines = text.split(/\r?\n|\r/);
  let begin = -1;
  let error: string | undefined;
  for (const [i, raw] of lines.entries()) {
    // The console may put escape sequences or a kernel message's tail before a marker.
    const at = raw.indexOf('BPFMEM-LAB');
    if (at < 0) continue;
    const line = raw.slice(at);
    if (line.startsWith(`${BEGIN} `)) begin = i;
    else if (line.startsWith(`${ERROR} `)) error = line.slice(ERROR.length + 1).trim();
  }
  if (begin < 0) return error === undefined ? { kind: 'none' } : { kind: 'error', message: error };
  const head = (lines[begin] ?? '').slice((lines[begin] ?? '').indexOf(BEGIN)).split(' ');
  const size = Number(head[1]);
  const hash = head[2] ?? '';
  if (head.length !== 3 || !Number.isSafeInteger(size) || size < 0 || !/^[0-9a-f]{64}$/.test(hash)) {
    throw new BpfmemError('system', `the guest's result header is garbled on the serial console: ${JSON.stringify(short(lines[begin] ?? ''))}`);
  }
  const parts: string[] = [];
  let ended = false;
  for (const raw of lines.slice(begin + 1)) {
    const at = raw.indexOf('BPFMEM-LAB');
    if (at < 0) continue;
    const line = raw.slice(at);
    if (line.startsWith(END)) {
      ended = true;
      break;
    }
    const m = /^BPFMEM-LAB (\d{1,9}) ([A-Za-z0-9+/=]{1,76})$/.exec(line.trimEnd());
    if (m === null || Number(m[1]) !== parts.length) {
      throw new BpfmemError('system', `the guest's result is garbled on the serial console at line ${JSON.stringify(short(line))}`);
    }
    parts.push(m[2] ?? '');
  }
  if (!ended) throw new BpfmemError('system', `the guest's result was cut short on the serial console after ${parts.length} lines`);
  const bytes = Buffer.from(parts.join(''), 'base64');
  if (bytes.length !== size || sha256(bytes) !== hash) {
    throw new BpfmemError('system', `the guest's result does not match its checksum (${bytes.length} of ${size} bytes): the serial console garbled it`);
  }
  return { kind: 'result', payload: bytes.toString('utf8') };
}
