/** The CLI process (src/bin/bpfmem.ts loads it once the code cache is in place). */
import { runBpfmem } from '../run.js';
import { processIo } from '../cli/io.js';
import { disposeAll, onGuard } from '../live/cleanup.js';
import { terminalSafe } from '../cli/escape.js';

// A signal must not leave cgroups, hooks or workers behind: while this run holds any, SIGINT,
// SIGTERM and SIGHUP (the terminal or ssh session closed) remove them, then end the process with
// the signal's status. While it holds none, no handler is installed: the signal's default ends
// the process at once, even in the middle of a long computation (a model run of a hundred million
// updates, which no handler could interrupt), and a shell sees a death by SIGINT, as it expects
// of Ctrl-C.
/** Removes what the run holds, says so where stderr still has a reader, and ends with the signal's status. */
const cleanUpAndExit = (signal: NodeJS.Signals, code: number) => (): void => {
  // `2>&1 | tee log`: Ctrl-C ends tee too, and a write to its closed pipe (EPIPE) must not end
  // this process before the cleanup, with status 1.
  process.stderr.on('error', () => undefined);
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
  ['SIGHUP', cleanUpAndExit('SIGHUP', 129)],
] as const;
onGuard((armed) => {
  for (const [signal, handler] of handlers) {
    if (armed) process.once(signal, handler);
    else process.off(signal, handler);
  }
});

// SIGUSR1 would open Node's inspector on 127.0.0.1:9229, where any local user could run code in
// this process, often root (`serve` runs for days). A listener of its own keeps Node from it.
process.on('SIGUSR1', () => undefined);

// The only place that ends the process (docs/architecture.md).
// No top-level await: the bundle is CommonJS (scripts/bundle.mjs).
// `serve` starts this process again in place with its memory settings (src/sys/proc/restart.ts);
// where that fails it serves as it is, and says why. Imported when serve runs: it loads koffi,
// which no other command's start should pay for.
const beforeServe = async (): Promise<void> => {
  const { restartTunedForServing } = await import('../sys/proc/restart.js');
  const why = restartTunedForServing();
  if (why !== undefined) process.stderr.write(`bpfmem: serve: serving without its memory settings (V8's young generation, one malloc arena): ${terminalSafe(why)}\n`);
};
void runBpfmem(process.argv.slice(2), processIo(), { beforeServe }).then((status) => {
  process.exitCode = status;
});
