import { Option } from 'commander';
import { BpfmemError } from '../vocab/errors.js';
import { quote } from '../vocab/fields.js';
import { parseSize, SIZE_EXAMPLES } from '../vocab/units.js';
import { formatDuration, parseDuration } from '../vocab/duration.js';
import type { Io } from './io.js';
import { STDIN_PATH } from '../sys/file/index.js';

/** What `bpfmem serve` asks of the server face (src/server/index.ts `serveLive`). */
export interface ServeRequest {
  readonly host: string;
  readonly port: number;
  readonly intervalMs: number;
  /** Maps with series of their own in /metrics: the N charged most (0: none). */
  readonly perMapMetrics: number;
  /** Attach `bpfmem watch`'s hooks to count refused map updates (`--no-watch`: false). */
  readonly watch?: boolean;
  /** Keep the hooks attached (`--always`) instead of arming them on headroom (src/watch/arming.ts). */
  readonly watchAlways?: boolean;
  /** `--arm-below`: bytes of room under which a paying cgroup's map types are hooked. */
  readonly armBelow?: number;
}

/** A server that runs until closed. */
export interface RunningService {
  readonly url: string;
  /** The address as bound (`http://0.0.0.0:9464`), where it differs from `url`. */
  readonly bound?: string;
  /** Whether it listens on a loopback address only (false: other machines may reach it). */
  readonly loopback?: boolean;
  close(): Promise<void>;
}

/** Starts the server face: src/bin/ wires it in, so that no face imports another. */
export type ServeLauncher = (request: ServeRequest) => Promise<RunningService>;

/** The faces a command may start, wired in by src/bin/. */
export interface Faces {
  readonly serve?: ServeLauncher;
}

/** What a command's action leaves for `runCli` to return. */
export interface CommandContext {
  readonly io: Io;
  /** Starts `bpfmem serve`'s server (absent where nothing wired one in). */
  readonly serve?: ServeLauncher | undefined;
  /** Sets the exit status of the run (0 unless a command says otherwise). */
  exit(code: number): void;
}

/** `--json` (also `-j` as bpftool takes it, and `-o json` as kubectl does): the one output option every command has. */
export const jsonOption = (): Option => new Option('-j, --json', 'print JSON (docs/cli.md); also -o json');

/** Reads a file named on the command line, or says in one line why it cannot. */
export async function readInput(io: Io, path: string, what: string, fifoHint?: string): Promise<string> {
  try {
    return await io.readFile(path, what, fifoHint);
  } catch (error) {
    if (error instanceof BpfmemError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : code === 'EACCES' ? 'permission denied' : (code ?? String(error));
    throw new BpfmemError('input', `cannot read ${what} ${path}: ${why}`, { cause: error });
  }
}

/**
 * Refuses `-` (standard input) given for more than one of `paths`: it holds one input, and a
 * second read would find it empty. `which` says what may take it, for the message.
 */
export function stdinOnce(paths: readonly (string | undefined)[], which: string): void {
  if (paths.filter((p) => p === STDIN_PATH).length > 1) throw new BpfmemError('usage', `standard input (-) is read once: give it for ${which}, and files for the others`);
}

/** `--arm-below`: a size from 0 to 1 TiB. */
export function sizeArg(flag: string) {
  return (value: string): number => {
    const n = parseSize(value);
    if (n === undefined || n < 0 || n > 2 ** 40) throw new BpfmemError('usage', `${flag} ${quote(value)}: expected a size from 0 to 1Ti, ${SIZE_EXAMPLES}`);
    return n;
  };
}

const SECONDS = /^[0-9]+(?:\.[0-9]+)?$/;

/**
 * Milliseconds of a duration as people type one on the command line: what
 * src/vocab/duration.ts `parseDuration` reads (`2s`, `1.5s`, `500ms`, `1m30s`, `1m30.5s`,
 * `0.5h`), and with `seconds` a bare number as seconds (`2`, `0.5`), as top(1) and watch(1)
 * take `-d`; undefined when the text is none of these.
 */
export function parseDurationArg(text: string, seconds = false): number | undefined {
  if (SECONDS.test(text)) return seconds && text.length <= 32 ? Math.round(Number(text) * 1000) : undefined;
  return parseDuration(text);
}

/**
 * A duration option (`top -d`, `watch -d` and `--for`, `serve --interval`) from `min` to `max`
 * ms, parsed by {@link parseDurationArg}; anything else is one line naming the flag and the
 * value. `like` gives examples; with `seconds`, a bare number is seconds.
 */
export function durationArg(flag: string, o: { readonly min: number; readonly max: number; readonly like: string; readonly seconds?: boolean }) {
  return (value: string): number => {
    const ms = parseDurationArg(value, o.seconds === true);
    if (ms === undefined || ms < o.min || ms > o.max) {
      const hint = o.seconds === true ? ' (a bare number is seconds)' : SECONDS.test(value) ? ` (give a unit: ${value}s)` : '';
      throw new BpfmemError('usage', `${flag} ${quote(value)}: expected a duration from ${formatDuration(o.min)} to ${formatDuration(o.max)}, like ${o.like}${hint}`);
    }
    return ms;
  };
}
