import type { Command } from 'commander';
import { expect } from 'vitest';
import type { CommandContext } from '../../src/cli/context.js';
import { runCli, runProgram } from '../../src/cli/main.js';
import { processIo, type Io } from '../../src/cli/io.js';
import type { MapSpec } from '../../src/vocab/map-spec.js';

/** What a CLI run printed and returned. */
export interface CliRun {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs the CLI in this process, as `bpfmem ARGS` would run, with captured output and the real
 * file reader. With `commands`, the program has those instead of bpfmem's own (commands built
 * with test facts).
 */
export function cli(args: readonly string[], env: Record<string, string> = {}, commands?: (ctx: CommandContext) => readonly Command[]): Promise<CliRun> {
  return run(args, { isTTY: false, env }, commands);
}

/**
 * {@link cli} with its output on a terminal of `columns` (as the terminal or `COLUMNS` says), in
 * plain text (`NO_COLOR`) whatever the test runner's own output is: rows are matched as text.
 */
export function onTerminal(args: readonly string[], columns: number, commands?: (ctx: CommandContext) => readonly Command[]): Promise<CliRun> {
  return run(args, { isTTY: true, env: { NO_COLOR: '1' }, terminalSize: () => ({ columns, rows: 24 }) }, commands);
}

/**
 * The file reader the CLI runs with (src/cli/io.ts `processIo`): bounded, regular files only,
 * UTF-8 checked, `-` for standard input. Tests see the messages a person sees.
 */
const readFile = processIo().readFile;

async function run(args: readonly string[], terminal: Pick<Io, 'isTTY' | 'env' | 'terminalSize'>, commands?: (ctx: CommandContext) => readonly Command[]): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const io: Io = {
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    ...terminal,
    readFile,
  };
  const status = commands ? await runProgram(args, io, (ctx) => Promise.resolve(commands(ctx))) : await runCli(args, io);
  return { status, stdout, stderr };
}

/** The lines of the table whose header begins with `header` in `text`: up to the blank line after it. */
export function tableLines(text: string, header: RegExp): string[] {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => header.test(l));
  expect(start, `no table ${String(header)} in\n${text}`).toBeGreaterThanOrEqual(0);
  const end = lines.findIndex((l, i) => i > start && l === '');
  return lines.slice(start, end < 0 ? undefined : end);
}

/** A `--map` spec string for a spec. */
export function specText(spec: MapSpec, elements = 0, name?: string): string {
  return [
    `type=${spec.type}`,
    `key=${spec.keySize}`,
    `value=${spec.valueSize}`,
    `max_entries=${spec.maxEntries}`,
    `flags=${spec.flags}`,
    `map_extra=${spec.mapExtra}`,
    ...(spec.structOpsFuncs === undefined ? [] : [`struct_ops_funcs=${spec.structOpsFuncs}`]),
    `elements=${elements}`,
    ...(name ? [`name=${name}`] : []),
  ].join(',');
}
