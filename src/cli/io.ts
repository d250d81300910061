import { readFile } from 'node:fs/promises';
import { styleText } from 'node:util';

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
  readonly readFile: (path: string) => Promise<string>;
}

/** The real process's streams and files. */
export function processIo(): Io {
  return {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    isTTY: process.stdout.isTTY,
    env: process.env,
    readFile: (p) => readFile(p, 'utf8'),
  };
}

/** Styles for people: colour only on a terminal and never with NO_COLOR (DESIGN.md, Conventions). */
export interface Style {
  readonly bold: (s: string) => string;
  readonly dim: (s: string) => string;
  readonly ok: (s: string) => string;
  readonly bad: (s: string) => string;
  readonly warn: (s: string) => string;
}

export function styleFor(io: Io): Style {
  const color = io.isTTY && io.env['NO_COLOR'] === undefined && io.env['TERM'] !== 'dumb';
  const st =
    (fmt: Parameters<typeof styleText>[0]) =>
    (s: string): string =>
      color ? styleText(fmt, s) : s;
  return { bold: st('bold'), dim: st('dim'), ok: st('green'), bad: st('red'), warn: st('yellow') };
}
