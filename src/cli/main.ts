import { COMMAND_NAMES, type CommandName } from './command-names.js';
import { Command, CommanderError, Help, type HelpConfiguration, type Option } from 'commander';
import { BpfmemError, exitCodeOf } from '../vocab/errors.js';
import { didYouMean, quote } from '../vocab/fields.js';
import type { Io } from './io.js';
import { jsonOption, type CommandContext, type Faces } from './context.js';
import { VERSION } from '../vocab/bpfmem-version.js';
import { escapeText, terminalSafe } from './escape.js';
import { isClosing, onStaleRemoved } from '../live/cleanup.js';

type CommandModule = (ctx: CommandContext) => Promise<Command>;

/**
 * Every command in the order `--help` lists them, each loaded only when it runs: a dynamic
 * import becomes its own chunk of the bundle (scripts/bundle.mjs), so `bpfmem estimate` does
 * not read and compile the live backend, the inventory, the server or the kernel lab. Each
 * command module keeps its own description and options; `--help` of the whole program loads
 * them all.
 */
// Typed by the list the entry point names code caches after: a command missing from either fails to compile.
const COMMANDS: Readonly<Record<CommandName, CommandModule>> = {
  maps: async (ctx) => (await import('./inventory.js')).mapsCommand(ctx),
  progs: async (ctx) => (await import('./inventory.js')).progsCommand(ctx),
  cgroups: async (ctx) => (await import('./inventory.js')).cgroupsCommand(ctx),
  top: async (ctx) => (await import('./inventory.js')).topCommand(ctx),
  simulate: async (ctx) => (await import('./simulate.js')).simulateCommand(ctx),
  estimate: async (ctx) => (await import('./estimate.js')).estimateCommand(ctx),
  probe: async (ctx) => (await import('./probe.js')).probeCommand(ctx),
  explain: async (ctx) => (await import('./explain.js')).explainCommand(ctx),
  serve: async (ctx) => (await import('./serve.js')).serveCommand(ctx),
  watch: async (ctx) => (await import('./watch.js')).watchCommand(ctx),
  demo: async (ctx) => (await import('./demo.js')).demoCommand(ctx),
  conformance: async (ctx) => (await import('./conformance.js')).conformanceCommand(ctx),
};
const NAMES: string[] = [...COMMAND_NAMES];
const BY_NAME: Readonly<Record<string, CommandModule>> = COMMANDS;

/**
 * The commands a run needs: the one it names (`bpfmem estimate …`, `bpfmem help estimate`), all
 * of them for the program's own help (which lists them), none for the summary or an unknown
 * name. The program's options take no values, so the first word that is not an option is
 * the command.
 */
export function commandsFor(raw: readonly string[]): string[] {
  let argv: readonly string[];
  try {
    argv = normalizeArgs(raw);
  } catch {
    argv = raw; // the run itself says what is wrong with them
  }
  const first = argv.findIndex((a) => !a.startsWith('-'));
  const options = first < 0 ? argv : argv.slice(0, first);
  if (options.includes('-h') || options.includes('--help')) return NAMES;
  const words = argv.filter((a) => !a.startsWith('-'));
  const named = words[0] === 'help' ? words[1] : words[0];
  if (named !== undefined && Object.hasOwn(COMMANDS, named)) return [named];
  return words[0] === 'help' ? NAMES : [];
}

/**
 * The words as the program reads them: `bpfmem help [COMMAND]` is `bpfmem [COMMAND] --help`
 * (as git and kubectl take it), and kubectl's `-o json` / `--output json` is `--json`.
 */
export function normalizeArgs(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const joined = /^(?:-o=?|--output=)(.*)$/s.exec(a);
    if (a === '-o' || a === '--output' || joined) {
      const value = joined?.[1] || argv[++i];
      if (value !== 'json') {
        const option = a === '--output' || a.startsWith('--output=') ? '--output' : '-o';
        // kubectl's `-o wide` is bpfmem's --wide.
        const why = value === undefined ? 'needs a format' : value === 'wide' ? `${quote(value)}: the one format is json; for more columns, --wide` : `${quote(value)}: the one format is json`;
        throw new BpfmemError('usage', `${option} ${why} (-o json is --json; text is the default)`);
      }
      out.push('--json');
    } else out.push(a);
  }
  const first = out.findIndex((a) => !a.startsWith('-'));
  // `bpfmem --json maps` (or `-o json maps`) is `bpfmem maps --json`: the program's own --json is
  // the bare summary's, and options before a command are otherwise the program's.
  const command = first < 0 ? undefined : out[first];
  if (command !== undefined && command !== 'help' && Object.hasOwn(COMMANDS, command)) {
    const before = out.slice(0, first);
    const moved: string[] = before.filter((a) => a === '--json' || a === '-j');
    if (moved.length > 0) return [...before.filter((a) => !moved.includes(a)), command, ...moved, ...out.slice(first + 1)];
  }
  if (first < 0 || out[first] !== 'help') return out;
  const rest = out.slice(first + 1).filter((a) => !a.startsWith('-'));
  const named = rest[0];
  // `bpfmem help help`: help is about the program.
  if (named === 'help') return ['--help'];
  if (named !== undefined && !Object.hasOwn(COMMANDS, named)) {
    throw new BpfmemError('usage', `help ${quote(named)}: no such command${didYouMean(named, NAMES)}; commands are ${NAMES.join(', ')}`);
  }
  return named === undefined ? ['--help'] : [named, '--help'];
}

/**
 * What the user typed to ask for JSON (`-o json`, `--output=json`, `-j`, `--json`), the first
 * such option before `--`; undefined when none.
 */
function jsonAsked(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--') return undefined;
    if (a === '-o' || a === '--output') return `${a} ${argv[i + 1] ?? ''}`;
    if (a === '-j' || a === '--json' || /^(?:-o|--output=)./s.test(a)) return a;
  }
  return undefined;
}

/** Why a command has no `--json`, and where its JSON is. */
const NO_JSON: Readonly<Partial<Record<string, string>>> = {
  top: 'top has no JSON output: it redraws a summary for people; bpfmem --json prints that summary as JSON (once), bpfmem serve serves it (/api/v1/summary)',
  serve: 'serve has no JSON output of its own: it serves JSON (/api/v1/summary, /api/v1/maps …; docs/cli.md)',
};

/**
 * Refuses a JSON option given to a command that has none, naming it as typed: `top -o json` is
 * `top --json` inside, and commander would say "unknown option '--json'", an option the user did
 * not type, without saying why.
 */
function refuseJsonWhereNone(program: Command, argv: readonly string[], args: readonly string[]): void {
  const end = args.indexOf('--');
  const words = end < 0 ? args : args.slice(0, end);
  if (words.includes('-h') || words.includes('--help') || !(words.includes('--json') || words.includes('-j'))) return;
  const named = words.find((a) => !a.startsWith('-'));
  const command = program.commands.find((c) => c.name() === named);
  if (command === undefined || command.options.some((o) => o.long === '--json')) return;
  const typed = jsonAsked(argv);
  if (typed === undefined) return;
  throw new BpfmemError('usage', `${typed}: ${NO_JSON[command.name()] ?? `${command.name()} has no JSON output`}`);
}

/**
 * Runs the bpfmem CLI on `argv` (without `node` and the script) and returns the exit status:
 * 0 on success, 2 for the user's mistakes (bad arguments or input, with one line saying which),
 * 1 when the machine refused or failed. Never calls `process.exit`: only `bin/` does.
 */
export function runCli(argv: readonly string[], io: Io, faces: Faces = {}): Promise<number> {
  return runProgram(argv, io, (ctx) => Promise.all(commandsFor(argv).map((name) => (BY_NAME[name] as CommandModule)(ctx))), faces);
}

/**
 * Commander's argument errors in the words bpfmem's own use (`--port "99999": expected …`), so
 * that a wrong choice reads like a wrong number: `--sort "size": expected one of id, name, …`.
 * Other messages pass as they are.
 */
export function inOurWords(said: string): string {
  // An option as commander names it, `'-d, --interval <duration>'`: its long flag, and its value's name.
  const flag = `'(?:-[^ ,']+, )?(--?[^ ']+)( <[^>]+>)?[^']*'`;
  const choice = new RegExp(`^option ${flag} argument '(.*)' is invalid\\. Allowed choices are (.*)\\.$`, 's').exec(said);
  if (choice) {
    const [, option = '', , value = '', choices = ''] = choice;
    return `${option} ${quote(value)}: expected one of ${choices}${didYouMean(value, choices.split(', '))}`;
  }
  const missing = new RegExp(`^option ${flag} argument missing$`).exec(said);
  if (missing) return `${missing[1] ?? ''} needs a value: ${missing[1] ?? ''}${missing[2] ?? ''}`;
  const conflict = new RegExp(`^option ${flag} cannot be used with option ${flag}$`).exec(said);
  if (conflict) return `${conflict[1] ?? ''} and ${conflict[3] ?? ''} cannot be given together`;
  const many = /^too many arguments for '([^']+)'\. Expected (\d+) arguments? but got (\d+)\.$/.exec(said);
  if (many) return many[2] === '0' ? `${many[1] ?? ''} takes no arguments (got ${many[3] ?? ''})` : `${many[1] ?? ''} takes ${many[2] ?? ''} argument${many[2] === '1' ? '' : 's'} (got ${many[3] ?? ''})`;
  return said;
}

/**
 * How help is laid out, for the program and each command: 80 columns, commands in the order they
 * were added, and no "(default: [])" after a repeatable option, whose empty list says nothing.
 */
const HELP: HelpConfiguration = {
  helpWidth: 80,
  sortSubcommands: false,
  optionDescription(this: Help, option: Option): string {
    return Help.prototype.optionDescription.call(this, option).replace(/ \(default: \[\]\)$/, '');
  },
};

/**
 * {@link runCli} with the commands `make` gives for the run's context: the one place that sets
 * up the program, its output and its exit statuses. Tests give commands whose machine is
 * replaced by hand-made facts.
 */
export async function runProgram(argv: readonly string[], io: Io, make: (ctx: CommandContext) => Promise<readonly Command[]>, faces: Faces = {}): Promise<number> {
  let status = 0;
  // Every byte a command prints passes the terminal check (src/cli/escape.ts): a name from the
  // machine or a file that a renderer did not escape still cannot steer the terminal.
  const out: Io = {
    ...io,
    stdout: (text) => {
      io.stdout(terminalSafe(text));
    },
  };
  const ctx: CommandContext = {
    io: out,
    serve: faces.serve,
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
    .configureHelp(HELP)
    .configureOutput({
      writeOut: (s) => {
        io.stdout(s);
      },
      writeErr: (s) => {
        io.stderr(s);
      },
      // Commander's own errors ("unknown option") become our one-line form.
      outputError: (s, write) => {
        // An argument commander quotes is cut as bpfmem's own errors cut it (a 2,000-entry list).
        // Its suggestion comes on a line of its own: part of the one line here.
        const said = inOurWords(
          s
            .replace(/^error: /, '')
            .trim()
            .replace(/\n\(Did you mean (.*)\?\)$/, ' (did you mean $1?)'),
        ).replace(/'([^'\n]{40})[^'\n]+'/g, "'$1…'");
        write(`bpfmem: ${escapeText(said)}\n`);
      },
    })
    .exitOverride();
  for (const command of await make(ctx)) program.addCommand(command);
  program
    .addHelpText('after', '\nWithout a command: a one-screen summary of this machine (needs root).\n`bpfmem demo` shows the accounting model and needs nothing.\n')
    .argument('[command]')
    .addOption(jsonOption())
    .action(async (command: string | undefined, opts: { json?: boolean }) => {
      if (command !== undefined) {
        throw new BpfmemError('usage', `unknown command ${quote(command)}${didYouMean(command, NAMES)}; commands are ${NAMES.join(', ')}`);
      }
      await (await import('./inventory.js')).summaryAction(ctx, opts);
    });
  for (const cmd of program.commands) cmd.exitOverride().configureOutput(program.configureOutput()).configureHelp(HELP);

  // Cgroups that dead runs left and this run removed (src/live/stale.ts): one line, when it happens.
  onStaleRemoved((names) => {
    const shown = names.slice(0, 3).join(', ') + (names.length > 3 ? `, +${names.length - 3}` : '');
    io.stderr(`bpfmem: removed ${names.length} cgroup${names.length === 1 ? '' : 's'} that runs which died had left: ${escapeText(shown)}\n`);
  });
  try {
    const args = normalizeArgs(argv);
    refuseJsonWhereNone(program, argv, args);
    await program.parseAsync(args, { from: 'user' });
    return status;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version "fail" with status 0; every other parse error is a usage error.
      return error.exitCode === 0 ? 0 : 2;
    }
    // After Ctrl-C, what fails because the run is being torn down is no error to report: the
    // signal handler (src/bin/cli.ts) says what it removes and ends with the signal's status.
    if (isClosing()) return 130;
    if (error instanceof BpfmemError) {
      // One line, whatever the message quotes (a file name with a newline in it shows `\n`).
      io.stderr(`bpfmem: ${escapeText(error.message)}\n`);
      return exitCodeOf(error);
    }
    io.stderr(`bpfmem: internal error: ${escapeText(error instanceof Error ? error.message : String(error))}\n`);
    if (io.env['BPFMEM_DEBUG'] && error instanceof Error && error.stack) io.stderr(`${error.stack}\n`);
    return 1;
  } finally {
    onStaleRemoved(undefined);
  }
}
