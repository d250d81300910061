import { Command, CommanderError, Option } from 'commander';
import { BpfmemError, exitCodeOf } from '../errors.js';
import { didYouMean } from '../scenario/parse-fields.js';
import type { Io } from './io.js';
import { conformanceCommand } from './conformance.js';
import { demoCommand } from './demo.js';
import { estimateCommand } from './estimate.js';
import { explainCommand } from './explain.js';
import { cgroupsCommand, mapsCommand, progsCommand, summaryAction, topCommand } from './inventory.js';
import { probeCommand } from './probe.js';
import { serveCommand } from './serve.js';
import { simulateCommand } from './simulate.js';
import { VERSION } from '../version.js';

/** What a command's action leaves for {@link runCli} to return. */
export interface CommandContext {
  readonly io: Io;
  /** Sets the exit status of the run (0 unless a command says otherwise). */
  exit(code: number): void;
}

/**
 * Runs the bpfmem CLI on `argv` (without `node` and the script) and returns the exit status:
 * 0 on success, 2 for the user's mistakes (bad arguments or input, with one line saying which),
 * 1 when the machine refused or failed. Never calls `process.exit`: only `bin/` does.
 */
export async function runCli(argv: readonly string[], io: Io): Promise<number> {
  let status = 0;
  const ctx: CommandContext = {
    io,
    exit(code) {
      status = code;
    },
  };
  const program = new Command('bpfmem')
    .description('How much memory does this BPF take, and who pays for it?')
    .usage('[options] [command]')
    .version(VERSION, '-V, --version')
    .showSuggestionAfterError(true)
    // `bpfmem maps --json`: options after a command are that command's (the bare summary has --json too).
    .enablePositionalOptions()
    .configureHelp({ helpWidth: 80, sortSubcommands: false })
    .configureOutput({
      writeOut: (s) => {
        io.stdout(s);
      },
      writeErr: (s) => {
        io.stderr(s);
      },
      // Commander's own errors ("unknown option") become our one-line form.
      outputError: (s, write) => {
        write(`bpfmem: ${s.replace(/^error: /, '').trim()}\n`);
      },
    })
    .exitOverride();
  program.addCommand(mapsCommand(ctx));
  program.addCommand(progsCommand(ctx));
  program.addCommand(cgroupsCommand(ctx));
  program.addCommand(topCommand(ctx));
  program.addCommand(simulateCommand(ctx));
  program.addCommand(estimateCommand(ctx));
  program.addCommand(probeCommand(ctx));
  program.addCommand(explainCommand(ctx));
  program.addCommand(serveCommand(ctx));
  program.addCommand(demoCommand(ctx));
  program.addCommand(conformanceCommand(ctx));
  program
    .addHelpText('after', '\nWithout a command: a one-screen summary of this machine (needs root).\n`bpfmem demo` shows the accounting model and needs nothing.\n')
    .argument('[command]')
    .addOption(jsonOption())
    .action(async (command: string | undefined, opts: { json?: boolean }) => {
      if (command !== undefined) {
        const names = program.commands.map((c) => c.name());
        throw new BpfmemError('usage', `unknown command '${command}'${didYouMean(command, names)}; commands are ${names.join(', ')}`);
      }
      await summaryAction(ctx, opts);
    });
  for (const cmd of program.commands) cmd.exitOverride().configureOutput(program.configureOutput());

  try {
    await program.parseAsync([...argv], { from: 'user' });
    return status;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version "fail" with status 0; every other parse error is a usage error.
      return error.exitCode === 0 ? 0 : 2;
    }
    if (error instanceof BpfmemError) {
      io.stderr(`bpfmem: ${error.message}\n`);
      return exitCodeOf(error);
    }
    io.stderr(`bpfmem: internal error: ${error instanceof Error ? error.message : String(error)}\n`);
    if (io.env['BPFMEM_DEBUG'] && error instanceof Error && error.stack) io.stderr(`${error.stack}\n`);
    return 1;
  }
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
