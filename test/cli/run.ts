import type { Command } from 'commander';
import type { CommandContext } from '../../src/cli/context.js';
import { runCli, runProgram } from '../../src/cli/main.js';
import type { Io } from '../../src/cli/io.js';
import { readFile } from 'node:fs/promises';
import type { MapSpec } from '../../src/vocab/map-spec.js';

/** What a CLI run printed and returned. */
export interface CliRun {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs the CLI in this process, as `bpfmem ARGS` would run, with captured output. With
 * `commands`, the program has those instead of bpfmem's own (commands built with test facts).
 */
export async function cli(args: readonly string[], env: Record<string, string> = {}, commands?: (ctx: CommandContext) => readonly Command[]): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const io: Io = {
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    isTTY: false,
    env,
    readFile: (p) => readFile(p, 'utf8'),
  };
  const status = commands ? await runProgram(args, io, (ctx) => Promise.resolve(commands(ctx))) : await runCli(args, io);
  return { status, stdout, stderr };
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
