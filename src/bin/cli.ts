/** The CLI process (src/bin/bpfmem.ts loads it once the code cache is in place). */
import { runBpfmem } from '../run.js';
import { processIo } from '../cli/io.js';
import { disposeAll, onGuard } from '../live/cleanup.js';

// A signal must not leave cgroups, hooks or workers behind: while this run holds any, SIGINT
// and SIGTERM remove them, then end the process with the signal's status. While it holds none,
// no handler is installed: the signal's default ends the process at once, even in the middle of
// a long computation (a model run of a hundred million updates, which no handler could
// interrupt), and a shell sees a death by SIGINT, as it expects of Ctrl-C.
/** Removes what the run holds, says so, and ends with the signal's status. */
const cleanUpAndExit = (signal: 'SIGINT' | 'SIGTERM', code: number) => (): void => {
  process.stderr.write(`\nbpfmem: ${signal}: removing what this run created\n`);
  void disposeAll()
    .then((failures) => {
      for (const f of failures) process.stderr.write(`bpfmem: cleanup: ${f}\n`);
    })
    .finally(() => process.exit(code));
};
const handlers = [
  ['SIGINT', cleanUpAndExit('SIGINT', 130)],
  ['SIGTERM', cleanUpAndExit('SIGTERM', 143)],
] as const;
onGuard((armed) => {
  for (const [signal, handler] of handlers) {
    if (armed) process.once(signal, handler);
    else process.off(signal, handler);
  }
});

// The only place that ends the process (docs/architecture.md).
// No top-level await: the bundle is CommonJS (scripts/bundle.mjs).
void runBpfmem(process.argv.slice(2), processIo()).then((status) => {
  process.exitCode = status;
});
