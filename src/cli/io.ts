import { fstatSync, writeSync } from 'node:fs';
import { styleText } from 'node:util';
import { readInputText } from '../sys/file/index.js';
import { SCENARIO_LIMITS } from '../vocab/limits.js';
import { BpfmemError } from '../vocab/errors.js';

/** The largest text file the CLI reads: a scenario's (SCENARIO_LIMITS). */
const INPUT_TEXT_LIMIT = SCENARIO_LIMITS.fileBytes;

/**
 * Everything the CLI touches outside itself, so that tests run commands without a process:
 * output streams, whether stdout is a terminal, the environment, and file reading.
 */
export interface Io {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** Whether stdout is a terminal (colour, progress). */
  readonly isTTY: boolean;
  readonly env: Readonly<Record<string, string | undefined>>;
  /**
   * A text file a person names (a scenario), read whole, bounded and checked: `what` names it
   * in a failure's one line (`scenario`); `fifoHint` is added to a refused FIFO's (see
   * ReadInputOptions). `-` is standard input.
   */
  readonly readFile: (path: string, what: string, fifoHint?: string) => Promise<string>;
  /**
   * Whether stdout's reader has gone (EPIPE: `bpfmem top | head -1`): a command that runs until
   * stopped (`top`, `watch`) then ends, as `watch(1)` and `top -b` do.
   */
  readonly stdoutClosed?: () => boolean;
  /**
   * The terminal's size now, where stdout is one (COLUMNS and LINES override it, as for ls and
   * top); undefined otherwise: a pipe gets whole lines.
   */
  readonly terminalSize?: () => TerminalSize | undefined;
}

export interface TerminalSize {
  readonly columns: number;
  readonly rows: number;
}

/** The size from the environment (COLUMNS, LINES) over the terminal's own, when either is known. */
export function sizeOf(env: Readonly<Record<string, string | undefined>>, tty: Partial<TerminalSize> | undefined): TerminalSize | undefined {
  const num = (v: string | number | undefined): number | undefined => {
    const n = typeof v === 'number' ? v : v !== undefined && /^[1-9][0-9]{0,4}$/.test(v) ? Number(v) : undefined;
    return n !== undefined && n > 0 ? n : undefined;
  };
  const columns = num(env['COLUMNS']) ?? num(tty?.columns);
  const rows = num(env['LINES']) ?? num(tty?.rows);
  if (columns === undefined && rows === undefined) return undefined;
  return { columns: columns ?? 80, rows: rows ?? 24 };
}

/** The real process's streams and files. */
export function processIo(): Io {
  const tty = isTerminal(1);
  const stdout = fdWriter(1, () => process.stdout);
  return {
    stdout,
    stdoutClosed: stdout.closed,
    stderr: fdWriter(2, () => process.stderr),
    isTTY: tty,
    env: process.env,
    readFile: (p, what, fifoHint) => readInputText(p, { limit: INPUT_TEXT_LIMIT, what, ...(fifoHint !== undefined && { fifoHint }) }),
    // Asked at each frame: a terminal may be resized while `top` runs.
    terminalSize: () => (tty ? sizeOf(process.env, { columns: process.stdout.columns, rows: process.stdout.rows }) : undefined),
  };
}

/**
 * Whether `fd` is a terminal. Only a character device can be one, and only then is node:tty
 * asked: loading it loads Node's socket modules, 4 ms of a run whose output is a pipe or a file.
 */
function isTerminal(fd: number): boolean {
  try {
    if (!fstatSync(fd).isCharacterDevice()) return false;
  } catch {
    return false;
  }
  return process.getBuiltinModule('node:tty').isatty(fd);
}

/**
 * What {@link fdWriter} uses of `process.stdout` or `process.stderr`: declared here, not as
 * `NodeJS.WriteStream`, so that the library's types (`Io`) compile for a user without
 * @types/node.
 */
export interface WriteStreamLike {
  write(chunk: string | Uint8Array): unknown;
  on(event: 'error', listener: (error: Error & { code?: string }) => void): unknown;
}

/**
 * Writes to stdout or stderr synchronously, as Node itself does on Linux for files, terminals
 * and pipes, but without `process.stdout`: making that stream loads Node's socket and stream
 * modules, 8 ms of every run whose output is a pipe (bench/estimate.ts). A descriptor that is
 * non-blocking and full (EAGAIN) hands the rest, and everything after, to the stream. When the
 * reader has gone (EPIPE: `bpfmem maps | head -1`), the rest of the output is dropped, and
 * `closed()` says so.
 */
export function fdWriter(fd: 1 | 2, stream: () => WriteStreamLike): ((text: string) => void) & { readonly closed: () => boolean } {
  let mode: 'sync' | 'stream' | 'closed' = 'sync';
  const toStream = (text: string | Buffer): void => {
    if (mode !== 'stream') {
      mode = 'stream';
      // The reader going away while the stream holds output: dropped, as in the sync mode.
      stream().on('error', (error: Error & { code?: string }) => {
        if (error.code !== 'EPIPE') throw error;
        mode = 'closed';
      });
    }
    stream().write(text);
  };
  const write = (text: string): void => {
    if (mode === 'stream') toStream(text);
    if (mode !== 'sync') return;
    // The string goes out as it is: encoding 4 MB of JSON into a Buffer first took 41 ms against
    // 22 ms in a fresh process here. Only a short write needs the bytes.
    let rest: string | Buffer = text;
    while (rest.length > 0) {
      try {
        if (typeof rest === 'string') {
          const n: number = writeSync(fd, rest);
          rest = n === Buffer.byteLength(rest) ? '' : Buffer.from(rest, 'utf8').subarray(n);
        } else rest = rest.subarray(writeSync(fd, rest));
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN') toStream(rest);
        else if (code === 'EPIPE') mode = 'closed';
        // A full disk or a device that refuses (`> /dev/full`): the user's output is lost, said in one line.
        else throw new BpfmemError('system', `${fd === 1 ? 'standard output' : 'standard error'}: cannot write (${code ?? String(error)}${code === 'ENOSPC' ? ': no space left on the device' : ''})`, { cause: error });
        return;
      }
    }
  };
  return Object.assign(write, { closed: () => mode === 'closed' });
}

/** Styles for people: colour only on a terminal and never with NO_COLOR (docs/architecture.md, "Conventions"). */
export interface Style {
  readonly bold: (s: string) => string;
  readonly dim: (s: string) => string;
  readonly ok: (s: string) => string;
  readonly bad: (s: string) => string;
  readonly warn: (s: string) => string;
}

/**
 * Whether `top` and `watch` redraw their screen in place (home and clear): on a terminal that
 * takes escape sequences, not `TERM=dumb`, where frames follow one another as into a pipe.
 */
export const redrawsInPlace = (io: Io): boolean => io.isTTY && io.env['TERM'] !== 'dumb';

export function styleFor(io: Io): Style {
  // no-color.org: NO_COLOR set to any text but the empty one.
  const color = io.isTTY && (io.env['NO_COLOR'] ?? '') === '' && io.env['TERM'] !== 'dumb';
  // The decision is the command's Io's, not process.stdout's, which Node would check again.
  const st =
    (fmt: Parameters<typeof styleText>[0]) =>
    (s: string): string =>
      color ? styleText(fmt, s, { validateStream: false }) : s;
  return { bold: st('bold'), dim: st('dim'), ok: st('green'), bad: st('red'), warn: st('yellow') };
}
