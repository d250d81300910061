import { closeSync, constants, createReadStream, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { BpfmemError, type ErrorCode } from '../../vocab/errors.js';
import { errnoCode } from '../proc/text.js';
import { joinChunks } from './chunks.js';

/**
 * Files a person names on the command line or in a request (a BPF object, a BTF file, a
 * `bpftool -j` dump, a scenario), read whole but never without bound: a character device
 * (`/dev/zero`), a FIFO with no writer or a socket is refused before anything is read, a
 * regular file is read up to a cap, and a file that says it is small (procfs says 0) is still
 * cut at the cap. The read is synchronous and bounded, so a signal is handled as soon as it ends.
 * What may wait on a writer (standard input, `-`; FIFOs when asked for) is read on the event
 * loop, under the same cap.
 */

/** How to read one input file. */
export interface ReadInputOptions {
  /** The most bytes read; a larger file is refused. */
  readonly limit: number;
  /** What the file is, for messages: `BPF object`, `BTF`, `bpftool dump`. */
  readonly what: string;
  /** Whose mistake a failure is: `input` (a file the user named, exit 2) or `system`. */
  readonly code?: ErrorCode;
  /**
   * What the command offers for a FIFO it refuses (`<(cat prog.o)`, a named pipe): its option,
   * or standard input; added to the message.
   */
  readonly fifoHint?: string;
}

const KIND: readonly [(s: Stats) => boolean, string][] = [
  [(s) => s.isDirectory(), 'a directory'],
  [(s) => s.isCharacterDevice(), 'a character device'],
  [(s) => s.isBlockDevice(), 'a block device'],
  [(s) => s.isFIFO(), 'a FIFO'],
  [(s) => s.isSocket(), 'a socket'],
];

/** `12.5 MiB`-style sizes for messages, whole MiB at and above 10. */
const mib = (n: number): string => `${n >= 10 * 2 ** 20 ? (n / 2 ** 20).toFixed(0) : (n / 2 ** 20).toFixed(1)} MiB`;

/**
 * `1.5 MiB is more than the 1.0 MiB`, in bytes where the MiB would read the same
 * (`1,048,600 bytes is more than the 1,048,576 (1.0 MiB)`).
 */
export function sizeOver(size: number, limit: number): string {
  if (mib(size) !== mib(limit)) return `${mib(size)} is more than the ${mib(limit)}`;
  const bytes = (n: number): string => n.toLocaleString('en-US');
  return `${bytes(size)} bytes is more than the ${bytes(limit)} (${mib(limit)})`;
}

const REASONS: Readonly<Record<string, string>> = { ENOENT: 'no such file', EACCES: 'permission denied', EPERM: 'permission denied', EISDIR: 'it is a directory' };

const why = (error: unknown): string => {
  const code = errnoCode(error);
  return (code !== undefined && Object.hasOwn(REASONS, code) ? REASONS[code] : undefined) ?? code ?? (error instanceof Error ? error.message : String(error));
};

/** Makes the one-line error of an input: `${what} ${name}: ${text}`. */
type Fail = (text: string, cause?: unknown) => BpfmemError;

function failFor(options: ReadInputOptions, name: string): Fail {
  return (text, cause) => new BpfmemError(options.code ?? 'input', `${options.what} ${name}: ${text}`, cause === undefined ? undefined : { cause });
}

/**
 * Opens an input file without waiting (O_NONBLOCK: opening a FIFO for reading would otherwise
 * wait for a writer, unkillable by Ctrl-C), and the one-line error maker for it.
 */
function openInput(path: string, options: ReadInputOptions): { fd: number; fail: Fail } {
  const fail = failFor(options, path);
  try {
    return { fd: openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY), fail };
  } catch (error) {
    // Node decodes the command line as UTF-8: a name with other bytes reaches it as U+FFFD, a
    // name no file has.
    const mangled = errnoCode(error) === 'ENOENT' && path.includes('\ufffd') ? '; its name has bytes that are not UTF-8, which Node cannot pass on: rename it, or give it as - (< file)' : '';
    throw fail(`cannot read (${why(error)}${mangled})`, error);
  }
}

/**
 * Reads a regular file of at most `options.limit` bytes. Throws a one-line {@link BpfmemError}
 * naming the file and what is wrong: it cannot be opened, it is not a regular file, or it is
 * larger than the limit.
 */
export function readInputFile(path: string, options: ReadInputOptions): Uint8Array {
  const { fd, fail } = openInput(path, options);
  try {
    const st = fstatSync(fd);
    const kind = KIND.find(([is]) => is(st));
    if (kind) throw fail(`is ${kind[1]}, not a regular file${st.isFIFO() && options.fifoHint !== undefined ? ` (${options.fifoHint})` : ''}`);
    if (st.size > options.limit) throw fail(`${sizeOver(st.size, options.limit)} bpfmem reads of a ${options.what}`);
    // Read to the end, whatever size fstat said (procfs, sysfs and cgroupfs files say 0 or a
    // page), one byte past the limit at most. The first buffer holds a file of the size fstat
    // gave and the read that finds its end; a file that says 0 starts at a page, so that the
    // ten small files of a cgroup cost no 64 KiB buffers (their read at a 10,000-map rescan:
    // 4.0–4.2 ms with them, 1.1 ms without, measured).
    const chunks: Uint8Array[] = [];
    let total = 0;
    let buf = new Uint8Array(Math.min(Math.max(st.size + 1, 4096), options.limit + 1));
    let used = 0;
    for (;;) {
      if (used === buf.byteLength) {
        chunks.push(buf);
        const room = options.limit + 1 - total;
        if (room === 0) throw fail(`more than the ${mib(options.limit)} bpfmem reads of a ${options.what}`);
        buf = new Uint8Array(Math.min(buf.byteLength * 2, 64 * 2 ** 20, room));
        used = 0;
      }
      let n: number;
      try {
        n = readSync(fd, buf, used, buf.byteLength - used, null);
      } catch (error) {
        throw fail(`cannot read (${why(error)})`, error);
      }
      if (n === 0) break;
      used += n;
      total += n;
    }
    chunks.push(buf.subarray(0, used));
    return joinChunks(chunks);
  } finally {
    closeSync(fd);
  }
}

/**
 * A text file a person names (a scenario), through {@link readInputFileAsync} (`-` is standard
 * input): UTF-8, a byte order mark dropped. A file that is not UTF-8 is refused with a one-line
 * {@link BpfmemError}, not read with U+FFFD in it.
 */
export async function readInputText(path: string, options: ReadSpecialOptions): Promise<string> {
  return decodeText(await readInputFileAsync(path, options), inputName(path), options);
}

function decodeText(bytes: Uint8Array, shown: string, options: ReadInputOptions): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (error) {
    throw new BpfmemError(options.code ?? 'input', `${options.what} ${shown}: not UTF-8 text`, { cause: error });
  }
}

/**
 * What a person writes for standard input where a file is asked for (`kubectl apply -f -`,
 * `bpftool batch file -`), and how messages and outputs name it (as Python, gcc and jq do).
 */
export const STDIN_PATH = '-';
const STDIN_NAME = '<stdin>';

/** How messages name an input: `<stdin>` for `-`, else its path. */
export const inputName = (path: string): string => (path === STDIN_PATH ? STDIN_NAME : path);

/** Options of {@link readInputFileAsync}. */
export interface ReadSpecialOptions extends ReadInputOptions {
  /**
   * Read a FIFO, a pipe (`<(cat prog.o)`, /dev/stdin) or a character device too, with the same
   * cap, instead of refusing it: what a person asks for with `--special-files`.
   */
  readonly special?: boolean;
}

/**
 * {@link readInputFile}, and when `options.special` is set, FIFOs, pipes and character devices
 * too: read as a stream on the event loop, so that Ctrl-C and SIGTERM end a read that waits on a
 * writer (a synchronous read would hold the loop, and the signal handlers with it), and cut at
 * the cap (`/dev/zero` is refused after `limit` bytes). Directories, block devices and sockets
 * are always refused.
 */
export async function readInputFileAsync(path: string, options: ReadSpecialOptions): Promise<Uint8Array> {
  if (path === STDIN_PATH) return readStdin(options);
  if (!options.special) return readInputFile(path, options);
  return readSpecial(path, options);
}

/**
 * Standard input (`-`), read whole under the same cap, through `process.stdin`: a pipe, a socket
 * (what a parent that spawns bpfmem from Node or systemd gives), a FIFO or a file (`< dump.json`),
 * on the event loop, so that Ctrl-C ends a wait for a writer. Node keeps fd 0 open when the
 * stream ends (a descriptor bpf() could otherwise be given next). A terminal is refused: the
 * read would wait for typing, with nothing said.
 */
async function readStdin(options: ReadInputOptions): Promise<Uint8Array> {
  const fail = failFor(options, STDIN_NAME);
  let st: Stats;
  try {
    st = fstatSync(0);
  } catch (error) {
    throw fail(`no standard input to read (${why(error)})`, error);
  }
  if (st.isCharacterDevice() && process.getBuiltinModule('node:tty').isatty(0)) {
    throw fail('standard input is a terminal: pipe the input in, or give a file instead of -');
  }
  if (st.isDirectory()) throw fail('is a directory, not a regular file');
  if (st.isFile() && st.size > options.limit) throw fail(`${sizeOver(st.size, options.limit)} bpfmem reads of a ${options.what}`);
  return readBounded(process.stdin, fail, options);
}

/** {@link readInputFileAsync} of a path, FIFOs and character devices too. */
async function readSpecial(path: string, options: ReadInputOptions): Promise<Uint8Array> {
  const { fd, fail } = openInput(path, options);
  let st: Stats;
  try {
    st = fstatSync(fd);
  } catch (error) {
    closeSync(fd);
    throw fail(`cannot read (${why(error)})`, error);
  }
  if (st.isFile()) {
    closeSync(fd);
    return readInputFile(path, options);
  }
  if (!st.isFIFO() && !st.isCharacterDevice()) {
    closeSync(fd);
    const kind = KIND.find(([is]) => is(st));
    throw fail(`is ${kind ? kind[1] : 'not a file'}, which bpfmem does not read`);
  }
  // A pipe through libuv's stream (non-blocking, polled); a character device through a
  // read stream, whose blocking reads run in the thread pool. node:net is loaded only here
  // (process.getBuiltinModule, not import(): the CLI's code cache compiles without an import hook).
  const stream = st.isFIFO() ? new (process.getBuiltinModule('node:net').Socket)({ fd, readable: true, writable: false }) : createReadStream('', { fd, highWaterMark: 64 * 1024 });
  return readBounded(stream, fail, options);
}

/** What {@link readBounded} uses of a readable stream. */
interface Readable {
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  on(event: 'end', listener: () => void): unknown;
  destroy(): unknown;
}

/** A stream read to its end, refused past `options.limit` bytes. */
function readBounded(stream: Readable, fail: Fail, options: ReadInputOptions): Promise<Uint8Array> {
  return new Promise<Uint8Array>((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    let total = 0;
    stream.on('data', (chunk: Buffer) => {
      total += chunk.byteLength;
      if (total > options.limit) {
        stream.destroy();
        reject(fail(`more than the ${mib(options.limit)} bpfmem reads of a ${options.what}`));
        return;
      }
      chunks.push(new Uint8Array(chunk));
    });
    stream.on('error', (error: Error) => {
      reject(fail(`cannot read (${why(error)})`, error));
    });
    stream.on('end', () => {
      stream.destroy();
      resolve(joinChunks(chunks));
    });
  });
}
