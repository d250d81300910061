import { Option } from 'commander';
import { BpfmemError } from '../vocab/errors.js';
import type { Io } from './io.js';

/** What a command's action leaves for `runCli` to return. */
export interface CommandContext {
  readonly io: Io;
  /** Sets the exit status of the run (0 unless a command says otherwise). */
  exit(code: number): void;
}

/** `--json`: the one output option every command has. */
export const jsonOption = (): Option => new Option('--json', 'print JSON (stable shape, see docs/cli.md)');

/** Reads a file named on the command line, or says in one line why it cannot. */
export async function readInput(io: Io, path: string, what: string): Promise<string> {
  try {
    return await io.readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : code === 'EACCES' ? 'permission denied' : (code ?? String(error));
    throw new BpfmemError('input', `cannot read ${what} ${path}: ${why}`, { cause: error });
  }
}
