/**
 * The commands, in the order `--help` lists them. Kept apart from src/cli/main.ts so that the
 * entry point (src/bin/bpfmem.ts) can name a run's code cache after its command without loading
 * the CLI, and a word that is no command (a typo) makes no cache of its own.
 */
export const COMMAND_NAMES = ['maps', 'progs', 'cgroups', 'top', 'simulate', 'estimate', 'probe', 'explain', 'serve', 'watch', 'demo', 'conformance'] as const;

export type CommandName = (typeof COMMAND_NAMES)[number];

/** Whether `word` names a command. */
export const isCommandName = (word: string): word is CommandName => (COMMAND_NAMES as readonly string[]).includes(word);
