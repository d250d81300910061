/** The CLI process (src/bin/bpfmem.ts loads it once the code cache is in place). */
import { runBpfmem } from './run.js';
import { processIo } from '../cli/io.js';
import { disposeAll, openCount } from '../live/cleanup.js';

// A signal must not leave cgroups or workers behind: clean up, then end as the signal would.
for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  process.once(signal, () => {
    // Only a run that made something (cgroups, maps, hooks) has anything to remove.
    process.stderr.write(openCount() > 0 ? `\nbpfmem: ${signal}: removing what this run created\n` : '\n');
    void disposeAll()
      .then((failures) => {
        for (const f of failures) process.stderr.write(`bpfmem: cleanup: ${f}\n`);
      })
      .finally(() => process.exit(code));
  });
}

// The only place that ends the process (docs/architecture.md).
// No top-level await: the bundle is CommonJS (scripts/bundle.mjs).
void runBpfmem(process.argv.slice(2), processIo()).then((status) => {
  process.exitCode = status;
});
