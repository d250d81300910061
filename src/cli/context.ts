import { Option } from 'commander';
import { BpfmemError } from '../vocab/errors.js';
import { quote } from '../vocab/fields.js';
import { parseSize } from '../vocab/units.js';
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
export async function readInput(io: Io, path: string, what: string): Promise<string> {
  try {
    return await io.readFile(path, what);
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
    if (n === undefined || n < 0 || n > 2 ** 40) throw new BpfmemError('usage', `${flag} ${quote(value)}: expected a size from 0 to 1TiB, like 64MiB or 512M`);
    return n;
  };
}
